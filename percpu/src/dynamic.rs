//! Per-CPU data allocated at run time: the dynamic region of every area and
//! its allocator.
//!
//! Every area has the same layout: the template (the statics), then the
//! dynamic region. An allocation is one offset in that region, valid in
//! every area, so an allocated variable is reached exactly like a static:
//! the per-CPU register plus its offset.
//!
//! The allocator is a bitmap of granules under a spin lock, taken with
//! interrupts and preemption off (so an interrupt handler may allocate
//! too). Its bitmap has a fixed capacity; a region with more granules than
//! that uses a larger granule. It is first-fit over the bitmap: freed
//! granules are free again at once and merge with their neighbours by
//! construction, so an allocation fails only when no aligned run of free
//! granules of its size exists anywhere.

use core::alloc::Layout;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

// The lock and the bitmap's cell are loom's in the model checker's builds
// (`RUSTFLAGS="--cfg loom"`, tests only), which track every interleaving.
#[cfg(not(all(loom, test)))]
use core::{cell::UnsafeCell, sync::atomic::AtomicBool};
#[cfg(all(loom, test))]
use loom::{cell::UnsafeCell, sync::atomic::AtomicBool};

/// Why a run-time per-CPU allocation failed. Nothing was allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AllocError {
    /// The areas are not initialised yet, or they have no dynamic region
    /// (render the linker script with `cargo percpu ldscript --dynamic
    /// SIZE`, or initialise with [`init_with_dynamic`](crate::init_with_dynamic)).
    NoDynamicRegion,
    /// No aligned run of free space of this size is left in the region.
    OutOfSpace {
        /// Bytes asked for.
        size: usize,
        /// Bytes free in the region, in all (possibly in pieces).
        free: usize,
    },
    /// The alignment is larger than the areas' own alignment, which is the
    /// most an offset can guarantee in every area.
    AlignmentTooLarge {
        /// The alignment asked for.
        align: usize,
        /// The largest possible: the area alignment.
        max: usize,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AllocError::NoDynamicRegion => f.write_str(
                "the per-CPU areas have no dynamic region (not initialised, or none reserved)",
            ),
            AllocError::OutOfSpace { size, free } => write!(
                f,
                "no room for {size} bytes in the per-CPU dynamic region ({free} bytes free in all)"
            ),
            AllocError::AlignmentTooLarge { align, max } => write!(
                f,
                "alignment {align} is larger than the per-CPU area alignment {max}"
            ),
        }
    }
}

impl core::error::Error for AllocError {}

/// Granules the bitmap tracks at most.
pub(crate) const MAX_GRANULES: usize = 4096;
/// The smallest granule: every allocation is a multiple of it (the region
/// starts on one).
pub(crate) const MIN_GRANULE: usize = percpu_layout::DYNAMIC_ALIGN as usize;

const WORDS: usize = MAX_GRANULES / 64;

/// The allocator's state: where the region is and which granules are used.
///
/// Every offset it hands out is aligned as asked *in every area*, that is
/// at the address: area bases are aligned to `max_align`, so an offset
/// that is a multiple of `align <= max_align` gives an address that is too.
/// The region itself starts wherever the template ends (a multiple of 16
/// only), so granule `k` is at `base + k * granule`, with `base` the
/// region's start rounded up to the granule (or to `max_align`, for a
/// granule larger than that): then every granule is aligned to
/// `min(granule, max_align)`, and larger alignments step over granules.
pub(crate) struct Bitmap {
    /// Offset of the region in an area (a multiple of `MIN_GRANULE`).
    start: usize,
    /// Offset of granule 0: `start` rounded up as above.
    base: usize,
    /// Granules in the region, from `base`.
    granules: usize,
    /// Bytes per granule, a power of two.
    granule: usize,
    /// The largest alignment an offset can have in every area.
    max_align: usize,
    /// Granules in use.
    used_count: usize,
    used: [u64; WORDS],
    /// The first live allocation's constructor record (placed areas), or
    /// [`NO_RECORD`].
    records: usize,
}

