//! Sampling settings, at init and (1.3) per run.

/// Sampling settings; unset fields keep the runtime's defaults (at init) or the init
/// values (per run, 1.3).
///
/// ```
/// let s = edge_infer_rkllm::Sampling::new().top_k(1).temperature(0.7).mirostat(2, 5.0, 0.1);
/// assert_eq!(s.top_k_value(), Some(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sampling {
    pub(crate) top_k: Option<i32>,
    pub(crate) top_p: Option<f32>,
    pub(crate) temperature: Option<f32>,
    pub(crate) repeat_penalty: Option<f32>,
    pub(crate) frequency_penalty: Option<f32>,
    pub(crate) presence_penalty: Option<f32>,
    pub(crate) mirostat: Option<(i32, f32, f32)>,
}

impl Sampling {
    /// Nothing set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Top-k (1 = greedy).
    pub fn top_k(mut self, k: i32) -> Self {
        self.top_k = Some(k);
        self
    }
    /// Nucleus sampling threshold.
    pub fn top_p(mut self, p: f32) -> Self {
        self.top_p = Some(p);
        self
    }
    /// Temperature.
    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = Some(t);
        self
    }
    /// Repetition penalty.
    pub fn repeat_penalty(mut self, p: f32) -> Self {
        self.repeat_penalty = Some(p);
        self
    }
    /// Frequency penalty.
    pub fn frequency_penalty(mut self, p: f32) -> Self {
        self.frequency_penalty = Some(p);
        self
    }
    /// Presence penalty.
    pub fn presence_penalty(mut self, p: f32) -> Self {
        self.presence_penalty = Some(p);
        self
    }
    /// Mirostat mode (0 off, 1, 2) with tau and eta.
    pub fn mirostat(mut self, mode: i32, tau: f32, eta: f32) -> Self {
        self.mirostat = Some((mode, tau, eta));
        self
    }
    /// The top-k, if set.
    pub fn top_k_value(&self) -> Option<i32> {
        self.top_k
    }

    pub(crate) fn apply_to_param(&self, p: &mut edge_infer_rkllm_sys::RKLLMParam) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { p.$f = v; } )* };
        }
        set!(
            top_k,
            top_p,
            temperature,
            repeat_penalty,
            frequency_penalty,
            presence_penalty
        );
        if let Some((m, tau, eta)) = self.mirostat {
            p.mirostat = m;
            p.mirostat_tau = tau;
            p.mirostat_eta = eta;
        }
    }

    #[cfg(not(rkllm_abi_1_2))]
    pub(crate) fn apply_to_sampling(&self, s: &mut edge_infer_rkllm_sys::RKLLMSamplingParam) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { s.$f = v; } )* };
        }
        set!(
            top_k,
            top_p,
            temperature,
            repeat_penalty,
            frequency_penalty,
            presence_penalty
        );
        if let Some((m, tau, eta)) = self.mirostat {
            s.mirostat = m;
            s.mirostat_tau = tau;
            s.mirostat_eta = eta;
        }
    }
}
