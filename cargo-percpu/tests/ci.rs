//! What a CI job relies on, on generated ELF files (fast): the diff and its
//! exact report, every budget's exit status, the output flags, colour, the
//! build target from the cargo configuration, and the cargo runner's
//! failures. The same on real kernels is in `kernel.rs`.

use std::path::PathBuf;
use std::process::Command;

use crate::common::gen::*;
use crate::common::run::exec_in;
use crate::common::schema;
use cargo_percpu::cli::{run_with_colour, EXIT_CHECK_FAILED, EXIT_ERROR, EXIT_OK};

fn exec(args: &[&str]) -> (i32, String, String) {
    exec_in(&scratch("cwd"), args, &[])
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cargo-percpu-ci-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(name: &str, data: &[u8]) -> String {
    let path = scratch("files").join(name);
    std::fs::write(&path, data).unwrap();
    path.display().to_string()
}

const OLD: &[(&str, u64)] = &[("__PERCPU_A", 8), ("__PERCPU_B", 8)];
/// B grows from 8 to 40 bytes, C (4 bytes) is new: the template goes from
/// 16 to 52 bytes, and the area stays at one 64-byte stride.
const NEW: &[(&str, u64)] = &[("__PERCPU_A", 8), ("__PERCPU_B", 40), ("__PERCPU_C", 4)];

/// Writes OLD and NEW as `<test>-old` and `<test>-new`: tests run in
/// parallel, each with its own files.
fn old_and_new(test: &str) -> (String, String) {
    (
        write(
            &format!("{test}-old"),
            &GenElf::kernel(64, false, EM_X86_64, 4, OLD).build(),
        ),
        write(
            &format!("{test}-new"),
            &GenElf::kernel(64, false, EM_X86_64, 4, NEW).build(),
        ),
    )
}

#[test]
fn the_diff_of_one_added_and_one_resized_variable_exactly() {
    let (old, new) = old_and_new("exact");
    let (code, out, err) = exec(&["diff", &old, &new]);
    assert_eq!(code, 0, "{err}");
    let expected = format!(
        "\
old          {old}
new          {new}
template     16 -> 52 bytes (+36)
area size    64 -> 64 bytes (unchanged)
areas        4 -> 4 (unchanged)
reserved     256 -> 256 bytes (unchanged)

added (1)
  +       0x30         4  C

removed (0)

moved (0)

resized (1)
           0x8         8 -> 40        B

checks that changed state (0)

result: every budget holds and every check of NEW passes
"
    );
    assert_eq!(out, expected);

    // The same as JSON, and `inspect --diff` is the same command.
    let (code, json, _) = exec(&["diff", "--format", "json", &old, &new]);
    assert_eq!(code, 0);
    let value = schema::parse(&json);
    assert_eq!(value["added"][0]["name"], "C");
    assert_eq!(value["resized"][0]["old_size"], 8);
    assert_eq!(value["resized"][0]["new_size"], 40);
    assert_eq!(value["template_size"]["delta"], 36);
    assert!(value["moved"].as_array().unwrap().is_empty());
    let (code, again, _) = exec(&["inspect", "--diff", &old, &new, "--json"]);
    assert_eq!((code, again), (0, json));
}

#[test]
fn a_diff_reads_saved_json_reports_too() {
    let (old, new) = old_and_new("saved");
    let (_, saved, _) = exec(&["inspect", "--format", "json", &old]);
    schema::parse(&saved);
    let saved_path = write("saved-old.json", saved.as_bytes());
    let (code, from_json, err) = exec(&["diff", &saved_path, &new]);
    let (_, from_elf, _) = exec(&["diff", &old, &new]);
    assert_eq!(code, 0, "{err}");
    // Only the header line naming OLD differs: OLD's report keeps its own path.
    assert_eq!(
        from_json.lines().skip(1).collect::<Vec<_>>(),
        from_elf.lines().skip(1).collect::<Vec<_>>()
    );
    // A report of another schema version, or something else entirely, is an error.
    for (name, text) in [
        (
            "v1.json",
            saved.replace("\"schema_version\": 2", "\"schema_version\": 1"),
        ),
        (
            "diff.json",
            saved.replace("\"document\": \"inspect\"", "\"document\": \"diff\""),
        ),
        ("broken.json", "{ not json".to_string()),
    ] {
        let path = write(name, text.as_bytes());
        let (code, out, err) = exec(&["diff", &path, &new]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
    }
}

#[test]
fn every_budget_has_its_exit_status() {
    let (old, new) = old_and_new("budgets");
    // (arguments, exit status, the budget's line that must show up)
    let cases: &[(&[&str], u8, &str)] = &[
        (
            &["diff", &old, &new, "--max-growth", "36"],
            EXIT_OK,
            "ok    max-growth",
        ),
        (
            &["diff", &old, &new, "--max-growth", "35"],
            EXIT_CHECK_FAILED,
            "FAIL  max-growth",
        ),
        (
            &["diff", &new, &old, "--max-growth", "0"],
            EXIT_OK,
            "template shrank by 36 bytes",
        ),
        (
            &["diff", &old, &new, "--max-area-size", "64"],
            EXIT_OK,
            "ok    max-area-size",
        ),
        (
            &["diff", &old, &new, "--max-area-size", "63"],
            EXIT_CHECK_FAILED,
            "FAIL  max-area-size",
        ),
        (
            &["inspect", &new, "--max-area-size", "64"],
            EXIT_OK,
            "ok    max-area-size",
        ),
        (
            &["inspect", &new, "--max-area-size", "63"],
            EXIT_CHECK_FAILED,
            "FAIL  max-area-size",
        ),
        (
            &["inspect", &new, "--max-area-size", "1K"],
            EXIT_OK,
            "budget 1024",
        ),
        (
            &["inspect", "--diff", &old, &new, "--max-growth", "35"],
            EXIT_CHECK_FAILED,
            "FAIL  max-growth",
        ),
        (
            &["inspect", "--diff", &old, &new, "--max-growth", "0x24"],
            EXIT_OK,
            "ok    max-growth",
        ),
    ];
    for (args, status, line) in cases {
        let (code, out, err) = exec(args);
        assert_eq!(code, i32::from(*status), "{args:?}: {out}{err}");
        assert!(out.contains(line), "{args:?}: no `{line}` in\n{out}");
        let is_diff = args[0] == "diff" || args.contains(&"--diff");
        if let Some(name) = line.strip_prefix("FAIL  ").filter(|_| is_diff) {
            // A broken budget is named in the result line.
            assert!(
                out.contains(&format!("result: budget broken: {name}")),
                "{out}"
            );
        }
        let mut json_args = args.to_vec();
        json_args.push("--json");
        let (json_code, json, _) = exec(&json_args);
        assert_eq!(json_code, code, "{args:?}");
        schema::parse(&json);
    }
    // A failing check of NEW fails the diff too, and says so.
    let (code, out, _) = exec(&["diff", &old, &new, "--cpus", "5"]);
    assert_eq!(code, 1);
    assert!(out.contains("result: NEW fails: reservation"), "{out}");
    // Budgets that make no sense are usage errors.
    for args in [
        &["inspect", &new, "--max-growth", "4"][..],
        &["diff", &old, &new, "--max-area-size", "lots"],
        &["diff", &old, &new, "--max-growth", "-1"],
        &["diff", &old, &new, "--max-growth", "99999999999G"],
    ] {
        let (code, _, err) = exec(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
    }
}

#[test]
fn format_flags_are_synonyms() {
    let (_, new) = old_and_new("formats");
    let (_, canonical, _) = exec(&["inspect", "--format", "json", &new]);
    schema::parse(&canonical);
    for flag in [
        &["--json"][..],
        &["--message-format", "json"],
        &["--message-format=json-diagnostic-short"],
    ] {
        let mut args = vec!["inspect"];
        args.extend_from_slice(flag);
        args.push(&new);
        let (code, out, _) = exec(&args);
        assert_eq!((code, &out), (0, &canonical), "{flag:?}");
    }
    let (_, human, _) = exec(&["inspect", &new]);
    assert_eq!(exec(&["inspect", "--format", "human", &new]).1, human);
    assert_eq!(
        exec(&["inspect", "--message-format", "human", &new]).1,
        human
    );
    // Two formats at once, or an unknown one, are usage errors.
    for args in [
        &["inspect", "--json", "--format", "human", &new][..],
        &["inspect", "--format", "xml", &new],
        &["inspect", "--message-format", "xml", &new],
    ] {
        assert_eq!(exec(args).0, 2, "{args:?}");
    }
}

#[test]
fn no_colour_unless_stdout_wants_it() {
    let (old, new) = old_and_new("colour");
    let dir = scratch("cwd");
    for args in [
        &["inspect", &new][..],
        &["diff", &old, &new, "--max-growth", "1"],
    ] {
        // Not a terminal: no escape code.
        let (_, plain, _) = exec_in(&dir, args, &[]);
        assert!(!plain.contains('\x1b'), "{plain}");
        // Forced, the same text with styles...
        let (_, forced, _) = exec_in(&dir, args, &[("CLICOLOR_FORCE", "1")]);
        assert!(forced.contains("\x1b["), "{forced}");
        assert_eq!(anstream::adapter::strip_str(&forced).to_string(), plain);
        // ...unless NO_COLOR says otherwise.
        let (_, none, _) = exec_in(&dir, args, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
        assert_eq!(none, plain);
        // JSON never has colour.
        let mut json = args.to_vec();
        json.push("--json");
        let (_, out, _) = exec_in(&dir, &json, &[("CLICOLOR_FORCE", "1")]);
        assert!(!out.contains('\x1b'));
        schema::parse(&out);
    }
    // The library entry point: styled only when asked.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    run_with_colour(["cargo-percpu", "inspect", &new], &mut out, &mut err, true);
    assert!(String::from_utf8_lossy(&out).contains("\x1b["));
    out.clear();
    run_with_colour(["cargo-percpu", "inspect", &new], &mut out, &mut err, false);
    assert!(!String::from_utf8_lossy(&out).contains('\x1b'));
}

#[test]
fn colour_on_a_real_terminal() {
    // `script` gives the binary a pseudo-terminal; skip where it is missing.
    let (_, new) = old_and_new("tty");
    let line = format!("{} inspect {new}", env!("CARGO_BIN_EXE_cargo-percpu"));
    let run = |no_color: bool| {
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env("TERM", "xterm-256color")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CLICOLOR");
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        cmd.output().ok().filter(|o| o.status.success())
    };
    let Some(tty) = run(false) else {
        eprintln!("skipped: no `script` to make a terminal");
        return;
    };
    assert!(String::from_utf8_lossy(&tty.stdout).contains("\x1b["));
    let plain = run(true).expect("script ran once already");
    assert!(!String::from_utf8_lossy(&plain.stdout).contains('\x1b'));
}

#[test]
fn help_shows_a_worked_example_for_each_subcommand() {
    for (sub, example) in [
        ("ldscript", "$ cargo percpu ldscript --cpus 8 --full"),
        ("inspect", "$ cargo percpu inspect --bin kernel"),
        ("diff", "$ cargo percpu diff last-release.json"),
    ] {
        for help in ["--help", "-h"] {
            let (code, out, _) = exec(&[sub, help]);
            assert_eq!(code, 0);
            assert!(out.contains(example), "{sub} {help}:\n{out}");
        }
    }
}

/// A scratch directory with `.cargo/config.toml` holding `config`, and an
/// empty CARGO_HOME so that the user's own configuration stays out.
fn project(name: &str, config: Option<&str>) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src/deep/er")).unwrap();
    if let Some(config) = config {
        std::fs::create_dir_all(dir.join(".cargo")).unwrap();
        std::fs::write(dir.join(".cargo/config.toml"), config).unwrap();
    }
    let home = dir.join("cargo-home");
    std::fs::create_dir_all(&home).unwrap();
    (dir, home)
}

#[test]
fn ldscript_takes_the_target_of_the_cargo_configuration() {
    let (dir, home) = project(
        "config",
        Some("[build]\ntarget = \"riscv64gc-unknown-none-elf\"\n"),
    );
    let home = home.display().to_string();
    let env = [("CARGO_HOME", home.as_str())];
    let deep = dir.join("src/deep/er");
    let (code, out, err) = exec_in(&deep, &["ldscript", "--cpus", "2", "--full"], &env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().next().unwrap(),
        "/* cargo percpu: rendered for riscv64, target riscv64gc-unknown-none-elf, from build.target in .cargo/config.toml. */"
    );
    assert!(out.contains("OUTPUT_ARCH(riscv)"), "{out}");
    // CARGO_BUILD_TARGET overrides the file, --target and --arch override both.
    let env2 = [
        ("CARGO_HOME", home.as_str()),
        ("CARGO_BUILD_TARGET", "aarch64-unknown-none"),
    ];
    let (_, out, _) = exec_in(&deep, &["ldscript", "--cpus", "2"], &env2);
    assert!(out.starts_with("/* cargo percpu: rendered for aarch64, target aarch64-unknown-none, from CARGO_BUILD_TARGET. */"), "{out}");
    let (_, out, _) = exec_in(
        &deep,
        &["ldscript", "--cpus", "2", "--target", "armv7a-none-eabi"],
        &env2,
    );
    assert!(
        out.starts_with(
            "/* cargo percpu: rendered for armv7, target armv7a-none-eabi, from --target. */"
        ),
        "{out}"
    );
    let (_, out, _) = exec_in(
        &deep,
        &["ldscript", "--cpus", "2", "--arch", "loongarch64"],
        &env2,
    );
    assert!(
        out.starts_with("/* cargo percpu: rendered for loongarch64, from --arch. */"),
        "{out}"
    );
    // Nothing configured: the host.
    let (bare, bare_home) = project("bare", None);
    let bare_home = bare_home.display().to_string();
    let (code, out, _) = exec_in(
        &bare,
        &["ldscript", "--cpus", "2"],
        &[("CARGO_HOME", &bare_home)],
    );
    if let Some(host) = cargo_percpu::ldscript::Arch::from_target(&format!(
        "{}-unknown-none",
        std::env::consts::ARCH
    )) {
        assert_eq!(code, 0);
        assert_eq!(
            out.lines().next().unwrap(),
            format!("/* cargo percpu: rendered for {host}, the host: no --target and no build.target. */")
        );
    }
    // A configured target we have no script for is a one-line error.
    let (odd, odd_home) = project("odd", Some("build.target = \"mips-unknown-linux-gnu\"\n"));
    let odd_home = odd_home.display().to_string();
    let (code, out, err) = exec_in(
        &odd,
        &["ldscript", "--cpus", "2"],
        &[("CARGO_HOME", &odd_home)],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("mips-unknown-linux-gnu") && err.contains(".cargo/config.toml"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1);
}

/// A cargo package in a scratch directory, with `bins` as (name, source).
fn package(name: &str, bins: &[(&str, &str)]) -> PathBuf {
    let (dir, _) = project(name, None);
    let mut manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n"
    );
    for (bin, source) in bins {
        manifest.push_str(&format!(
            "\n[[bin]]\nname = \"{bin}\"\npath = \"src/{bin}.rs\"\n"
        ));
        std::fs::write(dir.join(format!("src/{bin}.rs")), source).unwrap();
    }
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    dir
}

#[test]
fn inspect_without_a_file_picks_the_only_binary_or_names_them() {
    let two = package(
        "twobins",
        &[("alpha", "fn main() {}"), ("beta", "fn main() {}")],
    );
    let (code, out, err) = exec_in(&two, &["inspect"], &[]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(
        err.trim_end(),
        "error: several bins, pick one with --bin NAME: alpha, beta"
    );
    let (code, _, err) = exec_in(&two, &["inspect", "--example", "nope"], &[]);
    assert_ne!(code, 0, "{err}");
    // A build error passes through with cargo's own exit status (101).
    let broken = package("broken", &[("only", "fn main() { let x: u8 = \"no\"; }")]);
    let (code, out, err) = exec_in(&broken, &["inspect"], &[]);
    let cargo_status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&broken)
        .args(["build", "--quiet"])
        .output()
        .unwrap()
        .status
        .code()
        .unwrap();
    assert_ne!(cargo_status, 0);
    assert_eq!(code, cargo_status, "{out}{err}");
    assert!(
        err.contains("mismatched types"),
        "cargo's diagnostics pass through: {err}"
    );
    assert!(
        err.trim_end().ends_with(&format!(
            "error: cargo build failed with exit status {cargo_status}"
        )),
        "{err}"
    );
    // A file and build options together make no sense.
    let (_, new) = old_and_new("no-file");
    assert_eq!(exec(&["inspect", &new, "--release"]).0, 2);
    assert_eq!(exec(&["inspect", &new, "--bin", "x"]).0, 2);
}

#[test]
fn inspect_builds_the_only_binary_of_a_host_package() {
    // A host program is an ELF without .percpu: the build works, the report
    // says so, and the exit status is the failed check's.
    let one = package("onebin", &[("solo", "fn main() { println!(\"hi\"); }")]);
    let (code, out, err) = exec_in(&one, &["inspect", "--json"], &[]);
    if !cfg!(target_os = "linux") {
        return;
    }
    assert_eq!(code, 1, "{err}");
    let value = schema::parse(&out);
    assert!(
        value["file"]["path"]
            .as_str()
            .unwrap()
            .ends_with("/debug/solo"),
        "{value}"
    );
    assert_eq!(value["checks"][0]["name"], "section-exists");
    assert_eq!(value["checks"][0]["passed"], false);
    // --bin names it, and extra cargo arguments after `--` reach cargo.
    let (code, out, _) = exec_in(
        &one,
        &["inspect", "--bin", "solo", "--json", "--", "--quiet"],
        &[],
    );
    assert_eq!(code, 1);
    schema::parse(&out);
    assert_eq!(EXIT_ERROR, 2);
}
