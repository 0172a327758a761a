//! The `.percpu` linker-script renderer.
//!
//! This module has no dependency at all, so that a kernel's `build.rs` can
//! render its linker script at build time with
//! `cargo-percpu = { version = "…", default-features = false }`:
//!
//! ```no_run
//! use cargo_percpu::ldscript::{write_script, Arch, Kind, Options};
//! let arch = Arch::from_build_target().expect("a supported TARGET");
//! let script = write_script(Kind::Full, &Options::new(arch, 4)).expect("render the linker script");
//! println!("cargo:rustc-link-arg=-T{}", script.display());
//! ```
//!
//! The templates are the plain files of `ld-templates/`, embedded at compile
//! time. A template names its holes `{{NAME}}`; [`fill`] refuses a name it
//! does not know and a known name that has no value for the kind rendered.

use std::fmt;

/// An architecture that has a template.
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
    /// 32-bit Arm (ARMv7-A): per-CPU register TPIDRPRW.
    Arm,
}

impl Arch {
    /// Every architecture, in a fixed order.
    pub const ALL: [Arch; 6] = [
        Arch::X86_64,
        Arch::Aarch64,
        Arch::Riscv64,
        Arch::Riscv32,
        Arch::Loongarch64,
        Arch::Arm,
    ];

    /// The architecture of a `--arch` name: `x86_64`, `aarch64`, `riscv64`,
    /// `riscv32`, `loongarch64` or `arm`.
    pub fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|arch| arch.name() == name)
    }

    /// The architecture of a target triple such as `aarch64-unknown-none` or
    /// `riscv64gc-unknown-none-elf`.
    pub fn from_target(triple: &str) -> Option<Arch> {
        let cpu = triple.split('-').next().unwrap_or("");
        // Only a triple with a vendor/OS part counts: `arm` alone is a name, not a target.
        if !triple.contains('-') {
            return None;
        }
        match cpu {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" | "aarch64_be" | "arm64" => Some(Arch::Aarch64),
            "loongarch64" => Some(Arch::Loongarch64),
            _ if cpu.starts_with("riscv64") => Some(Arch::Riscv64),
            _ if cpu.starts_with("riscv32") => Some(Arch::Riscv32),
            _ if cpu.starts_with("armv7") || cpu == "arm" || cpu == "armeb" => Some(Arch::Arm),
            _ if cpu.starts_with("thumbv7") => Some(Arch::Arm),
            _ => None,
        }
    }

    /// The architecture a build script compiles for: the `TARGET` variable
    /// that cargo gives `build.rs`.
    pub fn from_build_target() -> Option<Arch> {
        Arch::from_target(&std::env::var("TARGET").ok()?)
    }

    /// The `--arch` name of the architecture.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Riscv64 => "riscv64",
            Arch::Riscv32 => "riscv32",
            Arch::Loongarch64 => "loongarch64",
            Arch::Arm => "arm",
        }
    }

    /// The width of an address, in bits.
    pub fn address_bits(self) -> u32 {
        match self {
            Arch::Riscv32 | Arch::Arm => 32,
            _ => 64,
        }
    }

    /// Where QEMU's `-kernel` loads a kernel of this architecture: the
    /// default `--base` of a full script.
    pub fn default_base(self) -> u64 {
        match self {
            Arch::X86_64 => 0x10_0000,
            Arch::Aarch64 | Arch::Arm => 0x4010_0000,
            Arch::Riscv64 => 0x8020_0000,
            Arch::Riscv32 => 0x8000_0000,
            Arch::Loongarch64 => 0x20_0000,
        }
    }

    /// How far into an area the architecture's access sequence reaches: every
    /// offset must be below this.
    ///
    /// x86_64 encodes the offset as a sign-extended 32-bit displacement
    /// (`gs:[sym]`), so 2 GiB. AArch64 (`movz`/`movk` g1/g0), Arm
    /// (`movw`/`movt`) and riscv32 build a full 32-bit value: 4 GiB. riscv64
    /// and loongarch64 build it with `lui` / `lu12i.w`, which sign-extend to 64
    /// bits: 2 GiB.
    pub fn reach(self) -> u64 {
        match self {
            Arch::X86_64 | Arch::Riscv64 | Arch::Loongarch64 => 1 << 31,
            Arch::Aarch64 | Arch::Arm | Arch::Riscv32 => 1 << 32,
        }
    }

    /// The embedded template of a complete kernel script for the architecture.
    pub fn full_template(self) -> &'static str {
        match self {
            Arch::X86_64 => TEMPLATE_X86_64,
            Arch::Aarch64 => TEMPLATE_AARCH64,
            Arch::Riscv64 => TEMPLATE_RISCV64,
            Arch::Riscv32 => TEMPLATE_RISCV32,
            Arch::Loongarch64 => TEMPLATE_LOONGARCH64,
            Arch::Arm => TEMPLATE_ARM,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to render.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The `.percpu` part alone, to paste inside a kernel's `SECTIONS`.
    Fragment,
    /// A complete linker script for a minimal kernel.
    Full,
    /// The script a Linux user-space program (the host tests) links with: it
    /// inserts `.percpu` after `.bss` of the default script.
    LinuxUser,
}

