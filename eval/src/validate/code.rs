//! Validators of the code tests: the answer runs under `python3` when it exists (a
//! subprocess with a timeout), else it is checked by pattern.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use wait_timeout::ChildExt;

use super::short_answer::Check;

/// How code answers are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeCheck {
    /// Run with this interpreter, in a subprocess with [`PYTHON_TIMEOUT`].
    Python {
        /// The interpreter (`sys.executable`).
        exe: PathBuf,
        /// Its version.
        version: String,
    },
    /// No python3: checked by pattern.
    Pattern,
}

/// How long one answer may run.
pub const PYTHON_TIMEOUT: Duration = Duration::from_secs(5);

impl CodeCheck {
    /// `python3` from `PATH` when it runs, else [`CodeCheck::Pattern`].
    /// `EDGE_EVAL_PYTHON` names another interpreter; `EDGE_EVAL_PYTHON=none` forces patterns.
    pub fn detect() -> CodeCheck {
        let python = std::env::var("EDGE_EVAL_PYTHON").unwrap_or_else(|_| "python3".into());
        if python == "none" {
            return CodeCheck::Pattern;
        }
        let out = Command::new(&python)
            .args([
                "-I",
                "-c",
                "import sys; print(sys.executable); print(sys.version.split()[0])",
            ])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                let mut lines = text.lines();
                match (lines.next(), lines.next()) {
                    (Some(exe), Some(version)) if !exe.is_empty() => CodeCheck::Python {
                        exe: PathBuf::from(exe),
                        version: version.to_string(),
                    },
                    _ => CodeCheck::Pattern,
                }
            }
            _ => CodeCheck::Pattern,
        }
    }

    /// What the report says about it.
    pub fn describe(&self) -> String {
        match self {
            CodeCheck::Python { exe, version } => format!(
                "run with Python {version} ({}), {} s timeout, imports and private names refused",
                exe.display(),
                PYTHON_TIMEOUT.as_secs()
            ),
            CodeCheck::Pattern => "checked by pattern (no python3 found)".into(),
        }
    }
}

/// The code in an answer: the fenced blocks if there are any (an unclosed fence, as in
/// a cut-off answer, runs to the end), else the whole text.
pub fn extract_code(text: &str) -> String {
    static FENCE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?s)```[A-Za-z0-9_+-]*[^\n]*\n(.*?)(?:```|\z)").unwrap());
    let blocks: Vec<_> = FENCE
        .captures_iter(text)
        .map(|c| c[1].trim_end().to_string())
        .collect();
    if blocks.is_empty() {
        text.trim().to_string()
    } else {
        blocks.join("\n")
    }
}

/// The even-numbers list comprehension.
pub fn even_comprehension(text: &str, check: &CodeCheck) -> Check {
    let code = extract_code(text);
    match check {
        CodeCheck::Python { exe, .. } => run_python(exe, "evens", &code),
        CodeCheck::Pattern => evens_by_pattern(&code),
    }
}

/// The palindrome function.
pub fn palindrome(text: &str, check: &CodeCheck) -> Check {
    let code = extract_code(text);
    match check {
        CodeCheck::Python { exe, .. } => run_python(exe, "palindrome", &code),
        CodeCheck::Pattern => palindrome_by_pattern(&code),
    }
}

fn evens_by_pattern(code: &str) -> Check {
    static COMP: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\[\s*(?P<elem>\w+)\s+for\s+(?P<var>\w+)\s+in\s+\w+\s+if\s+(?P<cond>[^\]]+)\]")
            .unwrap()
    });
    let c = COMP
        .captures(code)
        .ok_or("no list comprehension with a condition")?;
    let (elem, var) = (&c["elem"], &c["var"]);
    if elem != var {
        return Err(format!("the comprehension keeps `{elem}`, not the numbers"));
    }
    let cond: String = c["cond"].chars().filter(|c| !c.is_whitespace()).collect();
    let even = [
        format!("{var}%2==0"),
        format!("({var}%2)==0"),
        format!("0=={var}%2"),
        format!("not{var}%2"),
        format!("not({var}%2)"),
        format!("{var}%2!=1"),
        format!("{var}&1==0"),
        format!("({var}&1)==0"),
    ];
    if even.contains(&cond) {
        Ok(())
    } else {
        Err(format!(
            "the condition `{}` does not keep even numbers",
            c["cond"].trim()
        ))
    }
}

