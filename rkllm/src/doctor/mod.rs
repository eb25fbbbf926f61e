//! The board doctor: what to run on an RK3588 board before anything else. It checks and
//! explains the runtime's identity and ABI, the RKNPU driver against what the runtime
//! needs, CMA, the CPU governors of both clusters, the DRAM's devfreq, big-core detection,
//! the NPU device node, the model file, the execute bit of the tools it ships next to, and
//! last a tiny generation with TTFT and t/s.
//!
//! Every read goes under a root path (`/` on a board), so the checks run on fake sysfs and
//! procfs trees in tests. Off a board the report says so first.
//!
//! ```
//! let report = edge_infer_rkllm::doctor::Doctor::new("/nonexistent-root").generation(false).run();
//! assert!(!report.on_board);
//! assert!(report.to_text().contains("NOT ON AN RK3588 BOARD"));
//! ```
mod report;
mod system;

pub use report::{Finding, Report, Status};

use crate::checks::{check_npu, npu_driver_version, MIN_DRIVER_1_3};
use crate::model_file::FileCheck;
use crate::runtime::{AbiSource, Identity, Runtime};
use crate::version::Abi;
use crate::{Control, Input, Llm, RunOptions, RK3588_A76_MASK};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The binaries edge-infer ships, whose execute bit is checked where they are found.
pub const TOOLS: &[&str] = &[
    "edge-bench",
    "doctor",
    "npu_stream",
    "stream",
    "chat",
    "route",
];

/// Which runtime the doctor examines.
#[derive(Debug, Clone)]
enum Which {
    System,
    Path(PathBuf),
    Given(Runtime),
}

/// The doctor's settings (builder).
#[derive(Debug, Clone)]
pub struct Doctor {
    root: PathBuf,
    runtime: Which,
    abi: Option<Abi>,
    model: Option<PathBuf>,
    context: i32,
    cpu_mask: u32,
    tools_dir: Option<PathBuf>,
    generation: bool,
    prompt: String,
}

