//! edge-eval: our users' 14-test quality × speed harness.
//!
//! Fourteen pass/fail tests in six weighted dimensions ([`suite::WEIGHTS`]) run against
//! models opened through edge-infer's `Generator` ([`Models`]: a registry's models or a
//! profile, CPU and NPU) or against any OpenAI-compatible endpoint ([`HttpTarget`]:
//! llama-server, Ollama, edge-infer's own server), with the same prompts and the same
//! deterministic validators ([`validate`]). Each model gets
//! `weighted_quality × max(0.1, 60 / avg_wall_seconds)` ([`score()`]), and the results
//! give a routing per use case ([`routing`]) as an `edge-infer.toml` `[profiles]` block.
//!
//! ```no_run
//! use edge_eval::{run_suite, write_outputs, CodeCheck, Models, Opener, Settings, SUITE};
//! # fn main() -> edge_eval::Result<()> {
//! let models = Models::builtin();
//! let openers = vec![Opener::new("default", move || models.open_profile("default"))];
//! let tests: Vec<_> = SUITE.iter().collect();
//! let run = run_suite(openers, &tests, &Settings::default(), &CodeCheck::detect(), true);
//! let out = write_outputs(&run, "eval-out".as_ref(), 60.0)?;
//! println!("{}", std::fs::read_to_string(out.report).unwrap());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod answer;
mod error;
mod generator;
mod http;
pub mod memory;
mod output;
pub mod plot;
pub mod report;
pub mod results;
pub mod routing;
mod runner;
pub mod score;
pub mod suite;
pub mod target;
pub mod validate;

pub use answer::{Answer, Attempt, Outcome, ToolCall};
pub use error::{Error, Result};
pub use generator::{GeneratorTarget, Models, CANCEL_GRACE};
pub use http::{chat_url, HttpOptions, HttpTarget};
pub use output::{write_outputs, Outputs};
pub use results::{ModelRun, RunResults, TestRecord};
pub use runner::{run_suite, Opener};
pub use score::{ranking, score, Summary};
pub use suite::{Dimension, TestCase, TestId, SUITE, WEIGHTS};
pub use target::{Prompt, Settings, Target, TargetInfo, TargetKind};
pub use validate::{CodeCheck, Verdict};
