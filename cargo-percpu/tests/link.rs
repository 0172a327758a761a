//! Links real programs with rendered scripts (rustc and the linker it uses:
//! rust-lld for the bare-metal targets, the host toolchain for Linux), then
//! checks the result with `inspect` and goblin. Targets that are not
//! installed are skipped, loudly; the host target always runs.
//!
//! `PERCPU_CROSSCHECK_ELFS` (a `:`-separated list) adds more ELF files to
//! cross-check with goblin: `cargo xtask ci` passes the workspace's host test
//! binaries and QEMU kernels there.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_percpu::ldscript::{render, Arch, Kind, Options};
use cargo_percpu::report::{checks, inspect_bytes, InspectOptions, Report};
use common::crosscheck::goblin_agrees;
use common::run::{rustc, target_installed};

/// Every architecture's bare-metal target, as `percpu_layout` names it.
fn targets() -> impl Iterator<Item = (&'static str, Arch)> {
    Arch::ALL.into_iter().map(|arch| (arch.target(), arch))
}

/// The entry point and panic handler every test kernel ends with.
macro_rules! boot_code {
    () => {
        r#"
#[no_mangle]
#[link_section = ".text.boot"]
pub extern "C" fn _start() -> ! {
    loop {}
}
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
"#
    };
}

const KERNEL: &str = concat!(
    r#"
#![no_std]
#![no_main]
#![allow(static_mut_refs, dead_code)]
#[link_section = ".percpu"]
#[used]
static mut __PERCPU_COUNTER: u64 = 0x1122334455667788;
#[link_section = ".percpu"]
#[used]
static mut __PERCPU_FLAG: u8 = 0x5a;
#[link_section = ".percpu"]
#[used]
static mut __PERCPU_BUFFER: [u8; 100] = [7; 100];
pub mod sched {
    #[link_section = ".percpu"]
    #[used]
    pub static mut __PERCPU_CURRENT_TASK: usize = 0;
}
EXTRA
"#,
    boot_code!()
);

const EMPTY_KERNEL: &str = concat!("#![no_std]\n#![no_main]\n", boot_code!());

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cargo-percpu-link-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles `source` for `target` (None: the host) with `script`; the
/// linker's stderr on failure.
fn link(dir: &Path, target: Option<&str>, source: &str, script: &str) -> Result<PathBuf, String> {
    std::fs::write(dir.join("linktest.rs"), source).unwrap();
    std::fs::write(dir.join("link.ld"), script).unwrap();
    let out = dir.join("linktest");
    let mut cmd = Command::new(rustc());
    cmd.current_dir(dir)
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "linktest",
            "-C",
            "opt-level=1",
            // The variables are only `#[used]`: rustc 1.85 does not mark
            // them SHF_GNU_RETAIN (1.90 does), so --gc-sections drops them.
            "-C",
            "link-dead-code",
        ])
        .arg(format!("-Clink-arg=-T{}", dir.join("link.ld").display()))
        .arg("-o")
        .arg(&out)
        .arg("linktest.rs");
    if let Some(target) = target {
        cmd.args([
            "--target",
            target,
            "-C",
            "panic=abort",
            "-C",
            "relocation-model=static",
        ]);
    }
    let result = cmd.output().expect("rustc runs");
    if result.status.success() {
        Ok(out)
    } else {
        Err(String::from_utf8_lossy(&result.stderr).into_owned())
    }
}

fn inspect(path: &Path, cpus: usize) -> (Vec<u8>, Report) {
    let data = std::fs::read(path).unwrap();
    let opts = InspectOptions {
        cpus: Some(cpus),
        ..InspectOptions::default()
    };
    let report = inspect_bytes(&data, &path.display().to_string(), &opts).expect("a usable ELF");
    goblin_agrees(&data, &report);
    (data, report)
}

/// The template bytes of a variable, straight from the file via goblin.
fn initial_bytes(data: &[u8], report: &Report, name: &str, len: usize) -> Vec<u8> {
    let elf = goblin::elf::Elf::parse(data).unwrap();
    let sh = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".percpu"))
        .unwrap();
    let var = report
        .variables
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no {name}"));
    let at = (sh.sh_offset + report.template.start - sh.sh_addr + var.offset) as usize;
    data[at..at + len].to_vec()
}

