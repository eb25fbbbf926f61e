//! What to generate from and when to stop.

use crate::token::Token;

/// What to generate from: text (tokenized with the model's special-token parsing, BOS
/// added when the cache is empty) or tokens.
#[derive(Debug, Clone, Copy)]
pub enum Prompt<'a> {
    /// Text, e.g. the output of [`Model::apply_chat_template`](crate::Model::apply_chat_template).
    Text(&'a str),
    /// Tokens, used as they are.
    Tokens(&'a [Token]),
}

impl<'a> From<&'a str> for Prompt<'a> {
    fn from(s: &'a str) -> Self {
        Prompt::Text(s)
    }
}

impl<'a> From<&'a String> for Prompt<'a> {
    fn from(s: &'a String) -> Self {
        Prompt::Text(s)
    }
}

impl<'a> From<&'a [Token]> for Prompt<'a> {
    fn from(t: &'a [Token]) -> Self {
        Prompt::Tokens(t)
    }
}

impl<'a> From<&'a Vec<Token>> for Prompt<'a> {
    fn from(t: &'a Vec<Token>) -> Self {
        Prompt::Tokens(t)
    }
}

/// Limits and stop conditions of one generation. Defaults: 256 tokens, no stop strings.
///
/// ```
/// let o = edge_infer_llama::GenerateOptions::default().max_tokens(32).stop("\n\n");
/// assert_eq!(o.token_limit(), 32);
/// ```
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub(crate) max_tokens: usize,
    pub(crate) stop: Vec<String>,
    pub(crate) special: bool,
    pub(crate) keep: Vec<Token>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            stop: Vec::new(),
            special: false,
            keep: Vec::new(),
        }
    }
}

impl GenerateOptions {
    /// Stop after this many generated tokens.
    pub fn max_tokens(mut self, n: usize) -> Self {
        self.max_tokens = n;
        self
    }
    /// Stop when the output contains `s` (which is not emitted). May be given many times.
    pub fn stop(mut self, s: impl Into<String>) -> Self {
        let s = s.into();
        if !s.is_empty() {
            self.stop.push(s);
        }
        self
    }
    /// Render every control token as text instead of dropping it.
    pub fn render_special(mut self, on: bool) -> Self {
        self.special = on;
        self
    }
    /// Render these control tokens as text and drop the others: for markers a caller
    /// parses out of the stream, such as a reasoning model's thought-channel tokens,
    /// without letting turn markers and the like into the text. May be given many times.
    pub fn render_tokens(mut self, tokens: impl IntoIterator<Item = Token>) -> Self {
        self.keep.extend(tokens);
        self
    }
    /// The token limit.
    pub fn token_limit(&self) -> usize {
        self.max_tokens
    }
}
