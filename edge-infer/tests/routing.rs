//! Profiles, fallback and the bad-input list.
mod common;

use common::{collect, double_entry, double_runtime, llama_entry};
use edge_infer::{BackendKind, Error, ModelError, Registry, Request, Sampling};
use rkllm_test_double::{FakeModel, TempDir};

/// A registry whose `chain` profile is, in order: an NPU model whose runtime is absent,
/// an NPU model whose file is missing, a GGUF that is not a model (fails to load
/// mid-list), a working NPU model (the test double), then the real CPU model.
fn fallback_registry(dir: &TempDir) -> Registry {
    let good = FakeModel::default()
        .reply("from the double")
        .write(dir.path().join("good.rkllm"))
        .unwrap();
    std::fs::write(dir.path().join("broken.gguf"), b"this is not a GGUF file").unwrap();
    let toml = format!(
        r#"
[profiles]
chain = ["no-runtime", "no-file", "broken", "double", "cpu"]
cpu-last = ["no-runtime", "cpu"]
all-bad = ["no-runtime", "no-file", "broken"]
empty = []

[models.no-runtime]
backend = "rkllm"
file = "good.rkllm"
runtime = "/nonexistent/librkllmrt.so"

[models.no-file]
backend = "rkllm"
file = "missing.rkllm"
runtime = {rt:?}

[models.broken]
backend = "llama"
file = "broken.gguf"

{double}
{cpu}
"#,
        rt = double_runtime().display().to_string(),
        double = double_entry("double", &good),
        cpu = llama_entry("cpu"),
    );
    let path = dir.path().join("edge-infer.toml");
    std::fs::write(&path, toml).unwrap();
    // Loaded from a file: relative model files resolve against its directory.
    Registry::load(&path).unwrap()
}

#[test]
fn fallback_order_and_reporting() {
    let dir = TempDir::new("route").unwrap();
    let reg = fallback_registry(&dir);
    let mut seen = Vec::new();
    let mut routed = reg
        .open_profile_with("chain", |s| seen.push(s.model.clone()))
        .unwrap();
    let r = &routed.report;
    assert_eq!(
        (r.served.as_str(), r.backend),
        ("double", BackendKind::Rkllm)
    );
    let skipped: Vec<&str> = r.skipped.iter().map(|s| s.model.as_str()).collect();
    assert_eq!(skipped, ["no-runtime", "no-file", "broken"]);
    assert_eq!(seen, skipped);
    assert!(
        matches!(r.skipped[0].cause, ModelError::NpuRuntimeUnavailable(_)),
        "{}",
        r.skipped[0]
    );
    assert!(
        matches!(&r.skipped[1].cause, ModelError::FileMissing(p) if p.ends_with("missing.rkllm")),
        "{}",
        r.skipped[1]
    );
    assert!(
        matches!(
            r.skipped[2].cause,
            ModelError::Llama(edge_infer_llama::Error::NotGguf { .. })
        ),
        "{}",
        r.skipped[2]
    );
    let shown = r.to_string();
    assert!(
        shown.contains("skipped `no-runtime` (RKLLM, NPU): NPU runtime unavailable"),
        "{shown}"
    );
    assert!(
        shown.contains("profile `chain` served by `double` (RKLLM, NPU)"),
        "{shown}"
    );
    let (text, _, _) = collect(&mut routed.generator, &Request::user("hi"));
    assert_eq!(text, "from the double");

    // NPU unavailable -> CPU.
    let mut routed = reg.open_profile("cpu-last").unwrap();
    assert_eq!(routed.report.served, "cpu");
    assert_eq!(routed.report.backend, BackendKind::Llama);
    assert_eq!(routed.report.skipped.len(), 1);
    let req = Request::user("Hello")
        .sampling(Sampling::greedy())
        .max_tokens(4);
    let (text, _, _) = collect(&mut routed.generator, &req);
    assert!(!text.is_empty());
}

#[test]
fn every_model_failing_is_one_error_listing_each_cause() {
    let dir = TempDir::new("route-bad").unwrap();
    let reg = fallback_registry(&dir);
    let err = reg.open_profile("all-bad").unwrap_err();
    let Error::AllModelsFailed { profile, failures } = &err else {
        panic!("{err}")
    };
    assert_eq!(profile, "all-bad");
    assert_eq!(failures.len(), 3);
    let msg = err.to_string();
    for needle in [
        "no model of profile `all-bad` could be opened",
        "`no-runtime` (RKLLM, NPU): NPU runtime unavailable",
        "`no-file` (RKLLM, NPU): model file",
        "missing.rkllm does not exist",
        "`broken` (llama.cpp, CPU):",
        "is not a GGUF model",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in:\n{msg}");
    }
}

