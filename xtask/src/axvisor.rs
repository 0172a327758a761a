//! `cargo xtask axvisor-boot`: a real hypervisor at EL2 on our 0.2-line
//! package. Opt-in, never part of `ci`: the hypervisor's source comes from a
//! checkout the user provides (CI cannot fetch repositories).
//!
//! The checkout is arceos-hypervisor/axvisor on its `pre5` line (commit
//! 589ebf6, or 6c325764 whose one change, `autobins = false`, this command
//! undoes in its copy). It pins `percpu = "=0.2.0"` with `arm-el2`, and
//! nine crates of its graph use `percpu`. The command
//!
//! 1. copies the checkout (its tracked files stay as they are) and switches
//!    the copy to our package by one of the two recipes of
//!    docs/real-consumers.md ([`Recipe`]); `--percpu published` keeps 0.2.0;
//! 2. builds it with the checkout's own toolchain, as its
//!    `cargo xtask qemu --build-config configs/board/qemu-aarch64.toml` does;
//! 3. boots it guest-less on `qemu-system-aarch64 -machine
//!    virt,virtualization=on,gic-version=3 -smp 4` and reads the serial log
//!    ([`check_log`]): the loader at EL2, every secondary CPU up,
//!    virtualization enabled on each core by that core (the CPU id in each
//!    log line is read from per-CPU data), then the shell prompt.
//!
//! `--broken` runs the same against a scratch copy of our crates with a
//! deliberate fault ([`Break`]); the boot must then fail.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::toolchain::{self, target_root, workspace_root};

/// The hypervisor's target, as its board file for QEMU names it.
const TARGET: &str = "aarch64-unknown-none-softfloat";

/// The board file whose features the build uses.
const BOARD: &str = "configs/board/qemu-aarch64.toml";

/// CPUs QEMU starts.
const CPUS: usize = 4;

/// What the shell prints when it waits for a command (no newline).
const PROMPT: &str = "axvisor:$ ";

/// A bad command line or checkout: exit status 2 (see `main`).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Which `percpu` the hypervisor is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Our 0.2-line package, patched in by `--recipe`.
    Ours,
    /// The checkout as it is: crates.io's percpu 0.2.0 (the "before").
    Published,
}

/// How a consumer that pins `percpu = "=0.2.0"` switches to our package.
/// Both add a `[patch.crates-io]` entry: the crates of its graph that ask
/// for `0.2` or `0.2.0` must get the same package, one runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Recipe {
    /// Rewrite the one manifest line that pins the version to pin ours
    /// (`=0.2.0` becomes `=0.2.99`), and patch crates.io's `percpu` with
    /// our package.
    ManifestLine,
    /// Leave the consumer's dependencies alone; patch crates.io's `percpu`
    /// with our package at the version it pins (a staged copy whose
    /// `version` is the pinned one: cargo takes a patch only if its version
    /// satisfies the requirement).
    PatchPinned,
}

/// A deliberate fault in a scratch copy of our crates, for `--broken`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Break {
    /// `init_percpu_reg` points every CPU's register at area 0: all CPUs
    /// share one area, so each reads the CPU id the last one stored.
    OneArea,
    /// The per-CPU register write goes to `TPIDR_EL1` while every read is
    /// from `TPIDR_EL2` (`arm-el2`): the base is never set.
    El1,
}

impl Break {
    /// The file of our workspace, the text there and what replaces it.
    fn edit(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Break::OneArea => (
                "percpu/src/area.rs",
                "let base = percpu_area_base(cpu_id);",
                "let base = percpu_area_base(0);",
            ),
            Break::El1 => (
                "percpu/src/arch/aarch64.rs",
                "asm!(concat!(\"msr \", tpidr!(), \", {}\")",
                "asm!(\"msr TPIDR_EL1, {}\"",
            ),
        }
    }
}

/// `cargo xtask axvisor-boot`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The axvisor checkout (pre5 line: 589ebf6 or 6c325764). Only read:
    /// the build works on a copy under the target directory.
    #[arg(long, value_name = "PATH")]
    pub checkout: PathBuf,
    /// Which percpu to build with.
    #[arg(long, value_enum, default_value = "ours")]
    pub percpu: Which,
    /// How the copy is switched to our package.
    #[arg(long, value_enum, default_value = "manifest-line")]
    pub recipe: Recipe,
    /// Build against a scratch copy of our crates with this fault (default
    /// `one-area`); the boot must then fail.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "one-area")]
    pub broken: Option<Break>,
    /// Seconds the boot may take to reach the shell prompt.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
}

