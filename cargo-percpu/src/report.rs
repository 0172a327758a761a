//! The inspection report: the layout of `.percpu`, its variables, and the
//! named checks that decide the exit status.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dwarf::{self, DebugInfo};
use crate::elf::{self, ElfError, ElfFacts};
use crate::style::{self, paint};
use percpu_layout::{area_stride, is_area_align, symbols, DEFAULT_AREA_ALIGN, VARIABLE_PREFIX};

/// What to check beyond the defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectOptions {
    /// Check that the reservation holds at least this many areas.
    pub cpus: Option<usize>,
    /// The area alignment, for a script that does not define
    /// `_percpu_area_align` (`--align`); a script's own symbol wins.
    pub align: u64,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions {
            cpus: None,
            align: DEFAULT_AREA_ALIGN,
        }
    }
}

/// The header facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// The path as given.
    pub path: String,
    /// `ELF64` or `ELF32`.
    pub class: String,
    /// `little` or `big`.
    pub endian: String,
    /// Our name of the architecture (`percpu_layout::Arch::name`), or
    /// another name (`EM_<n>` when unknown).
    pub machine: String,
    /// `executable`, `shared-object`, `relocatable`, `core` or `other`.
    pub kind: String,
    /// `e_entry`.
    pub entry: u64,
    /// Whether the file carries DWARF (`.debug_info`) that the report read
    /// types and alignments from.
    pub debug_info: bool,
}

/// The `.percpu` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionReport {
    /// Always true: an absent section is `null` in JSON.
    pub present: bool,
    /// Its VMA.
    pub vma: u64,
    /// Its load address.
    pub lma: u64,
    /// The bytes the file holds for it (0 when `nobits`).
    pub file_size: u64,
    /// The bytes it takes in memory: every reserved area.
    pub mem_size: u64,
    /// Whether it is `SHT_NOBITS` (`NOLOAD`).
    pub nobits: bool,
    /// Its alignment.
    pub align: u64,
}

/// The template, CPU 0's area: `_percpu_load_start .. _percpu_load_end`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateReport {
    /// `_percpu_load_start` (the section's VMA when the symbol is missing).
    pub start: u64,
    /// `_percpu_load_end` (the section's end when the symbol is missing).
    pub end: u64,
    /// `end - start`.
    pub size: u64,
    /// The area alignment: `_percpu_area_align`, else `--align`.
    pub align: u64,
    /// The area stride: the size rounded up to the alignment, at least one
    /// alignment unit so that an empty template still gives distinct areas.
    pub stride: u64,
    /// How many areas the section reserves: memory size / stride; 0 for
    /// a template-only script.
    pub areas: u64,
    /// Where each area's dynamic region (run-time allocations, `--dynamic`)
    /// starts: the template's end rounded up to
    /// `percpu_layout::DYNAMIC_ALIGN`.
    pub dynamic_start: u64,
    /// Bytes of dynamic region per area: the stride after `dynamic_start`.
    pub dynamic_size: u64,
    /// A template-only script for placed areas (`ldscript --placed`, which
    /// defines `_percpu_placed`): the section holds the template and no
    /// area, and `stride` is the size of each area the platform places.
    /// Absent (false) in reports older than it.
    #[serde(default)]
    pub placed: bool,
}

/// One per-CPU variable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    /// The name as the user wrote it: demangled, without `__PERCPU_`.
    pub name: String,
    /// The raw symbol.
    pub symbol: String,
    /// Its offset in every area.
    pub offset: u64,
    /// Its size: the symbol's, or its type's in DWARF when the symbol has none.
    pub size: u64,
    /// Its alignment: from DWARF when the file has it for this variable;
    /// otherwise inferred, see [`Variable::align_inferred`].
    pub align: u64,
    /// True when `align` is not known but inferred from the offset: the
    /// largest power of two that divides it, at most the section's alignment
    /// (ELF keeps no alignment per symbol).
    pub align_inferred: bool,
    /// Its type as Rust spells it (`usize`, `[u8; 4096]`,
    /// `kernel::sched::RunQueue`), when DWARF names it.
    pub type_name: Option<String>,
    /// One of the runtime's own variables (`percpu::…`: x86_64's
    /// `SELF_PTR`, the debug-build borrow table), not the program's.
    pub bookkeeping: bool,
}

/// One named check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// A stable name, such as `template-in-file`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was found, in one line.
    pub detail: String,
}

