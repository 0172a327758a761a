//! Renders the kernel's linker script with `cargo percpu ldscript --full`'s
//! renderer (dogfooding: if the rendered script is wrong, the kernel fails).

use percpu_layout::ldscript::{render, Arch, Kind, Options};
use percpu_layout::{area_stride_script, symbols, DEFAULT_AREA_ALIGN};
use std::env;
use std::path::PathBuf;

/// CPUs (and per-CPU areas) when `PERCPU_TEST_CPUS` is not set.
const DEFAULT_CPUS: usize = 4;

/// The area alignment of the `wide-areas` configuration.
const WIDE_ALIGN: u64 = 256;

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let Some(arch) = Arch::from_target(&target) else {
        panic!("the test kernel has no linker script for target `{target}`");
    };
    let feature = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    // One area per CPU the kernel boots: `PERCPU_TEST_CPUS` (the runner's
    // `--cpus`), 4 by default, 1 with `sp-naive`.
    let requested = env::var("PERCPU_TEST_CPUS").ok();
    let cpus: usize = match requested.as_deref() {
        None | Some("") => DEFAULT_CPUS,
        Some(text) => match text.parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("PERCPU_TEST_CPUS={text}: not a CPU count"),
        },
    };
    let cpus = if feature("SP_NAIVE") {
        assert!(
            requested.is_none() || cpus == 1,
            "sp-naive has exactly one CPU, PERCPU_TEST_CPUS={cpus}"
        );
        1
    } else {
        cpus
    };
    let align = if feature("WIDE_AREAS") {
        WIDE_ALIGN
    } else {
        DEFAULT_AREA_ALIGN
    };
    // Placed areas: the script holds the template only (`ldscript
    // --placed`), which is nobody's area; the kernel places them. With a
    // percpu 0.4-style script (`legacy-script`), which knows nothing of
    // placement, the contiguous script of one area: the template.
    let placed = feature("PLACED");
    let old_style = feature("LEGACY_SCRIPT");
    let script_cpus = if placed && old_style { 1 } else { cpus };
    let opts = Options {
        placed: placed && !old_style,
        align,
        // `dynamic::DYNAMIC`: room for the run-time allocations (placed
        // areas keep each allocation's constructor beside it).
        dynamic: if placed { 0x4000 } else { 4096 },
        base: Some(base(arch, if placed { 1 } else { cpus })),
        // At the page after the boot stacks: its load address.
        non_zero_vma: feature("NON_ZERO_VMA").then_some(0),
        ..Options::new(arch, script_cpus)
    };
    let mut script = render(Kind::Full, &opts)
        .unwrap_or_else(|err| panic!("cannot render the linker script: {err:?}"));
    if old_style {
        script = legacy(&script);
    }
    let path = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("kernel.ld");
    std::fs::write(&path, script).expect("the linker script is written to OUT_DIR");
    println!("cargo:rustc-link-arg=-T{}", path.display());
    println!("cargo:rustc-env=PERCPU_TEST_ARCH={}", arch.name());
    // What the kernel checks its areas against.
    println!("cargo:rustc-env=PERCPU_TEST_AREA_ALIGN={align}");
    // `MAX_CPUS`: the areas the script reserves are the CPUs the kernel boots.
    println!("cargo:rustc-env=PERCPU_TEST_CPUS={cpus}");
    println!("cargo:rerun-if-env-changed=PERCPU_TEST_CPUS");
    println!("cargo:rerun-if-changed=build.rs");
    // Fault injection for testing the test (see `injected` in main.rs).
    println!("cargo:rerun-if-env-changed=PERCPU_TEST_KERNEL_INJECT");
    // The templates are compiled into percpu_layout, but name them anyway so
    // that an edited template always relinks the kernel.
    println!("cargo:rerun-if-changed=../../ld-templates");
}

/// An upper bound of one area: `BIG` (0x11000 bytes), the other variables
/// and the 4 KiB dynamic region (`checks.rs` sizes its external buffer by
/// the same bound).
const AREA_BOUND: u64 = 0x13000;

/// The load address: QEMU's usual one, unless `.percpu`'s VMA range (0 up
/// to every area's end) would reach it, which the linker rejects as
/// overlapping sections; then the next 2 MiB boundary above that range.
/// Only x86_64 (1 MiB) and loongarch64 (2 MiB) load that low.
fn base(arch: Arch, cpus: usize) -> u64 {
    const STEP: u64 = 2 << 20;
    let areas = cpus as u64 * AREA_BOUND;
    if areas < arch.default_base() {
        arch.default_base()
    } else {
        areas.div_ceil(STEP) * STEP
    }
}

/// The script as percpu 0.4 users wrote it: the same layout, without the
/// `_percpu_area_*` symbols, the reservation spelled out with 64.
fn legacy(script: &str) -> String {
    let defined = [symbols::AREA_ALIGN, symbols::AREA_STRIDE];
    let stride = format!("({} - {})", symbols::AREA_STRIDE, symbols::LOAD_START);
    let old: String = script
        .lines()
        .filter(|line| !defined.iter().any(|sym| line.trim_start().starts_with(sym)))
        .map(|line| line.replace(&stride, &area_stride_script(DEFAULT_AREA_ALIGN, 0)) + "\n")
        .collect();
    assert!(
        !old.contains("_percpu_area_"),
        "the legacy script still names a new symbol"
    );
    old
}
