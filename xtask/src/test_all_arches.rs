//! `cargo xtask test-all-arches`: builds the test kernel (`xtask/test-kernel`)
//! for every configuration of the matrix, boots each one under QEMU, and checks
//! that it passed: QEMU's exit status, the kernel's `PASS` line and one `CPU n:
//! OK` line per CPU. Then it runs `cargo percpu inspect --json` on the kernel's
//! ELF and checks that the offsets the tool reports are the ones the kernel
//! printed at run time (`OFFSET <NAME> 0x<hex>` lines, from `X.offset()`).
//!
//! It keeps going after a failure and exits non-zero if any configuration
//! failed.

use crate::ci::needs_build_std;
use crate::toolchain;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Seconds a kernel may run before `timeout` kills QEMU (a passing boot takes
/// about a second).
const BOOT_TIMEOUT_SECS: u64 = 30;

/// Serial lines shown after a failure (the whole output with `--verbose`).
const TAIL_LINES: usize = 25;

/// One entry of the matrix.
struct Config {
    name: &'static str,
    target: &'static str,
    features: &'static [&'static str],
    /// Number of CPUs QEMU emulates (and the kernel expects).
    cpus: usize,
    qemu: &'static str,
    /// Debian package that provides `qemu`.
    package: &'static str,
    /// QEMU arguments before `-smp` and `-kernel`.
    machine: &'static [&'static str],
}

const AARCH64_VIRT: &[&str] = &[
    "-machine",
    "virt",
    "-cpu",
    "cortex-a57",
    "-m",
    "256M",
    "-nographic",
    "-no-reboot",
    "-semihosting",
];
const AARCH64_VIRT_EL2: &[&str] = &[
    "-machine",
    "virt,virtualization=on",
    "-cpu",
    "cortex-a57",
    "-m",
    "256M",
    "-nographic",
    "-no-reboot",
    "-semihosting",
];
const RISCV64_VIRT: &[&str] = &["-machine", "virt", "-m", "256M", "-nographic", "-no-reboot"];
const RISCV32_VIRT: &[&str] = &[
    "-machine",
    "virt",
    "-m",
    "256M",
    "-nographic",
    "-no-reboot",
    "-bios",
    "none",
];
const LOONGARCH64_VIRT: &[&str] = &[
    "-machine",
    "virt",
    "-m",
    "1G",
    "-nographic",
    "-no-reboot",
    "-device",
    "pvpanic-pci",
    "-action",
    "panic=exit-failure",
];
const ARM_VIRT: &[&str] = &[
    "-machine",
    "virt",
    "-cpu",
    "cortex-a15",
    "-m",
    "256M",
    "-nographic",
    "-no-reboot",
    "-semihosting",
];
const X86_64_PC: &[&str] = &[
    "-m",
    "256M",
    "-display",
    "none",
    "-serial",
    "stdio",
    "-monitor",
    "none",
    "-no-reboot",
    "-device",
    "isa-debug-exit,iobase=0xf4,iosize=0x04",
];

const fn config(
    name: &'static str,
    target: &'static str,
    features: &'static [&'static str],
    cpus: usize,
    qemu: &'static str,
    package: &'static str,
    machine: &'static [&'static str],
) -> Config {
    Config {
        name,
        target,
        features,
        cpus,
        qemu,
        package,
        machine,
    }
}

