//! The link matrix: every script `cargo percpu ldscript` renders for the
//! six architectures (the fragment, the full script and the full
//! `--non-zero-vma` script, with `--cpus 8`, and the template-only
//! `--placed` fragment and full script, with a dynamic region) linked by
//! every linker our users run, and each `.percpu` layout compared with the
//! one the current toolchain's rust-lld gives.
//!
//! The linkers: the rust-lld of the toolchain under test (the reference),
//! of the oldest toolchain the workspace supports (its `rust-version`, LLD
//! 19 for 1.85) and of any toolchain named in `PERCPU_LINK_TOOLCHAINS`
//! (comma-separated, e.g. `1.90,nightly`); GNU ld of Debian's binutils for
//! every architecture Debian has one for. A linker that is not installed is
//! skipped with its reason, except under `CI=true`, where it fails the test:
//! `cargo xtask ci` installs them all (`cargo xtask print-deps`).
//!
//! Every linker links the same seed object (tests/common/seed.rs), so the
//! layouts must agree to the byte.

use std::collections::BTreeMap;

use crate::common::crosscheck::goblin_agrees;
use crate::common::linkers;
use crate::common::seed;
use cargo_percpu::ldscript::{render, Arch, Kind, Options};
use cargo_percpu::report::{inspect_bytes, InspectOptions};

/// CPUs every script reserves areas for.
const CPUS: usize = 8;
/// The dynamic region of the `--placed` scripts, which their stride holds.
const PLACED_DYNAMIC: u64 = 4096;

/// The scripts of the matrix for `arch`: (name, script).
fn scripts(arch: Arch) -> Vec<(String, String)> {
    let opts = Options::new(arch, CPUS);
    let nzv = Options {
        non_zero_vma: Some(0),
        ..opts.clone()
    };
    let placed = Options {
        placed: true,
        dynamic: PLACED_DYNAMIC,
        ..opts.clone()
    };
    // The fragment inside the smallest script of a kernel's own.
    let wrapped = |opts: &Options| {
        format!(
            "ENTRY(_start)\nSECTIONS {{\n. = {:#x};\n.text : {{ *(.text.boot) *(.text .text.*) }}\n.data : {{ *(.data .data.*) }}\n.bss : {{ *(.bss .bss.*) }}\n{}\n}}\n",
            arch.default_base(),
            render(Kind::Fragment, opts).unwrap()
        )
    };
    vec![
        (format!("{} fragment", arch.name()), wrapped(&opts)),
        (format!("{} fragment placed", arch.name()), wrapped(&placed)),
        (
            format!("{} full placed", arch.name()),
            render(Kind::Full, &placed).unwrap(),
        ),
        (
            format!("{} full", arch.name()),
            render(Kind::Full, &opts).unwrap(),
        ),
        (
            format!("{} full non-zero-vma", arch.name()),
            render(Kind::Full, &nzv).unwrap(),
        ),
    ]
}

/// What a linker made of the script, as the runtime and a loader see it.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    /// `.percpu`: VMA, LMA, size in memory and in the file, alignment.
    section: (u64, u64, u64, u64, u64),
    /// Every `_percpu_*` symbol and `CPU_NUM`, by name.
    symbols: BTreeMap<String, u64>,
    /// Every variable: offset and size.
    variables: BTreeMap<String, (u64, u64)>,
    /// The template's initial bytes, straight from the file.
    template: Vec<u8>,
}

