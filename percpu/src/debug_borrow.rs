//! Debug-build tracking of the borrows of per-CPU variables, to catch a
//! nested `with_current` (or an interrupt handler reaching a variable that
//! the code it interrupted has borrowed) before it aliases a `&mut`.
//!
//! Each CPU keeps one small table, `BORROWS`, of the variables borrowed on
//! it right now, keyed by offset: one runtime variable in debug builds
//! instead of a word per static, so the statics' layout is the same in
//! debug and release builds. Release builds track nothing and the guard is
//! empty.

use crate::location::Location;

/// Variables that can be borrowed at once on one CPU. Past that, a borrow
/// goes untracked: this is a debugging aid, and it never fails an access.
#[cfg(debug_assertions)]
const SLOTS: usize = 8;

/// Slot `i` is words `2i` (the offset plus one, 0 when free) and `2i + 1`
/// (`EXCLUSIVE`, or the number of shared borrows).
#[cfg(debug_assertions)]
#[percpu_macros::def_percpu]
static BORROWS: [usize; 2 * SLOTS] = [0; 2 * SLOTS];

#[cfg(debug_assertions)]
const EXCLUSIVE: usize = usize::MAX;

/// One tracked borrow; dropping it releases it.
pub struct DebugBorrow {
    /// The slot's state word, or null when untracked.
    #[cfg(debug_assertions)]
    state: *mut usize,
}

impl DebugBorrow {
    /// Marks the variable at `location` borrowed mutably on this CPU.
    ///
    /// Call it with preemption disabled and the per-CPU register set.
    /// Panics, in debug builds, if the variable is already borrowed here.
    #[inline(always)]
    #[track_caller]
    pub fn exclusive<L: Location>(location: &L) -> Self {
        #[cfg(debug_assertions)]
        return Self::enter(location.offset(), L::NAME, true);
        #[cfg(not(debug_assertions))]
        {
            let _ = location;
            Self {}
        }
    }

    /// Marks the variable at `location` borrowed shared on this CPU.
    ///
    /// As for [`Self::exclusive`]; panics if it is borrowed mutably here.
    #[inline(always)]
    #[track_caller]
    pub fn shared<L: Location>(location: &L) -> Self {
        #[cfg(debug_assertions)]
        return Self::enter(location.offset(), L::NAME, false);
        #[cfg(not(debug_assertions))]
        {
            let _ = location;
            Self {}
        }
    }

    /// For the atomic read-modify-write set, which holds no reference:
    /// panics, in debug builds, if the variable at `location` is borrowed
    /// mutably on this CPU (a `&mut` that the update would alias), and
    /// tracks nothing, so an interrupt handler's update in the middle of
    /// one is no error.
    #[inline(always)]
    #[track_caller]
    pub fn atomic<L: Location>(location: &L) -> Self {
        #[cfg(debug_assertions)]
        {
            let key = location.offset().wrapping_add(1);
            // SAFETY: reads of this CPU's table, with preemption disabled
            // by the caller (or, unguarded, on whichever CPU runs: only a
            // `&mut` held on that CPU can be in its table).
            unsafe {
                let table = BORROWS.current_ptr() as *const usize;
                for slot in 0..SLOTS {
                    if *table.add(2 * slot) == key && *table.add(2 * slot + 1) == EXCLUSIVE {
                        already_borrowed(L::NAME, true);
                    }
                }
            }
            Self {
                state: core::ptr::null_mut(),
            }
        }
        #[cfg(not(debug_assertions))]
        {
            let _ = location;
            Self {}
        }
    }

    #[cfg(debug_assertions)]
    #[track_caller]
    fn enter(offset: usize, name: &'static str, exclusive: bool) -> Self {
        let key = offset.wrapping_add(1);
        // SAFETY: this CPU's table, with preemption disabled by the caller.
        // Raw accesses only: an interrupt handler may use the table in
        // between, and returns it as it found it.
        unsafe {
            let table = BORROWS.current_ptr() as *mut usize;
            let mut free: *mut usize = core::ptr::null_mut();
            for slot in 0..SLOTS {
                let (k, state) = (table.add(2 * slot), table.add(2 * slot + 1));
                if *k == key {
                    if exclusive || *state == EXCLUSIVE {
                        already_borrowed(name, *state == EXCLUSIVE);
                    }
                    *state += 1;
                    return Self { state };
                }
                if *k == 0 && free.is_null() {
                    free = k;
                }
            }
            if !free.is_null() {
                *free = key;
                *free.add(1) = if exclusive { EXCLUSIVE } else { 1 };
                free = free.add(1);
            }
            Self { state: free }
        }
    }
}

#[cfg(debug_assertions)]
impl Drop for DebugBorrow {
    #[inline]
    fn drop(&mut self) {
        if self.state.is_null() {
            return;
        }
        // SAFETY: the slot is in this CPU's table (the borrow lives inside
        // a guard that keeps the CPU), and its key word comes right before.
        unsafe {
            let state = *self.state;
            let remaining = if state == EXCLUSIVE { 0 } else { state - 1 };
            *self.state = remaining;
            if remaining == 0 {
                *self.state.sub(1) = 0;
            }
        }
    }
}

#[cfg(debug_assertions)]
#[cold]
#[inline(never)]
#[track_caller]
fn already_borrowed(name: &str, mutably: bool) -> ! {
    if mutably {
        panic!(
            "per-CPU variable `{name}` is already borrowed mutably on this CPU \
             (nested `with_current`, or an interrupt handler inside one): a second access would alias its `&mut`"
        )
    } else {
        panic!(
            "per-CPU variable `{name}` is borrowed shared on this CPU (`current_ref`): \
             a `&mut` now would alias it"
        )
    }
}
