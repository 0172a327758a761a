//! A relocatable ELF object for any architecture, written byte by byte: the
//! seed the link matrix links with every linker. It needs no compiler and no
//! installed target, so every architecture is linked wherever a linker for it
//! is found (LoongArch's `core` is not on rustup's servers here, for one).
//!
//! What it holds is what a kernel gives the script: `_start` in
//! `.text.boot`, some `.data` and `.bss`, and per-CPU variables in `.percpu.*`
//! input sections of alignments 8, 4, 1 and 64, so that the template has
//! padding and is not a multiple of the area alignment.

use percpu_layout::Arch;

/// A per-CPU variable of the seed: its symbol, alignment and initial bytes.
pub struct SeedVar {
    /// The symbol, `__PERCPU_` and the name.
    pub symbol: &'static str,
    /// Its input section's alignment.
    pub align: u64,
    /// Its initial value.
    pub bytes: &'static [u8],
}

/// The seed's per-CPU variables, in input order.
pub const VARS: [SeedVar; 4] = [
    SeedVar {
        symbol: "__PERCPU_COUNTER",
        align: 8,
        bytes: &0x1122334455667788u64.to_le_bytes(),
    },
    SeedVar {
        symbol: "__PERCPU_BUFFER",
        align: 4,
        bytes: &[7; 100],
    },
    SeedVar {
        symbol: "__PERCPU_FLAG",
        align: 1,
        bytes: &[0x5a],
    },
    SeedVar {
        symbol: "__PERCPU_LINE",
        align: 64,
        bytes: &[0xc3; 4],
    },
];

/// `e_machine` and `e_flags` of the architecture's bare-metal target: the
/// float ABI of RISC-V and LoongArch, EABI version 5 on Arm.
fn machine(arch: Arch) -> (u16, u32) {
    match arch {
        Arch::X86_64 => (62, 0),
        Arch::Aarch64 => (183, 0),
        // RVC, double-float ABI (riscv64gc).
        Arch::Riscv64 => (243, 0x5),
        // RVC, soft-float ABI (riscv32imac).
        Arch::Riscv32 => (243, 0x1),
        // Object file ABI v1, LP64D.
        Arch::Loongarch64 => (258, 0x43),
        Arch::Armv7 => (40, 0x0500_0000),
    }
}

struct Section {
    name: &'static str,
    kind: u32,
    flags: u64,
    align: u64,
    data: Vec<u8>,
    /// `sh_size` of a `SHT_NOBITS` section.
    nobits_size: u64,
    link: u32,
    info: u32,
    entsize: u64,
}

const SHT_PROGBITS: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_NOBITS: u32 = 8;
const SHF_WRITE: u64 = 1;
const SHF_ALLOC: u64 = 2;
const SHF_EXEC: u64 = 4;

/// Little-endian output in the class's word size.
struct Out {
    bytes: Vec<u8>,
    is_64: bool,
}

impl Out {
    fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    /// An address, offset or size: 8 bytes in ELF64, 4 in ELF32.
    fn word(&mut self, v: u64) {
        if self.is_64 {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        } else {
            self.u32(u32::try_from(v).expect("fits ELF32"));
        }
    }
    fn pad_to(&mut self, align: u64) {
        while self.bytes.len() as u64 % align.max(1) != 0 {
            self.bytes.push(0);
        }
    }
}

/// A string table: the offset of every name added.
fn strtab(names: &[&str]) -> (Vec<u8>, Vec<u32>) {
    let mut table = vec![0u8];
    let mut offsets = Vec::new();
    for name in names {
        offsets.push(table.len() as u32);
        table.extend_from_slice(name.as_bytes());
        table.push(0);
    }
    (table, offsets)
}

/// The seed object of `arch`.
pub fn object(arch: Arch) -> Vec<u8> {
    object_aligned(arch, VARS[3].align)
}

