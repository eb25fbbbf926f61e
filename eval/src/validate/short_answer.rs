//! Validators of short answers: the reasoning puzzles, the facts and the speed question.

use std::sync::LazyLock;

use regex::Regex;

use super::extract::{final_quantity, final_span, plain, same, Unit, ANSWER_MARKER};

/// A validator's reason to reject, or `Ok(())`.
pub type Check = Result<(), String>;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

fn money(v: f64) -> String {
    format!("${v:.2}")
}

/// Bat and ball: the ball costs $0.05 ("5 cents", "0.05 dollars"); $0.10 is the trap.
pub fn bat_and_ball(text: &str) -> Check {
    static BALL: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\bball\s+(?:costs?|is|=|:)"));
    let text = plain(text);
    match final_quantity(
        &text,
        &[&ANSWER_MARKER, &BALL],
        &[Unit::Dollars, Unit::Cents],
    ) {
        Some(q) if same(q.value, 0.05) => Ok(()),
        Some(q) => Err(format!("the answer is {}, not $0.05", money(q.value))),
        None => Err("no amount in the answer".into()),
    }
}

/// The syllogism "all zorps are flims, some flims are quaggy" does not make some zorps
/// quaggy: the first verdict in the reply must be a no.
pub fn syllogism(text: &str) -> Check {
    static VERDICT: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)\b(?P<no>no|not\s+necessarily|(?:does|do)\s*(?:not|n't)\s+(?:necessarily\s+)?follow|invalid|not\s+valid|cannot\s+(?:be\s+)?(?:concluded|inferred|determined)|can't\s+(?:be\s+)?(?:concluded|inferred|determined))\b|\b(?P<yes>yes|it\s+follows|valid)\b",
        )
    });
    let text = plain(text);
    match VERDICT.captures(&text) {
        Some(c) if c.name("no").is_some() => Ok(()),
        Some(c) => Err(format!("the verdict is `{}`: it does not follow", &c[0])),
        None => Err("no yes/no verdict in the answer".into()),
    }
}

/// Machines x minutes: 100 machines make 100 widgets in 5 minutes; 100 is the trap.
pub fn rate_scaling(text: &str) -> Check {
    static TAKE: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?i)\b(?:would|will|it)\s+(?:still\s+)?(?:take|takes)\b"));
    let text = plain(text);
    match final_quantity(&text, &[&ANSWER_MARKER, &TAKE], &[Unit::Minutes]) {
        Some(q) if same(q.value, 5.0) => Ok(()),
        Some(q) => Err(format!("the answer is {} minutes, not 5", q.value)),
        None => Err("no number of minutes in the answer".into()),
    }
}

/// Average speed: 120 km from 09:40 to 11:10 is 80 km/h.
pub fn speed(text: &str) -> Check {
    static SPEED: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?i)\bspeed\s+(?:is|was|of|=|:)|\bspeed\s+would\s+be"));
    let text = plain(text);
    match final_quantity(&text, &[&ANSWER_MARKER, &SPEED], &[Unit::KmPerHour]) {
        Some(q) if same(q.value, 80.0) => Ok(()),
        Some(q) => Err(format!("the answer is {} km/h, not 80", q.value)),
        None => Err("no speed in km/h in the answer".into()),
    }
}

/// The first of `names` (whole words, case-insensitive) in the final span, by position.
fn first_of<'n>(span: &str, names: &[&'n str]) -> Option<&'n str> {
    names
        .iter()
        .filter_map(|n| {
            let r = re(&format!(r"(?i)\b{}\b", regex::escape(n)));
            r.find(span).map(|m| (m.start(), *n))
        })
        .min()
        .map(|(_, n)| n)
}

/// The capital of Australia is Canberra; Sydney and Melbourne are the near-misses.
pub fn capital(text: &str) -> Check {
    static CAPITAL: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(?i)\bcapital(?:\s+city)?(?:\s+of\s+australia)?\s+(?:is|=|:)|\bit\s+is\b|\bit's\b")
    });
    const CITIES: [&str; 7] = [
        "Canberra",
        "Sydney",
        "Melbourne",
        "Perth",
        "Brisbane",
        "Adelaide",
        "Darwin",
    ];
    let text = plain(text);
    let (span, _) = final_span(&text, &[&ANSWER_MARKER, &CAPITAL]);
    match first_of(span, &CITIES) {
        Some("Canberra") => Ok(()),
        Some(city) => Err(format!("the answer is {city}, not Canberra")),
        None => Err("no city in the answer".into()),
    }
}

/// Dennis Ritchie created C at Bell Labs; C++, C#, B and BCPL are the near-misses.
pub fn language_history(text: &str) -> Check {
    static MARKER: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(?i)\b(?:language\s+(?:is|was)|created|developed|invented|designed)\b")
    });
    // A token is a word with an optional ++ or #, so `C` is told from `C++` and `C#`.
    static TOKEN: LazyLock<Regex> = LazyLock::new(|| re(r"[A-Za-z][A-Za-z0-9]*(?:\+\+|#)?"));
    const WRONG: [&str; 12] = [
        "C++",
        "C#",
        "B",
        "BCPL",
        "Objective",
        "Go",
        "Java",
        "Python",
        "Unix",
        "UNIX",
        "Fortran",
        "ALGOL",
    ];
    let text = plain(text);
    let (span, _) = final_span(&text, &[&ANSWER_MARKER, &MARKER]);
    for token in TOKEN.find_iter(span).map(|m| m.as_str()) {
        if token == "C" {
            return Ok(());
        }
        if WRONG.contains(&token) {
            return Err(format!("the answer is {token}, not C"));
        }
    }
    Err("no programming language in the answer".into())
}

