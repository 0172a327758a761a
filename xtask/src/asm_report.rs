//! `cargo xtask asm-report`: builds the codegen fixture (`xtask/asm-fixture`)
//! for every column (each target of `targets::TARGETS`, and each of its
//! architecture features), with default features and with `preempt`,
//! disassembles it with `llvm-objdump`, counts the instructions of each
//! exported function (one per-CPU operation each), and prints one table.
//!
//! It writes generated files only: the table into `docs/performance.md`
//! between the `asm-report` markers, a summary into `README.md` between
//! the `asm-summary` markers, and one listing per column under `docs/asm/`. With `--check` it writes nothing and fails when one of them
//! is stale, naming it and the command that regenerates it.
//!
//! Fails when a count exceeds its budget, when `remote_ptr` calls or
//! branches (a spin-wait needs a branch), or when an x86_64 primitive
//! operation calls a guard. Counts are deterministic for a given toolchain:
//! no timings, no addresses, no hashes.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::asm_placed;
use crate::disasm::{self, Count, Insn, Isa, Role};
use crate::targets::{Budgets, Target, TARGETS};
use crate::toolchain::{self, workspace_root};

/// One column of the table: a target and the features that select it.
pub struct Column {
    /// Our name of the architecture, then its features: `aarch64 arm-el2`.
    pub label: String,
    pub target: &'static Target,
    pub features: Vec<&'static str>,
    /// `-C target-feature` for the build, if the column has a CPU feature.
    target_feature: Option<&'static str>,
    /// The target's budgets, or the CPU feature's.
    budgets: &'static Budgets,
    /// Which line's API the fixture reaches the runtime through.
    pub line: Line,
}

/// The API a column's fixture goes through: percpu 0.4, or the 0.2 line
/// (`compat/0.2`, the same source built against `percpu` 0.2.99).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    V0_4,
    V0_2 {
        /// With `custom-base`: placed areas from `_percpu_base_ptr`.
        custom_base: bool,
    },
}

impl Column {
    /// The name of the column's listing file: the label, dashed.
    fn file_stem(&self) -> String {
        self.label.replace(' ', "-")
    }
}

/// Every column: each target with its default features, then with each of
/// its architecture features, then with each of its CPU features.
fn columns() -> Vec<Column> {
    let mut columns = Vec::new();
    for target in &TARGETS {
        columns.push(Column {
            label: target.name().to_owned(),
            target,
            features: Vec::new(),
            target_feature: None,
            budgets: &target.budgets,
            line: Line::V0_4,
        });
        for feature in target.arch_features {
            columns.push(Column {
                label: format!("{} {feature}", target.name()),
                target,
                features: vec![feature],
                target_feature: None,
                budgets: &target.budgets,
                line: Line::V0_4,
            });
        }
        for cpu in target.cpu_features {
            columns.push(Column {
                label: format!("{} {}", target.name(), cpu.name),
                target,
                features: Vec::new(),
                target_feature: Some(cpu.target_feature),
                budgets: &cpu.budgets,
                line: Line::V0_4,
            });
        }
    }
    // The 0.2 line's columns, after all of 0.4's.
    for (name, features, custom_base) in crate::line02::ASM_COLUMNS {
        let target = TARGETS
            .iter()
            .find(|t| t.name() == *name)
            .expect("a 0.2 column names a target of the table");
        let mut label = [&[*name][..], features, &["0.2"]].concat().join(" ");
        if *custom_base {
            label.push_str(" custom-base");
        }
        columns.push(Column {
            label,
            target,
            features: features.to_vec(),
            target_feature: None,
            budgets: &target.budgets,
            line: Line::V0_2 {
                custom_base: *custom_base,
            },
        });
    }
    columns
}

/// `cargo xtask asm-report`'s arguments.
#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Write nothing; fail if docs/performance.md's table or a listing in
    /// docs/asm/ differs from what this run generates.
    #[arg(long)]
    pub check: bool,
    /// Print the table only, writing nothing.
    #[arg(long, conflicts_with = "check")]
    pub no_write: bool,
    /// Build the fixture here (default: xtask/asm-fixture/target).
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Measure one column only (writes nothing).
    #[arg(long, value_name = "COLUMN", value_parser = column_label)]
    pub only: Option<String>,
}

impl Args {
    /// What `cargo xtask ci` runs: every column, `--check`.
    pub fn check() -> Self {
        Args {
            check: true,
            ..Args::default()
        }
    }
}

fn column_label(label: &str) -> Result<String, String> {
    let labels: Vec<String> = columns().into_iter().map(|c| c.label).collect();
    if labels.iter().any(|l| l == label) {
        Ok(label.to_owned())
    } else {
        Err(format!("unknown column; one of: {}", labels.join(", ")))
    }
}

