//! Up-front checks run before `rkllm_init`, so that common mistakes become typed errors
//! instead of a runtime crash or an opaque init failure.
use crate::error::{Error, Result};
use crate::model_file::MAX_CONTEXT_LEN;
use crate::version::{Abi, RuntimeVersion};
use edge_infer_base::cpu::parse_cpu_list;
use std::path::{Path, PathBuf};

/// The RKNPU driver a 1.3 runtime needs: with an older one init succeeds and every run then
/// fails (`matmul(w8a8) run failed`, ABI.md). Older runtimes warn below it.
pub const MIN_DRIVER_1_3: RuntimeVersion = RuntimeVersion::new(0, 9, 7);

/// Whether a host check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Check {
    /// Run it, unless the runtime is edge-infer's test double (which needs no NPU and
    /// ignores the CPU mask). Default.
    #[default]
    Auto,
    /// Always run it.
    Always,
    /// Never run it.
    Skip,
}

impl Check {
    fn enabled(self, test_double: bool) -> bool {
        match self {
            Check::Auto => !test_double,
            Check::Always => true,
            Check::Skip => false,
        }
    }
}

/// Checks of the machine: CPUs named by the mask are online, an NPU device node is
/// accessible, the RKNPU driver is new enough for the runtime. The roots are injectable
/// for tests.
///
/// `RKLLM_SKIP_NPU_CHECK=1` in the environment turns an [`Check::Auto`] NPU check off (for
/// containers that expose the NPU differently).
#[derive(Debug, Clone)]
pub struct HostChecks {
    root: PathBuf,
    sysfs_root: PathBuf,
    dev_root: PathBuf,
    cpus_online: Check,
    npu: Check,
    driver: Check,
}

impl Default for HostChecks {
    fn default() -> Self {
        HostChecks {
            root: "/".into(),
            sysfs_root: "/sys".into(),
            dev_root: "/dev".into(),
            cpus_online: Check::Auto,
            npu: Check::Auto,
            driver: Check::Auto,
        }
    }
}

impl HostChecks {
    /// Looks at a whole fake (or mounted) system tree: `<root>/sys`, `<root>/dev` and
    /// `<root>/proc/device-tree` (the board's SoC, for the model's target platform).
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        self.sysfs_root = root.join("sys");
        self.dev_root = root.join("dev");
        self.root = root;
        self
    }
    pub(crate) fn root_path(&self) -> &Path {
        &self.root
    }
    /// Reads `<root>/devices/system/cpu/online` and `<root>/module/rknpu/version` instead
    /// of under `/sys`.
    pub fn sysfs_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.sysfs_root = root.into();
        self
    }
    /// Looks for `<root>/dri/renderD*` and `<root>/rknpu` instead of under `/dev`.
    pub fn dev_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.dev_root = root.into();
        self
    }
    /// Policy for the online-CPU check.
    pub fn cpus_online(mut self, c: Check) -> Self {
        self.cpus_online = c;
        self
    }
    /// Policy for the NPU device check.
    pub fn npu(mut self, c: Check) -> Self {
        self.npu = c;
        self
    }

    /// Policy for the RKNPU driver version check (a 1.3 runtime refuses drivers older
    /// than 0.9.7; an unreadable version passes).
    pub fn npu_driver(mut self, c: Check) -> Self {
        self.driver = c;
        self
    }

    pub(crate) fn driver_check_enabled(&self, test_double: bool) -> bool {
        self.driver.enabled(test_double)
    }

    pub(crate) fn run(&self, mask: u32, test_double: bool) -> Result<()> {
        if self.cpus_online.enabled(test_double) {
            check_cpus_online(&self.sysfs_root, mask)?;
        }
        if self.driver.enabled(test_double) {
            if let Some((found, path)) = npu_driver_version(&self.sysfs_root) {
                check_driver(Abi::COMPILED, &found, &path.display().to_string())?;
            }
        }
        let env_skip = std::env::var("RKLLM_SKIP_NPU_CHECK").is_ok_and(|v| v == "1");
        if self.npu.enabled(test_double) && !(self.npu == Check::Auto && env_skip) {
            check_npu(&self.dev_root)?;
        }
        Ok(())
    }
}

pub(crate) fn check_context_len(n: i32) -> Result<()> {
    if n <= 0 || n > MAX_CONTEXT_LEN {
        return Err(Error::InvalidContextLen(n));
    }
    Ok(())
}

