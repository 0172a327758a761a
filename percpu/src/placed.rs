//! Placed areas (feature `placed`): each CPU's area wherever the platform
//! puts it, and CPUs that register after the others run.
//!
//! The current CPU never notices: its register holds its area's base, as
//! with contiguous areas. Only the code that finds *another* CPU's area
//! changes. Contiguous areas find it by arithmetic, `base + cpu * stride`;
//! with this feature every area has a *base word*, at `first + cpu * step`,
//! and the remote path loads it:
//!
//! - placed areas: the words are the platform's base table (`step` is one
//!   word), filled by [`try_init_placed`] and [`register_area`];
//! - contiguous areas set up in a build with this feature (another crate of
//!   the kernel enabled it): each area's own hidden `AREA_BASE` static
//!   holds its base, so the words are `stride` apart and no table is needed.
//!
//! One formula serves both, with no branch: the remote path is the stride
//! arithmetic plus one load.
//!
//! # Registration and remote readers
//! [`register_area`] fills the new area (template, zeroed dynamic region,
//! a copy of every live run-time allocation), writes its base word, then
//! publishes the CPU with a `Release` store of the area count. A reader
//! that learns the count with `Acquire` ([`percpu_area_num`](crate::percpu_area_num),
//! which the views, `PerCpuCounter::sum` and `PerCpuBox` use), or that got
//! the CPU id from something ordered after the registration, sees the
//! whole area.

use core::alloc::Layout;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::area::{self, AREAS, INIT_LOCK};
use crate::AreaError;

/// Where area `cpu`'s base word is: `first + cpu * step`.
#[repr(C)]
struct BaseWords {
    first: AtomicUsize,
    step: AtomicUsize,
}

static BASE_WORDS: BaseWords = BaseWords {
    first: AtomicUsize::new(0),
    step: AtomicUsize::new(0),
};

/// Whether the areas are placed (so that one more may register), and the
/// number of entries in the base table.
static PLACED: AtomicBool = AtomicBool::new(false);
static TABLE_CAPACITY: AtomicUsize = AtomicUsize::new(0);

// Every area's own base, for contiguous areas in a `placed` build: the
// remote path loads it like a table entry.
#[percpu_macros::def_percpu]
static AREA_BASE: usize = 0;

/// Area `cpu`'s base, from its base word.
#[inline(always)]
pub(crate) fn base_word(cpu: usize) -> usize {
    let word =
        BASE_WORDS.first.load(Ordering::Relaxed) + cpu * BASE_WORDS.step.load(Ordering::Relaxed);
    // SAFETY: the words of every initialised area (`cpu` below the count,
    // which the callers' contracts and debug checks ensure) are written
    // before the count that covers them is published, and are only ever
    // accessed atomically. The address comes from a pointer whose
    // provenance `publish_*` exposed.
    unsafe { AtomicUsize::from_ptr(core::ptr::with_exposed_provenance_mut(word)) }
        .load(Ordering::Relaxed)
}

/// Contiguous areas in a `placed` build: each area's `AREA_BASE` is its
/// base word. Called by `init*` with the init lock held, after the areas
/// are filled.
pub(crate) fn publish_contiguous(base: usize, stride: usize, cpu_count: usize) {
    let offset = AREA_BASE.offset();
    for cpu in 0..cpu_count {
        let area = base + cpu * stride;
        // SAFETY: area `cpu` is initialised memory of the caller's, and
        // `AREA_BASE` is a `usize` in every area.
        unsafe { AtomicUsize::from_ptr(core::ptr::with_exposed_provenance_mut(area + offset)) }
            .store(area, Ordering::Relaxed);
    }
    PLACED.store(false, Ordering::Relaxed);
    BASE_WORDS.first.store(base + offset, Ordering::Relaxed);
    BASE_WORDS.step.store(stride, Ordering::Relaxed);
}

/// Bytes one placed area needs: the template and a dynamic region of at
/// least `dynamic_size` bytes, rounded up to the area alignment; with 0, the
/// dynamic region the linker script reserves (`cargo percpu ldscript
/// --dynamic SIZE`), as [`percpu_area_size`](crate::percpu_area_size).
pub fn percpu_area_layout_placed(dynamic_size: usize) -> Result<Layout, AreaError> {
    let size = area_size(dynamic_size)?;
    Layout::from_size_align(size, area::area_align()).map_err(|_| AreaError::SizeOverflow)
}

