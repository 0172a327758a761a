//! The access methods of a per-CPU variable, written once.
//!
//! `#[def_percpu] static X: T = init;` declares the storage and a location
//! type that names it, and makes `X` a `PerCpu<T, that location>`
//! (`X_WRAPPER` is an alias of it). Everything below is ordinary generic
//! code over the location, so it is compiled once however many statics a
//! kernel has; only the accesses whose instruction names the symbol come
//! from the location.

use core::marker::PhantomData;

use crate::__priv::{NoPreempt, NoPreemptIrqSave, OpGuard};
use crate::debug_borrow::DebugBorrow;
use crate::location::{Location, StaticLocation};
use crate::primitive::ops;
use crate::{CurrentRef, PerCpuInteger, PerCpuPrimitive};

/// A per-CPU variable of type `T`: one copy in every CPU's area, at the
/// place `L` names.
///
/// A `#[def_percpu]` static `X` is one of these, with the type alias
/// `X_WRAPPER`. The handle itself is a zero-sized token: it can be shared
/// between CPUs freely, and each access reaches the copy of the CPU that
/// runs it.
pub struct PerCpu<T, L> {
    location: L,
    // Any `T`: the handle never holds one, so it is `Send` and `Sync`
    // whatever `T` is, as each CPU only reaches its own copy through it.
    _value: PhantomData<fn() -> T>,
}

impl<T, L> PerCpu<T, L> {
    /// The handle of the variable at `location`.
    ///
    /// # Safety
    /// `location` must hold a `T` in every area (`#[def_percpu]` guarantees
    /// it for the location it generates).
    #[doc(hidden)]
    #[inline(always)]
    pub const unsafe fn __new(location: L) -> Self {
        Self {
            location,
            _value: PhantomData,
        }
    }
}

impl<T, L> PerCpu<T, L> {
    /// The location, for the runtime's other handles.
    #[inline(always)]
    pub(crate) fn __location(&self) -> &L {
        &self.location
    }
}

impl<T, L: StaticLocation<T>> PerCpu<T, L> {
    /// Link-time address (VMA) of this variable's template in `.percpu`
    /// (its offset, unless `.percpu` is linked at a non-zero VMA).
    #[inline(always)]
    pub fn symbol_vma(&self) -> usize {
        self.location.symbol_vma()
    }

    /// Sets the current CPU's copy back to the initial value, with
    /// preemption disabled.
    #[inline]
    pub fn reset_to_init(&self) {
        // A fresh value from the initialiser: an interior-mutable one (an
        // atomic, a lock) is meant to be copied out here.
        #[allow(clippy::declare_interior_mutable_const)]
        self.with_current(|value| *value = L::INIT);
    }
}

