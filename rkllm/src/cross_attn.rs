//! Cross-attention inputs (`rkllm_set_cross_attn_params`): the encoder's K/V caches, mask
//! and positions for encoder-decoder models. The model must be initialised with
//! [`LlmBuilder::cross_attention`](crate::LlmBuilder::cross_attention).
use crate::error::{Error, Result};
use crate::llm::Llm;
use edge_infer_rkllm_sys as sys;

/// The encoder's outputs for `num_tokens` tokens.
///
/// ```
/// use edge_infer_rkllm::CrossAttention;
/// let ca = CrossAttention::new(vec![0.0; 16], vec![0.0; 16], vec![1.0; 2], vec![0, 1]).unwrap();
/// assert_eq!(ca.num_tokens(), 2);
/// assert!(CrossAttention::new(vec![0.0; 16], vec![0.0; 15], vec![1.0; 2], vec![0, 1]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CrossAttention {
    k: Vec<f32>,
    v: Vec<f32>,
    mask: Vec<f32>,
    pos: Vec<i32>,
}

impl CrossAttention {
    /// K and V caches of equal length, a multiple of the token count; one mask value and one
    /// position per token.
    pub fn new(k: Vec<f32>, v: Vec<f32>, mask: Vec<f32>, pos: Vec<i32>) -> Result<CrossAttention> {
        let n = pos.len();
        let bad = |m: String| Err(Error::InvalidArgument(format!("cross-attention: {m}")));
        if n == 0 || n > i32::MAX as usize {
            return bad(format!("{n} encoder positions"));
        }
        if mask.len() != n {
            return bad(format!("{} mask values for {n} tokens", mask.len()));
        }
        if k.len() != v.len() || k.is_empty() || k.len() % n != 0 {
            return bad(format!(
                "K ({}) and V ({}) must be the same non-zero multiple of the {n} tokens",
                k.len(),
                v.len()
            ));
        }
        Ok(CrossAttention { k, v, mask, pos })
    }

    /// The encoder token count.
    pub fn num_tokens(&self) -> usize {
        self.pos.len()
    }
}

/// The buffers the runtime was given, kept alive until replaced or the model is gone.
pub(crate) struct CrossAttnBuffers(CrossAttention);

impl CrossAttnBuffers {
    pub(crate) fn param(&self) -> sys::RKLLMCrossAttnParam {
        let c = &self.0;
        // The C API takes mutable pointers; the runtime only reads them.
        sys::RKLLMCrossAttnParam {
            encoder_k_cache: c.k.as_ptr() as *mut f32,
            encoder_v_cache: c.v.as_ptr() as *mut f32,
            encoder_mask: c.mask.as_ptr() as *mut f32,
            encoder_pos: c.pos.as_ptr() as *mut i32,
            num_tokens: c.pos.len() as i32,
        }
    }
}

impl Llm {
    /// Hands the encoder's outputs to the runtime for the next runs.
    pub fn set_cross_attn_params(&self, params: CrossAttention) -> Result<()> {
        if !self.cross_attention {
            return Err(Error::InvalidArgument(
                "cross-attention needs LlmBuilder::cross_attention(true) at init".into(),
            ));
        }
        let buffers = Box::new(CrossAttnBuffers(params));
        let keep = self.keep.as_ref().expect("alive while borrowed");
        let _guard = self.shared.gate.acquire()?;
        let mut param = buffers.param();
        // SAFETY: live handle, no run (gate); the buffers are kept alive below, in case the
        // runtime keeps the pointers instead of copying.
        let rc = unsafe {
            (self.shared.api().rkllm_set_cross_attn_params)(self.shared.handle(), &mut param)
        };
        if rc != 0 {
            return Err(Error::CallFailed {
                function: "rkllm_set_cross_attn_params",
                code: rc,
            });
        }
        // The previous buffers are dropped only now that the runtime has the new ones.
        *crate::gate::lock(&keep.cross_attn) = Some(buffers);
        Ok(())
    }
}