impl Doctor {
    /// Examines the system under `root` (`/` on a board).
    pub fn new(root: impl Into<PathBuf>) -> Doctor {
        Doctor {
            root: root.into(),
            runtime: Which::System,
            abi: None,
            model: None,
            context: 4096,
            cpu_mask: RK3588_A76_MASK,
            tools_dir: std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf)),
            generation: true,
            prompt: "Hello".into(),
        }
    }
    /// The runtime file to examine (default: the system's).
    pub fn runtime_path(mut self, p: impl Into<PathBuf>) -> Doctor {
        self.runtime = Which::Path(p.into());
        self
    }
    /// An already loaded runtime.
    pub fn runtime(mut self, rt: Runtime) -> Doctor {
        self.runtime = Which::Given(rt);
        self
    }
    /// The ABI of a runtime file edge-infer does not know.
    pub fn runtime_abi(mut self, abi: Abi) -> Doctor {
        self.abi = Some(abi);
        self
    }
    /// The model to check (and to generate with).
    pub fn model(mut self, p: impl Into<PathBuf>) -> Doctor {
        self.model = Some(p.into());
        self
    }
    /// The context the model is to run with (default 4096).
    pub fn context(mut self, n: i32) -> Doctor {
        self.context = n;
        self
    }
    /// The CPU mask the runtime is to get (default 0xF0).
    pub fn cpu_mask(mut self, mask: u32) -> Doctor {
        self.cpu_mask = mask;
        self
    }
    /// Where the shipped tools are (default: the directory of the running program).
    pub fn tools_dir(mut self, p: impl Into<PathBuf>) -> Doctor {
        self.tools_dir = Some(p.into());
        self
    }
    /// Whether to run the tiny generation (default yes).
    pub fn generation(mut self, on: bool) -> Doctor {
        self.generation = on;
        self
    }

    /// Runs every check.
    pub fn run(&self) -> Report {
        let root = &self.root;
        let (board, not_on_board) = system::board(root);
        let mut findings = vec![board];
        let rt = self.runtime_check(&mut findings);
        findings.push(self.driver_check(rt.as_ref()));
        findings.push(match check_npu(&root.join("dev")) {
            Ok(node) => Finding::new(
                "npu-device",
                Status::Ok,
                format!("NPU device {}", node.display()),
            ),
            Err(e) => Finding::new("npu-device", Status::Fail, e.to_string()),
        });
        findings.push(system::cma(root));
        findings.push(system::governors(root));
        findings.push(system::dram(root));
        findings.push(system::big_cores(root, self.cpu_mask));
        let model_ok = self.model_check(&mut findings);
        findings.push(self.tools_check());
        findings.push(self.generate(rt, model_ok));
        Report {
            on_board: not_on_board.is_none(),
            not_on_board,
            findings,
        }
    }

    fn runtime_check(&self, findings: &mut Vec<Finding>) -> Option<Runtime> {
        let loaded = match (&self.runtime, self.abi) {
            (Which::Given(rt), _) => Ok(rt.clone()),
            (Which::Path(p), Some(abi)) => Runtime::load_stated(p, abi),
            (Which::Path(p), None) => Runtime::load(p),
            (Which::System, Some(abi)) => Runtime::system_stated(abi),
            (Which::System, None) => Runtime::system(),
        };
        match loaded {
            Ok(rt) => {
                let what = match rt.identity() {
                    Identity::Release(r) => {
                        format!("Rockchip release {} ({})", r.version, r.platform)
                    }
                    Identity::TestDouble(_) => {
                        "edge-infer's TEST DOUBLE (a fake runtime, no NPU)".into()
                    }
                    Identity::Unknown => {
                        "not a release edge-infer knows (a vendor rebuild?)".into()
                    }
                    Identity::Unchecked => "not identified".into(),
                };
                let how = match rt.abi_source() {
                    AbiSource::Release => "known from its git blob id",
                    AbiSource::TestDouble => "the test double's",
                    AbiSource::Stated => "as stated",
                    AbiSource::Environment => "as EDGE_INFER_RKLLM_ABI states",
                    AbiSource::Feature => "as the abi-1-2 build states",
                    AbiSource::Assumed => "assumed",
                };
                let mut f = Finding::new(
                    "runtime",
                    Status::Ok,
                    format!(
                        "{}: {what}; ABI {} {how}",
                        rt.path().map_or("?".into(), |p| p.display().to_string()),
                        Abi::COMPILED
                    ),
                );
                if let Some(id) = rt.blob_id() {
                    f = f.detail(format!("git blob id {id}"));
                }
                if rt.identity() == &Identity::Unknown {
                    f.status = Status::Warn;
                    f = f.detail("its version is confirmed only by the version line it prints at init (checked by the generation below)");
                }
                findings.push(f);
                Some(rt)
            }
            Err(e) => {
                findings.push(Finding::new("runtime", Status::Fail, e.to_string()));
                None
            }
        }
    }

    fn driver_check(&self, rt: Option<&Runtime>) -> Finding {
        let abi = rt
            .and_then(|r| r.release().and_then(|r| r.abi()))
            .unwrap_or(Abi::COMPILED);
        match npu_driver_version(&self.root.join("sys")) {
            Some((v, path)) if v < MIN_DRIVER_1_3 => Finding::new(
                "npu-driver",
                if abi == Abi::V1_3 { Status::Fail } else { Status::Warn },
                format!("RKNPU driver {v} ({}) is older than {MIN_DRIVER_1_3}", path.display()),
            )
            .detail(if abi == Abi::V1_3 {
                "a 1.3 runtime initialises on it and then fails every run (matmul(w8a8) run failed): update the kernel or the rknpu module"
            } else {
                "the runtime warns about it; 1.3 runtimes will not work on it"
            }),
            Some((v, path)) => Finding::new(
                "npu-driver",
                Status::Ok,
                format!("RKNPU driver {v} ({}), new enough for the {abi} ABI", path.display()),
            ),
            None => Finding::new(
                "npu-driver",
                Status::Warn,
                "cannot read the RKNPU driver version (sys/module/rknpu/version or sys/kernel/debug/rknpu/version)",
            )
            .detail("the runtime prints it at init (see the generation check); 1.3 needs 0.9.7 or newer"),
        }
    }

    fn model_check(&self, findings: &mut Vec<Finding>) -> bool {
        let Some(model) = &self.model else {
            findings.push(Finding::new(
                "model",
                Status::Skip,
                "no model given (--model)",
            ));
            return false;
        };
        let mut check = FileCheck::new(model).context(self.context);
        if let Some(board) = crate::checks::board_platform(&self.root) {
            check = check.board_platform(board);
        }
        let report = check.run();
        let status = if report.has_errors() {
            Status::Fail
        } else if report.problems.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        };
        let mut f = Finding::new(
            "model",
            status,
            match status {
                Status::Ok => format!(
                    "{} ({} bytes){}",
                    model.display(),
                    report.size.unwrap_or(0),
                    if report.header.as_ref().is_some_and(|h| h.test_double) {
                        ": a TEST DOUBLE fake model"
                    } else {
                        ""
                    }
                ),
                _ => format!("{}: {} problem(s)", model.display(), report.problems.len()),
            },
        );
        for p in &report.problems {
            f = f.detail(p.to_string());
        }
        findings.push(f);
        !report.has_errors()
    }

    fn tools_check(&self) -> Finding {
        use std::os::unix::fs::PermissionsExt;
        let Some(dir) = &self.tools_dir else {
            return Finding::new("tools", Status::Skip, "the tools' directory is unknown");
        };
        let mut found = Vec::new();
        let mut not_exec = Vec::new();
        for t in TOOLS {
            let p = dir.join(t);
            if let Ok(m) = std::fs::metadata(&p) {
                if m.is_file() {
                    found.push(*t);
                    if m.permissions().mode() & 0o111 == 0 {
                        not_exec.push(p);
                    }
                }
            }
        }
        if !not_exec.is_empty() {
            let mut f = Finding::new(
                "tools",
                Status::Fail,
                format!(
                    "{} tool(s) without the execute bit (lost in a copy or an archive)",
                    not_exec.len()
                ),
            );
            for p in not_exec {
                f = f.detail(format!("chmod +x {}", p.display()));
            }
            return f;
        }
        if found.is_empty() {
            Finding::new(
                "tools",
                Status::Info,
                format!("no edge-infer tools in {}", dir.display()),
            )
        } else {
            Finding::new(
                "tools",
                Status::Ok,
                format!("{} executable in {}", found.join(", "), dir.display()),
            )
        }
    }

    fn generate(&self, rt: Option<Runtime>, model_ok: bool) -> Finding {
        if !self.generation {
            return Finding::new("generation", Status::Skip, "not asked for");
        }
        let (Some(rt), true, Some(model)) = (rt, model_ok, &self.model) else {
            return Finding::new(
                "generation",
                Status::Skip,
                "needs a working runtime and model",
            );
        };
        let double = rt.is_test_double();
        let checks = crate::HostChecks::default().root(&self.root);
        let t0 = Instant::now();
        let llm = Llm::builder(model)
            .runtime(rt)
            .host_checks(checks)
            .max_context_len(self.context)
            .cpu_mask(self.cpu_mask)
            .max_new_tokens(16)
            .build();
        let llm = match llm {
            Ok(l) => l,
            Err(e) => return Finding::new("generation", Status::Fail, format!("init: {e}")),
        };
        let load = t0.elapsed();
        let start = Instant::now();
        let mut first = None;
        let mut chunks = 0usize;
        let r = llm.run(&Input::prompt(&self.prompt), &RunOptions::new(), |_| {
            first.get_or_insert_with(Instant::now);
            chunks += 1;
            Control::Continue
        });
        let end = Instant::now();
        let s = match r {
            Ok(s) => s,
            Err(e) => return Finding::new("generation", Status::Fail, format!("run: {e}")),
        };
        let ttft = first.map(|f| f - start);
        let tps = match &s.perf {
            Some(p) if p.generate_time_ms > 0.0 => {
                p.generate_tokens as f64 * 1000.0 / p.generate_time_ms as f64
            }
            _ => {
                let secs = first.map_or(0.0, |f| (end - f).as_secs_f64());
                if secs > 0.0 {
                    chunks.saturating_sub(1) as f64 / secs
                } else {
                    0.0
                }
            }
        };
        let log = llm.init_log();
        let mut f = Finding::new(
            "generation",
            if double { Status::Info } else { Status::Ok },
            format!(
                "TTFT {}, {tps:.1} t/s over {} tokens (load {:.2?}){}",
                ttft.map_or("-".into(), |t| format!("{:.1} ms", t.as_secs_f64() * 1e3)),
                s.perf.map_or(chunks as i32, |p| p.generate_tokens),
                load,
                if double {
                    " -- TEST DOUBLE: these timings mean nothing"
                } else {
                    ""
                }
            ),
        );
        if let Some(v) = &log.runtime_version {
            f = f.detail(format!(
                "the runtime says: version {v}, driver {}, platform {}; model: toolkit {}, limit {}, target {}",
                log.driver_version.as_ref().map_or("?".into(), |d| d.to_string()),
                log.platform.as_deref().unwrap_or("?"),
                log.toolkit_version.as_ref().map_or("?".into(), |d| d.to_string()),
                log.max_context_limit.map_or("?".into(), |n| n.to_string()),
                log.target_platform.as_deref().unwrap_or("?"),
            ));
        }
        f
    }
}
