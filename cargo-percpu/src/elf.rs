//! Reading what the inspector needs from an ELF file, in one walk over the
//! symbol table.
//!
//! Everything is read through the `object` crate's bounds-checked views of
//! the file, so a hostile file gives an [`ElfError`], never a panic or an
//! allocation sized by what the file claims.

use std::fmt;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};
use object::Endianness;

use crate::ldscript::Arch;

/// Why a file could not be read as an ELF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfError(pub String);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ElfError {}

impl From<object::read::Error> for ElfError {
    fn from(err: object::read::Error) -> Self {
        ElfError(format!("not a usable ELF file: {err}"))
    }
}

use percpu_layout::{symbols, SECTION, VARIABLE_PREFIX};

/// The ELF header fields the report shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFacts {
    /// 64 for ELF64, 32 for ELF32.
    pub bits: u32,
    /// Whether the file is big-endian.
    pub big_endian: bool,
    /// `e_machine`.
    pub machine: u16,
    /// `e_type`.
    pub file_type: u16,
    /// `e_entry`.
    pub entry: u64,
}

impl FileFacts {
    /// The architecture, when it is one the project supports.
    pub fn arch(&self) -> Option<Arch> {
        Arch::from_elf(self.machine, self.bits)
    }

    /// A name for `e_machine`.
    pub fn machine_name(&self) -> String {
        if let Some(arch) = self.arch() {
            return arch.name().to_string();
        }
        match self.machine {
            m if m == elf::EM_386.0 => "x86".to_string(),
            m if m == elf::EM_RISCV.0 => format!("riscv{}", self.bits),
            m => format!("EM_{m}"),
        }
    }

    /// A name for `e_type`.
    pub fn kind_name(&self) -> &'static str {
        match self.file_type {
            t if t == elf::ET_REL.0 => "relocatable",
            t if t == elf::ET_EXEC.0 => "executable",
            t if t == elf::ET_DYN.0 => "shared-object",
            t if t == elf::ET_CORE.0 => "core",
            _ => "other",
        }
    }

    /// Whether the file is a relocatable object, where the linker has not
    /// laid anything out yet.
    pub fn is_relocatable(&self) -> bool {
        self.file_type == elf::ET_REL.0
    }
}

/// The `.percpu` section as the file describes it.
///
/// In a relocatable object, where every variable may have its own `.percpu`
/// input section, the figures cover all of them laid out in order (as the
/// linker script will): `index` and `file_offset` are the first one's, the
/// sizes are the layout's, `align` the largest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PercpuSection {
    /// Its index in the section table.
    pub index: usize,
    /// `sh_addr`: the VMA.
    pub vma: u64,
    /// The load address: from the `PT_LOAD` segment that holds its bytes,
    /// else `_percpu_start`, else the VMA.
    pub lma: u64,
    /// `sh_offset`.
    pub file_offset: u64,
    /// How many bytes the file holds for it: 0 for `SHT_NOBITS`.
    pub file_size: u64,
    /// `sh_size`: the bytes it takes in memory.
    pub mem_size: u64,
    /// Whether it is `SHT_NOBITS` (what `NOLOAD` gives).
    pub nobits: bool,
    /// Whether it is allocated (`SHF_ALLOC`).
    pub alloc: bool,
    /// `sh_addralign`.
    pub align: u64,
    /// Whether a `PT_LOAD` segment loads its bytes from the file.
    pub in_load_segment: bool,
}

/// A symbol defined in `.percpu` that names a variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawVariable {
    /// The symbol as the file spells it.
    pub symbol: String,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
}

