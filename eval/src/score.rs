//! The users' composite score and the per-model summaries the tables are made of.

use std::collections::BTreeMap;

use crate::results::ModelRun;
use crate::suite::Dimension;
use crate::target::TargetKind;
use crate::validate::Verdict;

/// `weighted_quality x max(0.1, 60 / avg_wall_seconds)`: quality, scaled by how many
/// answers of that average wall time fit in a minute, never by less than 0.1.
///
/// ```
/// // Our users' published rows.
/// let round = |x: f64| (x * 10.0).round() / 10.0;
/// assert_eq!(round(edge_eval::score(22.0, 44.8)), 29.5);
/// assert_eq!(round(edge_eval::score(25.0, 179.2)), 8.4);
/// ```
pub fn score(weighted_quality: f64, avg_wall_seconds: f64) -> f64 {
    // A zero wall time (an instant stub) would make the factor infinite.
    weighted_quality * f64::max(0.1, 60.0 / avg_wall_seconds.max(1e-3))
}

/// Passed, run and weighted points of one dimension.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DimensionScore {
    /// Tests passed.
    pub passed: usize,
    /// Tests of the dimension that were run.
    pub total: usize,
    /// Weighted points passed.
    pub weighted: f64,
    /// Tests the target could not take (no structured tool calls).
    pub unsupported: usize,
}

impl DimensionScore {
    /// Whether every test of the dimension passed.
    pub fn all_passed(&self) -> bool {
        self.total > 0 && self.passed == self.total
    }
}

/// One model's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The model.
    pub name: String,
    /// Its backend.
    pub backend: String,
    /// How it was reached (Generator or HTTP).
    pub kind: TargetKind,
    /// Its size, for the table.
    pub size: String,
    /// Tests passed.
    pub passed: usize,
    /// Tests run.
    pub total: usize,
    /// Sum of the weights of the passed tests.
    pub weighted: f64,
    /// Mean wall time per test, seconds (timeouts count with the time they took).
    pub avg_wall: f64,
    /// Mean time to the first token, seconds, over the tests that produced one.
    pub avg_ttft: Option<f64>,
    /// Mean decode speed over the tests that report one.
    pub decode_tps: Option<f64>,
    /// [`score`].
    pub score: f64,
    /// Per dimension.
    pub dimensions: BTreeMap<Dimension, DimensionScore>,
    /// Tests that timed out.
    pub timeouts: usize,
    /// Tests the target failed (errors).
    pub errors: usize,
}

impl Summary {
    /// The per-dimension score (zero when the dimension was not run).
    pub fn dimension(&self, d: Dimension) -> DimensionScore {
        self.dimensions.get(&d).copied().unwrap_or_default()
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// A size for the table: the label given, else the file size.
pub fn size_text(run: &ModelRun) -> String {
    if let Some(l) = &run.info.size_label {
        return l.clone();
    }
    match run.info.size_bytes {
        Some(b) if b >= 1_000_000_000 => format!("{:.2} GB", b as f64 / 1e9),
        Some(b) => format!("{:.0} MB", b as f64 / 1e6),
        None => "?".into(),
    }
}

/// The summary of a model that ran (`None` for a skipped one).
pub fn summarize(run: &ModelRun) -> Option<Summary> {
    if run.skipped.is_some() || run.tests.is_empty() {
        return None;
    }
    let mut dimensions: BTreeMap<Dimension, DimensionScore> = BTreeMap::new();
    for t in &run.tests {
        let d = dimensions.entry(t.dimension).or_default();
        d.total += 1;
        if t.verdict.passed() {
            d.passed += 1;
            d.weighted += t.dimension.weight();
        }
        if matches!(t.verdict, Verdict::Unsupported(_)) {
            d.unsupported += 1;
        }
    }
    let weighted = dimensions.values().map(|d| d.weighted).sum();
    let avg_wall = mean(run.tests.iter().map(|t| t.wall_seconds)).unwrap_or(0.0);
    Some(Summary {
        name: run.info.name.clone(),
        backend: run.info.backend.clone(),
        kind: run.info.kind,
        size: size_text(run),
        passed: dimensions.values().map(|d| d.passed).sum(),
        total: run.tests.len(),
        weighted,
        avg_wall,
        avg_ttft: mean(run.tests.iter().filter_map(|t| t.ttft_seconds)),
        decode_tps: mean(run.tests.iter().filter_map(|t| t.decode_tps)),
        score: score(weighted, avg_wall),
        dimensions,
        timeouts: run
            .tests
            .iter()
            .filter(|t| matches!(t.verdict, Verdict::Timeout))
            .count(),
        errors: run
            .tests
            .iter()
            .filter(|t| matches!(t.verdict, Verdict::Error(_)))
            .count(),
    })
}

/// Summaries of the models that ran, best score first (ties: faster first).
pub fn ranking(models: &[ModelRun]) -> Vec<Summary> {
    let mut s: Vec<_> = models.iter().filter_map(summarize).collect();
    s.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.avg_wall.total_cmp(&b.avg_wall))
            .then(a.name.cmp(&b.name))
    });
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_published_rows() {
        let round = |x: f64| (x * 10.0).round() / 10.0;
        for (quality, wall, want) in [
            (22.0, 44.8, 29.5),
            (20.5, 42.3, 29.1),
            (13.5, 33.5, 24.2),
            (23.5, 74.0, 19.1),
            (25.0, 179.2, 8.4),
        ] {
            assert_eq!(round(score(quality, wall)), want, "({quality}, {wall} s)");
        }
    }

    #[test]
    fn the_speed_factor_has_a_floor() {
        assert_eq!(score(10.0, 6000.0), 1.0);
        assert_eq!(score(10.0, 600.0), 1.0);
        assert!((score(10.0, 60.0) - 10.0).abs() < 1e-12);
        assert!(score(10.0, 0.0).is_finite());
    }
}