/// The variables of `KERNEL`, as `inspect` names them.
const KERNEL_VARIABLES: [&str; 4] = [
    "linktest::BUFFER",
    "linktest::COUNTER",
    "linktest::FLAG",
    "linktest::sched::CURRENT_TASK",
];

/// The report's variable names, sorted.
fn names(report: &Report) -> Vec<&str> {
    let mut names: Vec<&str> = report.variables.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    names
}

#[test]
fn kernels_link_and_inspect_clean_on_every_installed_target() {
    let mut built = 0;
    for (target, arch) in targets() {
        if !target_installed(target) {
            eprintln!("skipped: target {target} is not installed");
            continue;
        }
        for (variant, nzv) in [("vma0", None), ("nzv", Some(0))] {
            let dir = scratch(&format!("{target}-{variant}"));
            let opts = Options {
                non_zero_vma: nzv,
                ..Options::new(arch, 4)
            };
            let script = render(Kind::Full, &opts).unwrap();
            let source = KERNEL.replace("EXTRA", "");
            let elf = link(&dir, Some(target), &source, &script)
                .unwrap_or_else(|e| panic!("{target} {variant}: {e}"));
            let (data, report) = inspect(&elf, 4);
            assert!(report.passed(), "{target} {variant}: {:#?}", report.checks);
            assert_eq!(names(&report), KERNEL_VARIABLES, "{target}");
            let section = report.section.as_ref().unwrap();
            match nzv {
                None => assert_eq!(section.vma, 0, "{target}"),
                Some(_) => assert_eq!(section.vma, section.lma, "{target}"),
            }
            assert!(!section.nobits);
            // The template really holds the initial values.
            assert_eq!(
                initial_bytes(&data, &report, "linktest::COUNTER", 8),
                0x1122334455667788u64.to_le_bytes(),
                "{target}"
            );
            assert_eq!(initial_bytes(&data, &report, "linktest::FLAG", 1), [0x5a]);
            assert_eq!(
                initial_bytes(&data, &report, "linktest::BUFFER", 100),
                [7; 100]
            );
            assert_eq!(report.template.areas, 4, "{target}");
            assert_eq!(report.template.stride % 64, 0);
            assert!(report.template.size >= 8 + 1 + 100 + arch.address_bits() as u64 / 8);
            // The image starts at the base with the boot code.
            let parsed = goblin::elf::Elf::parse(&data).unwrap();
            assert_eq!(
                parsed.entry,
                arch.default_base(),
                "{target}: _start is first in .text"
            );
            built += 1;
        }
    }
    eprintln!("linked {built} kernels");
}

#[test]
fn an_empty_percpu_links_to_a_sane_layout() {
    let Some((target, arch)) = targets().find(|(t, _)| target_installed(t)) else {
        eprintln!("skipped: no bare-metal target installed");
        return;
    };
    let dir = scratch("empty");
    let script = render(Kind::Full, &Options::new(arch, 3)).unwrap();
    let elf = link(&dir, Some(target), EMPTY_KERNEL, &script).unwrap();
    let (_, report) = inspect(&elf, 3);
    assert!(report.passed(), "{:#?}", report.checks);
    assert!(report.variables.is_empty());
    assert_eq!(
        (
            report.template.size,
            report.template.stride,
            report.template.areas
        ),
        (0, 64, 3)
    );
}