fn layout(data: &[u8], what: &str) -> Layout {
    let opts = InspectOptions {
        cpus: Some(CPUS),
        ..InspectOptions::default()
    };
    let report = inspect_bytes(data, what, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
    goblin_agrees(data, &report);
    assert!(report.passed(), "{what}: {:#?}", report.checks);
    let section = report.section.as_ref().expect("a .percpu section");
    let elf = goblin::elf::Elf::parse(data).unwrap();
    let symbols = elf
        .syms
        .iter()
        .filter_map(|sym| {
            let name = elf.strtab.get_at(sym.st_name)?;
            (name.starts_with("_percpu_") || name == "CPU_NUM")
                .then(|| (name.to_string(), sym.st_value))
        })
        .collect();
    let sh = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".percpu"))
        .unwrap();
    let at = sh.sh_offset as usize;
    let template = data[at..at + report.template.size as usize].to_vec();
    Layout {
        section: (
            section.vma,
            section.lma,
            section.mem_size,
            section.file_size,
            section.align,
        ),
        symbols,
        variables: report
            .variables
            .iter()
            .map(|v| (v.name.clone(), (v.offset, v.size)))
            .collect(),
        template,
    }
}

/// What the seed's layout must be whatever the linker: the variables in
/// input order at their alignments, CPU_NUM areas of the rounded-up stride;
/// for a `--placed` script, the template alone, marked, with a stride that
/// holds the dynamic region.
fn check_against_the_seed(layout: &Layout, what: &str) {
    let placed = what.contains(" placed ");
    let mut offset = 0;
    for var in &seed::VARS {
        offset = (offset as u64).next_multiple_of(var.align) as usize;
        let name = format!("seed::{}", var.symbol.trim_start_matches("__PERCPU_"));
        let name = layout
            .variables
            .keys()
            .find(|n| n.ends_with(var.symbol.trim_start_matches("__PERCPU_")))
            .unwrap_or_else(|| panic!("{what}: no {name} in {layout:#?}"));
        assert_eq!(
            layout.variables[name],
            (offset as u64, var.bytes.len() as u64),
            "{what}: {name}"
        );
        assert_eq!(
            &layout.template[offset..offset + var.bytes.len()],
            var.bytes,
            "{what}: {name}'s initial value"
        );
        offset += var.bytes.len();
    }
    let sym = |name: &str| layout.symbols[name];
    assert_eq!(layout.section.1, sym("_percpu_start"), "{what}: LMA");
    if placed {
        // What `percpu_area_layout_placed(0)` gives the platform.
        let stride = ((offset as u64).next_multiple_of(16) + PLACED_DYNAMIC).next_multiple_of(64);
        assert_eq!(
            sym("_percpu_area_stride") - sym("_percpu_load_start"),
            stride,
            "{what}"
        );
        assert_eq!(sym("_percpu_placed"), 1, "{what}");
        let template = sym("_percpu_load_end") - sym("_percpu_load_start");
        assert_eq!(template, offset as u64, "{what}: template");
        assert_eq!(
            sym("_percpu_end") - sym("_percpu_start"),
            template,
            "{what}: _percpu_end - _percpu_start"
        );
        assert_eq!(layout.section.2, template, "{what}: .percpu size");
        return;
    }
    assert!(!layout.symbols.contains_key("_percpu_placed"), "{what}");
    let stride = (offset as u64).next_multiple_of(64);
    assert_eq!(
        sym("_percpu_area_stride") - sym("_percpu_load_start"),
        stride,
        "{what}"
    );
    assert_eq!(
        sym("_percpu_end") - sym("_percpu_start"),
        stride * CPUS as u64,
        "{what}: _percpu_end - _percpu_start"
    );
    assert_eq!(
        layout.section.2,
        stride * CPUS as u64,
        "{what}: .percpu size"
    );
}

