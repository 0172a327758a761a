//! The command line: `cargo percpu ldscript …`, `cargo percpu inspect …`
//! and `cargo percpu diff …`.
//!
//! [`run`] is the whole program minus the process: tests drive it with
//! in-memory output. Exit status: [`EXIT_OK`] when all is well,
//! [`EXIT_CHECK_FAILED`] when a check fails or a budget is broken,
//! [`EXIT_ERROR`] for a usage error or a file that can't be read, and cargo's
//! own status when the build that `inspect --bin` runs fails.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cargo_build::{self, ArtifactKind, BuildError, BuildRequest};
use crate::cargo_config::{self, TargetSource};
use crate::diff::{self, Budgets};
use crate::json;
use crate::ldscript::{self, Arch, Kind, Options, DEFAULT_ALIGN};
use crate::report::{self, InspectOptions};
use crate::style;

/// Exit status: everything passed.
pub const EXIT_OK: u8 = 0;
/// Exit status: an inspected file failed a check, or a budget is broken.
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit status: bad arguments, or a file that is not a usable ELF.
pub const EXIT_ERROR: u8 = 2;

const EXIT_CODES: &str = "\
Exit status: 0 every check passes and every budget holds; 1 a check fails or a
budget is broken; 2 bad arguments or a file that is not a usable ELF; when
`inspect --bin` builds and cargo fails, cargo's own exit status.";

const LDSCRIPT_EXAMPLE: &str = "\
Example: the whole script of an 8-CPU kernel, for the target that
.cargo/config.toml names (or --target), written where build.rs finds it:

  $ cargo percpu ldscript --cpus 8 --full -o kernel.ld
  $ head -1 kernel.ld
  /* cargo percpu: rendered for riscv64, target riscv64gc-unknown-none-elf, from build.target in .cargo/config.toml. */";

const INSPECT_EXAMPLE: &str = "\
Examples:

  # Build the package's binary (release, for the configured target) and inspect it:
  $ cargo percpu inspect --bin kernel --release --cpus 4
  file       target/riscv64gc-unknown-none-elf/release/kernel
             ELF64 little-endian riscv64 executable, entry 0x80200000, DWARF
  ...
  variables (2)
        offset      size  align   name: type
           0x0         8      8   kernel::CPU_ID: usize
           0x8        64      8   kernel::irq::STATS: kernel::irq::Stats
  ...
  result: every check passed

  # An ELF file you already have, as JSON, failing (exit 1) if an area exceeds 64 KiB:
  $ cargo percpu inspect target/x86_64-unknown-none/release/kernel --format json --max-area-size 64K";

const DIFF_EXAMPLE: &str = "\
Example: what a change did to the per-CPU data, failing the CI job when the
template grew by more than 256 bytes since the last release:

  $ cargo percpu diff last-release.json target/x86_64-unknown-none/release/kernel --max-growth 256
  ...
  added (1)
    +    0x11098         4  kernel::vars::RX_QUEUE: u32
  ...
  result: budget broken: max-growth

OLD and NEW are ELF files, or reports that `inspect --format json` printed.";

/// Render per-CPU linker scripts, inspect ELF files, and compare two builds.
#[derive(Debug, Parser)]
#[command(name = "cargo-percpu", bin_name = "cargo percpu", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the `.percpu` linker-script fragment, or a whole script.
    #[command(after_help = LDSCRIPT_EXAMPLE)]
    Ldscript(LdscriptArgs),
    /// Show the `.percpu` layout of an ELF file (or of a binary it builds) and check it.
    #[command(after_help = INSPECT_EXAMPLE)]
    Inspect(InspectArgs),
    /// Compare the `.percpu` layouts of two builds, with budgets for CI.
    #[command(after_help = DIFF_EXAMPLE)]
    Diff(DiffArgs),
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
    /// The architecture; default: that of the target.
    #[arg(long, value_name = "ARCH", conflicts_with = "target", help = arch_help())]
    pub arch: Option<String>,
    /// The target triple, such as aarch64-unknown-none; default: cargo's build.target, else the host.
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
    /// Reserve the template only, no areas: the platform places each CPU's
    /// area itself (`percpu::try_init_placed`); --cpus then only sets CPU_NUM.
    #[arg(long)]
    pub placed: bool,
    /// Write to FILE instead of printing.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// How a report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for people, in colour on a terminal.
    Human,
    /// One JSON document (docs/inspect-json.md).
    Json,
}

