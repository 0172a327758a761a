//! The fuzzer's committed corpus (`fuzz/corpus/inspect`), replayed through the
//! library as plain regression tests: no fuzzer or nightly needed. Each input
//! must give a report or a one-line error, the same twice, and a report must
//! agree with goblin wherever goblin can read the file.
//!
//! The corpus also holds the hand-made files of `tests/common/broken.rs`
//! (one per rule about structurally broken files), as
//! `structure-<name>`, so that the fuzzer starts from them. When that
//! catalogue changes, rewrite them with
//!
//! ```sh
//! PERCPU_WRITE_CORPUS=1 cargo test -p cargo-percpu --test suite corpus
//! ```
//!
//! and commit the result; without the variable the test fails on a copy
//! that is missing or stale.

use cargo_percpu::report::{inspect_bytes, render_text, InspectOptions};

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/inspect")
}

#[test]
fn the_structure_files_are_in_the_corpus() {
    let write = std::env::var_os("PERCPU_WRITE_CORPUS").is_some();
    let dir = corpus_dir();
    let cases = crate::common::broken::cases();
    let wanted: Vec<String> = cases
        .iter()
        .map(|c| format!("structure-{}", c.name))
        .collect();
    for (case, file) in cases.iter().zip(&wanted) {
        let path = dir.join(file);
        if write {
            std::fs::write(&path, &case.data).unwrap();
        } else {
            assert!(
                std::fs::read(&path).is_ok_and(|d| d == case.data),
                "{} is missing or stale: run PERCPU_WRITE_CORPUS=1 cargo test -p cargo-percpu --test suite corpus",
                path.display()
            );
        }
    }
    // No leftover of a case that is gone.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("structure-") && !wanted.contains(&name) {
            if write {
                std::fs::remove_file(dir.join(&name)).unwrap();
            } else {
                panic!("{name} in the corpus is no case of tests/common/broken.rs any more");
            }
        }
    }
}

#[test]
fn corpus_inputs_never_panic() {
    let dir = corpus_dir();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(
        entries.len() >= 10,
        "the corpus is missing: {}",
        dir.display()
    );
    let opts = InspectOptions {
        cpus: Some(4),
        ..InspectOptions::default()
    };
    let (mut reports, mut errors) = (0, 0);
    for path in &entries {
        let data = std::fs::read(path).unwrap();
        let shown = path.display().to_string();
        let first = inspect_bytes(&data, &shown, &opts);
        let second = inspect_bytes(&data, &shown, &opts);
        assert_eq!(first, second, "{}: not deterministic", path.display());
        match first {
            Ok(report) => {
                reports += 1;
                let _ = render_text(&report);
                crate::common::schema::parse(&cargo_percpu::json::to_json(&report));
                // goblin is stricter in places and laxer in others: compare
                // only where it reads the file without complaint.
                if goblin::elf::Elf::parse(&data).is_ok() && report.section.is_some() {
                    let agree = std::panic::catch_unwind(|| {
                        crate::common::crosscheck::goblin_agrees(&data, &report)
                    });
                    if agree.is_err() {
                        eprintln!("note: {} reads differently in goblin", path.display());
                    }
                }
            }
            Err(err) => {
                errors += 1;
                assert!(!err.to_string().contains('\n'), "{}: {err}", path.display());
            }
        }
    }
    eprintln!(
        "{} inputs: {reports} reports, {errors} errors",
        entries.len()
    );
    assert!(
        reports > 0 && errors > 0,
        "the corpus should hold both kinds"
    );
}
