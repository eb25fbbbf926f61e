//! The runtime settings a model of the registry gets, defaults resolved: what a status page
//! shows before or after the model is loaded.

use std::fmt;

use edge_infer_llama::KvType;

use crate::config::{BackendKind, ModelConfig, Registry};
use crate::error::{Error, Result};

/// A model's effective runtime settings, with the registry's defaults applied the way the
/// backends apply them ([`Registry::runtime_settings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeSettings {
    /// The backend.
    pub backend: BackendKind,
    /// The context window in tokens.
    pub n_ctx: u32,
    /// llama.cpp: generation threads (`None` for RKLLM).
    pub threads: Option<u32>,
    /// llama.cpp: the cores the generation thread is pinned to (empty: not pinned).
    pub cores: Vec<usize>,
    /// llama.cpp: K cache type (`None` for RKLLM).
    pub cache_type_k: Option<String>,
    /// llama.cpp: V cache type.
    pub cache_type_v: Option<String>,
    /// llama.cpp: per-layer K/V layout (`uniform` unless set).
    pub cache_layers: Option<String>,
    /// llama.cpp: `auto`, `on` or `off`.
    pub flash_attention: Option<String>,
    /// llama.cpp: full-size sliding-window cache.
    pub swa_full: Option<bool>,
    /// RKLLM: the CPU mask.
    pub cpu_mask: Option<u32>,
}

impl fmt::Display for RuntimeSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} · n_ctx {}", self.backend, self.n_ctx)?;
        if let Some(t) = self.threads {
            write!(f, " · {t} threads")?;
        }
        if !self.cores.is_empty() {
            write!(f, " on cores {:?}", self.cores)?;
        }
        if let (Some(k), Some(v)) = (&self.cache_type_k, &self.cache_type_v) {
            write!(f, " · K {k} / V {v}")?;
        }
        if let Some(fa) = &self.flash_attention {
            write!(f, " · flash attention {fa}")?;
        }
        if let Some(m) = self.cpu_mask {
            write!(f, " · CPU mask {m:#x}")?;
        }
        Ok(())
    }
}

impl Registry {
    /// The runtime settings model `name` gets (threads, cores, n_ctx, K/V types, flash
    /// attention; RKLLM's CPU mask), defaults resolved on this machine.
    ///
    /// ```
    /// let r = edge_infer::Registry::builtin();
    /// let s = r.runtime_settings("gemma-3-270m")?;
    /// assert_eq!(s.n_ctx, 4096);
    /// assert_eq!(s.cache_type_k.as_deref(), Some("f16"));
    /// # Ok::<(), edge_infer::Error>(())
    /// ```
    pub fn runtime_settings(&self, name: &str) -> Result<RuntimeSettings> {
        let cfg = self.model(name).ok_or_else(|| Error::UnknownModel {
            model: name.to_string(),
            known: self.models.keys().cloned().collect(),
        })?;
        Ok(match cfg {
            ModelConfig::Llama(m) => {
                // As llama.rs opens the model: big cores unless given, one thread per core.
                let cores = match &m.cores {
                    Some(c) => c.clone(),
                    None => edge_infer_llama::big_cores().unwrap_or_default(),
                };
                let threads = match m.threads {
                    Some(t) => t,
                    None if !cores.is_empty() => cores.len() as u32,
                    None => edge_infer_llama::default_threads() as u32,
                };
                RuntimeSettings {
                    backend: BackendKind::Llama,
                    n_ctx: m.context_len(),
                    threads: Some(threads),
                    cores,
                    cache_type_k: Some(m.cache_type_k.unwrap_or(KvType::F16).to_string()),
                    cache_type_v: Some(m.cache_type_v.unwrap_or(KvType::F16).to_string()),
                    cache_layers: Some(m.cache_layers.clone().unwrap_or_default().to_string()),
                    flash_attention: Some(m.flash_attention.unwrap_or_default().to_string()),
                    swa_full: Some(m.swa_full.unwrap_or(true)),
                    cpu_mask: None,
                }
            }
            ModelConfig::Rkllm(m) => RuntimeSettings {
                backend: BackendKind::Rkllm,
                n_ctx: m.context_len(),
                threads: None,
                cores: Vec::new(),
                cache_type_k: None,
                cache_type_v: None,
                cache_layers: None,
                flash_attention: None,
                swa_full: None,
                cpu_mask: Some(m.cpu_mask.unwrap_or(edge_infer_rkllm::RK3588_A76_MASK)),
            },
        })
    }
}