impl Bitmap {
    /// An empty allocator with no region.
    pub(crate) const fn new() -> Self {
        Self {
            start: 0,
            base: 0,
            granules: 0,
            granule: MIN_GRANULE,
            max_align: MIN_GRANULE,
            used_count: 0,
            used: [0; WORDS],
            records: NO_RECORD,
        }
    }

    /// Sets the region to `size` bytes at offset `start` of every area
    /// (`start` a multiple of [`MIN_GRANULE`], every area base aligned to
    /// `max_align`), all free. Fails, changing nothing, while an allocation
    /// is live: initialising the areas again rewrites every area, region
    /// included, so it must not happen under live allocations.
    pub(crate) fn configure(&mut self, start: usize, size: usize, max_align: usize) -> bool {
        if self.used_count != 0 {
            return false;
        }
        let mut granule = MIN_GRANULE;
        while size / granule > MAX_GRANULES {
            granule *= 2;
        }
        // At most one granule is lost at each end: the rounding here, and
        // the tail that holds no whole granule.
        let base = start.next_multiple_of(granule.min(max_align));
        let granules = (start + size).saturating_sub(base) / granule;
        *self = Self {
            start,
            base,
            granules,
            granule,
            max_align,
            ..Self::new()
        };
        true
    }

    fn is_used(&self, g: usize) -> bool {
        self.used[g / 64] & (1 << (g % 64)) != 0
    }

    fn set(&mut self, from: usize, count: usize, used: bool) {
        for g in from..from + count {
            let bit = 1u64 << (g % 64);
            if used {
                self.used[g / 64] |= bit;
            } else {
                self.used[g / 64] &= !bit;
            }
        }
    }

    /// Granules a layout takes (0 for a zero size).
    fn granules_for(&self, size: usize) -> usize {
        size.div_ceil(self.granule)
    }

    /// A free, aligned range for `layout`: its offset in an area and the
    /// bytes it takes.
    pub(crate) fn alloc(&mut self, layout: Layout) -> Result<(usize, usize), AllocError> {
        if self.granules == 0 {
            return Err(AllocError::NoDynamicRegion);
        }
        if layout.align() > self.max_align {
            return Err(AllocError::AlignmentTooLarge {
                align: layout.align(),
                max: self.max_align,
            });
        }
        let count = self.granules_for(layout.size());
        if count == 0 {
            // Nothing to reserve: any aligned offset will do. This one is in
            // the region or at its end (a multiple of `max_align`).
            return Ok((self.start.next_multiple_of(layout.align()), 0));
        }
        // Every granule is aligned to `min(granule, max_align)`, which
        // covers any alignment up to the granule; a larger one (at most
        // `max_align`, so `base` is a multiple of the granule) is every
        // `step`-th granule from the first aligned one.
        let align = layout.align().max(self.granule);
        let step = align / self.granule;
        let first_aligned = (self.base.next_multiple_of(align) - self.base) / self.granule;
        let mut first = first_aligned;
        while first + count <= self.granules {
            match (first..first + count).rev().find(|&g| self.is_used(g)) {
                None => {
                    self.set(first, count, true);
                    self.used_count += count;
                    return Ok((self.base + first * self.granule, count * self.granule));
                }
                // Go on past the used granule, at the next aligned start.
                Some(used) => {
                    first = first_aligned + (used + 1 - first_aligned).div_ceil(step) * step
                }
            }
        }
        Err(AllocError::OutOfSpace {
            size: layout.size(),
            free: (self.granules - self.used_count) * self.granule,
        })
    }

    /// Frees what [`Self::alloc`] returned.
    pub(crate) fn free(&mut self, offset: usize, bytes: usize) {
        let count = bytes / self.granule;
        if count == 0 {
            return;
        }
        let first = (offset - self.base) / self.granule;
        debug_assert!(
            (first..first + count).all(|g| self.is_used(g)),
            "double free"
        );
        self.set(first, count, false);
        self.used_count -= count;
    }
}

/// The one allocator, behind a spin lock.
pub(crate) struct Allocator {
    locked: AtomicBool,
    bitmap: UnsafeCell<Bitmap>,
}

