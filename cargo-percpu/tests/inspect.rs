//! The inspector through the library, on generated ELF files of every class
//! and byte order, each cross-checked with goblin.

use crate::common::crosscheck::goblin_agrees;
use crate::common::gen::*;
use cargo_percpu::report::{checks, inspect_bytes, variable_name, InspectOptions, Report};

const VARS: &[(&str, u64)] = &[
    (
        "_ZN6kernel5sched21__PERCPU_CURRENT_TASK17h0123456789abcdefE",
        8,
    ),
    ("__PERCPU_COUNTER", 4),
    ("__PERCPU_FLAG", 1),
];

fn inspect(elf: &GenElf, cpus: Option<usize>) -> Report {
    let data = elf.build();
    let opts = InspectOptions {
        cpus,
        ..InspectOptions::default()
    };
    let report = inspect_bytes(&data, "generated", &opts).expect("a usable ELF");
    goblin_agrees(&data, &report);
    report
}

fn failed(report: &Report) -> Vec<&str> {
    report
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect()
}

fn flavours() -> Vec<(u32, bool, u16)> {
    vec![
        (64, false, EM_X86_64),
        (64, true, EM_AARCH64),
        (32, false, EM_RISCV),
        (32, true, EM_ARM),
        (32, true, EM_PPC),
    ]
}

#[test]
fn standard_layout_passes_in_every_class_and_byte_order() {
    for (bits, big, machine) in flavours() {
        let report = inspect(&GenElf::kernel(bits, big, machine, 4, VARS), Some(4));
        assert!(
            report.passed(),
            "{bits} {big} {machine}: {:?}",
            report.checks
        );
        assert_eq!(report.file.class, format!("ELF{bits}"));
        assert_eq!(report.file.endian, if big { "big" } else { "little" });
        assert_eq!(report.file.kind, "executable");
        let names: Vec<&str> = report.variables.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["kernel::sched::CURRENT_TASK", "COUNTER", "FLAG"]);
        let offsets: Vec<u64> = report.variables.iter().map(|v| v.offset).collect();
        assert_eq!(offsets, [0, 8, 16]);
        assert_eq!(report.template.size, 17);
        assert_eq!(report.template.stride, 64);
        assert_eq!(report.template.areas, 4);
        let section = report.section.as_ref().unwrap();
        assert_eq!(
            (section.vma, section.lma, section.mem_size),
            (0, 0x8_0000, 256)
        );
    }
}

#[test]
fn machine_names_and_reach() {
    let report = inspect(&GenElf::kernel(32, false, EM_RISCV, 1, VARS), None);
    assert_eq!(report.file.machine, "riscv32");
    assert!(report
        .check(checks::REACH)
        .unwrap()
        .detail
        .contains("0x100000000"));
    let report = inspect(&GenElf::kernel(32, true, EM_PPC, 1, VARS), None);
    assert_eq!(report.file.machine, "EM_20");
    assert!(report
        .check(checks::REACH)
        .unwrap()
        .detail
        .starts_with("skipped"));
}

#[test]
fn noload_loses_the_template() {
    let mut elf = GenElf::kernel(64, false, EM_X86_64, 4, VARS);
    elf.percpu.as_mut().unwrap().3 = true;
    elf.load_segment = false;
    let report = inspect(&elf, None);
    assert_eq!(failed(&report), [checks::TEMPLATE_IN_FILE]);
    assert!(report.section.as_ref().unwrap().nobits);
    assert_eq!(report.section.as_ref().unwrap().file_size, 0);
}

#[test]
fn template_outside_any_segment_fails() {
    let mut elf = GenElf::kernel(64, false, EM_AARCH64, 4, VARS);
    elf.load_segment = false;
    let report = inspect(&elf, None);
    assert_eq!(failed(&report), [checks::TEMPLATE_IN_FILE]);
}

#[test]
fn reservation_is_checked_only_when_asked() {
    let elf = GenElf::kernel(64, false, EM_X86_64, 4, VARS);
    assert!(inspect(&elf, None).check(checks::RESERVATION).is_none());
    assert!(inspect(&elf, Some(4)).passed());
    let report = inspect(&elf, Some(5));
    assert_eq!(failed(&report), [checks::RESERVATION]);
    assert!(report
        .check(checks::RESERVATION)
        .unwrap()
        .detail
        .contains("4 areas"));
}

