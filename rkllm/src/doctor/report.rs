//! What the doctor found, as plain text or JSON.
use std::fmt::Write as _;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// As it should be.
    Ok,
    /// Works, but slower or riskier than it should be; the detail says what to do.
    Warn,
    /// Will not work until fixed.
    Fail,
    /// A fact worth knowing, nothing to fix.
    Info,
    /// Not checked (the detail says why).
    Skip,
}

impl Status {
    fn tag(self) -> &'static str {
        match self {
            Status::Ok => "[ ok ]",
            Status::Warn => "[warn]",
            Status::Fail => "[FAIL]",
            Status::Info => "[info]",
            Status::Skip => "[skip]",
        }
    }
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Info => "info",
            Status::Skip => "skip",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// A stable id (`board`, `cpu-governor`, ...).
    pub id: &'static str,
    /// The outcome.
    pub status: Status,
    /// One line.
    pub summary: String,
    /// Explanations and what to do.
    pub detail: Vec<String>,
}

impl Finding {
    pub(crate) fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Finding {
        Finding {
            id,
            status,
            summary: summary.into(),
            detail: Vec::new(),
        }
    }
    pub(crate) fn detail(mut self, line: impl Into<String>) -> Finding {
        self.detail.push(line.into());
        self
    }
}

/// Everything the doctor found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Whether the tree looked at is an RK3588 board.
    pub on_board: bool,
    /// Why not, when it is not.
    pub not_on_board: Option<String>,
    /// The checks, in order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The finding with this id.
    pub fn get(&self, id: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.id == id)
    }

    /// How many findings have this status.
    pub fn count(&self, status: Status) -> usize {
        self.findings.iter().filter(|f| f.status == status).count()
    }

    /// Plain text, one check per line with its details indented.
    pub fn to_text(&self) -> String {
        let mut s = String::from("edge-infer board doctor\n");
        if let Some(why) = &self.not_on_board {
            let _ = writeln!(
                s,
                "NOT ON AN RK3588 BOARD: {why}. The checks below say what this machine lacks; \
                 run the doctor on the board."
            );
        }
        for f in &self.findings {
            let _ = writeln!(s, "{} {}: {}", f.status.tag(), f.id, f.summary);
            for d in &f.detail {
                let _ = writeln!(s, "       {d}");
            }
        }
        let _ = writeln!(
            s,
            "summary: {} ok, {} warnings, {} failed",
            self.count(Status::Ok),
            self.count(Status::Warn),
            self.count(Status::Fail)
        );
        s
    }

    /// JSON: `{"on_board", "not_on_board", "findings": [{"id", "status", "summary", "detail"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "on_board": self.on_board,
            "not_on_board": self.not_on_board,
            "findings": self.findings.iter().map(|f| serde_json::json!({
                "id": f.id,
                "status": f.status.word(),
                "summary": f.summary,
                "detail": f.detail,
            })).collect::<Vec<_>>(),
        })
    }
}
