//! Bad input gets a typed error that names the problem: no crash, hang or abort.

mod common;

use std::io::Write;

use common::{model, params};
use edge_infer_llama::{
    Context, Error, FlashAttention, GenerateOptions, KvType, Model, Sampling, Token,
};

fn load(path: &std::path::Path) -> Error {
    Model::load(path, &Default::default()).expect_err("loading must fail")
}

fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    (dir, p)
}

#[test]
fn missing_model_path() {
    let e = load(std::path::Path::new("/nonexistent/dir/model.gguf"));
    assert!(matches!(e, Error::ModelNotFound(_)), "{e}");
    assert!(e.to_string().contains("/nonexistent/dir/model.gguf"));
}

#[test]
fn directory_as_model() {
    let dir = tempfile::tempdir().unwrap();
    let e = load(dir.path());
    assert!(matches!(e, Error::NotAFile(_)), "{e}");
}

#[test]
fn empty_model_file() {
    let (_d, p) = temp_file("empty.gguf", b"");
    let e = load(&p);
    assert!(matches!(e, Error::EmptyFile(_)), "{e}");
    assert!(e.to_string().contains("0 bytes"));
}

#[test]
fn truncated_model_file() {
    let real = std::fs::read(xtask::default_model().unwrap()).unwrap();
    let (_d, p) = temp_file("truncated.gguf", &real[..1 << 20]);
    let e = load(&p);
    assert!(matches!(e, Error::ModelLoad { .. }), "{e}");
    assert!(e.to_string().contains("truncated.gguf"), "{e}");
}

#[test]
fn truncated_after_metadata() {
    // Metadata intact, tensor data cut short: llama.cpp must notice the bounds.
    let real = std::fs::read(xtask::default_model().unwrap()).unwrap();
    let (_d, p) = temp_file("half.gguf", &real[..real.len() / 2]);
    let e = load(&p);
    assert!(matches!(e, Error::ModelLoad { .. }), "{e}");
}

#[test]
fn random_bytes() {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let (_d, p) = temp_file("random.gguf", &bytes);
    let e = load(&p);
    assert!(matches!(e, Error::NotGguf { .. }), "{e}");
}

#[test]
fn gguf_magic_then_garbage() {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 4096));
    let (_d, p) = temp_file("garbage.gguf", &bytes);
    let e = load(&p);
    assert!(matches!(e, Error::ModelLoad { .. }), "{e}");
}

#[test]
fn git_lfs_pointer_instead_of_model() {
    let (_d, p) = temp_file(
        "pointer.gguf",
        b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n",
    );
    let e = load(&p);
    assert!(matches!(e, Error::LfsPointer(_)), "{e}");
    assert!(
        e.to_string()
            .contains("is a Git LFS pointer file, not the model: fetch the real file"),
        "{e}"
    );
}

#[test]
fn model_path_with_nul() {
    let e = load(std::path::Path::new("model\0.gguf"));
    // The OS refuses the path before llama.cpp sees it; either way it is typed.
    assert!(
        matches!(
            e,
            Error::InteriorNul { .. } | Error::Io { .. } | Error::ModelNotFound(_)
        ),
        "{e}"
    );
}

