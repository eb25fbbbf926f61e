//! The results file: every answer and verdict of a run, enough to re-score it later
//! without running a model again.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::answer::{Answer, Attempt, Outcome};
use crate::error::{io_error, Error, Result};
use crate::suite::{Dimension, TestCase, WEIGHTS};
use crate::target::{Settings, TargetInfo};
use crate::validate::{judge, CodeCheck, Verdict};

/// The format tag of results files this version writes and reads.
pub const FORMAT: &str = "edge-eval results 1";

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// [`FORMAT`].
    pub format: String,
    /// edge-infer-eval's version that ran (or last re-scored) it.
    pub harness_version: String,
    /// When it ran, seconds since the Unix epoch.
    pub started_unix: u64,
    /// The machine (CPU model and cores) it ran on.
    pub host: String,
    /// The generation settings.
    pub settings: Settings,
    /// How code answers were checked (python3 or by pattern).
    pub code_check: String,
    /// The weights the verdicts were scored with.
    pub weights: Vec<(Dimension, f64)>,
    /// One entry per model.
    pub models: Vec<ModelRun>,
}

/// One model's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRun {
    /// What the target is.
    #[serde(flatten)]
    pub info: TargetInfo,
    /// Why it was not run, when it could not be opened.
    #[serde(default)]
    pub skipped: Option<String>,
    /// The warm-up request (untimed in the scores).
    #[serde(default)]
    pub warmup_seconds: Option<f64>,
    /// Peak resident memory while it ran.
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
    /// Its tests.
    pub tests: Vec<TestRecord>,
}

/// One test of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    /// The test's name.
    pub test: String,
    /// Its dimension.
    pub dimension: Dimension,
    /// The prompt sent.
    pub prompt: String,
    /// The token budget it had.
    pub max_tokens: usize,
    /// What came back.
    pub answer: Answer,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time, seconds.
    pub wall_seconds: f64,
    /// Time to the first token, seconds.
    #[serde(default)]
    pub ttft_seconds: Option<f64>,
    /// Tokens generated.
    #[serde(default)]
    pub generated_tokens: Option<usize>,
    /// Decode speed, tokens per second.
    #[serde(default)]
    pub decode_tps: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

impl TestRecord {
    /// Records an attempt at `test`, judged.
    pub fn new(
        test: &TestCase,
        max_tokens: usize,
        attempt: Attempt,
        code: &CodeCheck,
    ) -> TestRecord {
        let verdict = judge(test, &attempt.outcome, &attempt.answer, code);
        TestRecord {
            test: test.name.into(),
            dimension: test.dimension,
            prompt: test.prompt.into(),
            max_tokens,
            answer: attempt.answer,
            outcome: attempt.outcome,
            wall_seconds: attempt.wall.as_secs_f64(),
            ttft_seconds: attempt.ttft.map(|d| d.as_secs_f64()),
            generated_tokens: attempt.generated_tokens,
            decode_tps: attempt.decode_tps,
            verdict,
        }
    }

    /// The suite's test of this record (`None` for a test this version does not have).
    pub fn case(&self) -> Option<&'static TestCase> {
        TestCase::by_name(&self.test)
    }
}

impl RunResults {
    /// An empty run with these settings, on this machine, now.
    pub fn new(settings: Settings, code: &CodeCheck) -> RunResults {
        RunResults {
            format: FORMAT.into(),
            harness_version: env!("CARGO_PKG_VERSION").into(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            host: host(),
            settings,
            code_check: code.describe(),
            weights: WEIGHTS.to_vec(),
            models: Vec::new(),
        }
    }

    /// Reads a results file.
    pub fn load(path: &Path) -> Result<RunResults> {
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        let bad = |message: String| Error::BadResults {
            path: path.to_path_buf(),
            message,
        };
        let run: RunResults = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if run.format != FORMAT {
            return Err(bad(format!("format {:?}, expected {FORMAT:?}", run.format)));
        }
        for m in &run.models {
            if let Some(t) = m.tests.iter().find(|t| t.case().is_none()) {
                return Err(bad(format!(
                    "model `{}` has an unknown test `{}`",
                    m.info.name, t.test
                )));
            }
        }
        Ok(run)
    }

    /// Writes it as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("results serialize");
        std::fs::write(path, text + "\n").map_err(io_error(path))
    }

    /// Judges every stored answer again with this version's validators and weights (and
    /// `code`'s way of checking code): a run re-scored without running a model.
    pub fn rescore(&mut self, code: &CodeCheck) {
        for m in &mut self.models {
            for t in &mut m.tests {
                let case = t.case().expect("checked on load");
                t.dimension = case.dimension;
                t.verdict = judge(case, &t.outcome, &t.answer, code);
            }
        }
        self.code_check = code.describe();
        self.weights = WEIGHTS.to_vec();
        self.harness_version = env!("CARGO_PKG_VERSION").into();
    }
}

/// The CPU model and core count, from `/proc/cpuinfo`.
fn host() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| {
            l.starts_with("model name") || l.starts_with("Model") || l.starts_with("Hardware")
        })
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, v)| v.trim())
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cores} cores, {}", std::env::consts::ARCH)
}
