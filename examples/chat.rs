//! Interactive multi-turn streaming chat over a model registry.
//!
//! ```text
//! cargo run --example chat                                  # built-in registry, profile `default`
//! cargo run --example chat -- --config examples/edge-infer.toml --profile fast
//! printf 'Hello!\n/stats\nTell me more.\n' | cargo run --example chat   # a transcript
//! ```
//! Commands: `/profile [NAME]` (show or switch; the history is kept), `/reset` (forget the
//! conversation), `/stats` (last reply's stats, model, history), `/help`, `/quit`.
//! Without `--config` the built-in registry is used; its models fall back to the default
//! test model (gemma-3-270m, a *base* model: expect continuations, not answers).

use std::io::{BufRead, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use edge_infer::{
    ChatSession, ContextPolicy, Event, Generator, ReasoningMode, Registry, Request, Sampling, Stats,
};

#[derive(Parser)]
#[command(about = "Multi-turn streaming chat over an edge-infer model registry")]
struct Args {
    /// Registry file (default: the built-in registry).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Profile to start with (default: the registry's default profile).
    #[arg(long)]
    profile: Option<String>,
    /// System prompt.
    #[arg(long)]
    system: Option<String>,
    /// Tokens per reply at most.
    #[arg(short = 'n', long, default_value_t = 128)]
    max_tokens: usize,
    /// Temperature (0 = greedy).
    #[arg(long, default_value_t = 0.7)]
    temp: f32,
    /// Sampling seed (llama.cpp).
    #[arg(long, default_value_t = 42)]
    seed: u32,
    /// Stop string (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Reasoning text: drop, inline or separate (shown dimmed).
    #[arg(long, default_value = "drop", value_parser = parse_reasoning)]
    reasoning: ReasoningMode,
    /// When the context fills: drop (oldest turns) or error.
    #[arg(long, default_value = "drop", value_parser = parse_policy)]
    on_full: ContextPolicy,
}

fn parse_reasoning(s: &str) -> Result<ReasoningMode, String> {
    match s {
        "drop" => Ok(ReasoningMode::Drop),
        "inline" => Ok(ReasoningMode::Inline),
        "separate" => Ok(ReasoningMode::Separate),
        _ => Err(format!("`{s}` is not drop, inline or separate")),
    }
}

fn parse_policy(s: &str) -> Result<ContextPolicy, String> {
    match s {
        "drop" => Ok(ContextPolicy::DropOldest),
        "error" => Ok(ContextPolicy::Error),
        _ => Err(format!("`{s}` is not drop or error")),
    }
}

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let args = Args::parse();
    let registry = match &args.config {
        Some(p) => Registry::load(p)?,
        None => Registry::builtin(),
    };
    edge_infer_examples::fetch_default_model_for(&registry)?;
    let mut profile = match &args.profile {
        Some(p) => p.clone(),
        None => registry
            .default_profile()
            .context("the registry has no profiles")?
            .to_string(),
    };
    let generator = open(&registry, &profile)?;

    let mut settings = Request::default()
        .sampling(Sampling::default().temperature(args.temp).seed(args.seed))
        .max_tokens(args.max_tokens)
        .reasoning(args.reasoning)
        .context_policy(args.on_full);
    for s in &args.stop {
        settings = settings.stop(s.clone());
    }
    let mut chat = ChatSession::new(generator).settings(settings);
    if let Some(s) = &args.system {
        chat = chat.system(s.clone());
    }

    let interactive = std::io::stdin().is_terminal();
    let dim = std::io::stdout().is_terminal();
    eprintln!("type a message; /profile [NAME], /reset, /stats, /help, /quit");
    let mut last_stats: Option<Stats> = None;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            print!("> ");
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !interactive {
            // Echo piped input so the output reads as a transcript.
            println!("> {line}");
        }
        if let Some(cmd) = line.strip_prefix('/') {
            let (name, arg) = cmd.split_once(' ').unwrap_or((cmd, ""));
            match (name, arg.trim()) {
                ("quit" | "exit", _) => break,
                ("help", _) => println!(
                    "/profile [NAME]  show profiles, or switch (history kept)\n\
                     /reset           forget the conversation\n\
                     /stats           last reply's stats\n\
                     /quit            leave"
                ),
                ("reset", _) => {
                    chat.reset()?;
                    last_stats = None;
                    println!("[conversation cleared]");
                }
                ("stats", _) => {
                    let info = chat.generator().info();
                    println!(
                        "[profile `{profile}` → `{}`: {}]",
                        info.name, info.description
                    );
                    println!("[history: {} messages]", chat.history().len());
                    match &last_stats {
                        Some(s) => println!("[{s}]"),
                        None => println!("[no reply yet]"),
                    }
                }
                ("profile", "") => {
                    for p in registry.profiles() {
                        let mark = if p == profile { "*" } else { " " };
                        println!(
                            "{mark} {p}: {}",
                            registry
                                .profile(p)
                                .map(|m| m.join(" → "))
                                .unwrap_or_else(|e| e.to_string())
                        );
                    }
                }
                ("profile", p) => match open(&registry, p) {
                    Ok(g) => {
                        chat.set_generator(g);
                        profile = p.to_string();
                        last_stats = None;
                    }
                    Err(e) => println!("[error: {e}]"),
                },
                _ => println!("[unknown command /{name}; try /help]"),
            }
            continue;
        }

        let mut in_reasoning = false;
        let mut out = std::io::stdout().lock();
        let result = chat.send_with(line, &mut |event| {
            match event {
                Event::Reasoning(r) => {
                    if !in_reasoning {
                        in_reasoning = true;
                        let _ = write!(out, "{}[thinking] ", if dim { "\x1b[2m" } else { "" });
                    }
                    let _ = write!(out, "{r}");
                }
                Event::Text(t) => {
                    if in_reasoning {
                        in_reasoning = false;
                        let _ = writeln!(out, "{}", if dim { "\x1b[0m" } else { "" });
                    }
                    let _ = write!(out, "{t}");
                }
                Event::ToolCall(c) => {
                    let _ = write!(out, "\n[tool call {} {}({})]", c.id, c.name, c.arguments);
                }
                Event::Warning(w) => {
                    let _ = write!(out, "\n[warning: {w}]");
                }
                _ => {}
            }
            let _ = out.flush();
            ControlFlow::Continue(())
        });
        if in_reasoning && dim {
            let _ = write!(out, "\x1b[0m");
        }
        let _ = writeln!(out);
        drop(out);
        match result {
            Ok(stats) => last_stats = Some(stats),
            Err(e) => println!("[error: {e}]"),
        }
    }
    Ok(())
}

/// Opens a profile, printing how it was resolved.
fn open(registry: &Registry, profile: &str) -> anyhow::Result<Box<dyn Generator>> {
    let routed = registry.open_profile_with(profile, |s| eprintln!("[skipped {s}]"))?;
    let info = routed.generator.info();
    println!(
        "[profile `{profile}` → `{}` ({}): {}]",
        info.name, info.backend, info.description
    );
    Ok(routed.generator)
}