/// The operations, in table order; the fixture exports `<op>_<type>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Add,
    With,
    Ptr,
    Remote,
    BoxRead,
    BoxWrite,
    BoxAdd,
    CounterAdd,
}

pub const OPS: [Op; 10] = [
    Op::Read,
    Op::Write,
    Op::Add,
    Op::With,
    Op::Ptr,
    Op::Remote,
    Op::BoxRead,
    Op::BoxWrite,
    Op::BoxAdd,
    Op::CounterAdd,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "read_current",
            Op::Write => "write_current",
            Op::Add => "add_current",
            Op::With => "with_current",
            Op::Ptr => "current_ptr",
            Op::Remote => "remote_ptr",
            Op::BoxRead => "box_read_current",
            Op::BoxWrite => "box_write_current",
            Op::BoxAdd => "box_add_current",
            Op::CounterAdd => "counter_add",
        }
    }

    /// The single-access operations exist for primitives only.
    fn is_primitive(self) -> bool {
        matches!(self, Op::Read | Op::Write | Op::Add)
    }

    /// The accesses to a run-time `PerCpuBox`: guarded as the primitive ones.
    fn is_box(self) -> bool {
        matches!(self, Op::BoxRead | Op::BoxWrite | Op::BoxAdd)
    }
}

/// The fixture's variable types: three primitives and a 3-word struct;
/// for counters, the static and the run-time one.
pub const TYPES: [&str; 6] = ["usize", "u8", "i32", "triple", "static", "box"];

pub fn applies(op: Op, ty: &str) -> bool {
    match op {
        Op::CounterAdd => matches!(ty, "static" | "box"),
        _ if matches!(ty, "static" | "box") => false,
        _ if op.is_box() => ty == "i32",
        _ => !(op.is_primitive() && ty == "triple"),
    }
}

pub fn symbol(op: Op, ty: &str) -> String {
    format!("{}_{}", op.name(), ty)
}

/// Types narrower than 32 bits, whose `add_current` has its own budget.
fn is_narrow(ty: &str) -> bool {
    matches!(ty, "u8" | "i8" | "u16" | "i16")
}

/// A budget with default features: the column's (the shortest sequence
/// for a 32-bit offset reach, docs/performance.md explains each).
fn base_budget(budgets: &Budgets, op: Op, ty: &str) -> Option<usize> {
    match op {
        Op::Read | Op::Write => Some(budgets.read),
        Op::Add if is_narrow(ty) => Some(budgets.add_narrow),
        Op::Add => Some(budgets.add),
        Op::Ptr => Some(budgets.ptr),
        Op::BoxRead | Op::BoxWrite => Some(budgets.box_read),
        Op::BoxAdd => Some(budgets.box_add),
        // Counted, and held to "no call" below.
        Op::With | Op::Remote | Op::CounterAdd => None,
    }
}

/// What `preempt` adds to a primitive operation outside x86_64: the two
/// guard calls (the runtime's guard calls `KernelGuardIf` directly, with no
/// argument), and one move that keeps the value (the read's result, the
/// write's operand) in a callee-saved register across a call.
fn guard_overhead(target: &Target) -> usize {
    match target.isa {
        Isa::X86_64 => 0,
        _ => 2 * target.call_len + 1,
    }
}

fn budget(column: &Column, op: Op, ty: &str, preempt: bool) -> Option<usize> {
    let target = column.target;
    let base = base_budget(column.budgets, op, ty)?;
    Some(match (preempt, target.isa) {
        (false, _) | (true, Isa::X86_64) => base,
        // A box's handle must also survive the first guard call: one more
        // move into a callee-saved register.
        (true, _) if op.is_box() => base + guard_overhead(target) + 1,
        (true, _) if op.is_primitive() => base + guard_overhead(target),
        (true, _) => base,
    })
}

/// One disassembled function and its count.
pub struct Measured {
    pub insns: Vec<Insn>,
    pub count: Count,
}

/// Everything measured: (column index, preempt) to function name to count.
pub type Results = BTreeMap<(usize, bool), BTreeMap<String, Measured>>;

