//! The per-CPU areas: where they are, how many, and setting them up.

use core::alloc::Layout;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::AreaError;

extern "C" {
    // VMAs inside `.percpu`, normally 0 and the template size. Read only
    // through `__percpu_symbol_vma!`: as Rust addresses the compiler would
    // assume they are non-null (and may reach them PC-relative, out of range).
    static _percpu_load_start: u8;
    static _percpu_load_end: u8;
    // The addresses of `_percpu_area_align` and `_percpu_area_stride`, or 0
    // where the script does not define them (`global_asm!` below).
    static __percpu_area_align_addr: usize;
    static __percpu_area_stride_addr: usize;
    // The addresses of `_percpu_start` (where the template is loaded) and
    // `_percpu_end` (where the reservation ends), or 0 where the script
    // does not define them: 0.2.3-preview.1's `custom-base` scripts define
    // only `_percpu_load_start`/`_percpu_load_end`, with `.percpu` loaded
    // at its own (non-zero) VMA and no area reserved.
    static __percpu_start_addr: usize;
    static __percpu_end_addr: usize;
}

// The area alignment and stride are symbols the script defines, offsets from
// `_percpu_load_start` like a variable's (`percpu_layout::symbols`). Scripts
// written for percpu 0.4 define neither, so they are referenced weakly: an
// undefined weak symbol links, as address 0. A word of data holds each
// address, written by the linker (or the dynamic loader in user space) with
// the full address at any VMA, so that 0 can only mean "absent": a defined
// symbol is at least one alignment past `_percpu_load_start`. Rust has no
// weak reference of its own, and its references to an extern static would
// be strong ones, hence the assembly. Only the set-up and remote paths read
// these words, never a current-CPU access.
macro_rules! layout_symbol_addrs {
    ($word:literal) => {
        core::arch::global_asm!(
            ".weak _percpu_area_align",
            ".weak _percpu_area_stride",
            ".weak _percpu_start",
            ".weak _percpu_end",
            ".pushsection .data.rel.ro.__percpu_area_addrs, \"aw\"",
            ".balign {size}",
            ".globl __percpu_area_align_addr",
            ".hidden __percpu_area_align_addr",
            "__percpu_area_align_addr:",
            concat!($word, " _percpu_area_align"),
            ".globl __percpu_area_stride_addr",
            ".hidden __percpu_area_stride_addr",
            "__percpu_area_stride_addr:",
            concat!($word, " _percpu_area_stride"),
            ".globl __percpu_start_addr",
            ".hidden __percpu_start_addr",
            "__percpu_start_addr:",
            concat!($word, " _percpu_start"),
            ".globl __percpu_end_addr",
            ".hidden __percpu_end_addr",
            "__percpu_end_addr:",
            concat!($word, " _percpu_end"),
            ".popsection",
            size = const core::mem::size_of::<usize>(),
        );
    };
}
#[cfg(target_pointer_width = "64")]
layout_symbol_addrs!(".8byte");
#[cfg(target_pointer_width = "32")]
layout_symbol_addrs!(".4byte");

/// Serialises `init*`; readers of the area state wait while it is held.
pub(crate) static INIT_LOCK: AtomicBool = AtomicBool::new(false);
/// Where the initialised areas are. One struct, so that the remote-access
/// path forms one address for `base` and `stride` (a load pair on AArch64).
#[repr(C)]
pub(crate) struct Areas {
    /// Base of area 0 once initialised, else 0.
    pub(crate) base: AtomicUsize,
    /// Distance between areas (contiguous), or the size of each (placed).
    pub(crate) stride: AtomicUsize,
    /// Number of initialised areas. Placed areas publish a CPU that
    /// registers late with a `Release` store of this.
    pub(crate) num: AtomicUsize,
}

pub(crate) static AREAS: Areas = Areas {
    base: AtomicUsize::new(0),
    stride: AtomicUsize::new(0),
    num: AtomicUsize::new(0),
};

#[inline(always)]
pub(crate) fn template_size() -> usize {
    crate::__percpu_symbol_vma!(_percpu_load_end) - crate::__percpu_symbol_vma!(_percpu_load_start)
}