/// Everything the inspector reads from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfFacts {
    /// The header.
    pub file: FileFacts,
    /// The `.percpu` section, if there is one.
    pub section: Option<PercpuSection>,
    /// `_percpu_start`, if defined.
    pub percpu_start: Option<u64>,
    /// `_percpu_end`, if defined.
    pub percpu_end: Option<u64>,
    /// `_percpu_load_start`, if defined.
    pub load_start: Option<u64>,
    /// `_percpu_load_end`, if defined.
    pub load_end: Option<u64>,
    /// `_percpu_area_align`, if defined (scripts older than it define none).
    pub area_align: Option<u64>,
    /// `_percpu_area_stride`, if defined.
    pub area_stride: Option<u64>,
    /// `_percpu_placed`, if defined: the mark of a template-only script
    /// (`ldscript --placed`).
    pub placed: Option<u64>,
    /// The variables, in symbol-table order.
    pub variables: Vec<RawVariable>,
    /// Whether the file has a symbol table at all.
    pub has_symtab: bool,
    /// `__global_pointer$`, if defined: on RISC-V the linker then relaxes
    /// accesses against `gp`, which holds the per-CPU base.
    pub global_pointer: Option<u64>,
}

/// The symbol whose definition lets a RISC-V linker relax accesses into
/// `gp`-relative ones.
pub const GLOBAL_POINTER: &str = "__global_pointer$";

/// Reads the facts from the bytes of an ELF file.
pub fn read(data: &[u8]) -> Result<ElfFacts, ElfError> {
    if data.len() < 16 || &data[..4] != b"\x7fELF" {
        return Err(ElfError("not an ELF file (bad magic)".into()));
    }
    // e_ident[EI_CLASS], byte 4, picks the header layout.
    match data[4] {
        1 => read_class::<elf::FileHeader32<Endianness>>(data, 32),
        2 => read_class::<elf::FileHeader64<Endianness>>(data, 64),
        other => Err(ElfError(format!("unknown ELF class {other}"))),
    }
}

fn read_class<H: FileHeader<Endian = Endianness>>(
    data: &[u8],
    bits: u32,
) -> Result<ElfFacts, ElfError> {
    let header = H::parse(data)?;
    let endian = header.endian()?;
    let file = FileFacts {
        bits,
        big_endian: endian == Endianness::Big,
        machine: header.e_machine(endian).0,
        file_type: header.e_type(endian).0,
        entry: header.e_entry(endian).into(),
    };
    check_structure(header, endian, data, bits)?;
    let sections = header.sections(endian, data)?;
    let segments = header.program_headers(endian, data)?;

    let relocatable = file.file_type == elf::ET_REL.0;
    let (mut section, bases) = percpu_section(&sections, segments, endian, relocatable)?;

    let symbols = sections.symbols(endian, data, elf::SHT_SYMTAB)?;
    let mut facts = ElfFacts {
        file,
        section: None,
        percpu_start: None,
        percpu_end: None,
        load_start: None,
        load_end: None,
        area_align: None,
        area_stride: None,
        placed: None,
        variables: Vec::new(),
        has_symtab: !symbols.is_empty(),
        global_pointer: None,
    };
    let percpu_index = section.as_ref().map(|s| s.index);
    walk_symbols(
        &symbols,
        sections.len(),
        endian,
        &mut facts,
        percpu_index,
        &bases,
    )?;
    if let Some(section) = section.as_mut() {
        if !section.in_load_segment {
            section.lma = facts.percpu_start.unwrap_or(section.vma);
        }
    }
    facts.section = section;
    Ok(facts)
}

