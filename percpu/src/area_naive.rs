//! `sp-naive`: one CPU, per-CPU statics are plain globals. Every function of
//! the multi-CPU build exists with its single-CPU answer, so kernels need no
//! `cfg` of their own.

use core::alloc::Layout;

use crate::AreaError;

/// Always 0: there are no areas, the statics are where the linker put them.
pub fn percpu_area_size() -> usize {
    0
}

/// Always 1: the one CPU.
pub fn percpu_area_num() -> usize {
    1
}

/// Always 1, as [`percpu_area_num`].
pub(crate) fn area_count() -> usize {
    1
}

/// An empty layout: [`init`](crate::init) needs no memory.
pub fn percpu_area_layout_expected(_cpu_count: usize) -> Layout {
    Layout::from_size_align(0, percpu_layout::DEFAULT_AREA_ALIGN as usize)
        .expect("the default area alignment is a power of two")
}

/// Always 0, so that base + offset is a static's own address.
pub fn percpu_area_base(_cpu_id: usize) -> usize {
    0
}

#[doc(hidden)]
#[inline(always)]
pub fn remote_area_base(cpu_id: usize) -> usize {
    if cfg!(debug_assertions) && cpu_id != 0 {
        remote_out_of_range(cpu_id);
    }
    0
}

#[cold]
#[inline(never)]
#[track_caller]
fn remote_out_of_range(cpu_id: usize) -> ! {
    panic!("remote per-CPU access to cpu_id {cpu_id}, but only 1 per-CPU area exists (sp-naive)")
}

/// Nothing to set up; returns 1.
pub fn try_init_in_place() -> Result<usize, AreaError> {
    Ok(1)
}

/// Nothing to set up: `base` is ignored, `cpu_count` must be non-zero.
/// Returns 1.
pub fn try_init(_base: *mut u8, cpu_count: usize) -> Result<usize, AreaError> {
    if cpu_count == 0 {
        return Err(AreaError::ZeroCpuCount);
    }
    Ok(1)
}

/// Always 0: there is no per-CPU register.
pub fn read_percpu_reg() -> usize {
    crate::arch::read_percpu_reg()
}

/// Does nothing: there is no per-CPU register.
///
/// # Safety
/// None needed; `unsafe` to match the multi-CPU build.
pub unsafe fn write_percpu_reg(base: usize) {
    // SAFETY: it does nothing.
    unsafe { crate::arch::write_percpu_reg(base) }
}

/// Does nothing: there is no per-CPU register.
pub fn init_percpu_reg(_cpu_id: usize) {}

/// An empty layout when `dynamic_size` is 0, else `dynamic_size` bytes:
/// with one CPU the dynamic region is the memory [`init_with_dynamic`] is
/// given.
pub fn percpu_area_layout_with_dynamic(
    _cpu_count: usize,
    dynamic_size: usize,
) -> Result<Layout, AreaError> {
    Layout::from_size_align(dynamic_size, 64).map_err(|_| AreaError::SizeOverflow)
}

/// With one CPU: `base` (`dynamic_size` bytes, 64-byte aligned) becomes the
/// dynamic region, where run-time allocations live as plain memory.
/// Returns 1.
pub fn init_with_dynamic(
    base: *mut u8,
    cpu_count: usize,
    dynamic_size: usize,
) -> Result<usize, AreaError> {
    if cpu_count == 0 {
        return Err(AreaError::ZeroCpuCount);
    }
    if dynamic_size != 0 {
        if base.is_null() {
            return Err(AreaError::InvalidBase);
        }
        if base as usize % 64 != 0 {
            return Err(AreaError::UnalignedBase);
        }
        // Offsets are addresses here (the one area's base is 0).
        let start = base as usize;
        if start.checked_add(dynamic_size).is_none() {
            return Err(AreaError::SizeOverflow);
        }
        if !crate::dynamic::configure_naive(start, dynamic_size) {
            return Err(AreaError::DynamicRegionInUse);
        }
    }
    Ok(1)
}

/// One layout, as for [`percpu_area_layout_with_dynamic`].
#[cfg(feature = "placed")]
pub fn percpu_area_layout_placed(dynamic_size: usize) -> Result<Layout, AreaError> {
    percpu_area_layout_with_dynamic(1, dynamic_size)
}

/// With one CPU the statics are where the linker put them: the areas are
/// ignored, `cpu_count` must be non-zero and fit `table`. Returns 1.
#[cfg(feature = "placed")]
pub fn try_init_placed(
    table: &'static mut [usize],
    cpu_count: usize,
    area_of: impl FnMut(usize) -> *mut [u8],
) -> Result<usize, AreaError> {
    try_init_placed_with_dynamic(table, cpu_count, 0, area_of)
}

/// As [`try_init_placed`]; a dynamic region, if any, is CPU 0's area, as
/// [`init_with_dynamic`] makes it.
#[cfg(feature = "placed")]
pub fn try_init_placed_with_dynamic(
    table: &'static mut [usize],
    cpu_count: usize,
    dynamic_size: usize,
    mut area_of: impl FnMut(usize) -> *mut [u8],
) -> Result<usize, AreaError> {
    AreaError::check_table(table.len(), cpu_count)?;
    if dynamic_size == 0 {
        return Ok(1);
    }
    let area = area_of(0);
    if area.len() < dynamic_size {
        return Err(AreaError::AreaTooSmall {
            cpu: 0,
            size: area.len(),
            needed: dynamic_size,
        });
    }
    init_with_dynamic(area as *mut u8, 1, dynamic_size)
}

/// Nothing to take: `cpu_count` must be non-zero and fit `table`.
/// Returns 1.
///
/// # Safety
/// None needed; `unsafe` to match the multi-CPU build.
#[cfg(feature = "placed")]
pub unsafe fn try_adopt_placed(
    table: &'static mut [usize],
    cpu_count: usize,
    area_of: impl FnMut(usize) -> *mut [u8],
) -> Result<usize, AreaError> {
    try_init_placed_with_dynamic(table, cpu_count, 0, area_of)
}

/// Always [`AreaError::NotPlaced`]: `sp-naive` has one CPU.
#[cfg(feature = "placed")]
pub fn register_area(_area: *mut [u8]) -> Result<usize, AreaError> {
    Err(AreaError::NotPlaced)
}
