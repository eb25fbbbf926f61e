//! Writing a run's outputs into one directory.

use std::path::{Path, PathBuf};

use crate::error::{io_error, Result};
use crate::results::RunResults;
use crate::score::ranking;
use crate::{plot, report};

/// Where each output went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// Every answer and verdict (`results.json`), for `edge-eval rescore`.
    pub results: PathBuf,
    /// The Markdown report (`report.md`).
    pub report: PathBuf,
    /// The `[profiles]` block (`routing.toml`).
    pub routing: PathBuf,
    /// Quality against wall time (`quality_vs_wall.png`).
    pub plot: PathBuf,
}

/// Writes `results.json`, `report.md`, `routing.toml` and `quality_vs_wall.png` into
/// `dir` (created if needed).
pub fn write_outputs(run: &RunResults, dir: &Path, latency_budget_s: f64) -> Result<Outputs> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let out = Outputs {
        results: dir.join("results.json"),
        report: dir.join("report.md"),
        routing: dir.join("routing.toml"),
        plot: dir.join("quality_vs_wall.png"),
    };
    run.save(&out.results)?;
    std::fs::write(&out.report, report::markdown(run, latency_budget_s))
        .map_err(io_error(&out.report))?;
    std::fs::write(&out.routing, report::profiles_block(run, latency_budget_s))
        .map_err(io_error(&out.routing))?;
    plot::quality_vs_wall(&ranking(&run.models), &out.plot)?;
    Ok(out)
}
