//! How the runtime is identified and what its init log is checked for, against edge-infer's
//! RKLLM test double (a fake librkllmrt). The "anonymous" double builds lack the double's
//! marker and stand in for an unknown vendor rebuild.
mod common;
use common::*;
use edge_infer_rkllm::{
    Abi, AbiSource, Check, Error, HostChecks, Identity, Input, Llm, RunOptions, Runtime,
};
use rkllm_test_double::{anonymous_library_path, FakeModel, TempDir, DEFAULT_REPLY};

#[test]
fn the_init_log_is_captured_and_parsed() {
    for stream in ["stderr", "stdout"] {
        let (_f, llm) = llm(
            "initlog",
            FakeModel::default()
                .log_stream(stream)
                .max_context_len(2048),
        );
        let log = llm.init_log();
        assert_eq!(
            log.runtime_version.as_ref().unwrap().to_string(),
            abi().reported_version(),
            "{stream}"
        );
        assert_eq!(log.driver_version.as_ref().unwrap().to_string(), "0.9.8");
        assert_eq!(log.max_context_limit, Some(2048));
        assert_eq!(log.target_platform.as_deref(), Some("RK3588"));
    }
}

#[test]
fn a_version_line_of_another_abi_refuses_the_model() {
    let other = if Abi::COMPILED == Abi::V1_3 {
        "1.2.3"
    } else {
        "1.3.0"
    };
    for stream in ["stderr", "stdout"] {
        let f = fixture(
            "contradicted",
            FakeModel::default()
                .runtime_version(other)
                .toolkit_version(other)
                .log_stream(stream),
        );
        let e = builder(&f).build().unwrap_err();
        match &e {
            Error::RuntimeContradicted {
                logged, expected, ..
            } => {
                assert_eq!(
                    (logged.as_str(), *expected),
                    (other, Abi::COMPILED),
                    "{stream}"
                )
            }
            e => panic!("{stream}: {e}"),
        }
        // Without capture nothing can be checked.
        builder(&f).capture_init_log(false).build().unwrap();
    }
    // A prerelease is never of a supported ABI.
    let f = fixture(
        "prerelease",
        FakeModel::default()
            .runtime_version("1.2.1b1")
            .toolkit_version("1.2.1b1"),
    );
    assert!(matches!(
        builder(&f).build(),
        Err(Error::RuntimeContradicted { .. })
    ));
}

#[test]
fn init_failures_carry_the_runtime_s_own_words() {
    for (fake, words) in [
        (
            FakeModel::default().target_platform("RK3576"),
            "Platform error",
        ),
        (
            FakeModel::default().toolkit_version("9.9.9"),
            "lower than the rkllm-toolkit version",
        ),
        (
            FakeModel::default().no_npu(true),
            "failed to open rknpu module",
        ),
    ] {
        let f = fixture("initfail", fake);
        let e = builder(&f).build().unwrap_err();
        assert!(matches!(e, Error::InitFailed { code: -1, .. }), "{e}");
        assert!(e.to_string().contains(words), "{words}: {e}");
    }
}