/// One walk over the symbol table: the layout symbols, and every data symbol
/// defined in `.percpu` (section `percpu_index`; in a relocatable object,
/// any input section with a place in `bases`).
fn walk_symbols<H: FileHeader<Endian = Endianness>>(
    symbols: &object::read::elf::SymbolTable<'_, H>,
    section_count: usize,
    endian: Endianness,
    facts: &mut ElfFacts,
    percpu_index: Option<usize>,
    bases: &[Option<u64>],
) -> Result<(), ElfError> {
    let relocatable = facts.file.is_relocatable();
    for (index, sym) in symbols.enumerate() {
        if index.0 == 0 {
            continue;
        }
        let st_type = sym.st_type();
        if st_type == elf::STT_SECTION || st_type == elf::STT_FILE {
            continue;
        }
        let name = symbols.symbol_name(endian, sym)?;
        if name.is_empty() {
            continue;
        }
        if name == GLOBAL_POINTER.as_bytes() {
            if sym.st_shndx(endian) != elf::SHN_UNDEF {
                facts
                    .global_pointer
                    .get_or_insert(sym.st_value(endian).into());
            }
            continue;
        }
        if is_percpu_symbol(name) {
            // Where it lives must be a section of this file, whatever the
            // report later makes of it.
            symbol_home(symbols, endian, sym, index, name, section_count)?;
        }
        if st_type == elf::STT_FUNC {
            continue;
        }
        let value: u64 = sym.st_value(endian).into();
        let defined = !sym.st_shndx(endian).is_special() || sym.st_shndx(endian) == elf::SHN_ABS;
        let slot = match name {
            _ if name == symbols::START.as_bytes() => Some(&mut facts.percpu_start),
            _ if name == symbols::END.as_bytes() => Some(&mut facts.percpu_end),
            _ if name == symbols::LOAD_START.as_bytes() => Some(&mut facts.load_start),
            _ if name == symbols::LOAD_END.as_bytes() => Some(&mut facts.load_end),
            _ if name == symbols::AREA_ALIGN.as_bytes() => Some(&mut facts.area_align),
            _ if name == symbols::AREA_STRIDE.as_bytes() => Some(&mut facts.area_stride),
            _ if name == symbols::PLACED.as_bytes() => Some(&mut facts.placed),
            _ => None,
        };
        if let Some(slot) = slot {
            if defined || sym.st_shndx(endian) == elf::SHN_XINDEX {
                slot.get_or_insert(value);
            }
            continue;
        }
        let Some(percpu_index) = percpu_index else {
            continue;
        };
        let home = symbols.symbol_section(endian, sym, index)?.map(|s| s.0);
        // In a relocatable object, the symbol's value is relative to its own
        // input section: add that section's place in the layout.
        let base = match home {
            Some(i) if relocatable => bases.get(i).copied().flatten(),
            Some(i) if i == percpu_index => Some(0),
            _ => None,
        };
        let in_percpu = base.is_some();
        // `$d`/`$x` mapping symbols and `.L` labels are no variables.
        if !in_percpu || name.starts_with(b"$") || name.starts_with(b".L") {
            continue;
        }
        let is_data = st_type == elf::STT_OBJECT
            || st_type == elf::STT_TLS
            || (st_type == elf::STT_NOTYPE && sym.st_size(endian).into() > 0);
        if !is_data {
            continue;
        }
        facts.variables.push(RawVariable {
            symbol: String::from_utf8_lossy(name).into_owned(),
            value: value.wrapping_add(base.unwrap_or(0)),
            size: sym.st_size(endian).into(),
        });
    }
    Ok(())
}

/// The `.percpu` section and `bases`: in a relocatable object, each input
/// section's offset in the layout the linker script will make of them.
fn percpu_section<H: FileHeader<Endian = Endianness>>(
    sections: &object::read::elf::SectionTable<'_, H>,
    segments: &[H::ProgramHeader],
    endian: Endianness,
    relocatable: bool,
) -> Result<(Option<PercpuSection>, Vec<Option<u64>>), ElfError> {
    let mut section: Option<PercpuSection> = None;
    // A relocatable object has one `.percpu` input section per variable (or
    // per codegen unit); lay them out one after another as the script's
    // `*(.percpu .percpu.*)` will, so that offsets mean the same thing.
    // `bases[i]` is section i's offset in that layout.
    let mut bases: Vec<Option<u64>> = Vec::new();
    let mut cursor = 0u64;
    for (index, shdr) in sections.enumerate() {
        let name = sections.section_name(endian, shdr)?;
        if !is_percpu_name(name, relocatable) {
            continue;
        }
        let nobits = shdr.sh_type(endian) == elf::SHT_NOBITS;
        let file_offset: u64 = shdr.sh_offset(endian).into();
        let mem_size: u64 = shdr.sh_size(endian).into();
        // NOBITS has no bytes in the file, whatever sh_offset says; the
        // others lie inside it ([`check_structure`]).
        let file_size = if nobits { 0 } else { mem_size };
        let align: u64 = shdr.sh_addralign(endian).into();
        if relocatable {
            let base = match align.max(1).checked_next_power_of_two() {
                Some(a) => cursor.checked_add(a - 1).map(|c| c & !(a - 1)),
                None => None,
            };
            let Some(base) = base.filter(|b| b.checked_add(mem_size).is_some()) else {
                return Err(ElfError(
                    "the .percpu sections overflow the address space".into(),
                ));
            };
            cursor = base + mem_size;
            if bases.len() <= index.0 {
                bases.resize(index.0 + 1, None);
            }
            bases[index.0] = Some(base);
            if let Some(first) = section.as_mut() {
                first.mem_size = cursor;
                first.file_size += file_size;
                first.nobits &= nobits;
                first.align = first.align.max(align);
                continue;
            }
        }
        // The segment that loads the section's bytes gives its load address.
        let lma = if !nobits && file_size > 0 {
            load_address::<H>(segments, endian, file_offset, file_size)
        } else {
            None
        };
        section = Some(PercpuSection {
            index: index.0,
            vma: shdr.sh_addr(endian).into(),
            lma: lma.unwrap_or(u64::MAX),
            file_offset,
            file_size,
            mem_size,
            nobits,
            alloc: shdr.sh_flags(endian).0 & elf::SHF_ALLOC.0 != 0,
            align,
            in_load_segment: lma.is_some(),
        });
        if !relocatable {
            break;
        }
    }
    Ok((section, bases))
}

