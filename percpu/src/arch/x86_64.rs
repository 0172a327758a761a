//! x86_64: the per-CPU register is `GS_BASE`; every access is `gs:`-relative.
//!
//! Loads, stores and read-modify-writes are one instruction with the
//! variable's offset as the displacement (`add qword ptr gs:[__PERCPU_X], 1`):
//! an interrupt or a preemption can fall before or after it, never inside,
//! so they need no guard and no `lock` (only this CPU touches its area).
//! Reading `GS_BASE` itself takes `rdmsr` or `rdgsbase` (not always
//! enabled), so each area also holds its own address in `SELF_PTR`.

#[cfg(not(miri))]
use crate::PerCpuInteger;
use core::arch::asm;

/// This CPU's area base, for `read_percpu_reg` and `current_ptr`.
#[percpu_macros::def_percpu]
pub static SELF_PTR: usize = 0;

/// `{op} <size> ptr [{p}], {v}` for the operation code `{op}`, picked at
/// assembly time: one x86 instruction on memory, with no `lock` (only this
/// CPU touches its copy), which an interrupt cannot split.
#[cfg(not(miri))]
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

/// The architecture (`super::Arch`).
pub(crate) struct Target;

impl super::Arch for Target {
    #[inline]
    fn read_percpu_reg() -> usize {
        // SAFETY: a `gs:` load; `GS_BASE` was set by `write_percpu_reg`.
        unsafe { SELF_PTR.read_current_raw() }
    }

    #[inline]
    unsafe fn write_percpu_reg(base: usize) {
        // SAFETY: the caller provides an initialised area.
        unsafe {
            set_gs_base(base);
            SELF_PTR.write_current_raw(base);
        }
    }

    type IrqSave = kernel_guard::IrqSave;

    // Miri runs no inline assembly: under it the three below are the
    // trait's portable atomic defaults.

