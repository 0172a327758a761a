//! x86_64: the per-CPU register is `GS_BASE`; every access is `gs:`-relative.
//!
//! Loads, stores and read-modify-writes are one instruction with the
//! variable's offset as the displacement (`add qword ptr gs:[__PERCPU_X], 1`):
//! an interrupt or a preemption can fall before or after it, never inside,
//! so they need no guard and no `lock` (only this CPU touches its area).
//! Reading `GS_BASE` itself takes `rdmsr` or `rdgsbase` (not always
//! enabled), so each area also holds its own address in `SELF_PTR`.

use core::arch::asm;

/// This CPU's area base, for `read_percpu_reg` and `current_ptr`.
#[percpu_macros::def_percpu]
pub static SELF_PTR: usize = 0;

#[inline]
pub fn read_percpu_reg() -> usize {
    // SAFETY: a `gs:` load; `GS_BASE` was set by `write_percpu_reg`.
    unsafe { SELF_PTR.read_current_raw() }
}

/// # Safety
/// See `percpu::write_percpu_reg`.
#[inline]
pub unsafe fn write_percpu_reg(base: usize) {
    // SAFETY: the caller provides an initialised area.
    unsafe {
        set_gs_base(base);
        SELF_PTR.write_current_raw(base);
    }
}

/// Bare metal: the `IA32_GS_BASE` MSR.
#[cfg(not(target_os = "linux"))]
unsafe fn set_gs_base(base: usize) {
    const IA32_GS_BASE: u32 = 0xC000_0101;
    // SAFETY: writing GS_BASE at CPL 0 only changes where `gs:` points.
    unsafe {
        asm!(
            "wrmsr",
            in("ecx") IA32_GS_BASE,
            in("eax") base as u32,
            in("edx") (base >> 32) as u32,
            options(nostack, preserves_flags),
        );
    }
}

/// Linux user space (the host tests): `arch_prctl(ARCH_SET_GS, base)`,
/// which sets the calling thread's `GS_BASE`.
#[cfg(target_os = "linux")]
unsafe fn set_gs_base(base: usize) {
    const SYS_ARCH_PRCTL: usize = 158;
    const ARCH_SET_GS: usize = 0x1001;
    let ret: isize;
    // SAFETY: the syscall only changes this thread's GS base.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL as isize => ret,
            in("rdi") ARCH_SET_GS,
            in("rsi") base,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    assert_eq!(ret, 0, "arch_prctl(ARCH_SET_GS) failed");
}

/// The link-time value of a symbol: its VMA, which is its offset in an area
/// because `.percpu` is linked at 0. `mov r32, imm32` zero-extends (4 GiB).
#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_symbol_vma {
    ($sym:path) => {
        $crate::__percpu_asm_usize!($sym; "mov {0:e}, offset {1}"; pure, nomem, nostack, preserves_flags)
    };
}

/// `SELF_PTR` then the offset in one `lea`: two instructions.
#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_current_ptr {
    ($sym:path) => {{
        let ptr: usize;
        #[allow(unused_unsafe)]
        unsafe {
            ::core::arch::asm!(
                "mov {0}, qword ptr gs:[{1}]",
                "lea {0}, [{0} + {2}]",
                out(reg) ptr,
                sym $crate::__priv::__PERCPU_SELF_PTR,
                sym $sym,
                // Not `pure`: the result depends on which CPU runs it.
                options(readonly, nostack, preserves_flags),
            )
        };
        ptr
    }};
}

/// An asm block whose `{off}` is the variable's `gs:` displacement: the
/// symbol itself at VMA 0, else a register holding the computed offset.
#[cfg(not(percpu_non_zero_vma))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_gs_asm {
    ($sym:path; $($tmpl:expr),+; $($operands:tt)*) => {
        ::core::arch::asm!($($tmpl),+, off = sym $sym, $($operands)*)
    };
}