/// Entry point of `cargo xtask asm-report`.
pub fn run(args: &Args) -> Result<()> {
    let columns = columns();
    // The targets measured: `--only`'s alone, so that one column needs
    // only its own target installed.
    let targets: Vec<&str> = TARGETS
        .iter()
        .filter(|t| !t.build_std)
        .filter(|t| {
            columns.iter().any(|c| {
                std::ptr::eq(c.target, *t) && args.only.as_deref().is_none_or(|o| o == c.label)
            })
        })
        .map(Target::triple)
        .collect();
    toolchain::ensure_targets(&targets)?;
    toolchain::ensure_components(&["llvm-tools", "rust-src"])?;
    let objdump = llvm_objdump()?;
    let root = workspace_root();
    let fixture = root.join("xtask/asm-fixture/Cargo.toml");
    let target_dir = args
        .target_dir
        .clone()
        .unwrap_or_else(|| root.join("xtask/asm-fixture/target"));

    let wanted: Vec<String> = OPS
        .iter()
        .flat_map(|&op| {
            TYPES
                .iter()
                .filter(move |ty| applies(op, ty))
                .map(move |ty| symbol(op, ty))
        })
        .collect();
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();

    let fixture_0_2 = root.join("xtask/asm-fixture-0.2/Cargo.toml");
    let tools = Tools {
        objdump: &objdump,
        fixture: &fixture,
        fixture_0_2: &fixture_0_2,
        target_dir: &target_dir,
    };
    let mut results = Results::new();
    for (index, column) in columns.iter().enumerate() {
        if args
            .only
            .as_deref()
            .is_some_and(|only| only != column.label)
        {
            continue;
        }
        for preempt in [false, true] {
            results.insert((index, preempt), measure(&tools, column, preempt, &wanted)?);
        }
    }

    let (placed, changed) = measure_placed(&columns, &results, &tools, &wanted)?;
    let mut violations = check(&columns, &results);
    // Kept apart: the report's own table lists its own checks.
    let mut placed_violations = asm_placed::check(&placed);
    placed_violations.extend(changed);
    let rustc = toolchain::output(Command::new("rustc").arg("-V"))?;
    let rustc = rustc.trim();
    println!("{}", table(&columns, &results));

    if args.only.is_some() || args.no_write {
        eprintln!("asm-report: docs/performance.md, docs/asm/ and README.md left alone");
    } else {
        let mut outputs = vec![
            (docs_path(), {
                let doc = read_or_empty(&docs_path())?;
                splice_section(
                    &doc,
                    SECTION,
                    &render(&columns, &results, &violations, rustc),
                )
            }),
            (readme_path(), {
                let doc = read_or_empty(&readme_path())?;
                splice_section(&doc, SUMMARY_SECTION, &summary(&columns, &results))
            }),
        ];
        for (index, column) in columns.iter().enumerate() {
            outputs.push((
                listing_path(column),
                column_listings(&columns, index, &results, rustc),
            ));
        }
        if !placed.is_empty() {
            let doc = &outputs[0].1;
            let with_placed =
                splice_section(doc, asm_placed::SECTION, &asm_placed::table(&placed, rustc));
            outputs[0].1 = with_placed;
            for (label, triple, rows) in &placed {
                outputs.push((
                    asm_placed::listing_path(&label.replace(' ', "-")),
                    asm_placed::listing_file(label, triple, rows, rustc),
                ));
            }
        }
        // Codegen moves with LLVM: the files are compared only against the
        // compiler that wrote them. The budgets hold on every compiler.
        let recorded = recorded_rustc(&columns);
        let other_compiler = recorded.as_deref().filter(|r| *r != rustc);
        if let (true, Some(recorded)) = (args.check, other_compiler) {
            eprintln!(
                "asm-report: listings and tables not compared: written by {recorded}, this is {rustc}"
            );
        } else if args.check {
            let stale: Vec<String> = outputs
                .iter()
                .filter(|(path, text)| read_or_empty(path).ok().as_ref() != Some(text))
                .map(|(path, _)| relative(path))
                .collect();
            if !stale.is_empty() {
                bail!(
                    "generated files are out of date: {}\nregenerate them with `cargo xtask asm-report` and review the diff",
                    stale.join(", ")
                );
            }
            eprintln!("asm-report: docs/performance.md, docs/asm/ and README.md are up to date");
        } else {
            for (path, text) in &outputs {
                write_if_changed(path, text)?;
            }
            eprintln!(
                "asm-report: wrote the tables to docs/performance.md and README.md and the listings to docs/asm/"
            );
        }
    }

    if !placed.is_empty() {
        println!("\n{}", asm_placed::table(&placed, rustc));
    }
    violations.extend(placed_violations);
    if !violations.is_empty() {
        bail!(
            "{} codegen check(s) failed:\n  {}",
            violations.len(),
            violations.join("\n  ")
        );
    }
    eprintln!("asm-report: every count is within its budget");
    Ok(())
}

/// What measuring a build needs.
struct Tools<'a> {
    objdump: &'a Path,
    /// The 0.4 fixture, and the 0.2 one (the same source against 0.2.99).
    fixture: &'a Path,
    fixture_0_2: &'a Path,
    target_dir: &'a Path,
}