fn palindrome_by_pattern(code: &str) -> Check {
    if !code.contains("def is_palindrome(") {
        return Err("no `def is_palindrome(`".into());
    }
    let reverses = code.contains("[::-1]") || code.contains("reversed(") || code.contains("while");
    let folds =
        code.contains(".lower()") || code.contains(".casefold()") || code.contains(".upper()");
    let filters = code.contains("isalnum")
        || code.contains("re.sub")
        || (code.contains("isalpha") && code.contains("isdigit"));
    match (reverses, folds, filters) {
        (false, _, _) => Err("nothing compares the string with its reverse".into()),
        (_, false, _) => Err("letter case is not ignored".into()),
        (_, _, false) => Err("non-alphanumeric characters are not ignored".into()),
        _ => Ok(()),
    }
}

/// The check run by `python3 -I`: refuses imports outside a few pure modules and any
/// private or dunder name, runs the answer with a small set of builtins under memory
/// and CPU limits, and prints one `PASS ...` or `FAIL ...` line. Model output is
/// untrusted; this narrows what it can do, it is not a sandbox.
const HARNESS: &str = r#"
import ast, builtins, io, sys
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (4, 4))
except Exception:
    pass
TASK = sys.argv[1]
SRC = sys.stdin.read()
MODULES = {"re", "string", "math", "itertools", "functools", "collections"}
OUT = sys.stdout

def verdict(ok, why):
    sys.stdout = OUT
    OUT.write(("PASS " if ok else "FAIL ") + str(why).replace("\n", " ")[:300] + "\n")
    OUT.flush()
    sys.exit(0)

try:
    tree = ast.parse(SRC)
except SyntaxError as e:
    verdict(False, "not valid Python: %s (line %s)" % (e.msg, e.lineno))
if not tree.body:
    verdict(False, "no code")
for node in ast.walk(tree):
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.name.split(".")[0] not in MODULES:
                verdict(False, "imports %s, which the check refuses" % a.name)
    elif isinstance(node, ast.ImportFrom):
        if node.level or (node.module or "").split(".")[0] not in MODULES:
            verdict(False, "imports from %s, which the check refuses" % node.module)
    elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        verdict(False, "uses the private attribute %s" % node.attr)
    elif isinstance(node, ast.Name) and node.id.startswith("__") and node.id != "__name__":
        verdict(False, "uses %s" % node.id)

def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level or name.split(".")[0] not in MODULES:
        raise ImportError(name)
    return __import__(name, globals, locals, fromlist, level)

SAFE = {n: getattr(builtins, n) for n in (
    "abs all any bool chr dict enumerate filter float int isinstance iter len list map max "
    "min next ord print range reversed set sorted str sum tuple zip Exception ValueError "
    "TypeError IndexError KeyError").split()}
SAFE["__import__"] = guarded_import

def namespace():
    return {"__builtins__": SAFE, "__name__": "edge_eval_check"}

def run(stmts, ns):
    sys.stdout = io.StringIO()
    try:
        exec(compile(ast.Module(body=stmts, type_ignores=[]), "<answer>", "exec"), ns)
    finally:
        sys.stdout = OUT

def is_print(stmt):
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "print")

