//! The 0.2 line (`compat/0.2`: `percpu` 0.2.99 on the 0.4 runtime), checked
//! against what the 0.2 line's users run.
//!
//! - [`suites`]: the published 0.2.0, 0.2.2 and 0.2.3-preview.1 packages'
//!   own test suites, fetched from crates.io by cargo at test time (never
//!   kept in this repository), run against `percpu` 0.2.99 with exactly
//!   their build scripts and linker scripts.
//! - [`workspace`]: the `compat/0.2` workspace's own tests (a graph with
//!   both lines), and its fmt, clippy and doc.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

use crate::dropin::{published, write};
use crate::toolchain::{self, cargo, workspace_root};

/// Where the 0.2-line workspace lives.
pub fn compat_dir() -> PathBuf {
    workspace_root().join("compat/0.2")
}

/// One run of a published suite.
struct SuiteRun {
    version: &'static str,
    features: &'static str,
    /// Extra `RUSTFLAGS`: 0.2.0's script puts `.percpu` at VMA 0, below the
    /// image base, which rustc's default `rust-lld` refuses and GNU ld takes.
    rustflags: &'static str,
    /// Tests that must pass: the test is `cfg`'d out under some features,
    /// which would pass with none.
    tests: usize,
}

const SUITE_RUNS: &[SuiteRun] = &[
    SuiteRun {
        version: "0.2.0",
        features: "",
        rustflags: "-C link-arg=-fuse-ld=bfd",
        tests: 1,
    },
    SuiteRun {
        version: "0.2.0",
        features: "sp-naive",
        rustflags: "",
        tests: 1,
    },
    SuiteRun {
        version: "0.2.2",
        features: "non-zero-vma",
        rustflags: "",
        tests: 1,
    },
    SuiteRun {
        version: "0.2.3-preview.1",
        features: "non-zero-vma",
        rustflags: "",
        tests: 1,
    },
    // Its build script links `test_percpu_custom.x` then, and the test
    // takes its areas from `_percpu_base_ptr`.
    SuiteRun {
        version: "0.2.3-preview.1",
        features: "custom-base,non-zero-vma",
        rustflags: "",
        tests: 1,
    },
];

/// The files of a 0.2.x package its tests need, as published.
const SUITE_FILES: &[&str] = &[
    "tests/test_percpu.rs",
    "build.rs",
    "test_percpu.x",
    "test_percpu_custom.x",
];

fn scratch() -> PathBuf {
    toolchain::target_root().join("line02")
}

/// The published 0.2.x suites against `percpu` 0.2.99.
pub fn suites() -> Result<()> {
    let patch = compat_dir().join("percpu");
    let only = std::env::var("LINE02_ONLY").ok();
    for run in SUITE_RUNS
        .iter()
        .filter(|r| only.as_deref().is_none_or(|o| o == r.version))
    {
        let version = run.version;
        let package = published("percpu", version)?;
        let suite = scratch().join(format!("percpu-{version}-suite"));
        for file in SUITE_FILES {
            match std::fs::read_to_string(package.join(file)) {
                Ok(text) => write(&suite.join(file), &text)?,
                // 0.2.3-preview.1 added the custom-base script.
                Err(_) if *file == "test_percpu_custom.x" => {}
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("the percpu {version} package has no {file}"))
                }
            }
        }
        // The package's features, forwarded: its build script and its
        // test read them as their own. `percpu = "0.2.0"` (a caret
        // requirement, as the 0.2.x crates write theirs) takes 0.2.99.
        write(
            &suite.join("Cargo.toml"),
            &format!(
                "[package]\nname = \"percpu-suite\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
                 publish = false\nbuild = \"build.rs\"\n\n[workspace]\n\n[features]\n\
                 sp-naive = [\"percpu/sp-naive\"]\nnon-zero-vma = [\"percpu/non-zero-vma\"]\n\
                 preempt = [\"percpu/preempt\"]\narm-el2 = [\"percpu/arm-el2\"]\n\
                 custom-base = [\"percpu/custom-base\"]\n\n\
                 [dependencies]\npercpu = \"{version}\"\n\n\
                 [patch.crates-io]\npercpu = {{ path = {:?} }}\n",
                patch.display().to_string()
            ),
        )?;
        std::fs::copy(compat_dir().join("Cargo.lock"), suite.join("Cargo.lock"))?;
        // RUSTFLAGS rebuild everything: a target directory per value.
        let flavour = if run.rustflags.is_empty() {
            "plain"
        } else {
            "bfd"
        };
        let output = toolchain::output(
            cargo()
                .arg("test")
                .arg("--manifest-path")
                .arg(suite.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(scratch().join(format!("target-{flavour}")))
                .args(["--features", run.features])
                .env("RUSTFLAGS", run.rustflags),
        )?;
        let summary = format!("test result: ok. {} passed; 0 failed", run.tests);
        let features = run.features;
        if !output.contains(&summary) {
            bail!(
                "percpu {version}'s tests with `{features}`: expected `{summary}`, got:\n{output}"
            );
        }
        eprintln!(
            "percpu {version}'s tests with `{features}` against 0.2.99: {} passed",
            run.tests
        );
    }
    Ok(())
}

