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
//!
//! Under Miri, which runs no inline assembly, x86_64 (`sp-naive`) takes
//! the portable atomic path too; other builds are unchanged.

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

/// One local atomic operation of the width of `$t` on the copy at `$addr`:
/// `$f` gets the atomic and the converted operand(s) and returns the old
/// value in the atomic's integer type. Widths with no atomic instruction on
/// the target (64 bits on riscv32) run the plain sequence with local
/// interrupts off instead.
#[cfg(any(not(target_arch = "x86_64"), miri))]
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
#[cfg(any(not(target_arch = "x86_64"), miri))]
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
#[cfg(any(not(target_arch = "x86_64"), miri))]
#[inline(always)]
pub unsafe fn rmw<T: PerCpuInteger, const OP: u8>(addr: usize, val: T) {
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
#[cfg(any(not(target_arch = "x86_64"), miri))]
#[inline(always)]
pub unsafe fn xchg<T: PerCpuInteger>(addr: usize, val: T) -> T {
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
#[cfg(any(not(target_arch = "x86_64"), miri))]
#[inline(always)]
pub unsafe fn cmpxchg<T: PerCpuInteger>(addr: usize, old: T, new: T) -> T {
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

/// `{op} <size> ptr [{p}], {v}` for the operation code `{op}`, picked at
/// assembly time: one x86 instruction on memory, with no `lock` (only this
/// CPU touches its copy), which an interrupt cannot split.
#[cfg(all(target_arch = "x86_64", not(miri)))]
macro_rules! x86_rmw {
    ($size:literal, $v:literal) => {
        concat!(
            ".if {op} == 0\nadd ",
            $size,
            " ptr [{p}], ",
            $v,
            "\n.elseif {op} == 1\nsub ",
            $size,
            " ptr [{p}], ",
            $v,
            "\n.elseif {op} == 2\nand ",
            $size,
            " ptr [{p}], ",
            $v,
            "\n.elseif {op} == 3\nor ",
            $size,
            " ptr [{p}], ",
            $v,
            "\n.else\nxor ",
            $size,
            " ptr [{p}], ",
            $v,
            "\n.endif"
        )
    };
}

/// `copy = copy OP val` in one instruction on memory: x86_64 with
/// `sp-naive` only (everywhere else on x86_64 it is one `gs:` instruction).
///
/// # Safety
/// See the module.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
pub unsafe fn rmw<T: PerCpuInteger, const OP: u8>(addr: usize, val: T) {
    use core::arch::asm;
    let v = val.__to_reg();
    // SAFETY: the caller's contract: one access of `T`'s width at `addr`.
    unsafe {
        match core::mem::size_of::<T>() {
            1 => {
                asm!(x86_rmw!("byte", "{v:l}"), p = in(reg) addr, v = in(reg) v, op = const OP, options(nostack))
            }
            2 => {
                asm!(x86_rmw!("word", "{v:x}"), p = in(reg) addr, v = in(reg) v, op = const OP, options(nostack))
            }
            4 => {
                asm!(x86_rmw!("dword", "{v:e}"), p = in(reg) addr, v = in(reg) v, op = const OP, options(nostack))
            }
            _ => {
                asm!(x86_rmw!("qword", "{v}"), p = in(reg) addr, v = in(reg) v, op = const OP, options(nostack))
            }
        }
    }
}

/// Replaces the copy, returning the old value: one `xchg` (implicitly
/// locked on x86, which costs time but nothing in correctness).
///
/// # Safety
/// See the module.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
pub unsafe fn xchg<T: PerCpuInteger>(addr: usize, val: T) -> T {
    use core::arch::asm;
    let mut v = val.__to_reg();
    // SAFETY: the caller's contract; the old value is a valid `T`.
    unsafe {
        match core::mem::size_of::<T>() {
            1 => {
                asm!("xchg byte ptr [{p}], {v:l}", p = in(reg) addr, v = inout(reg) v, options(nostack, preserves_flags))
            }
            2 => {
                asm!("xchg word ptr [{p}], {v:x}", p = in(reg) addr, v = inout(reg) v, options(nostack, preserves_flags))
            }
            4 => {
                asm!("xchg dword ptr [{p}], {v:e}", p = in(reg) addr, v = inout(reg) v, options(nostack, preserves_flags))
            }
            _ => {
                asm!("xchg qword ptr [{p}], {v}", p = in(reg) addr, v = inout(reg) v, options(nostack, preserves_flags))
            }
        }
        T::__from_reg(v)
    }
}

/// Stores `new` if the copy equals `old`; returns the value it had: one
/// `cmpxchg` without `lock`.
///
/// # Safety
/// See the module.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
pub unsafe fn cmpxchg<T: PerCpuInteger>(addr: usize, old: T, new: T) -> T {
    use core::arch::asm;
    let mut cur = old.__to_reg();
    let n = new.__to_reg();
    // SAFETY: the caller's contract; `rax` comes back with the old value.
    unsafe {
        match core::mem::size_of::<T>() {
            1 => {
                asm!("cmpxchg byte ptr [{p}], {n:l}", p = in(reg) addr, n = in(reg) n, inout("rax") cur, options(nostack))
            }
            2 => {
                asm!("cmpxchg word ptr [{p}], {n:x}", p = in(reg) addr, n = in(reg) n, inout("rax") cur, options(nostack))
            }
            4 => {
                asm!("cmpxchg dword ptr [{p}], {n:e}", p = in(reg) addr, n = in(reg) n, inout("rax") cur, options(nostack))
            }
            _ => {
                asm!("cmpxchg qword ptr [{p}], {n}", p = in(reg) addr, n = in(reg) n, inout("rax") cur, options(nostack))
            }
        }
        T::__from_reg(cur)
    }
}

/// The compare-and-exchange as a load, a compare and a store.
///
/// # Safety
/// `ptr` is valid for reads and writes of a `T` that nothing else accesses
/// meanwhile.
#[cfg(any(not(target_arch = "x86_64"), miri))]
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
