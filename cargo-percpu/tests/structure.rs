//! `cargo percpu inspect` on structurally broken files (issue 12): the real
//! binary on one hand-made file per rule ([`common::broken`]). A broken file
//! gets exit 2, one line naming what is wrong and no report, in text and
//! JSON, and `diff` refuses it too; a failed check gets exit 1 and a report
//! that follows the schema.

mod common;

use std::path::PathBuf;

use cargo_percpu::report::{inspect_bytes, InspectOptions};
use common::broken::{cases, Case, Expect};
use common::gen::*;
use common::run::exec;

fn write(case: &Case) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("structure");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(&case.name);
    std::fs::write(&path, &case.data).unwrap();
    path.to_str().unwrap().to_string()
}

fn failed_checks(report: &serde_json::Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_rule_has_its_file() {
    let cases = cases();
    for rule in [
        "section-outside-file",
        "section-offset-wraps",
        "segment-outside-file",
        "segment-offset-wraps",
        "symtab-entsize",
        "percpu-type-null",
        "percpu-align",
        "percpu-twice",
        "shstrtab-unterminated",
        "strtab-unterminated",
        "variable-shndx",
        "layout-symbol-shndx",
        "shstrndx-not-strtab",
        "shoff-zero",
        "shnum-zero",
        "no-section-table",
        "stripped-executable",
        "stripped-relocatable",
        "global-pointer",
    ] {
        assert!(
            cases.iter().any(|c| c.name.starts_with(rule)),
            "no file for {rule}"
        );
    }
    for case in &cases {
        assert!(case.data.len() < 4096, "{}: keep it small", case.name);
    }
}

#[test]
fn a_broken_file_is_exit_2_and_one_line() {
    let good = write(&Case {
        name: "good".into(),
        data: GenElf::kernel(64, false, EM_X86_64, 2, &[]).build(),
        expect: Expect::Pass,
    });
    for case in cases() {
        let Expect::Error(message) = &case.expect else {
            continue;
        };
        let path = write(&case);
        let expected = format!("error: {path}: {message}\n");
        for format in ["human", "json"] {
            let (code, out, err) = exec(&["inspect", "--format", format, &path]);
            assert_eq!(code, 2, "{}, {format}: {out}{err}", case.name);
            assert_eq!(err, expected, "{}, {format}", case.name);
            assert!(out.is_empty(), "{}, {format}: a report: {out}", case.name);
        }
        // diff reads files the same way.
        let (code, out, err) = exec(&["diff", &good, &path]);
        assert_eq!(code, 2, "{}, diff: {out}{err}", case.name);
        assert_eq!(err, expected, "{}, diff", case.name);
        // And the library says the same.
        let err = inspect_bytes(&case.data, "x", &InspectOptions::default()).unwrap_err();
        assert_eq!(&err.to_string(), message, "{}, library", case.name);
    }
}

#[test]
fn a_failed_check_is_exit_1_with_a_report_that_follows_the_schema() {
    for case in cases() {
        let Expect::Fail(names) = &case.expect else {
            continue;
        };
        let path = write(&case);
        let (code, out, err) = exec(&["inspect", &path]);
        assert_eq!(code, 1, "{}: {out}{err}", case.name);
        for name in names {
            assert!(
                out.lines()
                    .any(|l| l.trim_start().starts_with(&format!("FAIL  {name} "))),
                "{}: {name} should fail:\n{out}",
                case.name
            );
        }
        let (code, out, err) = exec(&["inspect", "--format", "json", &path]);
        assert_eq!(code, 1, "{}: {out}{err}", case.name);
        let report = common::schema::parse(&out);
        assert_eq!(&failed_checks(&report), names, "{}", case.name);
    }
}

#[test]
fn the_valid_files_beside_the_rules_pass() {
    for case in cases() {
        if case.expect != Expect::Pass {
            continue;
        }
        let path = write(&case);
        let (code, out, err) = exec(&["inspect", "--format", "json", &path]);
        assert_eq!(code, 0, "{}: {out}{err}", case.name);
        let report = common::schema::parse(&out);
        assert!(failed_checks(&report).is_empty(), "{}", case.name);
    }
}

#[test]
fn the_messages_say_what_is_wrong() {
    let message = |name: &str| {
        cases()
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| match c.expect {
                Expect::Error(m) => m,
                other => panic!("{name}: {other:?}"),
            })
            .unwrap()
    };
    assert!(message("symtab-entsize-elf32be").contains("sh_entsize 24 is not 16"));
    assert!(message("section-offset-wraps-elf32be").ends_with("wraps"));
    assert!(message("segment-outside-file-elf64le").starts_with("segment 0 (PT_LOAD)"));
}

#[test]
fn the_riscv_global_pointer_check() {
    for case in cases() {
        if !case.name.starts_with("global-pointer") {
            continue;
        }
        let report = inspect_bytes(&case.data, "x", &InspectOptions::default()).unwrap();
        let check = report.check("global-pointer").expect("RISC-V reports it");
        assert_eq!(check.passed, case.expect == Expect::Pass, "{}", case.name);
        assert!(
            check.detail.contains("__global_pointer$"),
            "{}",
            check.detail
        );
    }
    // Other architectures do not report it.
    let data = GenElf::kernel(64, false, EM_AARCH64, 2, &[]).build();
    let report = inspect_bytes(&data, "x", &InspectOptions::default()).unwrap();
    assert!(report.check("global-pointer").is_none());
}

#[test]
fn a_stripped_file_says_it_has_no_symbol_table() {
    // A linked file without symbols already missed the layout symbols; the
    // check now says why, and a relocatable object no longer passes.
    for case in cases() {
        if !case.name.starts_with("stripped-") {
            continue;
        }
        let report = inspect_bytes(&case.data, "x", &InspectOptions::default()).unwrap();
        let check = report.check("symbols").unwrap();
        assert!(!check.passed, "{}", case.name);
        assert!(
            check.detail.starts_with("no symbol table"),
            "{}: {}",
            case.name,
            check.detail
        );
    }
}
