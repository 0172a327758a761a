//! Where a per-CPU variable lives in every area, and the accesses that
//! depend on how that place is known.
//!
//! [`PerCpu`](crate::PerCpu) writes every method once over a `Location`.
//! The default accesses take the offset at run time (`offset()`), which is
//! all a run-time allocation has; `#[def_percpu]` implements the trait for
//! each static through the architecture's `__percpu_static_location!`,
//! which overrides the accesses whose instruction can name the symbol
//! itself (x86_64's `gs:[sym]`, RISC-V's and LoongArch's `%hi`/`%lo`).

/// A place in every per-CPU area.
///
/// # Safety
/// `offset` must return the same offset every time, and there must be a
/// value of the type the location is used with at that offset in every
/// initialised area. The overridden accesses must access exactly that
/// value on the current CPU.
#[doc(hidden)]
pub unsafe trait Location {
    /// What debug messages call the variable.
    const NAME: &'static str;

    /// Offset of the variable from the start of an area.
    fn offset(&self) -> usize;

    // The current-CPU accesses, each in the architecture's shortest form
    // for a run-time offset. Every one of them requires that the per-CPU
    // register is initialised on this CPU.
    crate::arch::offset_accesses!();
}

/// A location that a link-time symbol names: a `#[def_percpu]` static.
///
/// # Safety
/// As for [`Location`]; `INIT` is the static's initial value.
#[doc(hidden)]
pub unsafe trait StaticLocation<T>: Location {
    /// The initialiser, for `reset_to_init`.
    const INIT: T;

    /// The symbol's link-time address (VMA).
    fn symbol_vma(&self) -> usize;
}

/// The accesses through a pointer (`arch/generic.rs`), for the
/// architectures that have no better form for a run-time offset.
#[allow(unused_macros)]
macro_rules! pointer_accesses {
    () => {
        /// Address of the current CPU's copy.
        ///
        /// # Safety
        /// The per-CPU register is initialised on this CPU.
        #[inline(always)]
        unsafe fn current_addr(&self) -> usize {
            $crate::arch::register_plus(self.offset())
        }

        /// Reads the current CPU's copy.
        ///
        /// # Safety
        /// As for `current_addr`; the location holds a `T` that no
        /// reference aliases.
        #[inline(always)]
        unsafe fn load<T: $crate::PerCpuPrimitive>(&self) -> T {
            // SAFETY: the caller's contract (all of these).
            unsafe { $crate::__priv::ptr::load(self.current_addr()) }
        }

        /// Writes the current CPU's copy.
        ///
        /// # Safety
        /// As for `load`.
        #[inline(always)]
        unsafe fn store<T: $crate::PerCpuPrimitive>(&self, val: T) {
            unsafe { $crate::__priv::ptr::store(self.current_addr(), val) }
        }

        /// `copy = copy OP val` on the current CPU's copy.
        ///
        /// # Safety
        /// As for `load`.
        #[inline(always)]
        unsafe fn rmw<T: $crate::PerCpuInteger, const OP: u8>(&self, val: T) {
            unsafe { $crate::__priv::ptr::rmw::<T, OP>(self.current_addr(), val) }
        }

        /// Replaces the current CPU's copy, returning the old value.
        ///
        /// # Safety
        /// As for `load`.
        #[inline(always)]
        unsafe fn xchg<T: $crate::PerCpuInteger>(&self, val: T) -> T {
            unsafe { $crate::__priv::ptr::xchg(self.current_addr(), val) }
        }

        /// Stores `new` if the copy equals `old`; returns the value it had.
        ///
        /// # Safety
        /// As for `load`.
        #[inline(always)]
        unsafe fn cmpxchg<T: $crate::PerCpuInteger>(&self, old: T, new: T) -> T {
            unsafe { $crate::__priv::ptr::cmpxchg(self.current_addr(), old, new) }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use pointer_accesses;