impl<T, L: Location> PerCpu<T, L> {
    /// Offset of this variable from the start of a per-CPU area.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        self.location.offset()
    }

    /// Pointer to the current CPU's copy.
    ///
    /// # Safety
    /// The per-CPU register must be initialised on this CPU. The pointer is
    /// only the current CPU's while the caller cannot migrate (preemption
    /// disabled).
    #[inline(always)]
    pub unsafe fn current_ptr(&self) -> *const T {
        // SAFETY: the caller's contract. The address comes from the per-CPU
        // register: the pointer takes the provenance the areas' memory
        // exposed (the `as usize` casts that gave the register its value).
        core::ptr::with_exposed_provenance(unsafe { self.location.current_addr() })
    }

    /// Reference to the current CPU's copy, with no guard.
    ///
    /// # Safety
    /// As for [`Self::current_ptr`]; also no `&mut` to the same copy may
    /// exist while the reference lives.
    #[inline(always)]
    pub unsafe fn current_ref_raw(&self) -> &T {
        // SAFETY: the caller's contract.
        unsafe { &*self.current_ptr() }
    }

    /// Mutable reference to the current CPU's copy, with no guard.
    ///
    /// # Safety
    /// As for [`Self::current_ptr`]; also no other reference to the same
    /// copy may exist while this one lives.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn current_ref_mut_raw(&self) -> &mut T {
        // SAFETY: the caller's contract.
        unsafe { &mut *(self.current_ptr() as *mut T) }
    }

    /// Shared reference to the current CPU's copy; preemption stays
    /// disabled while the returned guard lives.
    ///
    /// Debug builds panic if the copy is borrowed mutably on this CPU.
    #[inline]
    #[track_caller]
    pub fn current_ref(&self) -> CurrentRef<'_, T> {
        let guard = NoPreempt::new();
        let borrow = DebugBorrow::shared(&self.location);
        // SAFETY: preemption is disabled for the guard's lifetime, so the
        // copy stays the current CPU's; no `&mut` is out (checked in debug
        // builds).
        unsafe { CurrentRef::new(self.current_ref_raw(), guard, borrow) }
    }

    /// Runs `f` on the current CPU's copy with preemption disabled.
    ///
    /// Debug builds panic if `f` (or an interrupt handler it is running
    /// under) reaches the same variable on the same CPU again. Data that
    /// interrupt handlers also touch needs [`Self::with_current_irqsave`].
    #[inline]
    #[track_caller]
    pub fn with_current<F, R>(&self, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        let _guard = NoPreempt::new();
        let _borrow = DebugBorrow::exclusive(&self.location);
        // SAFETY: preemption is disabled, so this is the current CPU's copy
        // until `f` returns; nesting is caught in debug builds.
        f(unsafe { self.current_ref_mut_raw() })
    }

    /// Runs `f` on the current CPU's copy with preemption and local
    /// interrupts disabled, for data that interrupt handlers also touch.
    #[inline]
    #[track_caller]
    pub fn with_current_irqsave<F, R>(&self, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        let _guard = NoPreemptIrqSave::new();
        let _borrow = DebugBorrow::exclusive(&self.location);
        // SAFETY: as in `with_current`, with interrupts off as well.
        f(unsafe { self.current_ref_mut_raw() })
    }

    /// Pointer to the copy of CPU `cpu_id`.
    ///
    /// # Safety
    /// The areas must be initialised and `cpu_id` below their number
    /// (debug builds check this and panic).
    #[inline]
    pub unsafe fn remote_ptr(&self, cpu_id: usize) -> *const T {
        core::ptr::with_exposed_provenance(crate::__priv::remote_area_base(cpu_id) + self.offset())
    }

    /// Reference to the copy of CPU `cpu_id`.
    ///
    /// # Safety
    /// As for [`Self::remote_ptr`]; also no `&mut` to that copy may exist
    /// while the reference lives (that CPU must not be writing it).
    #[inline]
    pub unsafe fn remote_ref_raw(&self, cpu_id: usize) -> &T {
        // SAFETY: the caller's contract.
        unsafe { &*self.remote_ptr(cpu_id) }
    }

    /// Reference to the copy of CPU `cpu_id`; the same as
    /// [`Self::remote_ref_raw`].
    ///
    /// # Safety
    /// As for [`Self::remote_ref_raw`].
    #[inline]
    pub unsafe fn remote_ref(&self, cpu_id: usize) -> &T {
        // SAFETY: the caller's contract, which is `remote_ref_raw`'s.
        unsafe { self.remote_ref_raw(cpu_id) }
    }

    /// Mutable reference to the copy of CPU `cpu_id`.
    ///
    /// # Safety
    /// As for [`Self::remote_ptr`]; also no other reference to that copy
    /// may exist while this one lives.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn remote_ref_mut_raw(&self, cpu_id: usize) -> &mut T {
        // SAFETY: the caller's contract.
        unsafe { &mut *(self.remote_ptr(cpu_id) as *mut T) }
    }

    /// Every initialised area's copy, with its CPU id, in CPU order.
    ///
    /// # Safety
    /// The areas must be initialised, and while the iterator or any
    /// reference it gave lives, no CPU may hold a `&mut` to its copy or
    /// write it (`with_current`, `write_current`, the read-modify-write
    /// set, `current_ref_mut_raw`, ...): a `&T` to another CPU's copy must
    /// never coexist with that CPU's `&mut`. Stop the writers first, or use
    /// a [`PerCpuCounter`](crate::PerCpuCounter), whose `sum` needs no such
    /// promise.
    #[inline]
    pub unsafe fn iter_raw(&self) -> impl ExactSizeIterator<Item = (usize, &T)> + '_ {
        // SAFETY: the caller's contract, for every CPU id below the number
        // of initialised areas.
        (0..crate::percpu_area_num()).map(move |cpu| (cpu, unsafe { self.remote_ref_raw(cpu) }))
    }

    /// The wrapping sum of every initialised area's copy.
    ///
    /// # Safety
    /// As for [`Self::iter_raw`].
    #[inline]
    pub unsafe fn sum_raw(&self) -> T
    where
        T: PerCpuInteger + Default,
    {
        // SAFETY: the caller's contract.
        unsafe { self.iter_raw() }.fold(T::default(), |sum, (_, &v)| sum.__apply::<{ ops::ADD }>(v))
    }
}

