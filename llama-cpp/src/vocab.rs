//! The vocabulary of a model: tokenization, detokenization and special tokens.

use edge_infer_llama_sys as sys;

use crate::error::{check_nul, Error, Result};
use crate::model::Model;
use crate::shim;
use crate::token::Token;

impl Model {
    /// Tokenizes `text`. `add_special` adds BOS/EOS as the model wants; `parse_special`
    /// turns control-token text (e.g. `<start_of_turn>`) into the control tokens.
    ///
    /// Text with a NUL byte is refused, since llama.cpp treats text as C strings elsewhere.
    pub fn tokenize(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<Token>> {
        check_nul("text to tokenize", text)?;
        let len = i32::try_from(text.len())
            .map_err(|_| Error::Tokenize(format!("text of {} bytes is too long", text.len())))?;
        let mut out: Vec<Token> = Vec::with_capacity(text.len() / 3 + 8);
        for _ in 0..2 {
            let mut n = 0;
            let cap = out.capacity().min(i32::MAX as usize) as i32;
            shim::guarded(
                // SAFETY: `text` is valid for `len` bytes; `out` has room for `cap` tokens
                // and Token is repr(transparent) over llama_token.
                |err, elen| unsafe {
                    sys::edge_llama_tokenize(
                        self.vocab_ptr(),
                        text.as_ptr().cast(),
                        len,
                        out.as_mut_ptr().cast(),
                        cap,
                        add_special,
                        parse_special,
                        &mut n,
                        err,
                        elen,
                    )
                },
                Error::Tokenize,
            )?;
            if n == i32::MIN {
                return Err(Error::Tokenize("the token count overflows i32".into()));
            }
            if n >= 0 {
                if n > cap {
                    return Err(Error::Tokenize(format!(
                        "llama.cpp reported {n} tokens for a buffer of {cap}"
                    )));
                }
                // SAFETY: llama.cpp wrote exactly n tokens, no more than the capacity.
                unsafe { out.set_len(n as usize) };
                return Ok(out);
            }
            out.reserve_exact((-n) as usize);
        }
        Err(Error::Tokenize(
            "llama.cpp asked for a larger buffer twice".into(),
        ))
    }

    /// Appends the bytes of one token to `buf` (a piece may be part of a UTF-8 character).
    /// `special` renders control tokens as their text.
    pub fn token_to_bytes(&self, token: Token, special: bool, buf: &mut Vec<u8>) -> Result<()> {
        self.check_token(token)?;
        let start = buf.len();
        let mut room = 32usize;
        loop {
            buf.resize(start + room, 0);
            let mut n = 0;
            shim::guarded(
                // SAFETY: buf[start..] is writable for `room` bytes; the id was checked.
                |err, elen| unsafe {
                    sys::edge_llama_token_to_piece(
                        self.vocab_ptr(),
                        token.0,
                        buf[start..].as_mut_ptr().cast(),
                        room.min(i32::MAX as usize) as i32,
                        0,
                        special,
                        &mut n,
                        err,
                        elen,
                    )
                },
                shim::exception("llama_token_to_piece"),
            )?;
            if n >= 0 {
                // `truncate` cannot lengthen: a count beyond `room` keeps only what was written.
                buf.truncate(start + (n as usize).min(room));
                return Ok(());
            }
            room = n.unsigned_abs() as usize;
        }
    }

    /// The text of one token, lossily decoded (for display; streaming generation holds
    /// split characters back instead).
    pub fn token_to_piece(&self, token: Token, special: bool) -> Result<String> {
        let mut buf = Vec::new();
        self.token_to_bytes(token, special, &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Turns tokens back into text.
    pub fn detokenize(&self, tokens: &[Token], special: bool) -> Result<String> {
        for &t in tokens {
            self.check_token(t)?;
        }
        let n_tokens =
            i32::try_from(tokens.len()).map_err(|_| Error::Tokenize("too many tokens".into()))?;
        let mut buf = vec![0u8; tokens.len() * 8 + 16];
        loop {
            let mut n = 0;
            shim::guarded(
                // SAFETY: the ids are valid for n_tokens entries and in the vocabulary; buf
                // is writable for its length.
                |err, elen| unsafe {
                    sys::edge_llama_detokenize(
                        self.vocab_ptr(),
                        tokens.as_ptr().cast(),
                        n_tokens,
                        buf.as_mut_ptr().cast(),
                        buf.len().min(i32::MAX as usize) as i32,
                        false,
                        special,
                        &mut n,
                        err,
                        elen,
                    )
                },
                Error::Tokenize,
            )?;
            if n >= 0 {
                buf.truncate(n as usize);
                return Ok(String::from_utf8_lossy(&buf).into_owned());
            }
            buf.resize(n.unsigned_abs() as usize, 0);
        }
    }

    /// Whether `token` is a control token (turn markers, BOS/EOS, thought-channel
    /// markers and the like), which text output drops unless asked to render it.
    /// `false` for ids outside the vocabulary.
    pub fn is_control(&self, token: Token) -> bool {
        // SAFETY: valid vocab; the id is checked first because llama.cpp indexes with
        // `.at()`, which would throw across the C boundary.
        self.check_token(token).is_ok()
            && unsafe { sys::llama_vocab_is_control(self.vocab_ptr(), token.0) }
    }

    pub(crate) fn check_token(&self, token: Token) -> Result<()> {
        let n_vocab = self.n_vocab();
        if token.0 < 0 || token.0 >= n_vocab {
            return Err(Error::InvalidToken {
                token: token.0,
                n_vocab,
            });
        }
        Ok(())
    }

    /// Vocabulary size.
    pub fn n_vocab(&self) -> i32 {
        // SAFETY: valid vocab pointer owned by the model.
        unsafe { sys::llama_vocab_n_tokens(self.vocab_ptr()) }
    }

    /// Beginning-of-sequence token, if the model has one.
    pub fn token_bos(&self) -> Option<Token> {
        // SAFETY: valid vocab pointer.
        Token::from_raw(unsafe { sys::llama_vocab_bos(self.vocab_ptr()) })
    }

    /// End-of-sequence token, if the model has one.
    pub fn token_eos(&self) -> Option<Token> {
        // SAFETY: valid vocab pointer.
        Token::from_raw(unsafe { sys::llama_vocab_eos(self.vocab_ptr()) })
    }

    /// Whether `token` ends generation (EOS, EOT and the like); `false` for ids outside
    /// the vocabulary.
    pub fn is_eog(&self, token: Token) -> bool {
        // SAFETY: valid vocab pointer. llama_vocab_is_eog looks the id up in a set of
        // end-of-generation ids, so any i32 is a safe argument: no indexing happens.
        unsafe { sys::llama_vocab_is_eog(self.vocab_ptr(), token.0) }
    }
}