/// What the rendered script looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The architecture whose template is used.
    pub arch: Arch,
    /// How many per-CPU areas to reserve (`CPU_NUM`), at least 1.
    pub cpus: usize,
    /// The alignment of an area: the stride is the template size rounded up
    /// to it. A power of two, at least 64.
    pub align: u64,
    /// The load address of a full script; `None` for [`Arch::default_base`].
    pub base: Option<u64>,
    /// The `non-zero-vma` variant: `.percpu`'s VMA is its load address.
    /// `Some(0)` places it where the script reaches it (page-aligned);
    /// `Some(addr)` places it at `addr`. A Linux user-space script always
    /// has VMA = load address and ignores the address.
    pub non_zero_vma: Option<u64>,
}

impl Options {
    /// The default options for `cpus` CPUs: 64-byte alignment, the QEMU load
    /// address, `.percpu` at VMA 0.
    pub fn new(arch: Arch, cpus: usize) -> Self {
        Options {
            arch,
            cpus,
            align: DEFAULT_ALIGN,
            base: None,
            non_zero_vma: None,
        }
    }
}

/// The default area alignment.
pub const DEFAULT_ALIGN: u64 = 64;

/// Why a script could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenderError {
    /// `cpus` is 0.
    ZeroCpus,
    /// The alignment is not a power of two of at least 64.
    BadAlign(u64),
    /// The areas, starting at `start`, do not fit in the address space.
    Overflow {
        /// The architecture.
        arch: Arch,
        /// How many areas.
        cpus: usize,
        /// The smallest possible area.
        align: u64,
        /// Where they would start.
        start: u64,
    },
    /// An address is not a multiple of the area alignment.
    Misaligned {
        /// What the address is for.
        what: &'static str,
        /// The address.
        addr: u64,
        /// The alignment it needs.
        align: u64,
    },
    /// A template uses a placeholder that the renderer does not know.
    UnknownPlaceholder(String),
    /// A template uses a placeholder that has no value for this kind.
    MissingValue(String),
    /// A `{{` without its `}}`, or a placeholder that is not UPPER_SNAKE.
    Malformed(String),
    /// [`write_script`] could not write the script.
    Io(String),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::ZeroCpus => f.write_str("the CPU count must be at least 1"),
            RenderError::BadAlign(align) => write!(
                f,
                "the alignment must be a power of two of at least {DEFAULT_ALIGN}, not {align}"
            ),
            RenderError::Overflow {
                arch,
                cpus,
                align,
                start,
            } => write!(
                f,
                "{cpus} areas of at least {align} bytes from {start:#x} overflow the {}-bit address space of {arch}",
                arch.address_bits()
            ),
            RenderError::Misaligned { what, addr, align } => {
                write!(f, "{what} {addr:#x} is not a multiple of {align}")
            }
            RenderError::UnknownPlaceholder(name) => {
                write!(f, "the template uses an unknown placeholder {{{{{name}}}}}")
            }
            RenderError::MissingValue(name) => {
                write!(f, "the template uses {{{{{name}}}}}, which has no value here")
            }
            RenderError::Malformed(at) => write!(f, "malformed placeholder at `{at}`"),
            RenderError::Io(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for RenderError {}

/// The template of the `.percpu` fragment (`ld-templates/percpu-fragment.ld`).
pub const TEMPLATE_FRAGMENT: &str = include_str!("../../ld-templates/percpu-fragment.ld");
/// The template of the Linux user-space script (`ld-templates/percpu-linux-user.ld`).
pub const TEMPLATE_LINUX_USER: &str = include_str!("../../ld-templates/percpu-linux-user.ld");
/// The full x86_64 kernel template (`ld-templates/x86_64.ld`).
pub const TEMPLATE_X86_64: &str = include_str!("../../ld-templates/x86_64.ld");
/// The full AArch64 kernel template (`ld-templates/aarch64.ld`).
pub const TEMPLATE_AARCH64: &str = include_str!("../../ld-templates/aarch64.ld");
/// The full riscv64 kernel template (`ld-templates/riscv64.ld`).
pub const TEMPLATE_RISCV64: &str = include_str!("../../ld-templates/riscv64.ld");
/// The full riscv32 kernel template (`ld-templates/riscv32.ld`).
pub const TEMPLATE_RISCV32: &str = include_str!("../../ld-templates/riscv32.ld");
/// The full LoongArch64 kernel template (`ld-templates/loongarch64.ld`).
pub const TEMPLATE_LOONGARCH64: &str = include_str!("../../ld-templates/loongarch64.ld");
/// The full ARMv7-A kernel template (`ld-templates/arm.ld`).
pub const TEMPLATE_ARM: &str = include_str!("../../ld-templates/arm.ld");

/// Every placeholder a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "ARCH",
    "AREA_ALIGN",
    "BASE",
    "CPU_NUM",
    "EXPECTED_VMA",
    "PERCPU_SECTION",
    "PERCPU_START",
    "PERCPU_VMA",
    "REACH",
    "VMA_COMMENT",
];

