//! What changed between two builds: `cargo percpu diff OLD NEW`.
//!
//! Both sides are inspection [`Report`]s, read from ELF files or from the
//! JSON that `inspect --format json` printed earlier (so that CI can keep the
//! last release's report instead of its kernel). Variables are paired by
//! name; a name that occurs several times pairs in offset order. The
//! budgets ([`Budgets`]) are checks like the report's own, and decide the
//! exit status together with NEW's checks.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::elf::ElfError;
use crate::report::{self, Check, InspectOptions, Report, Variable};
use crate::style::{self, paint};

/// The `document` of a diff report.
pub const DOCUMENT: &str = "diff";

/// Budget names, as they appear among the checks.
pub mod budgets {
    /// The area of one CPU (the stride) is at most `--max-area-size` bytes.
    pub const MAX_AREA_SIZE: &str = "max-area-size";
    /// The template grew by at most `--max-growth` bytes.
    pub const MAX_GROWTH: &str = "max-growth";
}

/// The limits a CI job sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Budgets {
    /// `--max-area-size`: the largest area (stride) allowed, in bytes.
    pub max_area_size: Option<u64>,
    /// `--max-growth`: how many bytes the template may grow by, from OLD to
    /// NEW. The template is what the variables take; the area rounds it up
    /// to the alignment and would hide a small growth.
    pub max_growth: Option<u64>,
}

/// One figure on both sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// In OLD.
    pub old: u64,
    /// In NEW.
    pub new: u64,
    /// `new - old`, saturated to the range of an `i64`.
    pub delta: i64,
}

impl Change {
    /// The change from `old` to `new`.
    pub fn new(old: u64, new: u64) -> Self {
        let delta = i128::from(new) - i128::from(old);
        Change {
            old,
            new,
            delta: delta.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
        }
    }
}

/// A variable whose offset changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    /// Its name.
    pub name: String,
    /// Its offset in OLD.
    pub old_offset: u64,
    /// Its offset in NEW.
    pub new_offset: u64,
    /// Its size in NEW.
    pub size: u64,
}

/// A variable whose size changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resized {
    /// Its name.
    pub name: String,
    /// Its offset in NEW.
    pub offset: u64,
    /// Its size in OLD.
    pub old_size: u64,
    /// Its size in NEW.
    pub new_size: u64,
}

/// A check whose state differs between OLD and NEW.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckChange {
    /// The check's name.
    pub name: String,
    /// Whether it passed in OLD; `null` when OLD does not report it.
    pub old: Option<bool>,
    /// Whether it passes in NEW; `null` when NEW does not report it.
    pub new: Option<bool>,
    /// NEW's detail, or OLD's when NEW does not report it.
    pub detail: String,
}

/// Everything `cargo percpu diff` reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// The JSON schema version, [`report::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What the document is: [`DOCUMENT`].
    pub document: String,
    /// OLD's path as given.
    pub old: String,
    /// NEW's path as given.
    pub new: String,
    /// The template's size (`_percpu_load_end - _percpu_load_start`).
    pub template_size: Change,
    /// The size of one CPU's area: the stride.
    pub area_size: Change,
    /// How many areas the section reserves.
    pub areas: Change,
    /// The bytes the reservation takes: the section's memory size.
    pub reserved_bytes: Change,
    /// Whether each build's script is template-only, for placed areas:
    /// `[old, new]`. Absent (both false) in diffs older than it.
    #[serde(default)]
    pub placed: [bool; 2],
    /// Variables only in NEW, by offset then name.
    pub added: Vec<Variable>,
    /// Variables only in OLD, by offset then name.
    pub removed: Vec<Variable>,
    /// Variables whose offset changed, by new offset then name.
    pub moved: Vec<Moved>,
    /// Variables whose size changed, by new offset then name.
    pub resized: Vec<Resized>,
    /// Checks that changed state, in NEW's order, then OLD's.
    pub checks: Vec<CheckChange>,
    /// The names of NEW's checks that fail, in NEW's order.
    pub failing: Vec<String>,
    /// The budgets asked for, in a fixed order: `max-area-size`, `max-growth`.
    pub budgets: Vec<Check>,
}

impl Diff {
    /// Whether every budget holds and every check of NEW passes.
    pub fn passed(&self) -> bool {
        self.failing.is_empty() && self.budgets.iter().all(|b| b.passed)
    }
}

/// The `max-area-size` budget on one report: its area (stride) is at most
/// `max` bytes.
pub fn area_size_budget(report: &Report, max: u64) -> Check {
    let size = report.template.stride;
    Check {
        name: budgets::MAX_AREA_SIZE.into(),
        passed: size <= max,
        detail: format!("area of {size} bytes, budget {max}"),
    }
}

