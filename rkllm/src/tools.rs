//! Function-tools JSON validation (the runtime does not validate it; bad JSON fails late).
use crate::error::{Error, Result};
use serde_json::Value;

/// Checks that `json` is an array of tool objects, each with a `name` (at the top level or
/// under `function`, as in the OpenAI-style schema), and returns it in compact form.
pub fn validate_tools(json: &str) -> Result<String> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| Error::InvalidToolsJson(e.to_string()))?;
    let arr = v
        .as_array()
        .ok_or_else(|| Error::InvalidToolsJson("the top level is not an array".into()))?;
    if arr.is_empty() {
        return Err(Error::InvalidToolsJson("the array is empty".into()));
    }
    for (i, t) in arr.iter().enumerate() {
        let obj = t
            .as_object()
            .ok_or_else(|| Error::InvalidToolsJson(format!("entry {i} is not an object")))?;
        let name = obj
            .get("function")
            .and_then(|f| f.get("name"))
            .or_else(|| obj.get("name"));
        if !name.is_some_and(Value::is_string) {
            return Err(Error::InvalidToolsJson(format!(
                "entry {i} has no string `name` (or `function.name`)"
            )));
        }
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_openai_style_and_flat() {
        assert!(
            validate_tools(r#"[{"type":"function","function":{"name":"f","parameters":{}}}]"#)
                .is_ok()
        );
        assert!(validate_tools(r#"[{"name":"g"}]"#).is_ok());
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [
            "{",
            "{}",
            "[]",
            "[1]",
            r#"[{"function":{}}]"#,
            r#"[{"name":3}]"#,
        ] {
            assert!(
                matches!(validate_tools(bad), Err(Error::InvalidToolsJson(_))),
                "{bad}"
            );
        }
    }
}
