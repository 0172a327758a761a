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
        let location = DynamicLocation::alloc(core::alloc::Layout::new::<isize>())?;
        // SAFETY: the location holds an `isize` in every area, zeroed below.
        let slot = unsafe { PerCpu::__new(location) };
        for cpu in 0..crate::percpu_area_num() {
            // SAFETY: fresh space; nobody else can reach it yet.
            unsafe { (slot.remote_ptr(cpu) as *mut isize).write(0) };
        }
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
            slot.fetch_add(delta, Ordering::Relaxed);
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
        (0..crate::percpu_area_num())
            .map(|cpu| {
                // SAFETY: each slot is an `isize` that is only accessed
                // atomically (x86_64's `add` is one instruction).
                let slot =
                    unsafe { AtomicIsize::from_ptr(self.slot.remote_ptr(cpu) as *mut isize) };
                slot.load(Ordering::Relaxed) as i64
            })
            .fold(0i64, i64::wrapping_add)
    }
}