/// The output flags every report takes.
#[derive(Clone, Debug, Args)]
pub struct OutputArgs {
    /// The output format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// The same as --format json.
    #[arg(long, conflicts_with_all = ["format", "message_format"])]
    pub json: bool,
    /// The same as --format, for cargo habits: human or json (json-* counts as json).
    #[arg(long, value_name = "FORMAT", value_parser = parse_message_format, conflicts_with = "format")]
    pub message_format: Option<Format>,
}

impl OutputArgs {
    /// The format asked for; human by default.
    pub fn format(&self) -> Format {
        if self.json {
            return Format::Json;
        }
        self.format.or(self.message_format).unwrap_or(Format::Human)
    }
}

/// What the layout was rendered with.
#[derive(Clone, Debug, Args)]
pub struct LayoutArgs {
    /// Also check that the reservation holds at least N areas.
    #[arg(long, value_name = "N")]
    pub cpus: Option<u64>,
    /// The area alignment the script was rendered with.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ALIGN, value_parser = parse_number)]
    pub align: u64,
}

impl LayoutArgs {
    /// The inspection options, validated.
    pub fn options(&self) -> anyhow::Result<InspectOptions> {
        let cpus = match self.cpus {
            None => None,
            Some(0) => bail!("the CPU count must be at least 1"),
            Some(n) => Some(usize::try_from(n).context("the CPU count does not fit usize")?),
        };
        Ok(InspectOptions {
            cpus,
            align: self.align,
        })
    }
}

/// The budgets of a CI job.
#[derive(Clone, Debug, Args)]
pub struct BudgetArgs {
    /// Fail (exit 1) when one CPU's area (the stride) is larger than SIZE bytes (suffixes K, M, G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_area_size: Option<u64>,
    /// Fail (exit 1) when the template grew by more than BYTES from OLD to NEW.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_growth: Option<u64>,
}

impl BudgetArgs {
    /// The budgets.
    pub fn budgets(&self) -> Budgets {
        Budgets {
            max_area_size: self.max_area_size,
            max_growth: self.max_growth,
        }
    }
}

/// How `inspect --bin` builds, as `cargo build` takes it.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build for this target; default: cargo's build.target, else the host.
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Build with the release profile.
    #[arg(long, conflicts_with = "profile")]
    pub release: bool,
    /// Build with this profile.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The package to build.
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub package: Option<String>,
    /// Features to enable (comma- or space-separated; repeatable).
    #[arg(short = 'F', long, value_name = "FEATURES", value_delimiter = ',')]
    pub features: Vec<String>,
    /// Enable every feature.
    #[arg(long)]
    pub all_features: bool,
    /// Do not enable the default feature.
    #[arg(long)]
    pub no_default_features: bool,
    /// The package's Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
}

impl BuildArgs {
    fn any(&self) -> bool {
        self.target.is_some()
            || self.release
            || self.profile.is_some()
            || self.package.is_some()
            || !self.features.is_empty()
            || self.all_features
            || self.no_default_features
            || self.manifest_path.is_some()
    }
}

/// The arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ELF file: an executable, a shared object or a relocatable object.
    /// Without it, `inspect` builds the package's binary (see --bin).
    #[arg(conflicts_with_all = ["bin", "example", "diff"])]
    pub file: Option<PathBuf>,
    /// Build this binary with cargo and inspect it.
    #[arg(long, value_name = "NAME", conflicts_with = "example")]
    pub bin: Option<String>,
    /// Build this example with cargo and inspect it.
    #[arg(long, value_name = "NAME")]
    pub example: Option<String>,
    /// Compare two builds instead, as `cargo percpu diff OLD NEW` does.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], conflicts_with_all = ["bin", "example"])]
    pub diff: Option<Vec<PathBuf>>,
    /// How to build.
    #[command(flatten)]
    pub build: BuildArgs,
    /// How to print.
    #[command(flatten)]
    pub output: OutputArgs,
    /// What the layout was rendered with.
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Budgets.
    #[command(flatten)]
    pub budgets: BudgetArgs,
    /// Arguments for `cargo build`, after `--`.
    #[arg(last = true, value_name = "CARGO_ARGS")]
    pub cargo_args: Vec<OsString>,
}

