//! The per-token path allocates nothing once warm: Detokenizer::push, and a generation
//! step (sample, text, decode) in the callback form. Counts Rust heap allocations on the
//! test's own thread (llama.cpp's C++ allocations are its business).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ops::ControlFlow;

use common::{model, params};
use edge_infer_llama::{Context, Detokenizer, GenerateOptions, Sampling};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates to the system allocator; the counter is a thread-local Cell that
// never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

#[test]
fn the_per_token_path_allocates_nothing_once_warm() {
    let m = model();
    let text = "Grüße aus Köln! 東京は日本の首都です。 🦀 ".repeat(8);
    let tokens = m.tokenize(&text, false, false).unwrap();
    let mut d = Detokenizer::new(m, &GenerateOptions::default().stop("</s>").stop("\n\n\n"));
    let mut out = String::with_capacity(4096);
    for &t in &tokens[..20] {
        d.push(t, &mut out).unwrap();
    }
    out.clear();
    let before = allocs();
    for &t in &tokens[20..] {
        out.clear();
        d.push(t, &mut out).unwrap();
    }
    assert_eq!(allocs() - before, 0, "Detokenizer::push allocated");

    let mut ctx = Context::new(m, &params()).unwrap();
    let mut s = Sampling::greedy().build(m).unwrap();
    let mut at = Vec::with_capacity(64);
    let stats = ctx
        .generate_with(
            common::PROMPT,
            &mut s,
            GenerateOptions::default().max_tokens(30).stop("</s>"),
            |_| {
                at.push(allocs());
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    assert!(at.len() >= 20, "{} pieces ({stats:?})", at.len());
    // From the 5th piece on, generating the next token and its text allocated nothing.
    assert_eq!(at[at.len() - 1] - at[4], 0, "allocations per piece: {at:?}");
}
