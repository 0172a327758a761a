//! The link matrix: every script `cargo percpu ldscript` renders for the
//! six architectures (the fragment, the full script and the full
//! `--non-zero-vma` script, with `--cpus 8`) linked by every linker our users
//! run, and each `.percpu` layout compared with the one the current
//! toolchain's rust-lld gives.
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

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_percpu::ldscript::{render, Arch, Kind, Options};
use cargo_percpu::report::{inspect_bytes, InspectOptions};
use common::crosscheck::goblin_agrees;
use common::run::rustc;
use common::seed;

/// CPUs every script reserves areas for.
const CPUS: usize = 8;

/// Whether a missing linker fails the test rather than skipping it.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// One linker: how to run it, and for which architectures.
struct Linker {
    /// What the report calls it: `rust-lld 1.85 (LLD 19.1.7)`, `GNU ld ...`.
    name: String,
    program: PathBuf,
    /// Arguments before the script and the object.
    args: Vec<&'static str>,
    /// The architectures it links; `None`: every one (LLD).
    arch: Option<Arch>,
}

impl Linker {
    fn links(&self, arch: Arch) -> bool {
        self.arch.is_none_or(|a| a == arch)
    }

    /// Links `object` with `script` in `dir`: the output, or the linker's
    /// error output.
    fn link(&self, dir: &Path, script: &str, object: &[u8]) -> Result<Vec<u8>, String> {
        std::fs::write(dir.join("seed.o"), object).unwrap();
        std::fs::write(dir.join("link.ld"), script).unwrap();
        let out = dir.join("linked");
        let _ = std::fs::remove_file(&out);
        let result = Command::new(&self.program)
            .current_dir(dir)
            .args(&self.args)
            .args(["-T", "link.ld", "seed.o", "-o"])
            .arg(&out)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", self.program.display()));
        if result.status.success() {
            Ok(std::fs::read(&out).unwrap())
        } else {
            Err(String::from_utf8_lossy(&result.stderr).into_owned())
        }
    }
}

/// The first line of `program --version`, if it runs.
fn version(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .arg("--version")
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    })
}

/// The rust-lld of the toolchain whose `rustc` is `rustc` (a command).
fn rust_lld(rustc: &mut Command) -> Result<PathBuf, String> {
    let out = rustc
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let host = host_triple();
    let lld = sysroot.join("lib/rustlib").join(host).join("bin/rust-lld");
    if lld.is_file() {
        Ok(lld)
    } else {
        Err(format!("{} does not exist", lld.display()))
    }
}

