//! The binary's arguments, output and exit status (0 / 1 / 2), through both
//! the library entry point and the real executable.

mod common;

use std::path::PathBuf;

use cargo_percpu::cli::{run, EXIT_CHECK_FAILED, EXIT_ERROR, EXIT_OK};
use common::gen::*;
use common::run::{bin, exec};

fn temp_file(name: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cargo-percpu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

const VARS: &[(&str, u64)] = &[("__PERCPU_A", 8), ("__PERCPU_B", 8)];

#[test]
fn ldscript_prints_the_fragment() {
    let (code, out, err) = exec(&["ldscript", "--cpus", "8"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("CPU_NUM = 8;"));
    assert!(out.contains(".percpu 0x0 : AT(_percpu_start)"));
    assert!(err.is_empty());
}

#[test]
fn runs_as_a_cargo_subcommand_too() {
    // cargo runs `cargo-percpu percpu ldscript ...`.
    let (code, out, _) = exec(&["percpu", "ldscript", "--cpus", "2", "--arch", "riscv64"]);
    assert_eq!(code, 0);
    assert!(out.contains("CPU_NUM = 2;") && out.contains("riscv64 access sequence"));
}

#[test]
fn arch_takes_rustc_target_arch_names() {
    // `arm` is rustc's target_arch for ARMv7-A: the same script as `armv7`,
    // which the output names.
    let (code, arm, err) = exec(&["ldscript", "--cpus", "2", "--arch", "arm", "--full"]);
    assert_eq!(code, 0, "{err}");
    let (_, armv7, _) = exec(&["ldscript", "--cpus", "2", "--arch", "armv7", "--full"]);
    assert_eq!(arm, armv7);
    assert!(arm.contains("rendered for armv7, from --arch"), "{arm}");
    // `riscv` is either width: refused, with both choices.
    let (code, out, err) = exec(&["ldscript", "--cpus", "2", "--arch", "riscv"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(
        err,
        "error: --arch riscv: ambiguous architecture (expected one of riscv64, riscv32)\n"
    );
}

#[test]
fn ldscript_variants_and_output_file() {
    let (code, out, _) = exec(&[
        "ldscript",
        "--cpus",
        "4",
        "--target",
        "aarch64-unknown-none",
        "--full",
        "--base",
        "0x40200000",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("BASE_ADDRESS = 0x40200000;") && out.contains("OUTPUT_ARCH(aarch64)"));
    let (code, out, _) = exec(&["ldscript", "--cpus", "4", "--linux-user"]);
    assert_eq!(code, 0);
    assert!(out.contains("INSERT AFTER .bss;"));
    let (code, out, _) = exec(&["ldscript", "--cpus", "4", "--non-zero-vma", "0x200000"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(". = 0x200000;") && out.contains(".percpu _percpu_start : AT(_percpu_start)")
    );
    let (code, out, _) = exec(&["ldscript", "--cpus", "4", "--non-zero-vma"]);
    assert_eq!(code, 0);
    assert!(out.contains(".percpu _percpu_start : AT(_percpu_start)"));

    let path = temp_file("out.ld", b"");
    let (code, out, _) = exec(&[
        "ldscript",
        "--cpus",
        "3",
        "--align",
        "128",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(out.is_empty());
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("CPU_NUM = 3;") && written.contains(", 128), 128)"));
}

#[test]
fn bad_ldscript_arguments_are_one_line_and_status_2() {
    let cases: &[&[&str]] = &[
        &["ldscript", "--cpus", "0"],
        &["ldscript", "--cpus", "4", "--arch", "mips"],
        &[
            "ldscript",
            "--cpus",
            "4",
            "--target",
            "mips-unknown-linux-gnu",
        ],
        &["ldscript", "--cpus", "4", "--align", "96"],
        &["ldscript", "--cpus", "4", "--align", "32"],
        &["ldscript", "--cpus", "67108865", "--arch", "armv7"],
        &["ldscript", "--cpus", "18446744073709551615"],
        &["ldscript", "--cpus", "4", "--non-zero-vma", "0x1001"],
    ];
    for args in cases {
        let (code, out, err) = exec(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
    // Usage errors from the argument parser are status 2 as well.
    assert_eq!(exec(&["ldscript"]).0, 2);
    assert_eq!(exec(&["ldscript", "--cpus", "x"]).0, 2);
    assert_eq!(exec(&["frobnicate"]).0, 2);
    assert_eq!(
        exec(&[
            "ldscript",
            "--cpus",
            "1",
            "--arch",
            "armv7",
            "--target",
            "x86_64-unknown-none"
        ])
        .0,
        2
    );
    assert_eq!(exec(&["--help"]).0, 0);
}

#[test]
fn inspect_exit_status() {
    let good = temp_file(
        "good",
        &GenElf::kernel(64, false, EM_X86_64, 4, VARS).build(),
    );
    let (code, out, err) = exec(&["inspect", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("result: every check passed"));
    let (code, out, _) = exec(&["inspect", "--cpus", "5", good.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("FAIL  reservation"));

    let mut noload = GenElf::kernel(32, true, EM_ARM, 4, VARS);
    noload.percpu.as_mut().unwrap().3 = true;
    noload.load_segment = false;
    let noload = temp_file("noload", &noload.build());
    assert_eq!(exec(&["inspect", noload.to_str().unwrap()]).0, 1);

    let data = GenElf::kernel(64, false, EM_X86_64, 4, VARS).build();
    let truncated = temp_file("truncated", &data[..data.len() / 2]);
    let not_elf = temp_file("not-elf", b"hello, world\n");
    let empty = temp_file("empty", b"");
    for path in [
        truncated.to_str().unwrap(),
        not_elf.to_str().unwrap(),
        empty.to_str().unwrap(),
        "/nonexistent/file",
        "/",
    ] {
        let (code, out, err) = exec(&["inspect", path]);
        assert_eq!(code, 2, "{path}: {out}{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{path}: {err}");
        assert!(out.is_empty());
    }
    assert_eq!(
        exec(&["inspect", "--cpus", "0", good.to_str().unwrap()]).0,
        2
    );
    assert_eq!(
        exec(&["inspect", "--align", "100", good.to_str().unwrap()]).0,
        2
    );
}

#[test]
fn inspect_json_is_one_document() {
    let good = temp_file(
        "json",
        &GenElf::kernel(64, true, EM_AARCH64, 2, VARS).build(),
    );
    let (code, out, _) = exec(&[
        "percpu",
        "inspect",
        "--json",
        "--cpus",
        "2",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let value = common::schema::parse(&out);
    assert_eq!(value["file"]["endian"], "big");
    assert_eq!(value["variables"].as_array().unwrap().len(), 2);
    assert!(value["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["passed"] == true));
}

#[test]
fn the_library_entry_point_matches_the_binary() {
    let good = temp_file("lib", &GenElf::kernel(64, false, EM_RISCV, 4, VARS).build());
    for (args, status) in [
        (
            vec!["cargo-percpu", "inspect", good.to_str().unwrap()],
            EXIT_OK,
        ),
        (
            vec![
                "cargo-percpu",
                "inspect",
                "--cpus",
                "9",
                good.to_str().unwrap(),
            ],
            EXIT_CHECK_FAILED,
        ),
        (vec!["cargo-percpu", "inspect", "/nonexistent"], EXIT_ERROR),
        (
            vec!["cargo-percpu", "percpu", "ldscript", "--cpus", "2"],
            EXIT_OK,
        ),
        (vec!["cargo-percpu", "ldscript", "--cpus", "0"], EXIT_ERROR),
    ] {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(&args, &mut out, &mut err), status, "{args:?}");
        let bin_status = bin()
            .args(&args[1..])
            .output()
            .unwrap()
            .status
            .code()
            .unwrap();
        assert_eq!(bin_status, i32::from(status), "{args:?}");
    }
}
