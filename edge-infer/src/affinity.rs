//! CPU placement of the generation thread.
//!
//! llama.cpp here is built with OpenMP (the `rk3588` profile always; native builds too).
//! libgomp creates a thread's worker pool at the first parallel region that thread runs,
//! and new threads inherit the creating thread's CPU affinity. So pinning the one thread
//! that calls `llama_decode` *before its first decode* places all of llama.cpp's compute
//! threads on those cores. Without OpenMP, ggml's own thread pool is created from the
//! same thread and inherits the mask the same way. (`OMP_PROC_BIND`/`GOMP_CPU_AFFINITY`
//! in the environment override this; leave them unset.)

use std::io;

/// Pins the calling thread to `cores`.
pub(crate) fn pin_current_thread(cores: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cores {
        if c >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("core {c} is beyond CPU_SETSIZE"),
            ));
        }
        // SAFETY: `c` is below CPU_SETSIZE, so the bit is inside `set`.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's CPU affinity.
#[cfg(test)]
pub(crate) fn current_affinity() -> io::Result<Vec<usize>> {
    // SAFETY: as above.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is writable for the size passed.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
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
    fn pins_a_thread_and_reports_bad_cores() {
        let all = current_affinity().unwrap();
        assert!(!all.is_empty());
        let first = all[0];
        std::thread::spawn(move || {
            pin_current_thread(&[first]).unwrap();
            assert_eq!(current_affinity().unwrap(), vec![first]);
            // A core that does not exist: the kernel refuses an empty effective set.
            assert!(pin_current_thread(&[1000]).is_err());
            assert!(pin_current_thread(&[usize::MAX]).is_err());
        })
        .join()
        .unwrap();
    }
}
