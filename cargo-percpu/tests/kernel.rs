//! `cargo percpu inspect --bin` and `cargo percpu diff` on the repository's
//! QEMU test kernel (`xtask/test-kernel`), built by the command under test
//! for two targets, with and without debug information. Targets that are not
//! installed are skipped, loudly.
//!
//! The builds stay in `target/tmp/test-kernel*`, so that a second run only
//! relinks. The diff builds a copy of the kernel whose `vars.rs` ends with
//! two more variables, once as OLD and once as NEW.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::run::{exec_in, target_installed};
use common::schema;
use serde_json::Value;

/// Two targets that need no `-Zbuild-std`.
const TARGETS: [&str; 2] = ["x86_64-unknown-none", "riscv64gc-unknown-none-elf"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn target_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Runs `cargo percpu ARGS` in `dir` the way a CI job would; (status, stdout, stderr).
fn cargo_percpu(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let args: Vec<&str> = std::iter::once("percpu")
        .chain(args.iter().copied())
        .collect();
    exec_in(dir, &args, env)
}

fn variable<'a>(report: &'a Value, short: &str) -> &'a Value {
    report["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str().unwrap().ends_with(&format!("::{short}")))
        .unwrap_or_else(|| panic!("no {short} in {report:#}"))
}

/// Builds the kernel in `dir` for `target` with `inspect --bin` into the
/// target directory `tdir` (one per test: the tests run in parallel, and a
/// copy of the kernel has the same artifact path), returns the report.
fn build_and_inspect(dir: &Path, tdir: &str, target: &str, env: &[(&str, &str)]) -> Value {
    let tdir = target_dir(tdir).display().to_string();
    let mut args = vec![
        "inspect",
        "--bin",
        "percpu-test-kernel",
        "--release",
        "--cpus",
        "4",
        "--format",
        "json",
    ];
    if env.iter().all(|(k, _)| *k != "CARGO_BUILD_TARGET") {
        args.extend(["--target", target]);
    }
    args.extend(["--", "--target-dir", &tdir]);
    let (code, out, err) = cargo_percpu(dir, &args, env);
    assert_eq!(code, 0, "{target}: {out}\n{err}");
    let report = schema::parse(&out);
    let path = report["file"]["path"].as_str().unwrap();
    assert!(
        path.starts_with(&tdir) && path.contains(&format!("/{target}/release/")),
        "{path}"
    );
    report
}

#[test]
fn build_and_inspect_the_test_kernel_on_two_targets_with_dwarf() {
    let kernel = repo().join("xtask/test-kernel");
    let mut built = 0;
    for (i, target) in TARGETS.into_iter().enumerate() {
        if !target_installed(target) {
            eprintln!("skipped: target {target} is not installed");
            continue;
        }
        // The second target comes from the environment, as cargo's
        // configuration would give it: `inspect --bin` builds for it.
        let env: &[(&str, &str)] = if i == 1 {
            &[("CARGO_BUILD_TARGET", target)]
        } else {
            &[]
        };
        let report = build_and_inspect(&kernel, "test-kernel", target, env);
        assert_eq!(report["file"]["debug_info"], true, "{target}");
        // DWARF gives every variable of the kernel its type and alignment.
        for v in report["variables"].as_array().unwrap() {
            assert_eq!(v["align_inferred"], false, "{target}: {v}");
            assert!(v["type_name"].is_string(), "{target}: {v}");
        }
        let cpu_id = variable(&report, "CPU_ID");
        assert_eq!(
            (&cpu_id["type_name"], &cpu_id["size"], &cpu_id["align"]),
            (&Value::from("usize"), &Value::from(8), &Value::from(8)),
            "{target}"
        );
        let big = variable(&report, "BIG");
        assert_eq!(big["type_name"], "[u8; 69632]");
        assert_eq!(big["align"], 1, "an array of bytes, whatever its offset");
        let record = variable(&report, "RECORD");
        assert_eq!(record["type_name"], "percpu_test_kernel::vars::Record");
        assert_eq!(record["align"], 8);
        built += 1;
    }
    eprintln!("built and inspected the test kernel for {built} targets");
}

