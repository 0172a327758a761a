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
                 preempt = [\"percpu/preempt\"]\narm-el2 = [\"percpu/arm-el2\"]\n\n\
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
    for features in ["", "preempt", "sp-naive"] {
        toolchain::run(
            compat(&["clippy", "--workspace", "--all-targets", "--locked"])
                .args(["--features", &feature_list(features)])
                .args(["--", "-D", "warnings"]),
        )?;
    }
    toolchain::run(
        compat(&["doc", "--workspace", "--no-deps", "--locked"]).env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    toolchain::run(&mut compat(&["test", "--workspace", "--locked"]))
}

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

/// `cargo xtask line02`: every 0.2-line check, as `ci` runs them.
pub fn run() -> Result<()> {
    workspace()?;
    suites()
}
