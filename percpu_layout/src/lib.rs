//! The link contract of per-CPU data, defined once.
//!
//! The `percpu` runtime, its linker scripts and the tools that render and
//! inspect them agree on a handful of names and one rule. They are all here:
//!
//! - the section, [`SECTION`], and the prefix of a variable's storage
//!   symbol, [`VARIABLE_PREFIX`];
//! - the symbols a linker script defines, in [`symbols`];
//! - the area alignment, [`DEFAULT_AREA_ALIGN`] unless a script says
//!   otherwise, and the stride rule, [`area_stride`];
//! - each architecture's name and offset reach, [`Arch`].
//!
//! With the default `std` feature, [`ldscript`] renders the linker scripts
//! from the templates this package carries. Without it the crate is
//! `no_std` and the runtime reads the contract at run time.
//!
//! The crate has no dependency, so that a `build.rs` can use it without
//! pulling anything else into the build.

#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

use core::fmt;

#[cfg(feature = "std")]
pub mod ldscript;

/// The output section that holds the template: every per-CPU variable.
pub const SECTION: &str = ".percpu";

/// The prefix of a per-CPU variable's storage symbol: `static X` is stored
/// as `__PERCPU_X`.
pub const VARIABLE_PREFIX: &str = "__PERCPU_";

/// The symbols a linker script defines for the runtime.
pub mod symbols {
    /// Where the template (CPU 0's area) is loaded.
    pub const START: &str = "_percpu_start";
    /// The end of the reservation: all areas.
    pub const END: &str = "_percpu_end";
    /// The template's first byte, as a VMA in [`SECTION`](crate::SECTION).
    pub const LOAD_START: &str = "_percpu_load_start";
    /// The template's end, as a VMA in [`SECTION`](crate::SECTION).
    pub const LOAD_END: &str = "_percpu_load_end";
    /// The area alignment, as an offset from [`LOAD_START`] (at VMA 0, the
    /// symbol's value). Scripts older than this symbol mean
    /// [`DEFAULT_AREA_ALIGN`](crate::DEFAULT_AREA_ALIGN).
    pub const AREA_ALIGN: &str = "_percpu_area_align";
    /// The distance between two areas, as an offset from [`LOAD_START`]:
    /// [`area_stride`](crate::area_stride) of the template and the alignment.
    /// Scripts older than this symbol mean that rule with the alignment.
    pub const AREA_STRIDE: &str = "_percpu_area_stride";
    /// Defined (as the absolute value 1) only by a template-only script for
    /// placed areas (`cargo percpu ldscript --placed`): the section holds
    /// the template and no areas, and [`AREA_STRIDE`] is the size of each
    /// area the platform places.
    pub const PLACED: &str = "_percpu_placed";
}

/// The area alignment when none is asked for, and the least there is: areas
/// start on a cache line, so that no two CPUs share one.
pub const DEFAULT_AREA_ALIGN: u64 = 64;

/// Whether `align` can be an area alignment: a power of two, at least
/// [`DEFAULT_AREA_ALIGN`].
pub const fn is_area_align(align: u64) -> bool {
    align >= DEFAULT_AREA_ALIGN && align.is_power_of_two()
}

/// The stride rule: the template size rounded up to the area alignment,
/// never less than one alignment (so that an empty template still gives
/// distinct areas). `None` if that overflows. `align` is a power of two.
///
/// A linker script spells the same rule as [`area_stride_script`].
pub const fn area_stride(template_size: u64, align: u64) -> Option<u64> {
    match template_size.checked_add(align - 1) {
        Some(padded) if padded < align => Some(align),
        Some(padded) => Some(padded & !(align - 1)),
        None => None,
    }
}

/// The alignment of the dynamic region's start, and of its allocator's
/// smallest block.
pub const DYNAMIC_ALIGN: u64 = 16;

/// Where an area's dynamic region (run-time per-CPU allocations) starts:
/// right after the template, rounded up to [`DYNAMIC_ALIGN`]. It ends at
/// the stride, so it is whatever the stride leaves after the template.
pub const fn dynamic_start(template_size: u64) -> u64 {
    template_size.next_multiple_of(DYNAMIC_ALIGN)
}

/// The stride of areas with a dynamic region of `dynamic` bytes: the stride
/// rule applied to the template and the region. With `dynamic` 0 it is
/// [`area_stride`] of the template alone.
pub const fn area_stride_with_dynamic(template_size: u64, dynamic: u64, align: u64) -> Option<u64> {
    if dynamic == 0 {
        return area_stride(template_size, align);
    }
    match dynamic_start(template_size).checked_add(dynamic) {
        Some(bytes) => area_stride(bytes, align),
        None => None,
    }
}

