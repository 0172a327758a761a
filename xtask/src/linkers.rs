//! The linkers of the link matrix (`cargo-percpu/tests/link_matrix.rs`) and
//! the older toolchains the automation builds with: the rust-lld of the
//! oldest toolchain the workspace supports (its `rust-version`), and GNU ld
//! from Debian's binutils for every architecture Debian has one for.
//! `print-deps` lists them for `.ci/run`; [`ensure`] installs what is
//! missing, idempotently.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::targets::Target;
use crate::toolchain;

/// GNU ld of each architecture the matrix links with it: the binary and the
/// Debian package. Debian 12 has no LoongArch binutils; riscv64's ld links
/// riscv32 too (`-m elf32lriscv`).
pub const GNU_LD: [(&str, &str); 4] = [
    ("x86_64-linux-gnu-ld", "binutils-x86-64-linux-gnu"),
    ("aarch64-linux-gnu-ld", "binutils-aarch64-linux-gnu"),
    ("riscv64-linux-gnu-ld", "binutils-riscv64-linux-gnu"),
    ("arm-none-eabi-ld", "binutils-arm-none-eabi"),
];

/// `print-deps`'s lines for the matrix's GNU linkers: `apt BINARY PACKAGE`
/// (the MSRV toolchain's line is [`crate::msrv::print_deps`]'s).
pub fn print_deps() {
    for (binary, package) in GNU_LD {
        println!("apt {binary} {package}");
    }
}

/// Installs the MSRV toolchain and the GNU linkers that are missing.
pub fn ensure() -> Result<()> {
    crate::msrv::ensure()?;
    for (binary, package) in GNU_LD {
        toolchain::ensure_apt(binary, package)?;
    }
    Ok(())
}

/// How `test-all-arches` builds the kernels: with which toolchain
/// (`--toolchain`) and which rust-lld (`--linker-toolchain`).
pub struct KernelBuild {
    /// The toolchain whose cargo builds, if not the running one.
    toolchain: Option<String>,
    /// The rust-lld that links, if not the building toolchain's.
    linker: Option<PathBuf>,
    /// Appended to `test-kernel` for the target directory, so that each
    /// combination keeps its own build.
    pub dir_suffix: String,
}

impl KernelBuild {
    /// Installs what the toolchains need for `targets` (the rustup targets
    /// of the building toolchain, `rust-src` for `-Zbuild-std`) and says
    /// which LLD links.
    pub fn new(toolchain: Option<&str>, linker: Option<&str>, targets: &[&Target]) -> Result<Self> {
        let mut dir_suffix = String::new();
        if let Some(name) = toolchain {
            let mut triples: Vec<&str> = targets
                .iter()
                .filter(|t| !t.build_std)
                .map(|t| t.triple())
                .collect();
            triples.sort_unstable();
            triples.dedup();
            let build_std = targets.iter().any(|t| t.build_std);
            toolchain::ensure_toolchain(
                name,
                &triples,
                if build_std { &["rust-src"] } else { &[] },
            )?;
            dir_suffix.push_str(&format!("-{name}"));
        }
        if let Some(name) = linker {
            toolchain::ensure_toolchain(name, &[], &[])?;
            dir_suffix.push_str(&format!("-lld-{name}"));
        }
        let lld = rust_lld(linker.or(toolchain))?;
        let version = toolchain::output(Command::new(&lld).args(["-flavor", "gnu", "--version"]))?;
        eprintln!(
            "test-all-arches: kernels built by toolchain {}, linked by {} ({})",
            toolchain.unwrap_or("of the xtask"),
            version.split(" (").next().unwrap_or(&version).trim(),
            lld.display()
        );
        Ok(KernelBuild {
            toolchain: toolchain.map(str::to_owned),
            linker: linker.map(|_| lld),
            dir_suffix,
        })
    }

    /// `cargo build` of `target` ([`Target::cargo_build_with`]), linked by
    /// the chosen rust-lld: rustc keeps the target's LLD flavour for a
    /// linker named `rust-lld`.
    pub fn cargo_build(&self, target: &Target) -> Command {
        let mut cmd = target.cargo_build_with(self.toolchain.as_deref());
        if let Some(lld) = &self.linker {
            let triple = target.triple().to_uppercase().replace('-', "_");
            cmd.env(format!("CARGO_TARGET_{triple}_LINKER"), lld);
        }
        cmd
    }
}

/// The rust-lld of rustup toolchain `name`, or of the running cargo's
/// toolchain for `None`.
fn rust_lld(name: Option<&str>) -> Result<PathBuf> {
    let rustc = |args: &[&str]| match name {
        Some(name) => toolchain::output(
            Command::new("rustup")
                .args(["run", name, "rustc"])
                .args(args),
        ),
        None => toolchain::output(Command::new("rustc").args(args)),
    };
    let sysroot = rustc(&["--print", "sysroot"])?;
    let host = rustc(&["-vV"])?;
    let host = host
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .context("rustc -vV names no host")?;
    Ok(Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/rust-lld"))
}

/// The configurations `ci` boots linked by the MSRV toolchain's rust-lld
/// (LLD 19 for 1.85): x86_64, and RISC-V 64 for a load/store architecture.
pub const MSRV_BOOTS: [&str; 2] = ["x86_64", "riscv64"];

/// `ci`'s step: the test kernel linked by the MSRV toolchain's rust-lld
/// boots on [`MSRV_BOOTS`] with 4 CPUs. It is compiled by the running
/// toolchain: rustup may not have the MSRV's bare-metal `core` (1.85's
/// riscv64gc is not downloadable here).
pub fn boot_with_msrv() -> Result<()> {
    use crate::test_all_arches::{run as boot, Args, Count, Counts};
    for name in MSRV_BOOTS {
        boot(&Args {
            only: Some(name.to_owned()),
            cpus: Some(Counts(vec![Count::N(4)])),
            linker_toolchain: Some(crate::msrv::RUST_VERSION.to_owned()),
            ..Args::default()
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_msrv_boots_are_configurations() {
        use clap::Parser;
        for name in MSRV_BOOTS {
            let args = ["cargo-xtask", "test-all-arches", "--arch", name];
            assert!(crate::Cli::try_parse_from(args).is_ok(), "{name}");
        }
    }
}
