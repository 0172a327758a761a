//! `cargo xtask asm-report`: builds the codegen fixture (`xtask/asm-fixture`)
//! for every target, with default features and with `preempt`,
//! disassembles it with `llvm-objdump`, counts the instructions of each
//! exported function (one per-CPU operation each), prints one table and
//! writes it into `docs/performance.md` between the `asm-report` markers.
//!
//! Fails (after writing the table) when a count exceeds its budget, when
//! `remote_ptr` calls or branches (a spin-wait needs a branch), or when an
//! x86_64 primitive operation calls a guard. Counts are deterministic for a
//! given toolchain: no timings, no addresses, no hashes.

mod disasm;

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::toolchain::{self, workspace_root};
use disasm::{Count, Insn, Isa, Role};

/// One column of the table: a target and the features that select it.
struct Column {
    label: &'static str,
    target: &'static str,
    features: &'static [&'static str],
    isa: Isa,
    /// Instructions of one call as the compiler emits it in an object file
    /// (`auipc`+`jalr` on RISC-V, `pcaddu18i`+`jirl` on LoongArch).
    call_len: usize,
}

const COLUMNS: &[Column] = &[
    Column {
        label: "x86_64",
        target: "x86_64-unknown-none",
        features: &[],
        isa: Isa::X86_64,
        call_len: 1,
    },
    Column {
        label: "aarch64",
        target: "aarch64-unknown-none",
        features: &[],
        isa: Isa::Aarch64,
        call_len: 1,
    },
    Column {
        label: "aarch64 arm-el2",
        target: "aarch64-unknown-none",
        features: &["arm-el2"],
        isa: Isa::Aarch64,
        call_len: 1,
    },
    Column {
        label: "riscv64",
        target: "riscv64gc-unknown-none-elf",
        features: &[],
        isa: Isa::Riscv,
        call_len: 2,
    },
    Column {
        label: "riscv32",
        target: "riscv32imac-unknown-none-elf",
        features: &[],
        isa: Isa::Riscv,
        call_len: 2,
    },
    Column {
        label: "loongarch64",
        target: "loongarch64-unknown-none",
        features: &[],
        isa: Isa::Loongarch64,
        call_len: 2,
    },
    Column {
        label: "armv7-a",
        target: "armv7a-none-eabi",
        features: &[],
        isa: Isa::Arm,
        call_len: 1,
    },
];

/// The operations, in table order; the fixture exports `<op>_<type>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Add,
    With,
    Ptr,
    Remote,
}

const OPS: [Op; 6] = [Op::Read, Op::Write, Op::Add, Op::With, Op::Ptr, Op::Remote];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "read_current",
            Op::Write => "write_current",
            Op::Add => "add_current",
            Op::With => "with_current",
            Op::Ptr => "current_ptr",
            Op::Remote => "remote_ptr",
        }
    }

    /// The single-access operations exist for primitives only.
    fn is_primitive(self) -> bool {
        matches!(self, Op::Read | Op::Write | Op::Add)
    }
}

/// The fixture's variable types: three primitives and a 3-word struct.
const TYPES: [&str; 4] = ["usize", "u8", "i32", "triple"];

fn applies(op: Op, ty: &str) -> bool {
    !(op.is_primitive() && ty == "triple")
}

fn symbol(op: Op, ty: &str) -> String {
    format!("{}_{}", op.name(), ty)
}

/// Budgets with default features: the shortest sequence for a 32-bit
/// offset reach (docs/performance.md explains each). `current_ptr` is the
/// read with its load replaced by the add the load's addressing did.
fn base_budget(isa: Isa, op: Op) -> Option<usize> {
    let (read, add, ptr) = match isa {
        Isa::X86_64 => (1, 1, 2),
        Isa::Aarch64 | Isa::Arm => (4, 6, 4),
        Isa::Riscv | Isa::Loongarch64 => (3, 5, 3),
    };
    match op {
        Op::Read | Op::Write => Some(read),
        Op::Add => Some(add),
        Op::Ptr => Some(ptr),
        Op::With | Op::Remote => None,
    }
}