// SAFETY: the bitmap is only reached through `with`, which holds the lock.
unsafe impl Sync for Allocator {}

impl Allocator {
    #[cfg(not(all(loom, test)))]
    const fn new() -> Self {
        Self {
            locked: AtomicBool::new(false),
            bitmap: UnsafeCell::new(Bitmap::new()),
        }
    }

    #[cfg(all(loom, test))]
    fn new() -> Self {
        Self {
            locked: AtomicBool::new(false),
            bitmap: UnsafeCell::new(Bitmap::new()),
        }
    }

    /// Runs `f` on the bitmap; the lock must be held.
    #[cfg(not(all(loom, test)))]
    fn locked_bitmap<R>(&self, f: impl FnOnce(&mut Bitmap) -> R) -> R {
        // SAFETY: the lock is held, so this is the only reference.
        f(unsafe { &mut *self.bitmap.get() })
    }

    /// Runs `f` on the bitmap; the lock must be held (loom checks it).
    #[cfg(all(loom, test))]
    fn locked_bitmap<R>(&self, f: impl FnOnce(&mut Bitmap) -> R) -> R {
        // SAFETY: as above; loom fails the model if another thread's
        // access to the cell is not ordered before this one.
        self.bitmap.with_mut(|bitmap| f(unsafe { &mut *bitmap }))
    }

    /// Runs `f` on the bitmap, holding the lock with interrupts and
    /// preemption off, so that a handler on this CPU never spins on it.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Bitmap) -> R) -> R {
        let _guard = crate::guard::NoPreemptIrqSave::new();
        self.with_unguarded(f)
    }

    /// The same without the guard, for `init*`: it may run before this
    /// CPU's per-CPU register is set, when a kernel's preemption hooks,
    /// which often count in per-CPU data, cannot run yet. Nothing else
    /// allocates then (the areas are not set up).
    pub(crate) fn with_unguarded<R>(&self, f: impl FnOnce(&mut Bitmap) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Wait until it looks free before trying again: reads share the
            // cache line, only the attempt takes it.
            while self.locked.load(Ordering::Relaxed) {
                #[cfg(not(all(loom, test)))]
                core::hint::spin_loop();
                // Loom explores a spinning thread only if it yields.
                #[cfg(all(loom, test))]
                loom::thread::yield_now();
            }
        }
        // Released on the way out, a panic included (a double free
        // panics in debug builds), so that nothing spins on it forever.
        struct Unlock<'a>(&'a AtomicBool);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _unlock = Unlock(&self.locked);
        self.locked_bitmap(f)
    }
}

#[cfg(not(all(loom, test)))]
pub(crate) static ALLOCATOR: Allocator = Allocator::new();
// Loom's atomics are not `const`; its tests build allocators of their own.
#[cfg(all(loom, test))]
loom::lazy_static! {
    pub(crate) static ref ALLOCATOR: Allocator = Allocator::new();
}

/// Where the dynamic region of an area with a `template`-byte template and
/// a `stride`-byte stride lies: from `percpu_layout::dynamic_start` to the
/// end of the area.
#[cfg(not(feature = "sp-naive"))]
pub(crate) fn region(template: usize, stride: usize) -> (usize, usize) {
    let start = percpu_layout::dynamic_start(template as u64) as usize;
    (start, stride.saturating_sub(start))
}

/// `sp-naive`: the region is plain memory at address `start`.
#[cfg(feature = "sp-naive")]
pub(crate) fn configure_naive(start: usize, size: usize) -> bool {
    configure(start, size, 64)
}

/// The dynamic region of the initialised areas: its offset in an area and
/// its size (size 0 before `init*`, or when there is none).
pub fn percpu_dynamic_region() -> (usize, usize) {
    // Lock-free, so that it may be called anywhere, an interrupt handler
    // included.
    (
        REGION.0.load(Ordering::Acquire),
        REGION.1.load(Ordering::Acquire),
    )
}

/// The region as last configured: its start and size in every area, as
/// the layout contract places it (the allocator may leave less than a
/// granule unused at each end).
static REGION: (AtomicUsize, AtomicUsize) = (AtomicUsize::new(0), AtomicUsize::new(0));

