//! Up-front checks before init, each a typed error (runs against edge-infer's test double).
mod common;
use common::*;
use edge_infer_rkllm::{Check, Error, HostChecks, Llm, Runtime, VersionCheck};
use rkllm_test_double::{library_path, FakeModel, TempDir};

#[test]
fn missing_empty_directory_unreadable_and_lfs_model_files() {
    let dir = TempDir::new("modelfiles").unwrap();
    let p = dir.path();
    let build = |m: &std::path::Path| Llm::builder(m).runtime(runtime()).build();

    assert!(matches!(
        build(&p.join("nope.rkllm")),
        Err(Error::ModelNotFound(_))
    ));

    std::fs::write(p.join("empty.rkllm"), b"").unwrap();
    assert!(matches!(
        build(&p.join("empty.rkllm")),
        Err(Error::ModelEmpty(_))
    ));

    assert!(matches!(build(p), Err(Error::ModelIsDirectory(_))));

    // A symlink loop cannot be read (works as root too, unlike chmod 000).
    std::os::unix::fs::symlink(p.join("loop-b"), p.join("loop-a")).unwrap();
    std::os::unix::fs::symlink(p.join("loop-a"), p.join("loop-b")).unwrap();
    let e = build(&p.join("loop-a")).unwrap_err();
    assert!(matches!(e, Error::ModelUnreadable { .. }), "{e}");

    std::fs::write(
        p.join("lfs.rkllm"),
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123456789\n",
    )
    .unwrap();
    let e = build(&p.join("lfs.rkllm")).unwrap_err();
    assert!(matches!(e, Error::ModelIsLfsPointer(_)));
    assert!(e.to_string().contains("git lfs pull"));
}

#[test]
fn bad_model_magic_fails_init() {
    let dir = TempDir::new("badmagic").unwrap();
    let m = dir.path().join("m.rkllm");
    std::fs::write(&m, b"RKLLM-NOT-THE-DOUBLE\n").unwrap();
    let e = Llm::builder(&m).runtime(runtime()).build().unwrap_err();
    assert!(matches!(e, Error::InitFailed { code: -1, .. }), "{e}");
}

#[test]
fn null_handle_after_successful_init_is_an_error() {
    let f = fixture("nullhandle", FakeModel::default().null_handle());
    let e = builder(&f).build().unwrap_err();
    assert!(matches!(e, Error::NullHandle(_)), "{e}");
}

#[test]
fn context_length_bounds_and_model_limit() {
    let f = fixture("ctx", FakeModel::default().max_context_len(256));
    for bad in [0, -1, 16385] {
        assert!(
            matches!(builder(&f).max_context_len(bad).build(), Err(Error::InvalidContextLen(n)) if n == bad)
        );
    }
    // Above the model's conversion limit: only the runtime knows, init fails.
    assert!(matches!(
        builder(&f).max_context_len(512).build(),
        Err(Error::InitFailed { .. })
    ));
    assert!(builder(&f).max_context_len(256).build().is_ok());
}

#[test]
fn cpu_mask_must_match_count() {
    let f = fixture("cpucount", FakeModel::default());
    let e = builder(&f).cpu_mask(0xF0).cpu_count(3).build().unwrap_err();
    assert!(
        matches!(
            e,
            Error::CpuCountMismatch {
                mask: 0xF0,
                count: 3,
                bits: 4
            }
        ),
        "{e}"
    );
    assert!(matches!(
        builder(&f).cpu_mask(0).build(),
        Err(Error::EmptyCpuMask)
    ));
}

fn sysfs_with_online(list: &str) -> TempDir {
    let d = TempDir::new("sysfs").unwrap();
    let cpu = d.path().join("devices/system/cpu");
    std::fs::create_dir_all(&cpu).unwrap();
    std::fs::write(cpu.join("online"), list).unwrap();
    d
}

fn with_npu_node() -> TempDir {
    let d = TempDir::new("dev").unwrap();
    std::fs::create_dir_all(d.path().join("dri")).unwrap();
    std::fs::write(d.path().join("dri/renderD128"), b"").unwrap();
    d
}

