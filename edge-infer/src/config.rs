//! The model registry: models, their backends and settings, and profiles, from TOML.
//!
//! See `examples/edge-infer.toml` in the repository for every field, documented.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edge_infer_llama::{FlashAttention, KvLayers, KvType};
use serde::Deserialize;

pub use crate::backend_kind::BackendKind;
use crate::error::{Error, Result};

/// The `file` value that means the default test model (gemma-3-270m Q4_K_M, fetched on
/// first use; `EDGE_INFER_MODEL` overrides it).
pub const DEFAULT_MODEL_FILE: &str = "default";

/// One model of the registry: a llama.cpp model or an RKLLM model, each with the settings
/// of its backend only, typed.
///
/// In TOML, `backend = "llama"` or `"rkllm"` picks the variant, and a field of the other
/// backend is an error that names it.
///
/// ```
/// use edge_infer::{KvType, LlamaModel, ModelConfig, Registry};
/// let mut m = LlamaModel::new("default");
/// m.context = Some(2048);
/// m.cache_type_k = Some(KvType::Q8_0);
/// let mut r = Registry::builtin();
/// r.set_model("small", m.into())?;
/// assert_eq!(r.model("small").unwrap().context_len(), 2048);
/// # Ok::<(), edge_infer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawModel")]
#[non_exhaustive]
pub enum ModelConfig {
    /// `backend = "llama"`: a GGUF file on llama.cpp.
    Llama(LlamaModel),
    /// `backend = "rkllm"`: an `.rkllm` file on Rockchip's runtime.
    Rkllm(RkllmModel),
}

/// A llama.cpp model's settings (`backend = "llama"`). `None` means the default.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LlamaModel {
    /// The GGUF file: absolute, relative to the registry file, `~/...`, or `"default"`
    /// (the default test model).
    pub file: String,
    /// Free text shown by the router (e.g. what the model is and why it is here).
    pub description: Option<String>,
    /// Context window in tokens (`n_ctx`). Default 4096.
    pub context: Option<u32>,
    /// Generation threads. Default: the number of cores in `cores`.
    pub threads: Option<u32>,
    /// CPUs the generation thread (and so llama.cpp's OpenMP workers) is pinned to.
    /// Default: the big cores from `/sys/devices/system/cpu/cpu*/cpu_capacity` (4–7 on
    /// RK3588); no pinning when the kernel reports no capacities. `[]` turns pinning off.
    pub cores: Option<Vec<usize>>,
    /// K cache type (`f16`, `q8_0`, `q4_0`, ...). Default `f16`.
    pub cache_type_k: Option<KvType>,
    /// V cache type (quantized needs flash attention). Default `f16`.
    pub cache_type_v: Option<KvType>,
    /// Per-layer K/V types, overriding `cache_type_k`/`cache_type_v`:
    /// `"hybrid:SPLIT:EARLY:LATE"` (layers `0..SPLIT` in EARLY, the rest in LATE, e.g.
    /// `"hybrid:6:q8_0:q4_0"`), `"table:T,T,..."` (one entry per layer, `K/V` or one
    /// type for both), or `"uniform"`. Measured quality and memory: docs/KV_CACHE.md.
    /// Default `uniform`.
    pub cache_layers: Option<KvLayers>,
    /// `auto`, `on` or `off`. Default `auto`.
    pub flash_attention: Option<FlashAttention>,
    /// Keep the whole context in sliding-window layers (Gemma 3 and others) so a chat's
    /// history can be reused at any point. Default `true`.
    pub swa_full: Option<bool>,
    /// A Jinja chat template file (as in a model's `chat_template.jinja`), relative to the
    /// registry file, used instead of the GGUF's own.
    pub chat_template: Option<String>,
}

/// An RKLLM model's settings (`backend = "rkllm"`). `None` means the default.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RkllmModel {
    /// The `.rkllm` file: absolute, relative to the registry file, or `~/...`.
    pub file: String,
    /// Free text shown by the router.
    pub description: Option<String>,
    /// Context window in tokens (`max_context_len`). Default 4096.
    pub context: Option<u32>,
    /// CPUs the runtime may use, as a bit mask. Default `0xF0` (RK3588's A76 cores).
    pub cpu_mask: Option<u32>,
    /// The `librkllmrt.so` to load. Default: the system's (linked or found by the dynamic
    /// loader).
    pub runtime: Option<String>,
    /// The model's `tokenizer.json`, to count prompt tokens (context policy).
    pub tokenizer: Option<String>,
    /// Text put before each user prompt; with `prompt_postfix`, system prompts are set
    /// through `rkllm_set_chat_template`.
    pub prompt_prefix: Option<String>,
    /// Text put after each user prompt.
    pub prompt_postfix: Option<String>,
    /// A Jinja chat template file, relative to the registry file. The runtime renders
    /// prompts itself, and `.rkllm` files carry no Jinja: this template gives the reply's
    /// format, so that tool calls and reasoning are parsed as on the CPU.
    pub chat_template: Option<String>,
}

