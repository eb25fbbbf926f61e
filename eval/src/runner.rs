//! Running the suite: models one after another (each opened, warmed up, tested and
//! closed before the next loads), every test under the per-test timeout, with a
//! progress bar over models x tests.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Result;
use crate::results::{ModelRun, RunResults, TestRecord};
use crate::suite::{TestCase, WARMUP_PROMPT};
use crate::target::{Prompt, Settings, Target, TargetInfo};
use crate::validate::{CodeCheck, Verdict};

/// Opens a target when its turn comes, so only one model is loaded at a time.
pub struct Opener {
    /// The name shown until the target says its own.
    pub label: String,
    open: Box<dyn FnOnce() -> Result<Box<dyn Target>>>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// An opener that calls `open` at the model's turn.
    pub fn new<T: Target + 'static>(
        label: impl Into<String>,
        open: impl FnOnce() -> Result<T> + 'static,
    ) -> Opener {
        Opener {
            label: label.into(),
            open: Box::new(move || open().map(|t| Box::new(t) as Box<dyn Target>)),
        }
    }
}

/// A line above the bar, or on stderr when there is no bar.
fn say(bar: &ProgressBar, progress: bool, line: String) {
    if progress {
        bar.println(line);
    } else {
        eprintln!("{line}");
    }
}

/// Runs `tests` on every target. A target that cannot be opened is recorded as skipped
/// with the reason; a test that times out fails and the run goes on.
pub fn run_suite(
    openers: Vec<Opener>,
    tests: &[&'static TestCase],
    settings: &Settings,
    code: &CodeCheck,
    progress: bool,
) -> RunResults {
    let mut results = RunResults::new(settings.clone(), code);
    let bar = ProgressBar::new((openers.len() * tests.len()) as u64);
    if !progress {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} tests  {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    for opener in openers {
        bar.set_message(format!("loading {}", opener.label));
        let mut target = match (opener.open)() {
            Ok(t) => t,
            Err(e) => {
                say(&bar, progress, format!("skipped {}: {e}", opener.label));
                results.models.push(ModelRun {
                    info: TargetInfo {
                        name: opener.label,
                        ..TargetInfo::default()
                    },
                    skipped: Some(e.to_string()),
                    warmup_seconds: None,
                    peak_rss_bytes: None,
                    tests: Vec::new(),
                });
                bar.inc(tests.len() as u64);
                continue;
            }
        };
        let name = target.info().name.clone();
        bar.set_message(format!("{name}: warm-up"));
        let warmup = target.run(
            Prompt {
                text: WARMUP_PROMPT,
                tools: false,
                max_tokens: 8,
            },
            settings,
        );
        let mut records = Vec::with_capacity(tests.len());
        for test in tests {
            bar.set_message(format!("{name}: {}", test.name));
            let max_tokens = settings.budget(test.max_tokens);
            let attempt = target.run(
                Prompt {
                    text: test.prompt,
                    tools: test.tools,
                    max_tokens,
                },
                settings,
            );
            let record = TestRecord::new(test, max_tokens, attempt, code);
            if matches!(record.verdict, Verdict::Timeout) {
                say(
                    &bar,
                    progress,
                    format!(
                        "{name}: {} timed out after {:.0} s",
                        test.name, record.wall_seconds
                    ),
                );
            }
            records.push(record);
            bar.inc(1);
        }
        let passed = records.iter().filter(|r| r.verdict.passed()).count();
        say(
            &bar,
            progress,
            format!("{name}: {passed}/{} passed", records.len()),
        );
        results.models.push(ModelRun {
            info: target.info().clone(),
            skipped: None,
            warmup_seconds: Some(warmup.wall.as_secs_f64()),
            peak_rss_bytes: target.peak_rss_bytes(),
            tests: records,
        });
        // Closed before the next model loads, so peaks and timings are its own.
        drop(target);
    }
    bar.finish_and_clear();
    results
}
