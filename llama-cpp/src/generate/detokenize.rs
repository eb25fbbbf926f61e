//! Tokens to streamed text, as generation makes it.

use edge_infer_base::text::{Scan, TextStream};

use crate::error::Result;
use crate::generate::GenerateOptions;
use crate::model::Model;
use crate::token::Token;

/// Turns tokens into text pieces exactly as [`Context::generate`](crate::Context::generate)
/// does: each token's bytes (control tokens dropped unless the options render them),
/// reassembled into whole UTF-8 characters, with the options' stop strings held back
/// until they can be told apart from ordinary text. It is the text half of generation,
/// for callers that pick tokens themselves (after [`Context::eval`](crate::Context::eval),
/// say), and what the streaming benchmark measures.
///
/// Text follows the invalid-byte policy of `edge_infer_base::text`: an invalid byte
/// sequence becomes one U+FFFD. After warm-up, [`Detokenizer::push`] allocates nothing.
///
/// ```
/// # fn main() -> edge_infer_llama::Result<()> {
/// # let model = edge_infer_llama::Model::load(xtask::default_model().unwrap(), &Default::default())?;
/// use edge_infer_llama::{Detokenizer, GenerateOptions};
/// let tokens = model.tokenize("Hello world. Bye", false, false)?;
/// let mut text = Detokenizer::new(&model, &GenerateOptions::default().stop(". "));
/// let mut out = String::new();
/// let mut stop = None;
/// for &t in &tokens {
///     if let Some(s) = text.push(t, &mut out)? {
///         stop = Some(s.to_string());
///         break;
///     }
/// }
/// assert_eq!((out.as_str(), stop.as_deref()), ("Hello world", Some(". ")));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Detokenizer<'m> {
    model: &'m Model,
    stream: TextStream,
    bytes: Vec<u8>,
    special: bool,
    keep: Vec<Token>,
    stopped: bool,
}

impl<'m> Detokenizer<'m> {
    /// A detokenizer with the stop strings and rendering options of `opts`.
    pub fn new(model: &'m Model, opts: &GenerateOptions) -> Detokenizer<'m> {
        Detokenizer {
            model,
            stream: TextStream::new(opts.stop.iter().cloned()),
            bytes: Vec::with_capacity(64),
            special: opts.special,
            keep: opts.keep.clone(),
            stopped: false,
        }
    }

    /// Adds one token, appending the text it makes safe to show to `out`. Returns the stop
    /// string if one completed: the text from it on is dropped, and later tokens add
    /// nothing.
    pub fn push(&mut self, token: Token, out: &mut String) -> Result<Option<&str>> {
        if self.stopped {
            return Ok(None);
        }
        let special = self.special || self.keep.contains(&token);
        self.bytes.clear();
        self.model.token_to_bytes(token, special, &mut self.bytes)?;
        self.stream.push_bytes(&self.bytes);
        Ok(self.drain(out))
    }

    /// Ends the text: what was held back goes to `out` (an unfinished character as
    /// U+FFFD), up to a stop string if one is in it, which is then returned.
    pub fn finish(&mut self, out: &mut String) -> Option<&str> {
        if self.stopped {
            return None;
        }
        self.stream.finish();
        self.drain(out)
    }

    fn drain(&mut self, out: &mut String) -> Option<&str> {
        let mut hit = None;
        while let Some(found) = self.stream.next() {
            match found {
                Scan::Text(t) => out.push_str(t),
                Scan::Needle(i) => {
                    hit = Some(i);
                    break;
                }
            }
        }
        let i = hit?;
        self.stopped = true;
        self.stream.needles().get(i).map(String::as_str)
    }
}