/// The `max-growth` budget: the template grew by at most `max` bytes from
/// `old` to `new`.
pub fn growth_budget(old: &Report, new: &Report, max: u64) -> Check {
    let change = Change::new(old.template.size, new.template.size);
    let detail = match change.delta {
        d if d > 0 => format!("template grew by {d} bytes, budget {max}"),
        d if d < 0 => format!("template shrank by {} bytes, budget {max}", -d),
        _ => format!("template size unchanged, budget {max}"),
    };
    Check {
        name: budgets::MAX_GROWTH.into(),
        passed: change.delta <= i64::try_from(max).unwrap_or(i64::MAX),
        detail,
    }
}

/// Reads one side of a diff: an ELF file, inspected with `opts`, or a JSON
/// inspection report of the current schema version.
pub fn load(path: &Path, opts: &InspectOptions) -> Result<Report, ElfError> {
    let shown = path.display().to_string();
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|err| ElfError(format!("cannot read {shown}: {err}")))?;
    if head[..n].first() != Some(&b'{') {
        return report::inspect_path(path, opts);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|err| ElfError(format!("cannot read {shown}: {err}")))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|err| ElfError(format!("{shown}: not an ELF file, nor JSON: {err}")))?;
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    let document = value.get("document").and_then(|v| v.as_str());
    if version != Some(u64::from(report::SCHEMA_VERSION)) || document != Some(report::DOCUMENT) {
        return Err(ElfError(format!(
            "{shown}: not an inspect report of schema version {} (schema_version {}, document {})",
            report::SCHEMA_VERSION,
            version.map_or("missing".to_string(), |v| v.to_string()),
            document.unwrap_or("missing"),
        )));
    }
    serde_json::from_value(value).map_err(|err| ElfError(format!("{shown}: {err}")))
}

/// Compares two reports and evaluates the budgets.
pub fn diff(old: &Report, new: &Report, budgets: &Budgets) -> Diff {
    let by_key = |v: &&Variable| (v.offset, v.name.clone());
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut moved = Vec::new();
    let mut resized = Vec::new();
    // Pair by name; the report's order is by offset, so repeated names pair
    // in offset order.
    let mut unpaired_new: Vec<Option<&Variable>> = new.variables.iter().map(Some).collect();
    for o in &old.variables {
        let partner = unpaired_new
            .iter_mut()
            .find(|slot| slot.is_some_and(|n| n.name == o.name))
            .and_then(Option::take);
        let Some(n) = partner else {
            removed.push(o.clone());
            continue;
        };
        if n.offset != o.offset {
            moved.push(Moved {
                name: n.name.clone(),
                old_offset: o.offset,
                new_offset: n.offset,
                size: n.size,
            });
        }
        if n.size != o.size {
            resized.push(Resized {
                name: n.name.clone(),
                offset: n.offset,
                old_size: o.size,
                new_size: n.size,
            });
        }
    }
    added.extend(unpaired_new.into_iter().flatten().cloned());
    added.sort_by_key(|v| by_key(&v));
    removed.sort_by_key(|v| by_key(&v));
    moved.sort_by(|a, b| (a.new_offset, &a.name).cmp(&(b.new_offset, &b.name)));
    resized.sort_by(|a, b| (a.offset, &a.name).cmp(&(b.offset, &b.name)));

    let mut checks = Vec::new();
    for n in &new.checks {
        let o = old.check(&n.name);
        if o.map(|c| c.passed) != Some(n.passed) {
            checks.push(CheckChange {
                name: n.name.clone(),
                old: o.map(|c| c.passed),
                new: Some(n.passed),
                detail: n.detail.clone(),
            });
        }
    }
    for o in &old.checks {
        if new.check(&o.name).is_none() {
            checks.push(CheckChange {
                name: o.name.clone(),
                old: Some(o.passed),
                new: None,
                detail: o.detail.clone(),
            });
        }
    }

    let mut budget_checks = Vec::new();
    if let Some(max) = budgets.max_area_size {
        budget_checks.push(area_size_budget(new, max));
    }
    if let Some(max) = budgets.max_growth {
        budget_checks.push(growth_budget(old, new, max));
    }
    let mem = |r: &Report| r.section.as_ref().map_or(0, |s| s.mem_size);
    Diff {
        schema_version: report::SCHEMA_VERSION,
        document: DOCUMENT.into(),
        old: old.file.path.clone(),
        new: new.file.path.clone(),
        template_size: Change::new(old.template.size, new.template.size),
        area_size: Change::new(old.template.stride, new.template.stride),
        areas: Change::new(old.template.areas, new.template.areas),
        reserved_bytes: Change::new(mem(old), mem(new)),
        placed: [old.template.placed, new.template.placed],
        added,
        removed,
        moved,
        resized,
        checks,
        failing: new
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.clone())
            .collect(),
        budgets: budget_checks,
    }
}