/// What `preempt` adds to a primitive operation outside x86_64: the two
/// guard calls (the runtime's guard calls `KernelGuardIf` directly, with no
/// argument), and one move that keeps the value (the read's result, the
/// write's operand) in a callee-saved register across a call.
fn guard_overhead(column: &Column) -> usize {
    match column.isa {
        Isa::X86_64 => 0,
        _ => 2 * column.call_len + 1,
    }
}

fn budget(column: &Column, op: Op, preempt: bool) -> Option<usize> {
    let base = base_budget(column.isa, op)?;
    Some(if preempt && op.is_primitive() {
        base + guard_overhead(column)
    } else {
        base
    })
}

/// One disassembled function and its count.
struct Measured {
    insns: Vec<Insn>,
    count: Count,
}

/// Everything measured: (column index, preempt) to function name to count.
type Results = BTreeMap<(usize, bool), BTreeMap<String, Measured>>;

struct Options {
    write: bool,
    check: bool,
    target_dir: Option<PathBuf>,
    only: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut options = Options {
        write: true,
        check: false,
        target_dir: None,
        only: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-write" => options.write = false,
            "--check" => options.check = true,
            "--target-dir" => {
                let dir = args.next().context("`--target-dir` needs a directory")?;
                options.target_dir = Some(PathBuf::from(dir));
            }
            "--only" => {
                let label = args.next().context("`--only` needs a column name")?;
                if !COLUMNS.iter().any(|c| c.label == label) {
                    bail!(
                        "unknown column `{label}`; one of: {}",
                        COLUMNS.iter().map(|c| c.label).collect::<Vec<_>>().join(", ")
                    );
                }
                options.only = Some(label.clone());
            }
            other => bail!(
                "unknown argument `{other}`\n\nusage: cargo xtask asm-report [--no-write] [--check] \
                 [--target-dir DIR] [--only COLUMN]"
            ),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> Result<()> {
    let options = parse_args(args)?;
    let targets: Vec<&str> = COLUMNS
        .iter()
        .map(|c| c.target)
        .filter(|t| !crate::ci::needs_build_std(t))
        .collect();
    toolchain::ensure_targets(&targets)?;
    toolchain::ensure_components(&["llvm-tools", "rust-src"])?;
    let objdump = llvm_objdump()?;
    let root = workspace_root();
    let fixture = root.join("xtask/asm-fixture/Cargo.toml");
    let target_dir = options
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

    let mut results = Results::new();
    for (index, column) in COLUMNS.iter().enumerate() {
        if options
            .only
            .as_deref()
            .is_some_and(|only| only != column.label)
        {
            continue;
        }
        for preempt in [false, true] {
            let lib = build_fixture(&fixture, &target_dir, column, preempt)?;
            let text = toolchain::output(
                Command::new(&objdump)
                    .args(["-d", "-r", "-C", "--no-show-raw-insn"])
                    .arg(&lib),
            )?;
            let functions = disasm::parse(&text, &wanted)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("disassembly of {}", lib.display()))?;
            let mut measured = BTreeMap::new();
            for name in &wanted {
                let Some(insns) = functions.get(*name) else {
                    bail!(
                        "`{name}` is missing from the disassembly of {} (features: {})",
                        lib.display(),
                        feature_label(column, preempt)
                    );
                };
                let count = disasm::count(column.isa, insns);
                measured.insert(
                    (*name).to_owned(),
                    Measured {
                        insns: insns.clone(),
                        count,
                    },
                );
            }
            results.insert((index, preempt), measured);
        }
    }

    let violations = check(&results);
    let rustc = toolchain::output(Command::new("rustc").arg("-V"))?;
    let section = render(&results, &violations, rustc.trim());
    println!("{}", table(&results));

    if options.only.is_some() {
        eprintln!("asm-report: `--only` given, docs/performance.md left alone");
    } else if options.check {
        let doc = std::fs::read_to_string(docs_path()).unwrap_or_default();
        if splice_section(&doc, SECTION, &section) != doc {
            bail!("docs/performance.md is out of date: run `cargo xtask asm-report`");
        }
    } else if options.write {
        write_section(SECTION, &section)?;
        eprintln!("asm-report: wrote the table to docs/performance.md");
    }

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

/// `llvm-objdump` from the `llvm-tools` component of the running toolchain.
fn llvm_objdump() -> Result<PathBuf> {
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

fn feature_label(column: &Column, preempt: bool) -> String {
    let mut features: Vec<&str> = column.features.to_vec();
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
    let mut cmd = crate::ci::cross_build(column.target);
    cmd.arg("--release")
        .arg("--manifest-path")
        .arg(fixture)
        .arg("--target-dir")
        .arg(target_dir);
    let mut features: Vec<&str> = column.features.to_vec();
    if preempt {
        features.push("preempt");
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
    toolchain::run(&mut cmd)?;
    let lib = target_dir
        .join(column.target)
        .join("release/libpercpu_asm_fixture.a");
    if !lib.is_file() {
        bail!("the build produced no {}", lib.display());
    }
    Ok(lib)
}

/// Every failed check, one line each.
fn check(results: &Results) -> Vec<String> {
    let mut violations = Vec::new();
    for (&(index, preempt), functions) in results {
        let column = &COLUMNS[index];
        let where_ = format!("{} ({})", column.label, feature_label(column, preempt));
        for op in OPS {
            for ty in TYPES.iter().filter(|ty| applies(op, ty)) {
                let name = symbol(op, ty);
                let Some(m) = functions.get(&name) else {
                    continue;
                };
                let c = &m.count;
                if let Some(budget) = budget(column, op, preempt) {
                    if c.counted > budget {
                        violations.push(format!(
                            "{name} on {where_}: {} instructions, budget {budget}",
                            c.counted
                        ));
                    }
                }
                if op == Op::Remote && (c.calls > 0 || c.branches > 0) {
                    violations.push(format!(
                        "{name} on {where_}: {} call(s) and {} branch(es); remote_ptr must be straight-line code (no call, no spin-wait)",
                        c.calls, c.branches
                    ));
                }
                if (op.is_primitive() || op == Op::Ptr) && column.isa == Isa::X86_64 && c.calls > 0
                {
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
    violations
}

/// The markdown table: one row per operation × type × feature set, one
/// column per target; a cell is `count/budget`, or the count alone.
fn table(results: &Results) -> String {
    let mut out = String::from("| operation | type | features |");
    for column in COLUMNS {
        let _ = write!(out, " {} |", column.label);
    }
    out.push_str("\n|---|---|---|");
    out.push_str(&"---|".repeat(COLUMNS.len()));
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
                for (index, column) in COLUMNS.iter().enumerate() {
                    let cell = match results.get(&(index, preempt)).and_then(|f| f.get(&name)) {
                        None => "–".to_owned(),
                        Some(m) => {
                            let calls = if m.count.calls > 0 {
                                format!(" ({}c)", m.count.calls)
                            } else {
                                String::new()
                            };
                            match budget(column, op, preempt) {
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
fn listing(name: &str, m: &Measured) -> String {
    let mut out = format!("{name}: {} counted", m.count.counted);
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

fn render(results: &Results, violations: &[String], rustc: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Generated by `cargo xtask asm-report` with `{rustc}` (release profile, one codegen unit). \
         A cell is *instructions counted*/*budget* (the count alone where the issue sets no budget); \
         `(2c)` = two calls among them; **✗** = over budget."
    );
    out.push('\n');
    out.push_str(&table(results));
    out.push('\n');
    if violations.is_empty() {
        out.push_str("Every count is within its budget.\n");
    } else {
        out.push_str("**Failed checks:**\n\n");
        for v in violations {
            let _ = writeln!(out, "- {v}");
        }
    }
    out.push('\n');
    // The `usize` functions everywhere, and every function over budget.
    for (&(index, preempt), functions) in results {
        let column = &COLUMNS[index];
        let _ = writeln!(
            out,
            "<details><summary>{} ({}): disassembly</summary>\n\n```text",
            column.label,
            feature_label(column, preempt)
        );
        out.push_str(
            "(f = frame prologue/epilogue, r = return: not counted; `;` = relocation target)\n",
        );
        for op in OPS {
            for ty in TYPES.iter().filter(|ty| applies(op, ty)) {
                let name = symbol(op, ty);
                let Some(m) = functions.get(&name) else {
                    continue;
                };
                let over = budget(column, op, preempt).is_some_and(|b| m.count.counted > b);
                if *ty == "usize" || over {
                    out.push('\n');
                    out.push_str(&listing(&name, m));
                }
            }
        }
        out.push_str("```\n\n</details>\n\n");
    }
    out
}

const SECTION: &str = "asm-report";

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
        assert!(check(&results_with(X86, false, "read_current_usize", m)).is_empty());
    }

    #[test]
    fn over_budget_fails() {
        // A read that goes through the self pointer: 2 > 1.
        let m = measured(
            Isa::X86_64,
            "  0:\tmovq\t%gs:0x0, %rax\n  9:\tmovq\t(%rax), %rax\n  c:\tretq\n",
        );
        let v = check(&results_with(X86, false, "read_current_usize", m));
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("2 instructions, budget 1"), "{v:?}");
    }

    #[test]
    fn guard_call_on_x86_fails_even_with_preempt() {
        let m = measured(
            Isa::X86_64,
            "  0:\tpushq\t%rax\n  1:\tcallq\t*(%rip)\n  7:\tmovq\t%gs:0x0, %rax\n  9:\tpopq\t%rcx\n  a:\tretq\n",
        );
        let v = check(&results_with(X86, true, "read_current_usize", m));
        assert!(v.iter().any(|v| v.contains("calls a guard")), "{v:?}");
    }

    #[test]
    fn preempt_budget_adds_the_guard_outside_x86() {
        let col = &COLUMNS[AARCH64];
        assert_eq!(budget(col, Op::Read, false), Some(4));
        assert_eq!(budget(col, Op::Read, true), Some(7));
        assert_eq!(budget(col, Op::Ptr, true), Some(4));
        assert_eq!(budget(&COLUMNS[X86], Op::Add, true), Some(1));
        assert_eq!(budget(col, Op::With, true), None);
    }

    #[test]
    fn remote_ptr_with_a_spin_wait_fails() {
        let m = measured(
            Isa::Aarch64,
            "  0:\tldar\tw8, [x1]\n  4:\tcbnz\tw8, 0x0 <f>\n  8:\tmadd\tx0, x9, x0, x8\n  c:\tret\n",
        );
        let v = check(&results_with(AARCH64, false, "remote_ptr_usize", m));
        assert!(v.iter().any(|v| v.contains("straight-line")), "{v:?}");
    }

    #[test]
    fn table_marks_failures() {
        let m = measured(
            Isa::Aarch64,
            "  0:\tnop\n  4:\tnop\n  8:\tnop\n  c:\tnop\n  10:\tnop\n  14:\tret\n",
        );
        let t = table(&results_with(AARCH64, false, "read_current_u8", m));
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
    fn bad_arguments_are_errors_not_panics() {
        assert!(parse_args(&["--bogus".into()]).is_err());
        assert!(parse_args(&["--target-dir".into()]).is_err());
        assert!(parse_args(&["--only".into(), "vax".into()]).is_err());
        assert!(parse_args(&["--only".into(), "riscv64".into()]).is_ok());
    }
}
