//! Validators of the instruction tests: exact CSV, exactly three sentences, raw JSON.

use std::sync::LazyLock;

use regex::Regex;

use super::short_answer::Check;

/// A CSV table: header `name,age`, then exactly three rows of a name and an integer age,
/// and nothing else (no fences, no prose). Spaces around fields and CRLF are accepted.
pub fn csv_shape(text: &str) -> Check {
    let text = text.trim();
    if text.contains("```") {
        return Err("the CSV is in a code fence".into());
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("not CSV of one shape: {e}"))?;
        rows.push(record.iter().map(str::to_string).collect::<Vec<_>>());
    }
    let header = rows.first().ok_or("no CSV")?;
    if header.len() != 2
        || !header[0].eq_ignore_ascii_case("name")
        || !header[1].eq_ignore_ascii_case("age")
    {
        return Err(format!(
            "the first line is {:?}, not name,age",
            header.join(",")
        ));
    }
    let data = &rows[1..];
    if data.len() != 3 {
        return Err(format!("{} data rows, not 3", data.len()));
    }
    for row in data {
        let (name, age) = (&row[0], &row[1]);
        if name.is_empty() || name.parse::<f64>().is_ok() {
            return Err(format!("{name:?} is not a name"));
        }
        match age.parse::<u32>() {
            Ok(a) if a <= 150 => {}
            _ => return Err(format!("{age:?} is not an integer age")),
        }
    }
    Ok(())
}

/// The sentences of a text: ends at `.`, `!` or `?` (runs of them, and closing quotes
/// or brackets) followed by a space or the end, except after common abbreviations and
/// initials; a final fragment without a full stop counts too.
pub fn sentences(text: &str) -> Vec<String> {
    const ABBREVIATIONS: [&str; 11] = [
        "e.g", "i.e", "etc", "mr", "mrs", "ms", "dr", "st", "vs", "approx", "u.s",
    ];
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        if matches!(chars[i], '.' | '!' | '?') {
            let mut end = i + 1;
            while end < chars.len()
                && matches!(chars[end], '.' | '!' | '?' | '"' | '\'' | ')' | '”' | '’')
            {
                end += 1;
            }
            let at_break = end == chars.len() || chars[end].is_whitespace();
            let word: String = chars[start..i]
                .iter()
                .collect::<String>()
                .split_whitespace()
                .last()
                .unwrap_or("")
                .to_lowercase();
            let abbreviation = chars[i] == '.'
                && (ABBREVIATIONS.contains(&word.as_str())
                    || (word.chars().count() == 1 && word.chars().all(char::is_alphabetic)));
            if at_break && !abbreviation {
                let s: String = chars[start..end].iter().collect();
                if !s.trim().is_empty() {
                    out.push(s.trim().to_string());
                }
                start = end;
            }
            i = end;
        } else {
            i += 1;
        }
    }
    let rest: String = chars[start..].iter().collect();
    if rest.chars().any(char::is_alphanumeric) {
        out.push(rest.trim().to_string());
    }
    out
}

