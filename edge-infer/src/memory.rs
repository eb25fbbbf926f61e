//! What a model will cost in memory, known before it is loaded.
//!
//! llama.cpp models: a dry run of llama.cpp's own accounting. The model is opened with
//! `no_alloc` (metadata only, allocations simulated) and a context is created with the
//! registry's n_ctx, K/V types, per-layer layout, flash attention and `swa_full`; its
//! memory breakdown gives the weights, KV cache and compute buffers llama.cpp would
//! allocate, the same numbers [`edge_infer_llama::MemoryReport`] gives for the loaded
//! model when its weights are read rather than mapped (a mapped model also accounts the
//! mapped file range around repacked weights: about 5% more on the default model). RKLLM
//! models: the `.rkllm` file's size (the runtime loads the whole file; its
//! KV cache lives in the NPU's memory and is not accounted here).

use std::ffi::CString;
use std::fmt;
use std::path::Path;

use edge_infer_llama::raw::AsRaw;
use edge_infer_llama_sys as sys;

use crate::config::{LlamaModel, ModelConfig, Registry, DEFAULT_MODEL_FILE};
use crate::error::{Error, ModelError, Result};

/// Where a [`MemoryEstimate`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateSource {
    /// llama.cpp's memory accounting, from a dry run that allocates nothing.
    LlamaAccounting,
    /// The size of the RKLLM model file.
    RkllmFileSize,
}

/// The memory a model needs once loaded, estimated before loading it
/// ([`Registry::estimate_memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Model weights.
    pub weights_bytes: u64,
    /// The KV cache at the model's n_ctx and K/V types (0 for RKLLM: not accounted).
    pub kv_bytes: u64,
    /// Compute (scratch) buffers (0 for RKLLM).
    pub compute_bytes: u64,
    /// How it was found.
    pub source: EstimateSource,
}

impl MemoryEstimate {
    /// Weights + KV + compute.
    pub fn total_bytes(&self) -> u64 {
        self.weights_bytes + self.kv_bytes + self.compute_bytes
    }
}

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        write!(
            f,
            "{:.1} MiB (weights {:.1}, KV {:.1}, compute {:.1}; {})",
            mib(self.total_bytes()),
            mib(self.weights_bytes),
            mib(self.kv_bytes),
            mib(self.compute_bytes),
            match self.source {
                EstimateSource::LlamaAccounting => "llama.cpp accounting",
                EstimateSource::RkllmFileSize => "RKLLM file size",
            }
        )
    }
}

impl Registry {
    /// Estimates what model `name` will take in memory, without loading it: for a
    /// llama.cpp model from llama.cpp's own accounting at the registry's settings, for an
    /// RKLLM model from its file size. The default model must be in the cache
    /// (`cargo xtask fetch-model`); it is never downloaded here.
    ///
    /// ```
    /// let registry = edge_infer::Registry::builtin();
    /// let need = registry.estimate_memory("gemma-3-270m")?;
    /// assert!(need.weights_bytes > 200 << 20, "{need}");
    /// println!("gemma-3-270m needs {need}");
    /// # Ok::<(), edge_infer::Error>(())
    /// ```
    pub fn estimate_memory(&self, name: &str) -> Result<MemoryEstimate> {
        let cfg = self.model(name).ok_or_else(|| Error::UnknownModel {
            model: name.to_string(),
            known: self.models.keys().cloned().collect(),
        })?;
        let fail = |cause: ModelError| Error::model(name, cfg.backend(), cause);
        let path = if cfg.file() == DEFAULT_MODEL_FILE {
            crate::router::default_model().map_err(fail)?
        } else {
            self.resolve(cfg.file())
        };
        if !path.is_file() {
            return Err(fail(ModelError::FileMissing(path)));
        }
        match cfg {
            ModelConfig::Rkllm(_) => {
                let size = std::fs::metadata(&path)
                    .map_err(|e| fail(ModelError::Setting(format!("{}: {e}", path.display()))))?
                    .len();
                Ok(MemoryEstimate {
                    weights_bytes: size,
                    kv_bytes: 0,
                    compute_bytes: 0,
                    source: EstimateSource::RkllmFileSize,
                })
            }
            ModelConfig::Llama(m) => dry_run(&path, m).map_err(fail),
        }
    }
}

/// Frees what a dry run created, in order (context before model), on every path.
struct DryRun {
    model: *mut sys::llama_model,
    ctx: *mut sys::llama_context,
}