impl InspectArgs {
    /// `inspect --diff OLD NEW …`, the one alias of `diff OLD NEW …`: the
    /// `diff` it stands for, `None` without `--diff`.
    fn as_diff(&self) -> anyhow::Result<Option<DiffArgs>> {
        let Some(paths) = &self.diff else {
            return Ok(None);
        };
        if self.build.any() || !self.cargo_args.is_empty() {
            bail!("--diff compares two files: it takes no build option");
        }
        let [old, new] = paths.as_slice() else {
            bail!("--diff takes two files, OLD and NEW");
        };
        Ok(Some(DiffArgs {
            old: old.clone(),
            new: new.clone(),
            output: self.output.clone(),
            layout: self.layout.clone(),
            budgets: self.budgets.clone(),
        }))
    }
}

/// The arguments of `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier build: an ELF file or an `inspect --format json` report.
    pub old: PathBuf,
    /// The later build: an ELF file or an `inspect --format json` report.
    pub new: PathBuf,
    /// How to print.
    #[command(flatten)]
    pub output: OutputArgs,
    /// What the layouts were rendered with.
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Budgets.
    #[command(flatten)]
    pub budgets: BudgetArgs,
}

fn parse_message_format(text: &str) -> Result<Format, String> {
    match text {
        "human" | "short" => Ok(Format::Human),
        _ if text == "json" || text.starts_with("json-") => Ok(Format::Json),
        _ => Err(format!("`{text}` is neither human nor json")),
    }
}

