//! The drop-in promise, checked: a percpu 0.4 user switches to ours with a
//! `[patch.crates-io]` entry and changes nothing else.
//!
//! - [`suite_0_4`]: the published 0.4.0 package's own test suite, fetched
//!   from crates.io by cargo at test time (never kept in this repository),
//!   run against our crates with exactly its build script and linker
//!   script; then our own test of a 0.4-style user-space script
//!   (`xtask/legacy-host`).
//! - [`crate::semver::run`]: `cargo semver-checks` against the published 0.4.0 API.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use crate::toolchain::{self, cargo, workspace_root};

/// The published version the promise is made against.
pub const V0_4: &str = "0.4.0";

/// The 0.4.0 package's test runs: features, and how many tests must pass
/// (its test file is `cfg`'d out entirely under other features, which
/// would pass with none).
const SUITE_RUNS: &[(&str, usize)] = &[("non-zero-vma", 3), ("sp-naive", 1)];

/// The files of the 0.4.0 package its tests need, as published: the test,
/// the build script that links it, and the linker script that names.
const SUITE_FILES: &[&str] = &["tests/test_percpu.rs", "build.rs", "test_percpu.x"];

/// Where the generated crates live: under the target directory, never
/// tracked.
fn scratch() -> PathBuf {
    toolchain::target_root().join("dropin")
}

/// The one `[patch.crates-io]` entry a 0.4 user adds: `percpu = "0.4.0"`
/// resolves to ours (0.4.1, which brings its own macros).
fn patch_section() -> String {
    let path = workspace_root().join("percpu");
    format!(
        "[patch.crates-io]\npercpu = {{ path = {:?} }}\n",
        path.display().to_string()
    )
}

pub fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::create_dir_all(path.parent().expect("a file in a directory"))?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The unpacked 0.4.0 package in cargo's registry cache.
pub fn published_package() -> Result<PathBuf> {
    published("percpu", V0_4)
}

/// The unpacked package `krate` of exactly `version` in cargo's registry
/// cache: a crate that depends on exactly that version makes cargo fetch
/// and unpack it, and `cargo metadata` says where.
pub fn published(krate: &str, version: &str) -> Result<PathBuf> {
    let dir = scratch().join(format!("fetch-{krate}-{version}"));
    write(
        &dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"fetch-published\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[workspace]\n\n[lib]\npath = \"lib.rs\"\n\n\
             [dependencies]\n{krate} = \"={version}\"\n"
        ),
    )?;
    write(&dir.join("lib.rs"), "")?;
    let metadata = toolchain::output(
        cargo()
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(dir.join("Cargo.toml")),
    )?;
    // The package's `"manifest_path":"…/percpu-0.4.0/Cargo.toml"`.
    let suffix = format!("/{krate}-{version}/Cargo.toml\"");
    let end = metadata
        .find(&suffix)
        .with_context(|| format!("cargo metadata lists no {krate} {version} package"))?;
    let start = metadata[..end]
        .rfind('"')
        .context("malformed cargo metadata")?
        + 1;
    Ok(PathBuf::from(&metadata[start..end]).join(format!("{krate}-{version}")))
}

/// The 0.4.0 package's own tests against our crates, then our test of a
/// 0.4-style user-space script.
pub fn suite_0_4() -> Result<()> {
    let package = published_package()?;
    eprintln!("percpu {V0_4}'s tests from {}", package.display());
    let suite = scratch().join("percpu-0.4.0-suite");
    for file in SUITE_FILES {
        let text = std::fs::read_to_string(package.join(file))
            .with_context(|| format!("the percpu {V0_4} package has no {file}"))?;
        write(&suite.join(file), &text)?;
    }
    // The package's features, forwarded: its build script and its test
    // read them as their own. `percpu = "0.4.0"` is what a 0.4 user wrote.
    write(
        &suite.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"percpu-0-4-0-suite\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\nbuild = \"build.rs\"\n\n[workspace]\n\n\
             [features]\nnon-zero-vma = [\"percpu/non-zero-vma\"]\n\
             sp-naive = [\"percpu/sp-naive\"]\n\n\
             [dependencies]\npercpu = \"{V0_4}\"\n\n{}",
            patch_section()
        ),
    )?;
    // The workspace's versions of everything else.
    std::fs::copy(
        workspace_root().join("Cargo.lock"),
        suite.join("Cargo.lock"),
    )?;
    let target_dir = scratch().join("target");
    for &(features, tests) in SUITE_RUNS {
        let output = toolchain::output(
            cargo()
                .arg("test")
                .arg("--manifest-path")
                .arg(suite.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(&target_dir)
                .args(["--features", features]),
        )?;
        let summary = format!("test result: ok. {tests} passed; 0 failed");
        if !output.contains(&summary) {
            bail!("percpu {V0_4}'s tests with `{features}`: expected `{summary}`, got:\n{output}");
        }
        eprintln!("percpu {V0_4}'s tests with `{features}` against ours: {tests} passed");
    }
    toolchain::run(
        cargo()
            .arg("test")
            .arg("--manifest-path")
            .arg(workspace_root().join("xtask/legacy-host/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .arg("--locked"),
    )
}

/// `cargo xtask dropin`: both checks, as `ci` runs them.
pub fn run() -> Result<()> {
    crate::semver::run()?;
    suite_0_4()
}
