//! Fused accesses for the load-store architectures whose loads can take the
//! offset's low bits or a register index next to the per-CPU register
//! (RISC-V, LoongArch64): one `asm!` block forms the address and does the
//! access, so nothing is left for the compiler to add.
//!
//! The architecture file provides `__percpu_current_addr!` (the static's
//! address on this CPU), `__percpu_addr_asm!` (its address
//! sequence, then the access template: `{s}` is the symbol, the template
//! names the value `{x}` and the operand `{v}`) and `__percpu_insn!` (the
//! instruction of each width and operation). The width (`{w}`) and the
//! operation (`{op}`) are constants, and `.if` keeps only their
//! instructions.

/// The instruction of `$kind` (`load` or `store`) at the width `{w}`.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_width_chain {
    ($kind:ident) => {
        concat!(
            ".if {w} == 1\n", $crate::__percpu_insn!($kind 1),
            "\n.elseif {w} == 2\n", $crate::__percpu_insn!($kind 2),
            "\n.elseif {w} == 4\n", $crate::__percpu_insn!($kind 4),
            "\n.else\n", $crate::__percpu_insn!($kind 8),
            "\n.endif\n"
        )
    };
}

/// A static's accesses at VMA 0, named by its symbol.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_load_store_accesses {
    ($sym:path) => {
        #[inline(always)]
        unsafe fn current_addr(&self) -> usize {
            $crate::__percpu_current_addr!($sym)
        }

        #[inline(always)]
        unsafe fn load<T: $crate::PerCpuPrimitive>(&self) -> T {
            let w = ::core::mem::size_of::<T>();
            if w > ::core::mem::size_of::<usize>() {
                // 64-bit values on 32-bit targets: two loads.
                return unsafe { $crate::__priv::ptr::load(self.current_addr()) };
            }
            let x: usize;
            // SAFETY (all of these): the caller's contract; one access of
            // the variable's width at `gp`/`$r21` plus its offset.
            unsafe {
                $crate::__percpu_addr_asm!($sym; $crate::__percpu_width_chain!(load);
                    w = const ::core::mem::size_of::<T>(), x = out(reg) x,
                    options(nostack, preserves_flags, readonly));
                // With the range the load leaves known (`lbu`/`lhu`
                // zero-extend, 32-bit loads sign-extend, as both 64-bit ABIs
                // keep 32-bit values), the compiler adds no extension.
                match w {
                    1 => ::core::hint::assert_unchecked(x <= 0xff),
                    2 => ::core::hint::assert_unchecked(x <= 0xffff),
                    4 => ::core::hint::assert_unchecked(x as i32 as isize as usize == x),
                    _ => {}
                }
                T::__from_reg(x)
            }
        }

        #[inline(always)]
        unsafe fn store<T: $crate::PerCpuPrimitive>(&self, val: T) {
            if ::core::mem::size_of::<T>() > ::core::mem::size_of::<usize>() {
                return unsafe { $crate::__priv::ptr::store(self.current_addr(), val) };
            }
            unsafe {
                $crate::__percpu_addr_asm!($sym; $crate::__percpu_width_chain!(store);
                    w = const ::core::mem::size_of::<T>(), x = in(reg) val.__to_reg(),
                    options(nostack, preserves_flags));
            }
        }

        // The read-modify-write set keeps the defaults: one atomic
        // instruction (or LL/SC loop) at `current_addr()`, which an
        // interrupt cannot split (arch/generic.rs).
    };
}