/// Configures the bitmap and publishes the region.
fn configure(start: usize, size: usize, max_align: usize) -> bool {
    ALLOCATOR.with_unguarded(|bitmap| {
        let done = bitmap.configure(start, size, max_align);
        if done {
            let size = if bitmap.granules == 0 { 0 } else { size };
            REGION.0.store(start, Ordering::Release);
            REGION.1.store(size, Ordering::Release);
        }
        done
    })
}

/// Called by `init*` with the areas' layout (the init lock held). Fails
/// while allocations are live in a region that would move or shrink.
#[cfg(not(feature = "sp-naive"))]
pub(crate) fn on_init(template: usize, stride: usize, area_align: usize) -> bool {
    let (start, size) = region(template, stride);
    configure(start, size, area_align)
}

/// The location of a run-time allocation: its offset, which the handle
/// holds (so an access loads it, then goes through the per-CPU register).
/// Dropping it returns the space to the allocator.
#[repr(C)]
pub struct DynamicLocation {
    offset: usize,
    bytes: usize,
    /// Offset of its constructor record in area 0 (placed areas), or
    /// [`NO_RECORD`].
    record: usize,
}

/// The end of the record list.
const NO_RECORD: usize = usize::MAX;

/// What a CPU that registers late needs of a live allocation (placed areas
/// only): how to make its copy. The record sits in the allocation, after
/// the value, in area 0 (the other areas' bytes there are unused), and the
/// records form a list under the allocator's lock.
#[repr(C)]
struct RecordHeader {
    /// Offset of the next record, or [`NO_RECORD`].
    next: usize,
    /// Offset of the value in every area.
    value: usize,
    /// Writes a new value for CPU `cpu` at `dst`.
    make: unsafe fn(record: *mut RecordHeader, dst: *mut u8, cpu: usize),
    /// Drops the constructor.
    drop_init: unsafe fn(record: *mut RecordHeader),
}

#[repr(C)]
struct Record<F> {
    header: RecordHeader,
    init: F,
}

/// # Safety
/// `record` is a live `Record<F>`, `dst` room for a `T`; the allocator
/// lock is held (the constructor is only ever called under it).
unsafe fn make<T, F: FnMut(usize) -> T>(record: *mut RecordHeader, dst: *mut u8, cpu: usize) {
    // SAFETY: the caller's contract.
    unsafe { (dst as *mut T).write(((*(record as *mut Record<F>)).init)(cpu)) }
}

/// # Safety
/// `record` is a live `Record<F>`, unlinked, and never used again.
unsafe fn drop_init<F>(record: *mut RecordHeader) {
    // SAFETY: the caller's contract.
    unsafe { core::ptr::drop_in_place(&mut (*(record as *mut Record<F>)).init) }
}

/// Whether new allocations keep their constructor: only placed areas can
/// gain a CPU.
fn keeps_constructors() -> bool {
    #[cfg(all(feature = "placed", not(feature = "sp-naive")))]
    return crate::placed::is_placed();
    #[cfg(not(all(feature = "placed", not(feature = "sp-naive"))))]
    false
}

/// The record at `offset` of area 0.
fn record_at(offset: usize) -> *mut RecordHeader {
    with_exposed(crate::__priv::remote_area_base(0) + offset)
}

/// A pointer into the areas, whose memory's provenance `init*` exposed.
fn with_exposed<T>(addr: usize) -> *mut T {
    core::ptr::with_exposed_provenance_mut(addr)
}

/// Gives area `base`, CPU `cpu`'s, a copy of every live allocation that
/// kept its constructor.
///
/// # Safety
/// `bitmap` is the locked allocator's; the area is initialised, and
/// nobody reaches its dynamic region yet.
#[cfg(all(feature = "placed", not(feature = "sp-naive")))]
pub(crate) unsafe fn copy_live_allocations(bitmap: &Bitmap, base: usize, cpu: usize) {
    let mut at = bitmap.records;
    while at != NO_RECORD {
        let record = record_at(at);
        // SAFETY: a linked record is live and holds its constructor; the
        // value's offset is inside the area, allocated for its type.
        unsafe {
            let value = with_exposed(base + (*record).value);
            ((*record).make)(record, value, cpu);
            at = (*record).next;
        }
    }
}