const MATRIX: &[Config] = &[
    config(
        "x86_64",
        "x86_64-unknown-none",
        &[],
        4,
        "qemu-system-x86_64",
        "qemu-system-x86",
        X86_64_PC,
    ),
    config(
        "aarch64",
        "aarch64-unknown-none",
        &[],
        4,
        "qemu-system-aarch64",
        "qemu-system-arm",
        AARCH64_VIRT,
    ),
    config(
        "aarch64-el2",
        "aarch64-unknown-none",
        &["arm-el2"],
        4,
        "qemu-system-aarch64",
        "qemu-system-arm",
        AARCH64_VIRT_EL2,
    ),
    config(
        "riscv64",
        "riscv64gc-unknown-none-elf",
        &[],
        4,
        "qemu-system-riscv64",
        "qemu-system-misc",
        RISCV64_VIRT,
    ),
    config(
        "riscv32",
        "riscv32imac-unknown-none-elf",
        &[],
        4,
        "qemu-system-riscv32",
        "qemu-system-misc",
        RISCV32_VIRT,
    ),
    config(
        "loongarch64",
        "loongarch64-unknown-none",
        &[],
        4,
        "qemu-system-loongarch64",
        "qemu-system-misc",
        LOONGARCH64_VIRT,
    ),
    config(
        "armv7",
        "armv7a-none-eabi",
        &[],
        4,
        "qemu-system-arm",
        "qemu-system-arm",
        ARM_VIRT,
    ),
    config(
        "x86_64-preempt",
        "x86_64-unknown-none",
        &["preempt"],
        4,
        "qemu-system-x86_64",
        "qemu-system-x86",
        X86_64_PC,
    ),
    config(
        "aarch64-preempt",
        "aarch64-unknown-none",
        &["preempt"],
        4,
        "qemu-system-aarch64",
        "qemu-system-arm",
        AARCH64_VIRT,
    ),
    config(
        "riscv64-preempt",
        "riscv64gc-unknown-none-elf",
        &["preempt"],
        4,
        "qemu-system-riscv64",
        "qemu-system-misc",
        RISCV64_VIRT,
    ),
    config(
        "aarch64-init",
        "aarch64-unknown-none",
        &["external-areas"],
        4,
        "qemu-system-aarch64",
        "qemu-system-arm",
        AARCH64_VIRT,
    ),
    config(
        "aarch64-sp-naive",
        "aarch64-unknown-none",
        &["sp-naive"],
        1,
        "qemu-system-aarch64",
        "qemu-system-arm",
        AARCH64_VIRT,
    ),
];

struct Options {
    only: Option<String>,
    verbose: bool,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        only: None,
        verbose: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--verbose" | "-v" => opts.verbose = true,
            "--arch" => {
                let Some(name) = it.next() else {
                    bail!("`--arch` needs a configuration name ({})", names());
                };
                opts.only = Some(name.clone());
            }
            other => match other.strip_prefix("--arch=") {
                Some(name) => opts.only = Some(name.to_owned()),
                None => bail!(
                    "unknown argument `{other}`\nusage: cargo xtask test-all-arches [--arch NAME] [--verbose]\nconfigurations: {}",
                    names()
                ),
            },
        }
    }
    if let Some(name) = &opts.only {
        if !MATRIX.iter().any(|c| c.name == name) {
            bail!("unknown configuration `{name}`; one of: {}", names());
        }
    }
    Ok(opts)
}

fn names() -> String {
    MATRIX.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}

/// What happened to one configuration.
struct Outcome {
    name: &'static str,
    build: Option<Duration>,
    boot: Option<Duration>,
    /// `None` if it passed, the reason otherwise.
    failure: Option<String>,
    /// Number of per-CPU offsets checked against `cargo percpu inspect`.
    offsets_checked: usize,
}

/// Entry point of `cargo xtask test-all-arches [--arch NAME] [--verbose]`.
pub fn run(args: &[String]) -> Result<()> {
    let opts = parse_args(args)?;
    let configs: Vec<&Config> = MATRIX
        .iter()
        .filter(|c| opts.only.as_deref().is_none_or(|n| n == c.name))
        .collect();

    prerequisites(&configs)?;
    let root = toolchain::workspace_root();
    let kernel_dir = root.join("xtask").join("test-kernel");
    // Honour CARGO_TARGET_DIR like cargo does, so that parallel checkouts or
    // CI caches keep their builds apart.
    let target_root = toolchain::target_root();
    let target_dir = target_root.join("test-kernel");
    let inspector = build_inspector(&root, &target_root)?;

    let started = Instant::now();
    let mut outcomes = Vec::new();
    for cfg in configs {
        let outcome = run_config(cfg, &kernel_dir, &target_dir, &inspector, opts.verbose);
        println!("{}", outcome_line(&outcome));
        outcomes.push(outcome);
    }
    print_summary(&outcomes, started.elapsed());

    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.failure.is_some())
        .map(|o| o.name)
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} configurations failed: {}",
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// Installs missing rustup targets, `rust-src` and QEMU binaries (or stops
/// with the package to install).
fn prerequisites(configs: &[&Config]) -> Result<()> {
    let mut targets: Vec<&str> = configs
        .iter()
        .filter(|c| !needs_build_std(c.target))
        .map(|c| c.target)
        .collect();
    targets.sort_unstable();
    targets.dedup();
    toolchain::ensure_targets(&targets)?;
    if configs.iter().any(|c| needs_build_std(c.target)) {
        toolchain::ensure_components(&["rust-src"])?;
    }
    let mut qemus: Vec<(&str, &str)> = configs.iter().map(|c| (c.qemu, c.package)).collect();
    qemus.sort_unstable();
    qemus.dedup();
    for (binary, package) in qemus {
        toolchain::ensure_qemu(binary, package)?;
    }
    if !toolchain::which("timeout") {
        bail!("`timeout` not found: install the Debian package `coreutils`");
    }
    Ok(())
}

