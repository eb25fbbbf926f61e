//! The suite through edge-infer's Generator: the real default model on the CPU, and the
//! NPU path through the RKLLM test double (a fake librkllmrt; no NPU involved).

mod common;

use std::sync::Mutex;
use std::time::Duration;

use edge_eval::{
    results::RunResults, run_suite, CodeCheck, Models, Opener, Outcome, Prompt, Settings, Target,
    TestCase, TestId, Verdict,
};
use rkllm_test_double::{library_path, Abi, FakeModel, TempDir};

/// One model at a time: two cores are all there is.
static ONE_MODEL: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_MODEL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The default model with one thread: the dev machines are two cores shared by several
/// builds, where two OpenMP threads slow to a crawl (docs/EVAL.md); CI runs the README's
/// command with the built-in registry as it is.
const MODELS: &str = r#"
[models.gemma-3-270m]
backend = "llama"
file = "default"
description = "gemma-3-270m Q4_K_M (the default test model; a base model), one thread"
context = 2048
threads = 1
"#;

#[test]
fn edge_eval_runs_the_full_suite_on_the_default_model() {
    if common::emulated() {
        eprintln!("skipped under qemu: the binary cannot be spawned there (see common::emulated)");
        return;
    }
    let _one = lock();
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_edge-eval");
    let config = dir.path().join("edge-infer.toml");
    std::fs::write(
        &config,
        format!("[profiles]\ndefault = [\"gemma-3-270m\"]\n{MODELS}"),
    )
    .unwrap();
    // Small budgets and a timeout keep it quick enough for CI.
    let out = std::process::Command::new(exe)
        .args([
            "run",
            "--max-tokens",
            "16",
            "--timeout",
            "90",
            "--no-progress",
            "--config",
        ])
        .arg(&config)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");

    let run = RunResults::load(&dir.path().join("results.json")).unwrap();
    assert_eq!(run.models.len(), 1);
    let m = &run.models[0];
    assert_eq!(m.info.name, "gemma-3-270m");
    assert_eq!(m.info.backend, "llama.cpp, CPU");
    assert!(m.info.size_bytes.unwrap() > 100_000_000, "the GGUF's size");
    assert!(m.info.load_seconds.unwrap() > 0.0);
    assert!(m.warmup_seconds.unwrap() > 0.0);
    assert!(
        m.peak_rss_bytes.unwrap() > 100 << 20,
        "the model is resident"
    );
    assert_eq!(m.tests.len(), 14);
    for t in &m.tests {
        assert!(t.max_tokens <= 16);
        let tools = t.dimension == edge_eval::Dimension::ToolCall;
        match t.outcome {
            // The default GGUF has no chat template: its backend refuses tools, and the tool
            // tests say so instead of counting as the model's failures.
            Outcome::Completed if tools => {
                assert!(t.generated_tokens.is_none(), "{}", t.test);
                match &t.verdict {
                    Verdict::Unsupported(why) => assert!(why.contains("chat template"), "{why}"),
                    v => panic!("{}: {v:?}", t.test),
                }
            }
            Outcome::Completed => {
                let n = t.generated_tokens.unwrap();
                assert!((1..=16).contains(&n), "{}: {n} tokens", t.test);
                assert!(t.ttft_seconds.unwrap() > 0.0 && t.ttft_seconds.unwrap() <= t.wall_seconds);
            }
            // A loaded CI machine may time a test out; that must be a verdict, not a crash.
            Outcome::TimedOut => assert_eq!(t.verdict, Verdict::Timeout),
            Outcome::Failed(ref e) => panic!("{}: {e}", t.test),
        }
    }
    // A base 270M model, 16 tokens a test: it passes little or nothing, and says so.
    let passed = m.tests.iter().filter(|t| t.verdict.passed()).count();
    assert!(
        passed <= 4,
        "{passed} passed: check the validators against {:?}",
        m.tests
    );

    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report
        .contains("| # | model | backend | size | quality | weighted | wall (s) | t/s | score |"));
    assert!(
        report.contains(&format!(
            "| 1 | gemma-3-270m | llama.cpp, CPU | 253 MB | {passed}/14 |"
        )),
        "{report}"
    );
    assert!(report.contains("## Per dimension") && report.contains("## Suggested routing"));
    assert_eq!(
        &std::fs::read(dir.path().join("quality_vs_wall.png")).unwrap()[..4],
        b"\x89PNG"
    );

    // The suggested block pastes into a registry with that model.
    let block = std::fs::read_to_string(dir.path().join("routing.toml")).unwrap();
    let registry = edge_infer::Registry::from_toml_str(&format!("{block}\n{MODELS}"))
        .unwrap_or_else(|e| panic!("{e}\n{block}"));
    assert_eq!(
        registry.profiles(),
        [
            "code",
            "deep_analysis",
            "factual",
            "fast_chat",
            "reasoning",
            "tool_calling"
        ]
    );
    assert_eq!(registry.profile("code").unwrap(), ["gemma-3-270m"]);

    // Re-scored without the model: the same table.
    let again = std::process::Command::new(exe)
        .arg("rescore")
        .arg(dir.path().join("results.json"))
        .output()
        .unwrap();
    assert!(again.status.success());
    let first_row = |s: &str| s.lines().find(|l| l.starts_with("| 1 |")).map(String::from);
    assert_eq!(
        first_row(&String::from_utf8_lossy(&again.stdout)),
        first_row(&stdout)
    );
}

