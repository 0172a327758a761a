//! The pointer access path: an ordinary load or store at the current CPU's
//! address, which the compiler folds into the addressing mode (AArch64's
//! and ARM's register-offset loads need nothing more). The default of the
//! targets without a better form, and the fallback of fused targets for
//! widths their registers lack (64-bit values on 32-bit RISC-V).
//!
//! Every function requires that `addr` is the current CPU's copy of a
//! variable of type `T`, initialised, with no reference to it alive.

use crate::{PerCpuInteger, PerCpuPrimitive};

/// Reads the copy at `addr`.
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn load<T: PerCpuPrimitive>(addr: usize) -> T {
    // SAFETY: the caller's contract.
    unsafe { (addr as *const T).read() }
}

/// Writes the copy at `addr`.
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn store<T: PerCpuPrimitive>(addr: usize, val: T) {
    // SAFETY: the caller's contract.
    unsafe { (addr as *mut T).write(val) }
}

/// `copy = copy OP val`.
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn rmw<T: PerCpuInteger, const OP: u8>(addr: usize, val: T) {
    let ptr = addr as *mut T;
    // SAFETY: the caller's contract.
    unsafe { ptr.write(ptr.read().__apply::<OP>(val)) }
}

/// Replaces the copy, returning the old value.
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn xchg<T: PerCpuInteger>(addr: usize, val: T) -> T {
    // SAFETY: the caller's contract.
    unsafe { core::ptr::replace(addr as *mut T, val) }
}

/// Stores `new` if the copy equals `old`; returns the value it had.
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn cmpxchg<T: PerCpuInteger>(addr: usize, old: T, new: T) -> T {
    let ptr = addr as *mut T;
    // SAFETY: the caller's contract.
    unsafe {
        let current = ptr.read();
        if current == old {
            ptr.write(new);
        }
        current
    }
}