#[test]
fn without_debug_information_the_alignment_is_inferred() {
    let target = TARGETS[0];
    if !target_installed(target) {
        eprintln!("skipped: target {target} is not installed");
        return;
    }
    let kernel = repo().join("xtask/test-kernel");
    let tdir = target_dir("test-kernel-nodebug").display().to_string();
    let (code, out, err) = cargo_percpu(
        &kernel,
        &[
            "inspect",
            "--bin",
            "percpu-test-kernel",
            "--release",
            "--target",
            target,
            "--",
            "--target-dir",
            &tdir,
            "--config",
            "profile.release.debug=false",
            "--config",
            "profile.release.strip=\"debuginfo\"",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("  * alignment inferred from the offset"),
        "{out}"
    );
    let (_, json, _) = cargo_percpu(
        &kernel,
        &[
            "inspect",
            "--json",
            out.lines()
                .next()
                .unwrap()
                .trim_start_matches("file")
                .trim(),
        ],
        &[],
    );
    let report = schema::parse(&json);
    assert_eq!(report["file"]["debug_info"], false);
    for v in report["variables"].as_array().unwrap() {
        assert_eq!(v["align_inferred"], true, "{v}");
        assert!(v["type_name"].is_null(), "{v}");
    }
    // CPU_ID at 0x...40 in an 8-aligned section: inferred as 8, marked so.
    let line = out
        .lines()
        .find(|l| l.ends_with("::CPU_ID"))
        .expect("CPU_ID is listed");
    assert!(line.contains("      8*  "), "{line}");
}

/// The two variables the diff's kernels end `vars.rs` with.
fn diff_vars(added: bool, resized_len: usize) -> String {
    let mut text = format!(
        "\n#[link_section = \".percpu\"]\n#[used]\nstatic mut __PERCPU_DIFF_RESIZED: [u8; {resized_len}] = [1; {resized_len}];\n"
    );
    if added {
        text.push_str(
            "#[link_section = \".percpu\"]\n#[used]\nstatic mut __PERCPU_DIFF_ADDED: u32 = 7;\n",
        );
    }
    text
}

/// Copies the test kernel into `dir` (its path dependencies made absolute).
fn copy_kernel(dir: &Path) {
    let from = repo().join("xtask/test-kernel");
    let _ = std::fs::remove_dir_all(dir);
    let status = Command::new("cp")
        .arg("-r")
        .arg(&from)
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(dir.join("target"));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let absolute = manifest.replace(
        "path = \"../../",
        &format!("path = \"{}/", repo().display()),
    );
    std::fs::write(dir.join("Cargo.toml"), absolute).unwrap();
}

#[test]
fn the_diff_of_two_kernel_builds_exactly() {
    let target = TARGETS[0];
    if !target_installed(target) {
        eprintln!("skipped: target {target} is not installed");
        return;
    }
    let copy = target_dir("test-kernel-diff-src");
    copy_kernel(&copy);
    let vars = std::fs::read_to_string(copy.join("src/vars.rs")).unwrap();
    let mut elfs = Vec::new();
    for (side, added, len) in [("old", false, 8), ("new", true, 24)] {
        std::fs::write(
            copy.join("src/vars.rs"),
            format!("{vars}{}", diff_vars(added, len)),
        )
        .unwrap();
        let report = build_and_inspect(&copy, "test-kernel-diff", target, &[]);
        let built = PathBuf::from(report["file"]["path"].as_str().unwrap());
        let kept = target_dir(&format!("test-kernel-{side}.elf"));
        std::fs::copy(&built, &kept).unwrap();
        elfs.push(kept.display().to_string());
    }
    let (old, new) = (&elfs[0], &elfs[1]);
    let (code, out, err) = cargo_percpu(&copy, &["diff", old, new, "--cpus", "4"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let expected = format!(
        "\
old          {old}
new          {new}
template     69784 -> 69808 bytes (+24)
area size    73920 -> 73920 bytes (unchanged)
areas        4 -> 4 (unchanged)
reserved     295680 -> 295680 bytes (unchanged)

added (1)
  +    0x110a0         4  percpu_test_kernel::vars::DIFF_ADDED: u32

removed (0)

moved (1)
       0x11090 -> 0x110a8            8  percpu::arch::x86_64::SELF_PTR

resized (1)
       0x11088         8 -> 24        percpu_test_kernel::vars::DIFF_RESIZED

checks that changed state (0)

result: every budget holds and every check of NEW passes
"
    );
    assert_eq!(out, expected);
    let (_, json, _) = cargo_percpu(&copy, &["diff", "--json", old, new], &[]);
    schema::parse(&json);
}