fn host_triple() -> String {
    let out = Command::new(rustc()).arg("-vV").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

fn lld_linker(label: &str, lld: PathBuf) -> Linker {
    let args = vec!["-flavor", "gnu"];
    let version = version(&lld, &args).unwrap_or_default();
    // "LLD 19.1.7 (/checkout/...) (compatible with GNU linkers)"
    let short = version.split(" (").next().unwrap_or(&version).to_string();
    Linker {
        name: format!("rust-lld {label} ({short})"),
        program: lld,
        args,
        arch: None,
    }
}

/// GNU ld for each architecture: the binary, the extra arguments and the
/// Debian package (`None`: Debian 12 has no binutils for it).
const GNU_LD: [(Arch, &str, &[&str], Option<&str>); 6] = [
    (
        Arch::X86_64,
        "x86_64-linux-gnu-ld",
        &[],
        Some("binutils-x86-64-linux-gnu"),
    ),
    (
        Arch::Aarch64,
        "aarch64-linux-gnu-ld",
        &[],
        Some("binutils-aarch64-linux-gnu"),
    ),
    (
        Arch::Riscv64,
        "riscv64-linux-gnu-ld",
        &[],
        Some("binutils-riscv64-linux-gnu"),
    ),
    (
        Arch::Riscv32,
        "riscv64-linux-gnu-ld",
        &["-m", "elf32lriscv"],
        Some("binutils-riscv64-linux-gnu"),
    ),
    (Arch::Loongarch64, "loongarch64-linux-gnu-ld", &[], None),
    (
        Arch::Armv7,
        "arm-none-eabi-ld",
        &[],
        Some("binutils-arm-none-eabi"),
    ),
];

fn on_path(binary: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
}

/// Every linker to try after the reference, and what could not be found:
/// (linkers, missing and needed, missing and optional).
fn linkers() -> (Vec<Linker>, Vec<String>, Vec<String>) {
    let mut found = Vec::new();
    let mut needed = Vec::new();
    let mut optional = Vec::new();
    // The oldest toolchain we support, then any asked for.
    let msrv = env!("CARGO_PKG_RUST_VERSION");
    let extra = std::env::var("PERCPU_LINK_TOOLCHAINS").unwrap_or_default();
    let toolchains = std::iter::once(msrv).chain(extra.split(',').map(str::trim));
    for toolchain in toolchains.filter(|t| !t.is_empty()) {
        let mut cmd = Command::new("rustup");
        cmd.args(["run", toolchain, "rustc"]);
        match rust_lld(&mut cmd) {
            Ok(lld) => found.push(lld_linker(toolchain, lld)),
            Err(why) => {
                let line = format!(
                    "rust-lld of toolchain {toolchain} ({why}; rustup toolchain install --profile minimal {toolchain})"
                );
                if toolchain == msrv {
                    needed.push(line)
                } else {
                    optional.push(line)
                }
            }
        }
    }
    for (arch, binary, args, package) in GNU_LD {
        // The host's own ld is x86_64's on an x86_64 host.
        let program = on_path(binary).or_else(|| {
            (arch == Arch::X86_64 && host_triple().starts_with("x86_64-"))
                .then(|| on_path("ld"))
                .flatten()
        });
        match (program, package) {
            (Some(program), _) => {
                let version = version(&program, args).unwrap_or_default();
                found.push(Linker {
                    name: format!("GNU ld {} ({version})", arch.name()),
                    program,
                    args: args.to_vec(),
                    arch: Some(arch),
                });
            }
            (None, Some(package)) => needed.push(format!(
                "{binary} for {} (apt-get install {package})",
                arch.name()
            )),
            (None, None) => optional.push(format!(
                "{binary} for {}: Debian 12 packages no binutils for it",
                arch.name()
            )),
        }
    }
    (found, needed, optional)
}

/// The scripts of the matrix for `arch`: (name, script).
fn scripts(arch: Arch) -> Vec<(String, String)> {
    let opts = Options::new(arch, CPUS);
    let nzv = Options {
        non_zero_vma: Some(0),
        ..opts.clone()
    };
    let fragment = render(Kind::Fragment, &opts).unwrap();
    // The fragment inside the smallest script of a kernel's own.
    let wrapped = format!(
        "ENTRY(_start)\nSECTIONS {{\n. = {:#x};\n.text : {{ *(.text.boot) *(.text .text.*) }}\n.data : {{ *(.data .data.*) }}\n.bss : {{ *(.bss .bss.*) }}\n{fragment}\n}}\n",
        arch.default_base()
    );
    vec![
        (format!("{} fragment", arch.name()), wrapped),
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
/// input order at their alignments, CPU_NUM areas of the rounded-up stride.
fn check_against_the_seed(layout: &Layout, what: &str) {
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
    let stride = (offset as u64).next_multiple_of(64);
    let sym = |name: &str| layout.symbols[name];
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
    assert_eq!(layout.section.1, sym("_percpu_start"), "{what}: LMA");
}

#[test]
fn every_script_links_identically_with_every_linker() {
    let (linkers, needed, optional) = linkers();
    for line in &optional {
        eprintln!("skipped: {line}");
    }
    if !needed.is_empty() {
        let list = needed.join("\n  ");
        assert!(
            !in_ci(),
            "CI=true and linkers of the matrix are missing (cargo xtask print-deps lists them):\n  {list}"
        );
        eprintln!("skipped (set CI=true to fail instead):\n  {list}");
    }
    let reference = lld_linker(
        "of the toolchain under test",
        rust_lld(&mut Command::new(rustc())).expect("the toolchain under test has rust-lld"),
    );
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
    let (mut linkers, _, _) = linkers();
    linkers.push(lld_linker(
        "of the toolchain under test",
        rust_lld(&mut Command::new(rustc())).expect("the toolchain under test has rust-lld"),
    ));
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
