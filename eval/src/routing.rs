//! A suggested routing per use case, derived from the results by stated rules, and
//! written as an `edge-infer.toml` `[profiles]` block.
//!
//! The rules (each orders the models; the first is the primary, the next the backups):
//! * **fast chat**: the fastest model (lowest mean wall time) whose weighted quality is
//!   at least half the best model's.
//! * **reasoning**: the best reasoning score among the models within the latency
//!   budget (mean wall time, default 60 s); ties go to the faster.
//! * **code**, **tool calling**, **factual**: the fastest model that passes every test
//!   of the dimension.
//! * **deep analysis**: the best weighted quality, whatever the latency; ties go to the
//!   faster.
//!
//! When no model meets a rule, the models that pass any test of the dimension follow,
//! best first, then the rest by weighted quality, and the table says the rule was not
//! met. A profile lists at most three models.

use std::cmp::Ordering;
use std::fmt::Write;

use crate::score::Summary;
use crate::suite::Dimension;

/// A use case, and the profile name it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseCase {
    /// Quick replies.
    FastChat,
    /// Multi-step reasoning.
    Reasoning,
    /// Writing code.
    Code,
    /// Agents calling tools.
    ToolCalling,
    /// Looking facts up.
    Factual,
    /// Long, careful answers.
    DeepAnalysis,
}

impl UseCase {
    /// Every use case, in table order.
    pub const ALL: [UseCase; 6] = [
        UseCase::FastChat,
        UseCase::Reasoning,
        UseCase::Code,
        UseCase::ToolCalling,
        UseCase::Factual,
        UseCase::DeepAnalysis,
    ];

    /// The profile name.
    pub fn profile(self) -> &'static str {
        match self {
            UseCase::FastChat => "fast_chat",
            UseCase::Reasoning => "reasoning",
            UseCase::Code => "code",
            UseCase::ToolCalling => "tool_calling",
            UseCase::Factual => "factual",
            UseCase::DeepAnalysis => "deep_analysis",
        }
    }

    /// The rule, in words.
    pub fn rule(self, budget_s: f64) -> String {
        match self {
            UseCase::FastChat => "fastest with at least half the best weighted quality".into(),
            UseCase::Reasoning => format!("best reasoning score within {budget_s:.0} s per test"),
            UseCase::Code => "fastest that passes every code test".into(),
            UseCase::ToolCalling => "fastest that passes every tool-call test".into(),
            UseCase::Factual => "fastest that passes every factual test".into(),
            UseCase::DeepAnalysis => "best weighted quality, any latency".into(),
        }
    }

    fn dimension(self) -> Option<Dimension> {
        match self {
            UseCase::Reasoning => Some(Dimension::Reasoning),
            UseCase::Code => Some(Dimension::Code),
            UseCase::ToolCalling => Some(Dimension::ToolCall),
            UseCase::Factual => Some(Dimension::Factual),
            UseCase::FastChat | UseCase::DeepAnalysis => None,
        }
    }
}

/// The suggestion for one use case.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The use case.
    pub use_case: UseCase,
    /// Models in order: primary, then backups (at most three).
    pub models: Vec<String>,
    /// Whether a model met the rule (else the list is the fallback ordering).
    pub rule_met: bool,
    /// The rule, in words.
    pub rule: String,
}

fn faster(a: &Summary, b: &Summary) -> Ordering {
    a.avg_wall.total_cmp(&b.avg_wall).then(a.name.cmp(&b.name))
}

fn by_quality(a: &Summary, b: &Summary) -> Ordering {
    b.weighted.total_cmp(&a.weighted).then(faster(a, b))
}

/// The routes for every use case. `summaries` are the models that ran; the latency
/// budget bounds the reasoning rule.
pub fn routes(summaries: &[Summary], budget_s: f64) -> Vec<Route> {
    UseCase::ALL
        .iter()
        .map(|&u| route(u, summaries, budget_s))
        .collect()
}

