//! A tiny ELF writer for tests and the benchmark: 32/64-bit, either
//! endianness, with a `.percpu` section laid out the way the rendered
//! scripts lay it out (or deliberately not).
#![allow(dead_code)]

use cargo_percpu::layout;

/// Where a generated symbol is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// In `.percpu`.
    Percpu,
    /// In `.bss` (another section).
    Other,
    /// `SHN_ABS`.
    Abs,
    /// This raw `st_shndx`: `SHN_UNDEF` (0), a section index the file may
    /// not have, `SHN_XINDEX`, …
    Index(u16),
}

/// A symbol to write.
#[derive(Clone, Debug)]
pub struct GenSym {
    pub name: String,
    pub value: u64,
    pub size: u64,
    /// STT_OBJECT (1), STT_FUNC (2), STT_NOTYPE (0).
    pub st_type: u8,
    pub place: Place,
}

/// An ELF to write.
#[derive(Clone, Debug)]
pub struct GenElf {
    pub bits: u32,
    pub big_endian: bool,
    pub machine: u16,
    /// ET_EXEC = 2, ET_REL = 1.
    pub e_type: u16,
    pub entry: u64,
    /// `.percpu`: (vma, lma, mem_size, nobits, align); `None` for no section.
    pub percpu: Option<(u64, u64, u64, bool, u64)>,
    /// Give `.percpu` a PT_LOAD segment.
    pub load_segment: bool,
    pub symbols: Vec<GenSym>,
    /// Leave the symbol table out, as `strip` does: the `.symtab` and
    /// `.strtab` section headers become unused (`SHT_NULL`) entries.
    pub strip: bool,
}

/// The section indices every generated file has.
pub mod index {
    /// `.percpu` (a nameless placeholder when the file has none).
    pub const PERCPU: usize = 1;
    /// `.symtab`.
    pub const SYMTAB: usize = 2;
    /// `.strtab`.
    pub const STRTAB: usize = 3;
    /// `.shstrtab`, `e_shstrndx`.
    pub const SHSTRTAB: usize = 4;
    /// `.bss`: `SHT_NOBITS`, 1 MiB at file offset 0, read by no check.
    pub const BSS: usize = 5;
    /// How many sections there are, the null one included.
    pub const COUNT: usize = 6;
}

pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
pub const EM_RISCV: u16 = 243;
pub const EM_ARM: u16 = 40;
pub const EM_PPC: u16 = 20;

/// name, type, flags, addr, offset, size, link, info, addralign, entsize.
type SectionHeader = (u32, u32, u64, u64, u64, u64, u32, u32, u64, u64);

struct W {
    buf: Vec<u8>,
    big: bool,
    bits: u32,
}

impl W {
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u16(&mut self, v: u16) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn u32(&mut self, v: u32) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn u64(&mut self, v: u64) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    /// A class-sized word.
    fn word(&mut self, v: u64) {
        if self.bits == 64 {
            self.u64(v)
        } else {
            self.u32(v as u32)
        }
    }
    fn pad_to(&mut self, align: usize) {
        while self.buf.len() % align != 0 {
            self.buf.push(0);
        }
    }
}

impl GenElf {
    /// A linked kernel with the standard layout: `vars` (name, size) packed
    /// at 8-byte alignment into the template, `cpus` areas of 64-byte stride.
    pub fn kernel(
        bits: u32,
        big_endian: bool,
        machine: u16,
        cpus: u64,
        vars: &[(&str, u64)],
    ) -> Self {
        let lma = 0x8_0000;
        let mut offset = 0u64;
        let mut symbols = Vec::new();
        for (name, size) in vars {
            offset = (offset + 7) & !7;
            symbols.push(GenSym {
                name: name.to_string(),
                value: offset,
                size: *size,
                st_type: 1,
                place: Place::Percpu,
            });
            offset += size;
        }
        let stride = layout::area_stride(offset, layout::DEFAULT_AREA_ALIGN).unwrap();
        let mem = stride * cpus;
        for (name, value, place) in [
            (layout::symbols::START, lma, Place::Abs),
            (layout::symbols::END, lma + mem, Place::Abs),
            (layout::symbols::LOAD_START, 0, Place::Percpu),
            (layout::symbols::LOAD_END, offset, Place::Percpu),
        ] {
            symbols.push(GenSym {
                name: name.into(),
                value,
                size: 0,
                st_type: 0,
                place,
            });
        }
        GenElf {
            bits,
            big_endian,
            machine,
            e_type: 2,
            entry: 0x1000,
            percpu: Some((0, lma, mem, false, 64)),
            load_segment: true,
            symbols,
            strip: false,
        }
    }