impl Args {
    /// A name for this variant's scratch files.
    fn variant(&self) -> String {
        match (self.percpu, self.broken) {
            (Which::Published, _) => "published".into(),
            (Which::Ours, None) => format!("ours-{}", recipe_name(self.recipe)),
            (Which::Ours, Some(b)) => {
                format!("ours-{}-broken-{}", recipe_name(self.recipe), value_name(b))
            }
        }
    }
}

fn recipe_name(recipe: Recipe) -> String {
    value_name(recipe)
}

fn value_name(v: impl clap::ValueEnum) -> String {
    v.to_possible_value()
        .expect("no skipped values")
        .get_name()
        .to_owned()
}

/// Where everything this command writes goes (never the checkout).
fn scratch() -> PathBuf {
    target_root().join("axvisor-boot")
}

pub fn run(args: &Args) -> Result<()> {
    if args.broken.is_some() && args.percpu == Which::Published {
        return Err(usage(
            "--broken breaks a copy of our crates: it needs --percpu ours",
        ));
    }
    let checkout = std::path::absolute(&args.checkout)?;
    let manifest_path = checkout.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).map_err(|e| {
        usage(format!(
            "{} is not an axvisor checkout: {}: {e}",
            checkout.display(),
            manifest_path.display()
        ))
    })?;
    if !manifest.lines().any(|l| l.trim() == "name = \"axvisor\"") {
        return Err(usage(format!(
            "{} is not an axvisor checkout: its Cargo.toml names no package `axvisor`",
            checkout.display()
        )));
    }
    let pin = percpu_pin(&manifest).map_err(|e| usage(format!("{}: {e}", checkout.display())))?;
    let channel = toolchain_channel(&checkout)?;
    let features = board_features(&checkout)?;
    let variant = args.variant();
    eprintln!("axvisor-boot: {variant}: percpu `{pin}` pinned, toolchain {channel}");

    // The copy, then its manifest for this variant.
    let copy = scratch().join("checkout");
    sync_tree(&checkout, &copy)?;
    let mut new_manifest = without_autobins(&manifest);
    // The copy lives under our target directory, inside our workspace:
    // without a table of its own cargo would take it for one of ours.
    if !manifest.lines().any(|l| l.trim() == "[workspace]") {
        new_manifest.push_str("\n[workspace]\n");
    }
    let expect_version = match args.percpu {
        Which::Published => pin.trim_start_matches('=').to_owned(),
        Which::Ours => {
            let (package, version) = stage_ours(args, &pin)?;
            new_manifest = switch_manifest(&new_manifest, args.recipe, &pin, &version, &package)?;
            version
        }
    };
    write_if_changed(&copy.join("Cargo.toml"), &new_manifest)?;

    ensure_tools(&channel)?;
    let started = Instant::now();
    let elf = build(&copy, &channel, &features)?;
    let build_secs = started.elapsed().as_secs_f64();
    check_lock(&copy, args.percpu, &expect_version)?;
    let image = scratch().join(format!("{variant}.bin"));
    toolchain::run(
        Command::new("rust-objcopy")
            .current_dir(&copy)
            .args(["--strip-all", "-O", "binary"])
            .arg(&elf)
            .arg(&image),
    )?;

    let started = Instant::now();
    let log_path = scratch().join(format!("{variant}.serial.log"));
    let log = boot(&image, Duration::from_secs(args.timeout))?;
    let boot_secs = started.elapsed().as_secs_f64();
    std::fs::write(&log_path, &log)?;
    match check_log(&log) {
        Ok(proof) => {
            for line in proof {
                eprintln!("  | {line}");
            }
            eprintln!(
                "axvisor-boot: {variant}: {CPUS} CPUs at EL2, virtualization on each, shell \
                 reached (build {build_secs:.0} s, boot {boot_secs:.1} s; log: {})",
                log_path.display()
            );
            Ok(())
        }
        Err(reason) => {
            let tail: Vec<&str> = log.lines().rev().take(12).collect();
            for line in tail.iter().rev() {
                eprintln!("  | {line}");
            }
            bail!(
                "axvisor-boot: {variant}: {reason} (log: {})",
                log_path.display()
            )
        }
    }
}

