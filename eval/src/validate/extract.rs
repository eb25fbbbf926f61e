//! Pulling the final answer out of free text: the span after the last answer marker,
//! and the numbers with units in it.

use std::sync::LazyLock;

use regex::Regex;

/// Removes Markdown emphasis and inline-code marks, which models put around answers.
pub fn plain(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '*' | '`')).collect()
}

/// The generic answer markers: "Answer:", "final answer is", "answer =".
pub static ANSWER_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:final\s+answer|answer)\s*(?:is\b|:|=)").expect("valid regex")
});

/// Where the final answer is: the text after the last match of any marker, and whether
/// a marker was found (without one, the whole text).
pub fn final_span<'t>(text: &'t str, markers: &[&Regex]) -> (&'t str, bool) {
    let end = markers
        .iter()
        .filter_map(|m| m.find_iter(text).last().map(|f| f.end()))
        .max();
    match end {
        Some(e) => (&text[e..], true),
        None => (text, false),
    }
}

/// A unit a number is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Dollars ($, dollars, USD).
    Dollars,
    /// Cents (cents, ¢); values are converted to dollars.
    Cents,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Kilometres per hour.
    KmPerHour,
    /// Any other unit we recognise as not being the answer's (mph, m/s, km, ...).
    Other,
}

/// A number in the text, with its unit when one is attached, and where it ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    /// The value (cents converted to dollars).
    pub value: f64,
    /// The unit, if any.
    pub unit: Option<Unit>,
}

static QUANTITY: LazyLock<Regex> = LazyLock::new(|| {
    let number = r"\d[\d,]*(?:\.\d+)?|\.\d+";
    let words = r"zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred";
    let unit = r"cents?|¢|dollars?|usd|minutes?|mins?\b|hours?|hrs?\b|h\b|km\s*/\s*h(?:our|r)?\b|kmh\b|kph\b|km\s+(?:per|an)\s+hour|kilomet(?:er|re)s?\s+(?:per|an)\s+hour|kilomet(?:er|re)s?\s*/\s*h(?:our)?\b|mph\b|miles?\s+per\s+hour|m\s*/\s*s\b|km\b|kilomet(?:er|re)s?|miles?\b";
    Regex::new(&format!(
        r"(?i)(?P<dollar>\$\s*)?(?:(?P<num>{number})|\b(?P<word>{words})\b)(?:\s*(?P<unit>{unit}))?"
    ))
    .expect("valid regex")
});

fn word_value(w: &str) -> f64 {
    const WORDS: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    let w = w.to_ascii_lowercase();
    if let Some(i) = WORDS.iter().position(|x| *x == w) {
        return i as f64;
    }
    if let Some(i) = TENS.iter().position(|x| *x == w) {
        return (20 + 10 * i) as f64;
    }
    100.0 // "hundred" ("a hundred", "one hundred")
}

fn unit_of(u: &str) -> Unit {
    let u = u.to_ascii_lowercase();
    let u = u.trim();
    if u.starts_with("cent") || u == "¢" {
        Unit::Cents
    } else if u.starts_with("dollar") || u == "usd" {
        Unit::Dollars
    } else if u.starts_with("min") {
        Unit::Minutes
    } else if u.starts_with("hour") || u.starts_with("hr") || u == "h" {
        Unit::Hours
    } else if u.starts_with('k') && u.contains('h') {
        // km/h, kmh, kph, km per hour, kilometres per hour (plain km has no h).
        Unit::KmPerHour
    } else {
        Unit::Other
    }
}

/// Every number in `text`, in order, with its unit.
pub fn quantities(text: &str) -> Vec<Quantity> {
    QUANTITY
        .captures_iter(text)
        .filter_map(|c| {
            let value = match (c.name("num"), c.name("word")) {
                (Some(n), _) => n.as_str().replace(',', "").parse::<f64>().ok()?,
                (None, Some(w)) => word_value(w.as_str()),
                (None, None) => return None,
            };
            let mut unit = c.name("unit").map(|u| unit_of(u.as_str()));
            if c.name("dollar").is_some() && unit.is_none() {
                unit = Some(Unit::Dollars);
            }
            let value = if unit == Some(Unit::Cents) {
                value / 100.0
            } else {
                value
            };
            Some(Quantity { value, unit })
        })
        .collect()
}

/// The final answer among the numbers of `text`: in the span after the last marker,
/// numbers in one of `units` win over unit-less numbers, and numbers in other units
/// never count. With a marker the first candidate after it is the answer; without
/// one, the last in the text (where a worked answer ends).
pub fn final_quantity(text: &str, markers: &[&Regex], units: &[Unit]) -> Option<Quantity> {
    let (span, marked) = final_span(text, markers);
    let all = quantities(span);
    let with_unit: Vec<_> = all
        .iter()
        .filter(|q| q.unit.is_some_and(|u| units.contains(&u)))
        .copied()
        .collect();
    let candidates = if with_unit.is_empty() {
        all.iter().filter(|q| q.unit.is_none()).copied().collect()
    } else {
        with_unit
    };
    if marked {
        candidates.first().copied()
    } else {
        candidates.last().copied()
    }
}

/// Whether two values are equal to a cent.
pub fn same(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_words() {
        let q = quantities("$0.05, 5 cents, 0.05 dollars, five cents, 5¢, 80 km/h, 60 mph, 1,234");
        let v: Vec<_> = q.iter().map(|q| (q.value, q.unit)).collect();
        assert_eq!(
            v,
            [
                (0.05, Some(Unit::Dollars)),
                (0.05, Some(Unit::Cents)),
                (0.05, Some(Unit::Dollars)),
                (0.05, Some(Unit::Cents)),
                (0.05, Some(Unit::Cents)),
                (80.0, Some(Unit::KmPerHour)),
                (60.0, Some(Unit::Other)),
                (1234.0, None),
            ]
        );
        assert_eq!(
            quantities("80 kilometres per hour")[0].unit,
            Some(Unit::KmPerHour)
        );
        assert_eq!(quantities("5 minutes")[0].unit, Some(Unit::Minutes));
        assert_eq!(quantities("1.5 hours")[0].unit, Some(Unit::Hours));
        assert_eq!(quantities("100 machines")[0].unit, None);
    }

    #[test]
    fn the_last_marker_wins() {
        let t = "The answer is $0.10? No. Final answer: $0.05";
        assert_eq!(final_span(t, &[&ANSWER_MARKER]), (" $0.05", true));
        assert_eq!(
            final_span("none here", &[&ANSWER_MARKER]),
            ("none here", false)
        );
    }
}
