//! CPU topology: which cores are the big ones, and how many threads to use by default.

/// Threads to use by default: the number of big cores on a big.LITTLE CPU (4 on RK3588,
/// read from `cpu_capacity` in sysfs), else all available cores.
pub fn default_threads() -> usize {
    let all = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    big_cores()
        .map(|b| b.len())
        .filter(|&n| n > 0)
        .unwrap_or(all)
}

/// The CPUs with the highest `cpu_capacity` (the A76 cores 4–7 on RK3588), or `None`
/// when the kernel does not report capacities (then all cores are alike).
pub fn big_cores() -> Option<Vec<usize>> {
    let mut caps = Vec::new();
    for entry in std::fs::read_dir("/sys/devices/system/cpu").ok()? {
        let name = entry.ok()?.file_name();
        let name = name.to_str()?;
        let Some(id) = name
            .strip_prefix("cpu")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let cap =
            std::fs::read_to_string(format!("/sys/devices/system/cpu/{name}/cpu_capacity")).ok()?;
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