/// The version requirement of the manifest's `percpu` dependency line.
fn percpu_pin(manifest: &str) -> Result<String> {
    let line = percpu_line(manifest)
        .map(|i| manifest.lines().nth(i).expect("an index of lines"))
        .context("its Cargo.toml has no `percpu = ...` dependency line")?;
    line_version(line)
        .map(|(start, end)| line[start..end].to_owned())
        .context("its `percpu` dependency line names no version")
}

/// The index of the `percpu = ...` line under `[dependencies]`.
fn percpu_line(manifest: &str) -> Option<usize> {
    let mut in_deps = false;
    for (i, line) in manifest.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_deps = t == "[dependencies]";
        } else if in_deps {
            let key = t.split('=').next().unwrap_or("").trim();
            if key == "percpu" {
                return Some(i);
            }
        }
    }
    None
}

/// The byte range of the version requirement in a dependency line:
/// `percpu = "=0.2.0"` or `percpu = { version = "=0.2.0", ... }`.
fn line_version(line: &str) -> Option<(usize, usize)> {
    let value_at = line.find('=')? + 1;
    let rest = &line[value_at..];
    let from = if rest.trim_start().starts_with('{') {
        value_at + rest.find("version")? + "version".len()
    } else {
        value_at
    };
    let start = from + line[from..].find('"')? + 1;
    let end = start + line[start..].find('"')?;
    Some((start, end))
}

/// 6c325764's one change over 589ebf6, `autobins = false`, removes the
/// `axvisor` bin this command builds; the copy goes without it.
fn without_autobins(manifest: &str) -> String {
    if !manifest.lines().any(|l| l.trim() == "autobins = false") {
        return manifest.to_owned();
    }
    eprintln!(
        "axvisor-boot: dropping `autobins = false` in the copy (it removes the `axvisor` bin)"
    );
    let mut out: String = manifest
        .lines()
        .filter(|l| l.trim() != "autobins = false")
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// The manifest switched to `package` (our 0.2-line package, at `version`)
/// by `recipe`.
fn switch_manifest(
    manifest: &str,
    recipe: Recipe,
    pin: &str,
    version: &str,
    package: &Path,
) -> Result<String> {
    let mut lines: Vec<String> = manifest.lines().map(str::to_owned).collect();
    if recipe == Recipe::ManifestLine {
        let i = percpu_line(manifest).context("no `percpu` line")?;
        let (start, end) = line_version(&lines[i]).context("no version")?;
        let exact = if pin.starts_with('=') { "=" } else { "" };
        lines[i].replace_range(start..end, &format!("{exact}{version}"));
        eprintln!("axvisor-boot: manifest line: {}", lines[i].trim());
    }
    let entry = format!("percpu = {{ path = {:?} }}", package.display().to_string());
    eprintln!("axvisor-boot: [patch.crates-io] {entry}");
    match lines.iter().position(|l| l.trim() == "[patch.crates-io]") {
        Some(i) => lines.insert(i + 1, entry),
        None => {
            lines.push(String::new());
            lines.push("[patch.crates-io]".into());
            lines.push(entry);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

/// Our 0.2-line package: its directory and version, found by its manifest
/// (`name = "percpu"`, a `0.2.` version) anywhere in the workspace.
fn line02_package(root: &Path) -> Result<(PathBuf, String)> {
    let mut found = Vec::new();
    find_line02(root, &mut found)?;
    match found.len() {
        1 => Ok(found.pop().expect("one")),
        0 => bail!(
            "no 0.2-line `percpu` package (name = \"percpu\", version 0.2.x) in {}",
            root.display()
        ),
        _ => bail!("more than one 0.2-line `percpu` package: {found:?}"),
    }
}

fn find_line02(dir: &Path, found: &mut Vec<(PathBuf, String)>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default();
        if path.is_dir() {
            if name != "target" && name != ".git" {
                find_line02(&path, found)?;
            }
        } else if name == "Cargo.toml" {
            let text = std::fs::read_to_string(&path)?;
            if section_field(&text, "package", "name") != Some("percpu") {
                continue;
            }
            if let Some(version) = package_version(dir, &text).filter(|v| v.starts_with("0.2.")) {
                found.push((dir.to_path_buf(), version));
            }
        }
    }
    Ok(())
}

/// A `[section]`'s `key = "value"`.
fn section_field<'a>(manifest: &'a str, section: &str, key: &str) -> Option<&'a str> {
    let header = format!("[{section}]");
    let mut inside = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == header;
        } else if inside {
            if let Some((k, v)) = t.split_once('=') {
                if k.trim() == key {
                    let v = v.trim();
                    return v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                }
            }
        }
    }
    None
}