fn area_size(dynamic_size: usize) -> Result<usize, AreaError> {
    match dynamic_size {
        0 => Ok(crate::percpu_area_size()),
        n => area::stride_with_dynamic(n),
    }
}

/// Checks one area for `cpu`: `(base, size)` of the memory given, `needed`
/// bytes per area. Nothing is written.
fn check_area(cpu: usize, area: *mut [u8], needed: usize) -> Result<usize, AreaError> {
    let base = area as *mut u8 as usize;
    let align = area::area_align();
    if base == 0 {
        return Err(AreaError::NullArea { cpu });
    }
    if base % align != 0 {
        return Err(AreaError::UnalignedArea { cpu, align });
    }
    if area.len() < needed {
        return Err(AreaError::AreaTooSmall {
            cpu,
            size: area.len(),
            needed,
        });
    }
    base.checked_add(needed).ok_or(AreaError::SizeOverflow)?;
    let template = area::template_addr();
    if base < template + area::template_size().max(1) && template < base + needed {
        return Err(AreaError::AreaOverlapsTemplate { cpu });
    }
    Ok(base)
}

/// The first of `bases` (each `size` bytes) that `base` overlaps.
fn overlapping(base: usize, size: usize, mut bases: impl Iterator<Item = usize>) -> Option<usize> {
    bases.position(|other| base < other + size && other < base + size)
}

/// Sets up `cpu_count` areas, each wherever `area_of(cpu)` says: memory of
/// [`percpu_area_layout_placed`]`(0)` at least, for example in the CPU's
/// own NUMA node. Each gets the template copied in (its dynamic region
/// zeroed); `table` becomes the base table, one entry per CPU, and its
/// length is the most CPUs that can ever be registered (the rest come
/// later with [`register_area`]). Returns `cpu_count`.
///
/// CPU `cpu` then calls [`init_percpu_reg`](crate::init_percpu_reg)`(cpu)`
/// as with contiguous areas; its accesses are the same instructions. Only
/// remote accesses read `table`.
///
/// Errors write nothing to any area: a zero `cpu_count`, a `table` too
/// short, an area that is null, unaligned, too small, overlapping another
/// CPU's or the template, and the errors of [`try_init`](crate::try_init).
/// `area_of` is called once per CPU, in order. The same rules as for
/// `try_init` apply to calling it again.
pub fn try_init_placed(
    table: &'static mut [usize],
    cpu_count: usize,
    area_of: impl FnMut(usize) -> *mut [u8],
) -> Result<usize, AreaError> {
    try_init_placed_with_dynamic(table, cpu_count, 0, area_of)
}

/// [`try_init_placed`] with a dynamic region of at least `dynamic_size`
/// bytes in every area (0: the one the linker script reserves); each area
/// needs [`percpu_area_layout_placed`]`(dynamic_size)`.
pub fn try_init_placed_with_dynamic(
    table: &'static mut [usize],
    cpu_count: usize,
    dynamic_size: usize,
    area_of: impl FnMut(usize) -> *mut [u8],
) -> Result<usize, AreaError> {
    place(table, cpu_count, area_size(dynamic_size)?, area_of, true)
}

/// Takes `cpu_count` areas that the platform has already filled, each
/// wherever `area_of(cpu)` says, as placed areas: the same checks as
/// [`try_init_placed`], with areas of the template's size (rounded up to
/// the area alignment) and no dynamic region, and **nothing written** to
/// them. For platforms that copy the template themselves (percpu 0.2.3's
/// `custom-base` contract), possibly after some CPUs began to use their
/// areas. Returns `cpu_count`.
///
/// # Safety
/// Every area must hold a copy of the template (the loaded `.percpu`
/// section), or what a CPU has made of it since, for as long as the areas
/// are in use; `area_of`'s lengths are taken as the platform's word.
pub unsafe fn try_adopt_placed(
    table: &'static mut [usize],
    cpu_count: usize,
    area_of: impl FnMut(usize) -> *mut [u8],
) -> Result<usize, AreaError> {
    let size = area::stride_with_dynamic(0)?;
    place(table, cpu_count, size, area_of, false)
}

