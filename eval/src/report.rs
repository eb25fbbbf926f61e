//! The Markdown report: the ranking in our users' shape, the per-dimension table, each
//! model's load/TTFT/memory numbers, every test's verdict, and the routing.

use std::fmt::Write;

use crate::results::RunResults;
use crate::routing::{self, Route};
use crate::score::{ranking, Summary};
use crate::suite::{max_weighted_quality, Dimension, SUITE};
use crate::target::TargetKind;
use crate::validate::Verdict;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// The ranking table: model, backend, size, quality n/14 and weighted, wall, t/s, score.
pub fn ranking_table(summaries: &[Summary]) -> String {
    let mut out = String::from(
        "| # | model | backend | size | quality | weighted | wall (s) | t/s | score |\n\
         |---:|---|---|---|---:|---:|---:|---:|---:|\n",
    );
    for (i, s) in summaries.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}/{} | {:.1} | {:.1} | {} | {:.1} |",
            i + 1,
            s.name,
            s.backend,
            s.size,
            s.passed,
            s.total,
            s.weighted,
            s.avg_wall,
            opt(s.decode_tps, 1),
            s.score
        );
    }
    out
}

/// Passed/run and points per dimension, for each model.
pub fn dimension_table(summaries: &[Summary]) -> String {
    let mut out = String::from("| model |");
    for d in Dimension::ALL {
        let _ = write!(out, " {} (×{}) |", d.label(), d.weight());
    }
    out.push_str(" weighted |\n|---|");
    for _ in Dimension::ALL {
        out.push_str("---:|");
    }
    out.push_str("---:|\n");
    for s in summaries {
        let _ = write!(out, "| {} |", s.name);
        for d in Dimension::ALL {
            let x = s.dimension(d);
            let na = if x.unsupported > 0 {
                format!(", {} n/a", x.unsupported)
            } else {
                String::new()
            };
            let _ = write!(out, " {}/{} ({:.1}{na}) |", x.passed, x.total, x.weighted);
        }
        let _ = writeln!(out, " {:.1} |", s.weighted);
    }
    out
}

fn mib(b: Option<u64>) -> String {
    b.map_or("–".into(), |b| {
        format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0))
    })
}

