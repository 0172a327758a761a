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
    let mut reports = Vec::new();
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
        reports.push(report);
    }
    let (old, new) = (&elfs[0], &elfs[1]);
    let (code, out, err) = cargo_percpu(&copy, &["diff", old, new, "--cpus", "4"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    // Where rustc puts the two variables among the others depends on its
    // version (1.95 appends them, 1.90 puts DIFF_RESIZED first), and with
    // them the padding and what moves: those figures come from the two
    // `inspect` reports, everything else is fixed.
    let offsets = |report: &Value| -> std::collections::BTreeMap<String, (u64, u64)> {
        report["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let name = v["name"].as_str().unwrap().to_string();
                (
                    name,
                    (v["offset"].as_u64().unwrap(), v["size"].as_u64().unwrap()),
                )
            })
            .collect()
    };
    let (old_vars, new_vars) = (offsets(&reports[0]), offsets(&reports[1]));
    let mut moved: Vec<(u64, &str, u64, u64)> = old_vars
        .iter()
        .filter_map(|(name, &(at, _))| {
            let &(new_at, size) = new_vars.get(name)?;
            (new_at != at).then_some((new_at, name.as_str(), at, size))
        })
        .collect();
    moved.sort();
    let moved_lines: String = moved
        .iter()
        .map(|(new_at, name, at, size)| {
            format!(
                "    {:>10} -> {:<10}  {size:>8}  {name}\n",
                format!("{at:#x}"),
                format!("{new_at:#x}")
            )
        })
        .collect();
    let template = |r: &Value, key: &str| r["template"][key].as_u64().unwrap();
    let (size_old, size_new) = (template(&reports[0], "size"), template(&reports[1], "size"));
    assert_eq!(
        size_new - size_old,
        24,
        "a u32 after a 24-byte array, for an 8-byte one"
    );
    let stride = template(&reports[0], "stride");
    assert_eq!(stride, template(&reports[1], "stride"));
    let at = |vars: &std::collections::BTreeMap<String, (u64, u64)>, short: &str| {
        format!(
            "{:#x}",
            vars[&format!("percpu_test_kernel::vars::{short}")].0
        )
    };
    let expected = format!(
        "\
old          {old}
new          {new}
template     {size_old} -> {size_new} bytes (+24)
area size    {stride} -> {stride} bytes (unchanged)
areas        4 -> 4 (unchanged)
reserved     {reserved} -> {reserved} bytes (unchanged)

added (1)
  + {added:>10}         4  percpu_test_kernel::vars::DIFF_ADDED: u32

removed (0)

moved ({n_moved})
{moved_lines}
resized (1)
    {resized:>10}         8 -> 24        percpu_test_kernel::vars::DIFF_RESIZED

checks that changed state (0)

result: every budget holds and every check of NEW passes
",
        reserved = 4 * stride,
        added = at(&new_vars, "DIFF_ADDED"),
        n_moved = moved.len(),
        resized = at(&new_vars, "DIFF_RESIZED"),
    );
    assert_eq!(out, expected);
    let (_, json, _) = cargo_percpu(&copy, &["diff", "--json", old, new], &[]);
    schema::parse(&json);
}

/// The test kernel linked by the other linkers of the link matrix (the
/// MSRV toolchain's rust-lld, GNU ld), each through cargo's
/// `target.<triple>.linker` as a kernel would set it: its `.percpu` (the
/// section's VMA and size, the template, every variable) is the one the
/// toolchain's own rust-lld gives, and every check of `inspect` passes.
#[test]
fn the_test_kernel_links_the_same_with_every_linker() {
    let target = TARGETS[0];
    if !target_installed(target) {
        eprintln!("skipped: target {target} is not installed");
        return;
    }
    let linkers: Vec<_> = common::linkers::found_or_fail()
        .into_iter()
        .filter(|l| l.links(cargo_percpu::ldscript::Arch::X86_64))
        .collect();
    let kernel = repo().join("xtask/test-kernel");
    let layout = |report: &Value| {
        let section = &report["section"];
        (
            (section["vma"].clone(), section["mem_size"].clone()),
            report["template"].clone(),
            report["variables"].clone(),
        )
    };
    let expected = layout(&build_and_inspect(
        &kernel,
        "test-kernel-linker-ref",
        target,
        &[],
    ));
    let var = format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_uppercase().replace('-', "_")
    );
    for (i, linker) in linkers.iter().enumerate() {
        // rustc infers the flavour from the name: `rust-lld` stays LLD
        // (`-flavor gnu`), `ld` and `*-ld` are GNU ld.
        let program = linker.program.display().to_string();
        let report = build_and_inspect(
            &kernel,
            &format!("test-kernel-linker-{i}"),
            target,
            &[(&var, &program)],
        );
        assert!(
            report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["passed"] == true),
            "{}: {report:#}",
            linker.name
        );
        assert_eq!(layout(&report), expected, "{}", linker.name);
        eprintln!("{}: the same .percpu", linker.name);
    }
}
