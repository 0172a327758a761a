//! `cargo xtask test-all-arches`: builds the test kernel (`xtask/test-kernel`)
//! for every configuration of the matrix and CPU count, boots each one under
//! QEMU, and checks that it passed: QEMU's exit status, the kernel's `PASS`
//! line, the CPU count the kernel found on the platform and exactly one `CPU
//! n: OK` line per CPU. Then it runs `cargo percpu inspect --json` on the
//! kernel's ELF and checks that the offsets the tool reports are the ones the
//! kernel printed at run time (`OFFSET <NAME> 0x<hex>` lines, from
//! `X.offset()`).
//!
//! The CPU count is a build parameter of the kernel (`PERCPU_TEST_CPUS`,
//! which sizes its linker script's areas) and QEMU's `-smp`. By default each
//! target's default configuration runs with 4, 1, 8 and the most CPUs its
//! machine takes (64 at most), the other configurations with their own
//! count; `--cpus` picks the counts for every selected configuration, and
//! `--repeat N` boots each N times (a soak).
//!
//! Every configuration but the storms has a `<name>-placed` twin (the
//! kernel places its areas itself and, with more than one CPU, registers
//! the last CPU late: `EARLY CPU n: OK` and `LATE CPU n: OK` lines are
//! required too), and `riscv64-placed-same-area` is a negative test: its
//! boot must fail with `AreasOverlap`.
//!
//! It keeps going after a failure and exits non-zero if any run failed.

use crate::targets::{target, Target, TARGETS};
use crate::toolchain;
use anyhow::{bail, Context, Result};
use cargo_percpu::report::{inspect_path, InspectOptions, Report};
use percpu_layout::Arch;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Seconds a kernel may run before `timeout` kills QEMU, plus
/// [`BOOT_TIMEOUT_PER_CPU_SECS`] for each CPU (a passing boot takes about a
/// second with 4 CPUs, up to half a minute with 64).
const BOOT_TIMEOUT_SECS: u64 = 30;
/// Seconds of timeout added per CPU.
const BOOT_TIMEOUT_PER_CPU_SECS: u64 = 1;

/// The counts `--cpus all` means, `max` being the machine's largest.
const ALL_COUNTS: [Count; 4] = [Count::N(1), Count::N(4), Count::N(8), Count::Max];

/// CPUs QEMU emulates (and the kernel expects) unless a configuration says.
const CPUS: usize = 4;

/// One entry of the matrix.
#[derive(Clone)]
struct Config {
    /// Our name of the architecture, then the configuration's suffix.
    name: String,
    target: &'static Target,
    features: Vec<&'static str>,
    /// Number of CPUs QEMU emulates (and the kernel expects).
    cpus: usize,
    /// Appended to the target's `-machine` value.
    machine_options: Option<&'static str>,
    /// A CPU topology appended to `-smp`'s count (`sockets=2,cores=3`).
    topology: Option<&'static str>,
    /// QEMU arguments beyond the target's (`-singlestep` for the storms).
    qemu_args: &'static [&'static str],
    /// A negative test: the boot must fail with a `FAIL` line that
    /// contains this (and then passes).
    expect_fail: Option<&'static str>,
}

impl Config {
    /// Placed areas (`placed` feature): the script reserves only the
    /// template, so inspect is not asked for `--cpus` areas.
    fn placed(&self) -> bool {
        self.features.contains(&"placed")
    }

    /// Whether the last CPU joins late (`register_area`): placed areas
    /// with more than one CPU (the kernel's `LATE`).
    fn late_cpu(&self) -> bool {
        self.placed() && !self.features.contains(&"sp-naive") && self.cpus > 1
    }

    /// An interrupt-storm kernel (`storm` feature): its `STORM` lines are
    /// checked and its interrupt counts shown.
    fn storm(&self) -> bool {
        self.features.contains(&"storm")
    }

    /// `sp-naive` has exactly one CPU, a topology its product; a storm runs
    /// at its own count (under `-singlestep`, and its AArch64/ARMv7 timer
    /// code drives GICv2, which stops at 8 CPUs).
    fn fixed_cpus(&self) -> bool {
        self.features.contains(&"sp-naive") || self.topology.is_some() || self.storm()
    }

    /// `-smp`'s value.
    fn smp(&self) -> String {
        match self.topology {
            Some(topology) => format!("{},{topology}", self.cpus),
            None => self.cpus.to_string(),
        }
    }

    /// A target's default configuration (no features, no machine options),
    /// which the default matrix also runs with 1, 8 and the most CPUs.
    fn is_default(&self) -> bool {
        self.features.is_empty() && self.machine_options.is_none() && self.topology.is_none()
    }

    /// The `-machine` value for `cpus` CPUs, if the board is not QEMU's
    /// default.
    fn machine(&self, cpus: usize) -> Option<String> {
        let qemu = &self.target.qemu;
        let mut machine = qemu.machine?.to_owned();
        let many = qemu.many_cpus.filter(|&(above, _)| cpus > above);
        for option in self.machine_options.into_iter().chain(many.map(|m| m.1)) {
            machine.push(',');
            machine.push_str(option);
        }
        Some(machine)
    }
}

/// One CPU count asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// Exactly this many.
    N(usize),
    /// The most the machine takes.
    Max,
}

/// `--cpus`'s value: counts separated by commas (`1,8,max`), or `all`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts(pub Vec<Count>);

