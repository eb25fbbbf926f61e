//! Loading a GGUF model and reading what it says about itself.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use edge_infer_llama_sys as sys;

use crate::backend;
use crate::error::{Error, Result};

/// How a model is loaded. Defaults: mmap on, mlock off.
///
/// ```
/// let params = edge_infer_llama::ModelParams::default().mmap(false);
/// assert!(!params.uses_mmap());
/// ```
#[derive(Debug, Clone)]
pub struct ModelParams {
    mmap: bool,
    mlock: bool,
    check_tensors: bool,
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams {
            mmap: true,
            mlock: false,
            check_tensors: false,
        }
    }
}

impl ModelParams {
    /// Map the file instead of reading it (default on): fast loads, pages shared
    /// between processes, and weights that the kernel can drop under pressure.
    pub fn mmap(mut self, on: bool) -> Self {
        self.mmap = on;
        self
    }
    /// Lock the weights in RAM so they are never paged out.
    pub fn mlock(mut self, on: bool) -> Self {
        self.mlock = on;
        self
    }
    /// Validate tensor data while loading (slow; catches corrupt files).
    pub fn check_tensors(mut self, on: bool) -> Self {
        self.check_tensors = on;
        self
    }
    /// Whether mmap is on.
    pub fn uses_mmap(&self) -> bool {
        self.mmap
    }
}

/// A loaded model. Immutable after loading, so it can be shared across threads
/// (`Arc<Model>`) and serve several [`Context`](crate::Context)s at once.
pub struct Model {
    raw: NonNull<sys::llama_model>,
    vocab: NonNull<sys::llama_vocab>,
    path: PathBuf,
    file_size: u64,
}

// SAFETY: a llama_model has no thread affinity and the vocab pointer is owned by it, so it
// may be freed on any thread.
unsafe impl Send for Model {}
// SAFETY: every method takes `&self` and only reads, and llama.cpp's own server shares one
// model between contexts on many threads. Context creation does not only read, though:
// llama_init_from_model writes `model->hparams.n_ctx_train` when a context asks for a
// custom YaRN rope scaling, so two threads creating such contexts over one Arc<Model>
// would race. That is unreachable because ContextParams exposes no rope scaling (llama.cpp's
// defaults leave hparams alone); adding rope_freq_scale / yarn options needs a lock around
// context creation, or Model stops being Sync.
unsafe impl Sync for Model {}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("architecture", &self.architecture())
            .field("n_layer", &self.n_layer())
            .finish()
    }
}

impl Model {
    /// Loads a GGUF model.
    ///
    /// ```
    /// # fn main() -> edge_infer_llama::Result<()> {
    /// # let path = xtask::default_model().unwrap();
    /// let model = edge_infer_llama::Model::load(path, &Default::default())?; // gemma-3-270m
    /// assert_eq!((model.architecture().as_str(), model.n_layer()), ("gemma3", 18));
    /// # Ok(()) }
    /// ```
    pub fn load(path: impl AsRef<Path>, params: &ModelParams) -> Result<Model> {
        Self::load_impl(path.as_ref(), params, None)
    }

    /// Loads a GGUF model, calling `progress` with a fraction in `0.0..=1.0` as it goes.
    /// Returning `false` from `progress` cancels the load.
    pub fn load_with_progress<F>(
        path: impl AsRef<Path>,
        params: &ModelParams,
        mut progress: F,
    ) -> Result<Model>
    where
        F: FnMut(f32) -> bool,
    {
        let mut state = ProgressState {
            f: &mut progress,
            panic: None,
            stopped: false,
        };
        let model = Self::load_impl(path.as_ref(), params, Some(&mut state));
        if let Some(p) = state.panic {
            return Err(Error::CallbackPanicked(p));
        }
        match model {
            Err(Error::ModelLoad { path, .. }) if state.stopped => Err(Error::LoadCancelled(path)),
            other => other,
        }
    }

