//! Applying `patches/*.patch` to a copy of the llama.cpp tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fail;
use crate::fetch::sha256_file;

/// Applies `patches/*.patch` (sorted) to a copy of `src` in OUT_DIR. Without
/// patches the tree is used in place. A patch that does not apply fails the build.
pub fn apply_patches(src: &Path, patches: &Path, out: &Path) -> PathBuf {
    println!("cargo:rerun-if-changed={}", patches.display());
    let mut list: Vec<PathBuf> = fs::read_dir(patches)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "patch"))
                .collect()
        })
        .unwrap_or_default();
    if list.is_empty() {
        return src.to_path_buf();
    }
    list.sort();
    let dst = out.join("llama.cpp-patched");
    let stamp = dst.join(".edge-infer-patched");
    let want: String = list
        .iter()
        .map(|p| format!("{} {}\n", p.display(), sha256_file(p)))
        .collect::<String>()
        + &format!("src {}\n", src.display());
    if fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return dst;
    }
    let _ = fs::remove_dir_all(&dst);
    copy_tree(src, &dst);
    for p in &list {
        let ok = Command::new("patch")
            .args(["-p1", "--forward", "--batch", "--silent", "-d"])
            .arg(&dst)
            .arg("-i")
            .arg(p)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            fail(&format!(
                "the patch {} does not apply to the llama.cpp tree at {}",
                p.display(),
                src.display()
            ));
        }
    }
    fs::write(&stamp, want).unwrap();
    dst
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (s, d) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_tree(&s, &d);
        } else {
            fs::copy(&s, &d).unwrap();
        }
    }
}
