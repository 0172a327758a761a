//! LoongArch64: the per-CPU register is `$r21`, which the ABI reserves for
//! exactly this. An access is `lu12i.w` + `ori` for the offset and an
//! indexed load or store (`ldx`/`stx`) off `$r21`: three instructions.
//! `lu12i.w` sign-extends, so offsets reach 2 GiB; the rendered linker
//! script asserts that limit.

use core::arch::asm;

/// The architecture (`super::Arch`).
pub(crate) struct Target;

impl super::Arch for Target {
    #[inline]
    fn read_percpu_reg() -> usize {
        let base: usize;
        // SAFETY: copies a register. Not `pure`: it differs per CPU.
        unsafe { asm!("move {}, $r21", out(reg) base, options(nomem, nostack, preserves_flags)) };
        base
    }

    #[inline]
    unsafe fn write_percpu_reg(base: usize) {
        // SAFETY: the caller provides an initialised area.
        unsafe { asm!("move $r21, {}", in(reg) base, options(nomem, nostack, preserves_flags)) };
    }

    type IrqSave = kernel_guard::IrqSave;
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_symbol_imm {
    ($sym:path) => {
        $crate::__percpu_asm_usize!($sym;
            "lu12i.w {0}, %abs_hi20({1})", "ori {0}, {0}, %abs_lo12({1})";
            pure, nomem, nostack, preserves_flags)
    };
}

/// A static's address on this CPU, in three instructions.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_current_addr {
    ($sym:path) => {
        $crate::__percpu_asm_usize!($sym;
            "lu12i.w {0}, %abs_hi20({1})", "ori {0}, {0}, %abs_lo12({1})", "add.d {0}, {0}, $r21";
            nomem, nostack, preserves_flags)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_addr_asm {
    ($sym:path; $tmpl:expr; $($operands:tt)*) => {
        ::core::arch::asm!(
            "lu12i.w {o}, %abs_hi20({s})",
            "ori {o}, {o}, %abs_lo12({s})",
            $tmpl,
            s = sym $sym,
            o = out(reg) _,
            $($operands)*
        )
    };
}

/// The instructions of `load_store.rs`'s fused accesses: indexed loads
/// (`.bu`/`.hu` zero-extend, `.w` sign-extends) and stores; `add.d` and
/// `sub.d` are right at every width because the store keeps the low bits.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_insn {
    (load 1) => {
        "ldx.bu {x}, {o}, $r21"
    };
    (load 2) => {
        "ldx.hu {x}, {o}, $r21"
    };
    (load 4) => {
        "ldx.w {x}, {o}, $r21"
    };
    (load 8) => {
        "ldx.d {x}, {o}, $r21"
    };
    (store 1) => {
        "stx.b {x}, {o}, $r21"
    };
    (store 2) => {
        "stx.h {x}, {o}, $r21"
    };
    (store 4) => {
        "stx.w {x}, {o}, $r21"
    };
    (store 8) => {
        "stx.d {x}, {o}, $r21"
    };
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
