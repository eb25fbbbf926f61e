//! The board doctor: run it on an RK3588 board before anything else.
//!
//!     cargo run -p edge-infer-rkllm --example doctor -- --model /models/qwen.rkllm
//!     cargo run -p edge-infer-rkllm --example doctor -- --test-double --json   # dev machine
//!
//! It checks and explains the runtime's identity and ABI, the RKNPU driver, CMA, the CPU
//! governors, the DRAM's devfreq, the big cores, the NPU device node, the model file, the
//! execute bit of the tools next to it, and runs a tiny generation (TTFT, t/s). `--root`
//! examines another tree (a mounted image, or a fake one).
use clap::Parser;
use edge_infer_rkllm::doctor::{Doctor, Status};
use edge_infer_rkllm::Abi;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Check an RK3588 board for edge-infer's NPU backend")]
struct Args {
    /// The system tree to examine.
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// The librkllmrt.so to examine (default: the system's).
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// The ABI of a runtime file edge-infer does not know (1.2 or 1.3).
    #[arg(long)]
    abi: Option<Abi>,
    /// Use edge-infer's test double (a fake runtime; a fake model unless --model is given).
    #[arg(long)]
    test_double: bool,
    /// The .rkllm model to check and generate with.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The context the model is to run with.
    #[arg(long, default_value_t = 4096)]
    context: i32,
    /// Where the shipped tools are (default: this program's directory).
    #[arg(long)]
    tools_dir: Option<PathBuf>,
    /// Skip the tiny generation.
    #[arg(long)]
    no_generation: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn main() {
    let args = Args::parse();
    let mut d = Doctor::new(&args.root)
        .context(args.context)
        .generation(!args.no_generation);
    let _tmp;
    let mut model = args.model;
    if args.test_double {
        let abi = if Abi::COMPILED == Abi::V1_2 {
            rkllm_test_double::Abi::V1_2
        } else {
            rkllm_test_double::Abi::V1_3
        };
        d = d.runtime_path(
            args.runtime
                .clone()
                .unwrap_or_else(|| rkllm_test_double::library_path(abi).into()),
        );
        if model.is_none() {
            let dir = rkllm_test_double::TempDir::new("doctor").expect("temp dir");
            model = Some(
                rkllm_test_double::FakeModel::default()
                    .write(dir.path().join("fake.rkllm"))
                    .expect("fake model"),
            );
            _tmp = dir;
        }
    } else if let Some(r) = args.runtime {
        d = d.runtime_path(r);
    }
    if let Some(abi) = args.abi {
        d = d.runtime_abi(abi);
    }
    if let Some(m) = model {
        d = d.model(m);
    }
    if let Some(t) = args.tools_dir {
        d = d.tools_dir(t);
    }
    let report = d.run();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).expect("json")
        );
    } else {
        print!("{}", report.to_text());
    }
    std::process::exit(if report.count(Status::Fail) > 0 { 1 } else { 0 });
}