#[test]
fn missing_or_wrong_symbols_fail() {
    let mut elf = GenElf::kernel(64, false, EM_X86_64, 4, VARS);
    elf.symbols.retain(|s| s.name != "_percpu_end");
    let report = inspect(&elf, None);
    assert_eq!(failed(&report), [checks::SYMBOLS]);
    assert!(report
        .check(checks::SYMBOLS)
        .unwrap()
        .detail
        .contains("_percpu_end"));

    let mut elf = GenElf::kernel(64, false, EM_X86_64, 4, VARS);
    elf.sym_mut("_percpu_start").value += 0x40;
    let report = inspect(&elf, None);
    assert_eq!(failed(&report), [checks::SYMBOLS]);
}

#[test]
fn a_variable_straddling_the_template_end_fails() {
    let mut elf = GenElf::kernel(64, false, EM_X86_64, 4, VARS);
    elf.sym_mut("__PERCPU_FLAG").size = 8;
    let report = inspect(&elf, None);
    assert_eq!(failed(&report), [checks::TEMPLATE_BOUNDS]);
    assert!(report
        .check(checks::TEMPLATE_BOUNDS)
        .unwrap()
        .detail
        .contains("FLAG"));
}

#[test]
fn offsets_beyond_the_reach_fail() {
    // A 3 GiB template: fine for aarch64 (4 GiB), not for x86_64 (2 GiB).
    for (machine, reach_fails) in [(EM_X86_64, true), (EM_AARCH64, false)] {
        let mut elf = GenElf::kernel(64, false, machine, 1, VARS);
        let far = 3u64 << 30;
        elf.symbols.push(GenSym {
            name: "__PERCPU_FAR".into(),
            value: far,
            size: 8,
            st_type: 1,
            place: Place::Percpu,
        });
        elf.sym_mut("_percpu_load_end").value = far + 8;
        // Keep the section small in the file: NOBITS would fail another
        // check, so only the symbols claim the size.
        let report = inspect(&elf, None);
        let expected: Vec<&str> = if reach_fails {
            vec![checks::SYMBOLS, checks::REACH]
        } else {
            vec![checks::SYMBOLS]
        };
        assert_eq!(failed(&report), expected, "{machine}");
    }
}

#[test]
fn non_zero_vma_layout_passes_and_a_stray_vma_fails() {
    let mut elf = GenElf::kernel(64, false, EM_RISCV, 2, VARS);
    let lma = 0x8_0000;
    elf.percpu.as_mut().unwrap().0 = lma;
    for s in elf.symbols.iter_mut().filter(|s| s.place == Place::Percpu) {
        s.value += lma;
    }
    let report = inspect(&elf, Some(2));
    assert!(report.passed(), "{:?}", report.checks);
    assert!(report
        .check(checks::VMA)
        .unwrap()
        .detail
        .contains("non-zero-vma"));
    assert_eq!(report.variables[1].offset, 8);

    let mut elf = GenElf::kernel(64, false, EM_RISCV, 2, VARS);
    elf.percpu.as_mut().unwrap().0 = 0x1000;
    let report = inspect(&elf, None);
    assert!(failed(&report).contains(&checks::VMA));
}

#[test]
fn empty_template_is_sane() {
    let report = inspect(&GenElf::kernel(64, false, EM_AARCH64, 8, &[]), Some(8));
    assert!(report.passed(), "{:?}", report.checks);
    assert_eq!(
        (
            report.template.size,
            report.template.stride,
            report.template.areas
        ),
        (0, 64, 8)
    );
    assert!(report.variables.is_empty());
}

#[test]
fn relocatable_objects_skip_link_time_checks() {
    let mut elf = GenElf::kernel(64, false, EM_X86_64, 1, VARS);
    elf.e_type = 1;
    elf.load_segment = false;
    elf.symbols.retain(|s| !s.name.starts_with("_percpu"));
    let report = inspect(&elf, Some(4));
    assert!(report.passed(), "{:?}", report.checks);
    assert_eq!(report.file.kind, "relocatable");
    assert!(report
        .check(checks::SYMBOLS)
        .unwrap()
        .detail
        .starts_with("skipped"));
}

#[test]
fn no_percpu_section() {
    let mut elf = GenElf::kernel(64, false, EM_X86_64, 1, &[]);
    elf.percpu = None;
    elf.load_segment = false;
    let report = inspect(&elf, None);
    assert_eq!(failed(&report), [checks::SECTION]);
    assert!(report.section.is_none());
}

