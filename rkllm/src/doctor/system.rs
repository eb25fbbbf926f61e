//! The board itself, read from a (possibly fake) root: SoC, CPU clusters and their
//! governors, the DRAM's devfreq, CMA.
use super::report::{Finding, Status};
use edge_infer_base::cpu::parse_cpu_list;
use std::path::Path;

fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(root.join(rel))
        .ok()
        .map(|s| s.trim_end_matches(['\0', '\n', ' ']).trim().to_owned())
}

fn mhz(hz_or_khz: u64, khz: bool) -> u64 {
    if khz {
        hz_or_khz / 1000
    } else {
        hz_or_khz / 1_000_000
    }
}

/// The board: `proc/device-tree/compatible` and `model`.
pub(crate) fn board(root: &Path) -> (Finding, Option<String>) {
    let compatible = std::fs::read(root.join("proc/device-tree/compatible")).ok();
    let model = read(root, "proc/device-tree/model");
    let entries: Vec<String> = compatible
        .as_deref()
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let rk3588 = entries
        .iter()
        .any(|e| e == "rockchip,rk3588" || e == "rockchip,rk3588s");
    if rk3588 {
        let f = Finding::new(
            "board",
            Status::Ok,
            format!(
                "RK3588 board: {}",
                model.as_deref().unwrap_or("model not reported")
            ),
        );
        return (f, None);
    }
    let why = if compatible.is_none() {
        format!(
            "{} has no device tree (proc/device-tree/compatible)",
            root.display()
        )
    } else {
        format!("the device tree says {entries:?}, not rockchip,rk3588")
    };
    (
        Finding::new("board", Status::Fail, format!("not an RK3588 board: {why}")),
        Some(why),
    )
}

/// CPUs by capacity: the big (A76) cluster must be the one the runtime's mask names.
pub(crate) fn big_cores(root: &Path, mask: u32) -> Finding {
    let cpu = root.join("sys/devices/system/cpu");
    let online = read(root, "sys/devices/system/cpu/online").and_then(|s| {
        let cpus = parse_cpu_list(&s).ok()?;
        cpus.into_iter()
            .map(|c| u32::try_from(c).ok())
            .collect::<Option<Vec<u32>>>()
    });
    let mut caps: Vec<(u32, u64)> = Vec::new();
    for n in online.clone().unwrap_or_default() {
        if let Some(c) = std::fs::read_to_string(cpu.join(format!("cpu{n}/cpu_capacity")))
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            caps.push((n, c));
        }
    }
    let masked: Vec<u32> = (0..32).filter(|c| mask & (1 << c) != 0).collect();
    let Some(max) = caps.iter().map(|c| c.1).max() else {
        return Finding::new(
            "big-cores",
            Status::Warn,
            format!("the kernel reports no cpu_capacity; mask {mask:#x} names CPUs {masked:?}"),
        )
        .detail(
            "on RK3588 the fast Cortex-A76 cores are 4-7 (mask 0xF0); check `lscpu` if unsure",
        );
    };
    let big: Vec<u32> = caps.iter().filter(|c| c.1 == max).map(|c| c.0).collect();
    let big_mask: u32 = big.iter().map(|c| 1u32 << c).sum();
    let offline: Vec<u32> = masked
        .iter()
        .copied()
        .filter(|c| !online.as_ref().is_some_and(|o| o.contains(c)))
        .collect();
    if !offline.is_empty() {
        return Finding::new(
            "big-cores",
            Status::Fail,
            format!("mask {mask:#x} names CPUs {offline:?}, which are not online"),
        )
        .detail(format!(
            "online: {online:?}; big cores: {big:?} (mask {big_mask:#x})"
        ));
    }
    if big_mask == mask {
        Finding::new(
            "big-cores",
            Status::Ok,
            format!("big cores {big:?} (capacity {max}) are the runtime's mask {mask:#x}"),
        )
    } else {
        Finding::new(
            "big-cores",
            Status::Warn,
            format!(
                "the big cores are {big:?} (mask {big_mask:#x}) but the runtime is given {mask:#x}"
            ),
        )
        .detail(format!(
            "little cores in the mask slow the runtime's CPU work: use cpu_mask = {big_mask:#x}"
        ))
    }
}

