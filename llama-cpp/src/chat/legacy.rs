//! llama.cpp's template shape matching (`llama_chat_apply_template`): no Jinja engine, only
//! the fallback for GGUFs without a template of their own.

use std::ffi::CString;

use edge_infer_llama_sys as sys;

use super::ChatMessage;
use crate::error::{cstring, Error, Result};
use crate::model::Model;

impl Model {
    /// Formats `messages` with the model's built-in chat template. With
    /// `add_assistant`, the result ends with the opening of the assistant's turn.
    ///
    /// llama.cpp recognises templates by their shape (it has no Jinja engine); an
    /// unrecognised one is [`Error::ChatTemplate`]. A GGUF without a template (some
    /// conversions drop it) gets llama.cpp's built-in template for its architecture
    /// family where there is one (Gemma, Qwen, Phi-3), else [`Error::NoChatTemplate`].
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_assistant: bool,
    ) -> Result<String> {
        let tmpl = match self.chat_template() {
            Some(t) => t,
            None => builtin_for(&self.architecture())
                .ok_or(Error::NoChatTemplate)?
                .to_string(),
        };
        apply_template(&tmpl, messages, add_assistant)
    }

    /// Whether [`Model::apply_chat_template`] has a template to use.
    pub fn has_chat_template(&self) -> bool {
        self.chat_template().is_some() || builtin_for(&self.architecture()).is_some()
    }
}

fn builtin_for(arch: &str) -> Option<&'static str> {
    if arch.starts_with("gemma") {
        Some("gemma")
    } else if arch.starts_with("qwen") {
        Some("chatml")
    } else if arch.starts_with("phi3") {
        Some("phi3")
    } else {
        None
    }
}

/// Formats `messages` with an explicit template: Jinja source or a built-in name
/// such as `chatml`, `llama3` or `gemma`.
pub fn apply_template(
    template: &str,
    messages: &[ChatMessage],
    add_assistant: bool,
) -> Result<String> {
    crate::backend::init();
    let tmpl = cstring("chat template", template)?;
    let owned: Vec<(CString, CString)> = messages
        .iter()
        .map(|m| {
            Ok((
                cstring("chat role", &m.role)?,
                cstring("chat message", &m.content)?,
            ))
        })
        .collect::<Result<_>>()?;
    let raw: Vec<sys::llama_chat_message> = owned
        .iter()
        .map(|(r, c)| sys::llama_chat_message {
            role: r.as_ptr(),
            content: c.as_ptr(),
        })
        .collect();
    let total: usize = messages
        .iter()
        .map(|m| m.role.len() + m.content.len())
        .sum();
    let mut buf = vec![0u8; (total * 2 + 256).min(i32::MAX as usize)];
    for _ in 0..2 {
        let mut n = 0;
        crate::shim::guarded(
            // SAFETY: every pointer in `raw` points into `owned`, alive across the call;
            // buf is writable for its length.
            |err, len| unsafe {
                sys::edge_llama_chat_apply_template(
                    tmpl.as_ptr(),
                    raw.as_ptr(),
                    raw.len(),
                    add_assistant,
                    buf.as_mut_ptr().cast(),
                    buf.len() as i32,
                    &mut n,
                    err,
                    len,
                )
            },
            Error::ChatTemplate,
        )?;
        if n < 0 {
            let head: String = template.chars().take(60).collect();
            return Err(Error::ChatTemplate(format!("{head}...")));
        }
        let n = n as usize;
        if n <= buf.len() {
            buf.truncate(n);
            return String::from_utf8(buf).map_err(|e| Error::ChatTemplate(e.to_string()));
        }
        buf.resize(n, 0);
    }
    Err(Error::ChatTemplate("the output kept growing".into()))
}
