//! Downloading, verifying and extracting the pinned llama.cpp sources into the cache.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fail;

pub use edge_infer_cache::LlamaPin as Pin;

pub fn read_pin(path: &Path) -> Pin {
    Pin::read(path).unwrap_or_else(|e| fail(&e.to_string()))
}

/// The extracted pinned tree in the cache, fetching and verifying it on first use.
pub fn pinned_tree(pin: &Pin) -> PathBuf {
    let cache = edge_infer_cache::cache_dir().unwrap_or_else(|e| fail(&e.to_string()));
    let tree = pin.tree_dir(&cache);
    let root = tree.parent().unwrap().to_path_buf();
    let stamp = tree.join(".edge-infer-verified");
    if stamp.is_file() {
        return tree;
    }
    fs::create_dir_all(&root)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", root.display())));

    let sdist = match env::var_os("LLAMA_CPP_SDIST") {
        Some(p) => PathBuf::from(p),
        None => pip_download(pin, &root),
    };
    let digest = sha256_file(&sdist);
    if digest != pin.sha256 {
        fail(&format!(
            "{} has sha256 {digest}, but the pin in llama-cpp.pin is {}; \
             delete it and build again",
            sdist.display(),
            pin.sha256
        ));
    }

    // Extract next to the final place, then rename, so that concurrent builds and
    // interrupted extractions never leave a half tree that looks complete.
    let tmp = root.join(format!(".extract-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).unwrap();
    let file = fs::File::open(&sdist).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let prefix = Path::new(&pin.subdir);
    for entry in archive.entries().expect("read sdist") {
        let mut entry = entry.expect("read sdist entry");
        let path = entry.path().expect("sdist path").into_owned();
        if let Ok(rel) = path.strip_prefix(prefix) {
            if rel.as_os_str().is_empty() {
                continue;
            }
            let dest = tmp.join(rel);
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent).unwrap();
            }
            entry.unpack(&dest).expect("unpack sdist entry");
        }
    }
    if !tmp.join("include/llama.h").is_file() {
        fail(&format!(
            "the sdist {} has no {}/include/llama.h",
            sdist.display(),
            pin.subdir
        ));
    }
    fs::write(
        tmp.join(".edge-infer-verified"),
        format!(
            "{} {} sha256={} commit={}\n",
            pin.package, pin.version, pin.sha256, pin.commit
        ),
    )
    .unwrap();
    if fs::rename(&tmp, &tree).is_err() {
        // Another build won the race; its tree is as good as ours.
        let _ = fs::remove_dir_all(&tmp);
        if !stamp.is_file() {
            fail(&format!(
                "cannot move the extracted tree into {}",
                tree.display()
            ));
        }
    }
    tree
}

fn pip_download(pin: &Pin, root: &Path) -> PathBuf {
    let dl = root.join("sdist");
    let file = dl.join(&pin.sdist);
    if file.is_file() && sha256_file(&file) == pin.sha256 {
        return file;
    }
    let spec = format!("{}=={}", pin.package, pin.version);
    let python = env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let what_to_do = format!(
        "cannot obtain the pinned llama.cpp sources ({spec} sdist, sha256 {sha}, llama.cpp commit {commit}) \
         and none are cached in {root}. Do one of:\n  \
         1. give this machine `{python} -m pip` with access to the PyPI registry and build again;\n  \
         2. on a machine that has it, run `pip download --no-deps --no-binary {package} {spec}` and build \
         here with LLAMA_CPP_SDIST=/path/to/{sdist};\n  \
         3. build with LLAMA_CPP_DIR=/path/to/llama.cpp (your own checkout, ideally at commit {commit}).",
        sha = pin.sha256,
        commit = pin.commit,
        root = root.display(),
        sdist = pin.sdist,
        package = pin.package,
    );
    let status = Command::new(&python)
        // `--no-binary` names only this package: `:all:` would also build pip's build
        // dependencies (cmake among them) from source just to read the sdist's metadata.
        .args(["-m", "pip", "download", "--no-deps", "--no-binary"])
        .arg(&pin.package)
        .args(["--disable-pip-version-check", "-q", "-d"])
        .arg(&dl)
        .arg(&spec)
        .status();
    match status {
        Ok(s) if s.success() && file.is_file() => file,
        Ok(s) => fail(&format!("pip download failed ({s}).\n{what_to_do}")),
        Err(e) => fail(&format!(
            "cannot run `{python} -m pip` ({e}).\n{what_to_do}"
        )),
    }
}

pub fn sha256_file(path: &Path) -> String {
    edge_infer_cache::sha256_file(path)
        .unwrap_or_else(|e| fail(&format!("cannot hash {}: {e}", path.display())))
}
