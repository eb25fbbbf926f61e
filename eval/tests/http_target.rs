//! The suite over the HTTP target, against a STUB OpenAI-compatible server (tests the
//! target and the harness only: the stub's canned replies score no model).

mod common;

use std::time::Duration;

use common::stub_server::{StubReply, StubServer, FIRST_TOKEN_DELAY};
use edge_eval::{
    ranking, run_suite, write_outputs, CodeCheck, HttpOptions, HttpTarget, Opener, Outcome,
    RunResults, Settings, TestId, Verdict, SUITE,
};

/// Right answers for 11 tests; a wrong one, a hang and a tool call written as prose for
/// the other three.
fn stub() -> StubServer {
    StubServer::start(
        vec![
            ("bat and a ball", StubReply::Text("Let the ball cost x: x + x + 1.00 = 1.10, so x = 0.05.\nAnswer: $0.05")),
            ("zorps", StubReply::Text("No. The quaggy flims need not be zorps.")),
            ("5 machines", StubReply::Text("Answer: 100 minutes")),
            ("capital city of Australia", StubReply::Text("Canberra")),
            ("Dennis Ritchie", StubReply::Text("C")),
            ("symbol of gold", StubReply::Text("Au")),
            ("list comprehension", StubReply::Text("```python\n[x for x in nums if x % 2 == 0]\n```")),
            ("is_palindrome", StubReply::Text("def is_palindrome(s):\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]\n")),
            ("CSV table", StubReply::Text("name,age\nAlice,30\nBob,25\nCarol,41")),
            ("three sentences", StubReply::Text("The ocean covers most of Earth. It holds most of its water. Much of it is unexplored.")),
            ("JSON object", StubReply::Hang),
            ("Rust programming language", StubReply::Text("<tool_call>{\"name\": \"web_search\", \"arguments\": {\"query\": \"latest Rust release\"}}</tool_call>")),
            ("1234 multiplied", StubReply::ToolCall { name: "calculator", arguments: "{\"expression\": \"1234 * 5678\"}" }),
            ("train leaves", StubReply::NotStreamed("09:40 to 11:10 is 1.5 hours.\nAnswer: 80 km/h")),
        ],
        StubReply::Text("Hello"),
    )
}

fn settings() -> Settings {
    Settings {
        timeout: Duration::from_secs(2),
        max_tokens: Some(64),
        ..Settings::default()
    }
}

fn verdict(run: &RunResults, model: usize, id: TestId) -> Verdict {
    let name = edge_eval::TestCase::get(id).name;
    let t = run.models[model]
        .tests
        .iter()
        .find(|t| t.test == name)
        .unwrap();
    t.verdict.clone()
}