#[test]
fn alignment_from_offsets() {
    let report = inspect(
        &GenElf::kernel(
            64,
            false,
            EM_X86_64,
            1,
            &[("__PERCPU_A", 8), ("__PERCPU_B", 24), ("__PERCPU_C", 2)],
        ),
        None,
    );
    let aligns: Vec<u64> = report.variables.iter().map(|v| v.align).collect();
    // Offsets 0, 8, 32; the section is 64-aligned.
    assert_eq!(aligns, [64, 8, 32]);
}

#[test]
fn names_as_the_user_wrote_them() {
    assert_eq!(
        variable_name("_ZN6kernel5sched21__PERCPU_CURRENT_TASK17h0123456789abcdefE"),
        "kernel::sched::CURRENT_TASK"
    );
    assert_eq!(variable_name("__PERCPU_COUNTER"), "COUNTER");
    assert_eq!(variable_name("plain_c_var"), "plain_c_var");
    assert_eq!(variable_name("__PERCPU_"), "__PERCPU_");
    // v0 mangling (rustc -C symbol-mangling-version=v0): crate `k`.
    assert_eq!(
        variable_name("_RNvCs1aBWwuGybLu_1k16___PERCPU_COUNTER"),
        "k::COUNTER"
    );
}

#[test]
fn bad_align_option_is_an_error() {
    let data = GenElf::kernel(64, false, EM_X86_64, 1, VARS).build();
    let opts = InspectOptions {
        cpus: None,
        align: 48,
    };
    assert!(inspect_bytes(&data, "x", &opts).is_err());
}

#[test]
fn json_follows_the_schema() {
    let report = inspect(&GenElf::kernel(64, false, EM_X86_64, 4, VARS), Some(4));
    let value = crate::common::schema::parse(&cargo_percpu::json::to_json(&report));
    assert_eq!(value["schema_version"], 2);
    assert_eq!(value["document"], "inspect");
    // No DWARF in a generated file: every alignment is inferred.
    assert_eq!(value["file"]["debug_info"], false);
    assert_eq!(value["variables"][0]["align_inferred"], true);
    assert_eq!(value["variables"][0]["type_name"], serde_json::Value::Null);
    assert_eq!(value["file"]["class"], "ELF64");
    assert_eq!(value["file"]["machine"], "x86_64");
    assert_eq!(value["section"]["lma"], 0x8_0000);
    assert_eq!(value["section"]["nobits"], false);
    assert_eq!(value["template"]["areas"], 4);
    assert_eq!(value["variables"][0]["name"], "kernel::sched::CURRENT_TASK");
    assert_eq!(value["variables"][0]["offset"], 0);
    let names: Vec<&str> = value["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "section-exists",
            "vma",
            "template-in-file",
            "symbols",
            "reservation",
            "template-bounds",
            "reach"
        ]
    );
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&value),
        [
            "checks",
            "document",
            "file",
            "schema_version",
            "section",
            "template",
            "variables"
        ]
    );
    assert_eq!(
        keys(&value["file"]),
        [
            "class",
            "debug_info",
            "endian",
            "entry",
            "kind",
            "machine",
            "path"
        ]
    );
    assert_eq!(
        keys(&value["section"]),
        [
            "align",
            "file_size",
            "lma",
            "mem_size",
            "nobits",
            "present",
            "vma"
        ]
    );
    assert_eq!(
        keys(&value["template"]),
        [
            "align",
            "areas",
            "dynamic_size",
            "dynamic_start",
            "end",
            "placed",
            "size",
            "start",
            "stride"
        ]
    );
    assert_eq!(
        keys(&value["variables"][0]),
        [
            "align",
            "align_inferred",
            "bookkeeping",
            "name",
            "offset",
            "size",
            "symbol",
            "type_name"
        ]
    );
    assert_eq!(keys(&value["checks"][0]), ["detail", "name", "passed"]);
}

// Hostile input: every one is an error or a report, never a panic.

fn must_not_panic(data: &[u8]) -> Result<Report, String> {
    inspect_bytes(
        data,
        "hostile",
        &InspectOptions {
            cpus: Some(2),
            ..InspectOptions::default()
        },
    )
    .map_err(|e| {
        let text = e.to_string();
        assert!(!text.contains('\n'), "multi-line error: {text}");
        text
    })
}

#[test]
fn every_truncation_is_an_error_or_a_report() {
    for (bits, big, machine) in flavours() {
        let data = GenElf::kernel(bits, big, machine, 2, VARS).build();
        for len in 0..data.len() {
            let _ = must_not_panic(&data[..len]);
        }
        // Cutting the section table off must be an error.
        assert!(must_not_panic(&data[..data.len() - 8]).is_err());
    }
}