/// The `compat/0.2` workspace: fmt, clippy and doc held to the main
/// workspace's standards, then its tests (the graph with both lines),
/// with every feature of the 0.2 line that runs in user space.
pub fn workspace() -> Result<()> {
    let manifest = compat_dir().join("Cargo.toml");
    let target_dir = scratch().join("target-compat");
    let compat = |args: &[&str]| {
        let mut cmd = cargo();
        cmd.args(args)
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir);
        cmd
    };
    toolchain::run(
        cargo()
            .args(["fmt", "--all", "--check", "--manifest-path"])
            .arg(&manifest),
    )?;
    // The default members, then `custom-base`'s test crate on its own: its
    // feature would otherwise reach every crate of the build.
    for features in ["", "preempt", "sp-naive", "arm-el2,non-zero-vma"] {
        toolchain::run(
            compat(&["clippy", "--all-targets", "--locked"])
                .args(["--features", &feature_list(features)])
                .args(["--", "-D", "warnings"]),
        )?;
    }
    toolchain::run(
        compat(&[
            "clippy",
            "--all-targets",
            "--locked",
            "-p",
            CUSTOM_BASE_TEST,
        ])
        .args(["--", "-D", "warnings"]),
    )?;
    for package in [None, Some(CUSTOM_BASE_TEST)] {
        let mut doc = compat(&["doc", "--no-deps", "--locked"]);
        doc.args(package.map(|p| ["-p", p]).iter().flatten())
            .env("RUSTDOCFLAGS", "-D warnings");
        toolchain::run(&mut doc)?;
    }
    toolchain::run(&mut compat(&["test", "--locked"]))?;
    toolchain::run(&mut compat(&["test", "--locked", "-p", CUSTOM_BASE_TEST]))
}

/// The test crate of `custom-base`, outside the default members.
const CUSTOM_BASE_TEST: &str = "percpu-custom-base";

