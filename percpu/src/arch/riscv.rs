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

/// The architecture (`super::Arch`).
pub(crate) struct Target;

impl super::Arch for Target {
    #[inline]
    fn read_percpu_reg() -> usize {
        let base: usize;
        // SAFETY: copies a register. Not `pure`: it differs per CPU.
        unsafe { asm!("mv {}, gp", out(reg) base, options(nomem, nostack, preserves_flags)) };
        base
    }

    #[inline]
    unsafe fn write_percpu_reg(base: usize) {
        // SAFETY: the caller provides an initialised area.
        unsafe { asm!("mv gp, {}", in(reg) base, options(nomem, nostack, preserves_flags)) };
    }

    /// `gp` plus `offset` in one `add`: the address of a run-time offset.
    #[inline(always)]
    fn register_plus(offset: usize) -> usize {
        let addr: usize;
        // SAFETY: arithmetic on a register. Not `pure`: `gp` differs per CPU.
        unsafe {
            asm!("add {0}, {1}, gp", out(reg) addr, in(reg) offset, options(nomem, nostack, preserves_flags))
        };
        addr
    }

    #[cfg(all(feature = "riscv-m-mode", target_os = "none"))]
    type IrqSave = MachineIrqSave;
    #[cfg(not(all(feature = "riscv-m-mode", target_os = "none")))]
    type IrqSave = kernel_guard::IrqSave;
}

/// With `riscv-m-mode` on bare metal, the interrupt mask is `mstatus.MIE`:
/// machine-mode kernels and firmware have no `sstatus.SIE` to clear.
#[cfg(all(feature = "riscv-m-mode", target_os = "none"))]
pub(crate) struct MachineIrqSave {
    /// `mstatus.MIE` as it was (bit 3), to restore on drop.
    mie: usize,
}

/// `mstatus.MIE`: machine-mode interrupts enabled.
#[cfg(all(feature = "riscv-m-mode", target_os = "none"))]
const MSTATUS_MIE: usize = 1 << 3;

#[cfg(all(feature = "riscv-m-mode", target_os = "none"))]
impl super::IrqMask for MachineIrqSave {
    #[inline(always)]
    fn new() -> Self {
        let old: usize;
        // SAFETY: clears `mstatus.MIE` and returns the old `mstatus`:
        // machine-mode interrupts stay pending until `drop` restores it.
        // Not `nomem`: the accesses it protects must stay inside.
        unsafe {
            asm!("csrrci {}, mstatus, {}", out(reg) old, const MSTATUS_MIE,
                options(nostack, preserves_flags))
        };
        Self {
            mie: old & MSTATUS_MIE,
        }
    }
}

#[cfg(all(feature = "riscv-m-mode", target_os = "none"))]
impl Drop for MachineIrqSave {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: sets `mstatus.MIE` again if `new` found it set.
        unsafe { asm!("csrs mstatus, {}", in(reg) self.mie, options(nostack, preserves_flags)) };
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_symbol_imm {
    ($sym:path) => {
        $crate::__percpu_asm_usize!($sym;
            "lui {0}, %hi({1})", "addi {0}, {0}, %lo({1})";
            pure, nomem, nostack, preserves_flags)
    };
}

/// A static's address on this CPU, in three instructions.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_current_addr {
    ($sym:path) => {
        $crate::__percpu_asm_usize!($sym;
            "lui {0}, %hi({1})", "add {0}, {0}, gp", "addi {0}, {0}, %lo({1})";
            nomem, nostack, preserves_flags)
    };
}

/// The address of a fused access: `{t}` = `gp` + the offset's upper bits;
/// the access then takes `%lo({s})({t})`.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_addr_asm {
    ($sym:path; $tmpl:expr; $($operands:tt)*) => {
        ::core::arch::asm!(
            "lui {t}, %hi({s})",
            "add {t}, {t}, gp",
            $tmpl,
            s = sym $sym,
            t = out(reg) _,
            $($operands)*
        )
    };
}

/// The instructions of `load_store.rs`'s fused accesses. `lbu`/`lhu`
/// zero-extend, `lw` sign-extends; `add`, `sub`, `and`, `or` and `xor` are
/// RISC-V's own mnemonics.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_insn {
    (load 1) => {
        "lbu {x}, %lo({s})({t})"
    };
    (load 2) => {
        "lhu {x}, %lo({s})({t})"
    };
    (load 4) => {
        "lw {x}, %lo({s})({t})"
    };
    (load 8) => {
        "ld {x}, %lo({s})({t})"
    };
    (store 1) => {
        "sb {x}, %lo({s})({t})"
    };
    (store 2) => {
        "sh {x}, %lo({s})({t})"
    };
    (store 4) => {
        "sw {x}, %lo({s})({t})"
    };
    (store 8) => {
        "sd {x}, %lo({s})({t})"
    };
    ($op:ident) => {
        concat!(stringify!($op), " {x}, {x}, {v}")
    };
}