/// The version of the JSON schema, `schema_version` in every document (see
/// [`crate::json`] and `docs/inspect-json.md`).
///
/// 2: variables gained `align_inferred` and `type_name` (from DWARF, so
/// `align` is the real alignment when the file has debug information),
/// `file` gained `debug_info`, and every document gained `document`.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything `cargo percpu inspect` reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The JSON schema version, [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What the document is: [`DOCUMENT`].
    pub document: String,
    /// The header.
    pub file: FileReport,
    /// The section, if present.
    pub section: Option<SectionReport>,
    /// The template.
    pub template: TemplateReport,
    /// The variables, by offset.
    pub variables: Vec<Variable>,
    /// The checks, in a fixed order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }

    /// The check of that name.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|check| check.name == name)
    }
}

/// The `document` of an inspection report.
pub const DOCUMENT: &str = "inspect";

/// Check names, in report order.
pub mod checks {
    /// `.percpu` exists.
    pub const SECTION: &str = "section-exists";
    /// VMA 0, or VMA = load address for `non-zero-vma`.
    pub const VMA: &str = "vma";
    /// The template's initial values are in the file and loaded.
    pub const TEMPLATE_IN_FILE: &str = "template-in-file";
    /// The file has a symbol table, and (in a linked file) the four layout
    /// symbols exist and agree with the section.
    pub const SYMBOLS: &str = "symbols";
    /// The reservation holds `--cpus` areas; for a template-only script
    /// (placed areas), the section holds the template alone.
    pub const RESERVATION: &str = "reservation";
    /// Every variable lies inside the template.
    pub const TEMPLATE_BOUNDS: &str = "template-bounds";
    /// Every offset fits the reach of the access sequence.
    pub const REACH: &str = "reach";
    /// RISC-V only: `__global_pointer$` is not defined, so the linker never
    /// relaxes an access against `gp` (the per-CPU base).
    pub const GLOBAL_POINTER: &str = "global-pointer";
}

/// Whether a variable is the runtime's own: it lives in the `percpu`
/// crate itself.
pub fn is_bookkeeping(name: &str) -> bool {
    name.starts_with("percpu::")
}

/// Inspects a file: maps it and reads it.
pub fn inspect_path(path: &Path, opts: &InspectOptions) -> Result<Report, ElfError> {
    let shown = path.display().to_string();
    let file =
        std::fs::File::open(path).map_err(|err| ElfError(format!("cannot open {shown}: {err}")))?;
    let meta = file
        .metadata()
        .map_err(|err| ElfError(format!("cannot read {shown}: {err}")))?;
    if !meta.is_file() {
        return Err(ElfError(format!("{shown} is not a regular file")));
    }
    if meta.len() == 0 {
        return Err(ElfError(format!("{shown} is empty")));
    }
    // SAFETY: the map is read-only and dropped before returning; a file
    // truncated underneath us is the one hazard, as for every mapping tool.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|err| ElfError(format!("cannot map {shown}: {err}")))?;
    inspect_bytes(&map, &shown, opts).map_err(|err| ElfError(format!("{shown}: {err}")))
}

/// Inspects the bytes of an ELF file; `path` is only shown.
pub fn inspect_bytes(data: &[u8], path: &str, opts: &InspectOptions) -> Result<Report, ElfError> {
    if !is_area_align(opts.align) {
        return Err(ElfError(format!(
            "the alignment must be a power of two of at least {DEFAULT_AREA_ALIGN}, not {}",
            opts.align
        )));
    }
    let facts = elf::read(data)?;
    let wanted = facts.variables.iter().map(|v| v.symbol.as_str()).collect();
    let debug = dwarf::read(data, &wanted);
    Ok(build(&facts, &debug, path, opts))
}

/// Strips the mangling and the `__PERCPU_` prefix of the last path segment.
pub fn variable_name(symbol: &str) -> String {
    let demangled = match rustc_demangle::try_demangle(symbol) {
        Ok(d) => format!("{d:#}"),
        Err(_) => symbol.to_string(),
    };
    let (path, last) = match demangled.rfind("::") {
        Some(at) => demangled.split_at(at + 2),
        None => ("", demangled.as_str()),
    };
    match last.strip_prefix(VARIABLE_PREFIX) {
        Some(rest) if !rest.is_empty() => format!("{path}{rest}"),
        _ => demangled.clone(),
    }
}