/// The version of the package whose manifest (in `dir`) is `manifest`: its
/// own, or with `version.workspace = true` its workspace's.
fn package_version(dir: &Path, manifest: &str) -> Option<String> {
    if let Some(v) = section_field(manifest, "package", "version") {
        return Some(v.to_owned());
    }
    dir.ancestors().skip(1).find_map(|parent| {
        let text = std::fs::read_to_string(parent.join("Cargo.toml")).ok()?;
        text.contains("[workspace]")
            .then(|| section_field(&text, "workspace.package", "version"))
            .flatten()
            .map(str::to_owned)
    })
}

/// Gives the package of `manifest` its own `version`, in place of what it
/// had (a version or `version.workspace = true`).
fn set_package_version(manifest: &Path, version: &str) -> Result<()> {
    let text = std::fs::read_to_string(manifest)?;
    let mut inside = false;
    let mut done = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == "[package]";
        } else if inside && !done {
            let key = t.split('=').next().unwrap_or("").trim();
            if key == "version" || key == "version.workspace" {
                out.push(format!("version = \"{version}\""));
                done = true;
                continue;
            }
        }
        out.push(line.to_owned());
    }
    if !done {
        bail!("{} has no `version` in [package]", manifest.display());
    }
    write_if_changed(manifest, &(out.join("\n") + "\n"))
}

/// The 0.2-line package to patch in, and the version the lock file must
/// then show: ours in place, or a staged copy of our workspace (tracked
/// files) with the fault of `--broken` and, for `patch-pinned`, the pinned
/// version.
fn stage_ours(args: &Args, pin: &str) -> Result<(PathBuf, String)> {
    let root = workspace_root();
    let (package, version) = line02_package(&root)?;
    eprintln!(
        "axvisor-boot: our 0.2-line package: percpu {version} at {}",
        package.display()
    );
    let pinned = match args.recipe {
        Recipe::ManifestLine => None,
        Recipe::PatchPinned => Some(pin.strip_prefix('=').filter(|v| !v.contains([',', '*', '<', '>', '~', '^'])).ok_or_else(|| {
            usage(format!("--recipe patch-pinned needs an exact pin (`=x.y.z`), the checkout has `{pin}`"))
        })?),
    };
    if args.broken.is_none() && pinned.is_none() {
        return Ok((package, version));
    }
    let stage = scratch().join(format!("percpu-{}", args.variant()));
    copy_tracked(&root, &stage)?;
    let staged = stage.join(package.strip_prefix(&root)?);
    if let Some(fault) = args.broken {
        let (file, from, to) = fault.edit();
        replace_once(&stage.join(file), from, to)?;
        eprintln!(
            "axvisor-boot: broken copy ({}): {file}: `{from}` -> `{to}`",
            value_name(fault)
        );
    }
    let version = match pinned {
        Some(pinned) => {
            let manifest = staged.join("Cargo.toml");
            set_package_version(&manifest, pinned)?;
            eprintln!("axvisor-boot: staged copy versioned {pinned} (was {version})");
            pinned.to_owned()
        }
        None => version,
    };
    Ok((staged, version))
}

/// Replaces the one occurrence of `from` in `path`; fails if there is not
/// exactly one (a fault that does not apply must not pass as one).
fn replace_once(path: &Path, from: &str, to: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let count = text.matches(from).count();
    if count != 1 {
        bail!(
            "`{from}` occurs {count} times in {}, not once",
            path.display()
        );
    }
    write_if_changed(path, &text.replacen(from, to, 1))
}

/// Copies the files of `root` that git tracks or would track into `dest`,
/// writing only those that differ (so cargo rebuilds only what changed
/// between runs).
fn copy_tracked(root: &Path, dest: &Path) -> Result<()> {
    let listing = toolchain::output(
        Command::new("git")
            .arg("-C")
            .arg(root)
            // Untracked files too: a 0.2-line package not yet committed.
            .args([
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ]),
    )?;
    for rel in listing.split('\0').filter(|s| !s.is_empty()) {
        let from = root.join(rel);
        let to = dest.join(rel);
        // A file deleted in the work tree but still in the index is skipped.
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue;
        };
        if meta.is_symlink() {
            // `percpu_layout/templates` is one: the same link, not a copy.
            let link = std::fs::read_link(&from)?;
            if std::fs::read_link(&to).ok() != Some(link.clone()) {
                let _ = std::fs::remove_file(&to);
                std::fs::create_dir_all(to.parent().expect("a file in a directory"))?;
                std::os::unix::fs::symlink(&link, &to)
                    .with_context(|| format!("cannot link {}", to.display()))?;
            }
        } else if meta.is_file() {
            write_bytes_if_changed(&to, &std::fs::read(&from)?)?;
        }
    }
    Ok(())
}

