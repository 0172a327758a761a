//! The linkers of the link matrix (`cargo-percpu/tests/link_matrix.rs`) and
//! the older toolchains the automation builds with: the rust-lld of the
//! oldest toolchain the workspace supports (its `rust-version`), and GNU ld
//! from Debian's binutils for every architecture Debian has one for.
//! `print-deps` lists them for `.ci/run`; [`ensure`] installs what is
//! missing, idempotently.

use anyhow::{Context, Result};
use std::process::Command;

use crate::toolchain::{self, run};

/// GNU ld of each architecture the matrix links with it: the binary and the
/// Debian package. Debian 12 has no LoongArch binutils; riscv64's ld links
/// riscv32 too (`-m elf32lriscv`).
pub const GNU_LD: [(&str, &str); 4] = [
    ("x86_64-linux-gnu-ld", "binutils-x86-64-linux-gnu"),
    ("aarch64-linux-gnu-ld", "binutils-aarch64-linux-gnu"),
    ("riscv64-linux-gnu-ld", "binutils-riscv64-linux-gnu"),
    ("arm-none-eabi-ld", "binutils-arm-none-eabi"),
];

/// The oldest toolchain the workspace supports: its declared `rust-version`.
pub fn msrv() -> &'static str {
    env!("CARGO_PKG_RUST_VERSION")
}

/// `print-deps`'s lines for the matrix: `toolchain NAME` and `apt BINARY
/// PACKAGE`.
pub fn print_deps() {
    println!("toolchain {}", msrv());
    for (binary, package) in GNU_LD {
        println!("apt {binary} {package}");
    }
}

/// Installs the MSRV toolchain and the GNU linkers that are missing.
pub fn ensure() -> Result<()> {
    ensure_toolchain(msrv(), &[], &[])?;
    for (binary, package) in GNU_LD {
        toolchain::ensure_apt(binary, package)?;
    }
    Ok(())
}

/// Installs rustup toolchain `name` (minimal profile) unless it is there,
/// then its `targets` and `components`; every step is a no-op when done.
pub fn ensure_toolchain(name: &str, targets: &[&str], components: &[&str]) -> Result<()> {
    let present = Command::new("rustup")
        .args(["run", name, "rustc", "--version"])
        .env("RUSTUP_AUTO_INSTALL", "0")
        .output()
        .is_ok_and(|out| out.status.success());
    if !present {
        run(Command::new("rustup").args(["toolchain", "install", "--profile", "minimal", name]))
            .with_context(|| format!("cannot install toolchain {name}"))?;
    }
    if !targets.is_empty() {
        run(Command::new("rustup")
            .args(["target", "add", "--toolchain", name])
            .args(targets))?;
    }
    if !components.is_empty() {
        run(Command::new("rustup")
            .args(["component", "add", "--toolchain", name])
            .args(components))?;
    }
    Ok(())
}

/// `test-all-arches --linker-toolchain NAME`: the toolchain with the rustup
/// targets of `targets` (and `rust-src` for those built with
/// `-Zbuild-std`); says which LLD links the kernels.
pub fn prerequisites(name: &str, targets: &[&crate::targets::Target]) -> Result<()> {
    let mut triples: Vec<&str> = targets
        .iter()
        .filter(|t| !t.build_std)
        .map(|t| t.triple())
        .collect();
    triples.sort_unstable();
    triples.dedup();
    let build_std = targets.iter().any(|t| t.build_std);
    ensure_toolchain(name, &triples, if build_std { &["rust-src"] } else { &[] })?;
    let sysroot = toolchain::output(
        Command::new("rustup").args(["run", name, "rustc", "--print", "sysroot"]),
    )?;
    let host = toolchain::output(Command::new("rustup").args(["run", name, "rustc", "-vV"]))?;
    let host = host
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .context("rustc -vV names no host")?;
    let lld = std::path::Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/rust-lld");
    let version = toolchain::output(Command::new(&lld).args(["-flavor", "gnu", "--version"]))?;
    eprintln!(
        "test-all-arches: kernels built with toolchain {name}, linked by {}",
        version.split(" (").next().unwrap_or(&version).trim()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_msrv_is_a_version() {
        let parts: Vec<&str> = msrv().split('.').collect();
        assert!(parts.len() >= 2, "{}", msrv());
        assert!(parts.iter().all(|p| p.parse::<u32>().is_ok()));
    }
}
