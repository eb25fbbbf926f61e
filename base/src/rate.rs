//! Throughput figures, computed one way for every backend's stats.

use std::time::Duration;

/// `n` tokens over `d`, in tokens per second; 0 when either is zero (no division by zero,
/// no infinity in a stats line).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(edge_infer_base::rate::tokens_per_second(50, Duration::from_millis(500)), 100.0);
/// assert_eq!(edge_infer_base::rate::tokens_per_second(5, Duration::ZERO), 0.0);
/// ```
pub fn tokens_per_second(n: usize, d: Duration) -> f64 {
    if n == 0 || d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}