/// Builds `cargo-percpu` once; returns the path of its binary.
fn build_inspector(root: &Path, target_dir: &Path) -> Result<PathBuf> {
    toolchain::run(
        toolchain::cargo()
            .current_dir(root)
            .args(["build", "--quiet", "--release", "-p", "cargo-percpu"])
            .arg("--target-dir")
            .arg(target_dir),
    )
    .context("cannot build cargo-percpu (needed to check the offsets)")?;
    let bin = target_dir
        .join("release")
        .join(format!("cargo-percpu{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!("cargo-percpu was built but {} is missing", bin.display());
    }
    Ok(bin)
}

fn run_config(
    cfg: &Config,
    kernel_dir: &Path,
    target_dir: &Path,
    inspector: &Path,
    verbose: bool,
) -> Outcome {
    let mut outcome = Outcome {
        name: cfg.name,
        build: None,
        boot: None,
        failure: None,
        offsets_checked: 0,
    };
    eprintln!("--- {}: building", cfg.name);
    let t = Instant::now();
    let elf = match build_kernel(cfg, kernel_dir, target_dir) {
        Ok(elf) => elf,
        Err(err) => {
            outcome.build = Some(t.elapsed());
            outcome.failure = Some(format!("build failed: {}", first_line(&format!("{err:#}"))));
            eprintln!("{err:#}");
            return outcome;
        }
    };
    outcome.build = Some(t.elapsed());

    eprintln!(
        "--- {}: booting {} CPUs under {}",
        cfg.name, cfg.cpus, cfg.qemu
    );
    let t = Instant::now();
    let boot = boot_kernel(cfg, &elf, verbose);
    outcome.boot = Some(t.elapsed());
    let serial = match boot {
        Ok(boot) => {
            let verdict = judge(cfg, &boot);
            if let Err(reason) = verdict {
                show_tail(&boot.lines, verbose);
                outcome.failure = Some(reason);
                return outcome;
            }
            boot.lines
        }
        Err(err) => {
            outcome.failure = Some(format!("{err:#}"));
            return outcome;
        }
    };

    let naive = cfg.features.contains(&"sp-naive");
    match check_offsets(inspector, &elf, &serial, naive) {
        Ok(n) => outcome.offsets_checked = n,
        Err(err) => outcome.failure = Some(format!("inspect: {err:#}")),
    }
    outcome
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Builds the kernel for `cfg` and copies it to `<target>/elf/<name>.elf`, so
/// that every configuration's kernel stays around after the run.
fn build_kernel(cfg: &Config, kernel_dir: &Path, target_dir: &Path) -> Result<PathBuf> {
    let mut cmd = toolchain::cargo();
    cmd.current_dir(kernel_dir)
        .args(["build", "--release", "--target", cfg.target])
        .arg("--target-dir")
        .arg(target_dir);
    if !cfg.features.is_empty() {
        cmd.arg("--features").arg(cfg.features.join(","));
    }
    if needs_build_std(cfg.target) {
        // No rustup `core` for this target on stable: build it from rust-src.
        cmd.env("RUSTC_BOOTSTRAP", "1").args([
            "-Zbuild-std=core,compiler_builtins",
            "-Zbuild-std-features=compiler-builtins-mem",
        ]);
    }
    // The kernel's own `.cargo/config.toml` sets its flags; don't let the
    // caller's RUSTFLAGS (e.g. from `cargo xtask ci`) override them.
    cmd.env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    let out = cmd
        .output()
        .with_context(|| format!("cannot start `{}`", toolchain::display(&cmd)))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim_start().starts_with("Compiling"))
            .collect();
        let shown = &errors[errors.len().saturating_sub(40)..];
        bail!(
            "`{}` failed with {}\n{}",
            toolchain::display(&cmd),
            out.status,
            shown.join("\n")
        );
    }
    let built = target_dir
        .join(cfg.target)
        .join("release")
        .join("percpu-test-kernel");
    let dir = target_dir.join("elf");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let elf = dir.join(format!("{}.elf", cfg.name));
    std::fs::copy(&built, &elf)
        .with_context(|| format!("cannot copy {} to {}", built.display(), elf.display()))?;
    Ok(elf)
}