#[test]
fn prompt_longer_than_n_ctx() {
    let m = model();
    let mut ctx = Context::new(m, &params().n_ctx(64)).unwrap();
    let mut s = Sampling::greedy().build(m).unwrap();
    // llama.cpp may round n_ctx up; the context reports what it really holds.
    let n_ctx = ctx.n_ctx() as usize;
    let long = "word ".repeat(n_ctx + 50);
    let e = ctx
        .generate(long.as_str(), &mut s, GenerateOptions::default())
        .err()
        .expect("too long");
    match e {
        Error::PromptTooLong {
            needed,
            n_ctx: got_n_ctx,
            ..
        } => {
            assert!(needed > n_ctx);
            assert_eq!(got_n_ctx, n_ctx);
        }
        other => panic!("unexpected {other}"),
    }
    // Nothing was evaluated; the context still works.
    assert!(ctx.tokens().is_empty());
    let st = ctx
        .generate_with(
            "Hi",
            &mut s,
            GenerateOptions::default().max_tokens(2),
            |_| std::ops::ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(st.generated_tokens, 2);
}

#[test]
fn n_ctx_zero() {
    let e = Context::new(model(), &params().n_ctx(0)).unwrap_err();
    assert!(
        matches!(e, Error::InvalidParameter { name: "n_ctx", .. }),
        "{e}"
    );
}

#[test]
fn n_threads_zero() {
    let e = Context::new(model(), &params().n_threads(0)).unwrap_err();
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
    let e = Context::new(model(), &params().n_threads_batch(-3)).unwrap_err();
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
}

#[test]
fn n_batch_zero() {
    let e = Context::new(model(), &params().n_batch(0)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                name: "n_batch",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn prompt_with_interior_nul() {
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let mut s = Sampling::greedy().build(m).unwrap();
    let e = ctx
        .generate("Hello\0world", &mut s, GenerateOptions::default())
        .err()
        .expect("NUL refused");
    assert!(matches!(e, Error::InteriorNul { offset: 5, .. }), "{e}");
    let e = m
        .apply_chat_template(&[edge_infer_llama::ChatMessage::user("a\0b")], true)
        .unwrap_err();
    assert!(matches!(e, Error::InteriorNul { .. }), "{e}");
}

#[test]
fn quantized_v_with_flash_attention_off() {
    let p = params()
        .type_v(KvType::Q4_0)
        .flash_attention(FlashAttention::Off);
    let e = Context::new(model(), &p).unwrap_err();
    assert!(
        matches!(e, Error::QuantizedVNeedsFlashAttention { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("q4_0"));
    // Auto resolves to flash attention on the CPU and works.
    Context::new(model(), &params().type_v(KvType::Q4_0)).unwrap();
}

#[test]
fn empty_prompt() {
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let mut s = Sampling::greedy().build(m).unwrap();
    let e = ctx
        .generate(&[][..] as &[Token], &mut s, GenerateOptions::default())
        .err()
        .expect("empty refused");
    assert!(matches!(e, Error::EmptyPrompt), "{e}");
}

#[test]
fn out_of_vocabulary_tokens() {
    let m = model();
    let mut ctx = Context::new(m, &params()).unwrap();
    let e = ctx.eval(&[Token(m.n_vocab())]).unwrap_err();
    assert!(matches!(e, Error::InvalidToken { .. }), "{e}");
    let e = ctx.eval(&[Token(-5)]).unwrap_err();
    assert!(matches!(e, Error::InvalidToken { .. }), "{e}");
    assert!(m.detokenize(&[Token(i32::MAX)], false).is_err());
}

#[test]
fn invalid_sampling_parameters() {
    let m = model();
    for (s, name) in [
        (Sampling::default().top_p(1.5), "top_p"),
        (Sampling::default().min_p(-0.1), "min_p"),
        (Sampling::default().top_k(-1), "top_k"),
        (Sampling::default().temperature(f32::NAN), "temperature"),
        (Sampling::default().repeat_penalty(0.0), "repeat_penalty"),
    ] {
        let e = s.build(m).unwrap_err();
        assert!(
            matches!(e, Error::InvalidParameter { name: n, .. } if n == name),
            "{e}"
        );
    }
}

#[test]
fn unknown_cache_type_name() {
    let e = "q9_9".parse::<KvType>().unwrap_err();
    assert!(e.to_string().contains("q9_9"));
}

#[test]
fn invalid_grammars() {
    let m = model();
    for bad in [
        "",
        "   ",
        "root ::= \"unterminated",
        "root ::= undefined_rule",
        "start ::= \"x\"",
        "root ::= root \"x\"",
        "root ::= <[999999999]>",
        "root ::= <no_such_token>",
    ] {
        let Err(e) = Sampling::greedy().grammar(bad).build(m) else {
            panic!("{bad:?} was accepted");
        };
        assert!(
            matches!(
                e,
                Error::InvalidParameter {
                    name: "grammar",
                    ..
                }
            ),
            "{bad:?}: {e}"
        );
    }
    let e = Sampling::greedy()
        .grammar("root ::= \"a\0b\"")
        .build(m)
        .unwrap_err();
    assert!(matches!(e, Error::InteriorNul { offset: 11, .. }), "{e}");
}

#[test]
fn sampler_of_another_model() {
    let other = Model::load(model().path(), &Default::default()).unwrap();
    let mut s = Sampling::greedy().build(&other).unwrap();
    let mut ctx = Context::new(model(), &params()).unwrap();
    let e = ctx
        .generate_with("Hi", &mut s, GenerateOptions::default(), |_| {
            std::ops::ControlFlow::Continue(())
        })
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                name: "sampler",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn grammar_that_no_token_can_continue() {
    // Only a NUL byte is allowed, which no token produces: llama.cpp throws while
    // sampling, and the shim turns that into an error instead of an abort.
    let m = model();
    let mut s = Sampling::greedy()
        .grammar(r#"root ::= "\x00""#)
        .build(m)
        .unwrap();
    let mut ctx = Context::new(m, &params()).unwrap();
    let e = ctx
        .generate_with("Hi", &mut s, GenerateOptions::default(), |_| {
            std::ops::ControlFlow::Continue(())
        })
        .unwrap_err();
    assert!(
        matches!(e, Error::Sampling(ref m) if m.contains("grammar")),
        "{e}"
    );
}