/// `percpu/a,percpu/b` for `a,b`: features of the 0.2.99 package, named
/// from the workspace.
fn feature_list(features: &str) -> String {
    features
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|f| format!("percpu/{f}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The nightly the hypervisor crates need (axaddrspace uses
/// `#![feature(const_trait_impl)]`): the one axvisor's `pre5` line names.
pub const EL2_TOOLCHAIN: &str = "nightly-2025-12-12";
/// Their target.
const EL2_TARGET: &str = "aarch64-unknown-none-softfloat";
/// The crates whose code is disassembled.
const EL2_CRATES: &[&str] = &["el2_consumers", "arm_vcpu", "axvcpu", "axvm"];
/// The functions of `compat/0.2/el2-consumers` that instantiate the
/// crates' generic per-CPU code; each must read TPIDR_EL2.
const EL2_FUNCTIONS: &[&str] = &[
    "el2_current_vcpu",
    "el2_clear_current_vcpu",
    "el2_percpu_new",
    "el2_percpu_enable",
];

/// arm_vcpu, axvcpu and axvm 0.2.x from crates.io (pinned by
/// `compat/0.2/el2-consumers/Cargo.lock`) with `percpu` 0.2.99 patched in,
/// built for AArch64 bare metal: every per-CPU register access in their
/// code must be TPIDR_EL2, and the per-CPU accesses must read it.
pub fn el2_consumers() -> Result<()> {
    toolchain::ensure_toolchain(EL2_TOOLCHAIN, &[EL2_TARGET], &[])?;
    let mut cmd = std::process::Command::new("rustup");
    cmd.args([
        "run",
        EL2_TOOLCHAIN,
        "cargo",
        "build",
        "--release",
        "--locked",
    ])
    .args([
        "--target",
        EL2_TARGET,
        "--message-format=json",
        "--manifest-path",
    ])
    .arg(compat_dir().join("el2-consumers/Cargo.toml"))
    .arg("--target-dir")
    .arg(scratch().join("el2"));
    // Nothing of the running toolchain's environment.
    for var in ["CARGO", "RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN", "RUSTFLAGS"] {
        cmd.env_remove(var);
    }
    let messages = toolchain::output(&mut cmd)?;
    let objdump = crate::asm_report::llvm_objdump()?;
    for krate in EL2_CRATES {
        let rlib =
            artifact(&messages, krate).with_context(|| format!("cargo built no {krate} rlib"))?;
        let text = toolchain::output(
            std::process::Command::new(&objdump)
                .args(["-d", "--no-show-raw-insn"])
                .arg(&rlib),
        )?;
        let reads = check_el2(&text).with_context(|| format!("{krate} ({})", rlib.display()))?;
        eprintln!("{krate}: {reads} per-CPU register reads, all TPIDR_EL2");
        if *krate == "el2_consumers" {
            let functions =
                crate::disasm::parse(&text, EL2_FUNCTIONS).map_err(anyhow::Error::msg)?;
            for name in EL2_FUNCTIONS {
                let reads_el2 = functions.get(*name).is_some_and(|insns| {
                    insns.iter().any(|i| {
                        i.mnemonic == "mrs"
                            && i.operands.to_ascii_lowercase().ends_with("tpidr_el2")
                    })
                });
                if !reads_el2 {
                    bail!("{name} (arm_vcpu's and axvcpu's per-CPU code) reads no TPIDR_EL2");
                }
            }
        } else if *krate == "arm_vcpu" && reads == 0 {
            bail!("arm_vcpu's own code reads no TPIDR_EL2");
        }
    }
    Ok(())
}

/// The rlib of `krate` among cargo's JSON messages.
fn artifact(messages: &str, krate: &str) -> Option<PathBuf> {
    let name = format!("\"name\":\"{krate}\"");
    messages
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\"") && l.contains(&name))
        .find_map(|l| {
            let end = l.find(".rlib\"")? + ".rlib".len();
            let start = l[..end].rfind('"')? + 1;
            Some(PathBuf::from(&l[start..end]))
        })
}

/// Counts the reads of TPIDR_EL2 in a disassembly; fails on any access to
/// another per-CPU register (TPIDR_EL1, TPIDR_EL0, TPIDRRO_EL0).
fn check_el2(disassembly: &str) -> Result<usize> {
    let mut reads = 0;
    for line in disassembly.lines() {
        let lower = line.to_ascii_lowercase();
        if !lower.contains("tpidr") {
            continue;
        }
        if !lower.contains("tpidr_el2") {
            bail!("a per-CPU register other than TPIDR_EL2: `{}`", line.trim());
        }
        if lower.contains("mrs") {
            reads += 1;
        }
    }
    Ok(reads)
}

/// What `.ci/run` installs ahead for the 0.2-line step (the step installs
/// it too, idempotently): the nightly of [`el2_consumers`].
pub fn print_deps() {
    println!("toolchain {EL2_TOOLCHAIN}");
}

/// `cargo xtask line02`: every 0.2-line check, as `ci` runs them.
/// `LINE02_ONLY=VERSION` runs that version's suites alone.
pub fn run() -> Result<()> {
    if std::env::var_os("LINE02_ONLY").is_none() {
        workspace()?;
    }
    suites()?;
    el2_consumers()
}