#[test]
fn every_script_links_identically_with_every_linker() {
    let linkers = linkers::found_or_fail();
    let reference = linkers::reference();
    let dir = std::env::temp_dir().join(format!("cargo-percpu-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut table: Vec<(String, usize, usize)> = Vec::new();
    let mut failures = Vec::new();
    let mut expected = BTreeMap::new();
    for arch in Arch::ALL {
        let object = seed::object(arch);
        for (name, script) in scripts(arch) {
            let data = reference
                .link(&dir, &script, &object)
                .unwrap_or_else(|e| panic!("{name}: {}: {e}", reference.name));
            let layout = layout(&data, &format!("{name} by {}", reference.name));
            check_against_the_seed(&layout, &format!("{name} by {}", reference.name));
            expected.insert(name, layout);
        }
    }
    table.push((reference.name.clone(), expected.len(), expected.len()));
    for linker in &linkers {
        let (mut tried, mut good) = (0, 0);
        for arch in Arch::ALL.into_iter().filter(|&a| linker.links(a)) {
            let object = seed::object(arch);
            for (name, script) in scripts(arch) {
                tried += 1;
                let what = format!("{name} by {}", linker.name);
                match linker.link(&dir, &script, &object) {
                    Err(err) => failures.push(format!("{what}: does not link: {}", err.trim())),
                    Ok(data) => {
                        let got = layout(&data, &what);
                        if got == expected[&name] {
                            good += 1;
                        } else {
                            failures.push(format!(
                                "{what}: layout differs:\n{got:#?}\nexpected\n{:#?}",
                                expected[&name]
                            ));
                        }
                    }
                }
            }
        }
        table.push((linker.name.clone(), good, tried));
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("scripts linked with the reference's .percpu layout:");
    for (name, good, tried) in &table {
        eprintln!("  {good:>2}/{tried:<2} {name}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The link-time checks hold on every linker: each broken variant of the
/// full script fails to link, with its message.
#[test]
fn every_linker_refuses_a_broken_layout() {
    let mut linkers = linkers::found_or_fail();
    linkers.push(linkers::reference());
    let dir = std::env::temp_dir().join(format!("cargo-percpu-refuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut refused = 0;
    for linker in &linkers {
        for arch in Arch::ALL.into_iter().filter(|&a| linker.links(a)) {
            let script = render(Kind::Full, &Options::new(arch, CPUS)).unwrap();
            let reserve = "(_percpu_area_stride - _percpu_load_start) * CPU_NUM;\n";
            let skew = ". = ALIGN(4K);\n    /* _percpu_start";
            assert!(script.contains(reserve) && script.contains(skew));
            let variants = [
                (
                    "fewer areas",
                    script.replacen(
                        reserve,
                        "(_percpu_area_stride - _percpu_load_start) * 2;\n",
                        1,
                    ),
                    seed::object(arch),
                    "reserves fewer than CPU_NUM areas",
                ),
                (
                    "an unaligned start",
                    script.replacen(skew, ". = ALIGN(4K) + 8;\n    /* _percpu_start", 1),
                    seed::object(arch),
                    "_percpu_start is not aligned",
                ),
                (
                    "a variable aligned to 128",
                    script.clone(),
                    seed::object_aligned(arch, 128),
                    "aligned beyond the area alignment",
                ),
            ];
            // The template-only script: areas reserved after it by a hand
            // edit, and the checks it keeps.
            let placed = render(
                Kind::Full,
                &Options {
                    placed: true,
                    ..Options::new(arch, CPUS)
                },
            )
            .unwrap();
            let end = "         */\n    }\n    /*\n     * _percpu_end";
            assert!(placed.contains(end) && placed.contains(skew));
            let variants = variants.into_iter().chain([
                (
                    "areas after a placed template",
                    placed.replacen(
                        end,
                        "         */\n        . += 64;\n    }\n    /*\n     * _percpu_end",
                        1,
                    ),
                    seed::object(arch),
                    "holds more than the template",
                ),
                (
                    "a placed template at an unaligned start",
                    placed.replacen(skew, ". = ALIGN(4K) + 8;\n    /* _percpu_start", 1),
                    seed::object(arch),
                    "_percpu_start is not aligned",
                ),
                (
                    "a placed variable aligned to 128",
                    placed.clone(),
                    seed::object_aligned(arch, 128),
                    "aligned beyond the area alignment",
                ),
            ]);
            for (what, script, object, message) in variants {
                let what = format!("{} with {what} by {}", arch.name(), linker.name);
                match linker.link(&dir, &script, &object) {
                    Ok(_) => panic!("{what}: links"),
                    Err(err) => assert!(err.contains(message), "{what}: {err}"),
                }
                refused += 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "{refused} broken scripts refused by {} linkers",
        linkers.len()
    );
}
