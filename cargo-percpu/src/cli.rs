//! The command line: `cargo percpu ldscript …` and `cargo percpu inspect …`.
//!
//! [`run`] is the whole program minus the process: tests drive it with
//! in-memory output. Exit status: 0 when all is well, 1 when an inspected
//! file fails a check, 2 for a usage error or a file that can't be read.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};

use crate::json;
use crate::ldscript::{self, Arch, Kind, Options, DEFAULT_ALIGN};
use crate::report::{self, InspectOptions};

/// Exit status: everything passed.
pub const EXIT_OK: u8 = 0;
/// Exit status: an inspected file failed a check.
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit status: bad arguments, or a file that is not a usable ELF.
pub const EXIT_ERROR: u8 = 2;

/// Render per-CPU linker scripts and inspect ELF files.
#[derive(Debug, Parser)]
#[command(name = "cargo-percpu", bin_name = "cargo percpu", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the `.percpu` linker-script fragment, or a whole script.
    Ldscript(LdscriptArgs),
    /// Show the `.percpu` layout of an ELF file and check it.
    Inspect(InspectArgs),
}

/// The arguments of `ldscript`.
#[derive(Debug, Args)]
pub struct LdscriptArgs {
    /// How many per-CPU areas to reserve.
    #[arg(long, value_name = "N")]
    pub cpus: u64,
    /// Area alignment: the stride is the template rounded up to it (a power of two ≥ 64).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ALIGN, value_parser = parse_number)]
    pub align: u64,
    /// The architecture; default x86_64.
    #[arg(long, value_name = "ARCH", conflicts_with = "target", help = arch_help())]
    pub arch: Option<String>,
    /// Pick the architecture from a target triple, such as aarch64-unknown-none.
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Print a complete linker script for a minimal kernel.
    #[arg(long, conflicts_with = "linux_user")]
    pub full: bool,
    /// Print the script a Linux user-space program links with (INSERT AFTER .bss).
    #[arg(long)]
    pub linux_user: bool,
    /// The load address of a full script (default: where QEMU loads the kernel).
    #[arg(long, value_name = "ADDR", value_parser = parse_number, requires = "full")]
    pub base: Option<u64>,
    /// Render the `non-zero-vma` variant: .percpu at ADDR (default: where the script reaches it).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "0", value_parser = parse_number)]
    pub non_zero_vma: Option<u64>,
    /// Reserve SIZE bytes of dynamic region (run-time `PerCpuBox`es and
    /// counters) in every area, after the template.
    #[arg(long, value_name = "SIZE", default_value = "0", value_parser = parse_number)]
    pub dynamic: u64,
    /// Write to FILE instead of printing.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ELF file: an executable, a shared object or a relocatable object.
    pub file: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also check that the reservation holds at least N areas.
    #[arg(long, value_name = "N")]
    pub cpus: Option<u64>,
    /// The area alignment the script was rendered with.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ALIGN, value_parser = parse_number)]
    pub align: u64,
}

/// `--arch`'s help, with every architecture's name.
fn arch_help() -> String {
    format!(
        "The architecture ({}); default x86_64",
        Arch::ALL.map(Arch::name).join(", ")
    )
}

/// Parses `0x…`, `0o…`, `0b…` or decimal, with `_` separators.
pub fn parse_number(text: &str) -> Result<u64, String> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let (digits, radix) = if let Some(hex) = lower.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(oct) = lower.strip_prefix("0o") {
        (oct, 8)
    } else if let Some(bin) = lower.strip_prefix("0b") {
        (bin, 2)
    } else {
        (lower.as_str(), 10)
    };
    u64::from_str_radix(digits, radix).map_err(|err| format!("`{text}` is not a number: {err}"))
}

/// The options of an `ldscript` invocation, validated.
pub fn ldscript_options(args: &LdscriptArgs) -> anyhow::Result<(Kind, Options)> {
    let arch = match (&args.arch, &args.target) {
        (Some(name), _) => Arch::from_name(name).with_context(|| {
            format!(
                "unknown architecture `{name}` (expected one of {})",
                Arch::ALL.map(Arch::name).join(", ")
            )
        })?,
        (None, Some(triple)) => Arch::from_target(triple)
            .with_context(|| format!("unknown or unsupported target `{triple}`"))?,
        (None, None) => Arch::X86_64,
    };
    let Ok(cpus) = usize::try_from(args.cpus) else {
        bail!("{} CPUs do not fit this host's usize", args.cpus);
    };
    let kind = if args.full {
        Kind::Full
    } else if args.linux_user {
        Kind::LinuxUser
    } else {
        Kind::Fragment
    };
    let opts = Options {
        arch,
        cpus,
        align: args.align,
        base: args.base,
        non_zero_vma: args.non_zero_vma,
        dynamic: args.dynamic,
    };
    Ok((kind, opts))
}

/// `cargo percpu ldscript`: renders and prints (or writes) the script.
pub fn run_ldscript(args: &LdscriptArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (kind, opts) = ldscript_options(args)?;
    let script = ldscript::render(kind, &opts)?;
    match &args.output {
        Some(path) => std::fs::write(path, script)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out.write_all(script.as_bytes())?,
    }
    Ok(())
}

/// `cargo percpu inspect`: prints the report; `Ok(true)` when every check
/// passed, `Err` when the file can't be read or isn't a usable ELF.
pub fn run_inspect(args: &InspectArgs, out: &mut dyn Write) -> anyhow::Result<bool> {
    let cpus = match args.cpus {
        None => None,
        Some(0) => bail!("the CPU count must be at least 1"),
        Some(n) => Some(usize::try_from(n).context("the CPU count does not fit usize")?),
    };
    let opts = InspectOptions {
        cpus,
        align: args.align,
    };
    let report = report::inspect_path(&args.file, &opts)?;
    if args.json {
        writeln!(out, "{}", json::to_json(&report))?;
    } else {
        out.write_all(report::render_text(&report).as_bytes())?;
    }
    Ok(report.passed())
}

/// Runs the program on `args` (including the program name) and returns the
/// exit status. Accepts the extra `percpu` argument that cargo passes to a
/// `cargo-percpu` subcommand.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if args.get(1).is_some_and(|arg| arg == "percpu") {
        args.remove(1);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            return if e.use_stderr() {
                let _ = err.write_all(text.as_bytes());
                EXIT_ERROR
            } else {
                let _ = out.write_all(text.as_bytes());
                EXIT_OK
            };
        }
    };
    let result = match &cli.command {
        Command::Ldscript(args) => run_ldscript(args, out).map(|()| true),
        Command::Inspect(args) => run_inspect(args, out),
    };
    let _ = out.flush();
    match result {
        Ok(true) => EXIT_OK,
        Ok(false) => EXIT_CHECK_FAILED,
        Err(e) => {
            // One line, whatever the cause chain.
            let _ = writeln!(err, "error: {}", format!("{e:#}").replace('\n', " "));
            EXIT_ERROR
        }
    }
}
