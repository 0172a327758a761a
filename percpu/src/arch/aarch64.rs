//! AArch64: the per-CPU register is `TPIDR_EL1`, or `TPIDR_EL2` for
//! hypervisors (`arm-el2`). An access is `mrs` for the base, `movz`/`movk`
//! for a 32-bit offset, and a register-offset load or store that the
//! compiler forms from the pointer.

use core::arch::asm;

#[cfg(not(feature = "arm-el2"))]
macro_rules! tpidr {
    () => {
        "TPIDR_EL1"
    };
}
#[cfg(feature = "arm-el2")]
macro_rules! tpidr {
    () => {
        "TPIDR_EL2"
    };
}

/// The architecture (`super::Arch`).
pub(crate) struct Target;

impl super::Arch for Target {
    #[inline]
    fn read_percpu_reg() -> usize {
        let base: usize;
        // SAFETY: reads a system register. Not `pure`: after a migration the
        // same instruction gives another value, so it must not be merged.
        unsafe {
            asm!(concat!("mrs {}, ", tpidr!()), out(reg) base, options(nomem, nostack, preserves_flags))
        };
        base
    }

    #[inline]
    unsafe fn write_percpu_reg(base: usize) {
        // SAFETY: the caller provides an initialised area.
        unsafe {
            asm!(concat!("msr ", tpidr!(), ", {}"), in(reg) base, options(nostack, preserves_flags))
        };
    }

    type IrqSave = kernel_guard::IrqSave;
}

/// `movz` + `movk` of the symbol's low 32 bits. The `abs_g1` relocation
/// makes the linker reject a value of 4 GiB or more; a lone `movz` would
/// silently drop bits 16 and up.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_symbol_imm {
    ($sym:path) => {
        $crate::__percpu_asm_usize!($sym; "movz {0}, #:abs_g1:{1}", "movk {0}, #:abs_g0_nc:{1}"; pure, nomem, nostack, preserves_flags)
    };
}
