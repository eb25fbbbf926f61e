//! Every model's slot, and routing: a request names a profile or a model; a profile is
//! served by its first model that loads and fits, and under load (queue full, or an
//! expected wait over the latency budget) by its next model that is already loaded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use edge_infer::{Registry, Request};

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::memory::Ledger;
use crate::slot::{Refused, Slot, SlotSettings, Ticket};

/// The models the server holds.
pub(crate) struct Pool {
    pub registry: Arc<Registry>,
    pub slots: BTreeMap<String, Arc<Slot>>,
    pub ledger: Arc<Ledger>,
    pub shutting_down: Arc<AtomicBool>,
    queue_size: usize,
    retry_after: Duration,
    budgets: BTreeMap<String, Duration>,
}

/// Where a request went.
pub(crate) struct Routed {
    pub ticket: Ticket,
    /// The model serving it.
    pub model: String,
}

impl Pool {
    pub(crate) fn new(registry: Registry, cfg: &ServerConfig) -> Pool {
        let registry = Arc::new(registry);
        let ledger = Arc::new(Ledger::new(cfg.memory_limit));
        let shutting_down = Arc::new(AtomicBool::new(false));
        let slots = registry
            .models()
            .into_iter()
            .map(|name| {
                let settings = SlotSettings {
                    queue_size: cfg.queue_size,
                    idle_unload: cfg.idle_unload,
                    memory_limit: cfg.model_memory_limits.get(name).copied(),
                };
                let slot = Slot::new(
                    name.to_string(),
                    registry.clone(),
                    ledger.clone(),
                    settings,
                    shutting_down.clone(),
                );
                (name.to_string(), slot)
            })
            .collect();
        Pool {
            registry,
            slots,
            ledger,
            shutting_down,
            queue_size: cfg.queue_size,
            retry_after: cfg.retry_after,
            budgets: cfg.latency_budgets.clone(),
        }
    }

    /// Whether any model is loading (`/health` is then 503).
    pub(crate) fn loading(&self) -> bool {
        self.slots
            .values()
            .any(|s| matches!(s.state(), crate::slot::State::Loading))
    }

    /// Loads every model of every profile (`--eager`); failures are logged, not fatal.
    pub(crate) async fn load_all(&self) {
        let mut names: Vec<&str> = Vec::new();
        for p in self.registry.profiles() {
            for m in self.registry.profile(p).unwrap_or(&[]) {
                if !names.contains(&m.as_str()) {
                    names.push(m);
                }
            }
        }
        for name in names {
            if let Err(f) = self.slots[name].ensure_loaded().await {
                tracing::warn!(model = name, "not loaded at start: {}", f.message);
            }
        }
    }

    /// Routes `request` to the model or profile `target` (the default profile when `None`).
    pub(crate) async fn route(
        &self,
        target: Option<&str>,
        request: Request,
        budget: Option<Duration>,
        request_id: &str,
    ) -> Result<Routed, ApiError> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(ApiError::ShuttingDown);
        }
        let target = match target {
            Some(t) => t,
            None => self.registry.default_profile().ok_or_else(|| {
                ApiError::bad("model", "no `model` given and the registry has no profiles")
            })?,
        };
        if self.registry.profiles().contains(&target) {
            return self
                .route_profile(target, request, budget, request_id)
                .await;
        }
        let slot = self.slots.get(target).ok_or_else(|| {
            ApiError::ModelNotFound(format!(
                "no model or profile is named `{target}`; profiles: {}; models: {}",
                self.registry.profiles().join(", "),
                self.registry.models().join(", ")
            ))
        })?;
        if let Err(f) = slot.ensure_loaded().await {
            return Err(f.to_error());
        }
        self.submit(slot, request, request_id)
    }

    fn submit(
        &self,
        slot: &Arc<Slot>,
        request: Request,
        request_id: &str,
    ) -> Result<Routed, ApiError> {
        match slot.submit(request, request_id.to_string()) {
            Ok(ticket) => Ok(Routed {
                ticket,
                model: slot.name.clone(),
            }),
            Err(Refused::QueueFull { queued }) => Err(ApiError::QueueFull {
                model: slot.name.clone(),
                queued: queued.max(self.queue_size),
                retry_after: self.retry_after,
            }),
            Err(Refused::ShuttingDown) => Err(ApiError::ShuttingDown),
        }
    }

    async fn route_profile(
        &self,
        profile: &str,
        request: Request,
        budget: Option<Duration>,
        request_id: &str,
    ) -> Result<Routed, ApiError> {
        let models = self.registry.profile(profile)?;
        let budget = budget.or_else(|| self.budgets.get(profile).copied());
        let over = |s: &Slot| budget.is_some_and(|b| s.expected_wait() > b);
        let mut skipped: Vec<String> = Vec::new();
        for (i, name) in models.iter().enumerate() {
            let slot = &self.slots[name];
            if let Err(f) = slot.ensure_loaded().await {
                tracing::info!(profile, model = %name, "skipped: {}", f.message);
                skipped.push(format!("`{name}`: {}", f.message));
                continue;
            }
            let full = slot.is_full();
            if full || over(slot) {
                let reason = if full { "queue_full" } else { "latency_budget" };
                let alt = models[i + 1..]
                    .iter()
                    .map(|m| &self.slots[m])
                    .find(|s| s.is_loaded() && !s.is_full() && !over(s));
                if let Some(alt) = alt {
                    tracing::info!(profile, from = %name, to = %alt.name, reason, "fallback under load");
                    crate::metrics::fallback(profile, name, &alt.name, reason);
                    return self.submit(alt, request, request_id);
                }
                // Nothing better is loaded: queue here if there is room.
            }
            if !skipped.is_empty() {
                crate::metrics::fallback(profile, &models[0], name, "unavailable");
            }
            return self.submit(slot, request, request_id);
        }
        Err(ApiError::Unavailable {
            message: format!(
                "no model of profile `{profile}` could be loaded:{}",
                skipped
                    .iter()
                    .map(|s| format!("\n  - {s}"))
                    .collect::<String>()
            ),
            code: "model_unavailable",
        })
    }

    /// Shutdown, first step: refuse new work; queued jobs are answered 503.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Shutdown, after the grace period: cancel what still runs.
    pub(crate) fn cancel_all(&self) {
        for s in self.slots.values() {
            s.cancel_running();
        }
    }

    /// Shutdown, last step: close every queue and wait for the model threads to free
    /// their models.
    pub(crate) fn join(&self) {
        for s in self.slots.values() {
            if let Some(t) = s.close() {
                let _ = t.join();
            }
        }
    }
}