fn build(facts: &ElfFacts, debug: &DebugInfo, path: &str, opts: &InspectOptions) -> Report {
    let f = &facts.file;
    let file = FileReport {
        path: path.to_string(),
        class: format!("ELF{}", f.bits),
        endian: if f.big_endian { "big" } else { "little" }.to_string(),
        machine: f.machine_name(),
        kind: f.kind_name().to_string(),
        entry: f.entry,
        debug_info: debug.present,
    };
    let Some(sec) = facts.section.as_ref() else {
        return Report {
            schema_version: SCHEMA_VERSION,
            document: DOCUMENT.into(),
            file,
            section: None,
            template: TemplateReport {
                start: 0,
                end: 0,
                size: 0,
                align: 0,
                stride: 0,
                areas: 0,
                dynamic_start: 0,
                dynamic_size: 0,
                placed: false,
            },
            variables: Vec::new(),
            checks: vec![Check {
                name: checks::SECTION.into(),
                passed: false,
                detail: "no .percpu section".into(),
            }],
        };
    };
    let template = template_report(facts, sec, opts);
    let variables = variables(facts, debug, sec, template.start);
    let seen = Seen {
        facts,
        sec,
        opts,
        template: &template,
        variables: &variables,
        machine: &file.machine,
    };
    let checks = CHECKS
        .iter()
        .filter_map(|(name, check)| {
            check(&seen).map(|(passed, detail)| Check {
                name: (*name).into(),
                passed,
                detail,
            })
        })
        .collect();
    Report {
        schema_version: SCHEMA_VERSION,
        document: DOCUMENT.into(),
        file,
        section: Some(SectionReport {
            present: true,
            vma: sec.vma,
            lma: sec.lma,
            file_size: sec.file_size,
            mem_size: sec.mem_size,
            nobits: sec.nobits,
            align: sec.align,
        }),
        template,
        variables,
        checks,
    }
}

/// The template's bounds, alignment, stride and area count.
fn template_report(
    facts: &ElfFacts,
    sec: &elf::PercpuSection,
    opts: &InspectOptions,
) -> TemplateReport {
    let section_end = sec.vma.saturating_add(sec.mem_size);
    let start = facts.load_start.unwrap_or(sec.vma);
    let end = facts.load_end.unwrap_or(section_end);
    let size = end.saturating_sub(start);
    // The script's own alignment and stride when it defines them, else the
    // rule for `--align`.
    let (script_align, script_stride) = script_layout(facts, start);
    let align = script_align.unwrap_or(opts.align);
    // The rule needs a power of two: a script's symbol may hold anything
    // (`symbols` reports it).
    let stride = script_stride
        .or_else(|| is_area_align(align).then(|| area_stride(size, align))?)
        .unwrap_or(u64::MAX)
        .max(1);
    let placed = facts.placed.is_some();
    TemplateReport {
        start,
        end,
        size,
        align,
        stride,
        // A placed template is no area, even when it fills a stride.
        areas: if placed { 0 } else { sec.mem_size / stride },
        dynamic_start: percpu_layout::dynamic_start(size),
        dynamic_size: stride.saturating_sub(percpu_layout::dynamic_start(size)),
        placed,
    }
}

/// The variables, with what DWARF says of them, sorted by offset.
fn variables(
    facts: &ElfFacts,
    debug: &DebugInfo,
    sec: &elf::PercpuSection,
    start: u64,
) -> Vec<Variable> {
    let section_align = sec.align.max(1);
    let mut variables: Vec<Variable> = facts
        .variables
        .iter()
        .map(|raw| {
            let offset = raw.value.wrapping_sub(start);
            let inferred = if offset == 0 {
                section_align
            } else {
                (1u64 << offset.trailing_zeros()).min(section_align)
            };
            let info = debug.variables.get(&raw.symbol);
            let known_align = info.and_then(|i| i.align).filter(|a| *a > 0);
            let size = match (raw.size, info.and_then(|i| i.size)) {
                (0, Some(size)) => size,
                (size, _) => size,
            };
            let name = variable_name(&raw.symbol);
            Variable {
                bookkeeping: is_bookkeeping(&name),
                name,
                symbol: raw.symbol.clone(),
                offset,
                size,
                align: known_align.unwrap_or(inferred),
                align_inferred: known_align.is_none(),
                type_name: info.and_then(|i| i.type_name.clone()),
            }
        })
        .collect();
    variables.sort_by(|a, b| (a.offset, &a.name).cmp(&(b.offset, &b.name)));
    variables
}