    pub fn sym(&self, name: &str) -> Option<&GenSym> {
        self.symbols.iter().find(|s| s.name == name)
    }

    pub fn sym_mut(&mut self, name: &str) -> &mut GenSym {
        self.symbols
            .iter_mut()
            .find(|s| s.name == name)
            .expect("symbol")
    }

    /// The bytes of the file.
    pub fn build(&self) -> Vec<u8> {
        let is64 = self.bits == 64;
        let (ehsize, phentsize, shentsize, symsize) = if is64 {
            (64, 56, 64, 24)
        } else {
            (52, 32, 40, 16)
        };
        let mut w = W {
            buf: Vec::new(),
            big: self.big_endian,
            bits: self.bits,
        };
        let phnum = u16::from(self.load_segment && self.percpu.is_some());

        // Section contents, after the header and the program headers.
        let data_start = ehsize + phentsize * phnum as usize;
        let mut body = W {
            buf: vec![0; data_start],
            big: self.big_endian,
            bits: self.bits,
        };
        let percpu_off = body.buf.len();
        if let Some((_, _, mem, nobits, _)) = self.percpu {
            if !nobits {
                // Non-zero initial values, so that losing them shows.
                body.buf.extend((0..mem).map(|i| (i % 251) as u8 + 1));
            }
        }
        body.pad_to(8);
        let mut strtab = vec![0u8];
        let symtab_off = body.buf.len();
        // Null symbol.
        for _ in 0..symsize {
            body.u8(0);
        }
        // ELF wants locals first; everything here is global (bind 1), sh_info = 1.
        for s in &self.symbols {
            let name = strtab.len() as u32;
            strtab.extend_from_slice(s.name.as_bytes());
            strtab.push(0);
            let shndx: u16 = match s.place {
                Place::Percpu => 1,
                Place::Other => 5,
                Place::Abs => 0xfff1,
                Place::Index(raw) => raw,
            };
            let info = (1 << 4) | s.st_type;
            if is64 {
                body.u32(name);
                body.u8(info);
                body.u8(0);
                body.u16(shndx);
                body.u64(s.value);
                body.u64(s.size);
            } else {
                body.u32(name);
                body.u32(s.value as u32);
                body.u32(s.size as u32);
                body.u8(info);
                body.u8(0);
                body.u16(shndx);
            }
        }
        let symtab_size = body.buf.len() - symtab_off;
        let strtab_off = body.buf.len();
        body.buf.extend_from_slice(&strtab);
        let shstr = b"\0.percpu\0.symtab\0.strtab\0.shstrtab\0.bss\0";
        let shstrtab_off = body.buf.len();
        body.buf.extend_from_slice(shstr);
        body.pad_to(8);
        let shoff = body.buf.len();

        // ELF header.
        w.buf.extend_from_slice(b"\x7fELF");
        w.u8(if is64 { 2 } else { 1 });
        w.u8(if self.big_endian { 2 } else { 1 });
        w.u8(1);
        w.buf.resize(16, 0);
        w.u16(self.e_type);
        w.u16(self.machine);
        w.u32(1);
        w.word(self.entry);
        w.word(if phnum > 0 { ehsize as u64 } else { 0 });
        w.word(shoff as u64);
        w.u32(0);
        w.u16(ehsize as u16);
        w.u16(phentsize as u16);
        w.u16(phnum);
        w.u16(shentsize as u16);
        w.u16(6);
        w.u16(4);
        assert_eq!(w.buf.len(), ehsize);
        if phnum > 0 {
            let (vma, lma, mem, _, _) = self.percpu.expect("percpu");
            if is64 {
                w.u32(1);
                w.u32(6);
                w.u64(percpu_off as u64);
                w.u64(vma);
                w.u64(lma);
                w.u64(mem);
                w.u64(mem);
                w.u64(0x1000);
            } else {
                w.u32(1);
                w.u32(percpu_off as u32);
                w.u32(vma as u32);
                w.u32(lma as u32);
                w.u32(mem as u32);
                w.u32(mem as u32);
                w.u32(6);
                w.u32(0x1000);
            }
        }
        let mut out = w.buf;
        out.extend_from_slice(&body.buf[out.len()..]);
        let mut w = W {
            buf: out,
            big: self.big_endian,
            bits: self.bits,
        };

        // Section headers: null, .percpu, .symtab, .strtab, .shstrtab, .bss.
        let (pvma, pmem, pnobits, palign) = match self.percpu {
            Some((vma, _, mem, nobits, align)) => (vma, mem, nobits, align),
            None => (0, 0, false, 1),
        };
        let has_percpu = self.percpu.is_some();
        let headers: [SectionHeader; 6] = [
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            (
                // A file without .percpu gets a nameless placeholder section here.
                if has_percpu { 1 } else { 0 },
                if pnobits { 8 } else { 1 },
                if has_percpu { 3 } else { 0 },
                pvma,
                percpu_off as u64,
                pmem,
                0,
                0,
                palign,
                0,
            ),
            if self.strip {
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            } else {
                (
                    9,
                    2,
                    0,
                    0,
                    symtab_off as u64,
                    symtab_size as u64,
                    3,
                    1,
                    8,
                    symsize as u64,
                )
            },
            if self.strip {
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            } else {
                (
                    17,
                    3,
                    0,
                    0,
                    strtab_off as u64,
                    strtab.len() as u64,
                    0,
                    0,
                    1,
                    0,
                )
            },
            (
                25,
                3,
                0,
                0,
                shstrtab_off as u64,
                shstr.len() as u64,
                0,
                0,
                1,
                0,
            ),
            (35, 8, 3, 0x10_0000, 0, 0x10_0000, 0, 0, 64, 0),
        ];
        for (name, ty, flags, addr, off, size, link, info, align, entsize) in headers {
            w.u32(name);
            w.u32(ty);
            w.word(flags);
            w.word(addr);
            w.word(off);
            w.word(size);
            w.u32(link);
            w.u32(info);
            w.word(align);
            w.word(entsize);
        }
        w.buf
    }
}

