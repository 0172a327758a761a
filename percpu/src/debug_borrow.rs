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

/// Slot `i` is words `2i` (the key: the offset plus one, 0 when free) and
/// `2i + 1` (the state: `EXCLUSIVE`, or the number of shared borrows). A
/// slot is live when both are non-zero; a key with state 0 is a slot being
/// claimed or released, which everybody else skips. An interrupt handler
/// may run between any two accesses of the table (they are volatile, so
/// they happen in program order), uses it too, and leaves it as it found
/// it: the claim writes the key, then the state, and the release clears
/// the state, then the key, so a handler never counts on a half-written
/// slot, nor takes one that is in use.
#[cfg(debug_assertions)]
#[percpu_macros::def_percpu]
static BORROWS: [usize; 2 * SLOTS] = [0; 2 * SLOTS];

#[cfg(debug_assertions)]
const EXCLUSIVE: usize = usize::MAX;

/// Reads a word of the table.
///
/// # Safety
/// `p` is a word of this CPU's table.
#[cfg(debug_assertions)]
#[inline(always)]
unsafe fn get(p: *const usize) -> usize {
    #[cfg(test)]
    model::interrupt_point();
    // SAFETY: the caller's contract.
    unsafe { p.read_volatile() }
}

/// Writes a word of the table.
///
/// # Safety
/// As for [`get`].
#[cfg(debug_assertions)]
#[inline(always)]
unsafe fn put(p: *mut usize, value: usize) {
    #[cfg(test)]
    model::interrupt_point();
    // SAFETY: the caller's contract.
    unsafe { p.write_volatile(value) }
}

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
            // SAFETY: this CPU's table, with preemption disabled by the
            // caller (or, unguarded, on whichever CPU runs: only a `&mut`
            // held on that CPU can be in its table).
            unsafe {
                let table = BORROWS.current_ptr() as *mut usize;
                Self::check_atomic_in(table, location.offset().wrapping_add(1), L::NAME)
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
        // SAFETY: this CPU's table, with preemption disabled by the caller.
        unsafe {
            let table = BORROWS.current_ptr() as *mut usize;
            Self::enter_in(table, offset.wrapping_add(1), name, exclusive)
        }
    }

    /// [`Self::atomic`] on the table at `table`.
    ///
    /// # Safety
    /// `table` is this CPU's table (`2 * SLOTS` words), which only this
    /// CPU and its interrupt handlers use.
    #[cfg(debug_assertions)]
    #[track_caller]
    unsafe fn check_atomic_in(table: *mut usize, key: usize, name: &'static str) -> Self {
        for slot in 0..SLOTS {
            // SAFETY: words of the table (the caller's contract).
            unsafe {
                if get(table.add(2 * slot)) == key && get(table.add(2 * slot + 1)) == EXCLUSIVE {
                    already_borrowed(name, true);
                }
            }
        }
        Self {
            state: core::ptr::null_mut(),
        }
    }

    /// [`Self::enter`] on the table at `table`, keyed by `key`.
    ///
    /// # Safety
    /// As for [`Self::check_atomic_in`].
    #[cfg(debug_assertions)]
    #[track_caller]
    unsafe fn enter_in(table: *mut usize, key: usize, name: &'static str, exclusive: bool) -> Self {
        let mut free: *mut usize = core::ptr::null_mut();
        // SAFETY: words of the table (the caller's contract). A handler
        // that runs in between restores what it changed, so what was read
        // still holds when it is written back.
        unsafe {
            for slot in 0..SLOTS {
                let (k, state) = (table.add(2 * slot), table.add(2 * slot + 1));
                let found = get(k);
                if found == key {
                    let now = get(state);
                    if now != 0 {
                        if exclusive || now == EXCLUSIVE {
                            already_borrowed(name, now == EXCLUSIVE);
                        }
                        put(state, now + 1);
                        return Self { state };
                    }
                } else if found == 0 && free.is_null() {
                    free = k;
                }
            }
            if free.is_null() {
                // Past `SLOTS` borrows at once: untracked.
                return Self { state: free };
            }
            // The key first: until the state is written the slot is
            // neither free nor live to a handler.
            put(free, key);
            let state = free.add(1);
            put(state, if exclusive { EXCLUSIVE } else { 1 });
            Self { state }
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
            let state = get(self.state);
            let remaining = if state == EXCLUSIVE { 0 } else { state - 1 };
            put(self.state, remaining);
            if remaining == 0 {
                // The state first: a key with state 0 is skipped.
                put(self.state.sub(1), 0);
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

/// The model checker of the table under nesting: a nest of borrows runs
/// on a table of its own, and an interrupt handler (itself interruptible
/// once more) that borrows a variable fires before every access of the
/// table in turn, for every variable and kind of borrow. Each handler must
/// panic exactly when a borrow held at that moment conflicts with its own
/// (either way while the interrupted code is claiming or releasing the same
/// variable), and leave the table as it found it; the nest must never
/// panic, and must leave the table empty.
#[cfg(all(test, debug_assertions))]
mod model {
    extern crate std;
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::vec::Vec;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Kind {
        Shared,
        Exclusive,
        Atomic,
    }

    /// A variable (its key) and how it is borrowed.
    type Op = (usize, Kind);

    std::thread_local! {
        static TABLE: Cell<*mut usize> = const { Cell::new(core::ptr::null_mut()) };
        /// Interrupts to come: the accesses to let pass before each fires
        /// (counted from the previous one), and what its handler borrows.
        static PENDING: RefCell<Vec<(usize, Op)>> = const { RefCell::new(Vec::new()) };
        /// Borrows held right now, by the nest and by running handlers.
        static HELD: RefCell<Vec<Op>> = const { RefCell::new(Vec::new()) };
        /// Keys being claimed or released right now.
        static MOVING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
        /// Handlers that ran, and failures seen.
        static RAN: Cell<usize> = const { Cell::new(0) };
        static FAILURES: RefCell<Vec<std::string::String>> = const { RefCell::new(Vec::new()) };
    }

    /// Called before every access of the table.
    pub(super) fn interrupt_point() {
        let fire = PENDING.with(|p| {
            let mut p = p.borrow_mut();
            match p.first_mut() {
                Some((0, _)) => Some(p.remove(0).1),
                Some((n, _)) => {
                    *n -= 1;
                    None
                }
                None => None,
            }
        });
        if let Some(op) = fire {
            handler(op);
        }
    }

    fn conflicts(held: Kind, op: Kind) -> bool {
        held == Kind::Exclusive || (held == Kind::Shared && op == Kind::Exclusive)
    }

    fn enter(op: Op) -> DebugBorrow {
        let table = TABLE.with(Cell::get);
        MOVING.with(|m| m.borrow_mut().push(op.0));
        // SAFETY: the test's table, used by this thread only.
        let borrow = unsafe {
            match op.1 {
                Kind::Atomic => DebugBorrow::check_atomic_in(table, op.0, "X"),
                kind => DebugBorrow::enter_in(table, op.0, "X", kind == Kind::Exclusive),
            }
        };
        MOVING.with(|m| m.borrow_mut().pop());
        if op.1 != Kind::Atomic {
            HELD.with(|h| h.borrow_mut().push(op));
        }
        borrow
    }

    fn leave(op: Op, borrow: DebugBorrow) {
        if op.1 != Kind::Atomic {
            HELD.with(|h| h.borrow_mut().pop());
        }
        MOVING.with(|m| m.borrow_mut().push(op.0));
        drop(borrow);
        MOVING.with(|m| m.borrow_mut().pop());
    }

    fn table_now() -> [usize; 2 * SLOTS] {
        let table = TABLE.with(Cell::get);
        // SAFETY: the test's table.
        core::array::from_fn(|i| unsafe { table.add(i).read() })
    }

    fn handler(op: Op) {
        RAN.with(|r| r.set(r.get() + 1));
        let before = table_now();
        let must = HELD.with(|h| {
            h.borrow()
                .iter()
                .any(|&(k, kind)| k == op.0 && conflicts(kind, op.1))
        });
        let either = MOVING.with(|m| m.borrow().contains(&op.0));
        let (held, moving) = (
            HELD.with(|h| h.borrow().len()),
            MOVING.with(|m| m.borrow().len()),
        );
        let panicked = std::panic::catch_unwind(|| leave(op, enter(op))).is_err();
        // A panic skipped `enter`'s and `leave`'s bookkeeping: restore it.
        HELD.with(|h| h.borrow_mut().truncate(held));
        MOVING.with(|m| m.borrow_mut().truncate(moving));
        let fail = |what: std::string::String| FAILURES.with(|f| f.borrow_mut().push(what));
        if panicked != must && !either {
            fail(std::format!(
                "handler {op:?}: panicked {panicked}, held {:?}",
                HELD.with(|h| h.borrow().clone())
            ));
        }
        if table_now() != before {
            fail(std::format!(
                "handler {op:?} left {:?}, found {before:?}",
                table_now()
            ));
        }
    }

    /// The nest: `Shared 1 { Shared 1 { Exclusive 2 { Atomic 3 } } }`,
    /// then `Exclusive 1 { Shared 2 }`.
    fn nest() {
        let outer = [
            (1, Kind::Shared),
            (1, Kind::Shared),
            (2, Kind::Exclusive),
            (3, Kind::Atomic),
        ];
        let borrows: Vec<DebugBorrow> = outer.iter().map(|&op| enter(op)).collect();
        for (op, borrow) in outer.iter().zip(borrows).rev() {
            leave(*op, borrow);
        }
        let a = enter((1, Kind::Exclusive));
        let b = enter((2, Kind::Shared));
        leave((2, Kind::Shared), b);
        leave((1, Kind::Exclusive), a);
    }

    #[test]
    fn every_interrupt_point_keeps_the_table_right() {
        let mut table = [0usize; 2 * SLOTS];
        TABLE.with(|t| t.set(table.as_mut_ptr()));
        // Accesses of one undisturbed run.
        let counted = Cell::new(0usize);
        PENDING.with(|p| p.borrow_mut().push((usize::MAX, (0, Kind::Atomic))));
        nest();
        PENDING.with(|p| {
            let left = p.borrow_mut().pop().unwrap().0;
            counted.set(usize::MAX - left);
        });
        let accesses = counted.get();
        assert!(accesses > 20, "{accesses} accesses");
        let handlers: Vec<Op> = [1, 2, 3, 9]
            .into_iter()
            .flat_map(|k| [Kind::Shared, Kind::Exclusive, Kind::Atomic].map(|kind| (k, kind)))
            .collect();
        // Second interrupts: none, or at a few distances after the first
        // (inside its handler, or later in the nest). Fewer under Miri.
        let seconds: &[usize] = if cfg!(miri) {
            &[]
        } else {
            &[0, 1, 2, 3, 5, 8, 13]
        };
        let hook = std::panic::take_hook();
        std::panic::set_hook(std::boxed::Box::new(|_| {}));
        // Miri checks the accesses themselves, some thousand times slower:
        // every fifth interrupt point there.
        let every = if cfg!(miri) { 5 } else { 1 };
        for at in (0..accesses).step_by(every) {
            for &first in &handlers {
                let plans = core::iter::once(std::vec![(at, first)]).chain(
                    seconds.iter().flat_map(|&gap| {
                        handlers
                            .iter()
                            .map(move |&h| std::vec![(at, first), (gap, h)])
                    }),
                );
                for pending in plans {
                    PENDING.with(|p| *p.borrow_mut() = pending);
                    if std::panic::catch_unwind(nest).is_err() {
                        let what = std::format!("the nest panicked (interrupt at {at})");
                        FAILURES.with(|f| f.borrow_mut().push(what));
                        HELD.with(|h| h.borrow_mut().clear());
                        MOVING.with(|m| m.borrow_mut().clear());
                    }
                    PENDING.with(|p| p.borrow_mut().clear());
                    if table_now() != [0; 2 * SLOTS] {
                        let left =
                            std::format!("the nest left {:?} (interrupt at {at})", table_now());
                        FAILURES.with(|f| f.borrow_mut().push(left));
                        table = [0; 2 * SLOTS];
                        TABLE.with(|t| t.set(table.as_mut_ptr()));
                    }
                }
            }
        }
        std::panic::set_hook(hook);
        let failures = FAILURES.with(|f| f.take());
        assert!(
            failures.is_empty(),
            "{} failures, first: {}",
            failures.len(),
            failures[0]
        );
        assert!(RAN.with(Cell::get) >= accesses / every * handlers.len());
    }
}