/// What every check of a file with a `.percpu` section looks at.
struct Seen<'a> {
    facts: &'a ElfFacts,
    sec: &'a elf::PercpuSection,
    opts: &'a InspectOptions,
    template: &'a TemplateReport,
    variables: &'a [Variable],
    machine: &'a str,
}

impl Seen<'_> {
    fn relocatable(&self) -> bool {
        self.facts.file.is_relocatable()
    }
}

/// A check: its outcome and detail, or `None` where it does not apply.
type CheckFn = fn(&Seen) -> Option<(bool, String)>;

/// The checks in the order the report prints them.
const CHECKS: &[(&str, CheckFn)] = &[
    (checks::SECTION, check_section),
    (checks::VMA, check_vma),
    (checks::TEMPLATE_IN_FILE, check_template_in_file),
    (checks::SYMBOLS, check_symbols),
    (checks::RESERVATION, check_reservation),
    (checks::TEMPLATE_BOUNDS, check_template_bounds),
    (checks::REACH, check_reach),
    (checks::GLOBAL_POINTER, check_global_pointer),
];

fn check_section(s: &Seen) -> Option<(bool, String)> {
    Some((true, format!("section {}", s.sec.index)))
}

fn check_vma(s: &Seen) -> Option<(bool, String)> {
    let sec = s.sec;
    Some(if sec.vma == 0 {
        (true, "VMA 0: offsets are symbol values".to_string())
    } else if sec.vma == sec.lma {
        (
            true,
            format!(
                "non-zero-vma layout: VMA {:#x} is the load address",
                sec.vma
            ),
        )
    } else {
        (
            false,
            format!(
                "VMA {:#x} is neither 0 nor the load address {:#x}",
                sec.vma, sec.lma
            ),
        )
    })
}

fn check_template_in_file(s: &Seen) -> Option<(bool, String)> {
    let (sec, size, relocatable) = (s.sec, s.template.size, s.relocatable());
    Some(if size == 0 {
        (true, "empty template: no initial value to keep".to_string())
    } else if sec.nobits {
        (
            false,
            format!(
                "NOLOAD (SHT_NOBITS): the {size}-byte template's initial values are not in the file, so init_in_place would copy zeros"
            ),
        )
    } else if !sec.alloc {
        (
            false,
            "not allocated (SHF_ALLOC unset): the template is never loaded".to_string(),
        )
    } else if !relocatable && !sec.in_load_segment {
        (
            false,
            "no PT_LOAD segment loads the template from the file".to_string(),
        )
    } else {
        (
            true,
            format!(
                "{size} bytes at file offset {:#x}{}",
                sec.file_offset,
                if relocatable { "" } else { ", loaded" }
            ),
        )
    })
}

fn check_symbols(s: &Seen) -> Option<(bool, String)> {
    Some(if !s.facts.has_symtab {
        (
            false,
            "no symbol table (stripped?): neither the layout symbols nor the variables can be read"
                .to_string(),
        )
    } else if s.relocatable() {
        (
            true,
            "skipped: a relocatable object; the linker script defines them".to_string(),
        )
    } else {
        symbol_check(s.facts, s.sec.vma, s.sec.lma, s.sec.mem_size)
    })
}

fn check_reservation(s: &Seen) -> Option<(bool, String)> {
    let template = s.template;
    if template.placed {
        // Whatever --cpus says: the platform places every area.
        let extra = s.sec.mem_size.saturating_sub(template.size);
        return Some(if extra == 0 {
            (
                true,
                format!(
                    "template only (placed): no area reserved, the platform places each CPU's {}-byte area",
                    template.stride
                ),
            )
        } else {
            (
                false,
                format!(
                    "template-only script ({}), yet .percpu holds {extra} bytes after the {}-byte template",
                    symbols::PLACED,
                    template.size
                ),
            )
        });
    }
    let cpus = s.opts.cpus?;
    Some(if s.relocatable() {
        (
            true,
            "skipped: a relocatable object reserves nothing yet".to_string(),
        )
    } else {
        (
            template.areas >= cpus as u64,
            format!(
                "{} areas of {} bytes reserved, {cpus} needed",
                template.areas, template.stride
            ),
        )
    })
}

fn check_template_bounds(s: &Seen) -> Option<(bool, String)> {
    let size = s.template.size;
    let outside: Vec<&Variable> = s
        .variables
        .iter()
        .filter(|v| v.offset.checked_add(v.size).is_none_or(|e| e > size))
        .collect();
    Some(match outside.first() {
        None => (
            true,
            format!(
                "{} variables inside the {size}-byte template",
                s.variables.len()
            ),
        ),
        Some(v) => (
            false,
            format!(
                "{} variable(s) outside the template, first {} at {:#x} + {} past {size}",
                outside.len(),
                v.name,
                v.offset,
                v.size
            ),
        ),
    })
}

