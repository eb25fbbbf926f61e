//! Saved states are checked against the cache they restore.

mod common;

use common::{model, params};
use edge_infer_llama::{Context, Error};

#[test]
fn a_state_whose_token_list_disagrees_with_its_cache_is_refused() {
    let m = model();
    let toks = m.tokenize(common::PROMPT, true, true).unwrap();
    let mut a = Context::new(m, &params()).unwrap();
    a.eval(&toks).unwrap();
    let saved = a.state_save().unwrap();
    // The header: magic (8), layer count (4), K/V type per layer (8 each), token count
    // (4), the tokens (4 each), then the KV payload.
    let count_at = 8 + 4 + 8 * m.n_layer() as usize;
    let n = u32::from_le_bytes(saved[count_at..count_at + 4].try_into().unwrap()) as usize;
    assert_eq!(n, toks.len());

    // Drop the first token from the list: the list now says n - 1, the cache holds n.
    let mut edited = saved.clone();
    edited[count_at..count_at + 4].copy_from_slice(&(n as u32 - 1).to_le_bytes());
    edited.drain(count_at + 4..count_at + 8);
    let mut b = Context::new(m, &params()).unwrap();
    b.eval(&toks[..2]).unwrap();
    let e = b.state_load(&edited).unwrap_err();
    assert!(
        matches!(&e, Error::StateFormat(r) if r.contains(&format!("{} tokens", n - 1)) && r.contains(&format!("{n} positions"))),
        "{e}"
    );
    // Refused states leave the cache empty, whatever the reason.
    assert!(b.tokens().is_empty());
    b.eval(&toks).unwrap();
    let e = b.state_load(b"not a state").unwrap_err();
    assert!(matches!(e, Error::StateFormat(_)), "{e}");
    assert!(b.tokens().is_empty());

    // The untouched state loads and continues as the original does.
    b.state_load(&saved).unwrap();
    assert_eq!(b.tokens(), &toks[..]);
    let next = [toks[1]];
    a.eval(&next).unwrap();
    b.eval(&next).unwrap();
    assert_eq!(a.logits(), b.logits());
}
