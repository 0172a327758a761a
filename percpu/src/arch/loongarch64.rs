//! LoongArch64: the per-CPU register is `$r21`, which the ABI reserves for
//! exactly this. An access is `lu12i.w` + `ori` for the offset and an
//! indexed load or store (`ldx`/`stx`) off `$r21`: three instructions.
//! `lu12i.w` sign-extends, so offsets reach 2 GiB; the linker rejects more.

use core::arch::asm;

#[inline]
pub fn read_percpu_reg() -> usize {
    let base: usize;
    // SAFETY: copies a register. Not `pure`: it differs per CPU.
    unsafe { asm!("move {}, $r21", out(reg) base, options(nomem, nostack, preserves_flags)) };
    base
}

/// # Safety
/// See `percpu::write_percpu_reg`.
#[inline]
pub unsafe fn write_percpu_reg(base: usize) {
    // SAFETY: the caller provides an initialised area.
    unsafe { asm!("move $r21, {}", in(reg) base, options(nomem, nostack, preserves_flags)) };
}

#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_symbol_vma {
    ($sym:path) => {{
        let vma: usize;
        #[allow(unused_unsafe)]
        unsafe {
            ::core::arch::asm!(
                "lu12i.w {0}, %abs_hi20({1})",
                "ori {0}, {0}, %abs_lo12({1})",
                out(reg) vma,
                sym $sym,
                options(pure, nomem, nostack, preserves_flags),
            )
        };
        vma
    }};
}

#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_current_ptr {
    ($sym:path) => {{
        let ptr: usize;
        #[allow(unused_unsafe)]
        unsafe {
            ::core::arch::asm!(
                "lu12i.w {0}, %abs_hi20({1})",
                "ori {0}, {0}, %abs_lo12({1})",
                "add.d {0}, {0}, $r21",
                out(reg) ptr,
                sym $sym,
                options(nomem, nostack, preserves_flags),
            )
        };
        ptr
    }};
}

/// A fused access: `{o}` = the offset, then `$insn` indexed off `$r21`.
#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_r21_asm {
    ($sym:path; $($tmpl:expr),+; $($operands:tt)*) => {
        ::core::arch::asm!(
            "lu12i.w {o}, %abs_hi20({s})",
            "ori {o}, {o}, %abs_lo12({s})",
            $($tmpl),+,
            s = sym $sym,
            o = out(reg) _,
            $($operands)*
        )
    };
}

#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_read {
    ($sym:path, $T:ty) => {
        match ::core::mem::size_of::<$T>() {
            1 => {
                let v: usize;
                $crate::__percpu_r21_asm!($sym; "ldx.bu {v}, {o}, $r21";
                    v = out(reg) v, options(nostack, preserves_flags, readonly));
                #[allow(unused_unsafe)]
                unsafe { ::core::hint::assert_unchecked(v <= 0xff) };
                $crate::__priv::bits::<u8, $T>(v as u8)
            }
            2 => {
                let v: usize;
                $crate::__percpu_r21_asm!($sym; "ldx.hu {v}, {o}, $r21";
                    v = out(reg) v, options(nostack, preserves_flags, readonly));
                #[allow(unused_unsafe)]
                unsafe { ::core::hint::assert_unchecked(v <= 0xffff) };
                $crate::__priv::bits::<u16, $T>(v as u16)
            }
            4 => {
                let v: isize;
                $crate::__percpu_r21_asm!($sym; "ldx.w {v}, {o}, $r21";
                    v = out(reg) v, options(nostack, preserves_flags, readonly));
                #[allow(unused_unsafe)]
                unsafe { ::core::hint::assert_unchecked(v as i32 as isize == v) };
                $crate::__priv::bits::<u32, $T>(v as u32)
            }
            8 => {
                let v: u64;
                $crate::__percpu_r21_asm!($sym; "ldx.d {v}, {o}, $r21";
                    v = out(reg) v, options(nostack, preserves_flags, readonly));
                $crate::__priv::bits::<u64, $T>(v)
            }
            _ => $crate::__priv::unsupported_width(),
        }
    };
}

#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_write {
    ($sym:path, $T:ty, $val:expr) => {{
        let val: $T = $val;
        match ::core::mem::size_of::<$T>() {
            1 => $crate::__percpu_r21_asm!($sym; "stx.b {v}, {o}, $r21";
                v = in(reg) $crate::__priv::bits::<$T, u8>(val), options(nostack, preserves_flags)),
            2 => $crate::__percpu_r21_asm!($sym; "stx.h {v}, {o}, $r21";
                v = in(reg) $crate::__priv::bits::<$T, u16>(val), options(nostack, preserves_flags)),
            4 => $crate::__percpu_r21_asm!($sym; "stx.w {v}, {o}, $r21";
                v = in(reg) $crate::__priv::bits::<$T, u32>(val), options(nostack, preserves_flags)),
            8 => $crate::__percpu_r21_asm!($sym; "stx.d {v}, {o}, $r21";
                v = in(reg) $crate::__priv::bits::<$T, u64>(val), options(nostack, preserves_flags)),
            _ => $crate::__priv::unsupported_width(),
        }
    }};
}

/// Load, operate, store through the same offset register: five
/// instructions. `add.d`/`sub.d` keep the low bits right at every width.
#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rmw {
    ($op:ident, $sym:path, $T:ty, $val:expr) => {{
        let val: $T = $val;
        match ::core::mem::size_of::<$T>() {
            1 => $crate::__percpu_r21_asm!($sym;
                "ldx.bu {x}, {o}, $r21", $crate::__percpu_la_op!($op), "stx.b {x}, {o}, $r21";
                v = in(reg) $crate::__priv::bits::<$T, u8>(val), x = out(reg) _, options(nostack, preserves_flags)),
            2 => $crate::__percpu_r21_asm!($sym;
                "ldx.hu {x}, {o}, $r21", $crate::__percpu_la_op!($op), "stx.h {x}, {o}, $r21";
                v = in(reg) $crate::__priv::bits::<$T, u16>(val), x = out(reg) _, options(nostack, preserves_flags)),
            4 => $crate::__percpu_r21_asm!($sym;
                "ldx.wu {x}, {o}, $r21", $crate::__percpu_la_op!($op), "stx.w {x}, {o}, $r21";
                v = in(reg) $crate::__priv::bits::<$T, u32>(val), x = out(reg) _, options(nostack, preserves_flags)),
            8 => $crate::__percpu_r21_asm!($sym;
                "ldx.d {x}, {o}, $r21", $crate::__percpu_la_op!($op), "stx.d {x}, {o}, $r21";
                v = in(reg) $crate::__priv::bits::<$T, u64>(val), x = out(reg) _, options(nostack, preserves_flags)),
            _ => $crate::__priv::unsupported_width(),
        }
    }};
}

/// The LoongArch instruction of each read-modify-write operation.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_la_op {
    (add) => {
        "add.d {x}, {x}, {v}"
    };
    (sub) => {
        "sub.d {x}, {x}, {v}"
    };
    (and) => {
        "and {x}, {x}, {v}"
    };
    (or) => {
        "or {x}, {x}, {v}"
    };
    (xor) => {
        "xor {x}, {x}, {v}"
    };
}

#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_xchg {
    ($($args:tt)*) => { $crate::__percpu_ptr_xchg!($($args)*) };
}

#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_cmpxchg {
    ($($args:tt)*) => { $crate::__percpu_ptr_cmpxchg!($($args)*) };
}
