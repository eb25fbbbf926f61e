//! `edge-eval`: run the 14-test suite, re-score a results file, or list the tests.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use edge_eval::{
    ranking, report, run_suite, write_outputs, CodeCheck, Error, HttpOptions, HttpTarget, Models,
    Opener, Result, RunResults, Settings, TestCase, SUITE,
};

/// The 14-test quality x speed harness over edge-infer's Generator and OpenAI-compatible
/// endpoints.
#[derive(Parser)]
#[command(name = "edge-eval", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the suite and write results.json, report.md, routing.toml and quality_vs_wall.png.
    Run(RunArgs),
    /// Judge the answers of a results file again (this version's validators and weights)
    /// and write the outputs anew, without running a model.
    Rescore {
        /// The results.json of a run.
        results: PathBuf,
        /// Where to write (default: the results file's directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Mean wall time per test that the reasoning route may take, seconds.
        #[arg(long, default_value_t = 60.0)]
        latency_budget: f64,
    },
    /// List the tests and weights.
    List,
}

#[derive(Args)]
struct RunArgs {
    /// A registry file (edge-infer.toml); default: edge-infer's built-in registry.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run this profile: its first model that opens (repeatable).
    #[arg(long)]
    profile: Vec<String>,
    /// Run this registry model (repeatable).
    #[arg(long)]
    model: Vec<String>,
    /// Run every model of the registry (the default with --config and nothing else chosen).
    #[arg(long)]
    all: bool,
    /// An OpenAI-compatible endpoint: http://host:port, .../v1 or .../v1/chat/completions.
    #[arg(long)]
    endpoint: Option<String>,
    /// The model to ask the endpoint for (repeatable; default `default`).
    #[arg(long)]
    endpoint_model: Vec<String>,
    /// Bearer token for the endpoint (or EDGE_EVAL_API_KEY).
    #[arg(long)]
    api_key: Option<String>,
    /// The backend column for endpoint models (e.g. "llama-server, CPU").
    #[arg(long)]
    backend_label: Option<String>,
    /// The size column for endpoint models (e.g. "1.5B Q4_K_M").
    #[arg(long)]
    size: Option<String>,
    /// The endpoint server's pid, to report its peak RSS (same machine).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Output directory.
    #[arg(long, default_value = "eval-out")]
    out: PathBuf,
    /// Seconds one test may take before it is cancelled and failed.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// Cap every test's token budget (e.g. 32 for a quick smoke run).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Sampling seed.
    #[arg(long, default_value_t = 42)]
    seed: u32,
    /// Run only these tests (repeatable; names from `edge-eval list`).
    #[arg(long)]
    only: Vec<String>,
    /// Mean wall time per test that the reasoning route may take, seconds.
    #[arg(long, default_value_t = 60.0)]
    latency_budget: f64,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

fn openers(args: &RunArgs) -> Result<Vec<Opener>> {
    let mut openers = Vec::new();
    let registry_chosen =
        args.config.is_some() || !args.profile.is_empty() || !args.model.is_empty() || args.all;
    if registry_chosen || args.endpoint.is_none() {
        let models = match &args.config {
            Some(path) => Models::load(path)?,
            None => Models::builtin(),
        };
        let mut names = args.model.clone();
        let mut profiles = args.profile.clone();
        if args.all || (args.config.is_some() && names.is_empty() && profiles.is_empty()) {
            names = models.model_names();
        } else if names.is_empty() && profiles.is_empty() {
            profiles.push(models.default_profile().unwrap_or_else(|| "default".into()));
        }
        for p in profiles {
            let m = models.clone();
            let label = format!("profile {p}");
            openers.push(Opener::new(label, move || m.open_profile(&p)));
        }
        for n in names {
            let m = models.clone();
            openers.push(Opener::new(n.clone(), move || m.open_model(&n)));
        }
    }
    if let Some(endpoint) = &args.endpoint {
        edge_eval::chat_url(endpoint)?;
        let options = HttpOptions {
            api_key: args
                .api_key
                .clone()
                .or_else(|| std::env::var("EDGE_EVAL_API_KEY").ok()),
            backend_label: args.backend_label.clone(),
            size_label: args.size.clone(),
            server_pid: args.server_pid,
        };
        let models = if args.endpoint_model.is_empty() {
            vec!["default".to_string()]
        } else {
            args.endpoint_model.clone()
        };
        for model in models {
            let (e, o) = (endpoint.clone(), options.clone());
            openers.push(Opener::new(model.clone(), move || {
                HttpTarget::new(&e, &model, o)
            }));
        }
    }
    if openers.is_empty() {
        return Err(Error::NoTargets(
            "name --profile, --model, --all or --endpoint".into(),
        ));
    }
    Ok(openers)
}

fn tests(only: &[String]) -> Result<Vec<&'static TestCase>> {
    if only.is_empty() {
        return Ok(SUITE.iter().collect());
    }
    only.iter()
        .map(|n| {
            TestCase::by_name(n).ok_or_else(|| {
                let names: Vec<_> = SUITE.iter().map(|t| t.name).collect();
                Error::Usage(format!("no test `{n}`; the tests are {}", names.join(", ")))
            })
        })
        .collect()
}

fn print_summary(run: &RunResults, out: &edge_eval::Outputs) {
    println!("{}", report::ranking_table(&ranking(&run.models)));
    for m in run.models.iter().filter(|m| m.skipped.is_some()) {
        println!(
            "skipped {}: {}",
            m.info.name,
            m.skipped.as_deref().unwrap_or("")
        );
    }
    println!("code answers: {}", run.code_check);
    println!(
        "wrote {}, {}, {}, {}",
        out.results.display(),
        out.report.display(),
        out.routing.display(),
        out.plot.display()
    );
}

fn run(args: RunArgs) -> Result<()> {
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err(Error::Usage(format!(
            "--timeout {} must be a positive number of seconds",
            args.timeout
        )));
    }
    let settings = Settings {
        temperature: args.temperature,
        seed: args.seed,
        max_tokens: args.max_tokens,
        timeout: Duration::from_secs_f64(args.timeout),
    };
    let tests = tests(&args.only)?;
    let openers = openers(&args)?;
    let code = CodeCheck::detect();
    let results = run_suite(openers, &tests, &settings, &code, !args.no_progress);
    let out = write_outputs(&results, &args.out, args.latency_budget)?;
    print_summary(&results, &out);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Rescore {
            results,
            out,
            latency_budget,
        } => (|| {
            let mut run = RunResults::load(&results)?;
            run.rescore(&CodeCheck::detect());
            let dir = out.unwrap_or_else(|| {
                results
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), PathBuf::from)
            });
            let written = write_outputs(&run, &dir, latency_budget)?;
            print_summary(&run, &written);
            Ok(())
        })(),
        Command::List => {
            println!("| test | dimension | weight | max tokens | tools |\n|---|---|---:|---:|---|");
            for t in &SUITE {
                println!(
                    "| {} | {} | {} | {} | {} |",
                    t.name,
                    t.dimension.label(),
                    t.dimension.weight(),
                    t.max_tokens,
                    if t.tools {
                        "web_search, calculator"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge-eval: {e}");
            ExitCode::FAILURE
        }
    }
}
