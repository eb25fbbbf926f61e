//! Inputs that safe code can give and that used to crash the process (a C++ exception
//! through FFI, a GGML_ABORT, a ggml abort on an unsupported cache type). Each is now a
//! typed error, and the objects involved stay usable. A regression aborts this test
//! binary, which fails it.

mod common;

use std::ops::ControlFlow;

use common::{model, params};
use edge_infer_llama::raw::{sys, AsRaw};
use edge_infer_llama::{
    Context, ContextParams, Error, GenerateOptions, KvLayers, KvType, Sampling, StopReason, Token,
};

fn generate(ctx: &mut Context<'_>, s: &mut edge_infer_llama::Sampler<'_>) -> (String, StopReason) {
    let mut text = String::new();
    let stats = ctx
        .generate_with(
            "Answer:",
            s,
            GenerateOptions::default().max_tokens(8),
            |t| {
                text.push_str(t);
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    (text, stats.stop_reason)
}

#[test]
fn accept_checks_the_id_and_the_grammar_and_leaves_the_sampler_usable() {
    let m = model();
    let yes = r#"root ::= "yes""#;
    let mut s = Sampling::greedy().grammar(yes).build(m).unwrap();
    // Out of the vocabulary (llama.cpp indexes a vector with it and throws).
    let e = s.accept(Token(m.n_vocab() + 10)).unwrap_err();
    assert!(matches!(e, Error::InvalidToken { .. }), "{e}");
    assert!(s.accept(Token(-1)).is_err());
    // Prompt tokens the grammar does not allow (llama.cpp throws after emptying the
    // grammar's stacks).
    let prompt = m.tokenize("The capital", true, true).unwrap();
    for &t in &prompt {
        let e = s.accept(t).unwrap_err();
        assert!(
            matches!(e, Error::GrammarRejects { token } if token == t.0),
            "{e}"
        );
    }
    // End of generation before the grammar is complete (GGML_ABORT in llama.cpp).
    let eos = m.token_eos().unwrap();
    let e = s.accept(eos).unwrap_err();
    assert!(matches!(e, Error::GrammarRejects { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("not allowed by the sampler's grammar"),
        "{e}"
    );
    // Nothing was accepted: the grammar still produces its whole text.
    let mut ctx = Context::new(m, &params()).unwrap();
    assert_eq!(
        generate(&mut ctx, &mut s),
        ("yes".into(), StopReason::EndOfGeneration)
    );

    // An allowed token is accepted and advances the grammar: then only the end remains.
    let mut s = Sampling::greedy().grammar(yes).build(m).unwrap();
    let yes_tokens = m.tokenize("yes", false, false).unwrap();
    for &t in &yes_tokens {
        s.accept(t).unwrap();
    }
    s.accept(eos)
        .expect("the grammar is complete: the end is allowed");
    let mut s = Sampling::greedy().grammar(yes).build(m).unwrap();
    for &t in &yes_tokens {
        s.accept(t).unwrap();
    }
    ctx.clear();
    assert_eq!(
        generate(&mut ctx, &mut s),
        (String::new(), StopReason::EndOfGeneration)
    );

    // Without a grammar any vocabulary token is fine (e.g. prompt tokens for penalties).
    let mut p = Sampling::greedy().repeat_penalty(1.3).build(m).unwrap();
    for &t in &prompt {
        p.accept(t).unwrap();
    }
}

#[test]
fn thread_counts_are_checked_against_the_stated_bound() {
    let m = model();
    assert_eq!(ContextParams::MAX_THREADS, 512);
    for p in [
        params().n_threads(100_000),
        params().n_threads(513),
        params().n_threads(-1),
        params().n_threads_batch(100_000),
    ] {
        let e = Context::new(m, &p).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidParameter {
                    name: "n_threads" | "n_threads_batch",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("outside 1..=512"), "{e}");
    }
    let mut ctx = Context::new(m, &params()).unwrap();
    let e = ctx.set_threads(100_000, 2).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                name: "n_threads",
                ..
            }
        ),
        "{e}"
    );
    let e = ctx.set_threads(2, 0).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                name: "n_threads_batch",
                ..
            }
        ),
        "{e}"
    );
    ctx.set_threads(2, 2).unwrap();
}