/// Exactly three sentences about the ocean: no title, no list, each at least three words.
pub fn three_sentences(text: &str) -> Check {
    static LIST_OR_TITLE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?m)^\s*(?:[-*•#]|\d+[.)])\s*").unwrap());
    static TOPIC: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\b(?:ocean|oceans|sea|seas|marine)\b").unwrap());
    let text = text.trim();
    if LIST_OR_TITLE.is_match(text) {
        return Err("the answer has a list or a title".into());
    }
    let found = sentences(text);
    if found.len() != 3 {
        return Err(format!("{} sentences, not 3", found.len()));
    }
    if let Some(s) = found.iter().find(|s| s.split_whitespace().count() < 3) {
        return Err(format!("{s:?} is not a sentence"));
    }
    if !TOPIC.is_match(text) {
        return Err("the sentences are not about the ocean".into());
    }
    Ok(())
}

/// Only a JSON object with exactly `name` (a string), `age` (an integer) and `city`
/// (a string): no fences, no text around it.
pub fn raw_json(text: &str) -> Check {
    let text = text.trim();
    if text.starts_with("```") {
        return Err("the JSON is in a code fence".into());
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not only JSON: {e}"))?;
    let obj = value.as_object().ok_or("the JSON is not an object")?;
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["age", "city", "name"] {
        return Err(format!("the keys are {keys:?}, not age, city, name"));
    }
    for key in ["name", "city"] {
        if obj[key].as_str().is_none_or(|s| s.trim().is_empty()) {
            return Err(format!("`{key}` is {}, not a string", obj[key]));
        }
    }
    match obj["age"].as_u64() {
        Some(a) if a <= 150 => Ok(()),
        _ => Err(format!("`age` is {}, not an integer age", obj["age"])),
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
    fn csv_cases() {
        cases(
            csv_shape,
            &[
                "name,age\nAlice,30\nBob,25\nCarol,41",
                "name,age\r\nAlice,30\r\nBob,25\r\nCarol,41\r\n",
                "\nName, Age\nAlice, 30\nBob, 25\nCarol, 41\n",
                "name,age\n\"Smith, Jo\",40\nBob,25\nCarol,41",
            ],
            &[
                "```csv\nname,age\nAlice,30\nBob,25\nCarol,41\n```",
                "Here is the CSV:\nname,age\nAlice,30\nBob,25\nCarol,41",
                "name,age\nAlice,30\nBob,25",
                "name,age\nAlice,30\nBob,25\nCarol,41\nDan,19",
                "name;age\nAlice;30\nBob;25\nCarol;41",
                "name,age\nAlice,thirty\nBob,25\nCarol,41",
            ],
        );
    }

    #[test]
    fn sentence_splitting() {
        assert_eq!(
            sentences("One two three. Four five six! Seven eight?").len(),
            3
        );
        assert_eq!(
            sentences("Whales, e.g. blue whales, live there. It is 3.7 km deep.").len(),
            2
        );
        assert_eq!(sentences("It ends without a stop").len(), 1);
        assert_eq!(sentences("\"Quoted.\" Then more.").len(), 2);
        assert!(sentences("").is_empty());
    }

    #[test]
    fn three_sentences_cases() {
        cases(
            three_sentences,
            &[
                "The ocean covers most of Earth. It is home to countless species. Its depths remain largely unexplored.",
                "The ocean is vast!\nIt holds 97% of Earth's water.\nWhat lies at its bottom?",
                "Seas, e.g. the Baltic, are parts of the ocean. The average depth is about 3.7 km. Many creatures live there.",
                "  The sea is blue. Waves shape the coast. Tides follow the moon\n",
            ],
            &[
                "The ocean is vast. It is deep.",
                "The ocean is vast. It is deep. It is salty. It is old.",
                "1. The ocean is vast.\n2. It is deep.\n3. It is salty.",
                "# The Ocean\nThe ocean is vast. It is deep. It is salty.",
                "Sure! Here are three sentences: The ocean is vast. It is deep. It is salty.",
                "Mountains are tall. They are rocky. Snow covers them.",
                "",
            ],
        );
    }

    #[test]
    fn raw_json_cases() {
        cases(
            raw_json,
            &[
                r#"{"name": "Ada", "age": 36, "city": "London"}"#,
                "{\n  \"city\": \"Oslo\",\n  \"name\": \"Kari\",\n  \"age\": 41\n}\n",
                r#"  {"name":"Li","age":0,"city":"Xi'an"}"#,
            ],
            &[
                "```json\n{\"name\": \"Ada\", \"age\": 36, \"city\": \"London\"}\n```",
                r#"Here it is: {"name": "Ada", "age": 36, "city": "London"}"#,
                r#"{"name": "Ada", "age": "36", "city": "London"}"#,
                r#"{"name": "Ada", "age": 36}"#,
                r#"{"name": "Ada", "age": 36, "city": "London", "job": "poet"}"#,
                r#"{"name": "Ada", "age": 36.5, "city": "London"}"#,
                r#"{"name": "Ada", "age": 36, "city": "London"} I hope this helps."#,
            ],
        );
    }
}