#[inline(always)]
pub(crate) fn template_addr() -> usize {
    // SAFETY: a word of `global_asm!` above, written only by the linker.
    match unsafe { __percpu_start_addr } {
        // No `_percpu_start`: `.percpu` is loaded where it is linked, so
        // the template is at its VMA (0, which `check_vma` refuses, for a
        // script that defines neither).
        0 => crate::__percpu_symbol_vma!(_percpu_load_start),
        start => start,
    }
}

/// A layout symbol's value, its offset from `_percpu_load_start`, given
/// its address; `None` where the script does not define it.
#[inline]
fn layout_value(addr: usize) -> Option<usize> {
    (addr != 0).then(|| addr.wrapping_sub(crate::__percpu_symbol_vma!(_percpu_load_start)))
}

/// The alignment of an area, as the linker script defines it
/// (`cargo percpu ldscript --align`; 64 for a script that does not say).
#[inline]
pub(crate) fn area_align() -> usize {
    // SAFETY: a word of `global_asm!` above, written only by the linker.
    layout_value(unsafe { __percpu_area_align_addr })
        .unwrap_or(percpu_layout::DEFAULT_AREA_ALIGN as usize)
}

/// Size of one CPU's area, the distance between two areas: as the linker
/// script defines it, the template rounded up to the area alignment (at
/// least one alignment, so that an empty template still gives distinct
/// areas).
#[inline]
pub fn percpu_area_size() -> usize {
    // SAFETY: a word of `global_asm!` above, written only by the linker.
    match layout_value(unsafe { __percpu_area_stride_addr }) {
        Some(stride) => stride,
        // A script that predates the symbol: the same rule, computed here.
        None => percpu_layout::area_stride(template_size() as u64, area_align() as u64)
            .and_then(|stride| usize::try_from(stride).ok())
            .unwrap_or(usize::MAX & !(area_align() - 1)),
    }
}

/// Number of per-CPU areas: once initialised, the number [`init`](crate::init) or
/// [`init_in_place`](crate::init_in_place) set up; before that, the number the linker script
/// reserves in `.percpu`.
pub fn percpu_area_num() -> usize {
    wait_for_init();
    match AREAS.num.load(Ordering::Acquire) {
        0 => reserved_areas(),
        n => n,
    }
}

/// The number of initialised areas, without waiting: for code that holds
/// the allocator's lock, under which CPUs register.
pub(crate) fn area_count() -> usize {
    AREAS.num.load(Ordering::Relaxed)
}

fn reserved_areas() -> usize {
    // Saturating: a hand-written script with `_percpu_end` before the start
    // reserves nothing, which `init_in_place` reports.
    // SAFETY: a word of `global_asm!` above, written only by the linker.
    let end = unsafe { __percpu_end_addr };
    let reserved = end.saturating_sub(template_addr());
    reserved / percpu_area_size()
}

/// Memory [`init`](crate::init) needs for `cpu_count` areas: their size, and the area
/// alignment the linker script defines (64 bytes unless rendered with a
/// larger `--align`).
///
/// # Panics
/// If the size overflows `usize` (`try_init` returns
/// [`AreaError::SizeOverflow`] for the same count).
pub fn percpu_area_layout_expected(cpu_count: usize) -> Layout {
    cpu_count
        .checked_mul(percpu_area_size())
        .and_then(|size| Layout::from_size_align(size, area_align()).ok())
        .expect("per-CPU areas for this CPU count overflow the address space")
}

/// Base address of CPU `cpu_id`'s area.
///
/// # Panics
/// If the areas are not initialised yet. Waits if another CPU is
/// initialising them right now.
pub fn percpu_area_base(cpu_id: usize) -> usize {
    wait_for_init();
    let base = AREAS.base.load(Ordering::Acquire);
    assert!(
        base != 0,
        "per-CPU areas are not initialised: call percpu::init_in_place() or percpu::init() first"
    );
    debug_assert!(
        cpu_id < AREAS.num.load(Ordering::Relaxed),
        "cpu_id {cpu_id} is out of range: {} per-CPU areas are initialised",
        AREAS.num.load(Ordering::Relaxed)
    );
    area_base_of(cpu_id)
}

/// Area `cpu_id`'s base: the stride arithmetic of contiguous areas.
#[cfg(not(feature = "placed"))]
#[inline(always)]
fn area_base_of(cpu_id: usize) -> usize {
    AREAS.base.load(Ordering::Relaxed) + cpu_id * AREAS.stride.load(Ordering::Relaxed)
}