/// A model table as written. Parsed flat, not as a serde-tagged enum: an internally tagged
/// enum is buffered before its fields are read, and TOML errors then point at the table's
/// header instead of the bad line (measured with toml 0.8: `context = "big"` was reported
/// at line 1 without naming the field, here at its own line).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    backend: BackendKind,
    file: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    context: Option<u32>,
    #[serde(default)]
    threads: Option<u32>,
    #[serde(default)]
    cores: Option<Vec<usize>>,
    #[serde(default, deserialize_with = "parsed")]
    cache_type_k: Option<KvType>,
    #[serde(default, deserialize_with = "parsed")]
    cache_type_v: Option<KvType>,
    #[serde(default, deserialize_with = "parsed")]
    cache_layers: Option<KvLayers>,
    #[serde(default, deserialize_with = "parsed")]
    flash_attention: Option<FlashAttention>,
    #[serde(default)]
    swa_full: Option<bool>,
    #[serde(default)]
    chat_template: Option<String>,
    #[serde(default)]
    cpu_mask: Option<u32>,
    #[serde(default)]
    runtime: Option<String>,
    #[serde(default)]
    tokenizer: Option<String>,
    #[serde(default)]
    prompt_prefix: Option<String>,
    #[serde(default)]
    prompt_postfix: Option<String>,
}

/// A string field through the type's own parser, so that its error (which names the
/// value and what is accepted) is reported at the field's line.
fn parsed<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    Option::<String>::deserialize(d)?
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .transpose()
}

impl TryFrom<RawModel> for ModelConfig {
    type Error = String;

    fn try_from(raw: RawModel) -> std::result::Result<Self, String> {
        // Destructured whole: a new field does not compile until it is given a backend.
        let RawModel {
            backend,
            file,
            description,
            context,
            threads,
            cores,
            cache_type_k,
            cache_type_v,
            cache_layers,
            flash_attention,
            swa_full,
            chat_template,
            cpu_mask,
            runtime,
            tokenizer,
            prompt_prefix,
            prompt_postfix,
        } = raw;
        let refuse = |fields: &[(&str, bool)], hint: &str| match fields.iter().find(|f| f.1) {
            Some((field, _)) => Err(format!("`{field}` is not valid here: {hint}")),
            None => Ok(()),
        };
        let m = match backend {
            BackendKind::Llama => {
                refuse(
                    &[
                        ("cpu_mask", cpu_mask.is_some()),
                        ("runtime", runtime.is_some()),
                        ("tokenizer", tokenizer.is_some()),
                        ("prompt_prefix", prompt_prefix.is_some()),
                        ("prompt_postfix", prompt_postfix.is_some()),
                    ],
                    "it applies to rkllm models only",
                )?;
                ModelConfig::Llama(LlamaModel {
                    file,
                    description,
                    context,
                    threads,
                    cores,
                    cache_type_k,
                    cache_type_v,
                    cache_layers,
                    flash_attention,
                    swa_full,
                    chat_template,
                })
            }
            BackendKind::Rkllm => {
                refuse(
                    &[
                        ("threads", threads.is_some()),
                        ("cores", cores.is_some()),
                        ("cache_type_k", cache_type_k.is_some()),
                        ("cache_type_v", cache_type_v.is_some()),
                        ("cache_layers", cache_layers.is_some()),
                        ("flash_attention", flash_attention.is_some()),
                        ("swa_full", swa_full.is_some()),
                    ],
                    "it applies to llama models only (RKLLM takes `cpu_mask`)",
                )?;
                ModelConfig::Rkllm(RkllmModel {
                    file,
                    description,
                    context,
                    cpu_mask,
                    runtime,
                    tokenizer,
                    prompt_prefix,
                    prompt_postfix,
                    chat_template,
                })
            }
        };
        m.validate()?;
        Ok(m)
    }
}

impl LlamaModel {
    /// A llama.cpp model with every setting at its default.
    pub fn new(file: impl Into<String>) -> Self {
        LlamaModel {
            file: file.into(),
            description: None,
            context: None,
            threads: None,
            cores: None,
            cache_type_k: None,
            cache_type_v: None,
            cache_layers: None,
            flash_attention: None,
            swa_full: None,
            chat_template: None,
        }
    }

