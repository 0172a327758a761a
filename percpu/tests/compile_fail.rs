//! Misuse of `#[def_percpu]` is a compile error that names the problem.
//!
//! The messages do not depend on features or the profile, so this runs once,
//! in the default debug configuration (each run compiles a fresh project).

#![cfg(all(
    debug_assertions,
    not(any(
        feature = "sp-naive",
        feature = "preempt",
        feature = "arm-el2",
        feature = "non-zero-vma"
    ))
))]

use std::path::{Path, PathBuf};

/// The compiler that wrote the `.stderr` snapshots (`rustc -V`). Update it
/// with them (`TRYBUILD=overwrite`). rustc renders its own notes, spans and
/// lists differently from one release to the next; the headline of each
/// error, which our macros and `#[diagnostic::on_unimplemented]` write,
/// stays. Other compilers are held to the headlines.
const SNAPSHOTS_BY: &str = "rustc 1.95.0 (59807616e 2026-04-14)";

#[test]
fn misuse_is_rejected() {
    let rustc = rustc_version();
    if rustc == SNAPSHOTS_BY {
        trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
        return;
    }
    eprintln!(
        "compile_fail: only each error's headline compared: the snapshots were written by {SNAPSHOTS_BY}, this is {rustc}"
    );
    // trybuild still fails a case that compiles; on copies, in overwrite
    // mode, it records what this compiler says instead of comparing it.
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let copies = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-headlines");
    let _ = std::fs::remove_dir_all(&copies);
    std::fs::create_dir_all(&copies).unwrap();
    let cases: Vec<PathBuf> = std::fs::read_dir(&ui)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    assert!(!cases.is_empty(), "no case in {}", ui.display());
    for case in &cases {
        std::fs::copy(case, copies.join(case.file_name().unwrap())).unwrap();
    }
    std::env::set_var("TRYBUILD", "overwrite");
    trybuild::TestCases::new().compile_fail(copies.join("*.rs"));
    for case in &cases {
        let stderr = case.with_extension("stderr");
        let expected = std::fs::read_to_string(&stderr).unwrap();
        let actual =
            std::fs::read_to_string(copies.join(stderr.file_name().unwrap())).unwrap_or_default();
        assert_eq!(
            headlines(&actual),
            headlines(&expected),
            "{}: the errors' headlines differ from {}",
            case.display(),
            stderr.display()
        );
    }
}

/// The first line of every error: what the error says, without rustc's
/// rendering of where and why.
fn headlines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("error")).collect()
}

/// `rustc -V` of the compiler cargo runs (rustup's proxy follows the
/// toolchain cargo was started with).
fn rustc_version() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc)
        .arg("-V")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