impl Drop for DryRun {
    fn drop(&mut self) {
        // SAFETY: each pointer is NULL or was returned by llama.cpp's constructor and is
        // freed only here, the context first because it borrows the model.
        unsafe {
            if !self.ctx.is_null() {
                sys::llama_free(self.ctx);
            }
            if !self.model.is_null() {
                sys::llama_model_free(self.model);
            }
        }
    }
}

fn dry_run(path: &Path, cfg: &LlamaModel) -> Result<MemoryEstimate, ModelError> {
    let bad = |what: &str| ModelError::Setting(format!("memory estimate: {what}"));
    // The same settings llama.rs gives the context.
    let type_k = cfg.cache_type_k.unwrap_or(edge_infer_llama::KvType::F16);
    let type_v = cfg.cache_type_v.unwrap_or(edge_infer_llama::KvType::F16);
    let layers = cfg.cache_layers.clone().unwrap_or_default();
    let fa = cfg.flash_attention.unwrap_or_default();
    let cpath = CString::new(path.to_str().ok_or_else(|| bad("the path is not UTF-8"))?)
        .map_err(|_| bad("the path holds a NUL byte"))?;
    // Routes llama.cpp's log and initialises its backend, once per process.
    let _ = edge_infer_llama::system_info();

    let mut run = DryRun {
        model: std::ptr::null_mut(),
        ctx: std::ptr::null_mut(),
    };
    // SAFETY: a plain getter returning a struct by value.
    let mut mp = unsafe { sys::llama_model_default_params() };
    // As llama.cpp's own fit pass does it: a dry run cannot map the file.
    mp.no_alloc = true;
    mp.load_mode = sys::LLAMA_LOAD_MODE_NONE;
    // SAFETY: cpath is NUL-terminated and outlives the call; llama.cpp catches its own
    // exceptions and returns NULL on failure.
    run.model = unsafe { sys::llama_model_load_from_file(cpath.as_ptr(), mp) };
    if run.model.is_null() {
        return Err(bad("llama.cpp could not read the model's metadata"));
    }
    // SAFETY: valid model pointer.
    let n_layer = unsafe { sys::llama_model_n_layer(run.model) }.max(0) as u32;
    let table = layers.resolve(n_layer)?;

    // SAFETY: a plain getter returning a struct by value.
    let mut cp = unsafe { sys::llama_context_default_params() };
    // edge-infer-llama's ContextParams defaults (n_batch 2048, n_ubatch 512, one sequence).
    cp.n_ctx = cfg.context_len();
    cp.n_batch = 2048;
    cp.n_ubatch = 512;
    cp.n_seq_max = 1;
    cp.type_k = type_k.as_raw();
    cp.type_v = type_v.as_raw();
    cp.swa_full = cfg.swa_full.unwrap_or(true);
    cp.flash_attn_type = match fa {
        edge_infer_llama::FlashAttention::Auto => sys::LLAMA_FLASH_ATTN_TYPE_AUTO,
        edge_infer_llama::FlashAttention::On => sys::LLAMA_FLASH_ATTN_TYPE_ENABLED,
        edge_infer_llama::FlashAttention::Off => sys::LLAMA_FLASH_ATTN_TYPE_DISABLED,
    };
    run.ctx = match &table {
        // SAFETY: valid model; params passed by value.
        None => unsafe { sys::llama_init_from_model(run.model, cp) },
        Some(t) => {
            let k: Vec<sys::ggml_type> = t.iter().map(|l| l.k.as_raw()).collect();
            let v: Vec<sys::ggml_type> = t.iter().map(|l| l.v.as_raw()).collect();
            // SAFETY: k and v hold t.len() entries (resolved for this model's n_layer)
            // and outlive the call, which copies them.
            unsafe {
                sys::llama_init_from_model_kv_layers(run.model, cp, k.as_ptr(), v.as_ptr(), t.len())
            }
        }
    };
    if run.ctx.is_null() {
        return Err(bad(
            "llama.cpp refused the context settings (see its log for why)",
        ));
    }
    let (mut m, mut c, mut k) = (0usize, 0usize, 0usize);
    // SAFETY: valid context; the out-pointers are valid locals; the shim catches C++
    // exceptions and returns non-zero.
    let rc = unsafe { sys::edge_llama_memory_breakdown(run.ctx, &mut m, &mut c, &mut k) };
    if rc != 0 {
        return Err(bad("llama.cpp's memory breakdown failed"));
    }
    Ok(MemoryEstimate {
        weights_bytes: m as u64,
        kv_bytes: c as u64,
        compute_bytes: k as u64,
        source: EstimateSource::LlamaAccounting,
    })
}
