//! The text pipeline's promise: how a stream is split into pieces never changes what
//! comes out. Checked on random streams of valid and invalid UTF-8 with needle fragments
//! mixed in, for the three ways producers feed it: bytes per token (llama.cpp), bytes per
//! callback with characters split across callbacks (RKLLM), and text pieces (edge-infer).

use edge_infer_base::text::{Scan, Scanner, TextStream};
use proptest::prelude::*;

// Overlaps on purpose: "TO" completes inside "STOP" before it does, "s>" ends "</s>",
// "\n" starts "\n\n", "é€" is multi-byte.
const NEEDLES: [&str; 8] = ["</s>", "STOP", "\n\n", "é€", "<think>", "s>", "\n", "TO"];

/// An event, with adjacent text merged so that only content and order count.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Text(String),
    Needle(usize),
}

fn collect(out: &mut Vec<Ev>, r: Scan<'_>) {
    match r {
        Scan::Text(t) => match out.last_mut() {
            Some(Ev::Text(last)) => last.push_str(t),
            _ => out.push(Ev::Text(t.to_string())),
        },
        Scan::Needle(i) => out.push(Ev::Needle(i)),
    }
}

/// Feeds `bytes` cut at `cuts` (sorted, deduplicated, inside the stream).
fn run_bytes(bytes: &[u8], cuts: &[usize]) -> (Vec<Ev>, u64) {
    let mut s = TextStream::new(NEEDLES);
    let mut out = Vec::new();
    let mut from = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        s.push_bytes(&bytes[from..c]);
        from = c;
        while let Some(r) = s.next() {
            collect(&mut out, r);
        }
    }
    s.finish();
    while let Some(r) = s.next() {
        collect(&mut out, r);
    }
    (out, s.replaced())
}

/// Bytes that exercise everything: ASCII, multi-byte characters, invalid bytes, truncated
/// sequences, and pieces of the needles.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let atom = prop_oneof![
        "[a-z <>/\n]{1,4}".prop_map(String::into_bytes),
        Just("é".as_bytes().to_vec()),
        Just("€".as_bytes().to_vec()),
        Just("🦀".as_bytes().to_vec()),
        Just(vec![0xFF]),
        Just(vec![0xC3]),
        Just(vec![0xE2, 0x82]),
        Just(vec![0xF0, 0x9F, 0xA6]),
        Just(vec![0x80]),
        prop::sample::select(NEEDLES.to_vec()).prop_map(|n| n.as_bytes().to_vec()),
        prop::sample::select(NEEDLES.to_vec()).prop_map(|n| n.as_bytes()[..n.len() / 2].to_vec()),
    ];
    prop::collection::vec(atom, 0..40).prop_map(|v| v.concat())
}

fn cuts(len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::btree_set(0..=len, 0..=len.min(30)).prop_map(|s| s.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Bytes per token or per callback: any split gives the events of the whole stream.
    #[test]
    fn random_byte_splits_give_identical_events((bytes, cuts) in stream().prop_flat_map(|b| {
        let n = b.len();
        (Just(b), cuts(n))
    })) {
        let whole = run_bytes(&bytes, &[]);
        let split = run_bytes(&bytes, &cuts);
        prop_assert_eq!(&split, &whole);
        // Every byte is accounted for: with the needles put back, the text is exactly
        // what from_utf8_lossy makes of the stream.
        let rebuilt: String = whole.0.iter().map(|e| match e {
            Ev::Text(t) => t.as_str(),
            Ev::Needle(i) => NEEDLES[*i],
        }).collect();
        prop_assert_eq!(rebuilt, String::from_utf8_lossy(&bytes).into_owned());
    }

    /// One byte at a time is the extreme split (RKLLM can split a character over
    /// callbacks this way).
    #[test]
    fn byte_by_byte_equals_whole(bytes in stream()) {
        let every: Vec<usize> = (1..bytes.len()).collect();
        prop_assert_eq!(run_bytes(&bytes, &every), run_bytes(&bytes, &[]));
    }

    /// Text pieces (edge-infer's input) split at any character boundary, with needles
    /// switched on and off as a reasoning splitter does: outside a block only the opener
    /// is active, inside it only the closer.
    #[test]
    fn text_pieces_with_switched_needles(bytes in stream(), seed in any::<u64>()) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
        let mut x = seed | 1;
        let cuts: Vec<usize> = bounds.into_iter().filter(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x % 3 == 0 }).collect();
        let run = |cuts: &[usize]| {
            let mut s = Scanner::new(["<think>", "</think>", "STOP"]);
            s.set_active(1, false);
            let mut out = Vec::new();
            let drain = |s: &mut Scanner, out: &mut Vec<Ev>| {
                while let Some(r) = s.next() {
                    let needle = match r {
                        Scan::Needle(i) => Some(i),
                        Scan::Text(_) => None,
                    };
                    collect(out, r);
                    // Opener found: look for the closer only; and back.
                    if let Some(i @ 0..=1) = needle {
                        s.set_active(i, false);
                        s.set_active(1 - i, true);
                    }
                }
            };
            let mut from = 0;
            for &c in cuts.iter().chain(std::iter::once(&text.len())) {
                s.push(&text[from..c]);
                from = c;
                drain(&mut s, &mut out);
            }
            s.finish();
            drain(&mut s, &mut out);
            out
        };
        prop_assert_eq!(run(&cuts), run(&[]));
    }
}