/// The load address of the file bytes at `file_offset`, from the PT_LOAD
/// segment that holds all `file_size` of them.
fn load_address<H: FileHeader<Endian = Endianness>>(
    segments: &[H::ProgramHeader],
    endian: Endianness,
    file_offset: u64,
    file_size: u64,
) -> Option<u64> {
    segments.iter().find_map(|phdr| {
        if phdr.p_type(endian) != elf::PT_LOAD {
            return None;
        }
        let p_offset: u64 = phdr.p_offset(endian).into();
        let p_filesz: u64 = phdr.p_filesz(endian).into();
        let p_paddr: u64 = phdr.p_paddr(endian).into();
        let inside = file_offset >= p_offset
            && p_offset
                .checked_add(p_filesz)
                .is_some_and(|end| file_offset + file_size <= end);
        inside.then(|| p_paddr.wrapping_add(file_offset - p_offset))
    })
}

/// Whether a section of that name is (one of) `.percpu`: in a relocatable
/// object, `.percpu.*` input sections count too.
fn is_percpu_name(name: &[u8], relocatable: bool) -> bool {
    name == SECTION.as_bytes()
        || (relocatable
            && name
                .strip_prefix(SECTION.as_bytes())
                .is_some_and(|rest| rest.starts_with(b".")))
}

/// Whether a symbol is one of the runtime's: a layout symbol the linker
/// script defines, or a variable the macro named (mangled or not, its name
/// holds the `__PERCPU_` prefix).
fn is_percpu_symbol(name: &[u8]) -> bool {
    const LAYOUT: [&str; 7] = [
        symbols::START,
        symbols::END,
        symbols::LOAD_START,
        symbols::LOAD_END,
        symbols::AREA_ALIGN,
        symbols::AREA_STRIDE,
        symbols::PLACED,
    ];
    LAYOUT.iter().any(|s| name == s.as_bytes())
        || name
            .windows(VARIABLE_PREFIX.len())
            .any(|w| w == VARIABLE_PREFIX.as_bytes())
}

/// The section a symbol is defined in (`None` when undefined, absolute,
/// common or otherwise special), or an error when its `st_shndx` (or
/// extended index) names no section of the `count` the file has.
fn symbol_home<H: FileHeader<Endian = Endianness>>(
    symbols: &object::read::elf::SymbolTable<'_, H>,
    endian: Endianness,
    sym: &H::Sym,
    index: object::SymbolIndex,
    name: &[u8],
    count: usize,
) -> Result<Option<usize>, ElfError> {
    let shndx = sym.st_shndx(endian);
    let home = if let Some(i) = shndx.index() {
        Some(usize::from(i))
    } else if shndx == elf::SHN_XINDEX {
        match symbols.shndx(endian, index) {
            Some(0) => None,
            Some(i) => Some(i as usize),
            None => {
                return Err(ElfError(format!(
                "symbol {}: st_shndx is SHN_XINDEX but no SHT_SYMTAB_SHNDX section holds its index",
                String::from_utf8_lossy(name)
            )))
            }
        }
    } else {
        None
    };
    match home {
        Some(i) if i >= count => Err(ElfError(format!(
            "symbol {}: st_shndx {i} names no section (the file has {count})",
            String::from_utf8_lossy(name)
        ))),
        _ => Ok(home),
    }
}