fn check_reach(s: &Seen) -> Option<(bool, String)> {
    let Some(arch) = s.facts.file.arch() else {
        return Some((
            true,
            format!("skipped: no access sequence known for {}", s.machine),
        ));
    };
    let reach = arch.reach();
    Some(
        match s
            .variables
            .iter()
            .find(|v| v.offset.checked_add(v.size).is_none_or(|e| e > reach))
        {
            None => (true, format!("every offset below {reach:#x} ({arch})")),
            Some(v) => (
                false,
                format!(
                    "{} at {:#x} is beyond the {reach:#x} that {arch} reaches",
                    v.name, v.offset
                ),
            ),
        },
    )
}

/// RISC-V only.
fn check_global_pointer(s: &Seen) -> Option<(bool, String)> {
    if s.facts.file.machine != object::elf::EM_RISCV.0 {
        return None;
    }
    Some(match s.facts.global_pointer {
        None => (
            true,
            format!("{} is not defined: the linker relaxes nothing against gp", elf::GLOBAL_POINTER),
        ),
        Some(value) => (
            false,
            format!(
                "{} is defined ({value:#x}): the linker may relax accesses against gp, which holds the per-CPU base",
                elf::GLOBAL_POINTER
            ),
        ),
    })
}

/// `_percpu_area_align` and `_percpu_area_stride` as offsets from the
/// template's start. A zero stride is the runtime's stand-in for a script
/// that predates the symbols, which says "the rule": no stride.
fn script_layout(facts: &ElfFacts, start: u64) -> (Option<u64>, Option<u64>) {
    let offset = |sym: Option<u64>| sym.map(|value| value.wrapping_sub(start));
    (
        offset(facts.area_align),
        offset(facts.area_stride).filter(|&stride| stride != 0),
    )
}

fn symbol_check(facts: &ElfFacts, vma: u64, lma: u64, mem_size: u64) -> (bool, String) {
    let named = [
        (symbols::START, facts.percpu_start),
        (symbols::END, facts.percpu_end),
        (symbols::LOAD_START, facts.load_start),
        (symbols::LOAD_END, facts.load_end),
    ];
    let missing: Vec<&str> = named
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return (false, format!("missing: {}", missing.join(", ")));
    }
    let (start, end, load_start, load_end) = (
        facts.percpu_start.unwrap_or_default(),
        facts.percpu_end.unwrap_or_default(),
        facts.load_start.unwrap_or_default(),
        facts.load_end.unwrap_or_default(),
    );
    let mut problems = Vec::new();
    if load_start != vma {
        problems.push(format!(
            "_percpu_load_start {load_start:#x} is not the VMA {vma:#x}"
        ));
    }
    if load_end < load_start || load_end > vma.saturating_add(mem_size) {
        problems.push(format!(
            "_percpu_load_end {load_end:#x} is outside the section"
        ));
    }
    if start != lma {
        problems.push(format!(
            "_percpu_start {start:#x} is not the load address {lma:#x}"
        ));
    }
    if Some(end) != start.checked_add(mem_size) {
        problems.push(format!(
            "_percpu_end {end:#x} is not _percpu_start + {mem_size:#x}"
        ));
    }
    // A script that defines the alignment and stride must follow the rule.
    let (area_align, area_stride_sym) = script_layout(facts, load_start);
    if let (Some(align), Some(stride)) = (area_align, area_stride_sym) {
        // The template rounded up to the alignment, plus any dynamic region
        // (`--dynamic`): at least the template's stride, in whole alignments.
        let least = is_area_align(align)
            .then(|| area_stride(load_end.wrapping_sub(load_start), align))
            .flatten();
        if least.is_none_or(|least| stride < least || stride % align != 0) {
            problems.push(format!(
                "{} {stride:#x} is not the template (and a dynamic region) rounded up to {} {align:#x}",
                symbols::AREA_STRIDE,
                symbols::AREA_ALIGN
            ));
        }
    } else if let Some(align) = area_align.filter(|a| !is_area_align(*a)) {
        problems.push(format!(
            "{} {align:#x} is not a power of two of at least {DEFAULT_AREA_ALIGN}",
            symbols::AREA_ALIGN
        ));
    } else if area_stride_sym.is_some() && area_align.is_none() {
        problems.push(format!(
            "{} without {}",
            symbols::AREA_STRIDE,
            symbols::AREA_ALIGN
        ));
    }
    if problems.is_empty() {
        (
            true,
            format!("_percpu_start {start:#x}, _percpu_end {end:#x}, _percpu_load_start {load_start:#x}, _percpu_load_end {load_end:#x}"),
        )
    } else {
        (false, problems.join("; "))
    }
}