#[test]
fn the_suite_runs_over_http_with_timeouts_errors_and_rescoring() {
    let server = stub();
    let url = server.url();
    let tests: Vec<_> = SUITE.iter().collect();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (u1, u2) = (url.clone(), url.clone());
    let openers = vec![
        Opener::new("stub-good", move || {
            HttpTarget::new(
                &u1,
                "stub-good",
                HttpOptions {
                    backend_label: Some("stub (HTTP)".into()),
                    size_label: Some("none".into()),
                    server_pid: Some(std::process::id()),
                    ..HttpOptions::default()
                },
            )
        }),
        Opener::new("stub-500", move || {
            HttpTarget::new(&u2, "stub-500", HttpOptions::default())
        }),
        Opener::new("nobody", move || {
            HttpTarget::new(
                &format!("http://127.0.0.1:{closed_port}/v1"),
                "nobody",
                HttpOptions::default(),
            )
        }),
    ];
    let code = CodeCheck::detect();
    let run = run_suite(openers, &tests, &settings(), &code, false);
    assert_eq!(run.models.len(), 3);

    // The good stub: 11 of 14, the three misses each for its own reason.
    let good = &run.models[0];
    assert_eq!(good.tests.len(), 14);
    let passed: Vec<_> = good
        .tests
        .iter()
        .filter(|t| t.verdict.passed())
        .map(|t| t.test.as_str())
        .collect();
    assert_eq!(passed.len(), 11, "passed: {passed:?}");
    assert!(matches!(verdict(&run, 0, TestId::RateScaling), Verdict::Fail(w) if w.contains("100")));
    assert_eq!(verdict(&run, 0, TestId::RawJson), Verdict::Timeout);
    assert!(
        matches!(verdict(&run, 0, TestId::WebSearchCall), Verdict::Fail(w) if w.contains("does not count")),
        "a tool call written as text must not pass"
    );
    assert_eq!(verdict(&run, 0, TestId::CalculatorCall), Verdict::Pass);
    assert_eq!(
        verdict(&run, 0, TestId::Speed),
        Verdict::Pass,
        "the non-streamed reply is read"
    );
    let hang = good.tests.iter().find(|t| t.test == "raw_json").unwrap();
    assert_eq!(hang.outcome, Outcome::TimedOut);
    assert!(
        hang.wall_seconds >= 2.0 && hang.wall_seconds < 6.0,
        "{}",
        hang.wall_seconds
    );
    // TTFT is measured from the stream: after the stub's first-token delay.
    let capital = good.tests.iter().find(|t| t.test == "capital").unwrap();
    let ttft = capital.ttft_seconds.unwrap();
    assert!(
        ttft >= FIRST_TOKEN_DELAY.as_secs_f64() && ttft < 2.0,
        "{ttft}"
    );
    let gold = good
        .tests
        .iter()
        .find(|t| t.test == "chemical_symbol")
        .unwrap();
    assert!(
        gold.decode_tps.is_none(),
        "one piece has no decode interval"
    );
    let csv = good.tests.iter().find(|t| t.test == "csv_shape").unwrap();
    assert!(csv.generated_tokens.unwrap() > 1 && csv.decode_tps.unwrap() > 0.0);
    assert!(good.warmup_seconds.unwrap() > 0.0);
    assert!(good.peak_rss_bytes.unwrap() > 0, "the pid's VmHWM");

    // Server errors and a refused connection fail every test and the run goes on.
    for m in [1, 2] {
        let model = &run.models[m];
        assert_eq!(model.tests.len(), 14);
        assert!(
            model
                .tests
                .iter()
                .all(|t| matches!(t.verdict, Verdict::Error(_))),
            "{:?}",
            model.tests[0].verdict
        );
    }
    assert_eq!(
        run.models[1].tests[0].verdict,
        Verdict::Error("HTTP 500: stub: internal error for model stub-500".into())
    );
    assert!(
        matches!(&run.models[2].tests[0].verdict, Verdict::Error(e) if e.contains("Connection refused"))
    );

    // What the stub received: fixed sampling, streaming, tools only for tool tests.
    let requests = server.requests();
    let good_requests: Vec<_> = requests
        .iter()
        .filter(|r| r["model"] == "stub-good")
        .collect();
    assert_eq!(good_requests.len(), 15, "warm-up + 14 tests");
    for r in &good_requests {
        assert_eq!(r["temperature"], 0.0);
        assert_eq!(r["seed"], 42);
        assert_eq!(r["stream"], true);
        assert!(r["max_tokens"].as_u64().unwrap() <= 64);
        let prompt = r["messages"][0]["content"].as_str().unwrap();
        let tool_test = prompt.contains("Use a tool");
        assert_eq!(r.get("tools").is_some(), tool_test, "{prompt}");
        if tool_test {
            assert_eq!(r["tools"].as_array().unwrap().len(), 2);
            assert_eq!(r["tool_choice"], "auto");
        }
    }

    // The ranking and the outputs.
    let summaries = ranking(&run.models);
    assert_eq!(summaries.len(), 3);
    assert_eq!(summaries[0].name, "stub-good");
    assert_eq!(summaries[0].passed, 11);
    assert_eq!(summaries[0].weighted, 25.0 - 3.0 - 1.5 - 2.5);
    let dir = tempfile::tempdir().unwrap();
    let out = write_outputs(&run, dir.path(), 60.0).unwrap();
    let report = std::fs::read_to_string(&out.report).unwrap();
    assert!(
        report.contains("| 1 | stub-good | stub (HTTP) | none | 11/14 | 18.0 |"),
        "{report}"
    );
    let routing = std::fs::read_to_string(&out.routing).unwrap();
    assert!(
        routing.contains("# code = []") && routing.contains("not registry models: stub-good"),
        "{routing}"
    );
    assert_eq!(
        &std::fs::read(&out.plot).unwrap()[..8],
        b"\x89PNG\r\n\x1a\n"
    );

    // Re-scored from the file: the same verdicts; an edited answer is judged anew.
    let mut again = RunResults::load(&out.results).unwrap();
    again.rescore(&code);
    let verdicts = |r: &RunResults| -> Vec<Vec<Verdict>> {
        r.models
            .iter()
            .map(|m| m.tests.iter().map(|t| t.verdict.clone()).collect())
            .collect()
    };
    assert_eq!(verdicts(&again), verdicts(&run));
    assert_eq!(
        again.models[0].tests[3].answer,
        run.models[0].tests[3].answer
    );
    let t = again.models[0]
        .tests
        .iter_mut()
        .find(|t| t.test == "rate_scaling")
        .unwrap();
    t.answer.text = "Answer: 5 minutes".into();
    again.rescore(&code);
    assert_eq!(ranking(&again.models)[0].passed, 12);
    assert_eq!(ranking(&again.models)[0].weighted, 21.0);
}

#[test]
fn the_cli_runs_an_endpoint_and_rescores() {
    if common::emulated() {
        eprintln!("skipped under qemu: the binary cannot be spawned there (see common::emulated)");
        return;
    }
    let server = stub();
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_edge-eval");
    let out = std::process::Command::new(exe)
        .args([
            "run",
            "--endpoint",
            &format!("{}/v1", server.url()),
            "--endpoint-model",
            "stub-good",
        ])
        .args([
            "--only",
            "capital",
            "--only",
            "calculator_call",
            "--timeout",
            "5",
            "--no-progress",
        ])
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
    assert!(
        stdout.contains("| 1 | stub-good | HTTP | ? | 2/2 | 3.0 |"),
        "{stdout}"
    );
    for f in [
        "results.json",
        "report.md",
        "routing.toml",
        "quality_vs_wall.png",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let again = std::process::Command::new(exe)
        .arg("rescore")
        .arg(dir.path().join("results.json"))
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("| 1 | stub-good | HTTP | ? | 2/2 | 3.0 |")
    );

    // Bad input is a message, not a crash.
    for (args, want) in [
        (
            vec!["run", "--endpoint", "localhost:1"],
            "not an endpoint URL",
        ),
        (vec!["run", "--only", "nope"], "no test `nope`"),
        (vec!["run", "--timeout", "0"], "must be a positive"),
        (
            vec!["rescore", "/nonexistent/results.json"],
            "/nonexistent/results.json",
        ),
    ] {
        let o = std::process::Command::new(exe)
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
    }
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"format\": \"something else\"}").unwrap();
    let o = std::process::Command::new(exe)
        .arg("rescore")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not an edge-eval results file"));
}