#[test]
fn unknown_and_empty_profiles_and_unknown_models() {
    let dir = TempDir::new("route-names").unwrap();
    let reg = fallback_registry(&dir);
    let err = reg.open_profile("turbo").unwrap_err();
    assert!(matches!(&err, Error::UnknownProfile { profile, .. } if profile == "turbo"));
    assert!(err.to_string().contains("`chain`"), "{err}");
    let err = reg.open_profile("empty").unwrap_err();
    assert!(
        matches!(&err, Error::EmptyProfile { profile } if profile == "empty"),
        "{err}"
    );
    let err = reg.open_model("nope").unwrap_err();
    assert!(matches!(&err, Error::UnknownModel { .. }), "{err}");
    // Opening one model directly names it in the error.
    let err = reg.open_model("broken").unwrap_err();
    assert!(
        matches!(&err, Error::Model { model, backend: BackendKind::Llama, .. } if model == "broken"),
        "{err}"
    );
}

#[test]
fn config_errors_carry_serde_messages_with_lines() {
    let dir = TempDir::new("cfg").unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[profiles]\nfast = [\"a\"]\n\n[models.a]\nfile = \"a.gguf\"\n",
    )
    .unwrap();
    let err = Registry::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config { .. }));
    assert!(
        msg.contains("missing field `backend`") && msg.contains("line 4"),
        "{msg}"
    );
    assert!(msg.contains("bad.toml"), "{msg}");

    std::fs::write(
        &path,
        "[models.a]\nbackend = \"llama\"\nfile = \"a.gguf\"\nthreads = \"four\"\n",
    )
    .unwrap();
    let msg = Registry::load(&path).unwrap_err().to_string();
    assert!(
        msg.contains("invalid type") && msg.contains("line 4"),
        "{msg}"
    );

    let err = Registry::load(dir.path().join("absent.toml")).unwrap_err();
    assert!(matches!(err, Error::ConfigRead { .. }), "{err}");
}

#[test]
fn bad_pinning_is_an_init_failure_and_fallback_proceeds() {
    let toml = format!(
        "[profiles]\np = [\"pinned\", \"cpu\"]\n\n[models.pinned]\nbackend = \"llama\"\nfile = \"default\"\ncontext = 512\ncores = [100000]\n\n{}",
        llama_entry("cpu")
    );
    let reg = Registry::from_toml_str(&toml).unwrap();
    let routed = reg.open_profile("p").unwrap();
    assert_eq!(routed.report.served, "cpu");
    assert!(
        matches!(&routed.report.skipped[0].cause, ModelError::Affinity { cores, .. } if cores == &[100000]),
        "{}",
        routed.report.skipped[0]
    );
    assert!(routed.generator.info().description.contains("threads"));
}

#[test]
fn builtin_fast_profile_skips_the_npu_here() {
    if edge_infer_rkllm::Runtime::system().is_ok() {
        eprintln!("an RKLLM runtime is installed; this check is for machines without one");
        return;
    }
    common::fetch_default_model();
    let routed = Registry::builtin().open_profile("fast").unwrap();
    assert_eq!(routed.report.served, "gemma-3-270m");
    let s = &routed.report.skipped[0];
    assert_eq!(s.model, "qwen2.5-0.5b-npu");
    // Its file is checked first: on a machine without it, that is what is reported.
    assert!(
        matches!(
            s.cause,
            ModelError::FileMissing(_) | ModelError::NpuRuntimeUnavailable(_)
        ),
        "{s}"
    );
}

#[test]
fn the_example_config_parses_and_documents_every_field() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/edge-infer.toml");
    let reg = Registry::load(&path).unwrap();
    assert_eq!(reg.profiles(), ["default", "fast", "quality"]);
    assert_eq!(reg.default_profile(), Some("default"));
    let fast = reg.profile("fast").unwrap();
    assert_eq!(reg.model(&fast[0]).unwrap().backend(), BackendKind::Rkllm);
    assert_eq!(
        reg.model(&reg.profile("default").unwrap()[0])
            .unwrap()
            .backend(),
        BackendKind::Llama
    );
    let text = std::fs::read_to_string(&path).unwrap();
    for field in [
        "default_profile",
        "[profiles]",
        "backend",
        "file",
        "description",
        "context",
        "threads",
        "cores",
        "cache_type_k",
        "cache_type_v",
        "cache_layers",
        "flash_attention",
        "swa_full",
        "cpu_mask",
        "runtime",
        "tokenizer",
        "prompt_prefix",
        "prompt_postfix",
    ] {
        assert!(
            text.contains(&format!("\n{field}")) || text.contains(&format!("# {field}")),
            "{field} is not shown"
        );
    }
    // The last resort of every profile is the default test model.
    for p in reg.profiles() {
        assert_eq!(reg.profile(p).unwrap().last().unwrap(), "gemma-3-270m");
    }
}