/// [`try_init_placed_with_dynamic`] and [`try_adopt_placed`]: `size`-byte
/// areas, filled or taken as they are.
fn place(
    table: &'static mut [usize],
    cpu_count: usize,
    size: usize,
    mut area_of: impl FnMut(usize) -> *mut [u8],
    fill: bool,
) -> Result<usize, AreaError> {
    AreaError::check_table(table.len(), cpu_count)?;
    area::check_vma()?;
    // The table is ours from here on, so it holds the bases while they are
    // checked; the areas are not touched until all are.
    for cpu in 0..cpu_count {
        let base = check_area(cpu, area_of(cpu), size)?;
        if let Some(other) = overlapping(base, size, table[..cpu].iter().copied()) {
            return Err(AreaError::AreasOverlap { cpu, other });
        }
        table[cpu] = base;
    }

    while INIT_LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    // Adopted areas may end right after the template: no dynamic region.
    let region_end = if fill { size } else { area::template_size() };
    if !crate::dynamic::on_init(area::template_size(), region_end, area::area_align()) {
        INIT_LOCK.store(false, Ordering::Release);
        return Err(AreaError::DynamicRegionInUse);
    }
    for &base in table[..cpu_count].iter().filter(|_| fill) {
        // SAFETY: checked above: `size` bytes of the caller's memory, apart
        // from the template and from every other area.
        unsafe { fill_placed(base, size) };
    }
    PLACED.store(true, Ordering::Relaxed);
    TABLE_CAPACITY.store(table.len(), Ordering::Relaxed);
    BASE_WORDS
        .first
        .store(table.as_mut_ptr() as usize, Ordering::Relaxed);
    BASE_WORDS.step.store(size_of::<usize>(), Ordering::Relaxed);
    AREAS.stride.store(size, Ordering::Relaxed);
    AREAS.num.store(cpu_count, Ordering::Relaxed);
    AREAS.base.store(table[0], Ordering::Relaxed);
    INIT_LOCK.store(false, Ordering::Release);
    Ok(cpu_count)
}

/// Fills a placed area and writes its own base into it.
///
/// # Safety
/// As for [`area::fill_area`].
unsafe fn fill_placed(base: usize, size: usize) {
    // SAFETY: the caller's contract; the pointer takes the provenance the
    // caller's `*mut [u8]` exposed when it became `base`.
    unsafe { area::fill_area(core::ptr::with_exposed_provenance_mut(base), size) };
    // SAFETY: `AREA_BASE` is a `usize` inside the area just filled.
    unsafe {
        AtomicUsize::from_ptr(core::ptr::with_exposed_provenance_mut(
            base + AREA_BASE.offset(),
        ))
    }
    .store(base, Ordering::Relaxed);
}

/// Registers one more CPU, whose area is `area` (memory of
/// [`percpu_area_layout_placed`] for the size the areas were set up with),
/// while the others run. Returns its CPU id: the number of CPUs before it.
///
/// The area gets the template copied in, as at boot, and a copy of every
/// live [`PerCpuBox`](crate::PerCpuBox) and
/// [`PerCpuCounter`](crate::PerCpuCounter) from the constructor each was
/// created with: `f(id)` for [`PerCpuBox::new_with`](crate::PerCpuBox::new_with)`(f)`,
/// a clone of the value for [`PerCpuBox::new`](crate::PerCpuBox::new),
/// 0 for a counter (so its sum stays exact). Then the CPU is published
/// (see the module's ordering); the new CPU calls
/// [`init_percpu_reg`](crate::init_percpu_reg) with the id before its
/// first per-CPU access.
///
/// The constructors run here, on the calling CPU, with the per-CPU
/// allocator locked and interrupts off: one that creates or drops a
/// run-time per-CPU allocation deadlocks.
///
/// Errors write nothing: [`AreaError::NotPlaced`] unless the areas were
/// set up by [`try_init_placed`], [`AreaError::TableFull`], and the checks
/// on the area as at boot.
pub fn register_area(area: *mut [u8]) -> Result<usize, AreaError> {
    area::wait_for_init();
    if !PLACED.load(Ordering::Relaxed) {
        return Err(AreaError::NotPlaced);
    }
    // Registrations, allocations and frees are serialised by the
    // allocator's lock, so every live allocation gets its copy exactly once.
    crate::dynamic::ALLOCATOR.with(|bitmap| {
        let cpu = AREAS.num.load(Ordering::Relaxed);
        let size = AREAS.stride.load(Ordering::Relaxed);
        let capacity = TABLE_CAPACITY.load(Ordering::Relaxed);
        if cpu >= capacity {
            return Err(AreaError::TableFull {
                capacity,
                needed: cpu + 1,
            });
        }
        let base = check_area(cpu, area, size)?;
        if let Some(other) = overlapping(base, size, (0..cpu).map(base_word)) {
            return Err(AreaError::AreasOverlap { cpu, other });
        }
        // SAFETY: checked: the caller's memory, apart from the template and
        // the other areas; nobody reaches it before it is published.
        unsafe { fill_placed(base, size) };
        // SAFETY: the area is filled and not yet published.
        unsafe { crate::dynamic::copy_live_allocations(bitmap, base, cpu) };
        let word = BASE_WORDS.first.load(Ordering::Relaxed) + cpu * size_of::<usize>();
        // SAFETY: entry `cpu` of the table, below its capacity.
        let entry = unsafe { AtomicUsize::from_ptr(core::ptr::with_exposed_provenance_mut(word)) };
        publish(entry, &AREAS.num, base, cpu);
        Ok(cpu)
    })
}