    fn load_impl(
        path: &Path,
        params: &ModelParams,
        progress: Option<&mut ProgressState<'_>>,
    ) -> Result<Model> {
        let file_size = precheck(path)?;
        let cpath = crate::error::cstring(
            "model path",
            path.to_str().ok_or_else(|| Error::InvalidParameter {
                name: "path",
                reason: format!("{} is not valid UTF-8", path.display()),
            })?,
        )?;
        backend::init();
        // SAFETY: plain getter returning a struct by value.
        let mut p = unsafe { sys::llama_model_default_params() };
        p.n_gpu_layers = 0;
        p.load_mode = match (params.mmap, params.mlock) {
            (true, false) => sys::LLAMA_LOAD_MODE_MMAP,
            (true, true) => sys::LLAMA_LOAD_MODE_MMAP_MLOCK,
            (false, true) => sys::LLAMA_LOAD_MODE_MLOCK,
            (false, false) => sys::LLAMA_LOAD_MODE_NONE,
        };
        p.check_tensors = params.check_tensors;
        if let Some(state) = progress {
            p.progress_callback = Some(progress_trampoline);
            p.progress_callback_user_data = state as *mut ProgressState<'_> as *mut c_void;
        }
        backend::clear_last_error();
        // SAFETY: `cpath` outlives the call; the progress user data points at a
        // ProgressState that lives on the caller's stack for the whole (synchronous) load.
        let raw = unsafe { sys::llama_model_load_from_file(cpath.as_ptr(), p) };
        let Some(raw) = NonNull::new(raw) else {
            let reason = backend::take_last_error().unwrap_or_else(|| "no reason given".into());
            return Err(Error::ModelLoad {
                path: path.to_path_buf(),
                reason,
            });
        };
        // SAFETY: raw is a valid model; the vocab lives as long as the model.
        let vocab = unsafe { sys::llama_model_get_vocab(raw.as_ptr()) };
        let Some(vocab) = NonNull::new(vocab as *mut sys::llama_vocab) else {
            // SAFETY: raw came from llama_model_load_from_file and is freed once.
            unsafe { sys::llama_model_free(raw.as_ptr()) };
            return Err(Error::ModelLoad {
                path: path.to_path_buf(),
                reason: "the model has no vocabulary".into(),
            });
        };
        Ok(Model {
            raw,
            vocab,
            path: path.to_path_buf(),
            file_size,
        })
    }