/// A name for a section type, for messages.
fn section_type_name(sh_type: u32) -> String {
    let known = [
        (elf::SHT_NULL, "SHT_NULL"),
        (elf::SHT_PROGBITS, "SHT_PROGBITS"),
        (elf::SHT_SYMTAB, "SHT_SYMTAB"),
        (elf::SHT_STRTAB, "SHT_STRTAB"),
        (elf::SHT_RELA, "SHT_RELA"),
        (elf::SHT_NOTE, "SHT_NOTE"),
        (elf::SHT_NOBITS, "SHT_NOBITS"),
        (elf::SHT_REL, "SHT_REL"),
        (elf::SHT_DYNSYM, "SHT_DYNSYM"),
    ];
    match known.iter().find(|(t, _)| t.0 == sh_type) {
        Some((_, name)) => (*name).to_string(),
        None => format!("type {sh_type:#x}"),
    }
}

/// A name for a segment type, for messages.
fn segment_type_name(p_type: u32) -> String {
    let known = [
        (elf::PT_LOAD, "PT_LOAD"),
        (elf::PT_DYNAMIC, "PT_DYNAMIC"),
        (elf::PT_INTERP, "PT_INTERP"),
        (elf::PT_NOTE, "PT_NOTE"),
        (elf::PT_PHDR, "PT_PHDR"),
        (elf::PT_TLS, "PT_TLS"),
    ];
    match known.iter().find(|(t, _)| t.0 == p_type) {
        Some((_, name)) => (*name).to_string(),
        None => format!("p_type {p_type:#x}"),
    }
}

/// That `size` bytes at `offset` lie inside a `len`-byte file; `what`
/// names them in the error. An ELF32 file's offsets are 32-bit: past 4 GiB
/// they wrap too.
fn check_extent(
    what: &dyn Fn() -> String,
    offset: u64,
    size: u64,
    len: u64,
    bits: u32,
) -> Result<(), ElfError> {
    let limit = if bits == 64 {
        u64::MAX
    } else {
        u64::from(u32::MAX)
    };
    match offset.checked_add(size).filter(|end| *end <= limit) {
        None => Err(ElfError(format!(
            "{}: offset {offset:#x} plus size {size:#x} wraps",
            what()
        ))),
        Some(end) if end > len => Err(ElfError(format!(
            "{} lies outside the file: {size:#x} bytes at offset {offset:#x}, \
             past the end of the {len:#x}-byte file",
            what()
        ))),
        Some(_) => Ok(()),
    }
}