/// A word of the registration protocol: core's atomic, or loom's in the
/// model checker's builds.
trait Word {
    fn get(&self, order: Ordering) -> usize;
    fn set(&self, value: usize, order: Ordering);
}

impl Word for AtomicUsize {
    #[inline(always)]
    fn get(&self, order: Ordering) -> usize {
        self.load(order)
    }
    #[inline(always)]
    fn set(&self, value: usize, order: Ordering) {
        self.store(value, order)
    }
}

/// Publishes CPU `cpu`, whose area at `base` is filled: its base word,
/// then the count that covers it, with `Release`, so that whoever reads
/// the count with `Acquire` ([`published`], `percpu_area_num`) sees the
/// word and everything written to the area before.
fn publish(entry: &impl Word, count: &impl Word, base: usize, cpu: usize) {
    entry.set(base, Ordering::Relaxed);
    count.set(cpu + 1, Ordering::Release);
}

/// The CPUs a remote reader may reach, as `percpu_area_num` reads them.
#[cfg_attr(not(all(test, loom)), allow(dead_code))]
fn published(count: &impl Word) -> usize {
    count.get(Ordering::Acquire)
}

/// Whether the areas were set up by [`try_init_placed`]: only then can a
/// run-time allocation meet a CPU that registers after it.
pub(crate) fn is_placed() -> bool {
    PLACED.load(Ordering::Relaxed)
}

/// The model checker: a CPU registers while a remote reader walks the
/// published CPUs, in every interleaving loom finds. A reader that sees a
/// CPU sees its base word and its area's contents (the template copy and
/// the copies of live allocations, here one word).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::AtomicUsize as LoomWord;
    use loom::sync::Arc;

    impl Word for LoomWord {
        fn get(&self, order: Ordering) -> usize {
            self.load(order)
        }
        fn set(&self, value: usize, order: Ordering) {
            self.store(value, order)
        }
    }

    #[test]
    fn loom_a_registered_area_is_whole_when_seen() {
        loom::model(|| {
            // CPU 0 is up; CPU 1's area and base word are being written.
            let areas = Arc::new([UnsafeCell::new(7usize), UnsafeCell::new(0usize)]);
            let words = Arc::new([LoomWord::new(0x1000), LoomWord::new(0), LoomWord::new(1)]);
            let registering = {
                let (areas, words) = (areas.clone(), words.clone());
                loom::thread::spawn(move || {
                    // SAFETY (model): nobody reaches area 1 before it is
                    // published; loom checks exactly that.
                    areas[1].with_mut(|value| unsafe { *value = 7 });
                    publish(&words[1], &words[2], 0x2000, 1);
                })
            };
            for cpu in 0..published(&words[2]) {
                assert_ne!(
                    words[cpu].get(Ordering::Relaxed),
                    0,
                    "CPU {cpu}'s base word"
                );
                // SAFETY (model): as above.
                let value = areas[cpu].with(|value| unsafe { *value });
                assert_eq!(value, 7, "CPU {cpu}'s area, seen before it was filled");
            }
            registering.join().unwrap();
        });
    }
}