#[cfg(percpu_non_zero_vma)]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_gs_asm {
    ($sym:path; $($tmpl:expr),+; $($operands:tt)*) => {
        ::core::arch::asm!($($tmpl),+, off = in(reg) $crate::__percpu_offset!($sym), $($operands)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_read {
    ($sym:path, $T:ty) => {
        match ::core::mem::size_of::<$T>() {
            1 => {
                let v: u8;
                $crate::__percpu_gs_asm!($sym; "mov {v}, byte ptr gs:[{off}]";
                    v = out(reg_byte) v, options(nostack, preserves_flags, readonly));
                $crate::__priv::bits::<u8, $T>(v)
            }
            2 => {
                let v: u16;
                $crate::__percpu_gs_asm!($sym; "mov {v:x}, word ptr gs:[{off}]";
                    v = out(reg) v, options(nostack, preserves_flags, readonly));
                $crate::__priv::bits::<u16, $T>(v)
            }
            4 => {
                let v: u32;
                $crate::__percpu_gs_asm!($sym; "mov {v:e}, dword ptr gs:[{off}]";
                    v = out(reg) v, options(nostack, preserves_flags, readonly));
                $crate::__priv::bits::<u32, $T>(v)
            }
            8 => {
                let v: u64;
                $crate::__percpu_gs_asm!($sym; "mov {v:r}, qword ptr gs:[{off}]";
                    v = out(reg) v, options(nostack, preserves_flags, readonly));
                $crate::__priv::bits::<u64, $T>(v)
            }
            _ => $crate::__priv::unsupported_width(),
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_write {
    ($sym:path, $T:ty, $val:expr) => {{
        let val: $T = $val;
        match ::core::mem::size_of::<$T>() {
            1 => $crate::__percpu_gs_asm!($sym; "mov byte ptr gs:[{off}], {v}";
                v = in(reg_byte) $crate::__priv::bits::<$T, u8>(val), options(nostack, preserves_flags)),
            2 => $crate::__percpu_gs_asm!($sym; "mov word ptr gs:[{off}], {v:x}";
                v = in(reg) $crate::__priv::bits::<$T, u16>(val), options(nostack, preserves_flags)),
            4 => $crate::__percpu_gs_asm!($sym; "mov dword ptr gs:[{off}], {v:e}";
                v = in(reg) $crate::__priv::bits::<$T, u32>(val), options(nostack, preserves_flags)),
            8 => $crate::__percpu_gs_asm!($sym; "mov qword ptr gs:[{off}], {v:r}";
                v = in(reg) $crate::__priv::bits::<$T, u64>(val), options(nostack, preserves_flags)),
            _ => $crate::__priv::unsupported_width(),
        }
    }};
}

/// `add`, `sub`, `and`, `or`, `xor`: the operation's name is the mnemonic.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rmw {
    ($op:ident, $sym:path, $T:ty, $val:expr) => {{
        let val: $T = $val;
        match ::core::mem::size_of::<$T>() {
            1 => $crate::__percpu_gs_asm!($sym; concat!(stringify!($op), " byte ptr gs:[{off}], {v}");
                v = in(reg_byte) $crate::__priv::bits::<$T, u8>(val), options(nostack)),
            2 => $crate::__percpu_gs_asm!($sym; concat!(stringify!($op), " word ptr gs:[{off}], {v:x}");
                v = in(reg) $crate::__priv::bits::<$T, u16>(val), options(nostack)),
            4 => $crate::__percpu_gs_asm!($sym; concat!(stringify!($op), " dword ptr gs:[{off}], {v:e}");
                v = in(reg) $crate::__priv::bits::<$T, u32>(val), options(nostack)),
            8 => $crate::__percpu_gs_asm!($sym; concat!(stringify!($op), " qword ptr gs:[{off}], {v:r}");
                v = in(reg) $crate::__priv::bits::<$T, u64>(val), options(nostack)),
            _ => $crate::__priv::unsupported_width(),
        }
    }};
}

/// `cmpxchg` without `lock`: atomic against this CPU's interrupts, which is
/// all a per-CPU variable needs.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_cmpxchg {
    ($sym:path, $T:ty, $old:expr, $new:expr) => {{
        let (old, new): ($T, $T) = ($old, $new);
        match ::core::mem::size_of::<$T>() {
            1 => {
                let prev: u8;
                $crate::__percpu_gs_asm!($sym; "cmpxchg byte ptr gs:[{off}], {v}";
                    v = in(reg_byte) $crate::__priv::bits::<$T, u8>(new),
                    inout("al") $crate::__priv::bits::<$T, u8>(old) => prev, options(nostack));
                $crate::__priv::bits::<u8, $T>(prev)
            }
            2 => {
                let prev: u16;
                $crate::__percpu_gs_asm!($sym; "cmpxchg word ptr gs:[{off}], {v:x}";
                    v = in(reg) $crate::__priv::bits::<$T, u16>(new),
                    inout("ax") $crate::__priv::bits::<$T, u16>(old) => prev, options(nostack));
                $crate::__priv::bits::<u16, $T>(prev)
            }
            4 => {
                let prev: u32;
                $crate::__percpu_gs_asm!($sym; "cmpxchg dword ptr gs:[{off}], {v:e}";
                    v = in(reg) $crate::__priv::bits::<$T, u32>(new),
                    inout("eax") $crate::__priv::bits::<$T, u32>(old) => prev, options(nostack));
                $crate::__priv::bits::<u32, $T>(prev)
            }
            8 => {
                let prev: u64;
                $crate::__percpu_gs_asm!($sym; "cmpxchg qword ptr gs:[{off}], {v:r}";
                    v = in(reg) $crate::__priv::bits::<$T, u64>(new),
                    inout("rax") $crate::__priv::bits::<$T, u64>(old) => prev, options(nostack));
                $crate::__priv::bits::<u64, $T>(prev)
            }
            _ => $crate::__priv::unsupported_width(),
        }
    }};
}

/// A `cmpxchg` loop rather than `xchg`, whose memory form always locks the
/// bus. A failed `cmpxchg` reloads the accumulator, so an interrupt that
/// changes the value between the load and the swap costs one more round.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_xchg {
    ($sym:path, $T:ty, $val:expr) => {{
        let new: $T = $val;
        match ::core::mem::size_of::<$T>() {
            1 => {
                let prev: u8;
                $crate::__percpu_gs_asm!($sym;
                    "mov al, byte ptr gs:[{off}]", "2:", "cmpxchg byte ptr gs:[{off}], {v}", "jne 2b";
                    v = in(reg_byte) $crate::__priv::bits::<$T, u8>(new), out("al") prev, options(nostack));
                $crate::__priv::bits::<u8, $T>(prev)
            }
            2 => {
                let prev: u16;
                $crate::__percpu_gs_asm!($sym;
                    "mov ax, word ptr gs:[{off}]", "2:", "cmpxchg word ptr gs:[{off}], {v:x}", "jne 2b";
                    v = in(reg) $crate::__priv::bits::<$T, u16>(new), out("ax") prev, options(nostack));
                $crate::__priv::bits::<u16, $T>(prev)
            }
            4 => {
                let prev: u32;
                $crate::__percpu_gs_asm!($sym;
                    "mov eax, dword ptr gs:[{off}]", "2:", "cmpxchg dword ptr gs:[{off}], {v:e}", "jne 2b";
                    v = in(reg) $crate::__priv::bits::<$T, u32>(new), out("eax") prev, options(nostack));
                $crate::__priv::bits::<u32, $T>(prev)
            }
            8 => {
                let prev: u64;
                $crate::__percpu_gs_asm!($sym;
                    "mov rax, qword ptr gs:[{off}]", "2:", "cmpxchg qword ptr gs:[{off}], {v:r}", "jne 2b";
                    v = in(reg) $crate::__priv::bits::<$T, u64>(new), out("rax") prev, options(nostack));
                $crate::__priv::bits::<u64, $T>(prev)
            }
            _ => $crate::__priv::unsupported_width(),
        }
    }};
}
