//! The pointer access path: an ordinary load or store at the current CPU's
//! address, which the compiler folds into the addressing mode (AArch64's
//! and ARM's register-offset loads need nothing more), and for the
//! read-modify-write set one step that an interrupt handler on this CPU
//! cannot split. The default of the
//! targets without a better form, and the fallback of fused targets for
//! widths their registers lack (64-bit values on 32-bit RISC-V).
//!
//! Every function requires that `addr` is the current CPU's copy of a
//! variable of type `T`, initialised, with no reference to it alive.
//!
//! An address becomes a pointer with the provenance the areas exposed:
//! it comes from the per-CPU register, an integer.

use crate::{PerCpuInteger, PerCpuPrimitive};

/// Reads the copy at `addr`.
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn load<T: PerCpuPrimitive>(addr: usize) -> T {
    // SAFETY: the caller's contract.
    unsafe { core::ptr::with_exposed_provenance::<T>(addr).read() }
}

/// Writes the copy at `addr`.
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn store<T: PerCpuPrimitive>(addr: usize, val: T) {
    // SAFETY: the caller's contract.
    unsafe { core::ptr::with_exposed_provenance_mut::<T>(addr).write(val) }
}

/// `copy = copy OP val`, in one step that an interrupt handler on this CPU
/// cannot split: the architecture's instruction (`Arch::rmw`).
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn rmw<T: PerCpuInteger, const OP: u8>(addr: usize, val: T) {
    // SAFETY: the caller's contract.
    unsafe { <super::Instructions as super::Arch>::rmw::<T, OP>(addr, val) }
}

/// Replaces the copy, returning the old value (`Arch::xchg`).
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn xchg<T: PerCpuInteger>(addr: usize, val: T) -> T {
    // SAFETY: the caller's contract.
    unsafe { <super::Instructions as super::Arch>::xchg(addr, val) }
}

/// Stores `new` if the copy equals `old`; returns the value it had
/// (`Arch::cmpxchg`).
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn cmpxchg<T: PerCpuInteger>(addr: usize, old: T, new: T) -> T {
    // SAFETY: the caller's contract.
    unsafe { <super::Instructions as super::Arch>::cmpxchg(addr, old, new) }
}

/// One local atomic operation of the width of `$t` on the copy at `$addr`:
/// `$f` gets the atomic and the converted operand(s) and returns the old
/// value in the atomic's integer type. Widths with no atomic instruction on
/// the target (64 bits on riscv32) run the plain sequence with local
/// interrupts off instead.
macro_rules! local_atomic {
    ($t:ty, $addr:expr, |$a:ident, $int:ident| $body:expr, $plain:expr) => {{
        use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU8};
        #[cfg(target_has_atomic = "64")]
        use core::sync::atomic::AtomicU64;
        match core::mem::size_of::<$t>() {
            1 => local_atomic!(@one AtomicU8, u8, $t, $addr, |$a, $int| $body),
            2 => local_atomic!(@one AtomicU16, u16, $t, $addr, |$a, $int| $body),
            4 => local_atomic!(@one AtomicU32, u32, $t, $addr, |$a, $int| $body),
            #[cfg(target_has_atomic = "64")]
            _ => local_atomic!(@one AtomicU64, u64, $t, $addr, |$a, $int| $body),
            #[cfg(not(target_has_atomic = "64"))]
            _ => {
                let _irq = crate::guard::IrqSave::new();
                $plain
            }
        }
    }};
    (@one $atomic:ident, $i:ty, $t:ty, $addr:expr, |$a:ident, $int:ident| $body:expr) => {{
        // SAFETY: the caller's contract: `addr` is this CPU's copy of a
        // `$t`, an integer of this width and alignment, that is only ever
        // accessed whole; the atomic is the only access while it lives.
        let $a = unsafe { $atomic::from_ptr(core::ptr::with_exposed_provenance_mut::<$i>($addr)) };
        type $int = $i;
        let old: $i = $body;
        // SAFETY: `$t` is an integer of the same size: any bits are valid.
        unsafe { core::mem::transmute_copy::<$i, $t>(&old) }
    }};
}

/// `$v` (a `T`) as the same-width unsigned integer `$int`.
macro_rules! bits {
    ($v:expr, $int:ty) => {
        // SAFETY: `T` is an integer of the same size as `$int`.
        unsafe { core::mem::transmute_copy::<_, $int>(&$v) }
    };
}

/// `copy = copy OP val`, in one step that an interrupt handler on this CPU
/// cannot split: a relaxed atomic read-modify-write of the copy (AArch64
/// `ldxr`/`stxr` or LSE, RISC-V AMOs, LoongArch `am*`, ARMv7 `ldrex`/
/// `strex`; LL/SC on the containing word for the widths with no AMO). No
/// barrier: only this CPU, and its interrupt handlers, update its copy.
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn atomic_rmw<T: PerCpuInteger, const OP: u8>(addr: usize, val: T) {
    use crate::primitive::ops;
    use core::sync::atomic::Ordering::Relaxed;
    let _: T = local_atomic!(
        T,
        addr,
        |a, Int| {
            let v = bits!(val, Int);
            match OP {
                ops::ADD => a.fetch_add(v, Relaxed),
                ops::SUB => a.fetch_sub(v, Relaxed),
                ops::AND => a.fetch_and(v, Relaxed),
                ops::OR => a.fetch_or(v, Relaxed),
                _ => a.fetch_xor(v, Relaxed),
            }
        },
        // SAFETY: the caller's contract; interrupts are off.
        unsafe {
            let ptr = core::ptr::with_exposed_provenance_mut::<T>(addr);
            let old = ptr.read();
            ptr.write(old.__apply::<OP>(val));
            old
        }
    );
}

/// Replaces the copy, returning the old value (one atomic swap).
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn atomic_xchg<T: PerCpuInteger>(addr: usize, val: T) -> T {
    use core::sync::atomic::Ordering::Relaxed;
    local_atomic!(
        T,
        addr,
        |a, Int| a.swap(bits!(val, Int), Relaxed),
        // SAFETY: the caller's contract; interrupts are off.
        unsafe { core::ptr::replace(core::ptr::with_exposed_provenance_mut::<T>(addr), val) }
    )
}

/// Stores `new` if the copy equals `old`; returns the value it had (one
/// atomic compare-and-exchange: LL/SC or the target's CAS).
///
/// # Safety
/// See the module.
#[inline(always)]
pub unsafe fn atomic_cmpxchg<T: PerCpuInteger>(addr: usize, old: T, new: T) -> T {
    use core::sync::atomic::Ordering::Relaxed;
    local_atomic!(
        T,
        addr,
        |a, Int| match a.compare_exchange(bits!(old, Int), bits!(new, Int), Relaxed, Relaxed) {
            Ok(v) | Err(v) => v,
        },
        // SAFETY: the caller's contract; interrupts are off.
        unsafe { plain_cmpxchg(core::ptr::with_exposed_provenance_mut::<T>(addr), old, new) }
    )
}

/// The compare-and-exchange as a load, a compare and a store.
///
/// # Safety
/// `ptr` is valid for reads and writes of a `T` that nothing else accesses
/// meanwhile.
// Only the widths without an atomic (64 bits on 32-bit targets) use it.
#[allow(dead_code)]
#[inline(always)]
unsafe fn plain_cmpxchg<T: PerCpuInteger>(ptr: *mut T, old: T, new: T) -> T {
    // SAFETY: the caller's contract.
    unsafe {
        let current = ptr.read();
        if current == old {
            ptr.write(new);
        }
        current
    }
}
