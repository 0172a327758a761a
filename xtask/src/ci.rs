//! `cargo xtask ci`: everything CI checks, in one command, from a clean
//! clone. Each step prints its name; the first failure stops the run.

use anyhow::{Context, Result};
use std::time::Instant;

use crate::targets::{self, TARGETS};
use crate::toolchain::{self, cargo, ensure_components, ensure_targets, workspace_root};

/// Feature sets the host tests run with (x86_64 Linux user space, where
/// `non-zero-vma` is implied).
const HOST_FEATURE_SETS: &[&str] = &[
    "",
    "preempt",
    "sp-naive",
    "sp-naive,preempt,non-zero-vma,placed",
    "placed",
    "preempt,arm-el2,non-zero-vma",
];

/// The crates that publish, packaged and verified together.
pub const PUBLISHED: &[&str] = &["percpu_layout", "percpu_macros", "percpu", "cargo-percpu"];

pub fn run() -> Result<()> {
    let started = Instant::now();
    // CI writes no tracked file: what git sees changed must stay as it was.
    let tracked_before = tracked_changes()?;
    step("toolchain", prerequisites)?;
    step("cargo fmt --check", fmt)?;
    step("cargo clippy -D warnings", clippy)?;
    step("cargo doc -D warnings", doc)?;
    step("host tests", host_tests)?;
    step("Miri (Stacked and Tree Borrows)", crate::miri::run)?;
    step("model checker (loom)", crate::miri::loom)?;
    step(
        "percpu 0.4.0's own tests against ours",
        crate::dropin::suite_0_4,
    )?;
    step(
        "the 0.2 line: compat/0.2 and 0.2.x's own tests",
        crate::line02::run,
    )?;
    step(
        "cargo semver-checks against percpu 0.4.0",
        crate::semver::run,
    )?;
    step("bare-metal builds", cross_builds)?;
    step("cargo package (verified)", package)?;
    step(
        "MSRV: cargo check with rust-version's toolchain",
        crate::msrv::check,
    )?;
    step("codegen budgets (cargo xtask asm-report --check)", || {
        crate::asm_report::run(&crate::asm_report::Args::check())
    })?;
    step("QEMU matrix (cargo xtask test-all-arches)", || {
        crate::test_all_arches::run(&crate::test_all_arches::Args::default())
    })?;
    step(
        "QEMU boots linked by the MSRV toolchain's rust-lld",
        crate::linkers::boot_with_msrv,
    )?;
    step(
        "inspect against goblin on the built ELFs",
        crosscheck_built_elfs,
    )?;
    step("no tracked file rewritten", || {
        if tracked_changes()? != tracked_before {
            anyhow::bail!(
                "a step changed tracked files (see `git status`); CI must only check them"
            );
        }
        Ok(())
    })?;
    eprintln!("\nci: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Every change git sees to a tracked file, as a diff; empty outside a git
/// checkout, where there is nothing to compare.
fn tracked_changes() -> Result<String> {
    let root = workspace_root();
    if !root.join(".git").exists() {
        return Ok(String::new());
    }
    toolchain::output(
        std::process::Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(["diff", "HEAD", "--no-ext-diff", "--binary"]),
    )
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
    ensure_targets(&targets::rustup_targets())?;
    ensure_components(toolchain::COMPONENTS)?;
    // The link matrix's linkers: the MSRV toolchain's rust-lld, GNU ld.
    crate::linkers::ensure()
}

/// Crates outside the workspace that CI still holds to `cargo fmt`.
const STANDALONE_CRATES: &[&str] = &[
    "xtask/test-kernel",
    "xtask/asm-fixture",
    "xtask/bench-0.4",
    "xtask/legacy-host",
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
    // The 0.4.0 bench crate, so that `cargo xtask bench` cannot rot: this
    // builds it (and its shared harness against the 0.4 API) without
    // running it.
    toolchain::run(
        cargo()
            .arg("clippy")
            .arg("--manifest-path")
            .arg(workspace_root().join("xtask/bench-0.4/Cargo.toml"))
            .arg("--target-dir")
            .arg(toolchain::target_root())
            .args(["--locked", "--benches", "--", "-D", "warnings"]),
    )?;
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
    toolchain::run(cargo().args(["test", "-p", "percpu", "--release"]))?;
    // The area alignment comes from the script: render it with --align 256,
    // with a variable aligned to 256 (`tests/init.rs`), and boxes and
    // statics aligned up to 256 (`tests/alignment.rs`).
    toolchain::run(
        cargo()
            .args([
                "test",
                "-p",
                "percpu",
                "--test",
                "init",
                "--test",
                "alignment",
            ])
            .env("PERCPU_TEST_AREA_ALIGN", "256"),
    )
}

/// `percpu` for every bare-metal target and feature set. The access code is
/// `macro_rules!` expanded in the user's crate, so the codegen fixture (a
/// crate that uses every method) is built too.
fn cross_builds() -> Result<()> {
    let fixture = workspace_root().join("xtask/asm-fixture/Cargo.toml");
    for target in &TARGETS {
        for features in targets::feature_sets(target) {
            let mut cmd = target.cargo_build();
            cmd.args(["-p", "percpu", "--features", &features]);
            toolchain::run(&mut cmd)?;
            let mut cmd = target.cargo_build();
            cmd.arg("--manifest-path")
                .arg(&fixture)
                .args(["--release", "--features", &features]);
            toolchain::run(&mut cmd)?;
        }
    }
    Ok(())
}

/// `cargo package` of the crates that publish, which builds each packaged
/// crate on its own, as a user gets it from the registry. Cargo packages
/// workspace members together (1.90 and later; before, see
/// `msrv::package_workspace`), so they resolve each other by
/// version before any is on crates.io.
pub fn package() -> Result<()> {
    // A target directory of its own, where only our crates are rebuilt.
    let target_dir = toolchain::target_root().join("package-verify");
    forget_earlier_packages(&target_dir)?;
    let mut cmd = cargo();
    // Dirty is fine: what is verified is what the tarballs hold.
    cmd.args(["package", "--allow-dirty", "--target-dir"])
        .arg(&target_dir);
    for krate in PUBLISHED {
        cmd.args(["-p", krate]);
    }
    crate::msrv::package_workspace(&mut cmd)?;
    toolchain::run(&mut cmd)
}

/// Forgets what an earlier `cargo package` made of our own crates.
/// Verification takes each crate's dependencies on the others from a
/// temporary registry, and cargo treats a registry crate of a given version
/// as immutable: it never unpacks it into `$CARGO_HOME/registry/src` again,
/// nor rebuilds it in the target directory, so a second run would verify
/// against the first run's sources. Crates from crates.io are untouched.
fn forget_earlier_packages(target_dir: &std::path::Path) -> Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    let mut stale = Vec::new();
    let registries = home.and_then(|h| std::fs::read_dir(h.join("registry/src")).ok());
    for registry in registries.into_iter().flatten().flatten() {
        for krate in PUBLISHED {
            stale.push(registry.path().join(format!("{krate}-{version}")));
        }
    }
    // The tarballs and the temporary registry of an earlier run: cargo 1.90
    // failed on a kept one ("no hash listed for percpu_macros"); they are
    // made again anyway.
    stale.push(target_dir.join("package"));
    let fingerprints = std::fs::read_dir(target_dir.join("debug/.fingerprint"));
    for entry in fingerprints.into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name
            .rsplit_once('-')
            .is_some_and(|(krate, _)| PUBLISHED.contains(&krate));
        if ours {
            stale.push(entry.path());
        }
    }
    for path in stale.iter().filter(|p| p.is_dir()) {
        std::fs::remove_dir_all(path)
            .with_context(|| format!("cannot remove {}", path.display()))?;
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
    if elfs.len() <= TARGETS.len() {
        anyhow::bail!("expected a QEMU kernel per target and the host tests, found {elfs:?}");
    }
    let joined = std::env::join_paths(&elfs)?;
    eprintln!("cross-checking {} ELF files", elfs.len());
    toolchain::run(
        cargo()
            .args([
                "test",
                "-p",
                "cargo-percpu",
                "--test",
                "suite",
                "link::extra_elfs",
            ])
            .env("PERCPU_CROSSCHECK_ELFS", joined),
    )
}