/// The diff as text, for people, without colour.
pub fn render_text(diff: &Diff) -> String {
    style::finish(&render_styled(diff), false)
}

fn signed(delta: i64) -> String {
    match delta {
        d if d > 0 => paint(style::ADDED, format!("+{d}")),
        d if d < 0 => paint(style::REMOVED, d),
        _ => "unchanged".to_string(),
    }
}

fn type_suffix(v: &Variable) -> String {
    v.type_name
        .as_ref()
        .map_or_else(String::new, |ty| format!(": {ty}"))
}

/// The diff as text, with [`style`]'s escape codes.
pub fn render_styled(diff: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "old          {}", diff.old);
    let _ = writeln!(out, "new          {}", diff.new);
    for (label, change, unit) in [
        ("template", &diff.template_size, " bytes"),
        ("area size", &diff.area_size, " bytes"),
        ("areas", &diff.areas, ""),
        ("reserved", &diff.reserved_bytes, " bytes"),
    ] {
        let _ = writeln!(
            out,
            "{label:<12} {} -> {}{unit} ({})",
            change.old,
            change.new,
            signed(change.delta)
        );
    }
    if diff.placed != [false, false] {
        let name = |placed: bool| if placed { "placed" } else { "contiguous" };
        let _ = writeln!(
            out,
            "{:<12} {} -> {}",
            "areas are",
            name(diff.placed[0]),
            name(diff.placed[1])
        );
    }
    let heading = |out: &mut String, what: &str, n: usize| {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", paint(style::HEADING, format!("{what} ({n})")));
    };
    heading(&mut out, "added", diff.added.len());
    for v in &diff.added {
        let _ = writeln!(
            out,
            "  {} {:>10}  {:>8}  {}{}",
            paint(style::ADDED, "+"),
            format!("{:#x}", v.offset),
            v.size,
            v.name,
            type_suffix(v)
        );
    }
    heading(&mut out, "removed", diff.removed.len());
    for v in &diff.removed {
        let _ = writeln!(
            out,
            "  {} {:>10}  {:>8}  {}{}",
            paint(style::REMOVED, "-"),
            format!("{:#x}", v.offset),
            v.size,
            v.name,
            type_suffix(v)
        );
    }
    heading(&mut out, "moved", diff.moved.len());
    for m in &diff.moved {
        let _ = writeln!(
            out,
            "    {:>10} -> {:<10}  {:>8}  {}",
            format!("{:#x}", m.old_offset),
            format!("{:#x}", m.new_offset),
            m.size,
            m.name
        );
    }
    heading(&mut out, "resized", diff.resized.len());
    for r in &diff.resized {
        let _ = writeln!(
            out,
            "    {:>10}  {:>8} -> {:<8}  {}",
            format!("{:#x}", r.offset),
            r.old_size,
            r.new_size,
            r.name
        );
    }
    heading(&mut out, "checks that changed state", diff.checks.len());
    let state = |s: Option<bool>| match s {
        None => "absent".to_string(),
        Some(true) => paint(style::OK, "ok"),
        Some(false) => paint(style::FAIL, "FAIL"),
    };
    for c in &diff.checks {
        let _ = writeln!(
            out,
            "  {}: {} -> {}  {}",
            c.name,
            state(c.old),
            state(c.new),
            c.detail
        );
    }
    if !diff.budgets.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", paint(style::HEADING, "budgets"));
        report::render_checks(&mut out, &diff.budgets);
    }
    let broken: Vec<&str> = diff
        .budgets
        .iter()
        .filter(|b| !b.passed)
        .map(|b| b.name.as_str())
        .collect();
    let _ = writeln!(out);
    let mut problems = Vec::new();
    if !broken.is_empty() {
        problems.push(format!("budget broken: {}", broken.join(", ")));
    }
    if !diff.failing.is_empty() {
        problems.push(format!("NEW fails: {}", diff.failing.join(", ")));
    }
    if problems.is_empty() {
        let _ = writeln!(
            out,
            "result: {}",
            paint(
                style::OK,
                "every budget holds and every check of NEW passes"
            )
        );
    } else {
        let _ = writeln!(out, "result: {}", paint(style::FAIL, problems.join("; ")));
    }
    out
}
