//! What a run consumes.

/// Who speaks: `user` for prompts, `tool` for function-call results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Role {
    /// A user turn (default).
    #[default]
    User,
    /// The result of a tool call, answering a `<tool_call>` the model made.
    Tool,
    /// Any other role string the model's template knows.
    Other(String),
}

impl Role {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Role::User => "user",
            Role::Tool => "tool",
            Role::Other(s) => s,
        }
    }
}

/// The placeholder a multimodal prompt holds once per image, where that image goes.
pub const IMAGE_PLACEHOLDER: &str = "<image>";

/// Image embeddings from a vision encoder, for [`Input::multimodal`]: `n_images` images of
/// `tokens_per_image` rows each, every row of the model's hidden size.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pub(crate) data: Vec<f32>,
    pub(crate) n_images: usize,
    pub(crate) tokens_per_image: usize,
    pub(crate) size: (usize, usize),
    pub(crate) tags: Option<(String, String, String)>,
}

impl Images {
    /// `data` holds `n_images × tokens_per_image` rows.
    pub fn new(data: impl Into<Vec<f32>>, n_images: usize, tokens_per_image: usize) -> Images {
        Images {
            data: data.into(),
            n_images,
            tokens_per_image,
            size: (0, 0),
            tags: None,
        }
    }
    /// The encoder's input size in pixels (width, height).
    pub fn size(mut self, width: usize, height: usize) -> Images {
        self.size = (width, height);
        self
    }
    /// The model's image tags: the text before, after and inside (repeated per token) each
    /// image, e.g. `<|vision_start|>`, `<|vision_end|>`, `<|image_pad|>`. On the 1.2 ABI they
    /// are set once at init ([`LlmBuilder::image_tags`](crate::LlmBuilder::image_tags)) instead.
    pub fn tags(mut self, start: &str, end: &str, content: &str) -> Images {
        self.tags = Some((start.into(), end.into(), content.into()));
        self
    }
}

/// The payload of an [`Input`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InputKind {
    /// Text, templated and tokenized by the runtime.
    Prompt(String),
    /// Token ids.
    Tokens(Vec<i32>),
    /// Embeddings: `n_tokens` rows of the model's hidden size.
    Embeddings { data: Vec<f32>, n_tokens: usize },
    /// A prompt with one [`IMAGE_PLACEHOLDER`] per image, and the images' embeddings.
    Multimodal { prompt: String, images: Images },
}

/// One run's input. Sizes are checked against the model before the runtime sees them:
/// token ids against the vocabulary, embedding rows against the hidden size.
///
/// ```
/// use edge_infer_rkllm::{Input, Role};
/// let i = Input::prompt("What is 2+2?").thinking(true);
/// assert_eq!(i.role(), &Role::User);
/// let t = Input::tool_response(r#"{"temperature": 21}"#);
/// assert_eq!(t.role(), &Role::Tool);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub(crate) role: Role,
    pub(crate) enable_thinking: bool,
    pub(crate) kind: InputKind,
    /// False for the `unsafe` constructors: ids and widths are the caller's promise.
    pub(crate) checked: bool,
}

impl Input {
    fn of(kind: InputKind) -> Input {
        Input {
            role: Role::User,
            enable_thinking: false,
            kind,
            checked: true,
        }
    }
    /// A user text prompt.
    pub fn prompt(text: impl Into<String>) -> Input {
        Input::of(InputKind::Prompt(text.into()))
    }
    /// A tool's reply (role `tool`), after the model asked for a function call.
    pub fn tool_response(text: impl Into<String>) -> Input {
        Input::prompt(text).with_role(Role::Tool)
    }
    /// Token ids; each must be in `0..vocab_size` (known from the tokenizer, the builder's
    /// [`vocab_size`](crate::LlmBuilder::vocab_size) or a logits run).
    pub fn tokens(ids: impl Into<Vec<i32>>) -> Input {
        Input::of(InputKind::Tokens(ids.into()))
    }
    /// Token ids that are not checked against the vocabulary.
    ///
    /// # Safety
    /// Every id must be a valid token of the model: the runtime indexes its embedding table
    /// with them unchecked. Negative ids are still refused.
    pub unsafe fn tokens_unchecked(ids: impl Into<Vec<i32>>) -> Input {
        Input {
            checked: false,
            ..Input::tokens(ids)
        }
    }
    /// Embeddings for `n_tokens` tokens: `data.len()` must be `n_tokens ×` the model's hidden
    /// size (known from the builder's [`hidden_size`](crate::LlmBuilder::hidden_size) or a
    /// hidden-state run), since the runtime reads that many floats.
    pub fn embeddings(data: impl Into<Vec<f32>>, n_tokens: usize) -> Input {
        Input::of(InputKind::Embeddings {
            data: data.into(),
            n_tokens,
        })
    }
    /// Embeddings whose row width is not checked against the model.
    ///
    /// # Safety
    /// `data.len()` must be at least `n_tokens ×` the model's hidden size: the runtime reads
    /// that many floats. (A length that is not a multiple of `n_tokens` is still refused.)
    pub unsafe fn embeddings_unchecked(data: impl Into<Vec<f32>>, n_tokens: usize) -> Input {
        Input {
            checked: false,
            ..Input::embeddings(data, n_tokens)
        }
    }
    /// A prompt holding one [`IMAGE_PLACEHOLDER`] per image, with the images' embeddings.
    pub fn multimodal(prompt: impl Into<String>, images: Images) -> Input {
        Input::of(InputKind::Multimodal {
            prompt: prompt.into(),
            images,
        })
    }
    /// Sets the role.
    pub fn with_role(mut self, role: Role) -> Input {
        self.role = role;
        self
    }
    /// Enables "thinking" for models that support it (e.g. Qwen3).
    pub fn thinking(mut self, on: bool) -> Input {
        self.enable_thinking = on;
        self
    }
    /// The role.
    pub fn role(&self) -> &Role {
        &self.role
    }
    /// The payload.
    pub fn kind(&self) -> &InputKind {
        &self.kind
    }
}