#[test]
fn default_a76_mask_checked_against_online_cpus() {
    let f = fixture("online", FakeModel::default());
    let dev = with_npu_node();
    let checks = |sysfs: &TempDir| {
        HostChecks::default()
            .sysfs_root(sysfs.path())
            .dev_root(dev.path())
            .cpus_online(Check::Always)
            .npu(Check::Always)
    };
    // An RK3588 with all 8 cores online: the default mask 0xF0 passes.
    let rk3588 = sysfs_with_online("0-7\n");
    builder(&f).host_checks(checks(&rk3588)).build().unwrap();
    // A 4-core view (or big cores offlined): cores 4-7 are named and reported.
    let small = sysfs_with_online("0-3\n");
    match builder(&f).host_checks(checks(&small)).build().unwrap_err() {
        Error::CpusOffline {
            mask,
            offline,
            online,
            ..
        } => {
            assert_eq!(
                (mask, offline, online.as_str()),
                (0xF0, vec![4, 5, 6, 7], "0-3")
            );
        }
        e => panic!("unexpected {e}"),
    }
    // Explicit mask of online cores passes.
    builder(&f)
        .cpu_mask(0x3)
        .host_checks(checks(&small))
        .build()
        .unwrap();
    // The real machine's online list is read by default.
    let real = HostChecks::default()
        .cpus_online(Check::Always)
        .npu(Check::Skip);
    let online = edge_infer_rkllm::checks::parse_cpu_list(
        &std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap(),
    );
    let r = builder(&f).cpu_mask(0x1).host_checks(real).build();
    assert_eq!(r.is_ok(), online.unwrap().contains(&0));
}

#[test]
fn npu_device_node_check() {
    let f = fixture("npu", FakeModel::default());
    let npu = |dev: &TempDir| {
        HostChecks::default()
            .dev_root(dev.path())
            .cpus_online(Check::Skip)
            .npu(Check::Always)
    };
    let empty = TempDir::new("dev-empty").unwrap();
    let e = builder(&f).host_checks(npu(&empty)).build().unwrap_err();
    assert!(matches!(e, Error::NoNpuDevice { .. }), "{e}");
    builder(&f)
        .host_checks(npu(&with_npu_node()))
        .build()
        .unwrap();
    let rknpu = TempDir::new("dev-rknpu").unwrap();
    std::fs::write(rknpu.path().join("rknpu"), b"").unwrap();
    builder(&f).host_checks(npu(&rknpu)).build().unwrap();
    let dangling = TempDir::new("dev-dangling").unwrap();
    std::fs::create_dir_all(dangling.path().join("dri")).unwrap();
    std::os::unix::fs::symlink(
        "/nonexistent/renderD128",
        dangling.path().join("dri/renderD128"),
    )
    .unwrap();
    let e = builder(&f).host_checks(npu(&dangling)).build().unwrap_err();
    assert!(matches!(e, Error::NpuDeviceInaccessible { .. }), "{e}");
}

#[test]
fn runtime_version_mismatch_is_caught_before_the_library_is_used() {
    let other = library_path(other_abi());
    let e = Runtime::load(other).unwrap_err();
    match &e {
        Error::RuntimeVersionMismatch {
            found,
            expected,
            text,
            ..
        } => {
            assert_eq!(found.to_string(), other_abi().embedded_version());
            assert_eq!(*expected, edge_infer_rkllm::AbiGeneration::SELECTED);
            assert!(text.contains("test double"));
        }
        e => panic!("unexpected {e}"),
    }
    println!("{e}");
    // Through the builder, before init.
    let f = fixture("mismatch", FakeModel::default());
    let e = Llm::builder(&f.model)
        .runtime_path(other)
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::RuntimeVersionMismatch { .. }), "{e}");
    // Same ABI loads, and identifies itself as the test double.
    let rt = Runtime::load(library_path(abi())).unwrap();
    assert!(rt.is_test_double());
    assert_eq!(
        rt.embedded_version().unwrap().version.to_string(),
        abi().embedded_version()
    );
}

#[test]
fn runtime_without_version_string() {
    let dir = TempDir::new("noversion").unwrap();
    let fake = dir.path().join("librkllmrt.so");
    std::fs::write(&fake, b"\x7fELF but no version here").unwrap();
    assert!(matches!(
        Runtime::load(&fake),
        Err(Error::RuntimeVersionUnknown { .. })
    ));
    // Allowed through: then the loader rejects it cleanly.
    assert!(matches!(
        Runtime::load_with(&fake, VersionCheck::AllowUnknown),
        Err(Error::RuntimeLoad(_))
    ));
    assert!(matches!(
        Runtime::load(dir.path().join("missing.so")),
        Err(Error::RuntimeUnreadable { .. })
    ));
}

#[test]
fn system_runtime_reports_absence_cleanly() {
    // No librkllmrt on this machine (unless linked/installed): a clean error, not a crash.
    match Runtime::system() {
        Ok(rt) => assert!(rt.path().is_some()),
        Err(e) => assert!(
            matches!(
                e,
                Error::RuntimeLoad(_) | Error::RuntimeVersionMismatch { .. }
            ),
            "{e}"
        ),
    }
}