impl DynamicLocation {
    /// Allocates a `T` in every area's dynamic region, and writes CPU
    /// `cpu`'s copy as `init(cpu)` for every initialised area. With placed
    /// areas, `init` is kept for the CPUs that register later, until the
    /// location drops.
    ///
    /// On error nothing is allocated and `init` is not called.
    pub(crate) fn alloc_with<T, F>(mut init: F) -> Result<Self, AllocError>
    where
        F: FnMut(usize) -> T + Send + 'static,
    {
        let keep = keeps_constructors();
        let (layout, record) = if keep {
            let (layout, record) = Layout::new::<T>()
                .extend(Layout::new::<Record<F>>())
                .map_err(|_| AllocError::OutOfSpace {
                    size: usize::MAX,
                    free: 0,
                })?;
            (layout, record)
        } else {
            (Layout::new::<T>(), 0)
        };
        let (offset, bytes) = ALLOCATOR.with(|bitmap| bitmap.alloc(layout))?;
        let mut location = Self {
            offset,
            bytes,
            record: NO_RECORD,
        };
        let write = |cpu: usize, value: T| {
            let dst = crate::__priv::remote_area_base(cpu) + offset;
            // SAFETY: fresh space allocated for a `T` in every area, which
            // nobody else reaches yet.
            unsafe { with_exposed::<T>(dst).write(value) };
        };
        let cpus = crate::percpu_area_num();
        for cpu in 0..cpus {
            write(cpu, init(cpu));
        }
        if keep {
            let at = offset + record;
            ALLOCATOR.with(|bitmap| {
                let header = RecordHeader {
                    next: bitmap.records,
                    value: offset,
                    make: make::<T, F>,
                    drop_init: drop_init::<F>,
                };
                let ptr = record_at(at) as *mut Record<F>;
                // SAFETY: the record's room in area 0, part of the fresh
                // allocation.
                unsafe { ptr.write(Record { header, init }) };
                bitmap.records = at;
                // CPUs that registered since the count was read: they
                // could not see the record yet.
                for cpu in cpus..crate::area::area_count() {
                    // SAFETY: the record was just written, the lock is held.
                    unsafe {
                        let dst = crate::__priv::remote_area_base(cpu) + offset;
                        make::<T, F>(ptr as *mut RecordHeader, with_exposed(dst), cpu)
                    };
                }
            });
            location.record = at;
        }
        Ok(location)
    }

    /// Forgets the constructor: no CPU that registers from now on gets a
    /// copy. Called before the copies are dropped; a second call does
    /// nothing.
    pub(crate) fn retire(&self) {
        if self.record == NO_RECORD {
            return;
        }
        let unlinked = ALLOCATOR.with(|bitmap| {
            let mut link = &mut bitmap.records;
            while *link != NO_RECORD {
                let record = record_at(*link);
                if *link == self.record {
                    // SAFETY: a linked record is live.
                    *link = unsafe { (*record).next };
                    return Some(record);
                }
                // SAFETY: as above; the list is only changed under the lock.
                link = unsafe { &mut (*record).next };
            }
            None
        });
        if let Some(record) = unlinked {
            // SAFETY: unlinked just now, so never used again; dropped
            // outside the lock, as it may free per-CPU memory itself.
            unsafe { ((*record).drop_init)(record) };
        }
    }
}

impl Drop for DynamicLocation {
    fn drop(&mut self) {
        self.retire();
        ALLOCATOR.with(|bitmap| bitmap.free(self.offset, self.bytes));
    }
}

// SAFETY: the offset was allocated for the value the handle is used with
// and stays reserved until the location is dropped.
unsafe impl crate::location::Location for DynamicLocation {
    const NAME: &'static str = "PerCpuBox";

