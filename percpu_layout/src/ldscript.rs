//! The linker-script renderer.
//!
//! A kernel's `build.rs` renders its linker script at build time with
//! nothing but this crate:
//!
//! ```no_run
//! use percpu_layout::ldscript::{write_script, Arch, Kind, Options};
//! let arch = Arch::from_build_target().expect("a supported TARGET");
//! let script = write_script(Kind::Full, &Options::new(arch, 4)).expect("render the linker script");
//! println!("cargo:rustc-link-arg=-T{}", script.display());
//! ```
//!
//! The templates are the plain files of the top-level `ld-templates/`, which
//! this package carries as `templates/` (a symlink `cargo package` follows),
//! embedded at compile time. A template names its holes `{{NAME}}`; [`fill`]
//! refuses a name it does not know and a known name that has no value for the
//! kind rendered. The fragment and the Linux user-space script share one
//! `.percpu` body and one set of link-time checks; the full kernel script is
//! one template with a few pieces per architecture ([`KernelPieces`]).

use std::fmt;

pub use crate::Arch;
use crate::{area_stride_script, is_area_align, symbols, DEFAULT_AREA_ALIGN, SECTION};

impl Arch {
    /// The architecture a build script compiles for: the `TARGET` variable
    /// that cargo gives `build.rs`.
    pub fn from_build_target() -> Option<Arch> {
        Arch::from_target(&std::env::var("TARGET").ok()?)
    }

    /// What the full kernel template needs to know of the architecture:
    /// its `OUTPUT_ARCH` row, and the prose of `templates/kernel/<name>.ld`.
    pub fn kernel_pieces(self) -> KernelPieces {
        let text = KERNEL_PIECES[self as usize];
        KernelPieces {
            output_arch: self.row().output_arch,
            entry_note: piece(text, "ENTRY_NOTE"),
            header_note: piece(text, "HEADER_NOTE"),
            extra_sections: piece(text, "EXTRA_SECTIONS"),
        }
    }
}

/// Each architecture's pieces of the full kernel template, in
/// [`Arch::ALL`]'s order.
const KERNEL_PIECES: [&str; 6] = [
    include_str!("../templates/kernel/x86_64.ld"),
    include_str!("../templates/kernel/aarch64.ld"),
    include_str!("../templates/kernel/riscv64.ld"),
    include_str!("../templates/kernel/riscv32.ld"),
    include_str!("../templates/kernel/loongarch64.ld"),
    include_str!("../templates/kernel/armv7.ld"),
];

/// The piece `name` of a `templates/kernel/<arch>.ld`: the text after its
/// `@name` line up to the next `@` line (without the newline before it) or
/// the end; empty when the next line is a marker.
fn piece(text: &'static str, name: &str) -> &'static str {
    let marker = format!("\n@{name}\n");
    let Some(at) = text.find(&marker) else {
        return "";
    };
    let start = at + marker.len();
    // From the marker's own newline, so that a marker right after it ends
    // an empty piece.
    let end = text[start - 1..]
        .find("\n@")
        .map_or(text.len(), |i| start - 1 + i);
    &text[start..end.max(start)]
}

/// The per-architecture pieces of the full kernel template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelPieces {
    /// The linker's `OUTPUT_ARCH`.
    pub output_arch: &'static str,
    /// How the kernel is entered, for the comment above `ENTRY`.
    pub entry_note: &'static str,
    /// More header comment lines, each ` * `-prefixed and ending in a newline.
    pub header_note: &'static str,
    /// Output sections after `.rodata` that only this architecture needs.
    pub extra_sections: &'static str,
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
    /// Bytes of dynamic region (run-time per-CPU allocations) to reserve in
    /// every area after the template; the stride grows to hold them.
    pub dynamic: u64,
    /// The template-only script of placed areas: `.percpu` holds the
    /// template and no area; the platform puts each CPU's area where it
    /// wants (`percpu::try_init_placed`, `percpu::register_area`).
    /// `_percpu_area_stride` is then the size of one area, dynamic region
    /// included, and `cpus` only sets `CPU_NUM` (a full script's boot
    /// stacks).
    pub placed: bool,
}

impl Options {
    /// The default options for `cpus` CPUs: 64-byte alignment, the QEMU load
    /// address, `.percpu` at VMA 0.
    pub fn new(arch: Arch, cpus: usize) -> Self {
        Options {
            arch,
            cpus,
            align: DEFAULT_AREA_ALIGN,
            base: None,
            non_zero_vma: None,
            dynamic: 0,
            placed: false,
        }
    }
}

/// The default area alignment, [`DEFAULT_AREA_ALIGN`].
pub use crate::DEFAULT_AREA_ALIGN as DEFAULT_ALIGN;

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
                "the alignment must be a power of two of at least {DEFAULT_AREA_ALIGN}, not {align}"
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

