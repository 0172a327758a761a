//! Links the host tests (x86_64 Linux user space) with the user-space linker
//! script that `cargo percpu ldscript --linux-user` renders: it inserts
//! `.percpu` after `.bss`, at a non-zero VMA, with 4 areas reserved.
//!
//! `PERCPU_TEST_AREA_ALIGN=256` renders it with `--align 256` instead, for
//! `tests/init.rs` to show the script's alignment reaching the runtime.

use percpu_layout::ldscript::{write_script, Arch, Kind, Options};
use percpu_layout::DEFAULT_AREA_ALIGN;

/// Areas the host tests reserve: one per test thread.
const HOST_TEST_CPUS: usize = 4;
/// Dynamic region per area, for the run-time allocations of the tests and
/// benches that use the reserved areas.
const HOST_TEST_DYNAMIC: u64 = 16 * 1024;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(percpu_non_zero_vma)");
    println!(
        "cargo::rustc-check-cfg=cfg(percpu_arch, values(\"x86_64\", \"aarch64\", \"riscv\", \"loongarch64\", \"armv7\", \"none\"))"
    );
    println!(
        "cargo::rustc-check-cfg=cfg(percpu_access, values(\"segment\", \"folded\", \"pointer\", \"naive\"))"
    );
    println!("cargo::rustc-check-cfg=cfg(percpu_test_wide_areas)");
    // The model checker's builds (`percpu/src/model.rs`).
    println!("cargo::rustc-check-cfg=cfg(loom)");
    println!("cargo:rerun-if-env-changed=PERCPU_TEST_AREA_ALIGN");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let sp_naive = std::env::var_os("CARGO_FEATURE_SP_NAIVE").is_some();
    // User space can never map `.percpu` at VMA 0, so there it is implied.
    let non_zero_vma =
        std::env::var_os("CARGO_FEATURE_NON_ZERO_VMA").is_some() || target_os == "linux";
    if non_zero_vma {
        println!("cargo:rustc-cfg=percpu_non_zero_vma");
    }
    // The two decisions `src/arch/` reads, made here and nowhere else.
    let (file, access) = arch_and_access(&target_arch, sp_naive, non_zero_vma);
    println!("cargo:rustc-cfg=percpu_arch=\"{file}\"");
    // None: no file and no `sp-naive`; `src/arch/mod.rs` stops the build.
    if let Some(access) = access {
        println!("cargo:rustc-cfg=percpu_access=\"{access}\"");
    }
    if target_os != "linux" || target_arch != "x86_64" || sp_naive {
        return;
    }
    let align = match std::env::var("PERCPU_TEST_AREA_ALIGN") {
        Ok(text) => text.parse().expect("PERCPU_TEST_AREA_ALIGN is a number"),
        Err(_) => DEFAULT_AREA_ALIGN,
    };
    let opts = Options {
        align,
        dynamic: HOST_TEST_DYNAMIC,
        ..Options::new(Arch::X86_64, HOST_TEST_CPUS)
    };
    let path = write_script(Kind::LinuxUser, &opts)
        .expect("the user-space linker script renders into OUT_DIR");
    // What the tests check the runtime against.
    println!("cargo:rustc-env=PERCPU_TEST_AREA_ALIGN={align}");
    if align >= 256 {
        println!("cargo:rustc-cfg=percpu_test_wide_areas");
    }
    // `-T` with an `INSERT` script augments the default script instead of
    // replacing it. Tests and benches only: users link their own kernels.
    for kind in ["tests", "benches"] {
        println!("cargo:rustc-link-arg-{kind}=-Wl,-T,{}", path.display());
    }
}

/// The file of `src/arch/` that implements the architecture contract for
/// `target_arch` (named by `percpu_layout`'s `Arch::name`; `riscv` is the
/// file both RISC-V architectures share; `none` if percpu has none), and
/// the access family of the `Location` accesses:
///
/// - `segment`: x86_64, every access one `gs:`-relative instruction;
/// - `folded`: RISC-V and LoongArch64 with `.percpu` at VMA 0, a static's
///   load and store one `asm!` block with its symbol in the instruction
///   (`src/arch/load_store.rs`);
/// - `pointer`: the rest (AArch64, ARMv7, RISC-V and LoongArch64 at a
///   non-zero VMA), register + offset and an ordinary access
///   (`src/arch/generic.rs`);
/// - `naive`: `sp-naive` on any architecture, no register
///   (`src/arch/naive.rs`); the architecture's file, if any, still gives
///   the instructions the pointer path uses.
///
/// No family for an architecture without a file, unless `sp-naive`.
fn arch_and_access(
    target_arch: &str,
    sp_naive: bool,
    non_zero_vma: bool,
) -> (&'static str, Option<&'static str>) {
    let (file, family) = match target_arch {
        "x86_64" => ("x86_64", "segment"),
        "aarch64" => ("aarch64", "pointer"),
        "riscv32" | "riscv64" => ("riscv", "folded"),
        "loongarch64" => ("loongarch64", "folded"),
        "arm" => ("armv7", "pointer"),
        _ => ("none", "pointer"),
    };
    let access = if sp_naive {
        Some("naive")
    } else if file == "none" {
        None
    } else if family == "folded" && non_zero_vma {
        Some("pointer")
    } else {
        Some(family)
    };
    (file, access)
}