fn parse_counts(text: &str) -> Result<Counts, String> {
    if text == "all" {
        return Ok(Counts(ALL_COUNTS.to_vec()));
    }
    let counts = text
        .split(',')
        .map(|part| match part.trim() {
            "max" => Ok(Count::Max),
            n => match n.parse::<usize>() {
                Ok(n) if (1..=MAX_COUNT).contains(&n) => Ok(Count::N(n)),
                _ => Err(format!(
                    "`{n}`: a CPU count is 1 to {MAX_COUNT}, `max` or `all`"
                )),
            },
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Counts(counts))
}

/// The largest `--cpus` value (the kernel's areas and stacks grow with it).
const MAX_COUNT: usize = 256;

/// One run of the plan: a configuration with a CPU count, or why that
/// count cannot run.
struct Run {
    cfg: Config,
    /// Why this run is skipped (shown in the table), if it is.
    not_applicable: Option<String>,
}

/// The runs for `args`: every selected configuration at its counts.
fn plan(args: &Args) -> Vec<Run> {
    let mut runs = Vec::new();
    for cfg in matrix()
        .into_iter()
        .filter(|c| args.only.as_deref().is_none_or(|n| n == c.name))
    {
        let max = if cfg.fixed_cpus() {
            cfg.cpus
        } else {
            cfg.target.qemu.max_cpus
        };
        let wanted: Vec<Count> = match &args.cpus {
            Some(Counts(counts)) => counts.clone(),
            None if cfg.is_default() => {
                vec![Count::N(cfg.cpus), Count::N(1), Count::N(8), Count::Max]
            }
            None => vec![Count::N(cfg.cpus)],
        };
        let mut seen = Vec::new();
        for count in wanted {
            let cpus = match count {
                Count::N(n) => n,
                Count::Max => max,
            };
            if seen.contains(&cpus) {
                continue;
            }
            seen.push(cpus);
            let not_applicable = if cfg.fixed_cpus() && cpus != cfg.cpus {
                Some(format!("n/a: {} has {} CPUs only", cfg.name, cfg.cpus))
            } else if cpus > max {
                Some(format!(
                    "n/a: max {max} CPUs on {} {}",
                    cfg.target.qemu.binary,
                    cfg.target.qemu.machine.unwrap_or("pc")
                ))
            } else {
                None
            };
            runs.push(Run {
                cfg: Config {
                    cpus,
                    ..cfg.clone()
                },
                not_applicable,
            });
        }
    }
    runs
}

/// A configuration beyond each target's default one.
struct Extra {
    arch: Arch,
    /// The name is `<arch>-<suffix>`.
    suffix: &'static str,
    features: &'static [&'static str],
    cpus: usize,
    machine_options: Option<&'static str>,
    topology: Option<&'static str>,
    qemu_args: &'static [&'static str],
}

/// The negative test of placed areas: two CPUs given the same area, which
/// the init must refuse with `AreasOverlap`.
const SAME_AREA: (Arch, &str, &[&str]) = (
    Arch::Riscv64,
    "placed-same-area",
    &["placed", "placed-same-area"],
);

const fn extra(arch: Arch, suffix: &'static str, features: &'static [&'static str]) -> Extra {
    Extra {
        arch,
        suffix,
        features,
        cpus: CPUS,
        machine_options: None,
        topology: None,
        qemu_args: &[],
    }
}

/// QEMU 7.2's spelling: one instruction per translated block, so that an
/// interrupt can fall between any two instructions (TCG takes interrupts
/// only between blocks, and would never split a short load/op/store).
const SINGLESTEP: &[&str] = &["-singlestep"];

/// An interrupt-storm configuration: the `storm` feature, under
/// `-singlestep`.
const fn storm(arch: Arch, suffix: &'static str, features: &'static [&'static str]) -> Extra {
    Extra {
        qemu_args: SINGLESTEP,
        ..extra(arch, suffix, features)
    }
}

const EXTRAS: &[Extra] = &[
    Extra {
        // At EL2, QEMU's board must offer the virtualization extensions.
        machine_options: Some("virtualization=on"),
        ..extra(Arch::Aarch64, "el2", &["arm-el2"])
    },
    extra(Arch::X86_64, "preempt", &["preempt"]),
    extra(Arch::Aarch64, "preempt", &["preempt"]),
    extra(Arch::Riscv64, "preempt", &["preempt"]),
    extra(Arch::Aarch64, "init", &["external-areas"]),
    Extra {
        cpus: 1,
        ..extra(Arch::Aarch64, "sp-naive", &["sp-naive"])
    },
    // `--align 256` reaching the runtime, and a variable aligned to 256.
    extra(Arch::Riscv64, "wide-areas", &["wide-areas"]),
    // A percpu 0.4-style script, without the `_percpu_area_*` symbols.
    extra(Arch::Riscv32, "legacy-script", &["legacy-script"]),
    // The same with `.percpu` at its load address (`non-zero-vma`), 2 GiB
    // up: the missing symbols must read as missing there too, whatever
    // the distance from the code that reads them.
    extra(
        Arch::Riscv64,
        "legacy-script-nzvma",
        &["legacy-script", "non-zero-vma"],
    ),
    // Two sockets of three cores: APIC ids 0, 1, 2, 4, 5, 6 (each socket's
    // core field is 2 bits wide), which only the MADT tells.
    Extra {
        cpus: 6,
        topology: Some("sockets=2,cores=3"),
        ..extra(Arch::X86_64, "sparse-apic-ids", &[])
    },
    // Interrupt storms: every arch/EL configuration, and the `preempt` ones.
    storm(Arch::X86_64, "storm", &["storm"]),
    storm(Arch::Aarch64, "storm", &["storm"]),
    Extra {
        machine_options: Some("virtualization=on"),
        ..storm(Arch::Aarch64, "el2-storm", &["arm-el2", "storm"])
    },
    storm(Arch::Riscv64, "storm", &["storm"]),
    // Machine mode: `with_current_irqsave` masks `mstatus.MIE`
    // (`riscv-m-mode`, which the kernel enables on riscv32).
    storm(Arch::Riscv32, "storm", &["storm"]),
    storm(Arch::Loongarch64, "storm", &["storm"]),
    storm(Arch::Armv7, "storm", &["storm"]),
    storm(Arch::X86_64, "preempt-storm", &["preempt", "storm"]),
    storm(Arch::Aarch64, "preempt-storm", &["preempt", "storm"]),
    storm(Arch::Riscv64, "preempt-storm", &["preempt", "storm"]),
];

/// The matrix: every target with default features, then the extras, then
/// the placed twins of both (not of the storms), then the negative test.
fn matrix() -> Vec<Config> {
    let defaults = TARGETS.iter().map(|target| Config {
        name: target.name().to_owned(),
        target,
        features: Vec::new(),
        cpus: CPUS,
        machine_options: None,
        topology: None,
        qemu_args: &[],
        expect_fail: None,
    });
    let extras = EXTRAS.iter().map(|e| Config {
        name: format!("{}-{}", e.arch.name(), e.suffix),
        target: target(e.arch),
        features: e.features.to_vec(),
        cpus: e.cpus,
        machine_options: e.machine_options,
        topology: e.topology,
        qemu_args: e.qemu_args,
        expect_fail: None,
    });
    let contiguous: Vec<Config> = defaults.chain(extras).collect();
    // The placed twin of every configuration but the storms.
    let placed: Vec<Config> = contiguous
        .iter()
        .filter(|c| !c.storm())
        .map(|c| Config {
            name: format!("{}-placed", c.name),
            features: c.features.iter().copied().chain(["placed"]).collect(),
            ..c.clone()
        })
        .collect();
    let (arch, suffix, features) = SAME_AREA;
    let same_area = Config {
        name: format!("{}-{suffix}", arch.name()),
        target: target(arch),
        features: features.to_vec(),
        cpus: CPUS,
        machine_options: None,
        topology: None,
        qemu_args: &[],
        expect_fail: Some("AreasOverlap"),
    };
    contiguous
        .into_iter()
        .chain(placed)
        .chain([same_area])
        .collect()
}

/// `cargo xtask test-all-arches`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run one configuration only.
    #[arg(long = "arch", value_name = "NAME", value_parser = config_name)]
    pub only: Option<String>,
    /// Show every serial line as it comes.
    #[arg(short, long)]
    pub verbose: bool,
    /// CPU counts to run every selected configuration with, separated by
    /// commas: numbers, `max` (the most the machine takes, up to 64), or
    /// `all` for `1,4,8,max`. Default: 4, 1, 8 and max for each target's
    /// default configuration, its own count for every other one.
    #[arg(long, value_name = "LIST", value_parser = parse_counts)]
    pub cpus: Option<Counts>,
    /// Boot every run this many times (a soak), reporting every failed
    /// boot with its serial log.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Build the kernels with this rustup toolchain: its cargo, rustc and
    /// rust-lld (`1.90`: LLD 20). Installed, with the targets, if missing.
    #[arg(long, value_name = "TOOLCHAIN")]
    pub toolchain: Option<String>,
    /// Link the kernels with the rust-lld of this rustup toolchain (`1.85`:
    /// LLD 19), through cargo's `target.<triple>.linker`; installed
    /// (minimal profile) if missing.
    #[arg(long, value_name = "TOOLCHAIN")]
    pub linker_toolchain: Option<String>,
}

impl Default for Args {
    /// What `cargo xtask ci` runs: the default matrix, each run once.
    fn default() -> Self {
        Args {
            only: None,
            verbose: false,
            cpus: None,
            repeat: 1,
            toolchain: None,
            linker_toolchain: None,
        }
    }
}

fn config_name(name: &str) -> Result<String, String> {
    let names: Vec<String> = matrix().into_iter().map(|c| c.name).collect();
    if names.iter().any(|n| n == name) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "unknown configuration; one of: {}",
            names.join(", ")
        ))
    }
}

