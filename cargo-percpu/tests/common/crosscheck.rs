//! An independent reading of the same file with goblin: every section and
//! symbol figure of a report must agree with it.

use cargo_percpu::report::Report;
use goblin::elf::{program_header::PT_LOAD, section_header::SHT_NOBITS, Elf};

/// Panics, naming the figure, where goblin and the report disagree.
pub fn goblin_agrees(data: &[u8], report: &Report) {
    let elf = Elf::parse(data).expect("goblin parses the file");
    let what = &report.file.path;
    assert_eq!(
        report.file.class,
        if elf.is_64 { "ELF64" } else { "ELF32" },
        "{what}: class"
    );
    assert_eq!(
        report.file.endian,
        if elf.little_endian { "little" } else { "big" },
        "{what}: endian"
    );
    assert_eq!(report.file.entry, elf.entry, "{what}: entry");

    if elf.header.e_type == goblin::elf::header::ET_REL {
        return relocatable_agrees(&elf, report);
    }
    let percpu = elf
        .section_headers
        .iter()
        .enumerate()
        .find(|(_, sh)| elf.shdr_strtab.get_at(sh.sh_name) == Some(".percpu"));
    let Some((index, sh)) = percpu else {
        assert!(report.section.is_none(), "{what}: goblin finds no .percpu");
        return;
    };
    let section = report.section.as_ref().expect("report has the section");
    assert_eq!(section.vma, sh.sh_addr, "{what}: VMA");
    assert_eq!(section.mem_size, sh.sh_size, "{what}: memory size");
    assert_eq!(section.nobits, sh.sh_type == SHT_NOBITS, "{what}: nobits");
    assert_eq!(
        section.file_size,
        if sh.sh_type == SHT_NOBITS {
            0
        } else {
            sh.sh_size
        },
        "{what}: file size"
    );
    assert_eq!(section.align, sh.sh_addralign, "{what}: align");

    let sym_value = |name: &str| {
        elf.syms
            .iter()
            .find(|s| elf.strtab.get_at(s.st_name) == Some(name) && s.st_shndx != 0)
            .map(|s| s.st_value)
    };
    // The load address: the PT_LOAD that holds the section's bytes, else _percpu_start.
    let from_segment = elf.program_headers.iter().find(|ph| {
        ph.p_type == PT_LOAD
            && sh.sh_type != SHT_NOBITS
            && sh.sh_size > 0
            && sh.sh_offset >= ph.p_offset
            && sh.sh_offset + sh.sh_size <= ph.p_offset + ph.p_filesz
    });
    let lma = match from_segment {
        Some(ph) => ph.p_paddr + (sh.sh_offset - ph.p_offset),
        None => sym_value("_percpu_start").unwrap_or(sh.sh_addr),
    };
    assert_eq!(section.lma, lma, "{what}: LMA");

    let start = sym_value("_percpu_load_start").unwrap_or(sh.sh_addr);
    let end = sym_value("_percpu_load_end").unwrap_or(sh.sh_addr + sh.sh_size);
    assert_eq!(report.template.start, start, "{what}: template start");
    assert_eq!(report.template.end, end, "{what}: template end");
    assert_eq!(report.template.size, end - start, "{what}: template size");
    assert_eq!(
        report.template.areas,
        sh.sh_size / report.template.stride,
        "{what}: areas"
    );

    // Every data symbol of .percpu, by goblin's walk.
    let expected: Vec<(String, u64, u64)> = elf
        .syms
        .iter()
        .filter(|s| {
            s.st_shndx == index
                && (s.st_type() == 1 || s.st_type() == 6 || (s.st_type() == 0 && s.st_size > 0))
        })
        .filter_map(|s| {
            let name = elf.strtab.get_at(s.st_name)?;
            if name.is_empty()
                || name.starts_with('$')
                || name.starts_with(".L")
                || [
                    "_percpu_start",
                    "_percpu_end",
                    "_percpu_load_start",
                    "_percpu_load_end",
                ]
                .contains(&name)
            {
                return None;
            }
            Some((name.to_string(), s.st_value.wrapping_sub(start), s.st_size))
        })
        .collect();
    same_variables(what, report, expected);
}

/// The report's variables are exactly `expected` (symbol, offset, size).
fn same_variables(what: &str, report: &Report, mut expected: Vec<(String, u64, u64)>) {
    let mut got: Vec<(String, u64, u64)> = report
        .variables
        .iter()
        .map(|v| (v.symbol.clone(), v.offset, v.size))
        .collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "{what}: variables");
}

fn is_data(s: &goblin::elf::Sym) -> bool {
    s.st_type() == 1 || s.st_type() == 6 || (s.st_type() == 0 && s.st_size > 0)
}

/// A relocatable object: every `.percpu` input section, packed in order.
fn relocatable_agrees(elf: &Elf, report: &Report) {
    let what = &report.file.path;
    let mut bases = std::collections::HashMap::new();
    let (mut cursor, mut file_size, mut align, mut all_nobits) = (0u64, 0u64, 0u64, true);
    for (i, sh) in elf.section_headers.iter().enumerate() {
        let name = elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("");
        if name != ".percpu" && !name.starts_with(".percpu.") {
            continue;
        }
        let a = sh.sh_addralign.max(1).next_power_of_two();
        let base = cursor.div_ceil(a) * a;
        bases.insert(i, base);
        cursor = base + sh.sh_size;
        align = align.max(sh.sh_addralign);
        let nobits = sh.sh_type == SHT_NOBITS;
        all_nobits &= nobits;
        if !nobits {
            file_size += sh.sh_size;
        }
    }
    let Some(section) = report.section.as_ref() else {
        assert!(bases.is_empty(), "{what}: goblin finds .percpu sections");
        return;
    };
    assert_eq!(section.vma, 0, "{what}: VMA");
    assert_eq!(section.mem_size, cursor, "{what}: laid-out size");
    assert_eq!(section.file_size, file_size, "{what}: file size");
    assert_eq!(section.nobits, all_nobits, "{what}: nobits");
    assert_eq!(section.align, align, "{what}: align");
    let expected: Vec<(String, u64, u64)> = elf
        .syms
        .iter()
        .filter(|s| bases.contains_key(&s.st_shndx) && is_data(s))
        .filter_map(|s| {
            let name = elf.strtab.get_at(s.st_name)?;
            if name.is_empty() || name.starts_with('$') || name.starts_with(".L") {
                return None;
            }
            Some((name.to_string(), bases[&s.st_shndx] + s.st_value, s.st_size))
        })
        .collect();
    same_variables(what, report, expected);
}