/// The serial output and exit status of one boot.
struct Boot {
    lines: Vec<String>,
    /// QEMU's exit code; `None` if it was killed by a signal.
    code: Option<i32>,
}

fn boot_kernel(cfg: &Config, elf: &Path, verbose: bool) -> Result<Boot> {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", &BOOT_TIMEOUT_SECS.to_string(), cfg.qemu])
        .args(cfg.machine)
        .args(["-smp", &cfg.cpus.to_string(), "-kernel"])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if verbose {
        eprintln!("$ {}", toolchain::display(&cmd));
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `{}`", toolchain::display(&cmd)))?;

    // QEMU's messages go to stderr; collect them on the side so a full pipe
    // can never block it.
    let mut stderr = child.stderr.take().context("no stderr pipe")?;
    let stderr_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });

    let stdout = child.stdout.take().context("no stdout pipe")?;
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        // Serial bytes are not necessarily UTF-8 (a crashing kernel prints
        // anything), so read bytes and split on '\n' ourselves.
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        while let Ok(n) = r.read_until(b'\n', &mut buf) {
            if n == 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\r', '\n'])
                .to_owned();
            buf.clear();
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    for line in rx {
        if verbose {
            println!("  | {line}");
        }
        lines.push(line);
    }
    let _ = reader.join();
    let status = child.wait().context("cannot wait for QEMU")?;
    let stderr_text = stderr_reader.join().unwrap_or_default();
    for line in stderr_text.lines().filter(|l| !l.trim().is_empty()) {
        lines.push(format!("[qemu stderr] {line}"));
    }
    Ok(Boot {
        lines,
        code: status.code(),
    })
}

/// Decides whether a boot passed; the reason if it did not.
fn judge(cfg: &Config, boot: &Boot) -> Result<(), String> {
    // `timeout` exits with 124 when it had to stop QEMU.
    match boot.code {
        Some(124) | Some(137) => {
            return Err(format!("timed out after {BOOT_TIMEOUT_SECS} s"));
        }
        None => return Err("QEMU was killed by a signal".into()),
        _ => {}
    }
    let kernel_fail = boot.lines.iter().find(|l| l.starts_with("FAIL")).cloned();
    let status = boot
        .code
        .map_or_else(|| "none".to_owned(), |c| c.to_string());
    if let Some(fail) = kernel_fail {
        return Err(format!("kernel printed `{fail}` (exit status {status})"));
    }
    if boot.code != Some(0) {
        return Err(format!(
            "QEMU exited with status {status} without a FAIL line"
        ));
    }
    for cpu in 0..cfg.cpus {
        let prefix = format!("CPU {cpu}: OK");
        if !boot.lines.iter().any(|l| l.starts_with(&prefix)) {
            return Err(format!("no `{prefix}` line"));
        }
    }
    let extra = format!("CPU {}: ", cfg.cpus);
    if boot.lines.iter().any(|l| l.starts_with(&extra)) {
        return Err(format!("more than {} CPUs reported", cfg.cpus));
    }
    if !boot.lines.iter().any(|l| l == "PASS") {
        return Err("exit status 0 but no `PASS` line".into());
    }
    Ok(())
}

fn show_tail(lines: &[String], verbose: bool) {
    if verbose {
        return; // already shown as it came
    }
    let start = lines.len().saturating_sub(TAIL_LINES);
    eprintln!("    last {} serial lines:", lines.len() - start);
    for line in &lines[start..] {
        eprintln!("  | {line}");
    }
}

/// Parses the kernel's `OFFSET <NAME> 0x<hex>` lines.
fn runtime_offsets(serial: &[String]) -> Result<BTreeMap<String, u64>> {
    let mut map = BTreeMap::new();
    for line in serial {
        let Some(rest) = line.strip_prefix("OFFSET ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(hex), None) = (parts.next(), parts.next(), parts.next()) else {
            bail!("malformed line `{line}`");
        };
        let value = hex
            .strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .with_context(|| format!("malformed offset in `{line}`"))?;
        if map.insert(name.to_owned(), value).is_some() {
            bail!("variable {name} reported twice");
        }
    }
    Ok(map)
}

