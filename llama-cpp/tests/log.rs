//! llama.cpp's log reaches the `log` crate as whole lines. (This binary installs its own
//! logger, so it is a test file of its own.)

use std::sync::Mutex;

use edge_infer_llama::Model;

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "llama.cpp"
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            RECORDS
                .lock()
                .unwrap()
                .push((r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

#[test]
fn continued_pieces_are_joined_into_their_line() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    // Without a progress callback llama.cpp prints a row of dots while loading, one
    // GGML_LOG_LEVEL_CONT piece each time the percentage grows, then a newline.
    let path = xtask::default_model().unwrap();
    let _model = Model::load(&path, &Default::default()).unwrap();
    let records = RECORDS.lock().unwrap();
    assert!(
        records.len() > 10,
        "llama.cpp logged {} records",
        records.len()
    );
    // The row is interrupted where llama.cpp logs other lines in between (tensor repacking
    // while loading), so it may come in several records, but never two in a row: pieces
    // that follow each other are one record.
    let is_dots = |m: &str| !m.is_empty() && m.bytes().all(|b| b == b'.');
    let dots: Vec<usize> = records
        .iter()
        .filter(|(_, m)| is_dots(m))
        .map(|(_, m)| m.len())
        .collect();
    let total: usize = dots.iter().sum();
    assert!(total >= 10, "{total} dots: {dots:?}");
    let consecutive = records
        .windows(2)
        .filter(|w| is_dots(&w[0].1) && is_dots(&w[1].1))
        .count();
    assert_eq!(
        consecutive, 0,
        "dot pieces in records of their own: {dots:?}"
    );
    assert!(dots.iter().any(|&n| n >= 5), "{dots:?}");
}
