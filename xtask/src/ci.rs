//! `cargo xtask ci`: everything CI checks, in one command, from a clean
//! clone. Each step prints its name; the first failure stops the run.

use anyhow::Result;
use std::process::Command;
use std::time::Instant;

use crate::toolchain::{self, cargo, ensure_components, ensure_targets, workspace_root};

/// The bare-metal targets every feature set must compile for, with the
/// feature sets that mean something there.
pub const CROSS_TARGETS: &[(&str, &[&str])] = &[
    (
        "x86_64-unknown-none",
        &["", "preempt", "sp-naive", "non-zero-vma"],
    ),
    (
        "aarch64-unknown-none",
        &[
            "",
            "preempt",
            "arm-el2",
            "arm-el2,preempt",
            "sp-naive",
            "non-zero-vma",
        ],
    ),
    (
        "riscv64gc-unknown-none-elf",
        &["", "preempt", "sp-naive", "non-zero-vma"],
    ),
    (
        "riscv32imac-unknown-none-elf",
        &["", "preempt", "sp-naive", "non-zero-vma"],
    ),
    (
        "loongarch64-unknown-none",
        &["", "preempt", "sp-naive", "non-zero-vma"],
    ),
    (
        "armv7a-none-eabi",
        &["", "preempt", "sp-naive", "non-zero-vma"],
    ),
];

/// Feature sets the host tests run with (x86_64 Linux user space, where
/// `non-zero-vma` is implied).
const HOST_FEATURE_SETS: &[&str] = &[
    "",
    "preempt",
    "sp-naive",
    "sp-naive,preempt,non-zero-vma",
    "preempt,arm-el2,non-zero-vma",
];

/// Targets without a prebuilt `core` in rustup: built with `-Zbuild-std`.
pub fn needs_build_std(target: &str) -> bool {
    target.starts_with("loongarch64")
}

/// A `cargo build` for `target`, with `-Zbuild-std=core` where rustup ships
/// no `core` (stable cargo accepts it under `RUSTC_BOOTSTRAP=1`).
pub fn cross_build(target: &str) -> Command {
    let mut cmd = cargo();
    cmd.args(["build", "--target", target]);
    if needs_build_std(target) {
        cmd.env("RUSTC_BOOTSTRAP", "1").arg("-Zbuild-std=core");
    }
    cmd
}

pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        anyhow::bail!("`cargo xtask ci` takes no arguments, got `{arg}`");
    }
    let started = Instant::now();
    step("toolchain", prerequisites)?;
    step("cargo fmt --check", fmt)?;
    step("cargo clippy -D warnings", clippy)?;
    step("cargo doc -D warnings", doc)?;
    step("host tests", host_tests)?;
    step("bare-metal builds", cross_builds)?;
    step("codegen budgets (cargo xtask asm-report)", || {
        crate::asm_report::run(&[])
    })?;
    step("QEMU matrix (cargo xtask test-all-arches)", || {
        crate::test_all_arches::run(&[])
    })?;
    step(
        "inspect against goblin on the built ELFs",
        crosscheck_built_elfs,
    )?;
    eprintln!("\nci: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

fn step(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    eprintln!("\n==> ci: {name}");
    let started = Instant::now();
    let result = f();
    match &result {
        Ok(()) => eprintln!("<== ci: {name}: ok ({:.1?})", started.elapsed()),
        Err(err) => eprintln!("<== ci: {name}: FAILED: {err:#}"),
    }
    result
}

fn prerequisites() -> Result<()> {
    let targets: Vec<&str> = CROSS_TARGETS
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| !needs_build_std(t))
        .collect();
    ensure_targets(&targets)?;
    ensure_components(&["rustfmt", "clippy", "rust-src", "llvm-tools"])
}

/// Crates outside the workspace that CI still holds to `cargo fmt`.
const STANDALONE_CRATES: &[&str] = &[
    "xtask/test-kernel",
    "xtask/asm-fixture",
    "cargo-percpu/fuzz",
];

fn fmt() -> Result<()> {
    toolchain::run(cargo().args(["fmt", "--all", "--check"]))?;
    for dir in STANDALONE_CRATES {
        let manifest = workspace_root().join(dir).join("Cargo.toml");
        if manifest.exists() {
            toolchain::run(
                cargo()
                    .arg("fmt")
                    .arg("--manifest-path")
                    .arg(&manifest)
                    .arg("--check"),
            )?;
        }
    }
    Ok(())
}

fn clippy() -> Result<()> {
    toolchain::run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    for features in ["preempt", "sp-naive"] {
        toolchain::run(cargo().args([
            "clippy",
            "-p",
            "percpu",
            "--all-targets",
            "--features",
            features,
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    Ok(())
}

fn doc() -> Result<()> {
    toolchain::run(
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

fn host_tests() -> Result<()> {
    toolchain::run(cargo().args(["test", "--workspace"]))?;
    for features in HOST_FEATURE_SETS.iter().filter(|f| !f.is_empty()) {
        toolchain::run(cargo().args(["test", "-p", "percpu", "--features", features]))?;
    }
    // Release builds drop the debug checks: the rest must hold without them.
    toolchain::run(cargo().args(["test", "-p", "percpu", "--release"]))
}

/// `percpu` for every bare-metal target and feature set. The access code is
/// `macro_rules!` expanded in the user's crate, so the codegen fixture (a
/// crate that uses every method) is built too.
fn cross_builds() -> Result<()> {
    let fixture = workspace_root().join("xtask/asm-fixture/Cargo.toml");
    for (target, feature_sets) in CROSS_TARGETS {
        for features in *feature_sets {
            let mut cmd = cross_build(target);
            cmd.args(["-p", "percpu", "--features", features]);
            toolchain::run(&mut cmd)?;
            if fixture.exists() {
                let mut cmd = cross_build(target);
                cmd.arg("--manifest-path").arg(&fixture).args([
                    "--release",
                    "--features",
                    features,
                ]);
                toolchain::run(&mut cmd)?;
            }
        }
    }
    Ok(())
}

/// `cargo percpu inspect` and goblin, an independent parser, must agree on
/// every real binary the workspace built: the QEMU kernels (the last
/// configuration of each target) and percpu's host test binaries.
fn crosscheck_built_elfs() -> Result<()> {
    let target = toolchain::target_root();
    let mut elfs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(target.join("test-kernel")) {
        for entry in entries.flatten() {
            let kernel = entry.path().join("release").join("percpu-test-kernel");
            if kernel.is_file() {
                elfs.push(kernel);
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(target.join("debug").join("deps")) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let host_test = ["access-", "init-", "threads-"]
                .iter()
                .any(|prefix| name.starts_with(prefix));
            if host_test && path.extension().is_none() && path.is_file() {
                elfs.push(path);
            }
        }
    }
    if elfs.len() < 7 {
        anyhow::bail!("expected the six QEMU kernels and the host tests, found {elfs:?}");
    }
    let joined = std::env::join_paths(&elfs)?;
    eprintln!("cross-checking {} ELF files", elfs.len());
    toolchain::run(
        cargo()
            .args(["test", "-p", "cargo-percpu", "--test", "link", "extra_elfs"])
            .env("PERCPU_CROSSCHECK_ELFS", joined),
    )
}
