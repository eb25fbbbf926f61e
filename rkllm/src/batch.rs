//! Batched runs (`n_batch > 1`): one run over `n_batch` inputs, whose callbacks carry an
//! array of `n_batch` results; an entry whose `token_id` is negative has finished.
use crate::blocking::serve;
use crate::callback::{panic_message, ResultView, RunText};
use crate::chunk::{Chunk, Control};
use crate::error::{Error, Result};
use crate::input::Input;
use crate::llm::Llm;
use crate::options::{InferMode, RunOptions};
use crate::prepared::prepare;
use crate::summary::{PerfStats, RunSummary};
use edge_infer_rkllm_sys as sys;

#[derive(Default)]
struct Entry {
    text: RunText,
    perf: Option<PerfStats>,
    trailing: String,
    done: bool,
}

impl Entry {
    fn end(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.trailing = self.text.finish();
    }
}

impl Llm {
    /// Runs `inputs` (exactly the builder's [`n_batch`](crate::LlmBuilder::n_batch) of them)
    /// as one batch, streaming `(entry, chunk)` into `callback` on the calling thread. A
    /// [`Control::Pause`] from any entry pauses the whole batch. Text generation only.
    pub fn run_batch<F>(
        &self,
        inputs: &[Input],
        opts: &RunOptions,
        mut callback: F,
    ) -> Result<Vec<RunSummary>>
    where
        F: for<'a> FnMut(usize, Chunk<'a>) -> Control,
    {
        if inputs.len() != self.n_batch {
            return Err(Error::InvalidArgument(format!(
                "a batch of {} inputs for a model initialised with n_batch {}",
                inputs.len(),
                self.n_batch
            )));
        }
        if opts.mode != InferMode::Generate {
            return Err(Error::InvalidArgument(
                "batched runs generate text only".into(),
            ));
        }
        let n = self.n_batch;
        let prepared = prepare(self, inputs, opts)?;
        let _guard = self.shared.gate.acquire()?;
        prepared.check_fits(self, opts)?;
        let run = self.shared.begin_run();
        let mut entries: Vec<Entry> = (0..n).map(|_| Entry::default()).collect();
        let (mut paused, mut error, mut panic) = (false, false, None::<String>);
        let served = serve(self, run, &prepared, |result, state| {
            if result.is_null() {
                return sys::RKLLM_CALLBACK_CONTINUE;
            }
            // SAFETY: with n_batch > 1 the runtime passes an array of n_batch results, valid
            // while its thread waits for this reply.
            let results = unsafe { std::slice::from_raw_parts(result, n) };
            match state {
                sys::RKLLM_RUN_FINISH => {
                    for (e, r) in entries.iter_mut().zip(results) {
                        e.perf = Some(PerfStats::from_raw(&r.perf));
                        e.end();
                    }
                    return sys::RKLLM_CALLBACK_CONTINUE;
                }
                sys::RKLLM_RUN_ERROR => {
                    error = true;
                    entries.iter_mut().for_each(Entry::end);
                    return sys::RKLLM_CALLBACK_CONTINUE;
                }
                _ if paused => return sys::RKLLM_CALLBACK_PAUSE,
                _ if panic.is_some() => return sys::RKLLM_CALLBACK_CONTINUE,
                _ => {}
            }
            let mut verdict = sys::RKLLM_CALLBACK_CONTINUE;
            for (i, (e, r)) in entries.iter_mut().zip(results).enumerate() {
                if r.token_id < 0 {
                    e.end();
                    continue;
                }
                // SAFETY: as above, for this entry's pointers.
                let view = unsafe { ResultView::new(r) };
                let text = e.text.take(state, view.bytes);
                if text.is_empty() {
                    continue;
                }
                let chunk = Chunk {
                    text,
                    token_id: r.token_id,
                    logits: None,
                    hidden: None,
                };
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(i, chunk)))
                {
                    Ok(Control::Continue) => {}
                    Ok(Control::Pause) => {
                        paused = true;
                        verdict = sys::RKLLM_CALLBACK_PAUSE;
                    }
                    Err(p) => {
                        panic = Some(panic_message(&*p));
                        let _ = self.shared.abort(None);
                        break;
                    }
                }
            }
            verdict
        });
        drop(prepared);
        if let Some(msg) = panic {
            return Err(Error::CallbackPanicked(msg));
        }
        if (error || served.rc != 0) && !served.aborted {
            return Err(Error::RunFailed {
                code: served.rc,
                error_state: error,
            });
        }
        if served.calls == 0 && !served.aborted {
            return Err(Error::NotRun { code: served.rc });
        }
        Ok(entries
            .into_iter()
            .map(|mut e| {
                e.end();
                RunSummary {
                    perf: e.perf,
                    paused,
                    aborted: served.aborted,
                    trailing_text: e.trailing,
                }
            })
            .collect())
    }

    /// [`Llm::run_batch`], collecting each entry's text.
    pub fn generate_batch(
        &self,
        inputs: &[Input],
        opts: &RunOptions,
    ) -> Result<Vec<(String, RunSummary)>> {
        let mut texts = vec![String::new(); inputs.len()];
        let summaries = self.run_batch(inputs, opts, |i, c| {
            texts[i].push_str(c.text());
            Control::Continue
        })?;
        Ok(texts
            .into_iter()
            .zip(summaries)
            .map(|(mut t, s)| {
                t.push_str(&s.trailing_text);
                (t, s)
            })
            .collect())
    }
}
