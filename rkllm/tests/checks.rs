//! Up-front checks before init, each a typed error (runs against edge-infer's test double).
mod common;
use common::*;
use edge_infer_rkllm::{Check, Error, FileCheck, HostChecks, Llm, Problem, Runtime, VersionCheck};
use rkllm_test_double::{library_path, FakeModel, TempDir};

fn problems(e: Error) -> Vec<Problem> {
    match e {
        Error::ModelFile(r) => r.problems.clone(),
        e => panic!("not a file report: {e}"),
    }
}

#[test]
fn missing_empty_directory_unreadable_and_lfs_model_files() {
    let dir = TempDir::new("modelfiles").unwrap();
    let p = dir.path();
    let build = |m: &std::path::Path| Llm::builder(m).runtime(runtime()).build();

    assert_eq!(
        problems(build(&p.join("nope.rkllm")).unwrap_err()),
        [Problem::Missing]
    );
    std::fs::write(p.join("empty.rkllm"), b"").unwrap();
    assert_eq!(
        problems(build(&p.join("empty.rkllm")).unwrap_err()),
        [Problem::Empty]
    );
    assert_eq!(problems(build(p).unwrap_err()), [Problem::Directory]);
    // A symlink loop cannot be read (works as root too, unlike chmod 000).
    std::os::unix::fs::symlink(p.join("loop-b"), p.join("loop-a")).unwrap();
    std::os::unix::fs::symlink(p.join("loop-a"), p.join("loop-b")).unwrap();
    assert!(matches!(
        problems(build(&p.join("loop-a")).unwrap_err())[..],
        [Problem::Unreadable(_)]
    ));
    std::fs::write(
        p.join("lfs.rkllm"),
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123456789\n",
    )
    .unwrap();
    let e = build(&p.join("lfs.rkllm")).unwrap_err();
    assert!(e.to_string().contains("git lfs pull"), "{e}");
    assert_eq!(
        problems(e),
        [Problem::LfsPointer {
            size: Some(123456789)
        }]
    );
    std::fs::write(p.join("model.gguf"), b"GGUF\x03\0\0\0rest").unwrap();
    let e = build(&p.join("model.gguf")).unwrap_err();
    assert!(e.to_string().contains("GGUF"), "{e}");
}

#[test]
fn every_file_problem_is_reported_at_once_before_the_runtime() {
    let dir = TempDir::new("allatonce").unwrap();
    let m = dir.path().join("m.rkllm");
    std::fs::write(
        &m,
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 9\n",
    )
    .unwrap();
    // No runtime given: the file is checked before the system's runtime is looked for.
    let e = Llm::builder(&m).max_context_len(8192).build().unwrap_err();
    assert_eq!(
        problems(e),
        [
            Problem::LfsPointer { size: Some(9) },
            Problem::ContextAboveDefaultLimit { requested: 8192 }
        ]
    );
}

#[test]
fn header_limits_and_target_platform_are_checked_before_init() {
    let f = fixture(
        "header",
        FakeModel::default()
            .max_context_len(2048)
            .target_platform("RK3576"),
    );
    let report = FileCheck::new(&f.model)
        .context(4096)
        .board_platform("RK3588")
        .run();
    assert_eq!(
        report.problems,
        [
            Problem::ContextAboveModelLimit {
                requested: 4096,
                limit: 2048
            },
            Problem::WrongPlatform {
                model: "RK3576".into(),
                board: "RK3588".into()
            },
        ]
    );
    // Through the builder, with the board read from a fake device tree.
    let root = TempDir::new("board").unwrap();
    std::fs::create_dir_all(root.path().join("proc/device-tree")).unwrap();
    std::fs::write(
        root.path().join("proc/device-tree/compatible"),
        b"radxa,rock-5b\0rockchip,rk3588\0",
    )
    .unwrap();
    let checks = HostChecks::default()
        .root(root.path())
        .cpus_online(Check::Skip)
        .npu(Check::Skip);
    let e = builder(&f)
        .host_checks(checks)
        .max_context_len(4096)
        .build()
        .unwrap_err();
    assert_eq!(
        problems(e).len(),
        2,
        "both found before the runtime was asked"
    );
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
    // Above the model's conversion limit: the double's header says so before init.
    assert_eq!(
        problems(builder(&f).max_context_len(512).build().unwrap_err()),
        [Problem::ContextAboveModelLimit {
            requested: 512,
            limit: 256
        }]
    );
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
    let online = edge_infer_base::cpu::parse_cpu_list(
        &std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap(),
    );
    let r = builder(&f).cpu_mask(0x1).host_checks(real).build();
    assert_eq!(r.is_ok(), online.unwrap().contains(&0usize));
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
fn runtime_of_the_other_abi_is_refused_before_the_library_is_used() {
    let other = library_path(other_abi());
    let e = Runtime::load(other).unwrap_err();
    match &e {
        Error::RuntimeVersionMismatch {
            found, expected, ..
        } => {
            assert!(found.contains("test double"), "{found}");
            assert_eq!(*expected, edge_infer_rkllm::Abi::COMPILED);
        }
        e => panic!("unexpected {e}"),
    }
    let f = fixture("mismatch", FakeModel::default());
    let e = Llm::builder(&f.model)
        .runtime_path(other)
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::RuntimeVersionMismatch { .. }), "{e}");
    let rt = Runtime::load(library_path(abi())).unwrap();
    assert!(rt.is_test_double());
    assert_eq!(rt.abi_source(), edge_infer_rkllm::AbiSource::TestDouble);
    assert_eq!(
        rt.blob_id().unwrap(),
        edge_infer_rkllm::git_blob_id(&std::fs::read(library_path(abi())).unwrap())
    );
}

#[test]
fn runtime_file_of_unknown_origin() {
    let dir = TempDir::new("noversion").unwrap();
    let fake = dir.path().join("librkllmrt.so");
    std::fs::write(&fake, b"\x7fELF but no RKLLM here").unwrap();
    let e = Runtime::load(&fake).unwrap_err();
    if cfg!(rkllm_abi_1_2) {
        // The abi-1-2 feature states the ABI: the loader then rejects the file.
        assert!(matches!(e, Error::RuntimeLoad(_)), "{e}");
    } else {
        assert!(matches!(e, Error::RuntimeUnknown { .. }), "{e}");
    }
    // Stated (or allowed through): the loader then rejects the file cleanly.
    assert!(matches!(
        Runtime::load_stated(&fake, edge_infer_rkllm::Abi::COMPILED),
        Err(Error::RuntimeLoad(_))
    ));
    // SAFETY: the file is not a runtime at all; dlopen refuses it before anything is called.
    assert!(matches!(
        unsafe { Runtime::load_with(&fake, VersionCheck::AllowUnknown) },
        Err(Error::RuntimeLoad(_))
    ));
    assert!(matches!(
        Runtime::load(dir.path().join("missing.so")),
        Err(Error::RuntimeUnreadable { .. })
    ));
}

#[test]
fn system_runtime_reports_absence_cleanly() {
    match Runtime::system() {
        Ok(rt) => assert!(rt.path().is_some()),
        Err(e) => assert!(
            matches!(
                e,
                Error::RuntimeLoad(_)
                    | Error::RuntimeVersionMismatch { .. }
                    | Error::RuntimeUnknown { .. }
            ),
            "{e}"
        ),
    }
}