#[test]
fn a_1_3_runtime_is_refused_on_a_driver_older_than_0_9_7() {
    // Before init, from sysfs.
    let sys = TempDir::new("sysfs-driver").unwrap();
    std::fs::create_dir_all(sys.path().join("module/rknpu")).unwrap();
    std::fs::write(
        sys.path().join("module/rknpu/version"),
        "RKNPU driver: v0.8.2\n",
    )
    .unwrap();
    let checks = || {
        HostChecks::default()
            .sysfs_root(sys.path())
            .cpus_online(Check::Skip)
            .npu(Check::Skip)
    };
    let f = fixture("driver-sysfs", FakeModel::default());
    let r = builder(&f)
        .host_checks(checks().npu_driver(Check::Always))
        .build();
    // After init, from the runtime's own line (the double warns like 1.3.0 does).
    let g = fixture("driver-log", FakeModel::default().driver_version("0.8.2"));
    let after = builder(&g)
        .host_checks(HostChecks::default().npu_driver(Check::Always))
        .build();
    if Abi::COMPILED == Abi::V1_3 {
        let e = r.unwrap_err();
        assert!(
            matches!(e, Error::NpuDriverTooOld { .. }) && e.to_string().contains("0.8.2"),
            "{e}"
        );
        let e = after.unwrap_err();
        assert!(
            matches!(e, Error::NpuDriverTooOld { .. }) && e.to_string().contains("init log"),
            "{e}"
        );
        // Unchecked (the test double is exempt by default), every run then fails as on a board.
        let llm = builder(&g).build().unwrap();
        let e = llm
            .generate(&Input::prompt("x"), &RunOptions::new())
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::RunFailed {
                    error_state: true,
                    ..
                }
            ),
            "{e}"
        );
    } else {
        r.unwrap();
        after.unwrap();
    }
}

#[test]
fn an_unknown_runtime_file_needs_a_stated_abi() {
    let anon = anonymous_library_path(abi());
    let f = fixture("anon", FakeModel::default());
    // The host checks apply to an unknown runtime (only the test double is exempt): this
    // machine has no NPU and no CPUs 4-7.
    let host = || {
        HostChecks::default()
            .cpus_online(Check::Skip)
            .npu(Check::Skip)
    };
    let e = Llm::builder(&f.model)
        .runtime_path(anon)
        .runtime_abi(Abi::COMPILED)
        .build()
        .unwrap_err();
    assert!(
        matches!(e, Error::CpusOffline { .. } | Error::NoNpuDevice { .. }),
        "{e}"
    );
    let built = Llm::builder(&f.model)
        .runtime_path(anon)
        .host_checks(host())
        .build();
    if cfg!(rkllm_abi_1_2) {
        // The abi-1-2 feature is itself the statement.
        assert_eq!(built.unwrap().runtime().abi_source(), AbiSource::Feature);
    } else if std::env::var_os(edge_infer_rkllm::ABI_ENV).is_none() {
        let e = built.unwrap_err();
        assert!(matches!(e, Error::RuntimeUnknown { .. }), "{e}");
        assert!(e.to_string().contains("EDGE_INFER_RKLLM_ABI=1.3"), "{e}");
    }
    let llm = Llm::builder(&f.model)
        .runtime_path(anon)
        .runtime_abi(Abi::COMPILED)
        .host_checks(host())
        .build()
        .unwrap();
    assert_eq!(llm.runtime().identity(), &Identity::Unknown);
    assert!(!llm.runtime().is_test_double());
    // The statement was checked against the runtime's own version line.
    assert_eq!(
        llm.init_log().runtime_version.as_ref().unwrap().to_string(),
        abi().reported_version()
    );
    let other = if Abi::COMPILED == Abi::V1_3 {
        Abi::V1_2
    } else {
        Abi::V1_3
    };
    assert!(matches!(
        Runtime::load_stated(anon, other),
        Err(Error::AbiStatementMismatch { .. })
    ));
}

#[test]
fn run_async_works_where_1_2_1_s_never_returns() {
    // ABI.md: 1.2.1's rkllm_run_async never returns. edge-infer-rkllm never calls it.
    let f = fixture(
        "121",
        FakeModel::default()
            .runtime_version("1.2.1")
            .toolkit_version("1.2.1"),
    );
    let mut b = builder(&f);
    if Abi::COMPILED == Abi::V1_3 {
        b = b.capture_init_log(false); // a 1.2.1 line would (rightly) refuse a 1.3 build
    }
    let llm = b.build().unwrap();
    let t = std::time::Instant::now();
    let (text, _) = llm
        .run_async(&Input::prompt("x"), &RunOptions::new())
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(text, DEFAULT_REPLY);
    assert!(t.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(query(None, "run_async_defect_calls"), 0);
}