/// A field of the ELF header, for [`Patch::header`].
#[derive(Clone, Copy, Debug)]
pub enum Eh {
    Type,
    Phoff,
    Shoff,
    Phnum,
    Shnum,
    Shstrndx,
}

/// A field of a section header, for [`Patch::section`].
#[derive(Clone, Copy, Debug)]
pub enum Sh {
    Name,
    Type,
    Flags,
    Addr,
    Offset,
    Size,
    Link,
    Info,
    Addralign,
    Entsize,
}

/// A field of a program header, for [`Patch::segment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ph {
    Type,
    Offset,
    Filesz,
    Memsz,
}

/// A built file with header fields rewritten: the one place the tests
/// break a file on purpose, field by field, in either class and byte order.
pub struct Patch {
    data: Vec<u8>,
    bits: u32,
    big: bool,
}

impl GenElf {
    /// The file, built, ready to have fields rewritten.
    pub fn patch(&self) -> Patch {
        Patch {
            data: self.build(),
            bits: self.bits,
            big: self.big_endian,
        }
    }
}

impl Patch {
    fn word(&self) -> usize {
        (self.bits / 8) as usize
    }

    /// Reads `width` bytes at `at` in the file's byte order.
    pub fn get(&self, at: usize, width: usize) -> u64 {
        let mut bytes = [0u8; 8];
        if self.big {
            bytes[8 - width..].copy_from_slice(&self.data[at..at + width]);
            u64::from_be_bytes(bytes)
        } else {
            bytes[..width].copy_from_slice(&self.data[at..at + width]);
            u64::from_le_bytes(bytes)
        }
    }

