//! `ci`'s undefined-behaviour checks: the host tests that need no inline
//! assembly under Miri, with Stacked Borrows and with Tree Borrows, and
//! the model-checked tests (loom) of the runtime's concurrent pieces.
//!
//! Miri needs a nightly; the one pinned here is installed, with its `miri`
//! and `rust-src` components, by `.ci/run` (a `toolchain` line of
//! `cargo xtask print-deps`) and again, idempotently, by the step itself.

use anyhow::Result;
use std::process::Command;
use std::time::Instant;

use crate::toolchain::{self, cargo, workspace_root};

/// The nightly Miri runs on: rustc 1.97.0-nightly (e50aa6fba 2026-05-19).
pub const NIGHTLY: &str = "nightly-2026-05-20";
/// The components Miri needs on that nightly.
pub const COMPONENTS: &[&str] = &["miri", "rust-src"];

/// What CI runs under Miri: every host test that needs no inline assembly.
/// The multi-CPU build reaches its per-CPU register with `asm!` on x86_64,
/// so its tests (`init`, and `access`, `dynamic`, `alignment`, `threads`
/// without `sp-naive`) cannot run; the allocator's own tests (`--lib`) are
/// the multi-CPU build's, and the generic methods, `PerCpuBox`,
/// `PerCpuCounter`, the views and the debug borrow table run through
/// `sp-naive`. Nothing runnable is left out.
pub const SUBSET: &[&[&str]] = &[
    // The allocator's bitmap and its random model test, and the debug
    // borrow table under interrupt nesting.
    &["-p", "percpu", "--lib"],
    // The generic methods (`access`), PerCpuBox, PerCpuCounter and the
    // views (`dynamic`), the debug borrow table (`debug_checks`), boxes'
    // alignment (`alignment`).
    &[
        "-p",
        "percpu",
        "--features",
        "sp-naive",
        "--test",
        "access",
        "--test",
        "dynamic",
        "--test",
        "debug_checks",
        "--test",
        "alignment",
    ],
];

/// The aliasing models CI checks under, by their `MIRIFLAGS`.
/// Permissive provenance: a current-CPU pointer is rebuilt from the per-CPU
/// register, an integer, with `ptr::with_exposed_provenance` (the areas'
/// memory is exposed when its address is taken); the flag keeps Miri from
/// warning about that, on purpose, at every such call.
const MODELS: &[(&str, &str)] = &[
    ("Stacked Borrows", "-Zmiri-permissive-provenance"),
    (
        "Tree Borrows",
        "-Zmiri-permissive-provenance -Zmiri-tree-borrows",
    ),
];

/// `cargo xtask print-deps`'s line: `toolchain NAME COMPONENTS...`.
pub fn print_deps() {
    println!("toolchain {NIGHTLY} {}", COMPONENTS.join(" "));
}

/// Installs the pinned nightly and [`COMPONENTS`] when missing, and
/// returns its name.
fn ensure_nightly() -> Result<&'static str> {
    toolchain::ensure_toolchain(NIGHTLY, &[], COMPONENTS)?;
    Ok(NIGHTLY)
}

/// `cargo miri` on the nightly, through rustup, with none of the outer
/// cargo's variables that name the stable toolchain's binaries.
fn cargo_miri(nightly: &str) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", nightly, "cargo", "miri"])
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("RUSTUP_TOOLCHAIN")
        .current_dir(workspace_root());
    cmd
}

/// `cargo miri test` of [`SUBSET`] on the pinned nightly under every
/// model; prints the seconds each takes.
pub fn run() -> Result<()> {
    let nightly = ensure_nightly()?;
    // Builds Miri's sysroot once (from crates.io), not inside a timed run.
    toolchain::run(cargo_miri(nightly).arg("setup"))?;
    for (model, flags) in MODELS {
        let started = Instant::now();
        for args in SUBSET {
            toolchain::run(
                cargo_miri(nightly)
                    .arg("test")
                    .args(*args)
                    .env("MIRIFLAGS", flags),
            )?;
        }
        eprintln!("miri: {model}: no report, in {:.0?}", started.elapsed());
    }
    Ok(())
}

/// The model-checked tests: `cfg(loom)` builds of the allocator's lock
/// and the counter, in a target directory of their own (the cfg changes
/// every crate's build), optimised (loom explores many interleavings).
pub fn loom() -> Result<()> {
    let started = Instant::now();
    toolchain::run(
        cargo()
            .args([
                "test",
                "-p",
                "percpu",
                "--lib",
                "--release",
                "--features",
                "placed",
            ])
            .arg("loom_")
            .env("RUSTFLAGS", "--cfg loom")
            .env("CARGO_TARGET_DIR", toolchain::target_root().join("loom"))
            .current_dir(workspace_root()),
    )?;
    eprintln!(
        "loom: every interleaving passed, in {:.0?}",
        started.elapsed()
    );
    Ok(())
}
