//! The board doctor on fake sysfs/procfs trees, with edge-infer's RKLLM test double (a fake
//! librkllmrt) as the runtime.
mod common;
use common::*;
use edge_infer_rkllm::doctor::{Doctor, Status};
use rkllm_test_double::{library_path, FakeModel, TempDir};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn put(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// An RK3588 board as sysfs/procfs show it: 4 A55 + 4 A76 (two clusters of two), the
/// little cluster on powersave, DRAM held at 528 of 2112 MHz, driver 0.9.8.
fn rk3588(driver: &str) -> TempDir {
    let d = TempDir::new("board").unwrap();
    let r = d.path();
    put(
        r,
        "proc/device-tree/compatible",
        b"radxa,rock-5b\0rockchip,rk3588\0",
    );
    put(r, "proc/device-tree/model", b"Radxa ROCK 5B\0");
    put(
        r,
        "proc/meminfo",
        b"MemTotal: 16000000 kB\nCmaTotal:   262144 kB\nCmaFree:    200000 kB\n",
    );
    put(r, "sys/devices/system/cpu/online", b"0-7\n");
    for c in 0..8 {
        put(
            r,
            &format!("sys/devices/system/cpu/cpu{c}/cpu_capacity"),
            if c < 4 { b"414\n" } else { b"1024\n" },
        );
    }
    for (p, cpus, gov) in [
        ("policy0", "0 1 2 3", "powersave"),
        ("policy4", "4 5", "schedutil"),
        ("policy6", "6 7", "schedutil"),
    ] {
        let base = format!("sys/devices/system/cpu/cpufreq/{p}");
        put(r, &format!("{base}/scaling_governor"), gov.as_bytes());
        put(r, &format!("{base}/related_cpus"), cpus.as_bytes());
        put(r, &format!("{base}/scaling_cur_freq"), b"408000");
        put(r, &format!("{base}/cpuinfo_max_freq"), b"2400000");
    }
    put(r, "sys/class/devfreq/dmc/governor", b"dmc_ondemand");
    put(r, "sys/class/devfreq/dmc/cur_freq", b"528000000");
    put(r, "sys/class/devfreq/dmc/max_freq", b"2112000000");
    put(
        r,
        "sys/module/rknpu/version",
        format!("RKNPU driver: v{driver}\n").as_bytes(),
    );
    put(r, "dev/dri/renderD129", b"");
    d
}

fn doctor(root: &Path, model: &Path, tools: &Path) -> Doctor {
    Doctor::new(root)
        .runtime_path(library_path(abi()))
        .model(model)
        .tools_dir(tools)
}

#[test]
fn a_board_tree_is_checked_and_explained() {
    let board = rk3588("0.9.8");
    let f = fixture("doctor", FakeModel::default().reply("hi there"));
    let tools = TempDir::new("tools").unwrap();
    put(tools.path(), "edge-bench", b"#!/bin/sh\n");
    std::fs::set_permissions(
        tools.path().join("edge-bench"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    put(tools.path(), "npu_stream", b"#!/bin/sh\n");
    std::fs::set_permissions(
        tools.path().join("npu_stream"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let report = doctor(board.path(), &f.model, tools.path()).run();
    let status = |id| report.get(id).unwrap_or_else(|| panic!("no {id}")).status;
    assert!(report.on_board, "{}", report.to_text());
    assert_eq!(status("board"), Status::Ok);
    assert!(report.get("board").unwrap().summary.contains("ROCK 5B"));
    assert_eq!(status("runtime"), Status::Ok);
    assert!(report
        .get("runtime")
        .unwrap()
        .summary
        .contains("TEST DOUBLE"));
    assert_eq!(status("npu-driver"), Status::Ok);
    assert_eq!(status("npu-device"), Status::Ok);
    assert_eq!(status("cma"), Status::Info);
    assert_eq!(status("cpu-governor"), Status::Warn, "{}", report.to_text());
    assert!(report
        .get("cpu-governor")
        .unwrap()
        .detail
        .iter()
        .any(|d| d.contains("policy0 (CPUs 0 1 2 3): powersave")));
    assert_eq!(status("dram"), Status::Warn);
    assert!(report
        .get("dram")
        .unwrap()
        .summary
        .contains("528 of 2112 MHz"));
    assert_eq!(status("big-cores"), Status::Ok);
    assert_eq!(status("model"), Status::Ok);
    assert_eq!(status("tools"), Status::Fail);
    assert!(report.get("tools").unwrap().detail[0].contains("chmod +x"));
    let g = report.get("generation").unwrap();
    assert_eq!(g.status, Status::Info, "{}", report.to_text());
    assert!(
        g.summary.contains("TTFT")
            && g.summary.contains("t/s")
            && g.summary.contains("TEST DOUBLE"),
        "{}",
        g.summary
    );
    // JSON carries the same.
    let j = report.to_json();
    assert_eq!(j["on_board"], true);
    let ids: Vec<&str> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "board",
            "runtime",
            "npu-driver",
            "npu-device",
            "cma",
            "cpu-governor",
            "dram",
            "big-cores",
            "model",
            "tools",
            "generation"
        ]
    );
    assert_eq!(j["findings"][6]["status"], "warn");
}

#[test]
fn the_doctor_says_when_it_is_not_on_a_board() {
    let empty = TempDir::new("not-a-board").unwrap();
    let f = fixture("doctor-nb", FakeModel::default());
    let report = doctor(empty.path(), &f.model, empty.path()).run();
    assert!(!report.on_board);
    let text = report.to_text();
    assert!(
        text.starts_with("edge-infer board doctor\nNOT ON AN RK3588 BOARD"),
        "{text}"
    );
    assert_eq!(report.get("npu-device").unwrap().status, Status::Fail);
    assert_eq!(report.get("npu-driver").unwrap().status, Status::Warn);
    assert_eq!(report.get("big-cores").unwrap().status, Status::Warn);
    assert_eq!(report.get("dram").unwrap().status, Status::Info);
    assert_eq!(report.to_json()["on_board"], false);
}

#[test]
fn bad_models_old_drivers_and_wrong_masks_are_explained() {
    let board = rk3588("0.8.2");
    let dir = TempDir::new("doctor-bad").unwrap();
    let lfs = dir.path().join("m.rkllm");
    std::fs::write(
        &lfs,
        "version https://git-lfs.github.com/spec/v1\noid sha256:a\nsize 5\n",
    )
    .unwrap();
    let report = doctor(board.path(), &lfs, dir.path())
        .context(8192)
        .cpu_mask(0xFF)
        .run();
    let m = report.get("model").unwrap();
    assert_eq!(m.status, Status::Fail);
    assert!(
        m.detail.iter().any(|d| d.contains("Git LFS pointer")),
        "{m:?}"
    );
    assert!(m.detail.iter().any(|d| d.contains("8192")), "{m:?}");
    assert_eq!(report.get("generation").unwrap().status, Status::Skip);
    let drv = report.get("npu-driver").unwrap();
    let want = if edge_infer_rkllm::Abi::COMPILED == edge_infer_rkllm::Abi::V1_3 {
        Status::Fail
    } else {
        Status::Warn
    };
    assert_eq!(drv.status, want, "{drv:?}");
    let bc = report.get("big-cores").unwrap();
    assert_eq!(bc.status, Status::Warn);
    assert!(bc.detail[0].contains("0xf0"), "{bc:?}");
    // A model converted for another SoC.
    let other = fixture(
        "doctor-3576",
        FakeModel::default().target_platform("RK3576"),
    );
    let r = doctor(board.path(), &other.model, dir.path())
        .generation(false)
        .run();
    assert!(r
        .get("model")
        .unwrap()
        .detail
        .iter()
        .any(|d| d.contains("converted for RK3576")));
    // Zero bytes.
    let empty = dir.path().join("empty.rkllm");
    std::fs::write(&empty, b"").unwrap();
    let r = doctor(board.path(), &empty, dir.path())
        .generation(false)
        .run();
    assert!(r.get("model").unwrap().detail[0].contains("0 bytes"));
}
