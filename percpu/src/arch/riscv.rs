//! RISC-V (32 and 64): the per-CPU register is `gp`, which the kernel must
//! therefore not use as the linker's global pointer (no `__global_pointer$`,
//! so the linker never relaxes accesses to `gp`-relative).
//!
//! An access is `lui` of the offset's upper 20 bits, `add gp`, and the load
//! or store with the low 12 bits as its immediate: three instructions. On
//! RV32 that reaches the whole 4 GiB; on RV64 `lui` sign-extends, so the
//! reach is 2 GiB and the linker rejects an offset beyond it (the rendered
//! linker script also asserts it).

use core::arch::asm;

#[inline]
pub fn read_percpu_reg() -> usize {
    let base: usize;
    // SAFETY: copies a register. Not `pure`: it differs per CPU.
    unsafe { asm!("mv {}, gp", out(reg) base, options(nomem, nostack, preserves_flags)) };
    base
}

/// # Safety
/// See `percpu::write_percpu_reg`.
#[inline]
pub unsafe fn write_percpu_reg(base: usize) {
    // SAFETY: the caller provides an initialised area.
    unsafe { asm!("mv gp, {}", in(reg) base, options(nomem, nostack, preserves_flags)) };
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
                "lui {0}, %hi({1})",
                "addi {0}, {0}, %lo({1})",
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
                "lui {0}, %hi({1})",
                "add {0}, {0}, gp",
                "addi {0}, {0}, %lo({1})",
                out(reg) ptr,
                sym $sym,
                options(nomem, nostack, preserves_flags),
            )
        };
        ptr
    }};
}

/// A fused access: `{t}` = `gp` + upper bits, then `$insn` with `%lo`.
#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_gp_asm {
    ($sym:path; $($tmpl:expr),+; $($operands:tt)*) => {
        ::core::arch::asm!(
            "lui {t}, %hi({s})",
            "add {t}, {t}, gp",
            $($tmpl),+,
            s = sym $sym,
            t = out(reg) _,
            $($operands)*
        )
    };
}

/// Loads and stores by width; 64-bit values on RV32 take the pointer path.
#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_read {
    ($sym:path, $T:ty) => {
        match ::core::mem::size_of::<$T>() {
            1 => {
                // The whole register, which `lbu` defines: with the range
                // known, the compiler adds no `zext.b` of its own.
                let v: usize;
                $crate::__percpu_gp_asm!($sym; "lbu {v}, %lo({s})({t})";
                    v = out(reg) v, options(nostack, preserves_flags, readonly));
                #[allow(unused_unsafe)]
                unsafe { ::core::hint::assert_unchecked(v <= 0xff) };
                $crate::__priv::bits::<u8, $T>(v as u8)
            }
            2 => {
                let v: usize;
                $crate::__percpu_gp_asm!($sym; "lhu {v}, %lo({s})({t})";
                    v = out(reg) v, options(nostack, preserves_flags, readonly));
                #[allow(unused_unsafe)]
                unsafe { ::core::hint::assert_unchecked(v <= 0xffff) };
                $crate::__priv::bits::<u16, $T>(v as u16)
            }
            4 => {
                // `lw` sign-extends, which is how RV64 passes every 32-bit
                // value: with the range known, no `sext.w` follows.
                let v: isize;
                $crate::__percpu_gp_asm!($sym; "lw {v}, %lo({s})({t})";
                    v = out(reg) v, options(nostack, preserves_flags, readonly));
                #[allow(unused_unsafe)]
                unsafe { ::core::hint::assert_unchecked(v as i32 as isize == v) };
                $crate::__priv::bits::<u32, $T>(v as u32)
            }
            #[cfg(target_arch = "riscv64")]
            8 => {
                let v: u64;
                $crate::__percpu_gp_asm!($sym; "ld {v}, %lo({s})({t})";
                    v = out(reg) v, options(nostack, preserves_flags, readonly));
                $crate::__priv::bits::<u64, $T>(v)
            }
            _ => $crate::__percpu_ptr_read!($sym, $T),
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
            1 => $crate::__percpu_gp_asm!($sym; "sb {v}, %lo({s})({t})";
                v = in(reg) $crate::__priv::bits::<$T, u8>(val), options(nostack, preserves_flags)),
            2 => $crate::__percpu_gp_asm!($sym; "sh {v}, %lo({s})({t})";
                v = in(reg) $crate::__priv::bits::<$T, u16>(val), options(nostack, preserves_flags)),
            4 => $crate::__percpu_gp_asm!($sym; "sw {v}, %lo({s})({t})";
                v = in(reg) $crate::__priv::bits::<$T, u32>(val), options(nostack, preserves_flags)),
            #[cfg(target_arch = "riscv64")]
            8 => $crate::__percpu_gp_asm!($sym; "sd {v}, %lo({s})({t})";
                v = in(reg) $crate::__priv::bits::<$T, u64>(val), options(nostack, preserves_flags)),
            _ => $crate::__percpu_ptr_write!($sym, $T, val),
        }
    }};
}

/// Load, operate, store at the same `%lo({s})({t})`: five instructions.
/// `add`, `sub`, `and`, `or`, `xor` are also the RISC-V mnemonics; the
/// store keeps the low bits, which is the wrapping result at every width.
#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rmw {
    ($op:ident, $sym:path, $T:ty, $val:expr) => {{
        let val: $T = $val;
        match ::core::mem::size_of::<$T>() {
            1 => $crate::__percpu_gp_asm!($sym;
                "lbu {x}, %lo({s})({t})", concat!(stringify!($op), " {x}, {x}, {v}"), "sb {x}, %lo({s})({t})";
                v = in(reg) $crate::__priv::bits::<$T, u8>(val), x = out(reg) _, options(nostack, preserves_flags)),
            2 => $crate::__percpu_gp_asm!($sym;
                "lhu {x}, %lo({s})({t})", concat!(stringify!($op), " {x}, {x}, {v}"), "sh {x}, %lo({s})({t})";
                v = in(reg) $crate::__priv::bits::<$T, u16>(val), x = out(reg) _, options(nostack, preserves_flags)),
            4 => $crate::__percpu_gp_asm!($sym;
                "lw {x}, %lo({s})({t})", concat!(stringify!($op), " {x}, {x}, {v}"), "sw {x}, %lo({s})({t})";
                v = in(reg) $crate::__priv::bits::<$T, u32>(val), x = out(reg) _, options(nostack, preserves_flags)),
            #[cfg(target_arch = "riscv64")]
            8 => $crate::__percpu_gp_asm!($sym;
                "ld {x}, %lo({s})({t})", concat!(stringify!($op), " {x}, {x}, {v}"), "sd {x}, %lo({s})({t})";
                v = in(reg) $crate::__priv::bits::<$T, u64>(val), x = out(reg) _, options(nostack, preserves_flags)),
            _ => $crate::__percpu_ptr_rmw!($op, $sym, $T, val),
        }
    }};
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
