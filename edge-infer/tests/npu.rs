//! The NPU backend against edge-infer's RKLLM test double (a fake librkllmrt; no NPU):
//! file checks before the runtime, history that stays equal to the runtime's KV cache
//! after a stop, and per-request sampling on the 1.2 ABI.
mod common;

use common::{both, double_runtime};
use edge_infer::{ChatSession, Registry, Request, Sampling, StopReason};
use rkllm_test_double::{FakeModel, TempDir};

#[test]
fn file_problems_come_before_the_runtime_and_all_at_once() {
    let dir = TempDir::new("lfs-npu").unwrap();
    std::fs::write(
        dir.path().join("qwen.rkllm"),
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1234567\n",
    )
    .unwrap();
    let toml = format!(
        "[models.npu]\nbackend = \"rkllm\"\nfile = {:?}\nruntime = \"/nonexistent/librkllmrt.so\"\ncontext = 8192\n",
        dir.path().join("qwen.rkllm").display().to_string()
    );
    let reg = Registry::from_toml_str(&toml).unwrap();
    let Err(e) = reg.open_model("npu") else {
        panic!("an LFS pointer was opened")
    };
    let e = e.to_string();
    assert!(e.contains("Git LFS pointer"), "{e}");
    assert!(e.contains("8192") && e.contains("4096"), "{e}");
    assert!(!e.contains("NPU runtime unavailable"), "{e}");
}

/// A model whose abort takes 60 ms, with a token every 3 ms: ~20 tokens land in the KV
/// cache after edge-infer stops a run.
fn slow_abort() -> FakeModel {
    FakeModel::default()
        .reply("abcdefghijklmnopqrstuvwxyz0123456789")
        .token_delay_ms(3)
        .abort_delay_ms(60)
        .abort_final("finish") // perf after the abort, for prompt_tokens
}

#[test]
fn after_a_stop_string_the_next_turn_does_not_continue_a_cache_the_user_never_saw() {
    let (_dir, reg) = both("stop-history", slow_abort());
    let mut chat = ChatSession::new(reg.open_model("npu").unwrap())
        .settings(Request::default().max_tokens(64).stop("c"));
    let first = chat.send("hi").unwrap();
    assert_eq!(first.text, "ab");
    assert_eq!(first.stats.stop_reason, StopReason::StopString("c".into()));
    let second = chat.send("next").unwrap();
    assert_eq!(
        second.stats.cached_tokens, 0,
        "the cache held tokens generated after the stop: the turn must start afresh"
    );
    assert!(
        second.stats.prompt_tokens > "next".len(),
        "{:?}",
        second.stats
    );
}

#[test]
fn after_max_tokens_the_history_is_kept_only_where_the_runtime_stopped_by_itself() {
    let (_dir, reg) = both("max-history", slow_abort());
    let mut chat =
        ChatSession::new(reg.open_model("npu").unwrap()).settings(Request::default().max_tokens(4));
    let first = chat.send("hi").unwrap();
    assert_eq!(
        (first.text.as_str(), first.stats.stop_reason.clone()),
        ("abcd", StopReason::MaxTokens)
    );
    let second = chat.send("next").unwrap();
    if edge_infer_rkllm::Abi::COMPILED == edge_infer_rkllm::Abi::V1_3 {
        // 1.3 has a per-run max_new_tokens: nothing beyond the answer is cached.
        assert_eq!(second.stats.cached_tokens, first.stats.prompt_tokens + 4);
    } else {
        // 1.2 is stopped by an abort: the cache is cleared.
        assert_eq!(second.stats.cached_tokens, 0);
    }
}

#[test]
fn per_request_sampling_is_refused_on_1_2_not_ignored() {
    let (_dir, reg) = both("sampling-12", FakeModel::default().reply("ok"));
    let mut g = reg.open_model("npu").unwrap();
    let greedy = Request::user("x")
        .sampling(Sampling::greedy())
        .max_tokens(8);
    let r = g.generate(&greedy);
    if edge_infer_rkllm::Abi::COMPILED == edge_infer_rkllm::Abi::V1_2 {
        let e = r.unwrap_err().to_string();
        assert!(e.contains("1.2 ABI") && e.contains("sampling"), "{e}");
        // The default sampling is the model's own: accepted.
        g.generate(&Request::user("x").max_tokens(8)).unwrap();
    } else {
        r.unwrap();
    }
    let _ = double_runtime();
}
