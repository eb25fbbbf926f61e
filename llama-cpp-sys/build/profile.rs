//! Choosing the build profile (native, rk3588, generic) from features and environment.

use std::env;

use crate::fail;

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Native,
    Rk3588,
    Generic,
}

pub struct Profile {
    pub kind: Kind,
    pub arm_arch: Option<String>,
    pub openmp: bool,
    /// Let a native x86-64 build use AMX when the host has it (opt-in, see `x86_isa_flags`).
    pub amx: bool,
    pub target: String,
    pub cross: bool,
}

impl Profile {
    pub fn select() -> Profile {
        let target = env::var("TARGET").unwrap();
        let host = env::var("HOST").unwrap();
        let cross = target != host;
        let rk3588_feature = env::var_os("CARGO_FEATURE_RK3588").is_some()
            || env::var_os("CARGO_FEATURE_RK3588_FP16").is_some();
        let kind = match env::var("LLAMA_CPP_PROFILE").ok().as_deref() {
            Some("native") => Kind::Native,
            Some("rk3588") => Kind::Rk3588,
            Some("generic") => Kind::Generic,
            Some(other) => fail(&format!(
                "LLAMA_CPP_PROFILE={other} is not a profile; use native, rk3588 or generic"
            )),
            // The feature only means something for aarch64 targets: `--all-features` on an
            // x86-64 workstation should still build (natively) rather than fail.
            None if rk3588_feature && target.starts_with("aarch64") => Kind::Rk3588,
            None if rk3588_feature => {
                println!(
                    "cargo:warning=feature rk3588 ignored: it is for aarch64 targets, not {target}"
                );
                if cross {
                    Kind::Generic
                } else {
                    Kind::Native
                }
            }
            None if cross && target.starts_with("aarch64") => Kind::Rk3588,
            None if cross => Kind::Generic,
            None => Kind::Native,
        };
        if kind == Kind::Native && cross {
            fail("the native profile optimises for the build host and cannot cross-compile; use rk3588 or generic");
        }
        if kind == Kind::Rk3588 && !target.starts_with("aarch64") {
            fail(&format!(
                "the rk3588 profile is for aarch64 targets, not {target}; \
                 build with --target aarch64-unknown-linux-gnu"
            ));
        }
        // Cortex-A76 is armv8.2-a with dotprod and fp16. The extensions must be part of
        // -march itself: ggml turns GGML_CPU_ARM_ARCH into -march=..., which overrides any
        // -mcpu=cortex-a76+dotprod given in CFLAGS and silently drops dotprod.
        // fp16 vector arithmetic is opt-in (feature rk3588-fp16): with it, ggml accumulates
        // f16 dot products in fp16, and measured greedy output drifted further from the
        // reference with an f16 KV cache and flash attention off (README, numerics).
        let arm_arch = match env::var("LLAMA_CPP_ARM_ARCH") {
            Ok(a) if !a.is_empty() => Some(a),
            _ if kind == Kind::Rk3588 && env::var_os("CARGO_FEATURE_RK3588_FP16").is_some() => {
                Some("armv8.2-a+dotprod+fp16".to_string())
            }
            _ => (kind == Kind::Rk3588).then(|| "armv8.2-a+dotprod".to_string()),
        };
        let openmp = !matches!(
            env::var("LLAMA_CPP_OPENMP").ok().as_deref(),
            Some("0" | "off" | "OFF")
        );
        let amx = match env::var("LLAMA_CPP_AMX").ok().as_deref() {
            Some("1" | "on" | "ON" | "true") => true,
            Some("0" | "off" | "OFF" | "false") => false,
            Some(other) => fail(&format!("LLAMA_CPP_AMX={other}: use 1 or 0")),
            None => env::var_os("CARGO_FEATURE_AMX").is_some(),
        };
        if amx && !(kind == Kind::Native && target.starts_with("x86_64")) {
            println!(
                "cargo:warning=AMX ignored: it applies to the native profile on x86-64 hosts only"
            );
        }
        Profile {
            kind,
            arm_arch,
            openmp,
            amx,
            target,
            cross,
        }
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Native => "native",
            Kind::Rk3588 => "rk3588",
            Kind::Generic => "generic",
        }
    }
}