/// Gold's symbol is Au; Ag (silver), Gd, Go and G are the near-misses.
pub fn chemical_symbol(text: &str) -> Check {
    static MARKER: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(?i)\bsymbol(?:\s+(?:of|for)\s+gold)?\s+(?:is|=|:)|\bgold\s*(?:is|:|=|-|–|\()")
    });
    static SYMBOL: LazyLock<Regex> = LazyLock::new(|| re(r"\b[A-Z][a-z]?\b|\bAU\b"));
    const KNOWN: [&str; 14] = [
        "Au", "AU", "Ag", "Gd", "Go", "G", "Ga", "Ge", "Gl", "Pb", "Fe", "Cu", "Pt", "Hg",
    ];
    let text = plain(text);
    let (span, _) = final_span(&text, &[&ANSWER_MARKER, &MARKER]);
    match SYMBOL
        .find_iter(span)
        .map(|m| m.as_str())
        .find(|s| KNOWN.contains(s))
    {
        Some("Au" | "AU") => Ok(()),
        Some(s) => Err(format!("the answer is {s}, not Au")),
        None => Err("no chemical symbol in the answer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(check: fn(&str) -> Check, accept: &[&str], reject: &[&str]) {
        for a in accept {
            assert_eq!(check(a), Ok(()), "should accept {a:?}");
        }
        for r in reject {
            assert!(check(r).is_err(), "should reject {r:?}");
        }
    }

    #[test]
    fn bat_and_ball_cases() {
        cases(
            bat_and_ball,
            &[
                "$0.05",
                "5 cents",
                "0.05 dollars",
                "The ball costs five cents.",
                "Let x be the ball: x + (x + 1.00) = 1.10, so 2x = 0.10 and x = 0.05.",
                "The intuitive answer is $0.10, but that is wrong.\nAnswer: $0.05",
                "**Answer:** 5¢",
                "So the ball costs $0.05 and the bat costs $1.05.",
            ],
            &[
                "$0.10",
                "The ball costs 10 cents.",
                "Answer: $0.10 (the bat costs $1.00)",
                "The ball costs $0.05? No, the answer is $0.10.",
                "$1.05",
                "I don't know.",
                "",
            ],
        );
    }

    #[test]
    fn syllogism_cases() {
        cases(
            syllogism,
            &[
                "No. The quaggy flims need not be zorps.",
                "No, it does not follow.",
                "**No** — some flims could be quaggy without any zorp being one.",
                "Not necessarily: the quaggy flims may all be non-zorps.",
                "It doesn't follow, because the overlap is not given.",
                "This is invalid reasoning.",
            ],
            &[
                "Yes. Since all zorps are flims, some zorps are quaggy.",
                "Yes, no doubt about it.",
                "It follows that some zorps are quaggy.",
                "The argument is valid.",
                "Zorps and flims are words.",
                "",
            ],
        );
    }

    #[test]
    fn rate_scaling_cases() {
        cases(
            rate_scaling,
            &[
                "5 minutes",
                "Answer: 5",
                "Each machine makes one widget in 5 minutes, so 100 machines make 100 widgets in 5 minutes.",
                "100 machines would take 5 minutes to make 100 widgets.",
                "It would still take five minutes.",
                "It takes 100 minutes. No wait: Answer: 5 minutes",
            ],
            &[
                "100 minutes",
                "Answer: 100",
                "It takes 5 minutes for 5 machines, so 100 machines would take 100 minutes.",
                "1 minute",
                "Answer: 20 minutes",
                "It depends on the machines.",
            ],
        );
    }

    #[test]
    fn speed_cases() {
        cases(
            speed,
            &[
                "80 km/h",
                "Answer: 80 km/h",
                "The trip lasts 1.5 hours, so the average speed is 80 kilometres per hour.",
                "120 km / 1.5 h = 80",
                "Answer: 80.0 km/h",
                "09:40 to 11:10 is 1 h 30 min; 120/1.5 = 80 kph",
            ],
            &[
                "120 km/h",
                "The average speed is 92.3 km/h.",
                "Answer: 60 mph",
                "Answer: 70 km/h",
                "1.5 hours",
                "It goes fast.",
            ],
        );
    }

    #[test]
    fn capital_cases() {
        cases(
            capital,
            &[
                "Canberra",
                "canberra.",
                "**Canberra**",
                "Many think it is Sydney, but the capital is Canberra.",
                "Canberra, in the Australian Capital Territory.",
            ],
            &[
                "Sydney",
                "The capital of Australia is Sydney, not Canberra.",
                "Melbourne",
                "Australia's biggest city is Sydney.",
                "I am not sure.",
            ],
        );
    }

    #[test]
    fn language_history_cases() {
        cases(
            language_history,
            &[
                "C",
                "C.",
                "The C programming language.",
                "Dennis Ritchie created C at Bell Labs, after Ken Thompson's B.",
                "Answer: C",
            ],
            &[
                "C++",
                "C#",
                "B",
                "He created Unix.",
                "Dennis Ritchie",
                "Answer: BCPL",
            ],
        );
    }

    #[test]
    fn chemical_symbol_cases() {
        cases(
            chemical_symbol,
            &[
                "Au",
                "AU",
                "The chemical symbol of gold is Au (from the Latin aurum).",
                "Ag is silver; gold is Au.",
                "`Au`",
            ],
            &[
                "Ag",
                "The chemical symbol for gold is Ag.",
                "Gd",
                "Gold is a metal; its symbol is Go.",
                "Gold",
                "",
            ],
        );
    }
}