/// The structure the report relies on, checked before anything is read
/// from it: a file that breaks one of these rules gets an error naming
/// the first broken one, never a report.
///
/// - The section header table exists as the header says: `e_shoff` is not
///   0 while `e_shnum` is not, and `e_shnum` is not 0 unless extended
///   numbering (`e_shoff` set, section 0's `sh_size` the count) is used.
/// - `e_shstrndx` (or section 0's `sh_link` for `SHN_XINDEX`) names a
///   string table.
/// - Every section's bytes (except `SHT_NULL` and `SHT_NOBITS`, which have
///   none) and every segment's (except `PT_NULL`) lie inside the file, and
///   their offset plus size does not wrap (past 4 GiB in an ELF32 file).
/// - Every string table (`SHT_STRTAB`: `.shstrtab`, `.strtab`, ...) that
///   is not empty ends with a NUL byte, so that no name runs past it.
/// - Every symbol table's `sh_entsize` is the class's symbol size.
/// - `.percpu` is not `SHT_NULL`, and its alignment is 0 or a power of two.
/// - A linked file has one section named `.percpu` (a relocatable object
///   may have many: the linker script gathers them).
///
/// (The symbols' own section indices are checked in the symbol walk.)
fn check_structure<H: FileHeader<Endian = Endianness>>(
    header: &H,
    endian: Endianness,
    data: &[u8],
    bits: u32,
) -> Result<(), ElfError> {
    let shoff: u64 = header.e_shoff(endian).into();
    let e_shnum = header.e_shnum(endian);
    if shoff == 0 && e_shnum != 0 {
        return Err(ElfError(format!(
            "e_shoff is 0 but e_shnum is {e_shnum}: the section header table is missing"
        )));
    }
    if e_shnum == 0 {
        if shoff == 0 {
            return Err(ElfError(
                "e_shnum and e_shoff are 0: the file has no section header table".into(),
            ));
        }
        // Extended numbering: section 0's sh_size holds the count.
        let count = header
            .section_0(endian, data)?
            .map(|s| s.sh_size(endian).into());
        if count.unwrap_or(0) == 0 {
            return Err(ElfError(
                "e_shnum is 0 but section 0's sh_size holds no extended section count".into(),
            ));
        }
    }
    let headers = header.section_headers(endian, data)?;
    let shstrndx = name_table_index(header, endian, headers)?;
    // Names come from the section-name table, itself a section checked
    // here: read them only from a table that lies inside the file.
    let len = data.len() as u64;
    let names = {
        let s = &headers[shstrndx];
        let (offset, size): (u64, u64) = (s.sh_offset(endian).into(), s.sh_size(endian).into());
        offset
            .checked_add(size)
            .filter(|end| *end <= len)
            .map(|end| object::read::StringTable::new(data, offset, end))
    };
    let table = Headers {
        header,
        endian,
        data,
        bits,
        headers,
        names,
    };
    // In this order: each rule may rely on the ones before it.
    let rules: [Rule<H>; 4] = [
        extents_in_file,
        string_tables_end_in_nul,
        symbol_entry_size,
        percpu_sections,
    ];
    rules.iter().try_for_each(|rule| rule(&table))
}

/// A structural rule over the section headers.
type Rule<H> = fn(&Headers<'_, H>) -> Result<(), ElfError>;

/// The section headers and what the structural rules read of them.
struct Headers<'data, H: FileHeader<Endian = Endianness>> {
    header: &'data H,
    endian: Endianness,
    data: &'data [u8],
    bits: u32,
    headers: &'data [H::SectionHeader],
    /// The section-name table, when it lies inside the file.
    names: Option<object::read::StringTable<'data>>,
}

impl<H: FileHeader<Endian = Endianness>> Headers<'_, H> {
    /// "section 3 (.percpu)", for messages.
    fn describe(&self, i: usize, s: &H::SectionHeader) -> String {
        let name = self
            .names
            .and_then(|n| n.get(s.sh_name(self.endian)).ok())
            .filter(|n| !n.is_empty());
        match name {
            Some(n) => format!("section {i} ({})", String::from_utf8_lossy(n)),
            None => format!("section {i}"),
        }
    }
}

/// `e_shstrndx` (or its extended form) names a string table.
fn name_table_index<H: FileHeader<Endian = Endianness>>(
    header: &H,
    endian: Endianness,
    headers: &[H::SectionHeader],
) -> Result<usize, ElfError> {
    let count = headers.len();
    let e_shstrndx = header.e_shstrndx(endian);
    let shstrndx = if e_shstrndx == elf::SHN_XINDEX {
        headers.first().map_or(0, |s| s.sh_link(endian) as usize)
    } else {
        usize::from(e_shstrndx.0)
    };
    match headers.get(shstrndx) {
        None => Err(ElfError(format!(
            "e_shstrndx {shstrndx} names no section (the file has {count})"
        ))),
        Some(s) if s.sh_type(endian) != elf::SHT_STRTAB => Err(ElfError(format!(
            "e_shstrndx names section {shstrndx}, of type {}, not a string table (SHT_STRTAB)",
            section_type_name(s.sh_type(endian).0)
        ))),
        Some(_) => Ok(shstrndx),
    }
}

