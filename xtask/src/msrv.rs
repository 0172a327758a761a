//! `cargo xtask ci`'s MSRV step: the crates that publish, checked with the
//! toolchain of the workspace's declared `rust-version`, for the host and,
//! with `-Zbuild-std`, for every bare-metal target (rustup ships no prebuilt
//! `core` of an old release for most of them; its `rust-src` is enough).
//!
//! The toolchain is installed by `.ci/run` (a `toolchain` line of
//! `cargo xtask print-deps`) and again here when missing, idempotently.

use anyhow::{Context, Result};
use std::process::Command;

use crate::ci::PUBLISHED;
use crate::targets::{self, TARGETS};
use crate::toolchain;

/// What the MSRV toolchain needs besides its minimal profile.
pub const COMPONENTS: &[&str] = &["rust-src"];

/// The workspace's `rust-version` (`1.85`), which the xtask inherits from
/// the root manifest, the one place it is declared; rustup names the
/// toolchain so.
pub const RUST_VERSION: &str = env!("CARGO_PKG_RUST_VERSION");

/// `print-deps`' line for the MSRV toolchain: `toolchain NAME COMPONENT...`.
pub fn print_deps() {
    println!("toolchain {RUST_VERSION} {}", COMPONENTS.join(" "));
}

/// Installs the MSRV toolchain and [`COMPONENTS`] when missing.
pub fn ensure() -> Result<()> {
    toolchain::ensure_toolchain(RUST_VERSION, &[], COMPONENTS)
}

/// `cargo` of toolchain `name`, with nothing of the running toolchain's
/// environment, and a target directory of its own.
fn cargo(name: &str) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", name, "cargo"]);
    for var in ["CARGO", "RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN", "RUSTFLAGS"] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_TARGET_DIR", toolchain::target_root().join("msrv"));
    cmd
}

/// The step: `cargo check --locked` with the MSRV toolchain, of the
/// published crates for the host, and of `percpu` for every bare-metal
/// target with each of its feature sets.
pub fn check() -> Result<()> {
    let version = RUST_VERSION;
    ensure()?;
    let rustc = toolchain::output(Command::new("rustup").args(["run", version, "rustc", "-V"]))?;
    eprintln!("msrv: rust-version {version} is {}", rustc.trim());
    let mut cmd = cargo(version);
    cmd.args(["check", "--locked"]);
    for krate in PUBLISHED {
        cmd.args(["-p", krate]);
    }
    toolchain::run(&mut cmd)?;
    for target in &TARGETS {
        for features in targets::feature_sets(target) {
            let mut cmd = cargo(version);
            // Stable cargo takes -Z under RUSTC_BOOTSTRAP=1, as the QEMU
            // kernels' LoongArch build does.
            cmd.env("RUSTC_BOOTSTRAP", "1").args([
                "check",
                "--locked",
                "-p",
                "percpu",
                "-Zbuild-std=core,alloc",
                "--target",
                target.triple(),
                "--features",
                &features,
            ]);
            toolchain::run(&mut cmd)?;
        }
    }
    Ok(())
}

/// The minor version of the running cargo (`cargo 1.85.1 (…)` gives 85).
fn cargo_minor() -> Result<u32> {
    let version = toolchain::output(toolchain::cargo().arg("-V"))?;
    parse_minor(&version).with_context(|| format!("cannot read `cargo -V`: {}", version.trim()))
}

fn parse_minor(version: &str) -> Option<u32> {
    let number = version.split_whitespace().nth(1)?;
    number.split('.').nth(1)?.parse().ok()
}

/// Lets `cargo package` of several members resolve each other before any
/// is on crates.io. Cargo 1.90 does that on its own; from 1.85 on, it
/// does it under `-Zpackage-workspace`, which stable cargo takes under
/// `RUSTC_BOOTSTRAP=1`.
pub fn package_workspace(cmd: &mut Command) -> Result<()> {
    if cargo_minor()? < 90 {
        cmd.env("RUSTC_BOOTSTRAP", "1").arg("-Zpackage-workspace");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rust_version_is_a_version() {
        let parts: Vec<&str> = RUST_VERSION.split('.').collect();
        assert!(parts.len() >= 2, "{RUST_VERSION}");
        assert!(parts.iter().all(|p| p.parse::<u32>().is_ok()));
    }

    #[test]
    fn cargo_versions() {
        assert_eq!(
            parse_minor("cargo 1.85.1 (d73d2caf9 2024-12-31)\n"),
            Some(85)
        );
        assert_eq!(
            parse_minor("cargo 1.97.0-nightly (abc 2026-05-19)"),
            Some(97)
        );
        assert_eq!(parse_minor("cargo"), None);
        assert!(cargo_minor().unwrap() >= 85);
    }
}