/// Runs `cargo percpu inspect --json` on `elf` and compares its offsets with
/// the ones the kernel printed. Returns how many variables were compared.
fn check_offsets(inspector: &Path, elf: &Path, serial: &[String], naive: bool) -> Result<usize> {
    let runtime = runtime_offsets(serial)?;
    if runtime.is_empty() {
        bail!("the kernel printed no OFFSET lines");
    }
    let mut cmd = Command::new(inspector);
    // The binary is a cargo subcommand: cargo passes the subcommand name first.
    cmd.args(["percpu", "inspect", "--json"]).arg(elf);
    // Exit status 1 means "a check failed" and still prints the report, whose
    // failed checks are then reported below; anything else is an error.
    let out = cmd
        .output()
        .with_context(|| format!("cannot start `{}`", toolchain::display(&cmd)))?;
    if !matches!(out.status.code(), Some(0 | 1)) {
        bail!(
            "`{}` failed with {}: {}",
            toolchain::display(&cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let report: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("`{}` printed invalid JSON", toolchain::display(&cmd)))?;
    if naive {
        // sp-naive per-CPU statics are plain globals: `.percpu` must hold
        // none of them, and the kernel's "offsets" are their addresses.
        let count = report
            .get("variables")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if count != 0 {
            bail!("sp-naive kernel, yet inspect found {count} variables in .percpu");
        }
        return Ok(0);
    }
    compare_offsets(&report, &runtime)?;
    Ok(runtime.len())
}

/// The comparison itself, separate so it can be unit-tested.
fn compare_offsets(report: &Value, runtime: &BTreeMap<String, u64>) -> Result<()> {
    let variables = report
        .get("variables")
        .and_then(Value::as_array)
        .context("no `variables` array in the JSON")?;
    let mut tool: BTreeMap<String, u64> = BTreeMap::new();
    for var in variables {
        let name = var.get("name").and_then(Value::as_str);
        let offset = var.get("offset").and_then(Value::as_u64);
        let (Some(name), Some(offset)) = (name, offset) else {
            bail!("variable without name or offset: {var}");
        };
        let short = name.rsplit("::").next().unwrap_or(name);
        let short = short.strip_prefix("__PERCPU_").unwrap_or(short);
        tool.insert(short.to_owned(), offset);
    }
    let mut mismatches = Vec::new();
    for (name, &rt) in runtime {
        match tool.get(name) {
            Some(&t) if t == rt => {}
            Some(&t) => mismatches.push(format!("{name}: kernel {rt:#x}, inspect {t:#x}")),
            None => mismatches.push(format!("{name}: not reported by inspect")),
        }
    }
    if let Some(checks) = report.get("checks").and_then(Value::as_array) {
        for check in checks {
            if check.get("passed").and_then(Value::as_bool) == Some(false) {
                let name = check.get("name").and_then(Value::as_str).unwrap_or("?");
                let detail = check.get("detail").and_then(Value::as_str).unwrap_or("");
                mismatches.push(format!("check `{name}` failed: {detail}"));
            }
        }
    }
    if !mismatches.is_empty() {
        bail!("{}", mismatches.join("; "));
    }
    Ok(())
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()))
}

fn outcome_line(o: &Outcome) -> String {
    match &o.failure {
        None if o.offsets_checked == 0 => format!(
            "{:<18} build {:>6}  boot {:>6}  PASS (sp-naive: inspect finds no per-CPU variable, as expected)",
            o.name,
            secs(o.build),
            secs(o.boot),
        ),
        None => format!(
            "{:<18} build {:>6}  boot {:>6}  PASS ({} offsets match inspect)",
            o.name,
            secs(o.build),
            secs(o.boot),
            o.offsets_checked
        ),
        Some(reason) => format!(
            "{:<18} build {:>6}  boot {:>6}  FAIL: {reason}",
            o.name,
            secs(o.build),
            secs(o.boot)
        ),
    }
}