/// Makes `dest` a copy of `src` (without `.git` and `target`), writing only
/// the files that differ and removing those `src` no longer has.
fn sync_tree(src: &Path, dest: &Path) -> Result<()> {
    let mut keep = std::collections::BTreeSet::new();
    sync_dir(src, src, dest, &mut keep)?;
    remove_others(dest, dest, &keep)
}

fn sync_dir(
    root: &Path,
    dir: &Path,
    dest: &Path,
    keep: &mut std::collections::BTreeSet<PathBuf>,
) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default();
        if name == ".git" || name == "target" {
            continue;
        }
        if path.is_dir() {
            sync_dir(root, &path, dest, keep)?;
        } else if path.is_file() {
            let rel = path.strip_prefix(root)?.to_path_buf();
            write_bytes_if_changed(&dest.join(&rel), &std::fs::read(&path)?)?;
            keep.insert(rel);
        }
    }
    Ok(())
}

fn remove_others(
    root: &Path,
    dir: &Path,
    keep: &std::collections::BTreeSet<PathBuf>,
) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            remove_others(root, &path, keep)?;
        } else if !keep.contains(path.strip_prefix(root)?) {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    write_bytes_if_changed(path, text.as_bytes())
}

fn write_bytes_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().expect("a file in a directory"))?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The `channel` of the checkout's `rust-toolchain.toml`.
fn toolchain_channel(checkout: &Path) -> Result<String> {
    let path = checkout.join("rust-toolchain.toml");
    let text =
        std::fs::read_to_string(&path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "channel").then(|| v.trim().trim_matches('"').to_owned())
        })
        .ok_or_else(|| usage(format!("{} names no `channel`", path.display())))
}

/// The cargo features of the checkout's QEMU board file, plus the log level
/// it asks for, as its own xtask passes them.
fn board_features(checkout: &Path) -> Result<String> {
    let path = checkout.join(BOARD);
    let text =
        std::fs::read_to_string(&path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let list = text
        .split_once("features = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .ok_or_else(|| usage(format!("{} has no `features = [...]`", path.display())))?;
    let mut features: Vec<String> = list
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    let level = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "log").then(|| v.trim().trim_matches('"').to_lowercase())
        })
        .unwrap_or_else(|| "info".into());
    features.push(format!("log/release_max_level_{level}"));
    Ok(features.join(","))
}

/// The checkout's toolchain with the target, `rust-objcopy` (the loader
/// build of axvisor's `somehal` runs it) and QEMU.
fn ensure_tools(channel: &str) -> Result<()> {
    toolchain::ensure_toolchain(channel, &[TARGET], &["rust-src", "llvm-tools"])?;
    if !toolchain::which("rust-objcopy") {
        toolchain::run(toolchain::cargo().args(["install", "--locked", "cargo-binutils"]))?;
        if !toolchain::which("rust-objcopy") {
            bail!("`rust-objcopy` is not on the PATH after `cargo install cargo-binutils`: add cargo's bin directory to PATH");
        }
    }
    toolchain::ensure_qemu("qemu-system-aarch64", "qemu-system-arm")
}

/// Builds the copy as the checkout's xtask does for QEMU; returns the ELF.
fn build(copy: &Path, channel: &str, features: &str) -> Result<PathBuf> {
    let target_dir = scratch().join("target");
    let mut cmd = Command::new("rustup");
    cmd.current_dir(copy)
        .args([
            "run", channel, "cargo", "build", "-p", "axvisor", "--target", TARGET,
        ])
        .args(["-Z", "unstable-options", "--features", features])
        .args(["--bin", "axvisor", "--release", "--target-dir"])
        .arg(&target_dir);
    // Nothing of the outer cargo leaks in: a CARGO_TARGET_DIR would make
    // somehal's nested `cargo install` wait on this build's lock forever;
    // AXVISOR_VM_CONFIGS would add guests.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let outer = (key.starts_with("CARGO") && key != "CARGO_HOME")
            || (key.starts_with("RUST") && key != "RUSTUP_HOME")
            || key == "AXVISOR_VM_CONFIGS";
        if outer {
            cmd.env_remove(&key);
        }
    }
    // somehal builds its loader instead of waiting for a download.
    cmd.env("CARGO_FEATURE_FORCE_REBUILD_LOADER", "1");
    toolchain::run(&mut cmd)?;
    Ok(target_dir.join(TARGET).join("release").join("axvisor"))
}