#[test]
fn non_elf_files_are_errors() {
    for data in [
        &b""[..],
        b"\x7fEL",
        b"#!/bin/sh\necho hi\n",
        b"\x7fELF\x03\x01\x01\0\0\0\0\0\0\0\0\0garbage",
    ] {
        assert!(must_not_panic(data).is_err(), "{data:?}");
    }
}

/// Offsets of header fields, per class: (e_shoff, e_shnum, section header size).
fn shoff_at(bits: u32) -> (usize, usize, usize) {
    if bits == 64 {
        (0x28, 0x3c, 64)
    } else {
        (0x20, 0x30, 40)
    }
}

fn put(data: &mut [u8], at: usize, big: bool, value: u64, width: usize) {
    let bytes = if big {
        value.to_be_bytes()
    } else {
        value.to_le_bytes()
    };
    let slice = if big {
        &bytes[8 - width..]
    } else {
        &bytes[..width]
    };
    data[at..at + width].copy_from_slice(slice);
}

fn get(data: &[u8], at: usize, big: bool, width: usize) -> u64 {
    let mut bytes = [0u8; 8];
    if big {
        bytes[8 - width..].copy_from_slice(&data[at..at + width]);
        u64::from_be_bytes(bytes)
    } else {
        bytes[..width].copy_from_slice(&data[at..at + width]);
        u64::from_le_bytes(bytes)
    }
}

#[test]
fn corrupted_tables_are_errors() {
    for (bits, big, machine) in flavours() {
        let good = GenElf::kernel(bits, big, machine, 2, VARS).build();
        let w = (bits / 8) as usize;
        let (shoff_field, shnum_field, shentsize) = shoff_at(bits);
        let shoff = get(&good, shoff_field, big, w) as usize;
        // Section header i, field at byte `off` (name 0, type 4, then class-sized words).
        let sh = |i: usize, off: usize| shoff + i * shentsize + off;
        let (sh_offset, sh_size) = (8 + 2 * w, 8 + 3 * w);

        // The section table past the end of the file.
        let mut data = good.clone();
        put(&mut data, shoff_field, big, u64::MAX >> (64 - bits), w);
        assert!(must_not_panic(&data).is_err());
        // A huge section count.
        let mut data = good.clone();
        put(&mut data, shnum_field, big, 0xfeff, 2);
        assert!(must_not_panic(&data).is_err());
        // The string table of section names out of the file.
        let mut data = good.clone();
        put(&mut data, sh(4, sh_offset), big, 0xffff_fff0, w);
        assert!(must_not_panic(&data).is_err());
        // A section name past the end of the section-name table.
        let mut data = good.clone();
        put(&mut data, sh(1, 0), big, 0xffff, 4);
        assert!(must_not_panic(&data).is_err());
        // The symbol table larger than the file.
        let mut data = good.clone();
        put(&mut data, sh(2, sh_size), big, 0x7fff_fff0, w);
        assert!(must_not_panic(&data).is_err());
        // The symbol string table out of the file.
        let mut data = good.clone();
        put(&mut data, sh(3, sh_offset), big, 0x7fff_fff0, w);
        assert!(must_not_panic(&data).is_err());
        // A .percpu larger than the file: an error, not a report.
        let mut data = good.clone();
        put(&mut data, sh(1, sh_size), big, 0x7fff_0000, w);
        let err = must_not_panic(&data).unwrap_err();
        assert!(err.contains(".percpu"), "{err}");
        // Byte flips everywhere in the headers: never a panic.
        for at in 0..good.len() {
            let mut data = good.clone();
            data[at] ^= 0xff;
            let _ = must_not_panic(&data);
        }
    }
}

#[test]
fn a_script_alignment_that_is_no_power_of_two_fails_symbols_without_a_panic() {
    // Found by the fuzzer: `_percpu_area_align` 0 made the stride rule
    // subtract with overflow.
    for align in [0, 48, 32] {
        let mut elf = GenElf::kernel(64, false, EM_X86_64, 4, VARS);
        elf.symbols.push(GenSym {
            name: "_percpu_area_align".into(),
            value: align,
            size: 0,
            st_type: 0,
            place: Place::Abs,
        });
        let report = inspect(&elf, None);
        assert_eq!(failed(&report), [checks::SYMBOLS], "{align}");
        assert!(
            report
                .check(checks::SYMBOLS)
                .unwrap()
                .detail
                .contains("is not a power of two of at least 64"),
            "{align}: {:?}",
            report.checks
        );
    }
}