/// The cpufreq governor of every cluster.
pub(crate) fn governors(root: &Path) -> Finding {
    let dir = root.join("sys/devices/system/cpu/cpufreq");
    let mut policies: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("policy"))
                .collect()
        })
        .unwrap_or_default();
    policies.sort_by_key(|p| p[6..].parse::<u32>().unwrap_or(u32::MAX));
    if policies.is_empty() {
        return Finding::new(
            "cpu-governor",
            Status::Info,
            "no cpufreq policies: the CPU clocks are fixed",
        );
    }
    let mut worst = Status::Ok;
    let mut lines = Vec::new();
    for p in &policies {
        let get = |f: &str| read(root, &format!("sys/devices/system/cpu/cpufreq/{p}/{f}"));
        let gov = get("scaling_governor").unwrap_or_else(|| "?".into());
        let cpus = get("related_cpus").unwrap_or_else(|| "?".into());
        let cur = get("scaling_cur_freq").and_then(|s| s.parse::<u64>().ok());
        let max = get("cpuinfo_max_freq").and_then(|s| s.parse::<u64>().ok());
        let clock = match (cur, max) {
            (Some(c), Some(m)) => format!("{} of {} MHz", mhz(c, true), mhz(m, true)),
            _ => "clock not reported".into(),
        };
        let status = match gov.as_str() {
            "powersave" => Status::Warn,
            "performance" if cur.zip(max).is_some_and(|(c, m)| c * 2 < m) => Status::Warn,
            _ => Status::Ok,
        };
        if status == Status::Warn {
            worst = Status::Warn;
        }
        lines.push(format!("{p} (CPUs {cpus}): {gov}, {clock}"));
    }
    let mut f = Finding::new(
        "cpu-governor",
        worst,
        if worst == Status::Ok {
            "every cluster can clock up".to_string()
        } else {
            "a cluster is held at a low clock".to_string()
        },
    );
    for l in lines {
        f = f.detail(l);
    }
    if worst == Status::Warn {
        f = f.detail("for inference and benchmarks: echo performance | sudo tee /sys/devices/system/cpu/cpufreq/policy*/scaling_governor");
    }
    f
}

/// The DRAM controller's devfreq (`dmc`): its governor and current frequency.
pub(crate) fn dram(root: &Path) -> Finding {
    let dir = root.join("sys/class/devfreq");
    let node = std::fs::read_dir(&dir).ok().and_then(|rd| {
        rd.filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.contains("dmc"))
    });
    let Some(node) = node else {
        return Finding::new(
            "dram",
            Status::Info,
            "no DRAM devfreq node (dmc): the DRAM clock is whatever the bootloader set",
        )
        .detail("boards whose bootloader never scales DRAM up run far below published t/s: check your board's DRAM speed");
    };
    let get = |f: &str| read(root, &format!("sys/class/devfreq/{node}/{f}"));
    let gov = get("governor").unwrap_or_else(|| "?".into());
    let cur = get("cur_freq").and_then(|s| s.parse::<u64>().ok());
    let max = get("max_freq")
        .and_then(|s| s.parse::<u64>().ok())
        .or_else(|| {
            get("available_frequencies")
                .and_then(|s| s.split_whitespace().filter_map(|v| v.parse().ok()).max())
        });
    match (cur, max) {
        (Some(c), Some(m)) if c < m => Finding::new(
            "dram",
            Status::Warn,
            format!("DRAM at {} of {} MHz (governor {gov})", mhz(c, false), mhz(m, false)),
        )
        .detail("LLM decoding is bound by memory bandwidth: a DRAM clock below its maximum lowers t/s in proportion")
        .detail(format!(
            "echo performance | sudo tee {}/governor (or check that the bootloader scales DRAM up)",
            Path::new("/sys/class/devfreq").join(&node).display()
        )),
        (Some(c), Some(m)) => Finding::new(
            "dram",
            Status::Ok,
            format!("DRAM at its maximum, {} MHz (governor {gov})", mhz(c.max(m), false)),
        ),
        _ => Finding::new("dram", Status::Info, format!("DRAM devfreq {node}: governor {gov}, frequency not reported")),
    }
}

/// CMA, from `proc/meminfo`.
pub(crate) fn cma(root: &Path) -> Finding {
    let text = read(root, "proc/meminfo").unwrap_or_default();
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    match (kib("CmaTotal:"), kib("CmaFree:")) {
        (Some(t), Some(f)) if f < 16 * 1024 && t > 0 => Finding::new(
            "cma",
            Status::Warn,
            format!("CMA {} MiB, only {} MiB free", t / 1024, f / 1024),
        )
        .detail("drivers that allocate contiguous memory may fail; free it (camera/video) or raise cma= on the kernel command line"),
        (Some(t), Some(f)) => Finding::new("cma", Status::Info, format!("CMA {} MiB, {} MiB free", t / 1024, f / 1024)),
        _ => Finding::new("cma", Status::Info, "the kernel reports no CMA"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies() {
        assert_eq!(mhz(2_112_000_000, false), 2112);
        assert_eq!(mhz(2_400_000, true), 2400);
    }
}
