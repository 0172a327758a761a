use core::fmt;

/// Why [`init`](crate::init) or [`init_in_place`](crate::init_in_place)
/// refused to set up the per-CPU areas. Nothing was written when one of
/// these is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InitError {
    /// The base address is null.
    InvalidBase,
    /// The base address is not aligned to the area alignment (64 bytes unless
    /// the linker script says more).
    UnalignedBase,
    /// The CPU count is zero.
    ZeroCpuCount,
    /// `cpu_count` areas do not fit in the address space.
    SizeOverflow,
    /// The areas would overlap the template (the loaded `.percpu` section)
    /// without starting at it.
    OverlapsTemplate,
    /// The linker script reserves no area in `.percpu` (`init_in_place`).
    NoAreasReserved,
    /// `.percpu` is not linked at VMA 0 but the `non-zero-vma` feature is off,
    /// so every offset would be wrong.
    NonZeroVma,
    /// Run-time allocations (`PerCpuBox`, `PerCpuCounter::new`) are live:
    /// initialising again would overwrite them. Drop them first.
    DynamicRegionInUse,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidBase => "per-CPU area base address is null",
            Self::UnalignedBase => "per-CPU area base address is not aligned to the area alignment",
            Self::ZeroCpuCount => "per-CPU area count is zero",
            Self::SizeOverflow => "per-CPU areas for this CPU count overflow the address space",
            Self::OverlapsTemplate => "per-CPU areas overlap the .percpu template",
            Self::NoAreasReserved => "the linker script reserves no per-CPU area in .percpu",
            Self::DynamicRegionInUse => {
                "run-time per-CPU allocations are live; initialising the areas again would overwrite them"
            }
            Self::NonZeroVma => {
                ".percpu is not linked at VMA 0; enable the `non-zero-vma` feature or fix the linker script"
            }
        })
    }
}

impl core::error::Error for InitError {}