/// Every section's and segment's bytes lie inside the file.
fn extents_in_file<H: FileHeader<Endian = Endianness>>(t: &Headers<'_, H>) -> Result<(), ElfError> {
    let (endian, len) = (t.endian, t.data.len() as u64);
    for (i, s) in t.headers.iter().enumerate() {
        let sh_type = s.sh_type(endian);
        if sh_type == elf::SHT_NULL || sh_type == elf::SHT_NOBITS {
            continue;
        }
        check_extent(
            &|| t.describe(i, s),
            s.sh_offset(endian).into(),
            s.sh_size(endian).into(),
            len,
            t.bits,
        )?;
    }
    for (i, p) in t.header.program_headers(endian, t.data)?.iter().enumerate() {
        if p.p_type(endian) == elf::PT_NULL {
            continue;
        }
        check_extent(
            &|| format!("segment {i} ({})", segment_type_name(p.p_type(endian).0)),
            p.p_offset(endian).into(),
            p.p_filesz(endian).into(),
            len,
            t.bits,
        )?;
    }
    Ok(())
}

/// Each string table ends in NUL (its extent is checked already).
fn string_tables_end_in_nul<H: FileHeader<Endian = Endianness>>(
    t: &Headers<'_, H>,
) -> Result<(), ElfError> {
    let endian = t.endian;
    for (i, s) in t.headers.iter().enumerate() {
        let size: u64 = s.sh_size(endian).into();
        if s.sh_type(endian) != elf::SHT_STRTAB || size == 0 {
            continue;
        }
        let offset: u64 = s.sh_offset(endian).into();
        let last = offset + size - 1;
        if t.data[last as usize] != 0 {
            return Err(ElfError(format!(
                "{}: the string table's last byte is not NUL, so its last name runs past the table",
                t.describe(i, s)
            )));
        }
    }
    Ok(())
}

/// Symbol tables have the entry size of the file's class.
fn symbol_entry_size<H: FileHeader<Endian = Endianness>>(
    t: &Headers<'_, H>,
) -> Result<(), ElfError> {
    let (endian, bits) = (t.endian, t.bits);
    let symbol_size: u64 = if bits == 64 { 24 } else { 16 };
    for (i, s) in t.headers.iter().enumerate() {
        let sh_type = s.sh_type(endian);
        if sh_type == elf::SHT_SYMTAB || sh_type == elf::SHT_DYNSYM {
            let entsize: u64 = s.sh_entsize(endian).into();
            if entsize != symbol_size {
                return Err(ElfError(format!(
                    "{}: sh_entsize {entsize} is not {symbol_size}, the size of an ELF{bits} symbol",
                    t.describe(i, s)
                )));
            }
        }
    }
    Ok(())
}

/// One `.percpu` in a linked file; none of SHT_NULL type or with an
/// alignment that is no power of two.
fn percpu_sections<H: FileHeader<Endian = Endianness>>(t: &Headers<'_, H>) -> Result<(), ElfError> {
    let endian = t.endian;
    let relocatable = t.header.e_type(endian) == elf::ET_REL;
    let mut first_percpu = None;
    for (i, s) in t.headers.iter().enumerate() {
        let Some(name) = t.names.and_then(|n| n.get(s.sh_name(endian)).ok()) else {
            continue;
        };
        if !is_percpu_name(name, relocatable) {
            continue;
        }
        // The report reads one template: with two, which is it?
        match first_percpu {
            Some(first) if !relocatable => {
                return Err(ElfError(format!(
                    "sections {first} and {i} are both named {SECTION}: which one holds the template is ambiguous"
                )))
            }
            _ => first_percpu = first_percpu.or(Some(i)),
        }
        if s.sh_type(endian) == elf::SHT_NULL {
            return Err(ElfError(format!(
                "{} has type SHT_NULL: an unused section header",
                t.describe(i, s)
            )));
        }
        let align: u64 = s.sh_addralign(endian).into();
        if align != 0 && !align.is_power_of_two() {
            return Err(ElfError(format!(
                "{}: alignment {align} is not a power of two",
                t.describe(i, s)
            )));
        }
    }
    Ok(())
}