#[test]
fn a_fragment_in_a_hand_written_script() {
    let Some((target, arch)) = targets().find(|(t, _)| target_installed(t)) else {
        eprintln!("skipped: no bare-metal target installed");
        return;
    };
    let dir = scratch("fragment");
    let fragment = render(
        Kind::Fragment,
        &Options {
            align: 256,
            ..Options::new(arch, 2)
        },
    )
    .unwrap();
    let script = format!(
        "ENTRY(_start)\nSECTIONS {{\n. = {:#x};\n.text : {{ *(.text.boot) *(.text .text.*) }}\n.data : {{ *(.data .data.* .rodata .rodata.*) }}\n{fragment}\n/DISCARD/ : {{ *(.eh_frame*) *(.ARM.exidx*) }}\n}}\n",
        arch.default_base()
    );
    let elf = link(&dir, Some(target), &KERNEL.replace("EXTRA", ""), &script).unwrap();
    let data = std::fs::read(&elf).unwrap();
    let opts = InspectOptions {
        cpus: Some(2),
        align: 256,
    };
    let report = inspect_bytes(&data, "fragment", &opts).unwrap();
    goblin_agrees(&data, &report);
    assert!(report.passed(), "{:#?}", report.checks);
    assert_eq!(report.template.stride, 256);
    assert_eq!(report.template.align, 256);
    assert_eq!(report.section.as_ref().unwrap().mem_size, 512);
    // No padding: the template is its variables, and the stride reaches the
    // runtime as a symbol, which wins over `--align`.
    assert!(report.template.size > 0 && report.template.size < 256);
    let defaults = inspect_bytes(&data, "fragment", &InspectOptions::default()).unwrap();
    assert_eq!(defaults.template, report.template);

    // A stride edited away from the rule is caught: not whole alignments
    // (a larger multiple would be a dynamic region, which is allowed).
    let line = "_percpu_area_stride = _percpu_load_start + MAX(ALIGN(_percpu_load_end - _percpu_load_start, 256), 256);";
    assert!(script.contains(line));
    let edited = script.replacen(line, "_percpu_area_stride = _percpu_load_start + 0x180;", 1);
    let elf = link(&dir, Some(target), &KERNEL.replace("EXTRA", ""), &edited).unwrap();
    let report = inspect_bytes(&std::fs::read(&elf).unwrap(), "edited", &opts).unwrap();
    let symbols = report.check(checks::SYMBOLS).unwrap();
    assert!(!symbols.passed, "{symbols:?}");
    assert!(
        symbols.detail.contains("_percpu_area_stride 0x180"),
        "{symbols:?}"
    );
}

#[test]
fn a_dynamic_region_is_reserved_and_reported() {
    let Some((target, arch)) = targets().find(|(t, _)| target_installed(t)) else {
        eprintln!("skipped: no bare-metal target installed");
        return;
    };
    let dir = scratch("dynamic");
    let script = render(
        Kind::Full,
        &Options {
            dynamic: 4096,
            ..Options::new(arch, 3)
        },
    )
    .unwrap();
    let elf = link(&dir, Some(target), &KERNEL.replace("EXTRA", ""), &script).unwrap();
    let data = std::fs::read(&elf).unwrap();
    let opts = InspectOptions {
        cpus: Some(3),
        ..InspectOptions::default()
    };
    let report = inspect_bytes(&data, "dynamic", &opts).unwrap();
    goblin_agrees(&data, &report);
    assert!(report.passed(), "{:#?}", report.checks);
    let t = &report.template;
    // The region starts after the template, on 16 bytes, and takes at
    // least what was asked; the stride holds both, in whole alignments.
    assert_eq!(t.dynamic_start, t.size.next_multiple_of(16));
    assert!(
        t.dynamic_size >= 4096 && t.dynamic_size < 4096 + 64,
        "{t:?}"
    );
    assert_eq!(t.stride, t.dynamic_start + t.dynamic_size);
    assert_eq!(t.stride % 64, 0);
    assert_eq!(report.section.as_ref().unwrap().mem_size, 3 * t.stride);
    let text = cargo_percpu::report::render_text(&report);
    assert!(text.contains("bytes for run-time allocations"), "{text}");
}

#[test]
fn link_time_asserts_catch_a_broken_layout() {
    let Some((target, arch)) = targets().find(|(t, _)| target_installed(t)) else {
        eprintln!("skipped: no bare-metal target installed");
        return;
    };
    let dir = scratch("asserts");
    let script = render(Kind::Full, &Options::new(arch, 4)).unwrap();
    // A variable aligned beyond the area alignment.
    let big = "#[repr(align(128))] pub struct Big(u8);\n#[link_section = \".percpu\"]\n#[used]\nstatic mut __PERCPU_BIG: Big = Big(1);";
    let err = link(&dir, Some(target), &KERNEL.replace("EXTRA", big), &script).unwrap_err();
    assert!(err.contains("aligned beyond the area alignment"), "{err}");
    // ... which --align 128 accepts.
    let wide = render(
        Kind::Full,
        &Options {
            align: 128,
            ..Options::new(arch, 4)
        },
    )
    .unwrap();
    link(&dir, Some(target), &KERNEL.replace("EXTRA", big), &wide).unwrap();

    // A reservation edited down to fewer areas than CPU_NUM.
    let line = "(_percpu_area_stride - _percpu_load_start) * CPU_NUM;\n";
    assert!(script.contains(line));
    let shrunk = script.replacen(line, "(_percpu_area_stride - _percpu_load_start) * 2;\n", 1);
    let err = link(&dir, Some(target), &KERNEL.replace("EXTRA", ""), &shrunk).unwrap_err();
    assert!(err.contains("reserves fewer than CPU_NUM areas"), "{err}");

    // A start that is not aligned.
    let skewed = script.replacen(
        ". = ALIGN(4K);\n    /* _percpu_start",
        ". = ALIGN(4K) + 8;\n    /* _percpu_start",
        1,
    );
    assert_ne!(skewed, script);
    let err = link(&dir, Some(target), &KERNEL.replace("EXTRA", ""), &skewed).unwrap_err();
    assert!(err.contains("_percpu_start is not aligned"), "{err}");
}

