//! `PerCpuCounter`: a counter that every CPU bumps on its own slot, and
//! anybody sums.

use core::sync::atomic::{AtomicIsize, Ordering};

use crate::dynamic::{AllocError, DynamicLocation};
use crate::location::Location;
use crate::PerCpu;

/// A counter with one slot per CPU: [`add`](Self::add) touches the current
/// CPU's slot only, with no lock, no shared cache line and no guard, and
/// [`sum`](Self::sum) adds up every slot.
///
/// - At run time: [`PerCpuCounter::new`], in the areas' dynamic region.
/// - As a static: [`def_percpu_counter!`](crate::def_percpu_counter), in
///   `.percpu`.
///
/// # Why `add` needs no guard, with `preempt` too
/// On x86_64 it is one `gs:`-relative instruction, which nothing can split.
/// Elsewhere it reads the per-CPU register, then does one atomic
/// read-modify-write on that CPU's slot. If the task migrates between the
/// two, the update lands, once and whole, on the slot of the CPU it just
/// left: that slot may have two writers for a moment, which the atomic
/// instruction makes safe, and the sum, which counts every slot, is the
/// same. An interrupt handler that adds on the same CPU is safe for the
/// same reason.
///
/// # How exact `sum` is
/// `sum` reads each slot once, atomically: it is exact once the updates
/// have stopped, and while they run it is some value between the sums
/// before and after the updates that overlap it (each update counted at
/// most once). Slots are `isize`: on 32-bit targets one CPU's net
/// contribution must stay within `isize`, and the sum is computed in `i64`.
pub struct PerCpuCounter<L: Location = DynamicLocation> {
    slot: PerCpu<isize, L>,
}

impl PerCpuCounter {
    /// A counter at 0 on every CPU, allocated at run time. The areas must
    /// be initialised.
    pub fn new() -> Result<Self, AllocError> {
        // A late CPU's slot starts at 0 too, so the sum stays exact.
        let location = DynamicLocation::alloc_with(|_| 0isize)?;
        // SAFETY: the location holds an `isize` in every area, each zeroed.
        let slot = unsafe { PerCpu::__new(location) };
        Ok(Self { slot })
    }
}

impl<L: Location> PerCpuCounter<L> {
    /// The counter whose slots are the static at `location`.
    ///
    /// # Safety
    /// `location` holds an `isize` in every area that nothing else
    /// accesses (`def_percpu_counter!` guarantees it).
    #[doc(hidden)]
    pub const unsafe fn __from_location(location: L) -> Self {
        Self {
            // SAFETY: the caller's contract.
            slot: unsafe { PerCpu::__new(location) },
        }
    }

    /// Adds `delta` (which may be negative) to the current CPU's slot.
    #[inline(always)]
    pub fn add(&self, delta: i64) {
        let delta = delta as isize;
        #[cfg(all(target_arch = "x86_64", not(feature = "sp-naive")))]
        // SAFETY: one `gs:` instruction on this CPU's slot (see the type).
        unsafe {
            self.slot
                .__location()
                .rmw::<isize, { crate::primitive::ops::ADD }>(delta)
        };
        #[cfg(not(all(target_arch = "x86_64", not(feature = "sp-naive"))))]
        {
            // SAFETY: the slot is an `isize` in every area, only ever
            // accessed atomically; if this task migrates after reading the
            // address, the add lands on the previous CPU's slot (see the type).
            let slot = unsafe { AtomicIsize::from_ptr(self.slot.current_ptr() as *mut isize) };
            add_to(slot, delta);
        }
    }

    /// Adds 1 to the current CPU's slot.
    #[inline(always)]
    pub fn inc(&self) {
        self.add(1)
    }

    /// The sum of every initialised area's slot (see the type for how
    /// exact it is while updates run).
    pub fn sum(&self) -> i64 {
        sum_of((0..crate::percpu_area_num()).map(|cpu| {
            // SAFETY: each slot is an `isize` that is only accessed
            // atomically (x86_64's `add` is one instruction).
            unsafe { AtomicIsize::from_ptr(self.slot.remote_ptr(cpu) as *mut isize) }
        }))
    }
}

/// One CPU's slot, as the counter's two steps see it: core's atomic, or
/// loom's in the model checker's builds.
trait Slot {
    #[cfg_attr(
        all(target_arch = "x86_64", not(feature = "sp-naive")),
        allow(dead_code)
    )]
    fn fetch_add(&self, delta: isize);
    fn load(&self) -> isize;
}

impl Slot for AtomicIsize {
    #[inline(always)]
    fn fetch_add(&self, delta: isize) {
        AtomicIsize::fetch_add(self, delta, Ordering::Relaxed);
    }
    #[inline(always)]
    fn load(&self) -> isize {
        AtomicIsize::load(self, Ordering::Relaxed)
    }
}

/// `add` past the per-CPU register: one atomic read-modify-write, so that
/// two writers of one slot (a task that migrated, an interrupt handler)
/// lose nothing. No ordering: the slots order nothing else.
// x86_64's `add` is one `gs:` instruction instead.
#[cfg_attr(
    all(target_arch = "x86_64", not(feature = "sp-naive")),
    allow(dead_code)
)]
#[inline(always)]
fn add_to(slot: &impl Slot, delta: isize) {
    slot.fetch_add(delta);
}

/// `sum` past the addresses: every slot read once, added in `i64`.
#[inline]
fn sum_of<'a, S: Slot + 'a>(slots: impl Iterator<Item = &'a S>) -> i64 {
    slots
        .map(|slot| slot.load() as i64)
        .fold(0i64, i64::wrapping_add)
}

/// The model checker: a task that migrates between two CPUs mid-way, a
/// task on the second CPU and a reader of the sum, in every interleaving
/// loom finds. The sum is never more than what was added, and exact once
/// the writers are done, although two of them share a slot.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicIsize as LoomSlot;
    use loom::sync::Arc;

    impl Slot for LoomSlot {
        fn fetch_add(&self, delta: isize) {
            LoomSlot::fetch_add(self, delta, Ordering::Relaxed);
        }
        fn load(&self) -> isize {
            LoomSlot::load(self, Ordering::Relaxed)
        }
    }

    #[test]
    fn loom_add_against_sum() {
        loom::model(|| {
            let slots = Arc::new([LoomSlot::new(0), LoomSlot::new(0)]);
            // Adds 1 on CPU 0, is moved, adds 2 on CPU 1.
            let migrating = {
                let slots = slots.clone();
                loom::thread::spawn(move || {
                    add_to(&slots[0], 1);
                    add_to(&slots[1], 2);
                })
            };
            // CPU 1's own task adds 4 to the same slot meanwhile.
            let local = {
                let slots = slots.clone();
                loom::thread::spawn(move || add_to(&slots[1], 4))
            };
            let seen = sum_of(slots.iter());
            assert!((0..=7).contains(&seen), "sum {seen} outside 0..=7");
            migrating.join().unwrap();
            local.join().unwrap();
            assert_eq!(sum_of(slots.iter()), 7, "an update was lost");
        });
    }
}
