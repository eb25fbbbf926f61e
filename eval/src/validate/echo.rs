//! Removing the question from an answer: a model that repeats the prompt ("If 5
//! machines take 5 minutes ...") must not pass on the prompt's own numbers.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

/// Runs of at least this many words found in the prompt are an echo. Six keeps a
/// correct answer's short restatements ("the capital is Canberra") and catches echoes
/// of any clause of the prompt.
pub const ECHO_WORDS: usize = 6;

static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[\p{L}\p{N}]+").unwrap());

fn words(text: &str) -> Vec<(usize, usize, String)> {
    WORD.find_iter(text)
        .map(|m| (m.start(), m.end(), m.as_str().to_lowercase()))
        .collect()
}

/// `answer` without the stretches that repeat [`ECHO_WORDS`] or more consecutive words
/// of `prompt` (case and punctuation ignored); each removed stretch becomes a space.
pub fn strip_echo(answer: &str, prompt: &str) -> String {
    let p = words(prompt);
    let grams: HashSet<Vec<&str>> = p
        .windows(ECHO_WORDS)
        .map(|w| w.iter().map(|(_, _, s)| s.as_str()).collect())
        .collect();
    let a = words(answer);
    let mut covered = vec![false; a.len()];
    for (i, w) in a.windows(ECHO_WORDS).enumerate() {
        let gram: Vec<&str> = w.iter().map(|(_, _, s)| s.as_str()).collect();
        if grams.contains(&gram) {
            covered[i..i + ECHO_WORDS]
                .iter_mut()
                .for_each(|c| *c = true);
        }
    }
    let mut out = String::with_capacity(answer.len());
    let mut pos = 0;
    let mut i = 0;
    while i < a.len() {
        if !covered[i] {
            i += 1;
            continue;
        }
        let start = a[i].0;
        while i < a.len() && covered[i] {
            i += 1;
        }
        let end = a[i - 1].1;
        out.push_str(&answer[pos..start]);
        out.push(' ');
        pos = end;
    }
    out.push_str(&answer[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPT: &str = "If 5 machines take 5 minutes to make 5 widgets, how many minutes would \
                          100 machines take to make 100 widgets?";

    #[test]
    fn echoes_go_and_answers_stay() {
        assert_eq!(strip_echo(PROMPT, PROMPT).trim(), "?");
        let a = "If 5 machines take 5 minutes to make 5 widgets, each makes one in 5 minutes.";
        assert_eq!(
            strip_echo(a, PROMPT).trim(),
            ", each makes one in 5 minutes."
        );
        let cut = "If 5 machines take 5 minutes to make 5 widgets, how many minutes would 100";
        assert_eq!(strip_echo(cut, PROMPT).trim(), "");
        assert_eq!(strip_echo("Answer: 5 minutes", PROMPT), "Answer: 5 minutes");
        let short = "100 machines take 5 minutes.";
        assert_eq!(strip_echo(short, PROMPT), short);
    }
}
