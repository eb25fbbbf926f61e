//! What one result callback delivers, borrowed from the runtime for the callback only.

/// What the callback tells the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Control {
    /// Keep going.
    #[default]
    Continue,
    /// Stop now, keeping the KV cache; a later run resumes. The runtime documents pausing
    /// for single-turn runs (`keep_history` off) only.
    Pause,
}

/// A row-major `num_tokens × width` block of floats borrowed from the runtime for one
/// callback. It cannot outlive the callback:
///
/// ```compile_fail
/// fn keep(llm: &edge_infer_rkllm::Llm) {
///     let mut kept: Option<&[f32]> = None;
///     let opts = edge_infer_rkllm::RunOptions::new().mode(edge_infer_rkllm::InferMode::Logits);
///     llm.run(&edge_infer_rkllm::Input::prompt("hi"), &opts, |chunk| {
///         kept = chunk.logits().map(|l| l.as_slice()); // error: borrowed data escapes
///         edge_infer_rkllm::Control::Continue
///     }).unwrap();
/// }
/// ```
/// Copy it out instead with [`to_owned`](Floats::to_owned):
/// ```
/// fn keep(llm: &edge_infer_rkllm::Llm) -> Option<edge_infer_rkllm::OwnedFloats> {
///     let mut kept = None;
///     let opts = edge_infer_rkllm::RunOptions::new().mode(edge_infer_rkllm::InferMode::Logits);
///     llm.run(&edge_infer_rkllm::Input::prompt("hi"), &opts, |chunk| {
///         kept = chunk.logits().map(|l| l.to_owned());
///         edge_infer_rkllm::Control::Pause // the prompt's logits are enough
///     }).ok()?;
///     kept
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Floats<'a> {
    data: &'a [f32],
    width: usize,
    num_tokens: usize,
}

impl<'a> Floats<'a> {
    /// `None` unless `data` holds exactly `width × num_tokens` floats.
    pub(crate) fn new(data: &'a [f32], width: usize, num_tokens: usize) -> Option<Self> {
        (width.checked_mul(num_tokens) == Some(data.len())).then_some(Floats {
            data,
            width,
            num_tokens,
        })
    }
    /// All values, row-major.
    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }
    /// Row width (vocab size for logits, embedding size for hidden states).
    pub fn width(&self) -> usize {
        self.width
    }
    /// Number of rows (tokens).
    pub fn num_tokens(&self) -> usize {
        self.num_tokens
    }
    /// Row `i` (`None` past the end).
    pub fn row(&self, i: usize) -> Option<&'a [f32]> {
        let start = i.checked_mul(self.width)?;
        self.data.get(start..start.checked_add(self.width)?)
    }
    /// Copies the values out of the runtime's buffer.
    pub fn to_owned(&self) -> OwnedFloats {
        OwnedFloats {
            data: self.data.to_vec(),
            width: self.width,
            num_tokens: self.num_tokens,
        }
    }
}

/// An owned copy of [`Floats`].
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedFloats {
    pub data: Vec<f32>,
    pub width: usize,
    pub num_tokens: usize,
}

/// One callback's output, valid only during the callback.
///
/// The runtime splits a multi-byte character over several calls (its WAITING state); those
/// calls are folded into the one that completes the character, so every chunk's text is
/// whole characters. Bytes that can never be UTF-8 become U+FFFD, one per invalid
/// sequence, as on every edge-infer backend (edge-infer-base's `text` module).
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub(crate) text: &'a str,
    pub(crate) token_id: i32,
    pub(crate) logits: Option<Floats<'a>>,
    pub(crate) hidden: Option<Floats<'a>>,
}

impl<'a> Chunk<'a> {
    /// Characters completed by this call.
    pub fn text(&self) -> &'a str {
        self.text
    }
    /// The token id.
    pub fn token_id(&self) -> i32 {
        self.token_id
    }
    /// Logits (in [`InferMode::Logits`](crate::InferMode::Logits)).
    pub fn logits(&self) -> Option<Floats<'a>> {
        self.logits
    }
    /// Last hidden layer (in [`InferMode::LastHiddenLayer`](crate::InferMode::LastHiddenLayer)).
    pub fn hidden_states(&self) -> Option<Floats<'a>> {
        self.hidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_never_overflow() {
        let data = [1.0f32; 6];
        let f = Floats::new(&data, 3, 2).unwrap();
        assert_eq!(f.row(1), Some(&data[3..6]));
        assert_eq!(f.row(2), None);
        assert_eq!(
            f.row(usize::MAX),
            None,
            "i * width overflows: no row, no panic"
        );
        assert!(Floats::new(&data, 4, 2).is_none());
        assert!(Floats::new(&data, usize::MAX, 2).is_none());
    }
}
