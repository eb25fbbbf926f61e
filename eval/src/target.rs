//! What the harness runs tests against: a model through edge-infer's `Generator`, or an
//! OpenAI-compatible endpoint.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::answer::Attempt;

/// Generation settings shared by every test of a run: fixed, so runs repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Sampling temperature (0 = greedy).
    pub temperature: f32,
    /// The sampling seed.
    pub seed: u32,
    /// A cap on every test's token budget (the suite's budgets are used below it).
    pub max_tokens: Option<usize>,
    /// How long one test may take before it is cancelled and failed.
    #[serde(with = "secs")]
    pub timeout: Duration,
}

impl Default for Settings {
    /// Greedy, seed 42, the suite's token budgets, 120 s per test.
    fn default() -> Self {
        Settings {
            temperature: 0.0,
            seed: 42,
            max_tokens: None,
            timeout: Duration::from_secs(120),
        }
    }
}

impl Settings {
    /// The token budget of a test under this run's cap.
    pub fn budget(&self, suite_budget: usize) -> usize {
        self.max_tokens
            .map_or(suite_budget, |cap| cap.min(suite_budget))
            .max(1)
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

/// One prompt as a target receives it.
#[derive(Debug, Clone, Copy)]
pub struct Prompt<'a> {
    /// The user message.
    pub text: &'a str,
    /// Offer the suite's tools (`web_search`, `calculator`).
    pub tools: bool,
    /// Token budget.
    pub max_tokens: usize,
}

/// What a target is, for the tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// The model's name (registry name, or the endpoint's model).
    pub name: String,
    /// The backend ("llama.cpp, CPU", "RKLLM, NPU", "HTTP ...").
    pub backend: String,
    /// `generator` or `http`.
    pub kind: TargetKind,
    /// The endpoint URL, for HTTP targets.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The model file's size in bytes, when known.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// A size label given on the command line (e.g. "1.5B q4"), shown instead.
    #[serde(default)]
    pub size_label: Option<String>,
    /// Seconds to load the model, when measured.
    #[serde(default)]
    pub load_seconds: Option<f64>,
    /// How the target was chosen (e.g. a profile's fallback), when there is more to say.
    #[serde(default)]
    pub note: Option<String>,
}

/// How a target is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Directly through edge-infer's `Generator`.
    #[default]
    Generator,
    /// An OpenAI-compatible `/v1/chat/completions` endpoint.
    Http,
}

/// Something the suite runs against. `run` never panics and always returns within about
/// `timeout` (plus the time a backend takes to stop after a cancel).
pub trait Target {
    /// What it is.
    fn info(&self) -> &TargetInfo;
    /// Runs one prompt.
    fn run(&mut self, prompt: Prompt<'_>, settings: &Settings) -> Attempt;
    /// Peak resident memory of the process doing the work, since the model was loaded.
    fn peak_rss_bytes(&self) -> Option<u64>;
    /// Whether it can go on after a timeout (a backend that ignored its cancel cannot).
    fn usable(&self) -> bool {
        true
    }
}