/// Builds the fixture for `column` and disassembles the `wanted` functions.
fn measure(
    tools: &Tools,
    column: &Column,
    preempt: bool,
    wanted: &[&str],
) -> Result<BTreeMap<String, Measured>> {
    let fixture = match column.line {
        Line::V0_4 => tools.fixture,
        Line::V0_2 { .. } => tools.fixture_0_2,
    };
    let lib = build_fixture(fixture, tools.target_dir, column, preempt)?;
    // Mangled names: `disasm` demangles them, with rustc-demangle.
    let text = toolchain::output(
        Command::new(tools.objdump)
            .args(["-d", "-r", "--no-show-raw-insn"])
            .arg(&lib),
    )?;
    let functions = disasm::parse(&text, wanted)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("disassembly of {}", lib.display()))?;
    let mut measured = BTreeMap::new();
    for name in wanted {
        let Some(insns) = functions.get(*name) else {
            bail!(
                "`{name}` is missing from the disassembly of {} (features: {})",
                lib.display(),
                feature_label(column, preempt)
            );
        };
        let count = disasm::count(column.target.isa, insns);
        measured.insert(
            (*name).to_owned(),
            Measured {
                insns: insns.clone(),
                count,
            },
        );
    }
    Ok(measured)
}

/// `remote_ptr` with `placed` for every plain column measured, against the
/// column's own stride counts (see [`asm_placed`]); and every other
/// function of that build, which must be the stride build's instruction for
/// instruction (one line per function that is not).
fn measure_placed(
    columns: &[Column],
    results: &Results,
    tools: &Tools,
    all: &[&str],
) -> Result<(asm_placed::Measured, Vec<String>)> {
    let names: Vec<String> = TYPES
        .iter()
        .filter(|ty| applies(Op::Remote, ty))
        .map(|ty| symbol(Op::Remote, ty))
        .collect();
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut placed = Vec::new();
    let mut changed = Vec::new();
    for (index, column) in columns.iter().enumerate() {
        let plain = column.features.is_empty()
            && column.target_feature.is_none()
            && column.line == Line::V0_4;
        let Some(stride) = results.get(&(index, false)).filter(|_| plain) else {
            continue;
        };
        let build = Column {
            label: format!("{} {}", column.label, asm_placed::FEATURE),
            target: column.target,
            features: vec![asm_placed::FEATURE],
            target_feature: None,
            budgets: column.budgets,
            line: Line::V0_4,
        };
        let measured = measure(tools, &build, false, all)?;
        for name in all.iter().filter(|name| !wanted.contains(name)) {
            if listing(name, &measured[*name], None) != listing(name, &stride[*name], None) {
                changed.push(format!(
                    "{name} on {} ({}): not the stride build's instructions; the current CPU's accesses must not change",
                    column.label,
                    asm_placed::FEATURE
                ));
            }
        }
        let mut rows = Vec::new();
        for name in &wanted {
            let (m, stride) = (&measured[*name], stride[*name].count.counted);
            rows.push(asm_placed::Row {
                name: (*name).to_owned(),
                stride,
                placed: m.count.counted,
                calls: m.count.calls,
                branches: m.count.branches,
                listing: listing(name, m, Some(stride + 1)),
            });
        }
        placed.push((column.label.clone(), column.target.triple(), rows));
    }
    Ok((placed, changed))
}

/// The compiler the committed listings name (`rustc 1.95.0 (… …)`), when
/// every column's listing is there and they all name the same one.
fn recorded_rustc(columns: &[Column]) -> Option<String> {
    let mut recorded: Option<String> = None;
    for column in columns {
        let text = std::fs::read_to_string(listing_path(column)).ok()?;
        let this = listing_rustc(&text)?;
        if recorded.get_or_insert_with(|| this.to_owned()) != this {
            return None;
        }
    }
    recorded
}

/// The compiler a listing names on its second line, between backquotes.
fn listing_rustc(text: &str) -> Option<&str> {
    let line = text.lines().nth(1)?;
    let start = line.find("`rustc ")? + 1;
    let len = line[start..].find('`')?;
    Some(&line[start..start + len])
}