    /// The context window: `context`, default 4096.
    pub fn context_len(&self) -> u32 {
        self.context.unwrap_or(4096)
    }
}

impl RkllmModel {
    /// An RKLLM model with every setting at its default.
    pub fn new(file: impl Into<String>) -> Self {
        RkllmModel {
            file: file.into(),
            description: None,
            context: None,
            cpu_mask: None,
            runtime: None,
            tokenizer: None,
            prompt_prefix: None,
            prompt_postfix: None,
            chat_template: None,
        }
    }

    /// The context window: `context`, default 4096.
    pub fn context_len(&self) -> u32 {
        self.context.unwrap_or(4096)
    }
}

impl From<LlamaModel> for ModelConfig {
    fn from(m: LlamaModel) -> Self {
        ModelConfig::Llama(m)
    }
}

impl From<RkllmModel> for ModelConfig {
    fn from(m: RkllmModel) -> Self {
        ModelConfig::Rkllm(m)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    models: BTreeMap<String, ModelConfig>,
}

/// Models and profiles. Profiles map a use (`fast`, `default`, `quality`, ...) to an
/// ordered list of models; [`open_profile`](Registry::open_profile) opens the first that
/// works.
///
/// ```
/// use edge_infer::Registry;
/// let r = Registry::from_toml_str(r#"
///     default_profile = "default"
///     [profiles]
///     default = ["tiny"]
///     [models.tiny]
///     backend = "llama"
///     file = "default"
///     context = 1024
/// "#)?;
/// assert_eq!(r.profile("default")?, ["tiny"]);
/// assert_eq!(r.model("tiny").unwrap().context_len(), 1024);
/// let err = Registry::from_toml_str("[models.x]\nfile = \"a.gguf\"\n").unwrap_err();
/// assert!(err.to_string().contains("missing field `backend`"), "{err}");
/// # Ok::<(), edge_infer::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Registry {
    pub(crate) models: BTreeMap<String, ModelConfig>,
    pub(crate) profiles: BTreeMap<String, Vec<String>>,
    default_profile: Option<String>,
    pub(crate) base_dir: PathBuf,
}

/// The registry used when no file is given (`Registry::builtin`).
pub(crate) const BUILTIN_REGISTRY: &str = r#"
default_profile = "default"

[profiles]
fast = ["qwen2.5-0.5b-npu", "gemma-3-270m"]
default = ["gemma-3-270m"]
quality = ["gemma-3-1b", "gemma-3-270m"]

[models."qwen2.5-0.5b-npu"]
backend = "rkllm"
file = "models/qwen2.5-0.5b-instruct-w8a8-rk3588.rkllm"
description = "Qwen2.5 0.5B instruct, w8a8, on the NPU"
context = 4096

[models.gemma-3-270m]
backend = "llama"
file = "default"
description = "gemma-3-270m Q4_K_M (the default test model; a base model)"
context = 4096

[models.gemma-3-1b]
backend = "llama"
file = "models/gemma-3-1b-it-Q4_K_M.gguf"
description = "gemma-3-1b-it Q4_K_M"
context = 4096
"#;

impl Registry {
    /// Parses a registry. Relative files are relative to the current directory.
    pub fn from_toml_str(text: &str) -> Result<Registry> {
        Self::parse(text, None, PathBuf::from("."))
    }

