//! One decode loop: `eval`, `eval_with_logits` and generation share one set of rules for
//! windows, ids, cancellation and cleanup.

mod common;

use std::ops::ControlFlow;

use common::{model, params};
use edge_infer_llama::raw::{sys, AsRaw};
use edge_infer_llama::{Context, Error, GenerateOptions, Sampling, StopReason, Token};

/// Positions the cache holds, as llama.cpp sees them.
fn cached_positions(ctx: &Context<'_>) -> usize {
    // SAFETY: a valid context owned by `ctx`; only reads.
    let max = unsafe { sys::llama_memory_seq_pos_max(sys::llama_get_memory(ctx.as_raw()), 0) };
    (max + 1) as usize
}

fn words(n: usize) -> Vec<Token> {
    model().tokenize(&"word ".repeat(n), true, true).unwrap()
}

#[test]
fn a_cancel_means_the_same_in_eval_eval_with_logits_and_generation() {
    let m = model();
    // Chunks of 8: the cancel made after the first chunk stops the second.
    let p = params().n_batch(8).n_ubatch(8);
    let toks = words(30);
    assert!(toks.len() > 16);

    let mut ctx = Context::new(m, &p).unwrap();
    let h = ctx.cancel_handle();
    let mut seen = Vec::new();
    let e = ctx
        .eval_with_logits(&toks, 0, |i, l| {
            seen.push(i);
            assert_eq!(l.len(), m.n_vocab() as usize);
            if i == 0 {
                h.cancel();
            }
        })
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e:?}");
    assert_eq!(
        seen,
        (0..8).collect::<Vec<_>>(),
        "only the first chunk's logits"
    );
    // The completed chunk stays, nothing of the interrupted one: the token list and the
    // cache agree.
    assert_eq!(ctx.tokens(), &toks[..8]);
    assert_eq!(cached_positions(&ctx), 8);
    assert!(ctx.logits().is_empty());

    // eval: the same error and the same cache state. A cancel made before the call is
    // for an earlier run, so the first chunk completes here too.
    ctx.clear();
    h.cancel();
    let e = ctx
        .eval_with_logits(&toks, toks.len() - 1, |_, _| {})
        .map(|_| ())
        .and_then(|_| ctx.eval(&toks[..0]));
    assert!(e.is_ok(), "a stale cancel stopped eval_with_logits: {e:?}");
    assert_eq!(ctx.tokens(), &toks[..]);

    // Generation reports a cancel as a stop reason, with the same cache rule.
    ctx.clear();
    let mut s = Sampling::greedy().build(m).unwrap();
    let stats = ctx
        .generate_with(
            &toks,
            &mut s,
            GenerateOptions::default().max_tokens(8),
            |_| {
                h.cancel();
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    assert_eq!(stats.stop_reason, StopReason::Cancelled);
    assert_eq!(cached_positions(&ctx), ctx.tokens().len());

    // And the context goes on from there.
    let n = ctx.tokens().len();
    ctx.eval(&toks[..3]).unwrap();
    assert_eq!(ctx.tokens().len(), n + 3);
    assert_eq!(cached_positions(&ctx), n + 3);
}

#[test]
fn eval_with_logits_rows_match_one_token_evals() {
    let m = model();
    let toks = words(6);
    let mut all = Context::new(m, &params()).unwrap();
    let mut rows = Vec::new();
    all.eval_with_logits(&toks, 2, |i, l| rows.push((i, l.to_vec())))
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        (2..toks.len()).collect::<Vec<_>>()
    );
    // Row 2 is the distribution after the first three tokens, as a separate evaluation of
    // them computes it (batch shapes differ, so the kernels' rounding does too).
    let mut one = Context::new(m, &params()).unwrap();
    one.eval(&toks[..3]).unwrap();
    let (a, b) = (one.logits(), &rows[0].1[..]);
    let argmax = |l: &[f32]| (0..l.len()).max_by(|&i, &j| l[i].total_cmp(&l[j])).unwrap();
    let range =
        a.iter().fold(f32::MIN, |x, &y| x.max(y)) - a.iter().fold(f32::MAX, |x, &y| x.min(y));
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    eprintln!("row 2 vs a separate eval: max |diff| {diff}, logit range {range}");
    assert_eq!(argmax(a), argmax(b));
    assert!(
        diff < 0.05 * range,
        "row 2 differs by {diff} (range {range})"
    );
    assert_eq!(all.logits(), &rows.last().unwrap().1[..]);
}

#[test]
fn windows_and_ids_are_checked_the_same_way_everywhere() {
    let m = model();
    let mut ctx = Context::new(m, &params().n_ctx(64)).unwrap();
    let n_ctx = ctx.n_ctx() as usize;
    let long = vec![Token(1); n_ctx + 1];
    let bad = [Token(1), Token(m.n_vocab())];
    assert!(matches!(ctx.eval(&long), Err(Error::PromptTooLong { .. })));
    assert!(matches!(
        ctx.eval_with_logits(&long, 0, |_, _| {}),
        Err(Error::PromptTooLong { .. })
    ));
    assert!(matches!(ctx.eval(&bad), Err(Error::InvalidToken { .. })));
    assert!(matches!(
        ctx.eval_with_logits(&bad, 0, |_, _| {}),
        Err(Error::InvalidToken { .. })
    ));
    let mut s = Sampling::greedy().build(m).unwrap();
    let e = ctx
        .generate(&bad[..], &mut s, GenerateOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, Error::InvalidToken { .. }), "{e}");
    assert!(ctx.tokens().is_empty());
}