fn print_summary(outcomes: &[Outcome], total: Duration) {
    println!();
    println!("{:<18} {:>7} {:>7}  result", "config", "build", "boot");
    println!("{}", "-".repeat(44));
    for o in outcomes {
        println!(
            "{:<18} {:>7} {:>7}  {}",
            o.name,
            secs(o.build),
            secs(o.boot),
            if o.failure.is_none() { "PASS" } else { "FAIL" }
        );
    }
    let passed = outcomes.iter().filter(|o| o.failure.is_none()).count();
    println!("{}", "-".repeat(44));
    println!(
        "{passed}/{} passed in {:.0}s",
        outcomes.len(),
        total.as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    fn cfg(name: &str) -> &'static Config {
        MATRIX.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn matrix_names_are_unique() {
        let mut names: Vec<&str> = MATRIX.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MATRIX.len());
    }

    #[test]
    fn judge_requires_status_pass_and_every_cpu() {
        let ok = "CPU 0: OK a\nCPU 1: OK\nCPU 2: OK\nCPU 3: OK\nPASS";
        let c = cfg("aarch64");
        let boot = |text: &str, code| Boot {
            lines: lines(text),
            code,
        };
        assert!(judge(c, &boot(ok, Some(0))).is_ok());
        assert!(judge(c, &boot(ok, Some(1))).is_err());
        assert!(judge(c, &boot(ok, Some(124))).is_err());
        assert!(judge(c, &boot(ok, None)).is_err());
        let missing_cpu = "CPU 0: OK\nCPU 1: OK\nCPU 3: OK\nPASS";
        assert!(judge(c, &boot(missing_cpu, Some(0))).is_err());
        let no_pass = "CPU 0: OK\nCPU 1: OK\nCPU 2: OK\nCPU 3: OK";
        assert!(judge(c, &boot(no_pass, Some(0))).is_err());
        let failed = format!("{ok}\nFAIL: counter");
        let reason = judge(c, &boot(&failed, Some(0))).unwrap_err();
        assert!(reason.contains("FAIL: counter"), "{reason}");
        let one = cfg("aarch64-sp-naive");
        assert!(judge(one, &boot("CPU 0: OK\nPASS", Some(0))).is_ok());
        assert!(judge(one, &boot("CPU 0: OK\nCPU 1: OK\nPASS", Some(0))).is_err());
    }

    #[test]
    fn offsets_are_parsed_and_compared() {
        let serial = lines("CPU 0: OK\nOFFSET BIG 0x0\nOFFSET U8 0x11040\nPASS");
        let rt = runtime_offsets(&serial).unwrap();
        assert_eq!(rt.len(), 2);
        assert_eq!(rt["U8"], 0x11040);
        let report: Value = serde_json::from_str(
            r#"{"variables":[
                {"name":"percpu_test_kernel::BIG","offset":0},
                {"name":"percpu_test_kernel::vars::U8","offset":69696}],
               "checks":[{"name":"x","passed":true,"detail":""}]}"#,
        )
        .unwrap();
        compare_offsets(&report, &rt).unwrap();
        let wrong: Value = serde_json::from_str(
            r#"{"variables":[{"name":"k::BIG","offset":0},{"name":"k::U8","offset":69697}]}"#,
        )
        .unwrap();
        assert!(compare_offsets(&wrong, &rt).is_err());
        let missing: Value =
            serde_json::from_str(r#"{"variables":[{"name":"k::BIG","offset":0}]}"#).unwrap();
        assert!(compare_offsets(&missing, &rt).is_err());
        let bad_check: Value = serde_json::from_str(
            r#"{"variables":[{"name":"k::BIG","offset":0},{"name":"k::U8","offset":69696}],
               "checks":[{"name":"stride","passed":false,"detail":"no"}]}"#,
        )
        .unwrap();
        assert!(compare_offsets(&bad_check, &rt).is_err());
        assert!(runtime_offsets(&lines("OFFSET X zz")).is_err());
        assert!(runtime_offsets(&lines("OFFSET X 0x1\nOFFSET X 0x2")).is_err());
    }

    #[test]
    fn matrix_features_exist_in_the_kernel() {
        let manifest = std::fs::read_to_string(
            toolchain::workspace_root().join("xtask/test-kernel/Cargo.toml"),
        )
        .unwrap();
        let features = &manifest[manifest.find("[features]").unwrap()..];
        for cfg in MATRIX {
            for feature in cfg.features {
                let line = format!("\n{feature} = ");
                assert!(
                    features.contains(&line),
                    "{}: no feature {feature}",
                    cfg.name
                );
            }
        }
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = parse_args(&args(&["--arch", "armv7", "--verbose"])).unwrap();
        assert_eq!(o.only.as_deref(), Some("armv7"));
        assert!(o.verbose);
        assert!(parse_args(&args(&["--arch"])).is_err());
        assert!(parse_args(&args(&["--arch", "m68k"])).is_err());
        assert!(parse_args(&args(&["--bogus"])).is_err());
    }
}