    /// Loads a registry file. Relative model files are relative to its directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Registry> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Self::parse(&text, Some(path.to_path_buf()), base)
    }

    /// The registry used when no file is given (so examples run anywhere):
    /// `fast` = an NPU model (skipped when there is no RKLLM runtime, NPU or file), then
    /// the default test model; `default` = the default test model; `quality` = a 1B CPU
    /// model if present under `models/`, then the default test model.
    pub fn builtin() -> Registry {
        Self::from_toml_str(BUILTIN_REGISTRY).expect("the built-in registry is valid")
    }

    fn parse(text: &str, path: Option<PathBuf>, base_dir: PathBuf) -> Result<Registry> {
        let bad = |message: String| Error::Config {
            path: path.clone(),
            message,
        };
        let file: RegistryFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        for (name, m) in &file.models {
            if let ModelConfig::Rkllm(r) = m {
                rkllm_context_fits(m.context_len(), &resolve_path(&base_dir, &r.file))
                    .map_err(|e| bad(format!("model `{name}`: {e}")))?;
            }
        }
        for (profile, models) in &file.profiles {
            for m in models {
                if !file.models.contains_key(m) {
                    return Err(bad(format!(
                        "profile `{profile}` lists `{m}`, which is not under [models]"
                    )));
                }
            }
        }
        if let Some(d) = &file.default_profile {
            if !file.profiles.contains_key(d) {
                return Err(bad(format!(
                    "default_profile `{d}` is not under [profiles]"
                )));
            }
        }
        Ok(Registry {
            models: file.models,
            profiles: file.profiles,
            default_profile: file.default_profile,
            base_dir,
        })
    }

    /// Profile names, sorted.
    pub fn profiles(&self) -> Vec<&str> {
        self.profiles.keys().map(String::as_str).collect()
    }

    /// Model names, sorted.
    pub fn models(&self) -> Vec<&str> {
        self.models.keys().map(String::as_str).collect()
    }

    /// The profile to use when none is named: `default_profile`, else `default` if it
    /// exists, else the first profile.
    pub fn default_profile(&self) -> Option<&str> {
        self.default_profile
            .as_deref()
            .or_else(|| self.profiles.contains_key("default").then_some("default"))
            .or_else(|| self.profiles.keys().next().map(String::as_str))
    }

    /// The models of a profile, in order. An unknown profile is [`Error::UnknownProfile`];
    /// an empty one [`Error::EmptyProfile`].
    pub fn profile(&self, name: &str) -> Result<&[String]> {
        let models = self
            .profiles
            .get(name)
            .ok_or_else(|| Error::UnknownProfile {
                profile: name.to_string(),
                known: self.profiles.keys().cloned().collect(),
            })?;
        if models.is_empty() {
            return Err(Error::EmptyProfile {
                profile: name.to_string(),
            });
        }
        Ok(models)
    }

    /// A model's settings.
    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.get(name)
    }

    /// Adds or replaces a model (e.g. to point one at a file found at run time).
    pub fn set_model(&mut self, name: impl Into<String>, model: ModelConfig) -> Result<()> {
        let name = name.into();
        model.validate().map_err(|e| Error::Config {
            path: None,
            message: format!("model `{name}`: {e}"),
        })?;
        self.models.insert(name, model);
        Ok(())
    }

    pub(crate) fn resolve(&self, file: &str) -> PathBuf {
        resolve_path(&self.base_dir, file)
    }
}

