//! Deterministic validators, one per test, and the verdict of an attempt.
//!
//! Each validator finds the final answer in the reply (the span after the last answer
//! marker, else the whole reply), accepts the real ways of writing it ("$0.05",
//! "5 cents", "0.05 dollars") and rejects the near-misses ("$0.10"), and says why it
//! rejected. Code runs under `python3` when it exists ([`CodeCheck`]); tool calls pass
//! only as structured calls.

mod code;
mod echo;
mod extract;
mod format;
mod short_answer;
mod tool_call;

use serde::{Deserialize, Serialize};

pub use code::{extract_code, CodeCheck, PYTHON_TIMEOUT};
pub use echo::{strip_echo, ECHO_WORDS};
pub use format::sentences;
pub use tool_call::evaluate;

use crate::answer::{Answer, Outcome};
use crate::suite::{TestCase, TestId};

/// The judgement of one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", content = "reason", rename_all = "snake_case")]
pub enum Verdict {
    /// The answer is right.
    Pass,
    /// The answer is wrong; why.
    Fail(String),
    /// The per-test timeout ended it.
    Timeout,
    /// The target failed; how.
    Error(String),
    /// The target cannot do what the test needs (structured tool calls); why.
    Unsupported(String),
}

impl Verdict {
    /// Whether it counts as passed.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass)
    }
    /// A short word for tables.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "fail",
            Verdict::Timeout => "timeout",
            Verdict::Error(_) => "error",
            Verdict::Unsupported(_) => "n/a",
        }
    }
}

/// Judges one answer to `test`: a timeout or a target error fails whatever text came
/// back; a tool test on a target without structured tool calls is unsupported; else the
/// test's validator decides.
pub fn judge(test: &TestCase, outcome: &Outcome, answer: &Answer, code: &CodeCheck) -> Verdict {
    match outcome {
        Outcome::TimedOut => return Verdict::Timeout,
        Outcome::Failed(m) => return Verdict::Error(m.clone()),
        Outcome::Completed => {}
    }
    if test.tools && !answer.tool_calls_supported && answer.tool_calls.is_empty() {
        return Verdict::Unsupported(if answer.text.is_empty() {
            "this target returns no structured tool calls".into()
        } else {
            format!("this target cannot serve tool calls: {}", answer.text)
        });
    }
    match check(test.id, answer, code) {
        Ok(()) => Verdict::Pass,
        Err(why) => Verdict::Fail(why),
    }
}

/// Runs the validator of test `id` on an answer. For the short answers and the code,
/// stretches that repeat the prompt are removed first ([`strip_echo`]); the instruction
/// tests take the text as it is, since anything but the asked shape fails them.
pub fn check(id: TestId, answer: &Answer, code: &CodeCheck) -> Result<(), String> {
    let echo_free = strip_echo(&answer.text, TestCase::get(id).prompt);
    let text = echo_free.as_str();
    match id {
        TestId::BatAndBall => short_answer::bat_and_ball(text),
        TestId::Syllogism => short_answer::syllogism(text),
        TestId::RateScaling => short_answer::rate_scaling(text),
        TestId::Capital => short_answer::capital(text),
        TestId::LanguageHistory => short_answer::language_history(text),
        TestId::ChemicalSymbol => short_answer::chemical_symbol(text),
        TestId::EvenComprehension => code::even_comprehension(text, code),
        TestId::Palindrome => code::palindrome(text, code),
        TestId::CsvShape => format::csv_shape(&answer.text),
        TestId::ThreeSentences => format::three_sentences(&answer.text),
        TestId::RawJson => format::raw_json(&answer.text),
        TestId::WebSearchCall => tool_call::web_search(answer),
        TestId::CalculatorCall => tool_call::calculator(answer),
        TestId::Speed => short_answer::speed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::ToolCall;
    use crate::suite::SUITE;

    fn text(t: &str) -> Answer {
        Answer {
            text: t.into(),
            ..Answer::default()
        }
    }

    #[test]
    fn a_timeout_fails_even_a_right_answer() {
        let t = TestCase::get(TestId::BatAndBall);
        let a = text("$0.05");
        let p = CodeCheck::Pattern;
        assert_eq!(judge(t, &Outcome::Completed, &a, &p), Verdict::Pass);
        assert_eq!(judge(t, &Outcome::TimedOut, &a, &p), Verdict::Timeout);
        assert!(matches!(
            judge(t, &Outcome::Failed("HTTP 500".into()), &a, &p),
            Verdict::Error(m) if m == "HTTP 500"
        ));
    }

    #[test]
    fn tool_tests_on_a_target_without_tool_calls_are_unsupported() {
        let t = TestCase::get(TestId::CalculatorCall);
        let p = CodeCheck::Pattern;
        let v = judge(t, &Outcome::Completed, &text("1234*5678"), &p);
        assert!(matches!(v, Verdict::Unsupported(_)), "{v:?}");
        assert!(!v.passed());
        let mut a = text("");
        a.tool_calls_supported = true;
        assert!(matches!(
            judge(t, &Outcome::Completed, &a, &p),
            Verdict::Fail(_)
        ));
        a.tool_calls.push(ToolCall {
            id: String::new(),
            name: "calculator".into(),
            arguments: serde_json::json!({"expression": "1234*5678"}),
        });
        assert_eq!(judge(t, &Outcome::Completed, &a, &p), Verdict::Pass);
    }

    #[test]
    fn an_echoed_prompt_passes_nothing() {
        let p = CodeCheck::detect();
        for t in &SUITE {
            let mut a = text(t.prompt);
            a.tool_calls_supported = true;
            assert!(check(t.id, &a, &p).is_err(), "{}: the echo passed", t.name);
            // Cut off mid-sentence, as at a token limit.
            let cut: String = t.prompt.chars().take(t.prompt.len() * 2 / 3).collect();
            assert!(
                check(t.id, &text(&cut), &p).is_err(),
                "{}: {cut:?} passed",
                t.name
            );
        }
    }

    #[test]
    fn an_echo_then_the_answer_passes() {
        let p = CodeCheck::detect();
        for (id, answer) in [
            (TestId::BatAndBall, "$0.05"),
            (TestId::RateScaling, "Answer: 5 minutes"),
            (TestId::Capital, "Canberra"),
            (TestId::LanguageHistory, "C"),
            (TestId::ChemicalSymbol, "Au"),
            (TestId::Speed, "Answer: 80 km/h"),
            (TestId::Syllogism, "No, it does not follow."),
            (
                TestId::EvenComprehension,
                "\n```python\n[x for x in nums if x % 2 == 0]\n```",
            ),
        ] {
            let t = TestCase::get(id);
            let a = text(&format!("{}\n{answer}", t.prompt));
            assert_eq!(check(id, &a, &p), Ok(()), "{}", t.name);
        }
    }

    #[test]
    fn every_test_rejects_an_empty_answer() {
        let mut a = text("");
        a.tool_calls_supported = true;
        for t in &SUITE {
            assert!(check(t.id, &a, &CodeCheck::Pattern).is_err(), "{}", t.name);
        }
    }
}