#[test]
fn an_exception_out_of_decode_is_an_error_and_poisons_only_that_context() {
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let toks = m.tokenize(common::PROMPT, true, true).unwrap();
    ctx.eval(&toks[..2]).unwrap();
    // Past the safe API's bound on purpose: ggml's CPU backend then fails to allocate its
    // work buffer, and the std::bad_alloc comes out of llama_decode.
    // SAFETY: a valid context owned by `ctx`; setting thread counts changes no cache state.
    unsafe { sys::llama_set_n_threads(ctx.as_raw(), 100_000, 100_000) };
    let e = ctx.eval(&toks[2..]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Exception {
                call: "llama_decode",
                ..
            }
        ),
        "{e}"
    );
    // ggml left a freed buffer behind: the context refuses every further use.
    assert!(ctx.is_poisoned());
    for e in [
        ctx.eval(&toks).unwrap_err(),
        ctx.set_threads(2, 2).unwrap_err(),
        ctx.state_save().unwrap_err(),
        ctx.discard(0, 1).unwrap_err(),
    ] {
        assert!(
            matches!(e, Error::Poisoned(ref cause) if cause.contains("llama_decode")),
            "{e}"
        );
    }
    let mut s = Sampling::greedy().build(m).unwrap();
    let e = ctx
        .generate_with("Hi", &mut s, GenerateOptions::default(), |_| {
            ControlFlow::Continue(())
        })
        .unwrap_err();
    assert!(matches!(e, Error::Poisoned(_)), "{e}");
    assert!(ctx.tokens().is_empty() && ctx.logits().is_empty() && !ctx.can_shift());
    ctx.clear();
    ctx.truncate(0);
    // Dropping it leaks it instead of freeing memory twice; the model and new contexts
    // are unaffected.
    drop(ctx);
    let mut fresh = Context::new(m, &params()).unwrap();
    fresh.eval(&toks).unwrap();
    assert_eq!(fresh.logits().len(), m.n_vocab() as usize);
}

#[test]
fn cache_types_without_cache_kernels_are_refused_when_parsed() {
    let m = model();
    let n = m.n_layer() as usize;
    // ggml has these types, but no cache-copy or attention kernels for them.
    for name in ["iq2_xxs", "i32", "q4_K", "f64"] {
        let e = name.parse::<KvType>().unwrap_err();
        assert!(
            matches!(e, Error::UnsupportedKvType { layer: None, .. }),
            "{name}: {e}"
        );
    }
    let e = "hybrid:6:q8_0:i32".parse::<KvLayers>().unwrap_err();
    match &e {
        Error::UnsupportedKvType { name, at, layer } => {
            assert_eq!(
                (name.as_str(), at.as_str(), *layer),
                ("i32", "the late layers 6..", None)
            );
        }
        other => panic!("{other}"),
    }
    let mut table = vec!["q8_0"; n];
    table[3] = "iq2_xxs";
    let e = format!("table:{}", table.join(","))
        .parse::<KvLayers>()
        .unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedKvType { layer: Some(3), .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("`iq2_xxs` (layer 3) is not a KV cache type"),
        "{e}"
    );
    let e = "table:f16,q8_0/iq4_xs".parse::<KvLayers>().unwrap_err();
    assert!(e.to_string().contains("(layer 1 V)"), "{e}");
    let e = "table:f16,q8_0/nonsense".parse::<KvLayers>().unwrap_err();
    assert!(
        matches!(&e, Error::InvalidParameter { reason, .. } if reason.contains("layer 1 V")),
        "{e}"
    );
    // Every supported type parses, per layer too, and makes a working context.
    for t in KvType::CACHE_TYPES {
        assert_eq!(t.name().parse::<KvType>().unwrap(), t);
    }
    let ok: KvLayers = format!("table:{}", vec!["q8_0/q4_0"; n].join(","))
        .parse()
        .unwrap();
    let mut ctx = Context::new(m, &params().kv_layers(ok)).unwrap();
    ctx.eval(&m.tokenize("Hello", true, true).unwrap()).unwrap();
}