pub(crate) fn resolve_path(base: &Path, file: &str) -> PathBuf {
    if let Some(rest) = file.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    let p = Path::new(file);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// An RKLLM model's `context` against the limit in its file's header, where the file exists
/// and its header can be read (other file problems are reported when the model is opened,
/// so that a profile can fall back).
fn rkllm_context_fits(context: u32, path: &Path) -> std::result::Result<(), String> {
    let report = edge_infer_rkllm::FileCheck::new(path)
        .context(context.min(i32::MAX as u32) as i32)
        .run();
    match report.problems.iter().find(|p| {
        matches!(
            p,
            edge_infer_rkllm::Problem::ContextAboveModelLimit { .. }
                | edge_infer_rkllm::Problem::ContextOutOfRange { .. }
        )
    }) {
        Some(p) => Err(format!("`context`: {p}")),
        None => Ok(()),
    }
}

impl ModelConfig {
    /// The backend that runs it.
    pub fn backend(&self) -> BackendKind {
        match self {
            ModelConfig::Llama(_) => BackendKind::Llama,
            ModelConfig::Rkllm(_) => BackendKind::Rkllm,
        }
    }

    /// The model file as written in the registry.
    pub fn file(&self) -> &str {
        match self {
            ModelConfig::Llama(m) => &m.file,
            ModelConfig::Rkllm(m) => &m.file,
        }
    }

    /// The description shown by the router.
    pub fn description(&self) -> Option<&str> {
        match self {
            ModelConfig::Llama(m) => m.description.as_deref(),
            ModelConfig::Rkllm(m) => m.description.as_deref(),
        }
    }

    /// The context window: `context`, default 4096.
    pub fn context_len(&self) -> u32 {
        match self {
            ModelConfig::Llama(m) => m.context_len(),
            ModelConfig::Rkllm(m) => m.context_len(),
        }
    }

    /// The checks that no type can express.
    fn validate(&self) -> std::result::Result<(), String> {
        if self.file().trim().is_empty() {
            return Err("`file` is empty".into());
        }
        let context = match self {
            ModelConfig::Llama(m) => m.context,
            ModelConfig::Rkllm(m) => m.context,
        };
        if context == Some(0) {
            return Err("`context` must be at least 1".into());
        }
        match self {
            ModelConfig::Llama(m) => {
                if m.threads == Some(0) {
                    return Err("`threads` must be at least 1".into());
                }
            }
            ModelConfig::Rkllm(m) => {
                if m.cpu_mask == Some(0) {
                    return Err(
                        "`cpu_mask` is 0: name at least one CPU (0xF0 = RK3588's A76 cores 4-7)"
                            .into(),
                    );
                }
                if m.prompt_prefix.is_some() != m.prompt_postfix.is_some() {
                    return Err("set both `prompt_prefix` and `prompt_postfix`, or neither".into());
                }
                if m.file == DEFAULT_MODEL_FILE {
                    return Err("`file = \"default\"` names the default GGUF test model, which only llama models can use".into());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_is_valid_and_ordered() {
        let r = Registry::builtin();
        assert_eq!(
            r.profile("fast").unwrap(),
            ["qwen2.5-0.5b-npu", "gemma-3-270m"]
        );
        assert_eq!(r.default_profile(), Some("default"));
        assert_eq!(
            r.model("qwen2.5-0.5b-npu").unwrap().backend(),
            BackendKind::Rkllm
        );
    }

    #[test]
    fn wrong_type_names_the_line() {
        let e = Registry::from_toml_str(
            "[models.a]\nbackend = \"llama\"\nfile = \"x\"\ncontext = \"big\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 4"), "{e}");
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn unknown_fields_and_backends_are_refused() {
        let e = Registry::from_toml_str("[models.a]\nbackend = \"llama\"\nfile = \"x\"\nctx = 5\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown field `ctx`") && e.contains("line 4"),
            "{e}"
        );
        let e = Registry::from_toml_str("[models.a]\nbackend = \"gpu\"\nfile = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `gpu`"), "{e}");
    }

    #[test]
    fn cross_backend_fields_and_bad_values() {
        let e =
            Registry::from_toml_str("[models.a]\nbackend = \"rkllm\"\nfile = \"x\"\ncores = [4]\n")
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("[models.a]") && e.contains("`cores` is not valid here"),
            "{e}"
        );
        let e = Registry::from_toml_str(
            "[models.a]\nbackend = \"llama\"\nfile = \"x\"\ncache_type_k = \"q9\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 4") && e.contains("q9"), "{e}");
        for bad in [
            "hybrid:x:q8_0:q4_0",
            "hybrid:6:q8_0",
            "layers",
            "table:f16,q9",
        ] {
            let e = Registry::from_toml_str(&format!(
                "[models.a]\nbackend = \"llama\"\nfile = \"x\"\ncache_layers = {bad:?}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("line 4") && e.contains("cache_layers"),
                "{bad}: {e}"
            );
        }
        Registry::from_toml_str(
            "[models.a]\nbackend = \"llama\"\nfile = \"x\"\ncache_layers = \"hybrid:6:q8_0:q4_0\"\n",
        )
        .unwrap();
    }

    #[test]
    fn rkllm_context_is_checked_against_the_file_when_the_registry_loads() {
        let dir = std::env::temp_dir().join(format!("cfg-rkllm-ctx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // edge-infer's test-double model format has a readable header (a real .rkllm's is
        // not published).
        std::fs::write(
            dir.join("m.rkllm"),
            "RKLLM-TEST-DOUBLE\nmax_context_len=2048\n",
        )
        .unwrap();
        let reg = |ctx: u32| {
            let toml =
                format!("[models.n]\nbackend = \"rkllm\"\nfile = \"m.rkllm\"\ncontext = {ctx}\n");
            std::fs::write(dir.join("r.toml"), toml).unwrap();
            Registry::load(dir.join("r.toml"))
        };
        let e = reg(4096).unwrap_err().to_string();
        assert!(e.contains("model `n`") && e.contains("limit 2048"), "{e}");
        reg(2048).unwrap();
        let e = reg(20000).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
        // A file that is not there yet is a matter for open time (fallback), not load time.
        std::fs::remove_file(dir.join("m.rkllm")).unwrap();
        reg(8192).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn profiles_must_name_known_models() {
        let e = Registry::from_toml_str("[profiles]\nfast = [\"nope\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("profile `fast` lists `nope`"), "{e}");
    }

    #[test]
    fn paths_resolve_against_the_base() {
        assert_eq!(
            resolve_path(Path::new("/etc/x"), "m.gguf"),
            Path::new("/etc/x/m.gguf")
        );
        assert_eq!(
            resolve_path(Path::new("/etc/x"), "/m.gguf"),
            Path::new("/m.gguf")
        );
    }
}