/// What happened to one run (a configuration at a CPU count).
struct Outcome {
    name: String,
    cpus: usize,
    build: Option<Duration>,
    /// The longest boot.
    boot: Option<Duration>,
    /// Boots tried and boots failed.
    boots: u32,
    failed: u32,
    /// The first failure's reason, if any boot (or the build) failed.
    failure: Option<String>,
    /// Why the run did not happen, if it could not.
    not_applicable: Option<String>,
    /// Number of per-CPU offsets checked against `cargo percpu inspect`.
    offsets_checked: usize,
    /// Storm configurations: the timer interrupts each CPU took (the
    /// last boot's).
    irqs: Vec<u64>,
    /// A negative test (its boots must fail as expected).
    expect_fail: bool,
}

impl Outcome {
    fn failed(&self) -> bool {
        self.failure.is_some()
    }
}

/// Entry point of `cargo xtask test-all-arches [--arch NAME] [--cpus LIST]
/// [--repeat N] [--verbose]`.
pub fn run(args: &Args) -> Result<()> {
    let runs = plan(args);
    let configs: Vec<&Config> = runs
        .iter()
        .filter(|r| r.not_applicable.is_none())
        .map(|r| &r.cfg)
        .collect();
    prerequisites(&configs)?;
    let targets: Vec<&Target> = configs.iter().map(|c| c.target).collect();
    let build = crate::linkers::KernelBuild::new(
        args.toolchain.as_deref(),
        args.linker_toolchain.as_deref(),
        &targets,
    )?;
    let root = toolchain::workspace_root();
    let kernel_dir = root.join("xtask").join("test-kernel");
    // Honour CARGO_TARGET_DIR like cargo does, so that parallel checkouts or
    // CI caches keep their builds apart.
    let target_dir = toolchain::target_root().join(format!("test-kernel{}", build.dir_suffix));

    let started = Instant::now();
    let mut outcomes = Vec::new();
    for run in &runs {
        let outcome = match &run.not_applicable {
            Some(reason) => Outcome {
                name: run.cfg.name.clone(),
                cpus: run.cfg.cpus,
                build: None,
                boot: None,
                boots: 0,
                failed: 0,
                failure: None,
                not_applicable: Some(reason.clone()),
                offsets_checked: 0,
                irqs: Vec::new(),
                expect_fail: run.cfg.expect_fail.is_some(),
            },
            None => run_config(&run.cfg, &kernel_dir, &target_dir, &build, args),
        };
        println!("{}", outcome_line(&outcome));
        outcomes.push(outcome);
    }
    print_summary(&outcomes, started.elapsed(), args.repeat);

    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.failed())
        .map(|o| format!("{} ({} CPUs)", o.name, o.cpus))
        .collect();
    if !failed.is_empty() {
        let boots: u32 = outcomes.iter().map(|o| o.failed).sum();
        bail!(
            "{} of {} runs failed ({boots} failed boots): {}",
            failed.len(),
            outcomes
                .iter()
                .filter(|o| o.not_applicable.is_none())
                .count(),
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
        .filter(|c| !c.target.build_std)
        .map(|c| c.target.triple())
        .collect();
    targets.sort_unstable();
    targets.dedup();
    toolchain::ensure_targets(&targets)?;
    if configs.iter().any(|c| c.target.build_std) {
        toolchain::ensure_components(&["rust-src"])?;
    }
    let mut qemus: Vec<(&str, &str)> = configs
        .iter()
        .map(|c| (c.target.qemu.binary, c.target.qemu.package))
        .collect();
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

fn run_config(
    cfg: &Config,
    kernel_dir: &Path,
    target_dir: &Path,
    build: &crate::linkers::KernelBuild,
    args: &Args,
) -> Outcome {
    let mut outcome = Outcome {
        name: cfg.name.clone(),
        cpus: cfg.cpus,
        build: None,
        boot: None,
        boots: 0,
        failed: 0,
        failure: None,
        not_applicable: None,
        offsets_checked: 0,
        irqs: Vec::new(),
        expect_fail: cfg.expect_fail.is_some(),
    };
    eprintln!("--- {} ({} CPUs): building", cfg.name, cfg.cpus);
    let t = Instant::now();
    let elf = match build_kernel(cfg, kernel_dir, target_dir, build) {
        Ok(elf) => elf,
        Err(err) => {
            outcome.build = Some(t.elapsed());
            outcome.failure = Some(format!("build failed: {}", first_line(&format!("{err:#}"))));
            eprintln!("{err:#}");
            return outcome;
        }
    };
    outcome.build = Some(t.elapsed());

    for round in 1..=args.repeat {
        eprintln!(
            "--- {}: booting {} CPUs under {}{}",
            cfg.name,
            cfg.cpus,
            cfg.target.qemu.binary,
            if args.repeat > 1 {
                format!(" ({round} of {})", args.repeat)
            } else {
                String::new()
            }
        );
        let t = Instant::now();
        let result = boot_and_check(cfg, &elf, args.verbose, &mut outcome.irqs);
        let took = t.elapsed();
        outcome.boot = Some(outcome.boot.map_or(took, |b| b.max(took)));
        outcome.boots += 1;
        match result {
            Ok(offsets) => outcome.offsets_checked = offsets,
            Err((reason, lines)) => {
                outcome.failed += 1;
                eprintln!(
                    "FAIL {} ({} CPUs), boot {round} of {}: {reason}",
                    cfg.name, cfg.cpus, args.repeat
                );
                show_log(&lines, args.verbose);
                outcome.failure.get_or_insert(reason);
            }
        }
    }
    outcome
}

/// One boot, judged, and the offsets compared; the reason and the serial
/// log if it failed.
fn boot_and_check(
    cfg: &Config,
    elf: &Path,
    verbose: bool,
    irqs: &mut Vec<u64>,
) -> Result<usize, (String, Vec<String>)> {
    let boot = boot_kernel(cfg, elf, verbose).map_err(|err| (format!("{err:#}"), Vec::new()))?;
    *irqs = storm_irqs(&boot.lines);
    if let Err(reason) = judge(cfg, &boot) {
        return Err((reason, boot.lines));
    }
    if cfg.expect_fail.is_some() {
        return Ok(0);
    }
    check_offsets(cfg, elf, &boot.lines).map_err(|err| (format!("inspect: {err:#}"), boot.lines))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Builds the kernel for `cfg` and copies it to `<target>/elf/<name>.elf`, so
/// that every configuration's kernel stays around after the run.
fn build_kernel(
    cfg: &Config,
    kernel_dir: &Path,
    target_dir: &Path,
    build: &crate::linkers::KernelBuild,
) -> Result<PathBuf> {
    let mut cmd = build.cargo_build(cfg.target);
    cmd.current_dir(kernel_dir)
        .arg("--release")
        .arg("--target-dir")
        .arg(target_dir);
    if !cfg.features.is_empty() {
        cmd.arg("--features").arg(cfg.features.join(","));
    }
    // The kernel's MAX_CPUS and the areas its linker script reserves.
    cmd.env("PERCPU_TEST_CPUS", cfg.cpus.to_string());
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
        .join(cfg.target.triple())
        .join("release")
        .join("percpu-test-kernel");
    let dir = target_dir.join("elf");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let elf = dir.join(format!("{}-{}cpus.elf", cfg.name, cfg.cpus));
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
    let qemu = &cfg.target.qemu;
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", &timeout_secs(cfg.cpus).to_string(), qemu.binary]);
    if let Some(machine) = cfg.machine(cfg.cpus) {
        cmd.args(["-machine", &machine]);
    }
    cmd.args(qemu.args)
        .args(cfg.qemu_args)
        .args(["-smp", &cfg.smp(), "-kernel"])
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

/// Seconds a boot of `cpus` CPUs may take.
fn timeout_secs(cpus: usize) -> u64 {
    BOOT_TIMEOUT_SECS + BOOT_TIMEOUT_PER_CPU_SECS * cpus as u64
}

/// Decides whether a boot passed; the reason if it did not.
fn judge(cfg: &Config, boot: &Boot) -> Result<(), String> {
    // `timeout` exits with 124 when it had to stop QEMU.
    match boot.code {
        Some(124) | Some(137) => {
            return Err(format!("timed out after {} s", timeout_secs(cfg.cpus)));
        }
        None => return Err("QEMU was killed by a signal".into()),
        _ => {}
    }
    let kernel_fail = boot.lines.iter().find(|l| l.starts_with("FAIL")).cloned();
    let status = boot
        .code
        .map_or_else(|| "none".to_owned(), |c| c.to_string());
    if let Some(expected) = cfg.expect_fail {
        // A negative test: the kernel must refuse, saying why.
        return match kernel_fail {
            Some(fail) if fail.contains(expected) && boot.code != Some(0) => Ok(()),
            Some(fail) => Err(format!(
                "expected a FAIL line naming {expected}, got `{fail}` (exit status {status})"
            )),
            None => Err(format!(
                "expected the boot to fail with {expected}; it did not (exit status {status})"
            )),
        };
    }
    if let Some(fail) = kernel_fail {
        return Err(format!("kernel printed `{fail}` (exit status {status})"));
    }
    if boot.code != Some(0) {
        return Err(format!(
            "QEMU exited with status {status} without a FAIL line"
        ));
    }
    // The kernel found as many CPUs on the platform as QEMU was given.
    let platform = format!("platform: {} CPU(s) from ", cfg.cpus);
    if !boot.lines.iter().any(|l| l.starts_with(&platform)) {
        return Err(format!("no `{platform}...` line"));
    }
    // Exactly one OK line per CPU, and no other CPU line.
    let mut ok = vec![0usize; cfg.cpus];
    for line in &boot.lines {
        let Some((id, rest)) = line.strip_prefix("CPU ").and_then(|l| l.split_once(": ")) else {
            continue;
        };
        let Ok(id) = id.parse::<usize>() else {
            continue;
        };
        if id >= cfg.cpus {
            return Err(format!("more than {} CPUs reported (CPU {id})", cfg.cpus));
        }
        if rest.starts_with("OK") {
            ok[id] += 1;
        }
    }
    if let Some(cpu) = ok.iter().position(|&n| n == 0) {
        return Err(format!("no `CPU {cpu}: OK` line"));
    }
    if let Some(cpu) = ok.iter().position(|&n| n > 1) {
        return Err(format!("`CPU {cpu}: OK` printed {} times", ok[cpu]));
    }
    if !boot.lines.iter().any(|l| l == "PASS") {
        return Err("exit status 0 but no `PASS` line".into());
    }
    if cfg.late_cpu() {
        judge_late(cfg, &boot.lines)?;
    }
    if cfg.storm() {
        judge_storm(cfg, &boot.lines)?;
    }
    Ok(())
}

/// With a CPU that joins late: one `EARLY CPU n: OK` line for each boot
/// CPU (the first round), and one `LATE CPU n: OK` line for the last CPU
/// (its copies and the counter sums across its registration); the second
/// round's `CPU n: OK` lines are checked like every configuration's.
fn judge_late(cfg: &Config, lines: &[String]) -> Result<(), String> {
    let late = cfg.cpus - 1;
    for cpu in 0..late {
        let prefix = format!("EARLY CPU {cpu}: OK");
        let n = lines.iter().filter(|l| l.starts_with(&prefix)).count();
        if n != 1 {
            return Err(format!("`{prefix}` printed {n} times, expected once"));
        }
    }
    let early_late = format!("EARLY CPU {late}:");
    if lines.iter().any(|l| l.starts_with(&early_late)) {
        return Err(format!(
            "CPU {late} ran the first round; it should join late"
        ));
    }
    let prefix = format!("LATE CPU {late}: OK");
    if !lines.iter().any(|l| l.starts_with(&prefix)) {
        return Err(format!("no `{prefix}` line"));
    }
    Ok(())
}

/// Interrupts each CPU of a storm configuration must take during its loop
/// (the kernel checks it too: `storm::MIN_IRQS`).
const STORM_MIN_IRQS: u64 = 1000;

/// The `irqs=` of every `STORM CPU n irqs=N loop=M` line, in CPU order.
fn storm_irqs(lines: &[String]) -> Vec<u64> {
    let mut found: Vec<(usize, u64)> = lines
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("STORM CPU ")?;
            let mut parts = rest.split_whitespace();
            let cpu = parts.next()?.parse().ok()?;
            let irqs = parts.next()?.strip_prefix("irqs=")?.parse().ok()?;
            Some((cpu, irqs))
        })
        .collect();
    found.sort_unstable();
    found.into_iter().map(|(_, irqs)| irqs).collect()
}

/// A storm passed only if every CPU reported, once, at least
/// [`STORM_MIN_IRQS`] interrupts.
fn judge_storm(cfg: &Config, lines: &[String]) -> Result<(), String> {
    let irqs = storm_irqs(lines);
    if irqs.len() != cfg.cpus {
        return Err(format!(
            "{} `STORM CPU` lines for {} CPUs",
            irqs.len(),
            cfg.cpus
        ));
    }
    if let Some((cpu, n)) = irqs.iter().enumerate().find(|(_, &n)| n < STORM_MIN_IRQS) {
        return Err(format!(
            "CPU {cpu} took {n} timer interrupts, at least {STORM_MIN_IRQS} needed"
        ));
    }
    Ok(())
}

/// The interrupt counts of a storm, for the summary: `min..max` per CPU.
fn irqs_cell(irqs: &[u64]) -> String {
    match (irqs.iter().min(), irqs.iter().max()) {
        (Some(min), Some(max)) => format!("{min}..{max}"),
        _ => "-".to_owned(),
    }
}

/// Most serial lines shown for a failed boot (a 64-CPU boot prints about
/// 100); beyond that, the last ones.
const LOG_LINES: usize = 400;

/// Shows a failed boot's serial log, unless `--verbose` already did.
fn show_log(lines: &[String], verbose: bool) {
    if verbose {
        return;
    }
    let start = lines.len().saturating_sub(LOG_LINES);
    eprintln!(
        "    serial log ({} of {} lines):",
        lines.len() - start,
        lines.len()
    );
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

/// Inspects `elf` with cargo-percpu's inspector and compares its offsets
/// with the ones the kernel printed. Returns how many variables were
/// compared.
fn check_offsets(cfg: &Config, elf: &Path, serial: &[String]) -> Result<usize> {
    let runtime = runtime_offsets(serial)?;
    if runtime.is_empty() {
        bail!("the kernel printed no OFFSET lines");
    }
    let naive = cfg.features.contains(&"sp-naive");
    // A placed kernel's script reserves the template only (inspect's
    // reservation check accepts it whatever the CPU count); with a 0.4-style
    // script, which cannot say so, one area is reserved: the template.
    let old_style = cfg.features.contains(&"legacy-script");
    // sp-naive has no areas; a placed 0.4-style script reserves one.
    let one_area = cfg.placed() && old_style;
    let reserved = !(naive || one_area);
    let opts = InspectOptions {
        cpus: reserved.then_some(cfg.cpus),
        ..InspectOptions::default()
    };
    let report = inspect_path(elf, &opts).with_context(|| format!("inspect {}", elf.display()))?;
    if naive {
        // sp-naive per-CPU statics are plain globals: `.percpu` must hold
        // none of them, and the kernel's "offsets" are their addresses.
        let count = report.variables.len();
        if count != 0 {
            bail!("sp-naive kernel, yet inspect found {count} variables in .percpu");
        }
        return Ok(0);
    }
    compare_offsets(&report, &runtime)?;
    if cfg.placed() && !old_style {
        compare_placed(
            &report,
            runtime_area_size(serial)?,
            cfg.features.contains(&"external-areas"),
        )?;
    }
    compare_dynamic(
        &report,
        runtime_dynamic(serial)?,
        // Sized by `init_with_dynamic` / `try_init_placed_with_dynamic`.
        cfg.features.contains(&"external-areas")
            || (cfg.placed() && cfg.features.contains(&"legacy-script")),
    )?;
    Ok(runtime.len())
}

/// A placed kernel's `AREA_SIZE 0x<hex>` line: the size of each area it
/// placed (`percpu_area_layout_placed`).
fn runtime_area_size(serial: &[String]) -> Result<u64> {
    let line = serial
        .iter()
        .find(|l| l.starts_with("AREA_SIZE "))
        .context("a placed kernel printed no AREA_SIZE line")?;
    line["AREA_SIZE ".len()..]
        .strip_prefix("0x")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .with_context(|| format!("malformed line `{line}`"))
}

/// A placed kernel's script, as inspect reads it: template only, and
/// (unless the kernel sized the dynamic region at run time) one area of
/// the size the kernel placed.
fn compare_placed(report: &Report, area_size: u64, sized_at_run_time: bool) -> Result<()> {
    let t = &report.template;
    if !t.placed {
        bail!(
            "the placed kernel's script is not template-only (inspect: {} areas reserved)",
            t.areas
        );
    }
    if !sized_at_run_time && t.stride != area_size {
        bail!(
            "placed areas: the kernel's are {area_size:#x} bytes, inspect says {:#x}",
            t.stride
        );
    }
    Ok(())
}

/// The kernel's `DYNAMIC 0x<start> 0x<size> ...` line: where its run-time
/// allocations live, from `percpu::percpu_dynamic_region()`.
fn runtime_dynamic(serial: &[String]) -> Result<Option<(u64, u64)>> {
    let Some(line) = serial.iter().find(|l| l.starts_with("DYNAMIC ")) else {
        return Ok(None);
    };
    let hex = |field: Option<&str>| {
        field
            .and_then(|f| f.strip_prefix("0x"))
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .with_context(|| format!("malformed line `{line}`"))
    };
    let mut parts = line.split_whitespace().skip(1);
    Ok(Some((hex(parts.next())?, hex(parts.next())?)))
}

/// The dynamic region the kernel uses is the one inspect reports: the same
/// start, and (where the linker script sized the areas, not `init_with_dynamic`
/// at run time) the same size.
fn compare_dynamic(
    report: &Report,
    runtime: Option<(u64, u64)>,
    sized_at_run_time: bool,
) -> Result<()> {
    let Some((start, size)) = runtime else {
        return Ok(());
    };
    let t = &report.template;
    if start != t.dynamic_start {
        bail!(
            "dynamic region: kernel starts it at {start:#x}, inspect at {:#x}",
            t.dynamic_start
        );
    }
    if !sized_at_run_time && size != t.dynamic_size {
        bail!(
            "dynamic region: kernel has {size:#x} bytes, inspect {:#x}",
            t.dynamic_size
        );
    }
    Ok(())
}

/// The comparison itself, separate so it can be unit-tested.
fn compare_offsets(report: &Report, runtime: &BTreeMap<String, u64>) -> Result<()> {
    // The report's names are demangled paths without the storage prefix;
    // the kernel prints the last segment.
    let tool: BTreeMap<&str, u64> = report
        .variables
        .iter()
        .map(|var| {
            (
                var.name.rsplit("::").next().unwrap_or(&var.name),
                var.offset,
            )
        })
        .collect();
    let mut mismatches = Vec::new();
    for (name, &rt) in runtime {
        match tool.get(name.as_str()) {
            Some(&t) if t == rt => {}
            Some(&t) => mismatches.push(format!("{name}: kernel {rt:#x}, inspect {t:#x}")),
            None => mismatches.push(format!("{name}: not reported by inspect")),
        }
    }
    for check in report.checks.iter().filter(|c| !c.passed) {
        mismatches.push(format!("check `{}` failed: {}", check.name, check.detail));
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
    let head = format!(
        "{:<22} {:>2} CPUs  build {:>6}  boot {:>6} ",
        o.name,
        o.cpus,
        secs(o.build),
        secs(o.boot)
    );
    let boots = if o.boots > 1 {
        format!(", {} of {} boots", o.boots - o.failed, o.boots)
    } else {
        String::new()
    };
    match (&o.not_applicable, &o.failure) {
        (Some(reason), _) => format!("{head} {reason}"),
        (None, Some(reason)) => format!("{head} FAIL{boots}: {reason}"),
        (None, None) if o.expect_fail => {
            format!("{head} PASS{boots} (refused as the negative test expects)")
        }
        (None, None) if o.offsets_checked == 0 => {
            format!("{head} PASS{boots} (sp-naive: inspect finds no per-CPU variable, as expected)")
        }
        (None, None) => format!(
            "{head} PASS{boots} ({} offsets match inspect)",
            o.offsets_checked
        ),
    }
}

fn print_summary(outcomes: &[Outcome], total: Duration, repeat: u32) {
    println!();
    println!(
        "{:<22} {:>4} {:>7} {:>7} {:>13}  result",
        "config", "cpus", "build", "boot", "irqs/CPU"
    );
    println!("{}", "-".repeat(70));
    for o in outcomes {
        let result = match (&o.not_applicable, o.failed()) {
            (Some(reason), _) => reason.clone(),
            (None, true) if repeat > 1 => format!("FAIL ({} of {} boots)", o.failed, o.boots),
            (None, true) => "FAIL".to_owned(),
            (None, false) if repeat > 1 => format!("PASS ({} boots)", o.boots),
            (None, false) => "PASS".to_owned(),
        };
        println!(
            "{:<22} {:>4} {:>7} {:>7} {:>13}  {result}",
            o.name,
            o.cpus,
            secs(o.build),
            secs(o.boot),
            irqs_cell(&o.irqs),
        );
    }
    let ran: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.not_applicable.is_none())
        .collect();
    let passed = ran.iter().filter(|o| !o.failed()).count();
    let boots: u32 = ran.iter().map(|o| o.boots).sum();
    let failed_boots: u32 = ran.iter().map(|o| o.failed).sum();
    println!("{}", "-".repeat(70));
    println!(
        "{passed}/{} passed, {} not applicable; {boots} boots, {failed_boots} failed; in {:.0}s",
        ran.len(),
        outcomes.len() - ran.len(),
        total.as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use cargo_percpu::report::{Check, FileReport, TemplateReport, Variable};

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    fn cfg(name: &str) -> Config {
        matrix().into_iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn matrix_names_are_unique_and_start_with_our_arch_names() {
        let matrix = matrix();
        let mut names: Vec<&str> = matrix.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), matrix.len());
        for c in &matrix {
            assert!(c.name.starts_with(c.target.name()), "{}", c.name);
        }
        assert!(names.contains(&"armv7") && names.contains(&"aarch64-el2"));
    }

    #[test]
    fn judge_requires_status_pass_and_every_cpu() {
        let ok =
            "platform: 4 CPU(s) from the DTB\nCPU 0: OK a\nCPU 1: OK\nCPU 2: OK\nCPU 3: OK\nPASS";
        let c = cfg("aarch64");
        let boot = |text: &str, code| Boot {
            lines: lines(text),
            code,
        };
        assert!(judge(&c, &boot(ok, Some(0))).is_ok());
        assert!(judge(&c, &boot(ok, Some(1))).is_err());
        assert!(judge(&c, &boot(ok, Some(124))).is_err());
        assert!(judge(&c, &boot(ok, None)).is_err());
        let missing_cpu = "platform: 4 CPU(s) from x\nCPU 0: OK\nCPU 1: OK\nCPU 3: OK\nPASS";
        assert!(judge(&c, &boot(missing_cpu, Some(0))).is_err());
        let no_pass = "CPU 0: OK\nCPU 1: OK\nCPU 2: OK\nCPU 3: OK";
        assert!(judge(&c, &boot(no_pass, Some(0))).is_err());
        let failed = format!("{ok}\nFAIL: counter");
        let reason = judge(&c, &boot(&failed, Some(0))).unwrap_err();
        assert!(reason.contains("FAIL: counter"), "{reason}");
        let twice = format!("{ok}\nCPU 2: OK");
        assert!(judge(&c, &boot(&twice, Some(0))).is_err());
        let no_platform = ok.replace("platform: 4", "platform: 8");
        assert!(judge(&c, &boot(&no_platform, Some(0))).is_err());
        let one = cfg("aarch64-sp-naive");
        let naive = "platform: 1 CPU(s) from x\nCPU 0: OK\nPASS";
        assert!(judge(&one, &boot(naive, Some(0))).is_ok());
        let extra = format!("{naive}\nCPU 1: OK");
        assert!(judge(&one, &boot(&extra, Some(0))).is_err());
    }

    #[test]
    fn placed_twins_and_the_negative_test() {
        let matrix = matrix();
        let contiguous: Vec<&Config> = matrix
            .iter()
            .filter(|c| !c.placed() && !c.storm())
            .collect();
        for c in &contiguous {
            let twin = cfg(&format!("{}-placed", c.name));
            assert!(c.features.iter().all(|f| twin.features.contains(f)));
            assert!(twin.placed() && twin.cpus == c.cpus && twin.expect_fail.is_none());
        }
        assert_eq!(contiguous.len(), 16);
        assert!(!matrix.iter().any(|c| c.placed() && c.storm()));
        assert!(cfg("x86_64-placed").late_cpu());
        assert!(!cfg("aarch64-sp-naive-placed").late_cpu());
        let same = cfg("riscv64-placed-same-area");
        let boot = |text: &str, code| Boot {
            lines: lines(text),
            code,
        };
        let refused = "FAIL: per-CPU init failed: AreasOverlap { cpu: 2, other: 0 }";
        assert!(judge(&same, &boot(refused, Some(1))).is_ok());
        assert!(judge(&same, &boot(refused, Some(124))).is_err());
        let other = "FAIL: per-CPU init failed: AreaTooSmall";
        assert!(judge(&same, &boot(other, Some(1))).is_err());
        let ok = "platform: 4 CPU(s) from x\nCPU 0: OK\nCPU 1: OK\nCPU 2: OK\nCPU 3: OK\nPASS";
        assert!(judge(&same, &boot(ok, Some(0))).is_err());
    }

    #[test]
    fn a_late_cpu_must_join_late_and_report() {
        let c = cfg("aarch64-placed");
        let boot = |text: &str| Boot {
            lines: lines(text),
            code: Some(0),
        };
        let early = "EARLY CPU 0: OK\nEARLY CPU 1: OK\nEARLY CPU 2: OK\n";
        let late = "LATE CPU 3: OK registered\n";
        let round = "platform: 4 CPU(s) from x\nCPU 0: OK\nCPU 1: OK\nCPU 2: OK\nCPU 3: OK\nPASS";
        assert!(judge(&c, &boot(&format!("{early}{late}{round}"))).is_ok());
        // No late line, a failed one, a missing or doubled first round, or
        // the late CPU in the first round.
        assert!(judge(&c, &boot(&format!("{early}{round}"))).is_err());
        let failed = "LATE CPU 3: FAIL registered\n";
        assert!(judge(&c, &boot(&format!("{early}{failed}{round}"))).is_err());
        let short = "EARLY CPU 0: OK\nEARLY CPU 2: OK\n";
        assert!(judge(&c, &boot(&format!("{short}{late}{round}"))).is_err());
        let twice = format!("{early}EARLY CPU 1: OK\n{late}{round}");
        assert!(judge(&c, &boot(&twice)).is_err());
        let joined = format!("{early}EARLY CPU 3: OK\n{late}{round}");
        assert!(judge(&c, &boot(&joined)).is_err());
    }

    fn planned(args: &Args) -> Vec<(String, usize, bool)> {
        plan(args)
            .into_iter()
            .map(|r| (r.cfg.name, r.cfg.cpus, r.not_applicable.is_none()))
            .collect()
    }

    #[test]
    fn the_plan_covers_every_count() {
        let all = planned(&Args::default());
        // Each default configuration at 4, 1, 8 and its machine's maximum.
        for (name, counts) in [
            ("x86_64", &[4, 1, 8, 64][..]),
            ("aarch64", &[4, 1, 8, 64]),
            ("armv7", &[4, 1, 8]),
            ("loongarch64", &[4, 1]),
        ] {
            let runs: Vec<usize> = all
                .iter()
                .filter(|r| r.0 == name && r.2)
                .map(|r| r.1)
                .collect();
            assert_eq!(runs, counts, "{name}");
        }
        // LoongArch's 8 is in the table, not run.
        assert!(all.contains(&("loongarch64".into(), 8, false)));
        assert!(all.contains(&("aarch64-el2".into(), 4, true)));
        assert!(!all.iter().any(|r| r.0 == "aarch64-el2" && r.1 != 4));
        let args = |cpus: &str| Args {
            cpus: Some(parse_counts(cpus).unwrap()),
            only: Some("aarch64-sp-naive".into()),
            ..Args::default()
        };
        let naive = planned(&args("all"));
        assert_eq!(naive.iter().filter(|r| r.2).count(), 1, "{naive:?}");
        let aarch64 = cfg("aarch64");
        assert_eq!(aarch64.machine(8).unwrap(), "virt");
        assert_eq!(aarch64.machine(9).unwrap(), "virt,gic-version=3");
        let el2 = cfg("aarch64-el2");
        assert_eq!(
            el2.machine(64).unwrap(),
            "virt,virtualization=on,gic-version=3"
        );
    }

    #[test]
    fn storms_need_every_cpu_and_enough_interrupts() {
        let c = cfg("aarch64-storm");
        assert!(c.storm() && c.qemu_args.contains(&"-singlestep"));
        let good = lines("STORM CPU 1 irqs=1200 loop=9\nSTORM CPU 0 irqs=1300 loop=9\nSTORM CPU 2 irqs=1000 loop=1\nSTORM CPU 3 irqs=5000 loop=1");
        assert_eq!(storm_irqs(&good), [1300, 1200, 1000, 5000]);
        assert!(judge_storm(&c, &good).is_ok());
        assert_eq!(irqs_cell(&storm_irqs(&good)), "1000..5000");
        let few = lines("STORM CPU 0 irqs=1300 loop=9\nSTORM CPU 1 irqs=999 loop=9\nSTORM CPU 2 irqs=1000 loop=1\nSTORM CPU 3 irqs=5000 loop=1");
        assert!(judge_storm(&c, &few)
            .unwrap_err()
            .contains("CPU 1 took 999"));
        let missing = lines("STORM CPU 0 irqs=1300 loop=9");
        assert!(judge_storm(&c, &missing).is_err());
        assert!(!cfg("aarch64").storm());
    }

    #[test]
    fn cpu_counts_parse() {
        assert_eq!(parse_counts("all").unwrap().0, ALL_COUNTS);
        assert_eq!(parse_counts("1,max").unwrap().0, [Count::N(1), Count::Max]);
        assert!(parse_counts("0").is_err());
        assert!(parse_counts("four").is_err());
        assert!(parse_counts("1,,2").is_err());
    }

    fn report(variables: &[(&str, u64)], checks: &[(&str, bool)]) -> Report {
        Report {
            schema_version: cargo_percpu::report::SCHEMA_VERSION,
            document: cargo_percpu::report::DOCUMENT.into(),
            file: FileReport {
                path: "k".into(),
                class: "ELF64".into(),
                endian: "little".into(),
                machine: "aarch64".into(),
                kind: "executable".into(),
                entry: 0,
                debug_info: false,
            },
            section: None,
            template: TemplateReport {
                start: 0,
                end: 0,
                size: 0,
                align: 64,
                stride: 64,
                areas: 0,
                dynamic_start: 0,
                dynamic_size: 0,
                placed: false,
            },
            variables: variables
                .iter()
                .map(|&(name, offset)| Variable {
                    name: name.into(),
                    symbol: name.into(),
                    offset,
                    size: 1,
                    align: 1,
                    align_inferred: true,
                    type_name: None,
                    bookkeeping: false,
                })
                .collect(),
            checks: checks
                .iter()
                .map(|&(name, passed)| Check {
                    name: name.into(),
                    passed,
                    detail: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn offsets_are_parsed_and_compared() {
        let serial = lines("CPU 0: OK\nOFFSET BIG 0x0\nOFFSET U8 0x11040\nPASS");
        let rt = runtime_offsets(&serial).unwrap();
        assert_eq!(rt.len(), 2);
        assert_eq!(rt["U8"], 0x11040);
        let good = [
            ("percpu_test_kernel::BIG", 0),
            ("percpu_test_kernel::vars::U8", 0x11040),
        ];
        compare_offsets(&report(&good, &[("x", true)]), &rt).unwrap();
        let wrong = [("k::BIG", 0), ("k::U8", 0x11041)];
        assert!(compare_offsets(&report(&wrong, &[]), &rt).is_err());
        assert!(compare_offsets(&report(&[("k::BIG", 0)], &[]), &rt).is_err());
        assert!(compare_offsets(&report(&good, &[("stride", false)]), &rt).is_err());
    }

    #[test]
    fn the_dynamic_region_is_parsed_and_compared() {
        let serial = lines("DYNAMIC 0x11090 0x1030 counter=1 ticks=1\nPASS");
        let rt = runtime_dynamic(&serial).unwrap();
        assert_eq!(rt, Some((0x11090, 0x1030)));
        let mut r = report(&[("k::BIG", 0)], &[]);
        r.template.dynamic_start = 0x11090;
        r.template.dynamic_size = 0x1030;
        compare_dynamic(&r, rt, false).unwrap();
        compare_dynamic(&r, None, false).unwrap();
        r.template.dynamic_size = 0x1000;
        assert!(compare_dynamic(&r, rt, false).is_err());
        compare_dynamic(&r, rt, true).unwrap();
        r.template.dynamic_start = 0x110a0;
        assert!(compare_dynamic(&r, rt, true).is_err());
        assert!(runtime_dynamic(&lines("DYNAMIC zz")).is_err());
        assert!(runtime_offsets(&lines("OFFSET X zz")).is_err());
        assert!(runtime_offsets(&lines("OFFSET X 0x1\nOFFSET X 0x2")).is_err());
    }

    #[test]
    fn a_placed_script_is_template_only_with_the_kernels_area_size() {
        let serial = lines("AREA_SIZE 0x150c0\nPASS");
        let size = runtime_area_size(&serial).unwrap();
        assert_eq!(size, 0x150c0);
        assert!(runtime_area_size(&lines("PASS")).is_err());
        assert!(runtime_area_size(&lines("AREA_SIZE 12")).is_err());
        let mut r = report(&[("k::BIG", 0)], &[]);
        r.template.stride = 0x150c0;
        assert!(
            compare_placed(&r, size, false).is_err(),
            "not template-only"
        );
        r.template.placed = true;
        compare_placed(&r, size, false).unwrap();
        assert!(compare_placed(&r, size + 64, false).is_err());
        compare_placed(&r, size + 64, true).unwrap();
    }

    #[test]
    fn matrix_features_exist_in_the_kernel() {
        let manifest = std::fs::read_to_string(
            toolchain::workspace_root().join("xtask/test-kernel/Cargo.toml"),
        )
        .unwrap();
        let features = &manifest[manifest.find("[features]").unwrap()..];
        for cfg in matrix() {
            for feature in &cfg.features {
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
        assert!(config_name("armv7").is_ok());
        assert!(config_name("riscv64-wide-areas").is_ok());
        assert!(config_name("m68k").is_err());
    }
}
