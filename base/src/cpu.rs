//! CPUs: lists as the kernel writes them (`0-3,6`), the big cores of a big.LITTLE CPU,
//! and pinning the calling thread.
//!
//! Pinning the thread that runs a backend's first computation places its worker threads
//! too: OpenMP (llama.cpp's RK3588 build) and ggml's own pool create their workers from
//! that thread, and new threads inherit its affinity.

use std::path::Path;

use crate::error::{Error, Result};

/// The largest CPU number a list may name (Linux's largest `NR_CPUS` is 8192).
pub const MAX_CPU: usize = 8191;

/// Parses a CPU list as in sysfs (`/sys/devices/system/cpu/online`) and `taskset -c`:
/// numbers and inclusive ranges separated by commas, e.g. `0-3,5,7-8`. Whitespace around
/// parts and a trailing newline are ignored; an empty list is empty.
///
/// ```
/// use edge_infer_base::cpu::parse_cpu_list;
/// assert_eq!(parse_cpu_list("4-7\n")?, [4, 5, 6, 7]);
/// assert_eq!(parse_cpu_list("0,2-3")?, [0, 2, 3]);
/// assert!(parse_cpu_list("3-1").is_err());
/// # Ok::<(), edge_infer_base::Error>(())
/// ```
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>> {
    let bad = |reason: String| Error::CpuList {
        list: list.trim().to_string(),
        reason,
    };
    let number = |s: &str| -> Result<usize> {
        let n = s
            .trim()
            .parse::<usize>()
            .map_err(|_| bad(format!("`{}` is not a CPU number", s.trim())))?;
        if n > MAX_CPU {
            return Err(bad(format!("CPU {n} is beyond {MAX_CPU}")));
        }
        Ok(n)
    };
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.trim().is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(bad(format!("the range {a}-{b} runs backwards")));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(number(part)?),
        }
    }
    Ok(cpus)
}

/// The CPUs with the highest `cpu_capacity` in sysfs (the A76 cores 4-7 on RK3588), or
/// `None` when the kernel does not report capacities (then all cores are alike).
pub fn big_cores() -> Option<Vec<usize>> {
    big_cores_in(Path::new("/sys"))
}

/// [`big_cores`] under another sysfs root (for tests with a fake tree).
pub fn big_cores_in(sysfs: &Path) -> Option<Vec<usize>> {
    let dir = sysfs.join("devices/system/cpu");
    let mut caps = Vec::new();
    for entry in std::fs::read_dir(&dir).ok()? {
        let name = entry.ok()?.file_name();
        let name = name.to_str()?;
        let Some(id) = name
            .strip_prefix("cpu")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let cap = std::fs::read_to_string(dir.join(name).join("cpu_capacity")).ok()?;
        caps.push((id, cap.trim().parse::<u32>().ok()?));
    }
    let max = caps.iter().map(|c| c.1).max()?;
    let mut big: Vec<usize> = caps
        .into_iter()
        .filter(|c| c.1 == max)
        .map(|c| c.0)
        .collect();
    big.sort_unstable();
    Some(big)
}

/// Threads to use by default: the number of big cores on a big.LITTLE CPU (4 on RK3588),
/// else all available cores.
pub fn default_threads() -> usize {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    big_cores()
        .map(|b| b.len())
        .filter(|&n| n > 0)
        .unwrap_or(all)
}

/// Pins the calling thread to `cpus` (see the module docs for why that places a
/// backend's workers too).
#[cfg(target_os = "linux")]
pub fn pin_current_thread(cpus: &[usize]) -> Result<()> {
    let fail = |source| Error::Pin {
        cpus: cpus.to_vec(),
        source,
    };
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        if c >= libc::CPU_SETSIZE as usize {
            return Err(fail(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("CPU {c} is beyond CPU_SETSIZE ({})", libc::CPU_SETSIZE),
            )));
        }
        // SAFETY: `c` is below CPU_SETSIZE, so the bit is inside `set`.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The CPUs the calling thread may run on.
#[cfg(target_os = "linux")]
pub fn current_affinity() -> Result<Vec<usize>> {
    // SAFETY: as above.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is writable for the size passed.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(Error::Pin {
            cpus: Vec::new(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `c` is below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(
            parse_cpu_list("0-3,5,7-8\n").unwrap(),
            [0, 1, 2, 3, 5, 7, 8]
        );
        assert_eq!(parse_cpu_list(" 4 - 7 ").unwrap(), [4, 5, 6, 7]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        for bad in ["3-1", "x", "1-", "9000", "0-9000", "1,,-2"] {
            let e = parse_cpu_list(bad).unwrap_err();
            assert!(matches!(e, Error::CpuList { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn big_cores_from_a_fake_rk3588_tree() {
        let root = tempfile::tempdir().unwrap();
        for (cpu, cap) in [
            (0, 414),
            (1, 414),
            (2, 414),
            (3, 414),
            (4, 1024),
            (5, 1024),
            (6, 1024),
            (7, 1024),
        ] {
            let d = root.path().join(format!("devices/system/cpu/cpu{cpu}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("cpu_capacity"), format!("{cap}\n")).unwrap();
        }
        std::fs::create_dir_all(root.path().join("devices/system/cpu/cpufreq")).unwrap();
        assert_eq!(big_cores_in(root.path()), Some(vec![4, 5, 6, 7]));
        // No capacities (x86, most VMs): no answer rather than a guess.
        std::fs::remove_file(root.path().join("devices/system/cpu/cpu0/cpu_capacity")).unwrap();
        assert_eq!(big_cores_in(root.path()), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pins_a_thread_and_reports_bad_cores() {
        let all = current_affinity().unwrap();
        assert!(!all.is_empty());
        let first = all[0];
        std::thread::spawn(move || {
            pin_current_thread(&[first]).unwrap();
            assert_eq!(current_affinity().unwrap(), vec![first]);
            // A core that does not exist: the kernel refuses an empty effective set.
            assert!(matches!(
                pin_current_thread(&[1000]),
                Err(Error::Pin { .. })
            ));
            assert!(matches!(
                pin_current_thread(&[usize::MAX]),
                Err(Error::Pin { .. })
            ));
        })
        .join()
        .unwrap();
    }
}