/// The seed object of `arch` with its last variable aligned to `align`
/// (beyond the area alignment, for a script that must refuse it).
pub fn object_aligned(arch: Arch, align: u64) -> Vec<u8> {
    let is_64 = arch.address_bits() == 64;
    let (e_machine, e_flags) = machine(arch);
    let section = |name, kind, flags, align, data: Vec<u8>| Section {
        name,
        kind,
        flags,
        align,
        data,
        nobits_size: 0,
        link: 0,
        info: 0,
        entsize: 0,
    };
    // Section 1 is the code; the variables follow from section 2 on.
    let mut sections = vec![section(
        ".text.boot",
        SHT_PROGBITS,
        SHF_ALLOC | SHF_EXEC,
        4,
        vec![0; 16],
    )];
    const PERCPU_NAMES: [&str; 4] = [".percpu.a", ".percpu.b", ".percpu.c", ".percpu.d"];
    for (i, (var, name)) in VARS.iter().zip(PERCPU_NAMES).enumerate() {
        let align = if i == VARS.len() - 1 {
            align
        } else {
            var.align
        };
        sections.push(section(
            name,
            SHT_PROGBITS,
            SHF_ALLOC | SHF_WRITE,
            align,
            var.bytes.to_vec(),
        ));
    }
    sections.push(section(
        ".data",
        SHT_PROGBITS,
        SHF_ALLOC | SHF_WRITE,
        8,
        vec![1; 24],
    ));
    let mut bss = section(".bss", SHT_NOBITS, SHF_ALLOC | SHF_WRITE, 8, Vec::new());
    bss.nobits_size = 64;
    sections.push(bss);

    // Symbols: the null one, the variables (local), then `_start` (global).
    let names: Vec<&str> = VARS.iter().map(|v| v.symbol).chain(["_start"]).collect();
    let (strings, name_at) = strtab(&names);
    let mut symtab = Out {
        bytes: Vec::new(),
        is_64,
    };
    let mut symbol = |name: u32, info: u8, shndx: u16, size: u64| {
        symtab.u32(name);
        if is_64 {
            symtab.u8(info);
            symtab.u8(0);
            symtab.u16(shndx);
            symtab.word(0);
            symtab.word(size);
        } else {
            symtab.word(0);
            symtab.word(size);
            symtab.u8(info);
            symtab.u8(0);
            symtab.u16(shndx);
        }
    };
    symbol(0, 0, 0, 0);
    const STT_OBJECT: u8 = 1;
    const STT_FUNC: u8 = 2;
    const STB_GLOBAL: u8 = 1 << 4;
    for (i, var) in VARS.iter().enumerate() {
        symbol(name_at[i], STT_OBJECT, 2 + i as u16, var.bytes.len() as u64);
    }
    symbol(name_at[VARS.len()], STB_GLOBAL | STT_FUNC, 1, 16);
    let symtab = symtab.bytes;

    let symtab_index = sections.len() as u32 + 1;
    let mut table = section(".symtab", SHT_SYMTAB, 0, 8, symtab);
    table.link = symtab_index + 1;
    table.info = 1 + VARS.len() as u32;
    table.entsize = if is_64 { 24 } else { 16 };
    sections.push(table);
    sections.push(section(".strtab", SHT_STRTAB, 0, 1, strings));
    let mut section_names: Vec<&str> = sections.iter().map(|s| s.name).collect();
    section_names.push(".shstrtab");
    let (shstrtab, shname_at) = strtab(&section_names);
    sections.push(section(".shstrtab", SHT_STRTAB, 0, 1, shstrtab));

    // The header, then every section's bytes, then the section headers.
    let header_size = if is_64 { 64 } else { 52 };
    let mut out = Out {
        bytes: vec![0; header_size],
        is_64,
    };
    let mut offsets = Vec::new();
    for s in &sections {
        out.pad_to(s.align);
        offsets.push(out.bytes.len() as u64);
        out.bytes.extend_from_slice(&s.data);
    }
    out.pad_to(8);
    let shoff = out.bytes.len() as u64;
    // The null section header.
    let shentsize = if is_64 { 64 } else { 40 };
    out.bytes.extend(std::iter::repeat_n(0, shentsize));
    for ((s, offset), name) in sections.iter().zip(&offsets).zip(&shname_at) {
        out.u32(*name);
        out.u32(s.kind);
        out.word(s.flags);
        out.word(0);
        out.word(*offset);
        out.word(if s.kind == SHT_NOBITS {
            s.nobits_size
        } else {
            s.data.len() as u64
        });
        out.u32(s.link);
        out.u32(s.info);
        out.word(s.align);
        out.word(s.entsize);
    }

    let mut header = Out {
        bytes: b"\x7fELF".to_vec(),
        is_64,
    };
    header.u8(if is_64 { 2 } else { 1 });
    header.u8(1); // little-endian
    header.u8(1); // EV_CURRENT
    header.bytes.resize(16, 0);
    header.u16(1); // ET_REL
    header.u16(e_machine);
    header.u32(1);
    header.word(0); // e_entry
    header.word(0); // e_phoff
    header.word(shoff);
    header.u32(e_flags);
    header.u16(header_size as u16);
    header.u16(0); // e_phentsize
    header.u16(0); // e_phnum
    header.u16(shentsize as u16);
    header.u16(sections.len() as u16 + 1);
    header.u16(sections.len() as u16); // .shstrtab is last
    assert_eq!(header.bytes.len(), header_size);
    out.bytes[..header_size].copy_from_slice(&header.bytes);
    out.bytes
}