/// Area `cpu_id`'s base with `placed`: one more load, of the CPU's base
/// word (see [`crate::placed`]).
#[cfg(feature = "placed")]
#[inline(always)]
fn area_base_of(cpu_id: usize) -> usize {
    crate::placed::base_word(cpu_id)
}

/// The remote-access path: no waiting, a range check in debug builds only.
#[doc(hidden)]
#[inline(always)]
pub fn remote_area_base(cpu_id: usize) -> usize {
    if cfg!(debug_assertions) {
        let num = AREAS.num.load(Ordering::Relaxed);
        if cpu_id >= num {
            remote_out_of_range(cpu_id, num);
        }
    }
    area_base_of(cpu_id)
}

#[cold]
#[inline(never)]
#[track_caller]
fn remote_out_of_range(cpu_id: usize, num: usize) -> ! {
    panic!("remote per-CPU access to cpu_id {cpu_id}, but only {num} per-CPU areas are initialised")
}

pub(crate) fn wait_for_init() {
    while INIT_LOCK.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

/// Sets up the areas the linker script reserves in `.percpu`: area 0 is the
/// loaded template (CPU 0 keeps it), and the template is copied into areas
/// 1.. . Returns the number of areas.
///
/// Calls are serialised: one made while another runs (on another CPU)
/// waits for it, then does its own, exactly as if made one after the other.
/// A later call initialises again: every area but CPU 0's gets the template
/// copied over it, so call it again only while the other CPUs are not using
/// their areas.
///
/// [`init_in_place`](crate::init_in_place) is the same with percpu 0.4's
/// error type.
pub fn try_init_in_place() -> Result<usize, AreaError> {
    let reserved = reserved_areas();
    if reserved == 0 {
        return Err(AreaError::NoAreasReserved);
    }
    init_areas(template_addr() as *mut u8, reserved, percpu_area_size())
}

/// Sets up `cpu_count` areas at `base`, memory the caller provides (see
/// [`percpu_area_layout_expected`]), copying the template into each.
/// Returns `cpu_count`.
///
/// Errors leave memory untouched: a null `base` or one not aligned to the
/// area alignment (see [`percpu_area_layout_expected`]), a zero
/// `cpu_count`, a size that overflows, or areas that overlap the template.
/// Concurrent and repeated calls behave as for [`try_init_in_place`].
/// [`init`](crate::init) is the same with percpu 0.4's error type.
pub fn try_init(base: *mut u8, cpu_count: usize) -> Result<usize, AreaError> {
    init_areas(base, cpu_count, percpu_area_size())
}

/// The stride of areas with `dynamic_size` bytes of dynamic region.
pub(crate) fn stride_with_dynamic(dynamic_size: usize) -> Result<usize, AreaError> {
    percpu_layout::area_stride_with_dynamic(
        template_size() as u64,
        dynamic_size as u64,
        area_align() as u64,
    )
    .and_then(|stride| usize::try_from(stride).ok())
    .ok_or(AreaError::SizeOverflow)
}

/// Memory [`init_with_dynamic`] needs for `cpu_count` areas with a dynamic
/// region of at least `dynamic_size` bytes each: their size and the area
/// alignment. Each area is the template, then the dynamic region, rounded
/// up to the alignment (the slack goes to the region).
pub fn percpu_area_layout_with_dynamic(
    cpu_count: usize,
    dynamic_size: usize,
) -> Result<Layout, AreaError> {
    cpu_count
        .checked_mul(stride_with_dynamic(dynamic_size)?)
        .and_then(|size| Layout::from_size_align(size, area_align()).ok())
        .ok_or(AreaError::SizeOverflow)
}

/// Like [`try_init`], with a dynamic region of at least `dynamic_size` bytes
/// after the template in every area, for [`PerCpuBox`](crate::PerCpuBox)
/// and the other run-time allocations. `base` must have room for
/// [`percpu_area_layout_with_dynamic`]`(cpu_count, dynamic_size)`.
///
/// Errors as for [`try_init`], and [`AreaError::DynamicRegionInUse`] when
/// allocations are live in a region this would move or shrink.
pub fn init_with_dynamic(
    base: *mut u8,
    cpu_count: usize,
    dynamic_size: usize,
) -> Result<usize, AreaError> {
    init_areas(base, cpu_count, stride_with_dynamic(dynamic_size)?)
}

/// Checks what `init` and `init_in_place` are asked to do, before anything
/// is written.
fn check_request(base: usize, cpu_count: usize, stride: usize) -> Result<(), AreaError> {
    if base == 0 {
        return Err(AreaError::InvalidBase);
    }
    if base % area_align() != 0 {
        return Err(AreaError::UnalignedBase);
    }
    if cpu_count == 0 {
        return Err(AreaError::ZeroCpuCount);
    }
    let total = cpu_count
        .checked_mul(stride)
        .ok_or(AreaError::SizeOverflow)?;
    base.checked_add(total).ok_or(AreaError::SizeOverflow)?;
    check_vma()?;
    let template = template_addr();
    let overlaps = base < template + template_size() && template < base + total;
    if overlaps && base != template {
        return Err(AreaError::OverlapsTemplate);
    }
    Ok(())
}

/// Offsets are `.percpu` VMAs: without `non-zero-vma` they must start at 0.
pub(crate) fn check_vma() -> Result<(), AreaError> {
    #[cfg(not(percpu_non_zero_vma))]
    if crate::__percpu_symbol_vma!(_percpu_load_start) != 0 {
        return Err(AreaError::NonZeroVma);
    }
    // A script with neither `_percpu_start` nor `.percpu` loaded at its own
    // VMA: the template is nowhere to be read.
    if template_addr() == 0 {
        return Err(AreaError::NoAreasReserved);
    }
    Ok(())
}

/// Copies the template into the area at `area` and zeroes the rest of its
/// `size` bytes (the dynamic region).
///
/// # Safety
/// `area` must be valid for `size >= template_size()` bytes of writes and
/// must not overlap the template.
pub(crate) unsafe fn fill_area(area: *mut u8, size: usize) {
    let template = template_addr() as *const u8;
    let len = template_size();
    // SAFETY: the caller's contract.
    unsafe {
        core::ptr::copy_nonoverlapping(template, area, len);
        core::ptr::write_bytes(area.add(len), 0, size - len);
    }
}

fn init_areas(base: *mut u8, cpu_count: usize, stride: usize) -> Result<usize, AreaError> {
    check_request(base as usize, cpu_count, stride)?;
    let template = template_addr() as *const u8;
    let size = template_size();

    while INIT_LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    // Whatever the stride leaves after the template is the dynamic region.
    if !crate::dynamic::on_init(size, stride, area_align()) {
        INIT_LOCK.store(false, Ordering::Release);
        return Err(AreaError::DynamicRegionInUse);
    }
    for cpu in 0..cpu_count {
        // SAFETY: checked above: the areas fit the address space and the
        // caller's memory; only area 0 may coincide with the template, and
        // then it already holds it.
        unsafe {
            let area = base.add(cpu * stride);
            if !core::ptr::eq(area, template) {
                fill_area(area, stride.max(size));
            }
        }
    }
    #[cfg(feature = "placed")]
    crate::placed::publish_contiguous(base as usize, stride, cpu_count);
    AREAS.stride.store(stride, Ordering::Relaxed);
    AREAS.num.store(cpu_count, Ordering::Relaxed);
    AREAS.base.store(base as usize, Ordering::Relaxed);
    INIT_LOCK.store(false, Ordering::Release);
    Ok(cpu_count)
}

/// Reads this CPU's per-CPU register: the base of its area once
/// [`init_percpu_reg`] has run on it.
#[inline]
pub fn read_percpu_reg() -> usize {
    crate::arch::read_percpu_reg()
}

/// Writes this CPU's per-CPU register.
///
/// # Safety
/// `base` must be the base of an initialised area that no other CPU uses as
/// its own; every per-CPU access on this CPU goes there afterwards.
#[inline]
pub unsafe fn write_percpu_reg(base: usize) {
    // SAFETY: forwarded contract.
    unsafe { crate::arch::write_percpu_reg(base) }
}

/// Points this CPU's per-CPU register at area `cpu_id`. Call it on each CPU
/// after `init` or `init_in_place`, before the CPU's first per-CPU access.
///
/// # Panics
/// If the areas are not initialised.
pub fn init_percpu_reg(cpu_id: usize) {
    let base = percpu_area_base(cpu_id);
    // SAFETY: `base` is area `cpu_id`, initialised; which CPU runs with it
    // is the caller's choice, as documented.
    unsafe { write_percpu_reg(base) }
}
