//! The memory ceilings: the server's (over all loaded models) and each model's own,
//! checked against edge-infer's estimate before a model loads.

use std::collections::BTreeMap;

use edge_infer::MemoryEstimate;
use parking_lot::Mutex;

/// The estimated bytes of the models that are loaded (or loading), against the server's
/// ceiling.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    limit: Option<u64>,
    held: Mutex<BTreeMap<String, u64>>,
}

pub(crate) fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

impl Ledger {
    pub(crate) fn new(limit: Option<u64>) -> Self {
        Ledger {
            limit,
            held: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Bytes held by loaded models.
    pub(crate) fn held(&self) -> u64 {
        self.held.lock().values().sum()
    }

    /// Reserves `est` for `model`, or says why it does not fit, with both numbers.
    pub(crate) fn reserve(
        &self,
        model: &str,
        est: &MemoryEstimate,
        model_limit: Option<u64>,
    ) -> Result<(), String> {
        let need = est.total_bytes();
        if let Some(l) = model_limit {
            if need > l {
                return Err(format!(
                    "model `{model}` needs an estimated {} ({est}) but its memory limit is {} \
                     (--model-memory-limit {model}=...); lower its context or K/V cache types, \
                     or raise the limit",
                    mib(need),
                    mib(l)
                ));
            }
        }
        let mut held = self.held.lock();
        held.remove(model);
        if let Some(limit) = self.limit {
            let used: u64 = held.values().sum();
            if used + need > limit {
                let others = held
                    .iter()
                    .map(|(m, b)| format!("`{m}` {}", mib(*b)))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(format!(
                    "model `{model}` needs an estimated {} ({est}) but only {} of the server's \
                     {} memory ceiling is free{}; unload a model, or raise --memory-limit",
                    mib(need),
                    mib(limit.saturating_sub(used)),
                    mib(limit),
                    if others.is_empty() {
                        String::new()
                    } else {
                        format!(" (held by {others})")
                    }
                ));
            }
        }
        held.insert(model.to_string(), need);
        crate::metrics::memory_reserved(held.values().sum());
        Ok(())
    }

    pub(crate) fn release(&self, model: &str) {
        let mut held = self.held.lock();
        if held.remove(model).is_some() {
            crate::metrics::memory_reserved(held.values().sum());
        }
    }
}

/// This process's resident memory (VmRSS), if readable.
pub(crate) fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(mb: u64) -> MemoryEstimate {
        MemoryEstimate {
            weights_bytes: mb << 20,
            kv_bytes: 0,
            compute_bytes: 0,
            source: edge_infer::EstimateSource::RkllmFileSize,
        }
    }

    #[test]
    fn ceilings_say_both_numbers() {
        let l = Ledger::new(Some(300 << 20));
        l.reserve("a", &est(200), None).unwrap();
        let e = l.reserve("b", &est(150), None).unwrap_err();
        assert!(
            e.contains("150.0 MiB") && e.contains("100.0 MiB") && e.contains("300.0 MiB"),
            "{e}"
        );
        assert!(e.contains("`a` 200.0 MiB"), "{e}");
        l.release("a");
        l.reserve("b", &est(150), None).unwrap();
        let e = l.reserve("c", &est(50), Some(10 << 20)).unwrap_err();
        assert!(e.contains("50.0 MiB") && e.contains("10.0 MiB"), "{e}");
        assert_eq!(l.held(), 150 << 20);
    }
}