try:
    if TASK == "evens":
        data = [1, 2, 3, 4, 5, 6, -2, 0, 7, 10, 11]
        want = [2, 4, 6, -2, 0, 10]
        if not any(isinstance(n, ast.ListComp) for n in ast.walk(tree)):
            verdict(False, "no list comprehension")
        ns = namespace()
        for name in ("nums", "numbers", "lst", "my_list", "arr", "data", "values", "l",
                     "input_list", "numbers_list", "num_list", "list_of_numbers"):
            ns[name] = list(data)
        body, last = tree.body, tree.body[-1]
        if isinstance(last, ast.Expr) and not is_print(last):
            run(body[:-1], ns)
            sys.stdout = io.StringIO()
            try:
                got = eval(compile(ast.Expression(body=last.value), "<answer>", "eval"), ns)
            finally:
                sys.stdout = OUT
        else:
            run(body, ns)
            names = [s.targets[0].id for s in body if isinstance(s, ast.Assign)
                     and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)]
            funcs = [s.name for s in body if isinstance(s, ast.FunctionDef)]
            if names:
                got = ns[names[-1]]
            elif funcs:
                got = ns[funcs[0]](list(data))
            else:
                verdict(False, "the code computes no list")
        if got == want:
            verdict(True, "kept %r of %r" % (got, data))
        verdict(False, "got %r from %r, expected %r" % (got, data, want))
    elif TASK == "palindrome":
        cases = [("A man, a plan, a canal: Panama", True), ("racecar", True), ("RaceCar", True),
                 ("No 'x' in Nixon", True), ("", True), ("12321", True),
                 ("Was it a car or a cat I saw?", True), ("hello", False), ("ab", False),
                 ("123ab", False), ("0P", False), ("abca", False)]
        ns = namespace()
        run(tree.body, ns)
        f = ns.get("is_palindrome")
        if not callable(f):
            verdict(False, "no function is_palindrome")
        for s, want in cases:
            sys.stdout = io.StringIO()
            try:
                got = f(s)
            finally:
                sys.stdout = OUT
            if not isinstance(got, (bool, int)) or bool(got) != want:
                verdict(False, "is_palindrome(%r) returned %r, expected %r" % (s, got, want))
        verdict(True, "%d cases right" % len(cases))
    else:
        verdict(False, "unknown task " + TASK)
except SystemExit:
    raise
except BaseException as e:
    verdict(False, "raised %s: %s" % (type(e).__name__, e))
"#;