/// Replaces every `{{NAME}}` of `template` by its value in `values`.
///
/// A name missing from `values` is an unknown placeholder; a name listed
/// with `None` is known but has no value for what is being rendered. Both are
/// errors, so that a template and the renderer cannot drift apart silently.
pub fn fill(template: &str, values: &[(&str, Option<&str>)]) -> Result<String, RenderError> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let snippet = || rest[open..].chars().take(24).collect::<String>();
        let close = after
            .find("}}")
            .ok_or_else(|| RenderError::Malformed(snippet()))?;
        let name = &after[..close];
        let well_formed = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !well_formed {
            return Err(RenderError::Malformed(snippet()));
        }
        match values.iter().find(|(key, _)| *key == name) {
            None => return Err(RenderError::UnknownPlaceholder(name.to_string())),
            Some((_, None)) => return Err(RenderError::MissingValue(name.to_string())),
            Some((_, Some(value))) => out.push_str(value),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks the options against each other and the address space.
fn validate(kind: Kind, opts: &Options) -> Result<(), RenderError> {
    if opts.cpus == 0 {
        return Err(RenderError::ZeroCpus);
    }
    if opts.align < DEFAULT_ALIGN || !opts.align.is_power_of_two() {
        return Err(RenderError::BadAlign(opts.align));
    }
    let nzv = opts.non_zero_vma.filter(|_| kind != Kind::LinuxUser);
    if let Some(addr) = nzv.filter(|&a| a != 0) {
        if addr % opts.align != 0 {
            return Err(RenderError::Misaligned {
                what: "the non-zero-vma address",
                addr,
                align: opts.align,
            });
        }
    }
    // The areas start at the explicit address, or after the image at the
    // earliest; a user-space script starts wherever the loader puts it.
    let start = match (kind, nzv) {
        (_, Some(addr)) if addr != 0 => addr,
        (Kind::Full, _) => opts.base.unwrap_or(opts.arch.default_base()),
        _ => 0,
    };
    let space = 1u128 << opts.arch.address_bits();
    let end = (opts.cpus as u128)
        .checked_mul(opts.align as u128)
        .and_then(|size| size.checked_add(start as u128));
    if end.is_none_or(|end| end > space) || start as u128 >= space {
        return Err(RenderError::Overflow {
            arch: opts.arch,
            cpus: opts.cpus,
            align: opts.align,
            start,
        });
    }
    Ok(())
}

/// Renders a linker script.
///
/// Errors: `cpus` is 0, the alignment is not a power of two ≥ 64, the areas
/// overflow the address space, or a template and the renderer disagree.
pub fn render(kind: Kind, opts: &Options) -> Result<String, RenderError> {
    validate(kind, opts)?;
    let cpus = opts.cpus.to_string();
    let align = opts.align.to_string();
    let reach = format!("{:#x}", opts.arch.reach());
    let arch = opts.arch.name();
    match kind {
        Kind::LinuxUser => fill(
            TEMPLATE_LINUX_USER,
            &[
                ("ARCH", Some(arch)),
                ("AREA_ALIGN", Some(&align)),
                ("BASE", None),
                ("CPU_NUM", Some(&cpus)),
                ("EXPECTED_VMA", None),
                ("PERCPU_SECTION", None),
                ("PERCPU_START", None),
                ("PERCPU_VMA", None),
                ("REACH", Some(&reach)),
                ("VMA_COMMENT", None),
            ],
        ),
        Kind::Fragment => render_fragment(opts, &cpus, &align, &reach),
        Kind::Full => {
            let fragment = render_fragment(opts, &cpus, &align, &reach)?;
            // Indent the fragment to sit inside SECTIONS { }.
            let mut section = String::new();
            for line in fragment.trim_end().lines() {
                if !line.is_empty() {
                    section.push_str("    ");
                }
                section.push_str(line);
                section.push('\n');
            }
            let section = section.trim_end();
            let base = format!("{:#x}", opts.base.unwrap_or(opts.arch.default_base()));
            fill(
                opts.arch.full_template(),
                &[
                    ("ARCH", Some(arch)),
                    ("AREA_ALIGN", Some(&align)),
                    ("BASE", Some(&base)),
                    ("CPU_NUM", Some(&cpus)),
                    ("EXPECTED_VMA", None),
                    ("PERCPU_SECTION", Some(section)),
                    ("PERCPU_START", None),
                    ("PERCPU_VMA", None),
                    ("REACH", Some(&reach)),
                    ("VMA_COMMENT", None),
                ],
            )
        }
    }
}

/// For a `build.rs`: renders the script into `$OUT_DIR/percpu-<kind>.ld`
/// and returns its path, to pass to the linker with `-T`.
///
/// ```no_run
/// use cargo_percpu::ldscript::{write_script, Arch, Kind, Options};
/// let arch = Arch::from_build_target().expect("a supported TARGET");
/// let script = write_script(Kind::Full, &Options::new(arch, 4)).expect("render the linker script");
/// println!("cargo:rustc-link-arg=-T{}", script.display());
/// ```
pub fn write_script(kind: Kind, opts: &Options) -> Result<std::path::PathBuf, RenderError> {
    let script = render(kind, opts)?;
    let dir = std::env::var_os("OUT_DIR").ok_or_else(|| {
        RenderError::Io("OUT_DIR is not set: call write_script from build.rs".into())
    })?;
    let name = match kind {
        Kind::Fragment => "percpu-fragment.ld",
        Kind::Full => "percpu-full.ld",
        Kind::LinuxUser => "percpu-linux-user.ld",
    };
    let path = std::path::Path::new(&dir).join(name);
    std::fs::write(&path, script)
        .map_err(|err| RenderError::Io(format!("cannot write {}: {err}", path.display())))?;
    Ok(path)
}

fn render_fragment(
    opts: &Options,
    cpus: &str,
    align: &str,
    reach: &str,
) -> Result<String, RenderError> {
    let (start, vma, expected, comment) = match opts.non_zero_vma {
        None => (
            "ALIGN(4K)".to_string(),
            "0x0 ",
            "0",
            "VMA 0: a variable's symbol is its offset in every area, so one\n \
             * instruction relative to the per-CPU register reaches it; AT() loads\n \
             * the template at _percpu_start.",
        ),
        Some(addr) => (
            if addr == 0 {
                "ALIGN(4K)".to_string()
            } else {
                format!("{addr:#x}")
            },
            "_percpu_start ",
            "_percpu_start",
            "The non-zero-vma variant: the VMA is the load address, and a\n \
             * variable's offset in its area is `symbol - _percpu_load_start`.",
        ),
    };
    fill(
        TEMPLATE_FRAGMENT,
        &[
            ("ARCH", Some(opts.arch.name())),
            ("AREA_ALIGN", Some(align)),
            ("BASE", None),
            ("CPU_NUM", Some(cpus)),
            ("EXPECTED_VMA", Some(expected)),
            ("PERCPU_SECTION", None),
            ("PERCPU_START", Some(&start)),
            ("PERCPU_VMA", Some(vma)),
            ("REACH", Some(reach)),
            ("VMA_COMMENT", Some(comment)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_refuses_unknown_and_missing() {
        let values = [("A", Some("1")), ("B", None)];
        assert_eq!(fill("x{{A}}y", &values).unwrap(), "x1y");
        assert_eq!(
            fill("{{C}}", &values),
            Err(RenderError::UnknownPlaceholder("C".into()))
        );
        assert_eq!(
            fill("{{B}}", &values),
            Err(RenderError::MissingValue("B".into()))
        );
        assert!(matches!(
            fill("{{A", &values),
            Err(RenderError::Malformed(_))
        ));
        assert!(matches!(
            fill("{{a}}", &values),
            Err(RenderError::Malformed(_))
        ));
    }

    #[test]
    fn every_template_uses_only_known_placeholders() {
        let all: Vec<(&str, Option<&str>)> =
            PLACEHOLDERS.iter().map(|name| (*name, Some("v"))).collect();
        let templates = [TEMPLATE_FRAGMENT, TEMPLATE_LINUX_USER]
            .into_iter()
            .chain(Arch::ALL.iter().map(|a| a.full_template()));
        for template in templates {
            let out = fill(template, &all).unwrap();
            assert!(!out.contains("{{"), "{out}");
        }
    }

    #[test]
    fn names_and_targets() {
        for arch in Arch::ALL {
            assert_eq!(Arch::from_name(arch.name()), Some(arch));
        }
        assert_eq!(Arch::from_name("mips"), None);
        let targets = [
            ("x86_64-unknown-none", Arch::X86_64),
            ("aarch64-unknown-none-softfloat", Arch::Aarch64),
            ("riscv64gc-unknown-none-elf", Arch::Riscv64),
            ("riscv32imac-unknown-none-elf", Arch::Riscv32),
            ("loongarch64-unknown-none", Arch::Loongarch64),
            ("armv7a-none-eabi", Arch::Arm),
        ];
        for (triple, arch) in targets {
            assert_eq!(Arch::from_target(triple), Some(arch), "{triple}");
        }
        assert_eq!(Arch::from_target("mips-unknown-linux-gnu"), None);
        assert_eq!(Arch::from_target("x86_64"), None);
    }

    #[test]
    fn bad_options() {
        let opts = |cpus, align| Options {
            align,
            ..Options::new(Arch::Riscv32, cpus)
        };
        assert_eq!(
            render(Kind::Fragment, &opts(0, 64)),
            Err(RenderError::ZeroCpus)
        );
        assert_eq!(
            render(Kind::Fragment, &opts(1, 96)),
            Err(RenderError::BadAlign(96))
        );
        assert_eq!(
            render(Kind::Fragment, &opts(1, 32)),
            Err(RenderError::BadAlign(32))
        );
        // 2^26 areas of 64 bytes fill the 32-bit space exactly; one more overflows.
        assert!(render(Kind::Fragment, &opts(1 << 26, 64)).is_ok());
        assert!(matches!(
            render(Kind::Fragment, &opts((1 << 26) + 1, 64)),
            Err(RenderError::Overflow { .. })
        ));
        // A full script starts at the base address, so fewer areas fit.
        assert!(matches!(
            render(Kind::Full, &opts(1 << 26, 64)),
            Err(RenderError::Overflow { .. })
        ));
        assert!(matches!(
            render(Kind::Fragment, &opts(usize::MAX, 1 << 63)),
            Err(RenderError::Overflow { .. })
        ));
    }

    #[test]
    fn stride_and_count_reach_the_script() {
        let opts = Options {
            align: 4096,
            ..Options::new(Arch::Aarch64, 12)
        };
        let out = render(Kind::Fragment, &opts).unwrap();
        assert!(out.contains("CPU_NUM = 12;"));
        assert!(
            out.contains("MAX(ALIGN(_percpu_load_end - _percpu_load_start, 4096), 4096) * CPU_NUM")
        );
        assert!(!out.contains("(NOLOAD)"));
    }
}