/// The report as text, for people, without colour.
pub fn render_text(report: &Report) -> String {
    style::finish(&render_styled(report), false)
}

/// The report as text, with [`style`]'s escape codes (see [`style::finish`]).
pub fn render_styled(report: &Report) -> String {
    let mut out = String::new();
    let f = &report.file;
    let _ = writeln!(out, "file       {}", f.path);
    let _ = writeln!(
        out,
        "           {} {}-endian {} {}, entry {:#x}{}",
        f.class,
        f.endian,
        f.machine,
        f.kind,
        f.entry,
        if f.debug_info { ", DWARF" } else { "" }
    );
    match &report.section {
        None => {
            let _ = writeln!(out, ".percpu    (none)");
        }
        Some(s) => {
            let _ =
                writeln!(
                out,
                ".percpu    VMA {:#x}, LMA {:#x}, file size {:#x}, memory size {:#x}, {}, align {}",
                s.vma,
                s.lma,
                s.file_size,
                s.mem_size,
                if s.nobits { "NOLOAD (NOBITS)" } else { "PROGBITS" },
                s.align
            );
            let t = &report.template;
            if t.placed {
                let _ = writeln!(
                    out,
                    "template   {:#x} .. {:#x}: {} bytes, template only: placed areas of {} bytes each",
                    t.start, t.end, t.size, t.stride
                );
            } else {
                let _ = writeln!(
                    out,
                    "template   {:#x} .. {:#x}: {} bytes, stride {}, {} areas reserved",
                    t.start, t.end, t.size, t.stride, t.areas
                );
            }
            if t.dynamic_size > 0 {
                let _ = writeln!(
                    out,
                    "dynamic    {:#x} .. {:#x} of every area: {} bytes for run-time allocations",
                    t.dynamic_start,
                    t.dynamic_start + t.dynamic_size,
                    t.dynamic_size
                );
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        paint(
            style::HEADING,
            format!("variables ({})", report.variables.len())
        )
    );
    if !report.variables.is_empty() {
        let _ = writeln!(
            out,
            "  {:>10}  {:>8}  {:>5}   name: type",
            "offset", "size", "align"
        );
        for v in &report.variables {
            let _ = writeln!(
                out,
                "  {:>10}  {:>8}  {:>5}{}  {}{}",
                format!("{:#x}", v.offset),
                v.size,
                v.align,
                if v.align_inferred {
                    paint(style::NOTE, "*")
                } else {
                    " ".to_string()
                },
                v.name,
                match &v.type_name {
                    Some(ty) => format!(": {ty}"),
                    None => String::new(),
                } + if v.bookkeeping { "  (runtime)" } else { "" }
            );
        }
        if report.variables.iter().any(|v| v.bookkeeping) {
            let _ = writeln!(
                out,
                "{}",
                paint(
                    style::NOTE,
                    "  (runtime): the percpu runtime's own bookkeeping, not a variable of the program"
                )
            );
        }
        if report.variables.iter().any(|v| v.align_inferred) {
            let _ = writeln!(
                out,
                "{}",
                paint(
                    style::NOTE,
                    "  * alignment inferred from the offset: no DWARF describes the variable"
                )
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", paint(style::HEADING, "checks"));
    render_checks(&mut out, &report.checks);
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    if failed == 0 {
        let _ = writeln!(out, "result: {}", paint(style::OK, "every check passed"));
    } else {
        let _ = writeln!(
            out,
            "result: {}",
            paint(
                style::FAIL,
                format!("{failed} of {} checks failed", report.checks.len())
            )
        );
    }
    out
}

/// Writes named checks, one a line, with styles; shared by the inspection
/// and the diff reports.
pub fn render_checks(out: &mut String, checks: &[Check]) {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in checks {
        let _ = writeln!(
            out,
            "  {}  {:width$}  {}",
            if c.passed {
                paint(style::OK, "ok  ")
            } else {
                paint(style::FAIL, "FAIL")
            },
            c.name,
            c.detail
        );
    }
}
