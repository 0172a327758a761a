//! Hand-made files, one for each rule of `cargo percpu inspect` about
//! structurally broken ELF files (and a few valid files next to the rules'
//! edges), each with the answer it must get.
//!
//! Each file is a [`GenElf`] kernel with one field rewritten by [`Patch`].
//! `tests/structure.rs` runs the binary on them; `tests/corpus.rs` keeps a
//! copy of each in the fuzzer's corpus (`fuzz/corpus/inspect/structure-*`).

use super::gen::*;

/// What `inspect` must answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exit 2, no report, and this one-line message (after the path).
    Error(String),
    /// Exit 1: a report whose failed checks are exactly these.
    Fail(Vec<&'static str>),
    /// Exit 0: every check passes.
    Pass,
}

/// One file and its answer.
#[derive(Clone, Debug)]
pub struct Case {
    /// `<rule>-<flavour>`: the file's name in the corpus is
    /// `structure-<name>`.
    pub name: String,
    /// The bytes.
    pub data: Vec<u8>,
    /// The answer.
    pub expect: Expect,
}

const VARS: &[(&str, u64)] = &[
    ("__PERCPU_COUNTER", 8),
    ("_ZN6kernel5sched13__PERCPU_FLAG17h0123456789abcdefE", 4),
];

/// The flavours each rule is built in: a name, class, byte order and machine.
const FLAVOURS: [(&str, u32, bool, u16); 2] = [
    ("elf64le", 64, false, EM_X86_64),
    ("elf32be", 32, true, EM_ARM),
];

fn kernel(bits: u32, big: bool, machine: u16) -> GenElf {
    GenElf::kernel(bits, big, machine, 2, VARS)
}

/// Where `.percpu`'s bytes start in a generated file (and its segment's
/// `p_offset`): after the ELF header and one program header.
fn percpu_offset(bits: u32) -> u64 {
    if bits == 64 {
        64 + 56
    } else {
        52 + 32
    }
}

fn outside(what: &str, size: u64, offset: u64, len: usize) -> String {
    format!(
        "{what} lies outside the file: {size:#x} bytes at offset {offset:#x}, past the end of the {len:#x}-byte file"
    )
}

fn error(name: String, data: Vec<u8>, message: String) -> Case {
    Case {
        name,
        data,
        expect: Expect::Error(message),
    }
}