/// [`area_stride_with_dynamic`] as a linker-script expression, for an
/// `align` and a `dynamic` size known when the script is rendered.
#[cfg(feature = "std")]
pub fn area_stride_script(align: u64, dynamic: u64) -> String {
    let template = format!(
        "{end} - {start}",
        end = symbols::LOAD_END,
        start = symbols::LOAD_START
    );
    let bytes = if dynamic == 0 {
        template
    } else {
        format!("ALIGN({template}, {DYNAMIC_ALIGN}) + {dynamic}")
    };
    format!("MAX(ALIGN({bytes}, {align}), {align})")
}

/// Why [`Arch::parse`] refused a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchNameError {
    /// No supported architecture goes by that name.
    Unknown,
    /// The name fits each of these: the user must pick one.
    Ambiguous(&'static [Arch]),
}

impl fmt::Display for ArchNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, arches): (&str, &[Arch]) = match self {
            ArchNameError::Unknown => ("unknown architecture", &Arch::ALL),
            ArchNameError::Ambiguous(arches) => ("ambiguous architecture", arches),
        };
        write!(f, "{what} (expected one of ")?;
        for (i, arch) in arches.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{}", arch.name())?;
        }
        f.write_str(")")
    }
}

impl core::error::Error for ArchNameError {}

/// An architecture the runtime supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86_64: per-CPU register GS_BASE, access `gs:[offset]`.
    X86_64,
    /// AArch64: per-CPU register TPIDR_EL1 (or TPIDR_EL2).
    Aarch64,
    /// 64-bit RISC-V: per-CPU register `gp`.
    Riscv64,
    /// 32-bit RISC-V: per-CPU register `gp`.
    Riscv32,
    /// LoongArch64: per-CPU register `$r21`.
    Loongarch64,
    /// ARMv7-A (Rust's `target_arch = "arm"`): per-CPU register TPIDRPRW.
    Armv7,
}

impl Arch {
    /// Every architecture, in a fixed order.
    pub const ALL: [Arch; 6] = [
        Arch::X86_64,
        Arch::Aarch64,
        Arch::Riscv64,
        Arch::Riscv32,
        Arch::Loongarch64,
        Arch::Armv7,
    ];

    /// The architecture's row of [`ARCHES`]: every fact about it.
    pub const fn row(self) -> &'static ArchRow {
        &ARCHES[self as usize]
    }

    /// The architecture of its [`name`](Arch::name).
    pub fn from_name(name: &str) -> Option<Arch> {
        ARCHES
            .iter()
            .find(|row| row.name == name)
            .map(|row| row.arch)
    }

    /// The architecture a user means by `name`: our [`name`](Arch::name),
    /// or rustc's `target_arch` for it ([`rustc_arch`](Arch::rustc_arch),
    /// such as `arm`). `riscv`, which names two, is
    /// [`ArchNameError::Ambiguous`].
    pub fn parse(name: &str) -> Result<Arch, ArchNameError> {
        if let Some(arch) = Arch::from_name(name) {
            return Ok(arch);
        }
        if let Some(row) = ARCHES.iter().find(|row| row.rustc_arch == name) {
            return Ok(row.arch);
        }
        // What people call both RISC-V widths.
        if name == "riscv" {
            return Err(ArchNameError::Ambiguous(&[Arch::Riscv64, Arch::Riscv32]));
        }
        Err(ArchNameError::Unknown)
    }

    /// Rustc's `target_arch` (`cfg(target_arch = "...")`) for the
    /// architecture: our [`name`](Arch::name), except `arm` for ARMv7-A.
    pub fn rustc_arch(self) -> &'static str {
        self.row().rustc_arch
    }

    /// The architecture of a target triple such as `aarch64-unknown-none` or
    /// `riscv64gc-unknown-none-elf`.
    pub fn from_target(triple: &str) -> Option<Arch> {
        // Only a triple with a vendor/OS part counts: a bare name is not a target.
        let (cpu, _) = triple.split_once('-')?;
        ARCHES
            .iter()
            .find(|row| {
                row.triple_cpus.contains(&cpu)
                    || row.triple_cpu_prefixes.iter().any(|p| cpu.starts_with(p))
            })
            .map(|row| row.arch)
    }

    /// The architecture of an ELF file's `e_machine` and class (32 or 64
    /// bits).
    pub fn from_elf(machine: u16, bits: u32) -> Option<Arch> {
        ARCHES
            .iter()
            .find(|row| row.elf_machine == machine && row.address_bits == bits)
            .map(|row| row.arch)
    }

    /// Our one name for the architecture, everywhere: `--arch`, the test
    /// matrix, the codegen report.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The bare-metal target this project builds, tests and measures the
    /// architecture with.
    pub fn target(self) -> &'static str {
        self.row().target
    }

    /// The name in prose: `x86_64`, `AArch64`, `ARMv7-A`, ...
    pub fn title(self) -> &'static str {
        self.row().title
    }

    /// The width of an address, in bits.
    pub fn address_bits(self) -> u32 {
        self.row().address_bits
    }

    /// Where QEMU's `-kernel` loads a kernel of this architecture: the
    /// default `--base` of a full script.
    pub fn default_base(self) -> u64 {
        self.row().default_base
    }

    /// How far into an area the architecture's access sequence reaches: every
    /// offset must be below this ([`ArchRow::reach`] says why).
    pub fn reach(self) -> u64 {
        self.row().reach
    }
}

