//! Validators of the tool-call tests. Only structured calls count: a call written out
//! in the reply text is prose, however well formed.

use crate::answer::{Answer, ToolCall};

use super::short_answer::Check;

/// The first structured call, which must be to `name`, with its arguments as an object.
fn first_call<'a>(
    answer: &'a Answer,
    name: &str,
) -> Result<&'a serde_json::Map<String, serde_json::Value>, String> {
    let call: &ToolCall = answer.tool_calls.first().ok_or_else(|| {
        if answer.text.contains(name) {
            format!("no structured tool call (the text names `{name}`, which does not count)")
        } else {
            "no structured tool call".to_string()
        }
    })?;
    if call.name != name {
        return Err(format!("called `{}`, not `{name}`", call.name));
    }
    call.arguments
        .as_object()
        .ok_or_else(|| format!("the arguments {} are not a JSON object", call.arguments))
}

/// `web_search` with a non-empty `query` about Rust.
pub fn web_search(answer: &Answer) -> Check {
    let args = first_call(answer, "web_search")?;
    let query = args
        .get("query")
        .and_then(|q| q.as_str())
        .ok_or("no string `query` argument")?;
    if query.trim().is_empty() {
        return Err("the query is empty".into());
    }
    if !query.to_lowercase().contains("rust") {
        return Err(format!("the query {query:?} is not about Rust"));
    }
    Ok(())
}

/// `calculator` with an `expression` that evaluates to 1234 * 5678 = 7006652.
pub fn calculator(answer: &Answer) -> Check {
    let args = first_call(answer, "calculator")?;
    let expression = args
        .get("expression")
        .and_then(|q| q.as_str())
        .ok_or("no string `expression` argument")?;
    let value = evaluate(expression)?;
    if (value - 7_006_652.0).abs() < 1e-6 {
        Ok(())
    } else {
        Err(format!("{expression:?} evaluates to {value}, not 7006652"))
    }
}

/// Evaluates an arithmetic expression as a calculator tool would: `×`, `·` and an `x`
/// between numbers are multiplication, `÷` division, and thousands separators go.
pub fn evaluate(expression: &str) -> Result<f64, String> {
    let mut e = String::new();
    let chars: Vec<char> = expression.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev_digit = chars[..i]
            .iter()
            .rev()
            .find(|c| !c.is_whitespace())
            .is_some_and(|c| c.is_ascii_digit() || *c == ')');
        let next_digit = chars[i + 1..]
            .iter()
            .find(|c| !c.is_whitespace())
            .is_some_and(|c| c.is_ascii_digit() || *c == '(');
        match c {
            '×' | '·' | '∗' => e.push('*'),
            'x' | 'X' if prev_digit && next_digit => e.push('*'),
            '÷' => e.push('/'),
            ',' if prev_digit && chars.get(i + 1).is_some_and(char::is_ascii_digit) => {}
            c => e.push(c),
        }
    }
    let value = exmex::eval_str::<f64>(&e)
        .map_err(|err| format!("{expression:?} is not an expression: {err}"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("{expression:?} has no finite value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, arguments: serde_json::Value) -> Answer {
        Answer {
            tool_calls: vec![ToolCall {
                id: "call_0".into(),
                name: name.into(),
                arguments,
            }],
            tool_calls_supported: true,
            ..Answer::default()
        }
    }

    fn prose(text: &str) -> Answer {
        Answer {
            text: text.into(),
            tool_calls_supported: true,
            ..Answer::default()
        }
    }

    #[test]
    fn web_search_cases() {
        for ok in [
            call("web_search", json!({"query": "latest stable Rust release"})),
            call(
                "web_search",
                json!({"query": "Rust programming language latest version"}),
            ),
            call("web_search", json!({"query": "rust stable version"})),
        ] {
            assert_eq!(web_search(&ok), Ok(()), "{ok:?}");
        }
        for bad in [
            prose(
                r#"<tool_call>{"name": "web_search", "arguments": {"query": "Rust release"}}</tool_call>"#,
            ),
            prose("I would search the web for the latest Rust release."),
            call("calculator", json!({"expression": "1+1"})),
            call("web_search", json!({})),
            call("web_search", json!({"query": ""})),
            call("web_search", json!({"query": "latest release"})),
            call("web_search", json!("{query: rust")),
        ] {
            assert!(web_search(&bad).is_err(), "{bad:?}");
        }
        let e = web_search(&prose(r#"{"name": "web_search"}"#)).unwrap_err();
        assert!(e.contains("does not count"), "{e}");
    }

    #[test]
    fn calculator_cases() {
        for ok in [
            call("calculator", json!({"expression": "1234 * 5678"})),
            call("calculator", json!({"expression": "1234*5678"})),
            call("calculator", json!({"expression": "(1234) × (5678)"})),
            call("calculator", json!({"expression": "1,234 x 5,678"})),
            call("calculator", json!({"expression": "5678*1234"})),
        ] {
            assert_eq!(calculator(&ok), Ok(()), "{ok:?}");
        }
        for bad in [
            call("calculator", json!({"expression": "1234 + 5678"})),
            call("calculator", json!({"expression": "1234*5679"})),
            call("calculator", json!({"expr": "1234*5678"})),
            call("calculator", json!({"expression": 7006652})),
            call("web_search", json!({"query": "1234*5678"})),
            prose("1234 * 5678 = 7006652"),
            call("calculator", json!({"expression": "1234 ** (5678"})),
        ] {
            assert!(calculator(&bad).is_err(), "{bad:?}");
        }
    }
}
