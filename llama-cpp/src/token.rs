//! A token id.

/// A token id in a model's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Token(pub i32);

impl Token {
    pub(crate) fn from_raw(id: i32) -> Option<Token> {
        (id >= 0).then_some(Token(id))
    }
}
