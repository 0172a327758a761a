use core::fmt;

/// Why [`init`] or [`init_in_place`] refused to set up the per-CPU areas:
/// percpu 0.4's two reasons, exactly, so that a 0.4 kernel's `match` on
/// them still compiles. Nothing was written when one is returned.
///
/// The other reasons to refuse (a zero CPU count, areas that overlap the
/// template, ...) are [`AreaError`]s, which [`try_init`] and
/// [`try_init_in_place`] return; [`init`] and [`init_in_place`] panic with
/// them instead, since 0.4's type cannot say them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InitError {
    /// The base address is null.
    InvalidBase,
    /// The base address is not aligned to the area alignment (64 bytes unless
    /// the linker script says more).
    UnalignedBase,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&AreaError::from(*self), f)
    }
}

impl core::error::Error for InitError {}

/// Why the per-CPU areas were not set up, every reason: what [`try_init`],
/// [`try_init_in_place`], [`init_with_dynamic`](crate::init_with_dynamic)
/// and [`percpu_area_layout_with_dynamic`](crate::percpu_area_layout_with_dynamic)
/// return. Nothing was written when one is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AreaError {
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
    /// A placed area (`try_init_placed`,
    /// `register_area`) is null.
    NullArea {
        /// The CPU it was meant for.
        cpu: usize,
    },
    /// A placed area does not start on the area alignment.
    UnalignedArea {
        /// The CPU it was meant for.
        cpu: usize,
        /// The alignment every area needs.
        align: usize,
    },
    /// A placed area is smaller than one area
    /// (`percpu_area_layout_placed`).
    AreaTooSmall {
        /// The CPU it was meant for.
        cpu: usize,
        /// Bytes given.
        size: usize,
        /// Bytes one area needs.
        needed: usize,
    },
    /// Two placed areas overlap: two CPUs would share memory.
    AreasOverlap {
        /// The CPU whose area was refused.
        cpu: usize,
        /// The CPU whose area it overlaps.
        other: usize,
    },
    /// A placed area overlaps the `.percpu` template, which must stay
    /// as linked: CPUs that register later copy it.
    AreaOverlapsTemplate {
        /// The CPU it was meant for.
        cpu: usize,
    },
    /// The base table has room for fewer CPUs than asked for.
    TableFull {
        /// Entries in the table.
        capacity: usize,
        /// Entries needed.
        needed: usize,
    },
    /// `register_area` needs areas set up by
    /// `try_init_placed`: contiguous areas have no
    /// room for one more, and `sp-naive` has one CPU.
    NotPlaced,
}

impl fmt::Display for AreaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NullArea { cpu } => return write!(f, "CPU {cpu}'s per-CPU area is null"),
            Self::UnalignedArea { cpu, align } => {
                return write!(
                    f,
                    "CPU {cpu}'s per-CPU area is not aligned to {align} bytes"
                )
            }
            Self::AreaTooSmall { cpu, size, needed } => {
                return write!(
                    f,
                    "CPU {cpu}'s per-CPU area has {size} bytes; one area needs {needed}"
                )
            }
            Self::AreasOverlap { cpu, other } => {
                return write!(f, "CPU {cpu}'s per-CPU area overlaps CPU {other}'s")
            }
            Self::AreaOverlapsTemplate { cpu } => {
                return write!(f, "CPU {cpu}'s per-CPU area overlaps the .percpu template")
            }
            Self::TableFull { capacity, needed } => {
                return write!(
                    f,
                    "the per-CPU base table has {capacity} entries; {needed} are needed"
                )
            }
            _ => {}
        }
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
            Self::NotPlaced => {
                "no CPU can be registered: the areas were not set up by percpu::try_init_placed"
            }
            _ => unreachable!("written above"),
        })
    }
}

impl core::error::Error for AreaError {}

impl AreaError {
    /// Placed areas: a non-zero CPU count that a base table of `capacity`
    /// entries holds.
    #[cfg(feature = "placed")]
    pub(crate) fn check_table(capacity: usize, cpu_count: usize) -> Result<(), AreaError> {
        if cpu_count == 0 {
            return Err(AreaError::ZeroCpuCount);
        }
        if capacity < cpu_count {
            return Err(AreaError::TableFull {
                capacity,
                needed: cpu_count,
            });
        }
        Ok(())
    }
}

impl From<InitError> for AreaError {
    fn from(err: InitError) -> Self {
        match err {
            InitError::InvalidBase => AreaError::InvalidBase,
            InitError::UnalignedBase => AreaError::UnalignedBase,
        }
    }
}

/// 0.4's answer for a refusal: its own two errors, a panic for the rest.
#[track_caller]
fn as_0_4(result: Result<usize, AreaError>) -> Result<usize, InitError> {
    result.map_err(|err| match err {
        AreaError::InvalidBase => InitError::InvalidBase,
        AreaError::UnalignedBase => InitError::UnalignedBase,
        other => panic!("percpu: {other} (percpu::try_init* returns this as an AreaError)"),
    })
}

/// Sets up the areas the linker script reserves in `.percpu`, as
/// [`try_init_in_place`] does. Returns the number of areas.
///
/// # Panics
/// On a refusal that [`InitError`] cannot say (e.g. a script that reserves
/// no area): [`try_init_in_place`] returns those as an [`AreaError`].
#[track_caller]
pub fn init_in_place() -> Result<usize, InitError> {
    as_0_4(crate::area::try_init_in_place())
}

/// Sets up `cpu_count` areas at `base`, memory the caller provides, as
/// [`try_init`] does. Returns `cpu_count`.
///
/// # Panics
/// On a refusal that [`InitError`] cannot say (e.g. a zero `cpu_count`):
/// [`try_init`] returns those as an [`AreaError`].
#[track_caller]
pub fn init(base: *mut u8, cpu_count: usize) -> Result<usize, InitError> {
    as_0_4(crate::area::try_init(base, cpu_count))
}

#[cfg(doc)]
use crate::{try_init, try_init_in_place};