#[test]
fn a_generation_past_its_timeout_is_cancelled_and_the_model_goes_on() {
    let _one = lock();
    let mut target = Models::builtin().open_profile("default").unwrap();
    let settings = Settings {
        timeout: Duration::from_millis(300),
        ..Settings::default()
    };
    let long = Prompt {
        text: "Write a very long story about the sea.",
        tools: false,
        max_tokens: 2000,
    };
    let a = target.run(long, &settings);
    assert_eq!(a.outcome, Outcome::TimedOut);
    assert!(
        a.wall < settings.timeout + edge_eval::CANCEL_GRACE,
        "stopped within the grace after the cancel: {:?}",
        a.wall
    );
    assert!(a.generated_tokens.unwrap_or(0) < 2000);
    assert!(
        target.usable(),
        "the cancel worked, so the model is not abandoned"
    );
    let short = Prompt {
        text: "Say hello.",
        tools: false,
        max_tokens: 4,
    };
    let b = target.run(
        short,
        &Settings {
            timeout: Duration::from_secs(60),
            ..settings
        },
    );
    assert_eq!(b.outcome, Outcome::Completed);
    assert!(b.generated_tokens.unwrap() <= 4);
}

fn double_registry(dir: &TempDir) -> Models {
    let fast = FakeModel::default()
        .reply("Canberra")
        .write(dir.path().join("fast.rkllm"))
        .unwrap();
    let slow = FakeModel::default()
        .reply("Canberra is the capital, as everyone knows.")
        .token_delay_ms(400)
        .write(dir.path().join("slow.rkllm"))
        .unwrap();
    let runtime = library_path(Abi::V1_3).display().to_string();
    let entry = |name: &str, file: &std::path::Path| {
        format!(
            "[models.{name}]\nbackend = \"rkllm\"\nfile = {:?}\nruntime = {runtime:?}\ncontext = 1024\n",
            file.display().to_string()
        )
    };
    Models::from_toml_str(&format!(
        "[profiles]\nnpu = [\"npu-fast\"]\n\n{}\n{}",
        entry("npu-fast", &fast),
        entry("npu-slow", &slow)
    ))
    .unwrap()
}

#[test]
fn npu_models_run_through_the_test_double() {
    let dir = TempDir::new("eval-npu").unwrap();
    let models = double_registry(&dir);
    let tests = [
        TestCase::get(TestId::Capital),
        TestCase::get(TestId::RawJson),
        TestCase::get(TestId::CalculatorCall),
    ];
    let settings = Settings {
        timeout: Duration::from_secs(2),
        ..Settings::default()
    };
    let (a, b, c) = (models.clone(), models.clone(), models.clone());
    let openers = vec![
        Opener::new("profile npu", move || a.open_profile("npu")),
        Opener::new("npu-slow", move || b.open_model("npu-slow")),
        Opener::new("missing", move || c.open_model("missing")),
    ];
    let run = run_suite(openers, &tests, &settings, &CodeCheck::Pattern, false);
    assert_eq!(run.models.len(), 3);

    let fast = &run.models[0];
    assert_eq!(fast.info.backend, "RKLLM, NPU");
    assert!(fast
        .info
        .note
        .as_deref()
        .unwrap()
        .contains("profile `npu` served by `npu-fast`"));
    assert_eq!(
        fast.tests[0].verdict,
        Verdict::Pass,
        "the test double says Canberra"
    );
    assert!(matches!(fast.tests[1].verdict, Verdict::Fail(_)));
    assert!(matches!(fast.tests[2].verdict, Verdict::Unsupported(_)));

    // 43 characters at 400 ms each: every test that runs times out, is cancelled, and the
    // next runs.
    let slow = &run.models[1];
    assert_eq!(slow.tests.len(), 3);
    // The tool test is refused at once (an NPU model without `chat_template`).
    for t in &slow.tests {
        if t.dimension == edge_eval::Dimension::ToolCall {
            assert!(
                matches!(t.verdict, Verdict::Unsupported(_)),
                "{:?}",
                t.verdict
            );
        } else {
            assert_eq!(t.verdict, Verdict::Timeout, "{}", t.test);
        }
        assert!(t.wall_seconds < 2.0 + edge_eval::CANCEL_GRACE.as_secs_f64());
    }

    let missing = &run.models[2];
    assert!(
        missing
            .skipped
            .as_deref()
            .unwrap()
            .contains("no such model"),
        "{:?}",
        missing.skipped
    );
    assert_eq!(
        edge_eval::ranking(&run.models).len(),
        2,
        "a skipped model is not ranked"
    );
}
