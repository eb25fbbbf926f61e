//! Opening models by name or by profile, with fallback.

use std::fmt;

use crate::config::{BackendKind, ModelConfig, Registry, DEFAULT_MODEL_FILE};
use crate::error::{Error, ModelError, Result, Skipped};
use crate::generator::Generator;

/// How a profile was resolved: which model serves it and why the ones before it were
/// skipped.
#[derive(Debug)]
pub struct RouteReport {
    /// The profile.
    pub profile: String,
    /// The model that serves it.
    pub served: String,
    /// Its backend.
    pub backend: BackendKind,
    /// The models tried before it, in profile order, with the reason each was skipped.
    pub skipped: Vec<Skipped>,
}

impl fmt::Display for RouteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.skipped {
            writeln!(f, "skipped {s}")?;
        }
        write!(
            f,
            "profile `{}` served by `{}` ({})",
            self.profile, self.served, self.backend
        )
    }
}

/// An opened profile: the generator and how it was chosen.
pub struct Routed {
    /// The generator of the first model that opened.
    pub generator: Box<dyn Generator>,
    /// How the profile was resolved.
    pub report: RouteReport,
}

impl fmt::Debug for Routed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routed")
            .field("model", self.generator.info())
            .field("report", &self.report)
            .finish()
    }
}

impl Registry {
    /// Opens the first model of `profile` that works, falling back down the list when a
    /// backend is unavailable (no RKLLM runtime or NPU device, missing file, load or init
    /// failure). Unknown profile: [`Error::UnknownProfile`]; empty: [`Error::EmptyProfile`];
    /// every model failing: [`Error::AllModelsFailed`] with each cause.
    pub fn open_profile(&self, profile: &str) -> Result<Routed> {
        self.open_profile_with(profile, |_| {})
    }

    /// [`open_profile`](Registry::open_profile), calling `on_skip` as each model is
    /// skipped (to show progress while later models load).
    pub fn open_profile_with(
        &self,
        profile: &str,
        mut on_skip: impl FnMut(&Skipped),
    ) -> Result<Routed> {
        let models = self.profile(profile)?;
        let mut skipped = Vec::new();
        for name in models {
            let backend = self.models[name].backend();
            match self.open_model_inner(name) {
                Ok(generator) => {
                    for s in &skipped {
                        log::info!("profile `{profile}`: skipped {s}");
                    }
                    return Ok(Routed {
                        generator,
                        report: RouteReport {
                            profile: profile.to_string(),
                            served: name.clone(),
                            backend,
                            skipped,
                        },
                    });
                }
                Err(cause) => {
                    let s = Skipped {
                        model: name.clone(),
                        backend,
                        cause,
                    };
                    on_skip(&s);
                    skipped.push(s);
                }
            }
        }
        Err(Error::AllModelsFailed {
            profile: profile.to_string(),
            failures: skipped,
        })
    }

    /// Opens one model by name, without fallback.
    pub fn open_model(&self, name: &str) -> Result<Box<dyn Generator>> {
        let backend = self
            .models
            .get(name)
            .ok_or_else(|| Error::UnknownModel {
                model: name.to_string(),
                known: self.models.keys().cloned().collect(),
            })?
            .backend();
        self.open_model_inner(name)
            .map_err(|cause| Error::model(name, backend, cause))
    }

    fn open_model_inner(&self, name: &str) -> Result<Box<dyn Generator>, ModelError> {
        let cfg = &self.models[name];
        let path = if cfg.file() == DEFAULT_MODEL_FILE {
            default_model()?
        } else {
            self.resolve(cfg.file())
        };
        Ok(match cfg {
            ModelConfig::Llama(m) => Box::new(crate::llama::open(name, m, path, &self.base_dir)?),
            ModelConfig::Rkllm(m) => Box::new(crate::npu::open(name, m, path, &self.base_dir)?),
        })
    }
}

/// `file = "default"`: `EDGE_INFER_MODEL`, else the default model in the cache directory
/// (put there by the workspace's `cargo xtask fetch-model`); this crate never downloads.
pub(crate) fn default_model() -> Result<std::path::PathBuf, ModelError> {
    edge_infer_cache::default_model().map_err(|e| ModelError::DefaultModel(e.to_string()))
}
