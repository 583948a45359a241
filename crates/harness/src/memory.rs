//! Peak resident memory of this process (Linux), for per-phase memory figures.
//!
//! The kernel keeps the high-water mark of the resident set (`VmHWM` in `/proc/self/status`);
//! writing `5` to `/proc/self/clear_refs` resets it to the current resident size (Linux >= 4.0),
//! so `reset_peak_rss(); work(); peak_rss_mb()` measures the peak of `work` alone (plus what was
//! already resident). Elsewhere both return `None`: a figure we cannot measure is absent, not 0.

use std::fs;

/// Hands freed heap memory back to the kernel (glibc's `malloc_trim`), then resets the peak-RSS
/// mark to the current resident size. Returns whether the kernel took the reset.
///
/// The trim matters: [`crate::tune_allocator`] keeps freed memory in the process so training
/// steps reuse it, which would otherwise carry one phase's high-water mark into the next.
pub fn reset_peak_rss() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set size of this process in MiB since start or the last [`reset_peak_rss`].
pub fn peak_rss_mb() -> Option<f64> {
    status_kib("VmHWM:").map(|k| k as f64 / 1024.0)
}

/// Current resident set size in MiB.
pub fn rss_mb() -> Option<f64> {
    status_kib("VmRSS:").map(|k| k as f64 / 1024.0)
}

fn status_kib(key: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.trim_start_matches(key)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn peak_follows_an_allocation_and_resets() {
        assert!(reset_peak_rss());
        let before = peak_rss_mb().unwrap();
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let during = peak_rss_mb().unwrap();
        assert!(during >= before + 60.0, "{before} -> {during}");
        drop(big);
        assert!(reset_peak_rss());
        let after = peak_rss_mb().unwrap();
        assert!(
            after < during - 30.0,
            "reset left the peak at {after} (was {during})"
        );
        assert!(rss_mb().unwrap() > 0.0);
    }
}