/// Parses a size: a number as [`parse_number`] reads it, optionally followed
/// by `K`, `M` or `G` (binary: 1024, with or without `iB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let (digits, shift) = [
        ("kib", 10),
        ("mib", 20),
        ("gib", 30),
        ("k", 10),
        ("m", 20),
        ("g", 30),
    ]
    .iter()
    .find_map(|(suffix, shift)| {
        // `0x1k` is not hex for 0x1b: only decimal takes a suffix.
        lower
            .strip_suffix(suffix)
            .filter(|rest| !rest.starts_with("0x"))
            .map(|rest| (rest, *shift))
    })
    .unwrap_or((lower.as_str(), 0));
    let value = parse_number(digits).map_err(|_| format!("`{text}` is not a size"))?;
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` does not fit 64 bits"))
}

/// `--arch`'s help, with every architecture's name.
fn arch_help() -> String {
    format!(
        "The architecture ({}, or rustc's target_arch such as arm); default: that of the target",
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

/// The options of an `ldscript` invocation, validated, and what the script
/// is rendered for (the header's words).
pub fn ldscript_options(args: &LdscriptArgs) -> anyhow::Result<(Kind, Options, String)> {
    let (arch, rendered_for) = match &args.arch {
        Some(name) => (
            // Our names and rustc's target_arch (`arm`); the output says ours.
            Arch::parse(name).map_err(|err| anyhow::anyhow!("--arch {name}: {err}"))?,
            "from --arch".to_string(),
        ),
        None => {
            let target = build_target(args.target.as_deref())?;
            let arch = target.arch().with_context(|| match &target.triple {
                Some(triple) => format!("unknown or unsupported target `{triple}` ({target})"),
                None => format!("no linker script for {target}: pass --target or --arch"),
            })?;
            (arch, target.to_string())
        }
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
        placed: args.placed,
    };
    Ok((kind, opts, rendered_for))
}

/// The first line of a script `ldscript` prints: what it was rendered for.
pub fn script_header(arch: Arch, rendered_for: &str) -> String {
    // Nothing in the line may end the comment early.
    let what = rendered_for.replace("*/", "* /").replace('\n', " ");
    format!("/* cargo percpu: rendered for {arch}, {what}. */")
}

/// The target cargo would build for here (see [`cargo_config`]).
fn build_target(explicit: Option<&str>) -> anyhow::Result<cargo_config::BuildTarget> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let env = |name: &str| std::env::var(name).ok();
    cargo_config::build_target(explicit, &cwd, &env).map_err(anyhow::Error::msg)
}

/// `cargo percpu ldscript`: renders and prints (or writes) the script.
pub fn run_ldscript(args: &LdscriptArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (kind, opts, rendered_for) = ldscript_options(args)?;
    let script = format!(
        "{}\n{}",
        script_header(opts.arch, &rendered_for),
        ldscript::render(kind, &opts)?
    );
    match &args.output {
        Some(path) => std::fs::write(path, script)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out.write_all(script.as_bytes())?,
    }
    Ok(())
}

/// Prints a report or a diff in `format`.
fn emit<T: serde::Serialize>(
    out: &mut dyn Write,
    format: Format,
    colour: bool,
    document: &T,
    styled: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", json::to_json(document))?,
        Format::Human => out.write_all(style::finish(&styled(document), colour).as_bytes())?,
    }
    Ok(())
}

/// `cargo percpu inspect`: builds when asked to, prints the report;
/// `Ok(true)` when every check passed and every budget holds, `Err` when the
/// file can't be read or isn't a usable ELF, or the build fails.
pub fn run_inspect(args: &InspectArgs, out: &mut dyn Write, colour: bool) -> anyhow::Result<bool> {
    let opts = args.layout.options()?;
    if let Some(diff) = args.as_diff()? {
        return run_diff(&diff, out, colour);
    }
    if args.budgets.max_growth.is_some() {
        bail!("--max-growth compares two builds: use --diff OLD NEW (or cargo percpu diff)");
    }
    let path = match &args.file {
        Some(file) => {
            if args.build.any() || !args.cargo_args.is_empty() {
                bail!("build options (--target, --release, …) need --bin or --example, not a file");
            }
            file.clone()
        }
        None => build_artifact(args)?,
    };
    let mut report = report::inspect_path(&path, &opts)?;
    if let Some(max) = args.budgets.max_area_size {
        report.checks.push(diff::area_size_budget(&report, max));
    }
    emit(
        out,
        args.output.format(),
        colour,
        &report,
        report::render_styled,
    )?;
    Ok(report.passed())
}

/// Builds the binary or example that `inspect` names, for the target cargo
/// would pick here.
fn build_artifact(args: &InspectArgs) -> anyhow::Result<PathBuf> {
    let b = &args.build;
    let target = build_target(b.target.as_deref())?;
    let (kind, name) = match (&args.bin, &args.example) {
        (_, Some(example)) => (ArtifactKind::Example, Some(example.clone())),
        (bin, None) => (ArtifactKind::Bin, bin.clone()),
    };
    let req = BuildRequest {
        kind,
        name,
        target: match target.source {
            TargetSource::Host => None,
            _ => target.triple,
        },
        release: b.release,
        profile: b.profile.clone(),
        package: b.package.clone(),
        features: b.features.clone(),
        all_features: b.all_features,
        no_default_features: b.no_default_features,
        manifest_path: b.manifest_path.clone(),
        extra: args.cargo_args.clone(),
    };
    Ok(cargo_build::build(&req)?)
}

/// `cargo percpu diff` (and `inspect --diff`): `Ok(true)` when every budget
/// holds and NEW passes every check.
pub fn run_diff(args: &DiffArgs, out: &mut dyn Write, colour: bool) -> anyhow::Result<bool> {
    let opts = args.layout.options()?;
    let old = diff::load(&args.old, &opts)?;
    let new = diff::load(&args.new, &opts)?;
    let result = diff::diff(&old, &new, &args.budgets.budgets());
    emit(
        out,
        args.output.format(),
        colour,
        &result,
        diff::render_styled,
    )?;
    Ok(result.passed())
}

/// Runs the program on `args` (including the program name) without colour
/// and returns the exit status; see [`run_with_colour`].
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    run_with_colour(args, out, err, false)
}

/// Runs the program on `args` (including the program name) and returns the
/// exit status; text reports are in colour when `colour`. Accepts the extra
/// `percpu` argument that cargo passes to a `cargo-percpu` subcommand.
pub fn run_with_colour<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write, colour: bool) -> u8
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
        Command::Inspect(args) => run_inspect(args, out, colour),
        Command::Diff(args) => run_diff(args, out, colour),
    };
    let _ = out.flush();
    match result {
        Ok(true) => EXIT_OK,
        Ok(false) => EXIT_CHECK_FAILED,
        Err(e) => {
            // One line, whatever the cause chain.
            let _ = writeln!(err, "error: {}", format!("{e:#}").replace('\n', " "));
            match e.downcast_ref::<BuildError>() {
                // Cargo's own status, as far as a u8 carries it.
                Some(BuildError::Cargo(code)) => u8::try_from(*code)
                    .ok()
                    .filter(|c| *c != 0)
                    .unwrap_or(EXIT_ERROR),
                _ => EXIT_ERROR,
            }
        }
    }
}
