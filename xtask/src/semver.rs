//! The drop-in promise at the API level: our crates may add to percpu
//! 0.4.0's public API but not remove or change any of it.
//!
//! `percpu` is compared by `cargo semver-checks` against the published
//! 0.4.0, with every feature and with none. `percpu_macros` is a
//! proc-macro crate, which semver-checks does not take; its API is its
//! macros' names and kinds and its features, compared here. Every finding
//! must be listed, with its reason, in `xtask/semver-accepted.txt`, and
//! every entry there must still match a finding.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::toolchain::{self, cargo, workspace_root};

/// The pinned tool, which `.ci/run` installs (`cargo xtask print-deps`).
pub const TOOL: &str = "cargo-semver-checks";
/// Its version.
pub const TOOL_VERSION: &str = "0.51.0";
/// The oldest rustc it builds with and reads the rustdoc JSON of.
pub const TOOL_MIN_RUSTC: (u32, u32) = (1, 93);

/// The reviewed list of accepted differences.
const ACCEPTED: &str = "xtask/semver-accepted.txt";

/// The feature sets `percpu` is compared with: semver-checks' default (every
/// feature, `sp-naive` included) and none (the multi-CPU API).
const FEATURE_RUNS: &[&[&str]] = &[&[], &["--only-explicit-features"]];

/// One finding: crate, lint and item, as the list names them.
type Finding = (String, String, String);

/// `cargo xtask print-deps`'s line for the tool: crate, version and the
/// least rustc, for `.ci/run` to install it when the compiler can build it.
pub fn print_deps() {
    let (major, minor) = TOOL_MIN_RUSTC;
    println!("cargo-install {TOOL} {TOOL_VERSION} {major}.{minor}");
}

/// The rustc that cargo uses, as (major, minor).
fn rustc_version() -> Result<(u32, u32)> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let text = toolchain::output(Command::new(rustc).arg("--version"))?;
    let version = text
        .split_whitespace()
        .nth(1)
        .context("malformed rustc --version")?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => Ok((major, minor)),
        _ => bail!("malformed rustc --version: {text}"),
    }
}

pub fn run() -> Result<()> {
    let rustc = rustc_version()?;
    if rustc < TOOL_MIN_RUSTC {
        eprintln!(
            "semver: skipped: {TOOL} {TOOL_VERSION} needs rustc >= {}.{} (its rustdoc JSON formats), this is {}.{}",
            TOOL_MIN_RUSTC.0, TOOL_MIN_RUSTC.1, rustc.0, rustc.1
        );
        return Ok(());
    }
    let installed = Command::new(TOOL).arg("--version").output();
    let works = installed.is_ok_and(|out| {
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(TOOL_VERSION)
    });
    if !works {
        bail!(
            "{TOOL} {TOOL_VERSION} is not installed: .ci/run installs it \
             (cargo install --locked --version {TOOL_VERSION} {TOOL})"
        );
    }
    let package = crate::dropin::published_package()?;
    let mut findings = BTreeSet::new();
    for extra in FEATURE_RUNS {
        findings.extend(semver_checks(extra)?);
    }
    findings.extend(macro_findings(&package)?);
    judge(&findings, &accepted()?)
}

/// `cargo semver-checks` of `percpu/Cargo.toml` against 0.4.0 (by manifest:
/// `-p percpu` is ambiguous to it, which finds `compat/0.2`'s `percpu` too):
/// its failures, parsed from
/// its report (`--- failure LINT: ... ---`, then `Failed in:` and one
/// indented line per item).
fn semver_checks(extra: &[&str]) -> Result<Vec<Finding>> {
    let mut cmd = cargo();
    cmd.current_dir(workspace_root())
        .args(["semver-checks", "--manifest-path"])
        .arg(workspace_root().join("percpu/Cargo.toml"))
        .arg("--baseline-version")
        .arg(crate::dropin::V0_4)
        .args(extra);
    eprintln!("$ {}", toolchain::display(&cmd));
    let out = cmd.output().context("cannot start cargo semver-checks")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    // A report was made (its summary line), whatever the exit status says.
    if !stderr.contains(" checks: ") {
        bail!("cargo semver-checks made no report ({})", out.status);
    }
    let mut findings = Vec::new();
    let mut lint = None;
    let mut items = false;
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("--- failure ") {
            lint = rest.split(':').next().map(str::to_owned);
            items = false;
        } else if line == "Failed in:" {
            items = true;
        } else if items && line.starts_with("  ") {
            let item = line.trim();
            // The item, without where it is ("X in file …", "struct X,
            // previously in file …", "enum X in /…").
            let item = [", previously in file ", " in file ", " in /"]
                .iter()
                .find_map(|sep| item.split_once(sep))
                .map_or(item, |(name, _)| name.trim_end_matches(','));
            let lint = lint.clone().context("an item before its lint")?;
            findings.push(("percpu".to_owned(), lint, item.to_owned()));
        } else {
            items = false;
        }
    }
    if !out.status.success() && findings.is_empty() {
        bail!(
            "cargo semver-checks failed ({}) without a finding:\n{stdout}",
            out.status
        );
    }
    Ok(findings)
}