/// The template of the `.percpu` fragment (`templates/percpu-fragment.ld`).
pub const TEMPLATE_FRAGMENT: &str = include_str!("../templates/percpu-fragment.ld");
/// The template of the Linux user-space script (`templates/percpu-linux-user.ld`).
pub const TEMPLATE_LINUX_USER: &str = include_str!("../templates/percpu-linux-user.ld");
/// The full kernel template (`templates/kernel.ld`), for every architecture.
pub const TEMPLATE_KERNEL: &str = include_str!("../templates/kernel.ld");
/// The inside of the `.percpu` output section, which the fragment and the
/// Linux user-space script share (`templates/percpu-body.ld`).
pub const TEMPLATE_BODY: &str = include_str!("../templates/percpu-body.ld");
/// The link-time checks after the section, shared as the body is
/// (`templates/percpu-asserts.ld`).
pub const TEMPLATE_ASSERTS: &str = include_str!("../templates/percpu-asserts.ld");

/// Every template, for checks that hold for all of them.
pub const TEMPLATES: [&str; 5] = [
    TEMPLATE_FRAGMENT,
    TEMPLATE_LINUX_USER,
    TEMPLATE_KERNEL,
    TEMPLATE_BODY,
    TEMPLATE_ASSERTS,
];

/// Every placeholder a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "ARCH",
    "ARCH_TITLE",
    "AREA_ALIGN",
    "AREAS_NOTE",
    "AREA_STRIDE",
    "BASE",
    "CPU_NUM",
    "ENTRY_NOTE",
    "EXPECTED_VMA",
    "EXTRA_SECTIONS",
    "HEADER_NOTE",
    "OUTPUT_ARCH",
    "PERCPU_ASSERTS",
    "PERCPU_BODY",
    "PERCPU_SECTION",
    "PERCPU_START",
    "PERCPU_VMA",
    "REACH",
    "RESERVATION_ASSERT",
    "RESERVE",
    "SECTION",
    "TEMPLATE_NOTE",
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
    if !is_area_align(opts.align) {
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
    // A template-only script reserves no area; its template is at most one.
    let areas = if opts.placed { 1 } else { opts.cpus };
    let end = (areas as u128)
        .checked_mul(opts.align.max(opts.dynamic) as u128)
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

/// The values of one rendering: every placeholder, `None` where it has no
/// value for the kind rendered.
struct Values(Vec<(&'static str, Option<String>)>);

impl Values {
    fn new() -> Self {
        Values(PLACEHOLDERS.iter().map(|name| (*name, None)).collect())
    }

    fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        let slot = self
            .0
            .iter_mut()
            .find(|(key, _)| *key == name)
            .expect("every value set is a listed placeholder");
        slot.1 = Some(value.into());
        self
    }

    fn fill(&self, template: &str) -> Result<String, RenderError> {
        let values: Vec<(&str, Option<&str>)> = self
            .0
            .iter()
            .map(|(key, value)| (*key, value.as_deref()))
            .collect();
        fill(template, &values)
    }
}

/// `text` with every non-empty line indented by `spaces`, without its final
/// newline: a template piece placed inside a block.
fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.trim_end()
        .lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{pad}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders a linker script.
///
/// Errors: `cpus` is 0, the alignment is not a power of two ≥ 64, the areas
/// overflow the address space, or a template and the renderer disagree.
pub fn render(kind: Kind, opts: &Options) -> Result<String, RenderError> {
    validate(kind, opts)?;
    let mut values = Values::new();
    values
        .set("ARCH", opts.arch.name())
        .set("AREA_ALIGN", opts.align.to_string())
        .set("AREA_STRIDE", area_stride_script(opts.align, opts.dynamic))
        .set("CPU_NUM", opts.cpus.to_string())
        .set("REACH", format!("{:#x}", opts.arch.reach()))
        .set("SECTION", SECTION);
    set_reservation(kind, opts, &mut values);
    let body = values.fill(TEMPLATE_BODY)?;
    match kind {
        Kind::LinuxUser => {
            values
                .set("EXPECTED_VMA", symbols::START)
                .set("PERCPU_BODY", indent(&body, 8));
            let asserts = values.fill(TEMPLATE_ASSERTS)?;
            values.set("PERCPU_ASSERTS", indent(&asserts, 4));
            values.fill(TEMPLATE_LINUX_USER)
        }
        Kind::Fragment => render_fragment(opts, &mut values, &body),
        Kind::Full => {
            let fragment = render_fragment(opts, &mut values, &body)?;
            let pieces = opts.arch.kernel_pieces();
            let base = opts.base.unwrap_or(opts.arch.default_base());
            values
                .set("ARCH_TITLE", opts.arch.title())
                .set("BASE", format!("{base:#x}"))
                .set("ENTRY_NOTE", pieces.entry_note)
                .set("EXTRA_SECTIONS", pieces.extra_sections)
                .set("HEADER_NOTE", pieces.header_note)
                .set("OUTPUT_ARCH", pieces.output_arch)
                .set("PERCPU_SECTION", indent(&fragment, 4));
            values.fill(TEMPLATE_KERNEL)
        }
    }
}

/// The pieces that differ between contiguous areas (`CPU_NUM` of them
/// after the template) and the template-only script of placed areas.
fn set_reservation(kind: Kind, opts: &Options, values: &mut Values) {
    let stride = symbols::AREA_STRIDE;
    let load_start = symbols::LOAD_START;
    let (start, end, load_end) = (symbols::START, symbols::END, symbols::LOAD_END);
    // The user-space script's header line is longer: the note wraps.
    let wrap = if kind == Kind::LinuxUser { "\n *" } else { "" };
    if !opts.placed {
        values
            .set(
                "AREAS_NOTE",
                format!(
                    "{} areas,{wrap} each the template rounded up to {} bytes",
                    opts.cpus, opts.align
                ),
            )
            .set(
                "RESERVE",
                format!(
                    "/* Reserve CPU_NUM areas. */\n\
                     . = {load_start} + ({stride} - {load_start}) * CPU_NUM;"
                ),
            )
            .set(
                "RESERVATION_ASSERT",
                format!(
                    "ASSERT({end} - {start} >= ({stride} - {load_start}) * CPU_NUM, \
                     \"percpu: .percpu reserves fewer than CPU_NUM areas; render the script again with --cpus\")"
                ),
            )
            .set(
                "TEMPLATE_NOTE",
                "CPU 0's area is the template and holds the initial values\n \
                 * that init_in_place() copies into the other areas",
            );
        return;
    }
    values
        .set(
            "AREAS_NOTE",
            format!("the template only,{wrap} for areas the platform places (--placed)"),
        )
        .set(
            "RESERVE",
            format!(
                "/*\n \
                 * Placed areas (--placed): no area follows the template. The platform\n \
                 * puts each CPU's area where it wants (percpu::try_init_placed,\n \
                 * percpu::register_area): {stride} - {load_start}\n \
                 * bytes, aligned to _percpu_area_align.\n \
                 */"
            ),
        )
        .set(
            "TEMPLATE_NOTE",
            "the template holds the initial values that\n \
             * try_init_placed() and register_area() copy into every area",
        )
        .set(
            "RESERVATION_ASSERT",
            format!(
                "/* The mark of a template-only script, for the tools that read the file. */\n\
                 {placed} = 1;\n\
                 ASSERT({end} - {start} == {load_end} - {load_start}, \
                 \"percpu: --placed, yet .percpu holds more than the template; render the script again with --placed, or without it to reserve areas\")",
                placed = symbols::PLACED
            ),
        );
}

/// For a `build.rs`: renders the script into `$OUT_DIR/percpu-<kind>.ld`
/// and returns its path, to pass to the linker with `-T`.
///
/// ```no_run
/// use percpu_layout::ldscript::{write_script, Arch, Kind, Options};
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

fn render_fragment(opts: &Options, values: &mut Values, body: &str) -> Result<String, RenderError> {
    let (start, vma, expected, comment) = match opts.non_zero_vma {
        None => (
            "ALIGN(4K)".to_string(),
            "0x0 ".to_string(),
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
            format!("{} ", symbols::START),
            symbols::START,
            "The non-zero-vma variant: the VMA is the load address, and a\n \
             * variable's offset in its area is `symbol - _percpu_load_start`.",
        ),
    };
    values
        .set("EXPECTED_VMA", expected)
        .set("PERCPU_BODY", indent(body, 4))
        .set("PERCPU_START", start)
        .set("PERCPU_VMA", vma)
        .set("VMA_COMMENT", comment);
    let asserts = values.fill(TEMPLATE_ASSERTS)?;
    values.set("PERCPU_ASSERTS", asserts.trim_end());
    values.fill(TEMPLATE_FRAGMENT)
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
    fn every_kernel_piece_file_has_its_three_pieces() {
        for (arch, text) in Arch::ALL.into_iter().zip(KERNEL_PIECES) {
            let at = |name: &str| text.find(&format!("\n@{name}\n"));
            let (entry, header, extra) =
                (at("ENTRY_NOTE"), at("HEADER_NOTE"), at("EXTRA_SECTIONS"));
            assert!(
                entry.is_some() && entry < header && header < extra,
                "templates/kernel/{arch}.ld"
            );
            assert!(!arch.kernel_pieces().entry_note.is_empty());
        }
        assert_eq!(piece("x\n@A\n@B\nb", "A"), "");
        assert_eq!(piece("x\n@A\na\n\n@B\nb", "A"), "a\n");
        assert_eq!(piece("x\n@A\na\n@B\nb", "B"), "b");
    }

    #[test]
    fn every_template_uses_only_known_placeholders() {
        let all: Vec<(&str, Option<&str>)> =
            PLACEHOLDERS.iter().map(|name| (*name, Some("v"))).collect();
        for template in TEMPLATES {
            let out = fill(template, &all).unwrap();
            assert!(!out.contains("{{"), "{out}");
        }
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
        assert!(out.contains(
            "_percpu_area_stride = _percpu_load_start + MAX(ALIGN(_percpu_load_end - _percpu_load_start, 4096), 4096);"
        ));
        assert!(out.contains("_percpu_area_align = _percpu_load_start + 4096;"));
        assert!(!out.contains("(NOLOAD)"));
    }
}