/// A path as shown in messages: relative to the workspace.
fn relative(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read_or_empty(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    if read_or_empty(path)? == text {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// `llvm-objdump` from the `llvm-tools` component of the running toolchain.
pub fn llvm_objdump() -> Result<PathBuf> {
    let sysroot = toolchain::output(Command::new("rustc").args(["--print", "sysroot"]))?;
    let version = toolchain::output(Command::new("rustc").arg("-vV"))?;
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .context("`rustc -vV` printed no host line")?;
    let path = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host.trim())
        .join("bin/llvm-objdump");
    if !path.is_file() {
        bail!(
            "{} not found although `llvm-tools` is installed",
            path.display()
        );
    }
    Ok(path)
}

pub fn feature_label(column: &Column, preempt: bool) -> String {
    let mut features = column.features.clone();
    if preempt {
        features.push("preempt");
    }
    if features.is_empty() {
        "default".to_owned()
    } else {
        features.join(",")
    }
}

/// Builds the fixture and returns the static library.
fn build_fixture(
    fixture: &Path,
    target_dir: &Path,
    column: &Column,
    preempt: bool,
) -> Result<PathBuf> {
    let mut cmd = column.target.cargo_build();
    cmd.arg("--release")
        .arg("--manifest-path")
        .arg(fixture)
        .arg("--target-dir")
        .arg(target_dir);
    let mut features = column.features.clone();
    if preempt {
        features.push("preempt");
    }
    if column.line == (Line::V0_2 { custom_base: true }) {
        features.push("custom-base");
    }
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    // The counts must not depend on the caller's environment.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    if let Some(feature) = column.target_feature {
        cmd.env(
            "CARGO_ENCODED_RUSTFLAGS",
            format!("-Ctarget-feature={feature}"),
        );
    }
    toolchain::run(&mut cmd)?;
    let lib = target_dir
        .join(column.target.triple())
        .join("release/libpercpu_asm_fixture.a");
    if !lib.is_file() {
        bail!("the build produced no {}", lib.display());
    }
    Ok(lib)
}

/// Every failed check, one line each.
fn check(columns: &[Column], results: &Results) -> Vec<String> {
    let mut violations = Vec::new();
    for (&(index, preempt), functions) in results {
        let column = &columns[index];
        let target = column.target;
        let where_ = format!("{} ({})", column.label, feature_label(column, preempt));
        for op in OPS {
            for ty in TYPES.iter().filter(|ty| applies(op, ty)) {
                let name = symbol(op, ty);
                let Some(m) = functions.get(&name) else {
                    continue;
                };
                let c = &m.count;
                if let Some(budget) = budget(column, op, ty, preempt) {
                    if c.counted > budget {
                        violations.push(format!(
                            "{name} on {where_}: {} instructions, budget {budget}",
                            c.counted
                        ));
                    }
                }
                // 0.2.3-preview.1's `PerCpuData::remote_ptr` is a safe
                // function: with `custom-base` it checks the CPU id.
                let checked_remote = column.line == (Line::V0_2 { custom_base: true });
                if op == Op::Remote && !checked_remote && (c.calls > 0 || c.branches > 0) {
                    violations.push(format!(
                        "{name} on {where_}: {} call(s) and {} branch(es); remote_ptr must be straight-line code (no call, no spin-wait)",
                        c.calls, c.branches
                    ));
                }
                if (op.is_primitive() || op == Op::Ptr) && target.isa == Isa::X86_64 && c.calls > 0
                {
                    violations.push(format!(
                        "{name} on {where_}: calls a guard; x86_64's single-instruction accesses need none"
                    ));
                }
                if op == Op::CounterAdd && c.calls > 0 {
                    violations.push(format!(
                        "{name} on {where_}: {} call(s); PerCpuCounter::add takes no guard, with `preempt` too",
                        c.calls
                    ));
                }
                if op.is_box() && target.isa == Isa::X86_64 && c.calls > 0 {
                    violations.push(format!(
                        "{name} on {where_}: calls a guard; x86_64's single-instruction accesses need none"
                    ));
                }
                if op == Op::Ptr && c.calls > 0 {
                    violations.push(format!(
                        "{name} on {where_}: current_ptr must not call anything"
                    ));
                }
            }
        }
    }
    violations.extend(crate::line02::same_as_0_4(columns, results));
    violations
}

/// The markdown table: one row per operation × type × feature set, one
/// column per target; a cell is `count/budget`, or the count alone.
fn table(columns: &[Column], results: &Results) -> String {
    let mut out = String::from("| operation | type | features |");
    for column in columns {
        let _ = write!(out, " {} |", column.label);
    }
    out.push_str("\n|---|---|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');
    for preempt in [false, true] {
        for op in OPS {
            for ty in TYPES.iter().filter(|ty| applies(op, ty)) {
                let name = symbol(op, ty);
                let _ = write!(
                    out,
                    "| `{}` | `{ty}` | {} |",
                    op.name(),
                    if preempt { "preempt" } else { "default" }
                );
                for (index, column) in columns.iter().enumerate() {
                    let cell = match results.get(&(index, preempt)).and_then(|f| f.get(&name)) {
                        None => "–".to_owned(),
                        Some(m) => {
                            let calls = if m.count.calls > 0 {
                                format!(" ({}c)", m.count.calls)
                            } else {
                                String::new()
                            };
                            match budget(column, op, ty, preempt) {
                                Some(b) if m.count.counted > b => {
                                    format!("**{}/{b} ✗**{calls}", m.count.counted)
                                }
                                Some(b) => format!("{}/{b}{calls}", m.count.counted),
                                None => format!("{}{calls}", m.count.counted),
                            }
                        }
                    };
                    let _ = write!(out, " {cell} |");
                }
                out.push('\n');
            }
        }
    }
    out
}

/// A function's listing: counted instructions indented, the rest marked.
fn listing(name: &str, m: &Measured, budget: Option<usize>) -> String {
    let mut out = format!("{name}: {} counted", m.count.counted);
    if let Some(budget) = budget {
        let _ = write!(out, " (budget {budget})");
    }
    if m.count.calls > 0 {
        let _ = write!(out, ", {} call(s)", m.count.calls);
    }
    out.push('\n');
    for (insn, role) in m.insns.iter().zip(&m.count.roles) {
        let mark = match role {
            Role::Counted => "   ",
            Role::Frame => " f ",
            Role::Return => " r ",
        };
        let _ = write!(out, "{mark} {}", insn.text());
        if let Some(reloc) = &insn.reloc {
            let _ = write!(out, "    ; {reloc}");
        }
        out.push('\n');
    }
    out
}

/// The table and its verdict, for docs/performance.md.
fn render(columns: &[Column], results: &Results, violations: &[String], rustc: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Generated by `cargo xtask asm-report` with `{rustc}` (release profile, one codegen unit); \
         do not edit. A cell is *instructions counted*/*budget* (the count alone where the issue sets no budget); \
         `(2c)` = two calls among them; **✗** = over budget. Every function's listing is in \
         [docs/asm/](asm/), one file per column."
    );
    out.push('\n');
    out.push_str(&table(columns, results));
    out.push('\n');
    if violations.is_empty() {
        out.push_str("Every count is within its budget.\n");
    } else {
        out.push_str("**Failed checks:**\n\n");
        for v in violations {
            let _ = writeln!(out, "- {v}");
        }
    }
    out
}

/// The few counts the README shows: `usize`, default features, each
/// target's plain column.
const SUMMARY_OPS: [Op; 4] = [Op::Read, Op::Write, Op::Add, Op::Ptr];

/// The README's table, from the same counts as the full one.
fn summary(columns: &[Column], results: &Results) -> String {
    let plain: Vec<usize> = (0..columns.len())
        .filter(|&i| {
            columns[i].features.is_empty()
                && columns[i].target_feature.is_none()
                && columns[i].line == Line::V0_4
        })
        .collect();
    let mut out = String::from(
        "Generated by `cargo xtask asm-report`, do not edit: instructions of a `usize` \
         access with default features, not counting the return.\n\n| operation |",
    );
    for &i in &plain {
        let _ = write!(out, " {} |", columns[i].label);
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(plain.len()));
    out.push('\n');
    for op in SUMMARY_OPS {
        let _ = write!(out, "| `{}` |", op.name());
        for &i in &plain {
            let cell = results
                .get(&(i, false))
                .and_then(|f| f.get(&symbol(op, "usize")))
                .map_or("–".to_owned(), |m| m.count.counted.to_string());
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out
}

/// Where a column's listings go.
fn listing_path(column: &Column) -> PathBuf {
    workspace_root()
        .join("docs/asm")
        .join(format!("{}.txt", column.file_stem()))
}

/// One column's snapshot file: every function, default features then
/// `preempt`.
fn column_listings(columns: &[Column], index: usize, results: &Results, rustc: &str) -> String {
    let column = &columns[index];
    let mut out = format!(
        "Generated by `cargo xtask asm-report`, do not edit.\n\
         {} ({}), `{rustc}`, release profile, one codegen unit.\n\
         f = frame prologue/epilogue, r = return: not counted; `;` = relocation target.\n",
        column.label,
        column.target.triple()
    );
    for preempt in [false, true] {
        let Some(functions) = results.get(&(index, preempt)) else {
            continue;
        };
        let _ = write!(out, "\n## features: {}\n", feature_label(column, preempt));
        for op in OPS {
            for ty in TYPES.iter().filter(|ty| applies(op, ty)) {
                let name = symbol(op, ty);
                if let Some(m) = functions.get(&name) {
                    out.push('\n');
                    out.push_str(&listing(&name, m, budget(column, op, ty, preempt)));
                }
            }
        }
    }
    out
}

const SECTION: &str = "asm-report";

/// The README's section.
const SUMMARY_SECTION: &str = "asm-summary";

fn readme_path() -> PathBuf {
    workspace_root().join("README.md")
}

pub fn docs_path() -> PathBuf {
    workspace_root().join("docs/performance.md")
}

/// Replaces what lies between `<!-- NAME:start -->` and `<!-- NAME:end -->`
/// with `body`; appends the marked section when the markers are missing.
pub fn splice_section(doc: &str, name: &str, body: &str) -> String {
    let start = format!("<!-- {name}:start -->");
    let end = format!("<!-- {name}:end -->");
    let replacement = format!("{start}\n{}\n{end}", body.trim_end());
    if let Some(s) = doc.find(&start) {
        if let Some(e) = doc[s..].find(&end) {
            let e = s + e + end.len();
            return format!("{}{replacement}{}", &doc[..s], &doc[e..]);
        }
    }
    let mut out = doc.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&replacement);
    out.push('\n');
    out
}

/// Splices `body` into docs/performance.md (creating it if needed).
pub fn write_section(name: &str, body: &str) -> Result<()> {
    let path = docs_path();
    let doc = match std::fs::read_to_string(&path) {
        Ok(doc) => doc,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let updated = splice_section(&doc, name, body);
    if updated != doc {
        std::fs::write(&path, updated)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(isa: Isa, body: &str) -> Measured {
        let text = format!("0000000000000000 <f>:\n{body}");
        let insns = disasm::parse(&text, &["f"]).unwrap().remove("f").unwrap();
        let count = disasm::count(isa, &insns);
        Measured { insns, count }
    }

    fn results_with(index: usize, preempt: bool, name: &str, m: Measured) -> Results {
        let mut results = Results::new();
        results
            .entry((index, preempt))
            .or_default()
            .insert(name.to_owned(), m);
        results
    }

    const X86: usize = 0;
    const AARCH64: usize = 1;

    #[test]
    fn within_budget_passes() {
        let m = measured(Isa::X86_64, "  0:\tmovq\t%gs:0x0, %rax\n  9:\tretq\n");
        assert!(check(
            &columns(),
            &results_with(X86, false, "read_current_usize", m)
        )
        .is_empty());
    }

    #[test]
    fn over_budget_fails() {
        // A read that goes through the self pointer: 2 > 1.
        let m = measured(
            Isa::X86_64,
            "  0:\tmovq\t%gs:0x0, %rax\n  9:\tmovq\t(%rax), %rax\n  c:\tretq\n",
        );
        let v = check(
            &columns(),
            &results_with(X86, false, "read_current_usize", m),
        );
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("2 instructions, budget 1"), "{v:?}");
    }

    #[test]
    fn guard_call_on_x86_fails_even_with_preempt() {
        let m = measured(
            Isa::X86_64,
            "  0:\tpushq\t%rax\n  1:\tcallq\t*(%rip)\n  7:\tmovq\t%gs:0x0, %rax\n  9:\tpopq\t%rcx\n  a:\tretq\n",
        );
        let v = check(
            &columns(),
            &results_with(X86, true, "read_current_usize", m),
        );
        assert!(v.iter().any(|v| v.contains("calls a guard")), "{v:?}");
    }

    #[test]
    fn a_counter_add_that_calls_fails_with_preempt_too() {
        for preempt in [false, true] {
            let m = measured(
                Isa::Aarch64,
                "  0:\tbl\t0x0 <f>\n  4:\tmrs\tx8, TPIDR_EL1\n  8:\tret\n",
            );
            let v = check(
                &columns(),
                &results_with(AARCH64, preempt, "counter_add_box", m),
            );
            assert!(v.iter().any(|v| v.contains("takes no guard")), "{v:?}");
        }
    }

    #[test]
    fn a_box_access_is_held_to_its_budget() {
        // Two loads of the offset: 3 > 2 on x86_64.
        let m = measured(
            Isa::X86_64,
            "  0:\tmovq\t(%rdi), %rcx\n  3:\tmovq\t(%rcx), %rcx\n  6:\tmovq\t%gs:(%rcx), %rax\n  9:\tretq\n",
        );
        let v = check(
            &columns(),
            &results_with(X86, false, "box_read_current_i32", m),
        );
        assert!(
            v.iter().any(|v| v.contains("3 instructions, budget 2")),
            "{v:?}"
        );
    }

    #[test]
    fn preempt_budget_adds_the_guard_outside_x86() {
        let columns = columns();
        let col = &columns[AARCH64];
        assert_eq!(budget(col, Op::Read, "usize", false), Some(4));
        assert_eq!(budget(col, Op::Read, "usize", true), Some(7));
        assert_eq!(budget(col, Op::Ptr, "usize", true), Some(4));
        assert_eq!(budget(&columns[X86], Op::Add, "usize", true), Some(1));
        assert_eq!(budget(col, Op::With, "usize", true), None);
        // The read-modify-write set is atomic outside x86_64: LL/SC on
        // AArch64, `stadd` with LSE, one AMO on RISC-V.
        assert_eq!(budget(col, Op::Add, "usize", false), Some(8));
        let lse = columns.iter().find(|c| c.label == "aarch64 lse").unwrap();
        assert_eq!(budget(lse, Op::Add, "usize", false), Some(5));
        let rv = columns.iter().find(|c| c.label == "riscv64").unwrap();
        assert_eq!(budget(rv, Op::Add, "i32", false), Some(4));
        assert_eq!(budget(rv, Op::Add, "u8", false), Some(15));
    }

    #[test]
    fn remote_ptr_with_a_spin_wait_fails() {
        let m = measured(
            Isa::Aarch64,
            "  0:\tldar\tw8, [x1]\n  4:\tcbnz\tw8, 0x0 <f>\n  8:\tmadd\tx0, x9, x0, x8\n  c:\tret\n",
        );
        let v = check(
            &columns(),
            &results_with(AARCH64, false, "remote_ptr_usize", m),
        );
        assert!(v.iter().any(|v| v.contains("straight-line")), "{v:?}");
    }

    #[test]
    fn the_readme_summary_shows_plain_columns_and_usize_counts() {
        let m = measured(
            Isa::Aarch64,
            "  0:\tnop\n  4:\tnop\n  8:\tnop\n  c:\tnop\n  10:\tnop\n  14:\tret\n",
        );
        let columns = columns();
        let text = summary(
            &columns,
            &results_with(AARCH64, false, "add_current_usize", m),
        );
        let header = text.lines().find(|l| l.starts_with("| operation")).unwrap();
        // One column per target, none for a feature variant.
        assert_eq!(header.matches('|').count(), TARGETS.len() + 2, "{header}");
        assert!(
            !header.contains("arm-el2") && !header.contains("lse"),
            "{header}"
        );
        let add = text
            .lines()
            .find(|l| l.starts_with("| `add_current`"))
            .unwrap();
        // x86_64 unmeasured, AArch64 5 (the return not counted).
        assert!(add.starts_with("| `add_current` | – | 5 |"), "{add}");
        // A u8 count never stands in for the usize one.
        let m = measured(Isa::Aarch64, "  0:\tnop\n  4:\tret\n");
        let text = summary(&columns, &results_with(AARCH64, false, "add_current_u8", m));
        assert!(text.contains("| `add_current` | – | – |"), "{text}");
    }

    #[test]
    fn table_marks_failures() {
        let m = measured(
            Isa::Aarch64,
            "  0:\tnop\n  4:\tnop\n  8:\tnop\n  c:\tnop\n  10:\tnop\n  14:\tret\n",
        );
        let t = table(
            &columns(),
            &results_with(AARCH64, false, "read_current_u8", m),
        );
        assert!(t.contains("**5/4 ✗**"), "{t}");
    }

    #[test]
    fn splices_between_markers_and_appends_otherwise() {
        let doc = "# T\n\n<!-- x:start -->\nold\n<!-- x:end -->\n\ntail\n";
        let out = splice_section(doc, "x", "new\n");
        assert_eq!(
            out,
            "# T\n\n<!-- x:start -->\nnew\n<!-- x:end -->\n\ntail\n"
        );
        assert_eq!(splice_section(&out, "x", "new"), out, "idempotent");
        let appended = splice_section("# T\n", "y", "body");
        assert!(
            appended.ends_with("\n<!-- y:start -->\nbody\n<!-- y:end -->\n"),
            "{appended}"
        );
    }

    #[test]
    fn a_listing_names_its_compiler() {
        let columns = columns();
        let text = column_listings(
            &columns,
            X86,
            &Results::new(),
            "rustc 1.95.0 (abc 2026-04-14)",
        );
        assert_eq!(listing_rustc(&text), Some("rustc 1.95.0 (abc 2026-04-14)"));
        assert_eq!(listing_rustc("Generated\nno compiler here\n"), None);
        // The committed listings all name one compiler.
        assert!(recorded_rustc(&columns).is_some());
    }

    #[test]
    fn columns_follow_the_target_table() {
        let labels: Vec<String> = columns().into_iter().map(|c| c.label).collect();
        assert_eq!(labels[X86], "x86_64");
        assert_eq!(labels[AARCH64], "aarch64");
        assert!(labels.contains(&"aarch64 arm-el2".to_owned()));
        assert!(labels.contains(&"armv7".to_owned()));
        assert!(column_label("vax").is_err());
        assert_eq!(columns()[2].file_stem(), "aarch64-arm-el2");
    }
}
