//! Peak resident memory (Linux `VmHWM`), per model.

/// Whose memory: this process, or a server's by pid.
fn proc_dir(pid: Option<u32>) -> String {
    match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".into(),
    }
}

/// The peak resident set size (`VmHWM`) of a process, if readable.
pub fn peak_rss_bytes(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("{}/status", proc_dir(pid))).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak to the current resident size (writing 5 to `clear_refs`, Linux 4.0+),
/// so the next model's peak is its own and not the previous model's. `false` when the
/// kernel or permissions do not allow it.
pub fn reset_peak_rss(pid: Option<u32>) -> bool {
    std::fs::write(format!("{}/clear_refs", proc_dir(pid)), "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_read_and_reset() {
        let before = peak_rss_bytes(None).expect("Linux has VmHWM");
        assert!(before > 0);
        // Touch 64 MiB, free it, and see the peak come back down after a reset.
        let v = vec![1u8; 64 << 20];
        assert!(v.iter().step_by(4096).all(|b| *b == 1));
        let high = peak_rss_bytes(None).unwrap();
        assert!(high >= 64 << 20, "{high}");
        drop(v);
        if reset_peak_rss(None) {
            let after = peak_rss_bytes(None).unwrap();
            assert!(after < high, "{after} !< {high}");
        }
        assert_eq!(peak_rss_bytes(Some(u32::MAX)), None);
    }
}
