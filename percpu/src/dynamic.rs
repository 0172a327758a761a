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
use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
pub(crate) struct Bitmap {
    /// Offset of the region in an area (a multiple of `MIN_GRANULE`).
    start: usize,
    /// Granules in the region.
    granules: usize,
    /// Bytes per granule, a power of two.
    granule: usize,
    /// The largest alignment an offset can have in every area.
    max_align: usize,
    /// Granules in use.
    used_count: usize,
    used: [u64; WORDS],
}

impl Bitmap {
    /// An empty allocator with no region.
    pub(crate) const fn new() -> Self {
        Self {
            start: 0,
            granules: 0,
            granule: MIN_GRANULE,
            max_align: MIN_GRANULE,
            used_count: 0,
            used: [0; WORDS],
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
        let granules = size / granule;
        *self = Self {
            start,
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
            // Nothing to reserve: any aligned offset in the region will do.
            return Ok((self.start, 0));
        }
        // Offsets are aligned in every area because every area base is
        // aligned to `max_align`; the aligned starts are every `step`-th
        // granule from the first aligned one.
        let align = layout.align().max(self.granule);
        let step = align / self.granule;
        let first_aligned = (self.start.next_multiple_of(align) - self.start) / self.granule;
        let mut first = first_aligned;
        while first + count <= self.granules {
            match (first..first + count).rev().find(|&g| self.is_used(g)) {
                None => {
                    self.set(first, count, true);
                    self.used_count += count;
                    return Ok((self.start + first * self.granule, count * self.granule));
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
        let first = (offset - self.start) / self.granule;
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
    const fn new() -> Self {
        Self {
            locked: AtomicBool::new(false),
            bitmap: UnsafeCell::new(Bitmap::new()),
        }
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
            core::hint::spin_loop();
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
        // SAFETY: the lock is held, so this is the only reference.
        f(unsafe { &mut *self.bitmap.get() })
    }
}

pub(crate) static ALLOCATOR: Allocator = Allocator::new();

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

/// The region as last configured: start and usable size.
static REGION: (AtomicUsize, AtomicUsize) = (AtomicUsize::new(0), AtomicUsize::new(0));

/// Configures the bitmap and publishes the region.
fn configure(start: usize, size: usize, max_align: usize) -> bool {
    ALLOCATOR.with_unguarded(|bitmap| {
        let done = bitmap.configure(start, size, max_align);
        if done {
            REGION.0.store(bitmap.start, Ordering::Release);
            REGION
                .1
                .store(bitmap.granules * bitmap.granule, Ordering::Release);
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
}

impl DynamicLocation {
    /// Allocates room for `layout` in every area's dynamic region.
    pub(crate) fn alloc(layout: Layout) -> Result<Self, AllocError> {
        let (offset, bytes) = ALLOCATOR.with(|bitmap| bitmap.alloc(layout))?;
        Ok(Self { offset, bytes })
    }
}

impl Drop for DynamicLocation {
    fn drop(&mut self) {
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

    /// A long random alloc/free sequence against a model of the region:
    /// ranges never overlap, stay inside and aligned, and an allocation
    /// fails only when the model finds no aligned free run for it either.
    #[test]
    fn random_sequence_against_a_model() {
        const SIZE: usize = 4096;
        let mut b = Bitmap::new();
        assert!(b.configure(64, SIZE, 64));
        let mut live: Vec<(usize, usize)> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut allocs, mut fails) = (0, 0);
        for _ in 0..50_000 {
            if live.is_empty() || next() % 3 != 0 {
                let size = [1, 8, 16, 24, 40, 64, 100, 256, 600][next() as usize % 9];
                let align = [1, 8, 16, 32, 64][next() as usize % 5];
                match b.alloc(layout(size, align)) {
                    Ok((offset, bytes)) => {
                        allocs += 1;
                        assert_eq!(offset % align, 0);
                        assert!(offset >= 64 && offset + bytes <= 64 + SIZE);
                        assert!(bytes >= size);
                        for &(o, n) in &live {
                            assert!(offset + bytes <= o || o + n <= offset, "overlap");
                        }
                        live.push((offset, bytes));
                    }
                    Err(AllocError::OutOfSpace { .. }) => {
                        fails += 1;
                        // The model: every aligned start that fits the region.
                        let need = size.div_ceil(MIN_GRANULE) * MIN_GRANULE;
                        let fits = (64..=64 + SIZE - need)
                            .step_by(align.max(MIN_GRANULE))
                            .any(|s| live.iter().all(|&(o, n)| s + need <= o || o + n <= s));
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
            allocs > 10_000 && fails > 100,
            "{allocs} allocations, {fails} failures"
        );
        for (o, n) in live.drain(..) {
            b.free(o, n);
        }
        // Everything freed: the whole region is one run again.
        assert!(b.alloc(layout(SIZE, 64)).is_ok());
    }
}