fn run_python(exe: &std::path::Path, task: &str, code: &str) -> Check {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a directory to run in: {e}"))?;
    let mut child = Command::new(exe)
        .args(["-I", "-c", HARNESS, task])
        .current_dir(dir.path())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error means python exited early; its output says why.
        let _ = stdin.write_all(code.as_bytes());
    }
    let status = match child.wait_timeout(PYTHON_TIMEOUT) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the code ran longer than {} s",
                PYTHON_TIMEOUT.as_secs()
            ));
        }
        Err(e) => return Err(format!("waiting for python failed: {e}")),
    };
    let out = child
        .wait_with_output()
        .map_err(|e| format!("reading python's output failed: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("PASS") || l.starts_with("FAIL"))
    {
        Some(l) if l.starts_with("PASS") => Ok(()),
        Some(l) => Err(l.trim_start_matches("FAIL").trim().to_string()),
        None => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: String = stderr
                .lines()
                .last()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            Err(format!(
                "the check exited with {status} and no verdict: {tail}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENS_OK: [&str; 6] = [
        "[x for x in nums if x % 2 == 0]",
        "```python\nevens = [n for n in nums if n % 2 == 0]\n```",
        "[n for n in nums if not n % 2]",
        "Here you go:\n```python\nresult = [x for x in nums if x%2==0]\nprint(result)\n```",
        "```\n[num for num in numbers if num % 2 == 0]",
        "[i for i in nums if i & 1 == 0]",
    ];
    const EVENS_BAD: [&str; 6] = [
        "[x for x in nums if x % 2 == 1]",
        "[x for x in nums if x % 2]",
        "list(filter(lambda x: x % 2 == 0, nums))",
        "[x for x in nums]",
        "[x * 2 for x in nums if x % 2 == 0]",
        "The even numbers are the ones divisible by two.",
    ];
    const PAL_OK: [&str; 4] = [
        "def is_palindrome(s):\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]",
        "```python\nimport re\n\ndef is_palindrome(s):\n    s = re.sub(r'[^a-z0-9]', '', s.lower())\n    return s == s[::-1]\n```",
        "```python\ndef is_palindrome(s: str) -> bool:\n    cleaned = ''.join(ch.casefold() for ch in s if ch.isalnum())\n    return cleaned == ''.join(reversed(cleaned))\n\nif __name__ == \"__main__\":\n    print(is_palindrome(\"racecar\"))\n```",
        "def is_palindrome(s):\n    s = ''.join(c for c in s.lower() if c.isalnum())\n    i, j = 0, len(s) - 1\n    while i < j:\n        if s[i] != s[j]:\n            return False\n        i += 1\n        j -= 1\n    return True",
    ];
    const PAL_BAD: [&str; 5] = [
        "def is_palindrome(s):\n    return s == s[::-1]",
        "def is_palindrome(s):\n    s = s.lower()\n    return s == s[::-1]",
        "def palindrome(s):\n    return s == s[::-1]",
        "A palindrome reads the same both ways.",
        "def is_palindrome(s):\n    return s.lower() == s.lower()",
    ];

    fn python() -> CodeCheck {
        let check = CodeCheck::detect();
        assert!(
            matches!(check, CodeCheck::Python { .. }),
            "python3 is a prerequisite of the workspace (README); the python path is tested here"
        );
        check
    }

    #[test]
    fn evens_run_with_python() {
        let py = python();
        for a in EVENS_OK {
            assert_eq!(even_comprehension(a, &py), Ok(()), "should accept {a:?}");
        }
        for r in EVENS_BAD {
            assert!(even_comprehension(r, &py).is_err(), "should reject {r:?}");
        }
    }

    #[test]
    fn evens_by_pattern_alone() {
        let p = CodeCheck::Pattern;
        for a in EVENS_OK {
            assert_eq!(even_comprehension(a, &p), Ok(()), "should accept {a:?}");
        }
        for r in EVENS_BAD {
            assert!(even_comprehension(r, &p).is_err(), "should reject {r:?}");
        }
    }

    #[test]
    fn palindrome_runs_with_python() {
        let py = python();
        for a in PAL_OK {
            assert_eq!(palindrome(a, &py), Ok(()), "should accept {a:?}");
        }
        for r in PAL_BAD {
            assert!(palindrome(r, &py).is_err(), "should reject {r:?}");
        }
    }

    #[test]
    fn palindrome_by_pattern_alone() {
        let p = CodeCheck::Pattern;
        for a in PAL_OK {
            assert_eq!(palindrome(a, &p), Ok(()), "should accept {a:?}");
        }
        for r in PAL_BAD {
            assert!(palindrome(r, &p).is_err(), "should reject {r:?}");
        }
    }

    #[test]
    fn hostile_or_hanging_code_is_refused_not_run() {
        let py = python();
        let hostile = [
            "import os\ndef is_palindrome(s):\n    os.system('true')\n    return True",
            "def is_palindrome(s):\n    return ().__class__.__bases__[0] is object",
            "def is_palindrome(s):\n    return open('/etc/passwd') is not None",
            "def is_palindrome(s):\n    return __import__('os') is None",
        ];
        let reasons: Vec<String> = hostile
            .iter()
            .map(|h| palindrome(h, &py).expect_err(h))
            .collect();
        assert!(reasons[0].contains("imports os"), "{reasons:?}");
        assert!(reasons[1].contains("private attribute __"), "{reasons:?}");
        assert!(reasons[2].contains("NameError"), "{reasons:?}");
        assert!(reasons[3].contains("uses __import__"), "{reasons:?}");
        let wrong = palindrome(PAL_BAD[0], &py).unwrap_err();
        assert!(
            wrong.contains("'A man, a plan, a canal: Panama'"),
            "{wrong}"
        );
        let odd = even_comprehension(EVENS_BAD[0], &py).unwrap_err();
        assert!(odd.contains("expected [2, 4, 6, -2, 0, 10]"), "{odd}");
        let e =
            palindrome("def is_palindrome(s):\n    while True:\n        pass", &py).unwrap_err();
        assert!(e.contains("ran longer") || e.contains("exited"), "{e}");
    }
}