fn route(use_case: UseCase, summaries: &[Summary], budget_s: f64) -> Route {
    let all: Vec<&Summary> = summaries.iter().collect();
    let mut qualifying: Vec<&Summary> = match use_case {
        UseCase::FastChat => {
            let best = all.iter().map(|s| s.weighted).fold(0.0, f64::max);
            all.iter()
                .copied()
                .filter(|s| best > 0.0 && s.weighted >= best / 2.0)
                .collect()
        }
        UseCase::Reasoning => all
            .iter()
            .copied()
            .filter(|s| s.dimension(Dimension::Reasoning).passed > 0 && s.avg_wall <= budget_s)
            .collect(),
        UseCase::Code | UseCase::ToolCalling | UseCase::Factual => {
            let d = use_case.dimension().expect("a dimension");
            all.iter()
                .copied()
                .filter(|s| s.dimension(d).all_passed())
                .collect()
        }
        UseCase::DeepAnalysis => all.iter().copied().filter(|s| s.weighted > 0.0).collect(),
    };
    match use_case {
        UseCase::FastChat | UseCase::Code | UseCase::ToolCalling | UseCase::Factual => {
            qualifying.sort_by(|a, b| faster(a, b))
        }
        UseCase::Reasoning => qualifying.sort_by(|a, b| {
            let (x, y) = (
                a.dimension(Dimension::Reasoning).weighted,
                b.dimension(Dimension::Reasoning).weighted,
            );
            y.total_cmp(&x).then(faster(a, b))
        }),
        UseCase::DeepAnalysis => qualifying.sort_by(|a, b| by_quality(a, b)),
    }
    let rule_met = !qualifying.is_empty();
    // The fallback order: any pass in the dimension (best first), then overall quality.
    let mut rest: Vec<&Summary> = all.clone();
    rest.sort_by(|a, b| match use_case.dimension() {
        Some(d) => {
            let (x, y) = (a.dimension(d).weighted, b.dimension(d).weighted);
            y.total_cmp(&x).then(by_quality(a, b))
        }
        None => by_quality(a, b),
    });
    let mut models: Vec<String> = Vec::new();
    for s in qualifying.into_iter().chain(rest) {
        if models.len() == 3 {
            break;
        }
        if !models.contains(&s.name) {
            models.push(s.name.clone());
        }
    }
    Route {
        use_case,
        models,
        rule_met,
        rule: use_case.rule(budget_s),
    }
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The routes as an `edge-infer.toml` `[profiles]` block. Only names for which
/// `in_registry` is true are listed (a model measured over HTTP is not a registry
/// model); a profile left with none is written commented out.
pub fn profiles_toml(routes: &[Route], in_registry: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::new();
    out.push_str(
        "# Suggested by edge-eval (rules: docs/EVAL.md, \"Routing rules\").\n\
         # Paste in place of the [profiles] table of your edge-infer.toml; every model named\n\
         # here must be under [models] there.\n[profiles]\n",
    );
    for r in routes {
        let listed: Vec<&String> = r.models.iter().filter(|m| in_registry(m)).collect();
        let others: Vec<&String> = r.models.iter().filter(|m| !in_registry(m)).collect();
        let list = listed
            .iter()
            .map(|m| toml_str(m))
            .collect::<Vec<_>>()
            .join(", ");
        let mut comment = r.rule.clone();
        if !r.rule_met {
            comment.push_str(" (no model met it; best available)");
        }
        if !others.is_empty() {
            let names: Vec<_> = others.iter().map(|m| m.as_str()).collect();
            let _ = write!(comment, "; not registry models: {}", names.join(", "));
        }
        if listed.is_empty() {
            let _ = writeln!(out, "# {} = []  # {comment}", r.use_case.profile());
        } else {
            let _ = writeln!(out, "{} = [{list}]  # {comment}", r.use_case.profile());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::DimensionScore;
    use std::collections::BTreeMap;

    fn model(name: &str, wall: f64, dims: &[(Dimension, usize, usize)]) -> Summary {
        let mut dimensions = BTreeMap::new();
        let mut weighted = 0.0;
        for &(d, passed, total) in dims {
            let w = passed as f64 * d.weight();
            weighted += w;
            dimensions.insert(
                d,
                DimensionScore {
                    passed,
                    total,
                    weighted: w,
                    unsupported: 0,
                },
            );
        }
        Summary {
            name: name.into(),
            backend: "test".into(),
            kind: crate::target::TargetKind::Generator,
            size: "?".into(),
            passed: dims.iter().map(|d| d.1).sum(),
            total: 14,
            weighted,
            avg_wall: wall,
            avg_ttft: None,
            decode_tps: None,
            score: crate::score::score(weighted, wall),
            dimensions,
            timeouts: 0,
            errors: 0,
        }
    }

    use Dimension::*;

    fn fleet() -> Vec<Summary> {
        vec![
            // Fast NPU model: decent, passes code and tools.
            model(
                "npu-1.5b",
                5.0,
                &[
                    (Reasoning, 1, 3),
                    (Code, 2, 2),
                    (ToolCall, 2, 2),
                    (Factual, 2, 3),
                    (Instruction, 2, 3),
                ],
            ),
            // Mid CPU model: better reasoning, slower.
            model(
                "cpu-4b",
                40.0,
                &[
                    (Reasoning, 3, 3),
                    (Code, 2, 2),
                    (ToolCall, 1, 2),
                    (Factual, 3, 3),
                    (Instruction, 3, 3),
                    (Math, 1, 1),
                ],
            ),
            // Big slow model: best overall, over the budget.
            model(
                "cpu-8b",
                170.0,
                &[
                    (Reasoning, 3, 3),
                    (Code, 2, 2),
                    (ToolCall, 2, 2),
                    (Factual, 3, 3),
                    (Instruction, 3, 3),
                    (Math, 1, 1),
                ],
            ),
            // Tiny and weak.
            model("tiny", 1.0, &[(Factual, 1, 3)]),
        ]
    }

    fn primary(routes: &[Route], u: UseCase) -> (&str, bool) {
        let r = routes.iter().find(|r| r.use_case == u).unwrap();
        (r.models[0].as_str(), r.rule_met)
    }

    #[test]
    fn rules_pick_as_stated() {
        let r = routes(&fleet(), 60.0);
        // Best 25.0: half is 12.5; tiny (0.5) does not qualify, npu (16.0) does.
        assert_eq!(primary(&r, UseCase::FastChat), ("npu-1.5b", true));
        // cpu-8b reasons as well but is over the budget.
        assert_eq!(primary(&r, UseCase::Reasoning), ("cpu-4b", true));
        assert_eq!(primary(&r, UseCase::Code), ("npu-1.5b", true));
        assert_eq!(primary(&r, UseCase::ToolCalling), ("npu-1.5b", true));
        assert_eq!(primary(&r, UseCase::Factual), ("cpu-4b", true));
        assert_eq!(primary(&r, UseCase::DeepAnalysis), ("cpu-8b", true));
        let tools = &r[3];
        assert_eq!(tools.models, ["npu-1.5b", "cpu-8b", "cpu-4b"]);
        assert!(r
            .iter()
            .all(|r| r.models.len() <= 3 && !r.models.is_empty()));
    }

    #[test]
    fn an_unmet_rule_falls_back_and_says_so() {
        let r = routes(&[model("tiny", 1.0, &[(Factual, 1, 3)])], 60.0);
        assert_eq!(primary(&r, UseCase::Code), ("tiny", false));
        assert_eq!(primary(&r, UseCase::FastChat), ("tiny", true));
        let toml = profiles_toml(&r, &|_| true);
        assert!(
            toml.contains(
                "code = [\"tiny\"]  # fastest that passes every code test (no model met it"
            ),
            "{toml}"
        );
    }

    #[test]
    fn endpoint_models_stay_out_of_the_block() {
        let r = routes(&fleet(), 60.0);
        let toml = profiles_toml(&r, &|m| m != "npu-1.5b");
        assert!(
            toml.contains("code = [\"cpu-4b\", \"cpu-8b\"]  #"),
            "{toml}"
        );
        assert!(toml.contains("not registry models: npu-1.5b"), "{toml}");
        let only_http = profiles_toml(&r, &|_| false);
        assert!(only_http.contains("# fast_chat = []"), "{only_http}");
    }
}