pub(crate) fn check_cpu_mask(mask: u32, count: i32) -> Result<()> {
    if mask == 0 {
        return Err(Error::EmptyCpuMask);
    }
    let bits = mask.count_ones();
    if count != bits as i32 {
        return Err(Error::CpuCountMismatch { mask, count, bits });
    }
    Ok(())
}

/// The RKNPU driver version from `<sysfs>/module/rknpu/version` or
/// `<sysfs>/kernel/debug/rknpu/version` (texts like `0.9.8` or `RKNPU driver: v0.9.8`).
pub fn npu_driver_version(sysfs_root: &Path) -> Option<(RuntimeVersion, PathBuf)> {
    ["module/rknpu/version", "kernel/debug/rknpu/version"]
        .iter()
        .map(|p| sysfs_root.join(p))
        .find_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let at = text.find(|c: char| c.is_ascii_digit())?;
            Some((RuntimeVersion::parse_prefix(&text[at..])?, p))
        })
}

/// Refuses a 1.3 runtime on a driver older than 0.9.7 (`from` names where the version came from).
pub(crate) fn check_driver(abi: Abi, found: &RuntimeVersion, from: &str) -> Result<()> {
    if abi == Abi::V1_3 && *found < MIN_DRIVER_1_3 {
        return Err(Error::NpuDriverTooOld {
            found: found.to_string(),
            required: MIN_DRIVER_1_3.to_string(),
            from: from.to_owned(),
        });
    }
    Ok(())
}

/// The board's SoC from the device tree (`<root>/proc/device-tree/compatible`, e.g.
/// `rockchip,rk3588`), upper-cased as the runtime prints it (`RK3588`); `None` off a
/// Rockchip board.
pub fn board_platform(root: &Path) -> Option<String> {
    let bytes = std::fs::read(root.join("proc/device-tree/compatible")).ok()?;
    bytes
        .split(|&b| b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .find_map(|s| s.strip_prefix("rockchip,"))
        .filter(|soc| soc.starts_with("rk") || soc.starts_with("rv"))
        .map(|soc| {
            // rk3588s is an RK3588 to the runtime.
            let soc = soc.trim_end_matches('s');
            soc.to_ascii_uppercase()
        })
}

pub(crate) fn check_cpus_online(sysfs_root: &Path, mask: u32) -> Result<()> {
    let path = sysfs_root.join("devices/system/cpu/online");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::CpuListUnreadable {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let online = parse_cpu_list(&text).map_err(|e| Error::CpuListUnreadable {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let offline: Vec<u32> = (0..32)
        .filter(|&c| mask & (1 << c) != 0 && !online.contains(&(c as usize)))
        .collect();
    if !offline.is_empty() {
        return Err(Error::CpusOffline {
            mask,
            offline,
            online: text.trim().to_owned(),
            path,
        });
    }
    Ok(())
}

/// Finds an accessible NPU node: `<dev>/dri/renderD*` or `<dev>/rknpu`.
pub(crate) fn check_npu(dev_root: &Path) -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(dev_root.join("dri"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("renderD"))
                })
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    candidates.push(dev_root.join("rknpu"));
    let mut first_err = None;
    for c in &candidates {
        if std::fs::symlink_metadata(c).is_err() {
            continue;
        }
        match std::fs::OpenOptions::new().read(true).write(true).open(c) {
            Ok(_) => return Ok(c.clone()),
            Err(source) => {
                first_err.get_or_insert(Error::NpuDeviceInaccessible {
                    path: c.clone(),
                    source,
                });
            }
        }
    }
    Err(first_err.unwrap_or(Error::NoNpuDevice {
        searched: vec![dev_root.join("dri/renderD*"), dev_root.join("rknpu")],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_and_count() {
        assert!(check_cpu_mask(0xF0, 4).is_ok());
        assert!(matches!(
            check_cpu_mask(0xF0, 3),
            Err(Error::CpuCountMismatch { bits: 4, .. })
        ));
        assert!(matches!(check_cpu_mask(0, 0), Err(Error::EmptyCpuMask)));
    }

    #[test]
    fn context_len_bounds() {
        assert!(check_context_len(1).is_ok() && check_context_len(16384).is_ok());
        assert!(matches!(
            check_context_len(0),
            Err(Error::InvalidContextLen(0))
        ));
        assert!(matches!(
            check_context_len(-5),
            Err(Error::InvalidContextLen(-5))
        ));
        assert!(matches!(
            check_context_len(16385),
            Err(Error::InvalidContextLen(16385))
        ));
    }
}