    #[inline(always)]
    fn offset(&self) -> usize {
        self.offset
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn alignment_and_bounds() {
        let mut b = Bitmap::new();
        assert_eq!(b.alloc(layout(8, 8)), Err(AllocError::NoDynamicRegion));
        assert!(b.configure(128, 1024, 64));
        let (a, _) = b.alloc(layout(8, 8)).unwrap();
        let (c, _) = b.alloc(layout(8, 64)).unwrap();
        assert_eq!(a, 128);
        assert_eq!(c % 64, 0);
        assert!(c >= a + 16);
        assert_eq!(
            b.alloc(layout(8, 128)),
            Err(AllocError::AlignmentTooLarge {
                align: 128,
                max: 64
            })
        );
        assert!(matches!(
            b.alloc(layout(2048, 8)),
            Err(AllocError::OutOfSpace { size: 2048, .. })
        ));
        // A live allocation keeps the region as it is.
        assert!(!b.configure(0, 4096, 64));
        b.free(a, 16);
        b.free(c, 16);
        assert!(b.configure(0, 4096, 64));
    }

    #[test]
    fn large_regions_use_larger_granules() {
        let mut b = Bitmap::new();
        assert!(b.configure(0, 1 << 20, 64));
        assert_eq!(b.granule, 256);
        assert_eq!(b.granules, MAX_GRANULES);
        let (_, bytes) = b.alloc(layout(1, 1)).unwrap();
        assert_eq!(bytes, 256);
    }

    /// Steps of the random model test, per configuration: fewer under
    /// Miri, which runs it some thousand times slower.
    const STEPS: usize = if cfg!(miri) { 60 } else { 6_000 };

    /// Where CPU `cpu`'s area starts in the model: every base is aligned to
    /// the area alignment and no more (an odd multiple of it), so that an
    /// offset aligned only relative to the region would show.
    fn model_base(cpu: usize, stride: usize, area_align: usize) -> usize {
        0x4000_0000 + area_align + cpu * stride
    }

    /// A long random alloc/free sequence against a model of the region, in
    /// several layouts (region starts that are and are not a multiple of
    /// the granule, granules from 16 to 512 bytes, area alignments 64 and
    /// 256): every allocation's address is aligned in every CPU's area,
    /// ranges never overlap and stay inside the region, and an allocation
    /// fails only when the model finds no aligned free run for it either.
    #[test]
    fn random_sequence_against_a_model() {
        const CPUS: usize = 4;
        // (template size, dynamic bytes asked for, area alignment)
        let layouts = [
            (64, 4096, 64),
            (16, 65_536, 64),
            (48, 65_600, 64),
            (208, 200_000, 64),
            (16, 1 << 20, 64),
            (80, 4096, 256),
            (16, 300_000, 256),
            (144, 2 << 20, 256),
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (template, dynamic, area_align) in layouts {
            let start = percpu_layout::dynamic_start(template as u64) as usize;
            let stride = percpu_layout::area_stride_with_dynamic(
                template as u64,
                dynamic as u64,
                area_align as u64,
            )
            .unwrap() as usize;
            let end = stride;
            let mut b = Bitmap::new();
            assert!(b.configure(start, stride - start, area_align));
            // What the bitmap can hand out: the region less at most a
            // granule at each end.
            let g = b.granule;
            let head = start.next_multiple_of(g.min(area_align));
            let usable = (head, head + (end - head) / g * g);
            assert!(usable.0 - start < g && end - usable.1 < g);
            let mut live: Vec<(usize, usize)> = Vec::new();
            let (mut allocs, mut fails) = (0, 0);
            for _ in 0..STEPS {
                if live.is_empty() || next() % 3 != 0 {
                    // Sizes in proportion to the granule, so that every
                    // layout fills up.
                    let size = [0, 1, 8, 16, 24, 40, 64, 100, 192, 256, 600, 2000]
                        [next() as usize % 12]
                        * (g / MIN_GRANULE);
                    let align = 1 << (next() % 9); // 1 ..= 256
                    match b.alloc(layout(size, align)) {
                        Ok((offset, bytes)) => {
                            assert!(align <= area_align, "{align} > {area_align} allocated");
                            for cpu in 0..CPUS {
                                let addr = model_base(cpu, stride, area_align) + offset;
                                assert_eq!(
                                    addr % align,
                                    0,
                                    "{size}@{align} at offset {offset:#x} of a region at \
                                     {start:#x}: CPU {cpu}'s copy is at {addr:#x}"
                                );
                            }
                            assert!(offset >= start && offset + bytes <= end);
                            assert!(bytes >= size);
                            if bytes == 0 {
                                continue;
                            }
                            allocs += 1;
                            for &(o, n) in &live {
                                assert!(offset + bytes <= o || o + n <= offset, "overlap");
                            }
                            live.push((offset, bytes));
                        }
                        Err(AllocError::AlignmentTooLarge { align: a, max }) => {
                            assert_eq!((a, max), (align, area_align));
                            assert!(align > area_align);
                        }
                        Err(AllocError::OutOfSpace { .. }) => {
                            fails += 1;
                            assert!(align <= area_align);
                            // The model: does any free gap between the
                            // live ranges hold an aligned start?
                            let need = size.div_ceil(b.granule) * b.granule;
                            live.sort_unstable();
                            let mut from = usable.0;
                            let mut fits = false;
                            for &(o, n) in live.iter().chain([&(usable.1, 0)]) {
                                let s = from.next_multiple_of(align);
                                fits |= s + need <= o;
                                from = from.max(o + n);
                            }
                            assert!(!fits, "failed although {size}@{align} fits");
                        }
                        Err(e) => panic!("{e}"),
                    }
                } else {
                    let i = next() as usize % live.len();
                    let (o, n) = live.swap_remove(i);
                    b.free(o, n);
                }
                let used: usize = live.iter().map(|&(_, n)| n).sum();
                assert_eq!(used, b.used_count * b.granule);
            }
            assert!(
                cfg!(miri) || (allocs > STEPS / 3 && fails > 10),
                "{allocs} allocations, {fails} failures for {dynamic} bytes"
            );
            for (o, n) in live.drain(..) {
                b.free(o, n);
            }
            // Everything freed: the whole usable region is one run again.
            assert_eq!(
                b.alloc(layout(usable.1 - usable.0, 1)),
                Ok((usable.0, usable.1 - usable.0))
            );
        }
    }
}

/// The model checker: CPUs (loom threads) allocate and free at once, and
/// loom runs every interleaving of their lock acquisitions, failing on any
/// access to the bitmap that the lock does not order after the previous.
#[cfg(all(test, loom))]
mod loom_tests {
    extern crate std;
    use super::*;
    use loom::sync::Arc;
    use std::vec::Vec;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn loom_concurrent_alloc_and_free() {
        let mut model = loom::model::Builder::new();
        // Every interleaving with up to 3 preemptions: each CPU's lock
        // taken in every order relative to the other's critical sections.
        model.preemption_bound = Some(3);
        model.check(|| {
            let alloc = Arc::new(Allocator::new());
            alloc.with_unguarded(|b| assert!(b.configure(16, 160, 64)));
            let others: Vec<_> = (0..1)
                .map(|_| {
                    let alloc = alloc.clone();
                    loom::thread::spawn(move || {
                        let a = alloc.with(|b| b.alloc(layout(24, 32))).unwrap();
                        alloc.with(|b| b.free(a.0, a.1));
                        alloc.with(|b| b.alloc(layout(16, 16))).unwrap()
                    })
                })
                .collect();
            let mine = alloc.with(|b| b.alloc(layout(40, 16))).unwrap();
            let mut held: Vec<(usize, usize)> =
                others.into_iter().map(|t| t.join().unwrap()).collect();
            held.push(mine);
            // What each CPU still holds is its own.
            for (i, &(o, n)) in held.iter().enumerate() {
                for &(p, m) in &held[i + 1..] {
                    assert!(o + n <= p || p + m <= o, "overlap");
                }
            }
            alloc.with(|b| {
                for &(o, n) in &held {
                    b.free(o, n);
                }
                assert_eq!(b.used_count, 0);
            });
        });
    }
}