/// Every case, in a fixed order.
pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (flavour, bits, big, machine) in FLAVOURS {
        let name = |rule: &str| format!("{rule}-{flavour}");
        let good = kernel(bits, big, machine);
        let max = if bits == 64 {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };

        // Any section's extent: .bss, which no check reads, made PROGBITS
        // keeps its 1 MiB at offset 0.
        let data = good.patch().section(index::BSS, Sh::Type, 1).bytes();
        let len = data.len();
        cases.push(error(
            name("section-outside-file"),
            data,
            outside("section 5 (.bss)", 0x10_0000, 0, len),
        ));
        let data = good
            .patch()
            .section(index::BSS, Sh::Type, 1)
            .section(index::BSS, Sh::Offset, max - 0xff)
            .bytes();
        cases.push(error(
            name("section-offset-wraps"),
            data,
            format!(
                "section 5 (.bss): offset {:#x} plus size 0x100000 wraps",
                max - 0xff
            ),
        ));
        // SHT_NOBITS has no extent in the file, whatever its offset says.
        cases.push(Case {
            name: name("nobits-has-no-extent"),
            data: good
                .patch()
                .section(index::BSS, Sh::Offset, max - 0xff)
                .bytes(),
            expect: Expect::Pass,
        });

        // Any segment's extent.
        let data = good.patch().segment(0, Ph::Filesz, 0x10_0000).bytes();
        let len = data.len();
        cases.push(error(
            name("segment-outside-file"),
            data,
            outside("segment 0 (PT_LOAD)", 0x10_0000, percpu_offset(bits), len),
        ));
        let data = good
            .patch()
            .segment(0, Ph::Type, 4)
            .segment(0, Ph::Offset, max - 0xf)
            .bytes();
        cases.push(error(
            name("segment-offset-wraps"),
            data,
            format!(
                "segment 0 (PT_NOTE): offset {:#x} plus size 0x80 wraps",
                max - 0xf
            ),
        ));

        // A symbol table entry size of the other class.
        let (other, own) = if bits == 64 { (16, 24) } else { (24, 16) };
        cases.push(error(
            name("symtab-entsize"),
            good.patch()
                .section(index::SYMTAB, Sh::Entsize, other)
                .bytes(),
            format!(
                "section 2 (.symtab): sh_entsize {other} is not {own}, the size of an ELF{bits} symbol"
            ),
        ));

        // .percpu: SHT_NULL, or an alignment that is not a power of two.
        cases.push(error(
            name("percpu-type-null"),
            good.patch().section(index::PERCPU, Sh::Type, 0).bytes(),
            "section 1 (.percpu) has type SHT_NULL: an unused section header".into(),
        ));
        cases.push(error(
            name("percpu-align"),
            good.patch()
                .section(index::PERCPU, Sh::Addralign, 48)
                .bytes(),
            "section 1 (.percpu): alignment 48 is not a power of two".into(),
        ));

        // Two `.percpu` in a linked file: `.bss` (NOBITS, after the real
        // one) renamed. Which is the template?
        cases.push(error(
            name("percpu-twice"),
            good.patch().section(index::BSS, Sh::Name, 1).bytes(),
            "sections 1 and 5 are both named .percpu: which one holds the template is ambiguous"
                .into(),
        ));
        // A relocatable object gathers any number of them.
        let mut elf = good.clone();
        elf.e_type = 1;
        elf.load_segment = false;
        elf.symbols.retain(|s| !s.name.starts_with("_percpu"));
        cases.push(Case {
            name: name("percpu-twice-relocatable"),
            data: elf.patch().section(index::BSS, Sh::Name, 1).bytes(),
            expect: Expect::Pass,
        });

        // A string table cut one byte short: its last name loses its NUL
        // and would run on into whatever follows.
        for (rule, i, what) in [
            (
                "shstrtab-unterminated",
                index::SHSTRTAB,
                "section 4 (.shstrtab)",
            ),
            ("strtab-unterminated", index::STRTAB, "section 3 (.strtab)"),
        ] {
            let patch = good.patch();
            let size = patch.section_value(i, Sh::Size);
            cases.push(error(
                name(rule),
                patch.section(i, Sh::Size, size - 1).bytes(),
                format!(
                    "{what}: the string table's last byte is not NUL, so its last name runs past the table"
                ),
            ));
        }

        // A per-CPU symbol whose st_shndx names no section: a variable, a
        // layout symbol one past the last section, and SHN_XINDEX without
        // an extended index table.
        let mut elf = good.clone();
        elf.sym_mut("__PERCPU_COUNTER").place = Place::Index(42);
        cases.push(error(
            name("variable-shndx"),
            elf.build(),
            "symbol __PERCPU_COUNTER: st_shndx 42 names no section (the file has 6)".into(),
        ));
        let mut elf = good.clone();
        elf.sym_mut("_percpu_start").place = Place::Index(index::COUNT as u16);
        cases.push(error(
            name("layout-symbol-shndx"),
            elf.build(),
            "symbol _percpu_start: st_shndx 6 names no section (the file has 6)".into(),
        ));
        let mut elf = good.clone();
        let flag = "_ZN6kernel5sched13__PERCPU_FLAG17h0123456789abcdefE";
        elf.sym_mut(flag).place = Place::Index(0xffff);
        cases.push(error(
            name("variable-xindex"),
            elf.build(),
            format!(
                "symbol {flag}: st_shndx is SHN_XINDEX but no SHT_SYMTAB_SHNDX section holds its index"
            ),
        ));

        // e_shstrndx: a symbol table, or no section at all.
        cases.push(error(
            name("shstrndx-not-strtab"),
            good.patch()
                .header(Eh::Shstrndx, index::SYMTAB as u64)
                .bytes(),
            "e_shstrndx names section 2, of type SHT_SYMTAB, not a string table (SHT_STRTAB)"
                .into(),
        ));
        cases.push(error(
            name("shstrndx-no-section"),
            good.patch().header(Eh::Shstrndx, 0xfeff).bytes(),
            "e_shstrndx 65279 names no section (the file has 6)".into(),
        ));

        // The section count and the section header table.
        cases.push(error(
            name("shoff-zero"),
            good.patch().header(Eh::Shoff, 0).bytes(),
            "e_shoff is 0 but e_shnum is 6: the section header table is missing".into(),
        ));
        cases.push(error(
            name("shnum-zero"),
            good.patch().header(Eh::Shnum, 0).bytes(),
            "e_shnum is 0 but section 0's sh_size holds no extended section count".into(),
        ));
        cases.push(error(
            name("no-section-table"),
            good.patch()
                .header(Eh::Shnum, 0)
                .header(Eh::Shoff, 0)
                .bytes(),
            "e_shnum and e_shoff are 0: the file has no section header table".into(),
        ));
        // Extended numbering is valid: the count in section 0's sh_size,
        // e_shstrndx SHN_XINDEX and the index in its sh_link.
        cases.push(Case {
            name: name("extended-numbering"),
            data: good
                .patch()
                .header(Eh::Shnum, 0)
                .section(0, Sh::Size, index::COUNT as u64)
                .header(Eh::Shstrndx, 0xffff)
                .section(0, Sh::Link, index::SHSTRTAB as u64)
                .bytes(),
            expect: Expect::Pass,
        });

        // No symbol table at all: a failed check, linked or not.
        let mut elf = good.clone();
        elf.strip = true;
        cases.push(Case {
            name: name("stripped-executable"),
            data: elf.build(),
            expect: Expect::Fail(vec!["symbols"]),
        });
        let mut elf = good.clone();
        elf.strip = true;
        elf.e_type = 1;
        elf.load_segment = false;
        elf.symbols.retain(|s| !s.name.starts_with("_percpu"));
        cases.push(Case {
            name: name("stripped-relocatable"),
            data: elf.build(),
            expect: Expect::Fail(vec!["symbols"]),
        });
    }

    // RISC-V: `__global_pointer$` defined fails; undefined (a reference
    // nothing resolves) passes.
    for (flavour, bits) in [("riscv64", 64), ("riscv32", 32)] {
        let mut elf = kernel(bits, false, EM_RISCV);
        elf.symbols.push(GenSym {
            name: "__global_pointer$".into(),
            value: 0x800,
            size: 0,
            st_type: 0,
            place: Place::Other,
        });
        cases.push(Case {
            name: format!("global-pointer-{flavour}"),
            data: elf.build(),
            expect: Expect::Fail(vec!["global-pointer"]),
        });
        elf.sym_mut("__global_pointer$").place = Place::Index(0);
        elf.sym_mut("__global_pointer$").value = 0;
        cases.push(Case {
            name: format!("global-pointer-undefined-{flavour}"),
            data: elf.build(),
            expect: Expect::Pass,
        });
    }
    cases
}