/// The macros (kind and name) a proc-macro crate's `lib.rs` exports.
fn proc_macros(lib: &str) -> BTreeSet<String> {
    let mut macros = BTreeSet::new();
    let mut kind = None;
    for line in lib.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#[proc_macro") {
            kind = Some(rest.split(['(', ']']).next().unwrap_or_default().to_owned());
        } else if let Some(rest) = line.strip_prefix("pub fn ") {
            if let Some(kind) = kind.take() {
                let name = rest.split(['(', '<']).next().unwrap_or_default();
                macros.insert(format!("proc_macro{kind} {name}"));
            }
        }
    }
    macros
}

/// The feature names of a `Cargo.toml`'s `[features]` table. An empty
/// `default` is left out: it means what having none means.
fn features(manifest: &str) -> BTreeSet<String> {
    manifest
        .lines()
        .skip_while(|line| line.trim() != "[features]")
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.trim(), value.trim()))
        .filter(|&(name, value)| !name.starts_with('#') && (name, value) != ("default", "[]"))
        .map(|(name, _)| name.to_owned())
        .collect()
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// What `percpu_macros` 0.4.0 has and ours lacks: a macro (by kind and
/// name) or a feature.
fn macro_findings(percpu_0_4: &Path) -> Result<Vec<Finding>> {
    let theirs = percpu_0_4.with_file_name(format!("percpu_macros-{}", crate::dropin::V0_4));
    let ours = workspace_root().join("percpu_macros");
    let mut findings = Vec::new();
    let (old, new) = (
        proc_macros(&read(&theirs.join("src/lib.rs"))?),
        proc_macros(&read(&ours.join("src/lib.rs"))?),
    );
    if old.is_empty() {
        bail!("found no macro in percpu_macros {}", crate::dropin::V0_4);
    }
    for item in old.difference(&new) {
        findings.push((
            "percpu_macros".into(),
            "proc_macro_missing".into(),
            item.clone(),
        ));
    }
    let (old, new) = (
        features(&read(&theirs.join("Cargo.toml"))?),
        features(&read(&ours.join("Cargo.toml"))?),
    );
    for item in old.difference(&new) {
        findings.push((
            "percpu_macros".into(),
            "feature_missing".into(),
            item.clone(),
        ));
    }
    eprintln!(
        "percpu_macros: {} findings against {}",
        findings.len(),
        crate::dropin::V0_4
    );
    Ok(findings)
}

/// The list's entries: `crate | lint | item | reason`, `#` comments.
fn accepted() -> Result<BTreeSet<Finding>> {
    let path = workspace_root().join(ACCEPTED);
    let mut entries = BTreeSet::new();
    for (n, line) in read(&path)?.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        match fields[..] {
            [krate, lint, item, reason] if !reason.is_empty() => {
                entries.insert((krate.to_owned(), lint.to_owned(), item.to_owned()));
            }
            _ => bail!("{ACCEPTED}:{}: not `crate | lint | item | reason`", n + 1),
        }
    }
    Ok(entries)
}

/// Every finding must be accepted, and every accepted entry found.
fn judge(findings: &BTreeSet<Finding>, accepted: &BTreeSet<Finding>) -> Result<()> {
    let show = |set: Vec<&Finding>| {
        set.iter()
            .map(|(k, l, i)| format!("  {k} | {l} | {i}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let new: Vec<&Finding> = findings.difference(accepted).collect();
    let stale: Vec<&Finding> = accepted.difference(findings).collect();
    if !new.is_empty() {
        bail!(
            "the API differs from percpu {} where {ACCEPTED} does not accept it:\n{}",
            crate::dropin::V0_4,
            show(new)
        );
    }
    if !stale.is_empty() {
        bail!(
            "{ACCEPTED} accepts differences that are gone; remove:\n{}",
            show(stale)
        );
    }
    eprintln!(
        "semver: {} differences from percpu {}, each accepted in {ACCEPTED}",
        findings.len(),
        crate::dropin::V0_4
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_and_features_are_read() {
        let lib = "/// Doc.\n#[proc_macro_attribute]\npub fn def_percpu(a: T, b: T) -> T {}\n\
                   #[proc_macro]\n#[doc(hidden)]\npub fn sym(i: T) -> T {}\npub fn helper() {}\n";
        let found: Vec<String> = proc_macros(lib).into_iter().collect();
        assert_eq!(found, ["proc_macro sym", "proc_macro_attribute def_percpu"]);
        let manifest = "[package]\nname = \"x\"\n\n[features]\n# c\na = []\nb-c = [\"a\"]\n\
                        default = []\n\n[lib]\nx = 1\n";
        let found: Vec<String> = features(manifest).into_iter().collect();
        assert_eq!(found, ["a", "b-c"]);
    }

    #[test]
    fn unaccepted_and_stale_entries_fail() {
        let f = |i: &str| {
            (
                "percpu".to_owned(),
                "struct_missing".to_owned(),
                i.to_owned(),
            )
        };
        let both: BTreeSet<Finding> = [f("A")].into();
        assert!(judge(&both, &both).is_ok());
        assert!(judge(&[f("A"), f("B")].into(), &both).is_err());
        assert!(judge(&both, &[f("A"), f("B")].into()).is_err());
    }
}