    /// See [`raw::model_from_raw`](crate::raw::model_from_raw).
    ///
    /// # Safety
    /// As there.
    pub(crate) unsafe fn from_raw(raw: *mut sys::llama_model, path: PathBuf) -> Result<Model> {
        let Some(raw) = NonNull::new(raw) else {
            return Err(Error::ModelLoad {
                path,
                reason: "the model pointer is NULL".into(),
            });
        };
        // SAFETY: the caller guarantees a valid model; the vocab lives as long as it.
        let vocab = unsafe { sys::llama_model_get_vocab(raw.as_ptr()) };
        let Some(vocab) = NonNull::new(vocab as *mut sys::llama_vocab) else {
            // SAFETY: we own the model now and free it once.
            unsafe { sys::llama_model_free(raw.as_ptr()) };
            return Err(Error::ModelLoad {
                path,
                reason: "the model has no vocabulary".into(),
            });
        };
        backend::init();
        Ok(Model {
            raw,
            vocab,
            path,
            file_size: 0,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::llama_model {
        self.raw.as_ptr()
    }

    pub(crate) fn vocab_ptr(&self) -> *const sys::llama_vocab {
        self.vocab.as_ptr()
    }

    /// The file this model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the model file in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// The `general.architecture` value, e.g. `gemma3`.
    pub fn architecture(&self) -> String {
        self.meta("general.architecture").unwrap_or_default()
    }

    /// A GGUF metadata value as a string, if the key exists.
    pub fn meta(&self, key: &str) -> Option<String> {
        let key = CString::new(key).ok()?;
        // SAFETY: `buf` is writable for `len` bytes; key is NUL-terminated.
        snprintf_string(|buf, len| unsafe {
            sys::llama_model_meta_val_str(self.as_ptr(), key.as_ptr(), buf, len)
        })
    }

    /// A one-line description from llama.cpp, e.g. `gemma3 270M Q4_K - Medium`.
    pub fn description(&self) -> String {
        // SAFETY: `buf` is writable for `len` bytes.
        snprintf_string(|buf, len| unsafe { sys::llama_model_desc(self.as_ptr(), buf, len) })
            .unwrap_or_default()
    }

    /// Number of transformer layers.
    pub fn n_layer(&self) -> u32 {
        // SAFETY: valid model pointer (for all the simple getters below too).
        unsafe { sys::llama_model_n_layer(self.as_ptr()) }.max(0) as u32
    }

    /// Context length the model was trained with.
    pub fn n_ctx_train(&self) -> u32 {
        // SAFETY: valid model pointer.
        unsafe { sys::llama_model_n_ctx_train(self.as_ptr()) }.max(0) as u32
    }

    /// Embedding size.
    pub fn n_embd(&self) -> u32 {
        // SAFETY: valid model pointer.
        unsafe { sys::llama_model_n_embd(self.as_ptr()) }.max(0) as u32
    }

    /// Number of attention heads.
    pub fn n_head(&self) -> u32 {
        // SAFETY: valid model pointer.
        unsafe { sys::llama_model_n_head(self.as_ptr()) }.max(0) as u32
    }

    /// Number of K/V heads (GQA).
    pub fn n_head_kv(&self) -> u32 {
        // SAFETY: valid model pointer.
        unsafe { sys::llama_model_n_head_kv(self.as_ptr()) }.max(0) as u32
    }

    /// Sliding-window size, 0 if the model has no sliding-window attention.
    pub fn n_swa(&self) -> u32 {
        // SAFETY: valid model pointer.
        unsafe { sys::llama_model_n_swa(self.as_ptr()) }.max(0) as u32
    }

    /// Number of parameters.
    pub fn n_params(&self) -> u64 {
        // SAFETY: valid model pointer.
        unsafe { sys::llama_model_n_params(self.as_ptr()) }
    }

    /// Bytes of tensor data (what the weights occupy).
    pub fn size(&self) -> u64 {
        // SAFETY: valid model pointer.
        unsafe { sys::llama_model_size(self.as_ptr()) }
    }

    /// The model's built-in chat template (Jinja source), if it has one.
    pub fn chat_template(&self) -> Option<String> {
        // SAFETY: valid model; NULL name selects the default template.
        let p = unsafe { sys::llama_model_chat_template(self.as_ptr(), std::ptr::null()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-NULL, NUL-terminated, owned by the model which outlives this borrow.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    /// K and V head sizes from the GGUF metadata (`attention.key_length` /
    /// `value_length`, else `n_embd / n_head`): with [`Model::n_head_kv`], the shape of a
    /// layer's K and V cache rows.
    pub fn head_dims(&self) -> (u32, u32) {
        let arch = self.architecture();
        let get = |k: &str| {
            self.meta(&format!("{arch}.attention.{k}"))
                .and_then(|v| v.parse::<u32>().ok())
        };
        let fallback = self.n_embd() / self.n_head().max(1);
        (
            get("key_length").unwrap_or(fallback),
            get("value_length").unwrap_or(fallback),
        )
    }
}

/// Reads a string from a C function with `snprintf`'s contract: it writes at most `len`
/// bytes including a NUL and returns the full length (without the NUL), or a negative
/// value for "no such string". Grows the buffer until the whole string fits, so a long
/// value is neither cut nor left with the NUL of a truncated write.
fn snprintf_string(mut f: impl FnMut(*mut c_char, usize) -> i32) -> Option<String> {
    let mut buf = vec![0u8; 256];
    loop {
        let n = usize::try_from(f(buf.as_mut_ptr().cast(), buf.len())).ok()?;
        if n < buf.len() {
            buf.truncate(n);
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        buf.resize(n + 1, 0);
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: contexts borrow the model, so none is alive; freed exactly once.
        unsafe { sys::llama_model_free(self.raw.as_ptr()) }
    }
}

/// Checks the things llama.cpp reports poorly (missing, not a file, empty, a Git LFS
/// pointer, not GGUF), with the checks the RKLLM side shares. Returns the file's size.
fn precheck(path: &Path) -> Result<u64> {
    use edge_infer_base::{file, Error as FileError};
    file::precheck(path, Some(file::Magic::GGUF)).map_err(|e| match e {
        FileError::NotFound(p) => Error::ModelNotFound(p),
        FileError::NotAFile(p) => Error::NotAFile(p),
        FileError::Empty(p) => Error::EmptyFile(p),
        FileError::LfsPointer(p) => Error::LfsPointer(p),
        FileError::WrongMagic { path, found, .. } => Error::NotGguf { path, magic: found },
        FileError::Io { path, source } => Error::Io { path, source },
        other => Error::Io {
            path: path.into(),
            source: std::io::Error::other(other.to_string()),
        },
    })
}

struct ProgressState<'a> {
    f: &'a mut dyn FnMut(f32) -> bool,
    panic: Option<String>,
    stopped: bool,
}

unsafe extern "C" fn progress_trampoline(progress: f32, data: *mut c_void) -> bool {
    // SAFETY: `data` is the ProgressState set up by load_impl, alive for the whole load,
    // and llama.cpp calls this only from the loading thread.
    let state = unsafe { &mut *(data as *mut ProgressState<'_>) };
    if state.panic.is_some() {
        return false;
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (state.f)(progress))) {
        Ok(go_on) => {
            state.stopped |= !go_on;
            go_on
        }
        Err(p) => {
            state.panic = Some(edge_infer_base::panic::message(&*p));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::snprintf_string;
    use std::ffi::c_char;

    /// Behaves like snprintf over `text`.
    fn fake(text: &str) -> impl FnMut(*mut c_char, usize) -> i32 + '_ {
        move |buf, len| {
            let n = text.len().min(len.saturating_sub(1));
            // SAFETY: the caller hands a buffer writable for `len` bytes; n + 1 <= len.
            unsafe {
                std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast(), n);
                *buf.add(n) = 0;
            }
            text.len() as i32
        }
    }

    #[test]
    fn long_values_are_whole_and_carry_no_nul() {
        let long = "x".repeat(300);
        assert_eq!(snprintf_string(fake(&long)).as_deref(), Some(long.as_str()));
        let exact = "y".repeat(256);
        assert_eq!(
            snprintf_string(fake(&exact)).as_deref(),
            Some(exact.as_str())
        );
        assert_eq!(snprintf_string(fake("short")).as_deref(), Some("short"));
        assert_eq!(snprintf_string(|_, _| -1), None);
    }
}