fn markdown_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Renders the whole report.
pub fn markdown(run: &RunResults, latency_budget_s: f64) -> String {
    let summaries = ranking(&run.models);
    let mut out = String::from("# edge-eval results\n\n");
    let s = &run.settings;
    let weights: Vec<String> = Dimension::ALL
        .iter()
        .map(|d| format!("{} {}", d.label(), d.weight()))
        .collect();
    let _ = writeln!(
        out,
        "- Suite: {} tests; weights {} (all passed = {:.1}).\n\
         - Score = weighted quality × max(0.1, 60 / mean wall seconds per test).\n\
         - Settings: temperature {}, seed {}, token budgets {}, per-test timeout {:.0} s, warm-up excluded.\n\
         - Code answers: {}.\n\
         - Host: {}.\n",
        SUITE.len(),
        weights.join(", "),
        max_weighted_quality(),
        s.temperature,
        s.seed,
        s.max_tokens
            .map_or("as in the suite".into(), |m| format!("capped at {m}")),
        s.timeout.as_secs_f64(),
        run.code_check,
        run.host
    );
    out.push_str("## Ranking\n\n");
    out.push_str(&ranking_table(&summaries));
    out.push_str("\n## Per dimension\n\npassed/run (points); n/a = the target cannot return structured tool calls.\n\n");
    out.push_str(&dimension_table(&summaries));

    out.push_str("\n## Per model\n\n| model | endpoint | load (s) | warm-up (s) | TTFT mean (ms) | peak RSS | timeouts | errors | note |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for m in run.models.iter().filter(|m| m.skipped.is_none()) {
        let Some(sum) = summaries.iter().find(|s| s.name == m.info.name) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.info.name,
            m.info.endpoint.as_deref().unwrap_or("Generator"),
            opt(m.info.load_seconds, 2),
            opt(m.warmup_seconds, 2),
            opt(sum.avg_ttft.map(|t| t * 1e3), 0),
            mib(m.peak_rss_bytes),
            sum.timeouts,
            sum.errors,
            markdown_cell(m.info.note.as_deref().unwrap_or(""))
        );
    }
    let skipped: Vec<_> = run.models.iter().filter(|m| m.skipped.is_some()).collect();
    if !skipped.is_empty() {
        out.push_str("\nSkipped (could not be opened):\n\n");
        for m in skipped {
            let _ = writeln!(
                out,
                "- `{}`: {}",
                m.info.name,
                markdown_cell(m.skipped.as_deref().unwrap_or(""))
            );
        }
    }

    out.push_str("\n## Tests\n\n| test | dimension |");
    let ran: Vec<_> = run.models.iter().filter(|m| m.skipped.is_none()).collect();
    for m in &ran {
        let _ = write!(out, " {} |", m.info.name);
    }
    out.push_str("\n|---|---|");
    for _ in &ran {
        out.push_str("---|");
    }
    out.push('\n');
    for t in &SUITE {
        let _ = write!(out, "| {} | {} |", t.name, t.dimension.label());
        for m in &ran {
            let cell = m
                .tests
                .iter()
                .find(|r| r.test == t.name)
                .map_or("–".to_string(), |r| {
                    format!("{} ({:.1} s)", r.verdict.word(), r.wall_seconds)
                });
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }

    out.push_str("\n## Why each test failed\n\n");
    for m in &ran {
        let fails: Vec<_> = m.tests.iter().filter(|r| !r.verdict.passed()).collect();
        if fails.is_empty() {
            continue;
        }
        let _ = writeln!(out, "**{}**\n", m.info.name);
        for r in fails {
            let why = match &r.verdict {
                Verdict::Fail(w) | Verdict::Error(w) | Verdict::Unsupported(w) => w.clone(),
                Verdict::Timeout => format!("timed out after {:.1} s", r.wall_seconds),
                Verdict::Pass => unreachable!(),
            };
            let answer: String = r.answer.text.chars().take(80).collect();
            let _ = writeln!(
                out,
                "- `{}` {}: {}; answer {:?}",
                r.test,
                r.verdict.word(),
                markdown_cell(&why),
                answer
            );
        }
        out.push('\n');
    }

    let routes = routing::routes(&summaries, latency_budget_s);
    out.push_str(&routing_section(run, &routes));
    out
}

/// Names that a pasted `[profiles]` block may list: models run through the Generator.
pub fn registry_names(run: &RunResults) -> Vec<String> {
    run.models
        .iter()
        .filter(|m| m.info.kind == TargetKind::Generator && m.skipped.is_none())
        .map(|m| m.info.name.clone())
        .collect()
}

/// The routing block for `run`.
pub fn profiles_block(run: &RunResults, latency_budget_s: f64) -> String {
    let summaries = ranking(&run.models);
    let routes = routing::routes(&summaries, latency_budget_s);
    let names = registry_names(run);
    routing::profiles_toml(&routes, &|m| names.iter().any(|n| n == m))
}

fn routing_section(run: &RunResults, routes: &[Route]) -> String {
    let mut out = String::from(
        "## Suggested routing\n\n| use case | profile | primary | backups | rule | rule met |\n|---|---|---|---|---|---|\n",
    );
    for r in routes {
        let _ = writeln!(
            out,
            "| {:?} | `{}` | {} | {} | {} | {} |",
            r.use_case,
            r.use_case.profile(),
            r.models.first().map_or("–", String::as_str),
            if r.models.len() > 1 {
                r.models[1..].join(", ")
            } else {
                "–".into()
            },
            r.rule,
            if r.rule_met { "yes" } else { "no" }
        );
    }
    let names = registry_names(run);
    let _ = write!(
        out,
        "\nAs an `edge-infer.toml` block (also in `routing.toml`):\n\n```toml\n{}```\n",
        routing::profiles_toml(routes, &|m| names.iter().any(|n| n == m))
    );
    out
}