/// Everything the tools know of one architecture: a row of [`ARCHES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchRow {
    /// The architecture.
    pub arch: Arch,
    /// [`Arch::name`].
    pub name: &'static str,
    /// [`Arch::rustc_arch`].
    pub rustc_arch: &'static str,
    /// [`Arch::title`].
    pub title: &'static str,
    /// [`Arch::target`].
    pub target: &'static str,
    /// The CPU parts of the triples [`Arch::from_target`] takes, exactly...
    pub triple_cpus: &'static [&'static str],
    /// ... or by prefix (`riscv64` for `riscv64gc`, `riscv64imac`, ...).
    pub triple_cpu_prefixes: &'static [&'static str],
    /// The ELF `e_machine` (with [`address_bits`](ArchRow::address_bits) the
    /// ELF class): [`Arch::from_elf`].
    pub elf_machine: u16,
    /// [`Arch::address_bits`].
    pub address_bits: u32,
    /// [`Arch::default_base`]: where QEMU's `-kernel` loads a kernel.
    pub default_base: u64,
    /// [`Arch::reach`]. x86_64 encodes the offset as a sign-extended 32-bit
    /// displacement (`gs:[sym]`), so 2 GiB. AArch64 (`movz`/`movk` g1/g0),
    /// ARMv7-A (`movw`/`movt`) and riscv32 build a full 32-bit value: 4 GiB.
    /// riscv64 and loongarch64 build it with `lui` / `lu12i.w`, which
    /// sign-extend to 64 bits: 2 GiB.
    pub reach: u64,
    /// The linker's `OUTPUT_ARCH` in a full script.
    pub output_arch: &'static str,
    /// GNU ld for the architecture, as the link matrix runs it.
    pub gnu_ld: GnuLd,
}

/// GNU ld of Debian's binutils for one architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GnuLd {
    /// The binary.
    pub binary: &'static str,
    /// The arguments it needs for this architecture.
    pub args: &'static [&'static str],
    /// The Debian package; `None` when Debian 12 packages no binutils for it.
    pub package: Option<&'static str>,
}