    /// `copy = copy OP val` in one instruction on memory: the pointer path,
    /// which x86_64 takes with `sp-naive` only (everywhere else it is one
    /// `gs:` instruction).
    ///
    /// # Safety
    /// See `generic`.
    #[cfg(not(miri))]
    #[inline(always)]
    unsafe fn rmw<T: PerCpuInteger, const OP: u8>(addr: usize, val: T) {
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
    /// See `generic`.
    #[cfg(not(miri))]
    #[inline(always)]
    unsafe fn xchg<T: PerCpuInteger>(addr: usize, val: T) -> T {
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
    /// See `generic`.
    #[cfg(not(miri))]
    #[inline(always)]
    unsafe fn cmpxchg<T: PerCpuInteger>(addr: usize, old: T, new: T) -> T {
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
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_symbol_imm {
    ($sym:path) => {
        $crate::__percpu_asm_usize!($sym; "mov {0:e}, offset {1}"; pure, nomem, nostack, preserves_flags)
    };
}

/// One `gs:`-relative asm block whose `{off}` is the variable's place: the
/// symbol itself (`(sym X)`: `.percpu` at VMA 0, the displacement is the
/// offset), or a register holding the offset (`(reg)`: a run-time offset,
/// or `.percpu` at a non-zero VMA). `$s` is the location (`self`).
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_gs_asm {
    ((sym $sym:path), $s:tt; $tmpl:expr; $($operands:tt)*) => {
        ::core::arch::asm!($tmpl, off = sym $sym, $($operands)*)
    };
    ((reg), $s:tt; $tmpl:expr; $($operands:tt)*) => {
        ::core::arch::asm!($tmpl, off = in(reg) $crate::__priv::Location::offset($s), $($operands)*)
    };
}

/// `{op} {size} ptr gs:[{off}], {v}` for every operation of `ops` (the
/// `{op}` constant picks one at assembly time) at the widths 1, 2 and 4
/// (`{w}`), whose value comes in a 32-bit register.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_x86_rmw32 {
    ($($op:literal $mn:literal),*) => {
        concat!($(
            ".if {op} == ", $op, "\n",
            ".if {w} == 1\n", $mn, " byte ptr gs:[{off}], {v:l}\n",
            ".elseif {w} == 2\n", $mn, " word ptr gs:[{off}], {v:x}\n",
            ".else\n", $mn, " dword ptr gs:[{off}], {v:e}\n",
            ".endif\n",
            ".endif\n",
        )*)
    };
}

/// The same, 8 bytes wide.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_x86_rmw64 {
    ($($op:literal $mn:literal),*) => {
        concat!($(".if {op} == ", $op, "\n", $mn, " qword ptr gs:[{off}], {v}\n.endif\n",)*)
    };
}

/// The current-CPU accesses, every one a single `gs:`-relative instruction
/// (the swap a `cmpxchg` loop) with the variable's place in it: an
/// interrupt or a preemption falls before or after, never inside, so they
/// need no guard and no `lock` (only this CPU touches its area). The width
/// is a constant (`{w}`), and `.if` keeps only its instruction.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_x86_accesses {
    ($place:tt) => {
        #[inline(always)]
        unsafe fn load<T: $crate::PerCpuPrimitive>(&self) -> T {
            let x: usize;
            // SAFETY (all of these): the caller's contract; one `gs:` access
            // of the variable's width.
            unsafe {
                $crate::__percpu_gs_asm!($place, self; concat!(
                    ".if {w} == 1\nmovzx {x:e}, byte ptr gs:[{off}]\n",
                    ".elseif {w} == 2\nmovzx {x:e}, word ptr gs:[{off}]\n",
                    ".elseif {w} == 4\nmov {x:e}, dword ptr gs:[{off}]\n",
                    ".else\nmov {x}, qword ptr gs:[{off}]\n.endif");
                    w = const ::core::mem::size_of::<T>(), x = out(reg) x,
                    options(nostack, preserves_flags, readonly));
                T::__from_reg(x)
            }
        }

        #[inline(always)]
        unsafe fn store<T: $crate::PerCpuPrimitive>(&self, val: T) {
            unsafe {
                if ::core::mem::size_of::<T>() == 8 {
                    $crate::__percpu_gs_asm!($place, self; "mov qword ptr gs:[{off}], {v}";
                        v = in(reg) val.__to_reg(), options(nostack, preserves_flags));
                } else {
                    $crate::__percpu_gs_asm!($place, self; concat!(
                        ".if {w} == 1\nmov byte ptr gs:[{off}], {v:l}\n",
                        ".elseif {w} == 2\nmov word ptr gs:[{off}], {v:x}\n",
                        ".else\nmov dword ptr gs:[{off}], {v:e}\n.endif");
                        w = const ::core::mem::size_of::<T>(), v = in(reg) val.__to_reg32(),
                        options(nostack, preserves_flags));
                }
            }
        }

        #[inline(always)]
        unsafe fn rmw<T: $crate::PerCpuInteger, const OP: u8>(&self, val: T) {
            unsafe {
                if ::core::mem::size_of::<T>() == 8 {
                    $crate::__percpu_gs_asm!($place, self;
                        $crate::__percpu_x86_rmw64!("0" "add", "1" "sub", "2" "and", "3" "or", "4" "xor");
                        op = const OP, v = in(reg) val.__to_reg(), options(nostack));
                } else {
                    $crate::__percpu_gs_asm!($place, self;
                        $crate::__percpu_x86_rmw32!("0" "add", "1" "sub", "2" "and", "3" "or", "4" "xor");
                        op = const OP, w = const ::core::mem::size_of::<T>(),
                        v = in(reg) val.__to_reg32(), options(nostack));
                }
            }
        }

        /// A `cmpxchg` loop rather than `xchg`, whose memory form always
        /// locks the bus. A failed `cmpxchg` reloads the accumulator, so an
        /// interrupt that changes the value in between costs one more round.
        #[inline(always)]
        unsafe fn xchg<T: $crate::PerCpuInteger>(&self, val: T) -> T {
            unsafe {
                if ::core::mem::size_of::<T>() == 8 {
                    let prev: usize;
                    $crate::__percpu_gs_asm!($place, self;
                        "mov rax, qword ptr gs:[{off}]\n2:\ncmpxchg qword ptr gs:[{off}], {v}\njne 2b";
                        v = in(reg) val.__to_reg(), out("rax") prev, options(nostack));
                    T::__from_reg(prev)
                } else {
                    let prev: u32;
                    $crate::__percpu_gs_asm!($place, self; concat!(
                        ".if {w} == 1\nmov al, byte ptr gs:[{off}]\n2:\ncmpxchg byte ptr gs:[{off}], {v:l}\n",
                        ".elseif {w} == 2\nmov ax, word ptr gs:[{off}]\n2:\ncmpxchg word ptr gs:[{off}], {v:x}\n",
                        ".else\nmov eax, dword ptr gs:[{off}]\n2:\ncmpxchg dword ptr gs:[{off}], {v:e}\n",
                        ".endif\njne 2b");
                        w = const ::core::mem::size_of::<T>(), v = in(reg) val.__to_reg32(),
                        out("eax") prev, options(nostack));
                    T::__from_reg(prev as usize)
                }
            }
        }

        /// `cmpxchg` without `lock`: atomic against this CPU's interrupts,
        /// which is all a per-CPU variable needs.
        #[inline(always)]
        unsafe fn cmpxchg<T: $crate::PerCpuInteger>(&self, old: T, new: T) -> T {
            unsafe {
                if ::core::mem::size_of::<T>() == 8 {
                    let prev: usize;
                    $crate::__percpu_gs_asm!($place, self; "cmpxchg qword ptr gs:[{off}], {v}";
                        v = in(reg) new.__to_reg(), inout("rax") old.__to_reg() => prev,
                        options(nostack));
                    T::__from_reg(prev)
                } else {
                    let prev: u32;
                    $crate::__percpu_gs_asm!($place, self; concat!(
                        ".if {w} == 1\ncmpxchg byte ptr gs:[{off}], {v:l}\n",
                        ".elseif {w} == 2\ncmpxchg word ptr gs:[{off}], {v:x}\n",
                        ".else\ncmpxchg dword ptr gs:[{off}], {v:e}\n.endif");
                        w = const ::core::mem::size_of::<T>(), v = in(reg) new.__to_reg32(),
                        inout("eax") old.__to_reg32() => prev, options(nostack));
                    T::__from_reg(prev as usize)
                }
            }
        }
    };
}

/// The defaults of `Location`: a run-time offset in a register. (Unused
/// with `sp-naive`, which compiles this file for the pointer path only.)
#[allow(unused_macros)]
macro_rules! offset_accesses {
    () => {
        /// Address of the current CPU's copy: `SELF_PTR` plus the offset,
        /// formed as one register so that the access after it is a plain
        /// `[reg]` (a base + index form slows dependent read-modify-write
        /// chains on some cores).
        #[inline(always)]
        unsafe fn current_addr(&self) -> usize {
            // SAFETY: a `gs:` load of `SELF_PTR` and an add.
            unsafe { $crate::arch::cpu::self_ptr_plus(self.offset()) }
        }

        $crate::__percpu_x86_accesses!((reg));
    };
}
#[allow(unused_imports)]
pub(crate) use offset_accesses;

/// This CPU's `SELF_PTR` plus `offset`, in one register.
///
/// # Safety
/// `GS_BASE` points at an initialised area.
#[doc(hidden)]
#[allow(dead_code)] // unused with `sp-naive`
#[inline(always)]
pub unsafe fn self_ptr_plus(offset: usize) -> usize {
    let mut addr = offset;
    // SAFETY: the caller's contract. Not `pure`: it depends on the CPU.
    unsafe {
        #[cfg(not(percpu_non_zero_vma))]
        asm!("add {a}, qword ptr gs:[{s}]", a = inout(reg) addr, s = sym __PERCPU_SELF_PTR,
            options(readonly, nostack));
        #[cfg(percpu_non_zero_vma)]
        asm!("add {a}, qword ptr gs:[{s}]", a = inout(reg) addr, s = in(reg) SELF_PTR.offset(),
            options(readonly, nostack));
    }
    addr
}

/// A static's location at VMA 0: every access names the symbol, and the
/// address is `SELF_PTR` then the offset in one `lea`.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_segment_static_accesses {
    ($sym:path) => {
        #[inline(always)]
        unsafe fn current_addr(&self) -> usize {
            let ptr: usize;
            // SAFETY: a `gs:` load and a `lea`. Not `pure`: the result
            // depends on which CPU runs it.
            unsafe {
                ::core::arch::asm!(
                    "mov {0}, qword ptr gs:[{1}]",
                    "lea {0}, [{0} + {2}]",
                    out(reg) ptr,
                    sym $crate::__priv::__PERCPU_SELF_PTR,
                    sym $sym,
                    options(readonly, nostack, preserves_flags),
                )
            };
            ptr
        }

        $crate::__percpu_x86_accesses!((sym $sym));
    };
}