impl<T, L: Location> PerCpu<T, L> {
    /// Reads the current CPU's copy, with no guard.
    ///
    /// # Safety
    /// The per-CPU register must be initialised on this CPU. Without
    /// preemption disabled the value may be another CPU's (on x86_64 the
    /// read is one instruction and always the current CPU's).
    #[inline(always)]
    pub unsafe fn read_current_raw(&self) -> T
    where
        T: PerCpuPrimitive,
    {
        // SAFETY: the caller's contract; the location holds a `T`.
        unsafe { self.location.load() }
    }

    /// Writes the current CPU's copy, with no guard.
    ///
    /// # Safety
    /// The per-CPU register must be initialised on this CPU, and outside
    /// x86_64 preemption must be disabled, or the write may land in the
    /// area of the CPU the caller just left.
    #[inline(always)]
    pub unsafe fn write_current_raw(&self, val: T)
    where
        T: PerCpuPrimitive,
    {
        // SAFETY: the caller's contract; the location holds a `T`.
        unsafe { self.location.store(val) }
    }

    /// Reads the current CPU's copy.
    #[inline(always)]
    pub fn read_current(&self) -> T
    where
        T: PerCpuPrimitive,
    {
        let _guard = OpGuard::new();
        let _borrow = DebugBorrow::shared(&self.location);
        // SAFETY: the guard keeps the CPU (x86_64's one instruction needs
        // none); no `&mut` is out (checked in debug builds).
        unsafe { self.read_current_raw() }
    }

    /// Writes the current CPU's copy.
    #[inline(always)]
    pub fn write_current(&self, val: T)
    where
        T: PerCpuPrimitive,
    {
        let _guard = OpGuard::new();
        let _borrow = DebugBorrow::exclusive(&self.location);
        // SAFETY: as for `read_current`.
        unsafe { self.write_current_raw(val) }
    }
}

impl<T, L: Location> PerCpu<T, L> {
    /// `copy = copy OP val` on the current CPU's copy, under the guard.
    #[inline(always)]
    fn rmw<const OP: u8>(&self, val: T)
    where
        T: PerCpuInteger,
    {
        let _guard = OpGuard::new();
        let _borrow = DebugBorrow::atomic(&self.location);
        // SAFETY: as for `read_current`.
        unsafe { self.location.rmw::<T, OP>(val) }
    }

    /// Adds `val` to the current CPU's copy (wrapping).
    #[inline(always)]
    pub fn add_current(&self, val: T)
    where
        T: PerCpuInteger,
    {
        self.rmw::<{ ops::ADD }>(val)
    }

    /// Subtracts `val` from the current CPU's copy (wrapping).
    #[inline(always)]
    pub fn sub_current(&self, val: T)
    where
        T: PerCpuInteger,
    {
        self.rmw::<{ ops::SUB }>(val)
    }

    /// Bitwise-ands the current CPU's copy with `val`.
    #[inline(always)]
    pub fn and_current(&self, val: T)
    where
        T: PerCpuInteger,
    {
        self.rmw::<{ ops::AND }>(val)
    }

    /// Bitwise-ors `val` into the current CPU's copy.
    #[inline(always)]
    pub fn or_current(&self, val: T)
    where
        T: PerCpuInteger,
    {
        self.rmw::<{ ops::OR }>(val)
    }

    /// Bitwise-xors `val` into the current CPU's copy.
    #[inline(always)]
    pub fn xor_current(&self, val: T)
    where
        T: PerCpuInteger,
    {
        self.rmw::<{ ops::XOR }>(val)
    }

    /// Replaces the current CPU's copy with `val` and returns the old value.
    #[inline(always)]
    pub fn xchg_current(&self, val: T) -> T
    where
        T: PerCpuInteger,
    {
        let _guard = OpGuard::new();
        let _borrow = DebugBorrow::atomic(&self.location);
        // SAFETY: as for `read_current`.
        unsafe { self.location.xchg(val) }
    }

    /// Stores `new` into the current CPU's copy if it equals `old`, and
    /// returns the value it had (equal to `old` on success).
    #[inline(always)]
    pub fn cmpxchg_current(&self, old: T, new: T) -> T
    where
        T: PerCpuInteger,
    {
        let _guard = OpGuard::new();
        let _borrow = DebugBorrow::atomic(&self.location);
        // SAFETY: as for `read_current`.
        unsafe { self.location.cmpxchg(old, new) }
    }
}