/// Every architecture's facts, in [`Arch::ALL`]'s order. e_machine values:
/// EM_ARM 40, EM_X86_64 62, EM_AARCH64 183, EM_RISCV 243, EM_LOONGARCH 258.
pub const ARCHES: [ArchRow; 6] = [
    ArchRow {
        arch: Arch::X86_64,
        name: "x86_64",
        rustc_arch: "x86_64",
        title: "x86_64",
        target: "x86_64-unknown-none",
        triple_cpus: &["x86_64"],
        triple_cpu_prefixes: &[],
        elf_machine: 62,
        address_bits: 64,
        default_base: 0x10_0000,
        reach: 1 << 31,
        output_arch: "i386:x86-64",
        gnu_ld: GnuLd {
            binary: "x86_64-linux-gnu-ld",
            args: &[],
            package: Some("binutils-x86-64-linux-gnu"),
        },
    },
    ArchRow {
        arch: Arch::Aarch64,
        name: "aarch64",
        rustc_arch: "aarch64",
        title: "AArch64",
        target: "aarch64-unknown-none",
        triple_cpus: &["aarch64", "aarch64_be", "arm64"],
        triple_cpu_prefixes: &[],
        elf_machine: 183,
        address_bits: 64,
        default_base: 0x4010_0000,
        reach: 1 << 32,
        output_arch: "aarch64",
        gnu_ld: GnuLd {
            binary: "aarch64-linux-gnu-ld",
            args: &[],
            package: Some("binutils-aarch64-linux-gnu"),
        },
    },
    ArchRow {
        arch: Arch::Riscv64,
        name: "riscv64",
        rustc_arch: "riscv64",
        title: "RISC-V 64",
        target: "riscv64gc-unknown-none-elf",
        triple_cpus: &[],
        triple_cpu_prefixes: &["riscv64"],
        elf_machine: 243,
        address_bits: 64,
        default_base: 0x8020_0000,
        reach: 1 << 31,
        output_arch: "riscv",
        gnu_ld: GnuLd {
            binary: "riscv64-linux-gnu-ld",
            args: &[],
            package: Some("binutils-riscv64-linux-gnu"),
        },
    },
    ArchRow {
        arch: Arch::Riscv32,
        name: "riscv32",
        rustc_arch: "riscv32",
        title: "RISC-V 32",
        target: "riscv32imac-unknown-none-elf",
        triple_cpus: &[],
        triple_cpu_prefixes: &["riscv32"],
        elf_machine: 243,
        address_bits: 32,
        default_base: 0x8000_0000,
        reach: 1 << 32,
        output_arch: "riscv",
        // riscv64's ld links riscv32 too.
        gnu_ld: GnuLd {
            binary: "riscv64-linux-gnu-ld",
            args: &["-m", "elf32lriscv"],
            package: Some("binutils-riscv64-linux-gnu"),
        },
    },
    ArchRow {
        arch: Arch::Loongarch64,
        name: "loongarch64",
        rustc_arch: "loongarch64",
        title: "LoongArch64",
        target: "loongarch64-unknown-none",
        triple_cpus: &["loongarch64"],
        triple_cpu_prefixes: &[],
        elf_machine: 258,
        address_bits: 64,
        default_base: 0x20_0000,
        reach: 1 << 31,
        output_arch: "loongarch",
        gnu_ld: GnuLd {
            binary: "loongarch64-linux-gnu-ld",
            args: &[],
            package: None,
        },
    },
    ArchRow {
        arch: Arch::Armv7,
        name: "armv7",
        rustc_arch: "arm",
        title: "ARMv7-A",
        target: "armv7a-none-eabi",
        triple_cpus: &["arm", "armeb"],
        triple_cpu_prefixes: &["armv7", "thumbv7"],
        elf_machine: 40,
        address_bits: 32,
        default_base: 0x4010_0000,
        reach: 1 << 32,
        output_arch: "arm",
        gnu_ld: GnuLd {
            binary: "arm-none-eabi-ld",
            args: &[],
            package: Some("binutils-arm-none-eabi"),
        },
    },
];

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stride_rule() {
        assert_eq!(area_stride(0, 64), Some(64));
        assert_eq!(area_stride(1, 64), Some(64));
        assert_eq!(area_stride(64, 64), Some(64));
        assert_eq!(area_stride(65, 64), Some(128));
        assert_eq!(area_stride(65, 256), Some(256));
        assert_eq!(area_stride(u64::MAX, 64), None);
        assert!(is_area_align(256) && !is_area_align(32) && !is_area_align(96));
    }

    #[test]
    fn rows_follow_all() {
        for (i, arch) in Arch::ALL.into_iter().enumerate() {
            assert_eq!(ARCHES[i].arch, arch);
            assert_eq!(arch.row().arch, arch);
        }
    }

    #[test]
    fn names_and_targets() {
        for arch in Arch::ALL {
            assert_eq!(Arch::from_name(arch.name()), Some(arch));
            assert_eq!(Arch::from_target(arch.target()), Some(arch));
        }
        assert_eq!(Arch::from_name("arm"), None);
        // What users type: our names and rustc's target_arch values.
        for arch in Arch::ALL {
            assert_eq!(Arch::parse(arch.name()), Ok(arch));
            assert_eq!(Arch::parse(arch.rustc_arch()), Ok(arch));
        }
        assert_eq!(Arch::parse("arm"), Ok(Arch::Armv7));
        let riscv = Arch::parse("riscv").unwrap_err();
        assert_eq!(
            riscv,
            ArchNameError::Ambiguous(&[Arch::Riscv64, Arch::Riscv32])
        );
        assert_eq!(
            riscv.to_string(),
            "ambiguous architecture (expected one of riscv64, riscv32)"
        );
        assert_eq!(Arch::parse("mips"), Err(ArchNameError::Unknown));
        assert_eq!(Arch::parse("ARM"), Err(ArchNameError::Unknown));
        let targets = [
            ("x86_64-unknown-none", Arch::X86_64),
            ("aarch64-unknown-none-softfloat", Arch::Aarch64),
            ("riscv64gc-unknown-none-elf", Arch::Riscv64),
            ("riscv32imac-unknown-none-elf", Arch::Riscv32),
            ("loongarch64-unknown-none", Arch::Loongarch64),
            ("armv7a-none-eabi", Arch::Armv7),
        ];
        for (triple, arch) in targets {
            assert_eq!(Arch::from_target(triple), Some(arch), "{triple}");
        }
        assert_eq!(Arch::from_target("mips-unknown-linux-gnu"), None);
        assert_eq!(Arch::from_target("x86_64"), None);
    }
}
