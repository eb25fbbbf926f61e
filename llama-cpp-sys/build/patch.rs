//! Applying `patches/*.patch` to a copy of the llama.cpp tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fail;
use crate::fetch::sha256_file;

/// Applies `patches/*.patch` (sorted) to a copy of `src` in OUT_DIR. Without
/// patches the tree is used in place. A patch that does not apply fails the build.
///
/// The copy hard-links every file (where the file system allows) except those the patches
/// touch, which are real copies: a 180 MB tree per target dir would otherwise be copied,
/// and the cache's files must never be patched through a link.
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
    check_patch_program();
    let _ = fs::remove_dir_all(&dst);
    link_tree(src, &dst);
    for p in &list {
        for rel in touched_files(p) {
            unlink_copy(&dst.join(rel));
        }
    }
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

/// GNU patch (or a compatible one) applies the patches: it is part of every C/C++ build
/// setup that cmake and a compiler come with (Debian's build-essential pulls it in).
fn check_patch_program() {
    let found = Command::new("patch")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        fail(
            "the `patch` program is needed to apply this crate's patches to llama.cpp and was not \
             found on PATH: install it (Debian/Ubuntu: `apt-get install patch`, Fedora: `dnf install \
             patch`, macOS: it ships with the Xcode command line tools)",
        );
    }
}

/// The files a unified diff changes, relative to its `-p1` root.
fn touched_files(patch: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string(patch)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", patch.display())));
    text.lines()
        .filter_map(|l| l.strip_prefix("+++ "))
        .filter_map(|l| l.split('\t').next())
        .filter_map(|p| p.trim().split_once('/').map(|(_, rel)| PathBuf::from(rel)))
        .collect()
}

/// Replaces a hard link by a private copy of the same content.
fn unlink_copy(file: &Path) {
    if let Ok(bytes) = fs::read(file) {
        let perms = fs::metadata(file).map(|m| m.permissions()).ok();
        fs::remove_file(file).unwrap();
        fs::write(file, bytes).unwrap();
        if let Some(perms) = perms {
            let _ = fs::set_permissions(file, perms);
        }
    }
}

fn link_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (s, d) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            link_tree(&s, &d);
        } else if fs::hard_link(&s, &d).is_err() {
            fs::copy(&s, &d).unwrap();
        }
    }
}
