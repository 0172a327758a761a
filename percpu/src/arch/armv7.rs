//! ARMv7-A: the per-CPU register is `TPIDRPRW` (CP15 c13, opcode 4), which
//! only PL1 and above can read, so user mode cannot see the kernel's per-CPU
//! base. An access is `mrc` for the base, `movw`/`movt` for a 32-bit offset,
//! and a register-offset load or store that the compiler forms.

use core::arch::asm;

/// The architecture (`super::Arch`).
pub(crate) struct Target;

impl super::Arch for Target {
    #[inline]
    fn read_percpu_reg() -> usize {
        let base: usize;
        // SAFETY: reads a CP15 register. Not `pure`: it differs per CPU.
        unsafe {
            asm!("mrc p15, 0, {}, c13, c0, 4", out(reg) base, options(nomem, nostack, preserves_flags))
        };
        base
    }

    #[inline]
    unsafe fn write_percpu_reg(base: usize) {
        // SAFETY: the caller provides an initialised area.
        unsafe {
            asm!("mcr p15, 0, {}, c13, c0, 4", in(reg) base, options(nostack, preserves_flags))
        };
    }

    type IrqSave = kernel_guard::IrqSave;
}

/// `movw` + `movt`: the whole 32-bit address space.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_symbol_imm {
    ($sym:path) => {
        $crate::__percpu_asm_usize!($sym; "movw {0}, #:lower16:{1}", "movt {0}, #:upper16:{1}"; pure, nomem, nostack, preserves_flags)
    };
}
