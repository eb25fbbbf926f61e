mod common;
use edge_infer_llama::*;
#[test]
fn explore() {
    let dir = common::pinned_tree().join("models/templates");
    let tool = Tool::new("web_search", "Search the web", serde_json::json!({"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}));
    for name in ["Qwen-Qwen3-0.6B", "Qwen3.5-4B", "LFM2.5-Instruct", "google-gemma-4-31B-it", "meta-llama-Llama-3.1-8B-Instruct", "mistralai-Mistral-Nemo-Instruct-2407", "openai-gpt-oss-120b", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "google-gemma-2-2b-it"] {
        let src = std::fs::read_to_string(dir.join(format!("{name}.jinja"))).unwrap();
        let t = ChatTemplate::from_source(&src, "<s>", "</s>").unwrap();
        let p = t.render(&ChatRequest::new(vec![ChatMessage::user("Search for rust news")]).tools(vec![tool.clone()])).unwrap();
        println!("=== {name}: format {} thinking {:?} stops {:?} preserved {:?} gen_prompt {:?}", p.format, p.thinking, p.stops, p.preserved_tokens, p.generation_prompt);
        if let Some(g) = &p.grammar { println!("  grammar lazy {} triggers {:?} len {}", g.lazy, g.triggers, g.gbnf.len()); }
        println!("  prompt tail: {:?}", &p.prompt[p.prompt.len().saturating_sub(200)..]);
    }
}