    /// Writes the low `width` bytes of `value` at `at` in the file's byte
    /// order.
    pub fn put(&mut self, at: usize, value: u64, width: usize) {
        let bytes = if self.big {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        let slice = if self.big {
            &bytes[8 - width..]
        } else {
            &bytes[..width]
        };
        self.data[at..at + width].copy_from_slice(slice);
    }

    /// Where a header field is, and its width.
    fn header_field(&self, field: Eh) -> (usize, usize) {
        let w = self.word();
        // e_entry at 24, then e_phoff and e_shoff (class words), e_flags,
        // and six half-words.
        let halves = 24 + 3 * w + 4;
        match field {
            Eh::Type => (16, 2),
            Eh::Phoff => (24 + w, w),
            Eh::Shoff => (24 + 2 * w, w),
            Eh::Phnum => (halves + 4, 2),
            Eh::Shnum => (halves + 8, 2),
            Eh::Shstrndx => (halves + 10, 2),
        }
    }

    /// Sets an ELF header field.
    pub fn header(mut self, field: Eh, value: u64) -> Self {
        let (at, width) = self.header_field(field);
        self.put(at, value, width);
        self
    }

    /// Sets field `field` of section header `i`.
    pub fn section(mut self, i: usize, field: Sh, value: u64) -> Self {
        let (at, width) = self.section_field(i, field);
        self.put(at, value, width);
        self
    }

    /// Field `field` of section header `i`, as the file has it now.
    pub fn section_value(&self, i: usize, field: Sh) -> u64 {
        let (at, width) = self.section_field(i, field);
        self.get(at, width)
    }

    /// Where field `field` of section header `i` is, and its width.
    fn section_field(&self, i: usize, field: Sh) -> (usize, usize) {
        let w = self.word();
        let (shoff_at, _) = self.header_field(Eh::Shoff);
        let shoff = self.get(shoff_at, w) as usize;
        let entry = shoff + i * (16 + 6 * w);
        let (off, width) = match field {
            Sh::Name => (0, 4),
            Sh::Type => (4, 4),
            Sh::Flags => (8, w),
            Sh::Addr => (8 + w, w),
            Sh::Offset => (8 + 2 * w, w),
            Sh::Size => (8 + 3 * w, w),
            Sh::Link => (8 + 4 * w, 4),
            Sh::Info => (12 + 4 * w, 4),
            Sh::Addralign => (16 + 4 * w, w),
            Sh::Entsize => (16 + 5 * w, w),
        };
        (entry + off, width)
    }

    /// Sets field `field` of program header `i`.
    pub fn segment(mut self, i: usize, field: Ph, value: u64) -> Self {
        let w = self.word();
        let (phoff_at, _) = self.header_field(Eh::Phoff);
        let phoff = self.get(phoff_at, w) as usize;
        let (size, off) = if self.bits == 64 {
            let off = match field {
                Ph::Type => 0,
                Ph::Offset => 8,
                Ph::Filesz => 32,
                Ph::Memsz => 40,
            };
            (56, off)
        } else {
            let off = match field {
                Ph::Type => 0,
                Ph::Offset => 4,
                Ph::Filesz => 16,
                Ph::Memsz => 20,
            };
            (32, off)
        };
        let width = if field == Ph::Type { 4 } else { w };
        self.put(phoff + i * size + off, value, width);
        self
    }

    /// The bytes.
    pub fn bytes(self) -> Vec<u8> {
        self.data
    }
}