const HOST_PROGRAM: &str = r#"
#![allow(static_mut_refs)]
#[link_section = ".percpu"]
#[used]
static mut __PERCPU_COUNTER: u64 = 0x1122334455667788;
#[link_section = ".percpu"]
#[used]
static mut __PERCPU_FLAG: u8 = 0x5a;
extern "C" {
    static _percpu_start: u8;
    static _percpu_end: u8;
    static _percpu_load_start: u8;
}
fn main() {
    unsafe {
        // black_box: the compiler may assume distinct statics never share an address.
        let start = std::hint::black_box(&raw const _percpu_start as usize);
        let end = std::hint::black_box(&raw const _percpu_end as usize);
        let load_start = std::hint::black_box(&raw const _percpu_load_start as usize);
        let offset = &raw const __PERCPU_COUNTER as usize - load_start;
        let template = core::ptr::read_volatile((start + offset) as *const u64);
        // Write every area: the reservation is really mapped.
        for at in (start..end).step_by(64) {
            core::ptr::write_volatile(at as *mut u8, 1);
        }
        println!("{template:#x} {} {}", end - start, load_start == start);
    }
}
"#;

#[test]
fn the_linux_user_script_links_and_runs_on_the_host() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = scratch("linux-user");
    let script = render(Kind::LinuxUser, &Options::new(Arch::X86_64, 4)).unwrap();
    let program = link(&dir, None, HOST_PROGRAM, &script).unwrap();
    let out = Command::new(&program).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0x1122334455667788 256 true"
    );
    let (_, report) = inspect(&program, 4);
    assert!(report.passed(), "{:#?}", report.checks);
    assert!(report
        .check(checks::VMA)
        .unwrap()
        .detail
        .contains("non-zero-vma"));
}

#[test]
fn extra_elfs_from_the_environment_agree_with_goblin() {
    let Ok(list) = std::env::var("PERCPU_CROSSCHECK_ELFS") else {
        eprintln!("PERCPU_CROSSCHECK_ELFS is not set: nothing more to cross-check");
        return;
    };
    for path in list.split(':').filter(|p| !p.is_empty()) {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let report = inspect_bytes(&data, path, &InspectOptions::default())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        goblin_agrees(&data, &report);
        eprintln!(
            "{path}: goblin agrees ({} variables)",
            report.variables.len()
        );
    }
}

#[test]
fn a_relocatable_object_lays_out_its_input_sections() {
    let Some((target, _)) = targets().find(|(t, _)| target_installed(t)) else {
        eprintln!("skipped: no bare-metal target installed");
        return;
    };
    let dir = scratch("object");
    std::fs::write(dir.join("linktest.rs"), KERNEL.replace("EXTRA", "")).unwrap();
    let status = Command::new(rustc())
        .current_dir(&dir)
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "linktest",
            "--emit=obj",
            "-C",
            "opt-level=1",
            "-C",
            "panic=abort",
        ])
        .args(["--target", target, "-o", "linktest.o", "linktest.rs"])
        .status()
        .unwrap();
    assert!(status.success());
    let (_, report) = inspect(&dir.join("linktest.o"), 4);
    assert!(report.passed(), "{:#?}", report.checks);
    assert_eq!(report.file.kind, "relocatable");
    assert_eq!(names(&report), KERNEL_VARIABLES);
    // Distinct, non-overlapping offsets inside the laid-out template.
    let mut spans: Vec<(u64, u64)> = report
        .variables
        .iter()
        .map(|v| (v.offset, v.offset + v.size))
        .collect();
    spans.sort();
    assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "{spans:?}");
    assert!(spans.last().unwrap().1 <= report.template.size);
}
