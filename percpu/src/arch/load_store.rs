//! Fused accesses for the load-store architectures whose loads can take the
//! offset's low bits or a register index next to the per-CPU register
//! (RISC-V, LoongArch64): one `asm!` block forms the address and does the
//! access, so nothing is left for the compiler to add.
//!
//! The architecture file provides `__percpu_addr_asm!` (its address
//! sequence, with the access templates after it: `{s}` is the symbol and the
//! templates name the value `{x}` and the operand `{v}`) and `__percpu_insn!`
//! (the instruction of each width and operation). These macros dispatch on
//! the width, which is a constant, so only one arm survives.

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_read {
    ($sym:path, $T:ty) => {
        match ::core::mem::size_of::<$T>() {
            1 => {
                // The whole register, which a zero-extending load defines:
                // with the range known, the compiler adds no extension.
                let x: usize;
                $crate::__percpu_addr_asm!($sym; $crate::__percpu_insn!(load 1);
                    x = out(reg) x, options(nostack, preserves_flags, readonly));
                #[allow(unused_unsafe)]
                unsafe { ::core::hint::assert_unchecked(x <= 0xff) };
                $crate::__priv::bits::<u8, $T>(x as u8)
            }
            2 => {
                let x: usize;
                $crate::__percpu_addr_asm!($sym; $crate::__percpu_insn!(load 2);
                    x = out(reg) x, options(nostack, preserves_flags, readonly));
                #[allow(unused_unsafe)]
                unsafe { ::core::hint::assert_unchecked(x <= 0xffff) };
                $crate::__priv::bits::<u16, $T>(x as u16)
            }
            4 => {
                // The 32-bit load sign-extends, which is how both 64-bit ABIs
                // pass every 32-bit value: with the range known, none follows.
                let x: isize;
                $crate::__percpu_addr_asm!($sym; $crate::__percpu_insn!(load 4);
                    x = out(reg) x, options(nostack, preserves_flags, readonly));
                #[allow(unused_unsafe)]
                unsafe { ::core::hint::assert_unchecked(x as i32 as isize == x) };
                $crate::__priv::bits::<u32, $T>(x as u32)
            }
            #[cfg(target_pointer_width = "64")]
            8 => {
                let x: u64;
                $crate::__percpu_addr_asm!($sym; $crate::__percpu_insn!(load 8);
                    x = out(reg) x, options(nostack, preserves_flags, readonly));
                $crate::__priv::bits::<u64, $T>(x)
            }
            // 64-bit values on 32-bit targets: two loads, through a pointer.
            _ => $crate::__percpu_ptr_read!($sym, $T),
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_write {
    ($sym:path, $T:ty, $val:expr) => {{
        let val: $T = $val;
        match ::core::mem::size_of::<$T>() {
            1 => $crate::__percpu_addr_asm!($sym; $crate::__percpu_insn!(store 1);
                x = in(reg) $crate::__priv::bits::<$T, u8>(val), options(nostack, preserves_flags)),
            2 => $crate::__percpu_addr_asm!($sym; $crate::__percpu_insn!(store 2);
                x = in(reg) $crate::__priv::bits::<$T, u16>(val), options(nostack, preserves_flags)),
            4 => $crate::__percpu_addr_asm!($sym; $crate::__percpu_insn!(store 4);
                x = in(reg) $crate::__priv::bits::<$T, u32>(val), options(nostack, preserves_flags)),
            #[cfg(target_pointer_width = "64")]
            8 => $crate::__percpu_addr_asm!($sym; $crate::__percpu_insn!(store 8);
                x = in(reg) $crate::__priv::bits::<$T, u64>(val), options(nostack, preserves_flags)),
            _ => $crate::__percpu_ptr_write!($sym, $T, val),
        }
    }};
}

/// Load, operate, store through the same address: five instructions. The
/// operation works on the whole register and the store keeps the low bits,
/// which is the wrapping result at every width.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rmw {
    ($op:ident, $sym:path, $T:ty, $val:expr) => {{
        let val: $T = $val;
        match ::core::mem::size_of::<$T>() {
            1 => $crate::__percpu_addr_asm!($sym;
                $crate::__percpu_insn!(load 1), $crate::__percpu_insn!($op), $crate::__percpu_insn!(store 1);
                v = in(reg) $crate::__priv::bits::<$T, u8>(val), x = out(reg) _, options(nostack, preserves_flags)),
            2 => $crate::__percpu_addr_asm!($sym;
                $crate::__percpu_insn!(load 2), $crate::__percpu_insn!($op), $crate::__percpu_insn!(store 2);
                v = in(reg) $crate::__priv::bits::<$T, u16>(val), x = out(reg) _, options(nostack, preserves_flags)),
            4 => $crate::__percpu_addr_asm!($sym;
                $crate::__percpu_insn!(load 4), $crate::__percpu_insn!($op), $crate::__percpu_insn!(store 4);
                v = in(reg) $crate::__priv::bits::<$T, u32>(val), x = out(reg) _, options(nostack, preserves_flags)),
            #[cfg(target_pointer_width = "64")]
            8 => $crate::__percpu_addr_asm!($sym;
                $crate::__percpu_insn!(load 8), $crate::__percpu_insn!($op), $crate::__percpu_insn!(store 8);
                v = in(reg) $crate::__priv::bits::<$T, u64>(val), x = out(reg) _, options(nostack, preserves_flags)),
            _ => $crate::__percpu_ptr_rmw!($op, $sym, $T, val),
        }
    }};
}

/// A swap is a load and a store under the caller's guard; these
/// architectures have no single instruction that would make it cheaper.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_xchg {
    ($($args:tt)*) => { $crate::__percpu_ptr_xchg!($($args)*) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_cmpxchg {
    ($($args:tt)*) => { $crate::__percpu_ptr_cmpxchg!($($args)*) };
}