/// The copy's lock file: for `published`, one `percpu`, crates.io's at
/// `version`; for ours, no `percpu` from a registry and ours (a path
/// package, no `source`) at `version`, beside the 0.4 runtime it re-exports.
fn check_lock(copy: &Path, which: Which, version: &str) -> Result<()> {
    let lock = std::fs::read_to_string(copy.join("Cargo.lock"))?;
    let entries: Vec<&str> = lock
        .split("[[package]]")
        .filter(|p| p.lines().any(|l| l.trim() == "name = \"percpu\""))
        .collect();
    let from_registry = |e: &&str| e.contains("source = \"registry+");
    let at_version = |e: &&str| e.contains(&format!("version = \"{version}\""));
    let ok = match which {
        Which::Published => {
            entries.len() == 1 && entries.iter().all(|e| from_registry(e) && at_version(e))
        }
        Which::Ours => !entries.iter().any(from_registry) && entries.iter().any(at_version),
    };
    if !ok {
        let whose = if which == Which::Published {
            "crates.io's"
        } else {
            "our"
        };
        bail!(
            "the build's Cargo.lock does not use {whose} percpu {version}: its `percpu` packages:{}",
            entries.concat()
        );
    }
    Ok(())
}

/// Boots the image guest-less until the shell prompt (or `timeout`);
/// returns the serial output without terminal escapes.
fn boot(image: &Path, timeout: Duration) -> Result<String> {
    // An empty disk: the hypervisor wants one, and reads nothing from it.
    let disk = scratch().join("rootfs.img");
    std::fs::write(&disk, b"")?;
    let mut cmd = Command::new("qemu-system-aarch64");
    cmd.args(["-nographic", "-cpu", "cortex-a72"])
        .args(["-machine", "virt,virtualization=on,gic-version=3"])
        .args(["-smp", &CPUS.to_string(), "-m", "8g"])
        .args(["-device", "virtio-blk-device,drive=disk0"])
        .arg("-drive")
        .arg(format!(
            "id=disk0,if=none,format=raw,file={}",
            disk.display()
        ))
        .args(["-append", "root=/dev/vda rw init=/init", "-kernel"])
        .arg(image)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    eprintln!("$ {}", toolchain::display(&cmd));
    let mut child = cmd.spawn().context("cannot start qemu-system-aarch64")?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    for mut pipe in [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    let mut raw = Vec::new();
    let mut ended = None;
    while ended.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => {
                raw.extend_from_slice(&chunk);
                if strip_escapes(&raw).contains(PROMPT) {
                    ended = Some("prompt");
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => ended = Some("timeout"),
            Err(mpsc::RecvTimeoutError::Disconnected) => ended = Some("exit"),
        }
    }
    // Our own child: QEMU does not stop by itself at the prompt.
    let _ = child.kill();
    let status = child.wait()?;
    let mut log = strip_escapes(&raw);
    match ended {
        Some("timeout") => log.push_str(&format!(
            "\n[axvisor-boot: no shell prompt within {} s]\n",
            timeout.as_secs()
        )),
        Some("exit") => log.push_str(&format!("\n[axvisor-boot: QEMU exited: {status}]\n")),
        _ => {}
    }
    Ok(log)
}

/// The serial output as text, without ANSI colour sequences.
fn strip_escapes(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters, then one final byte in '@'..='~'.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// The CPU id of a log line `[  0.896927 3:13 target:line] message`: the
/// hypervisor's logger reads it from per-CPU data (`3:13` is CPU 3, task
/// 13).
fn line_cpu(line: &str) -> Option<usize> {
    let inner = line.trim_start().strip_prefix('[')?.split(']').next()?;
    let mut fields = inner.split_whitespace();
    let _time = fields.next()?;
    let (cpu, _task) = fields.next()?.split_once(':')?;
    cpu.parse().ok()
}

/// What proves the boot, in order: the loader at EL2, the secondary CPUs
/// up, then on every core `Hardware virtualization support enabled on core
/// n`, logged by CPU n itself (the id in the line comes from per-CPU data:
/// CPUs that shared an area, or read a stale register, would log another
/// id), all cores done, and the shell prompt. Returns the proving lines, or
/// the first thing missing.
pub fn check_log(log: &str) -> std::result::Result<Vec<String>, String> {
    let mut lines = log.lines();
    if let Some(line) = lines.find(|l| l.contains("panicked at")) {
        // The message is on the next line.
        let message = lines.find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!(
            "the hypervisor panicked: {} {}",
            line.trim(),
            message.trim()
        ));
    }
    let find = |what: &str, ok: &dyn Fn(&str) -> bool| {
        log.lines()
            .find(|l| ok(l))
            .map(|l| l.trim_end().to_owned())
            .ok_or_else(|| format!("no {what} in the serial log"))
    };
    let mut proof = vec![find("`EL : 2` from the loader", &|l| {
        l.split_once(':')
            .is_some_and(|(k, v)| k.trim() == "EL" && v.trim() == "2")
    })?];
    for cpu in 1..CPUS {
        let text = format!("Secondary CPU {cpu} init OK.");
        proof.push(find(&format!("`{text}`"), &|l| l.contains(&text))?);
    }
    for cpu in 0..CPUS {
        let text = format!("Hardware virtualization support enabled on core {cpu}");
        let line = find(&format!("`{text}`"), &|l| l.contains(&text))?;
        if line_cpu(&line) != Some(cpu) {
            return Err(format!(
                "core {cpu}'s `{text}` was logged as CPU {}: its per-CPU data is not its own: {line}",
                line_cpu(&line).map_or("?".into(), |c| c.to_string())
            ));
        }
        proof.push(line);
    }
    let all = "All cores have enabled hardware virtualization support.";
    proof.push(find(&format!("`{all}`"), &|l| l.contains(all))?);
    if !log.contains(PROMPT) {
        let last = log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!(
            "no shell prompt `{PROMPT}`; last line: {}",
            last.trim()
        ));
    }
    proof.push(PROMPT.to_owned());
    Ok(proof)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of a good boot's serial log (written for this test, in
    /// the format the hypervisor prints).
    fn good_log() -> String {
        let mut log = String::from("EL                      : 2\nSomeHAL booting...\n");
        for cpu in 1..CPUS {
            log.push_str(&format!(
                "[  0.7{cpu} axruntime::mp:85] Secondary CPU {cpu} init OK.\n"
            ));
        }
        for cpu in 0..CPUS {
            log.push_str(&format!(
                "[  0.9{cpu} {cpu}:1{cpu} axvisor::hal:157] Hardware virtualization support enabled on core {cpu}\n"
            ));
        }
        log.push_str("[  0.95 0:2 axvisor::hal:171] All cores have enabled hardware virtualization support.\n");
        log.push_str("Welcome to AxVisor Shell!\n\naxvisor:$ ");
        log
    }

    #[test]
    fn a_good_log_passes_with_its_proof() {
        let proof = check_log(&good_log()).unwrap();
        assert_eq!(proof.len(), 1 + (CPUS - 1) + CPUS + 1 + 1);
        assert!(proof[0].starts_with("EL"));
    }

    #[test]
    fn each_missing_or_wrong_piece_fails() {
        let good = good_log();
        let cases = [
            (
                "EL                      : 2",
                "EL                      : 1",
                "EL : 2",
            ),
            (
                "Secondary CPU 3 init OK.",
                "Secondary CPU 3 failed",
                "Secondary CPU 3",
            ),
            ("0.92 2:12", "0.92 0:12", "logged as CPU 0"),
            ("enabled on core 1", "enabled on core 9", "core 1"),
            ("All cores have", "Some cores have", "All cores"),
            ("axvisor:$ ", "", "no shell prompt"),
        ];
        for (from, to, reason) in cases {
            assert!(good.contains(from), "{from}");
            let err = check_log(&good.replacen(from, to, 1)).unwrap_err();
            assert!(err.contains(reason), "{from} -> {to}: {err}");
        }
        let panicked = format!("{good}\npanicked at src/main.rs:1:1:\nAlready initialized\n");
        let err = check_log(&panicked).unwrap_err();
        assert!(
            err.ends_with("panicked at src/main.rs:1:1: Already initialized"),
            "{err}"
        );
    }

    #[test]
    fn escapes_are_stripped() {
        assert_eq!(
            strip_escapes(b"\x1b[37m[ 0.1 \x1b[0m1:2]\r\n"),
            "[ 0.1 1:2]\n"
        );
        assert_eq!(line_cpu("[  0.896927 3:13 axvisor::hal:157] x"), Some(3));
        assert_eq!(line_cpu("[  0.732222 axruntime::mp:85] x"), None);
    }

    const MANIFEST: &str = "[package]\nname = \"axvisor\"\nautobins = false\n\n[dependencies]\n\
        page_table_entry = {version = \"=0.5.7\", features = [\"arm-el2\"]}\n\
        percpu = {version = \"=0.2.0\", features = [\"arm-el2\"]}\nrdrive = \"=0.18.11\"\n";

    #[test]
    fn the_pin_and_the_two_recipes() {
        assert_eq!(percpu_pin(MANIFEST).unwrap(), "=0.2.0");
        assert_eq!(
            percpu_pin("[dependencies]\npercpu = \"0.2\"\n").unwrap(),
            "0.2"
        );
        assert!(percpu_pin("[dev-dependencies]\npercpu = \"0.2\"\n").is_err());
        let path = Path::new("/w/compat/0.2/percpu");
        let line =
            switch_manifest(MANIFEST, Recipe::ManifestLine, "=0.2.0", "0.2.99", path).unwrap();
        assert!(line.contains("percpu = {version = \"=0.2.99\", features = [\"arm-el2\"]}\n"));
        assert!(line.ends_with("[patch.crates-io]\npercpu = { path = \"/w/compat/0.2/percpu\" }\n"));
        // Only the one line and the patch differ.
        let changed = MANIFEST
            .lines()
            .zip(line.lines())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, 1);
        let patch =
            switch_manifest(MANIFEST, Recipe::PatchPinned, "=0.2.0", "0.2.0", path).unwrap();
        assert!(patch.starts_with(MANIFEST));
        assert!(!without_autobins(MANIFEST).contains("autobins"));
    }

    #[test]
    fn each_fault_applies_to_the_current_sources() {
        for fault in [Break::OneArea, Break::El1] {
            let (file, from, _) = fault.edit();
            let text = std::fs::read_to_string(workspace_root().join(file)).unwrap();
            assert_eq!(text.matches(from).count(), 1, "{file}: {from}");
        }
    }

    #[test]
    fn our_line02_package_and_its_pinned_copy() {
        let root = workspace_root();
        let (dir, version) = line02_package(&root).unwrap();
        assert!(
            dir.starts_with(&root) && dir != root.join("percpu"),
            "{dir:?}"
        );
        assert!(version.starts_with("0.2."), "{version}");
        let copy = target_root().join("axvisor-boot-test/pinned/Cargo.toml");
        write_if_changed(
            &copy,
            &std::fs::read_to_string(dir.join("Cargo.toml")).unwrap(),
        )
        .unwrap();
        set_package_version(&copy, "0.2.0").unwrap();
        let text = std::fs::read_to_string(&copy).unwrap();
        assert_eq!(section_field(&text, "package", "version"), Some("0.2.0"));
        assert_eq!(section_field(&text, "package", "name"), Some("percpu"));
    }

    #[test]
    fn the_lock_check() {
        let dir = target_root().join("axvisor-boot-test/lock");
        let registry = "source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        let entry = |version: &str, source: &str| {
            format!("[[package]]\nname = \"percpu\"\nversion = \"{version}\"\n{source}\n")
        };
        let check = |lock: String, which: Which, version: &str| {
            write_if_changed(&dir.join("Cargo.lock"), &lock).unwrap();
            check_lock(&dir, which, version)
        };
        let published = entry("0.2.0", registry);
        assert!(check(published.clone(), Which::Published, "0.2.0").is_ok());
        assert!(check(published.clone(), Which::Ours, "0.2.0").is_err());
        let ours = entry("0.2.99", "") + &entry("0.4.1", "");
        assert!(check(ours.clone(), Which::Ours, "0.2.99").is_ok());
        assert!(check(ours.clone(), Which::Ours, "0.2.0").is_err());
        assert!(check(ours.clone(), Which::Published, "0.2.0").is_err());
        // A crate of the graph still on crates.io's: two runtimes.
        assert!(check(ours + &published, Which::Ours, "0.2.99").is_err());
    }

    #[test]
    fn the_board_features() {
        let dir = target_root().join("axvisor-boot-test");
        let board = dir.join(BOARD);
        std::fs::create_dir_all(board.parent().unwrap()).unwrap();
        std::fs::write(
            &board,
            "features = [\n    \"a\",\n    \"b/c\",\n]\nlog = \"Info\"\n",
        )
        .unwrap();
        assert_eq!(
            board_features(&dir).unwrap(),
            "a,b/c,log/release_max_level_info"
        );
    }
}
