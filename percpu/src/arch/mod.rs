//! The architecture layer: the per-CPU register and the instruction
//! sequences of the current-CPU accesses.
//!
//! # The contract
//!
//! `build.rs` makes the two decisions this module reads, from the target
//! and the features, and nothing else here looks at `target_arch`:
//!
//! - `percpu_arch`: the one file that implements the contract below, named
//!   by `percpu_layout`'s `Arch::name` (`x86_64.rs`, `aarch64.rs`,
//!   `loongarch64.rs`, `armv7.rs`); `riscv.rs` serves both RISC-V
//!   architectures, and `naive.rs` stands in for all with `sp-naive`.
//! - `percpu_access`: the access family, which picks the `Location`
//!   accesses below (`OpGuard`, `offset_accesses!`,
//!   `__percpu_static_accesses!`):
//!   - `segment` (x86_64): every access is one `gs:`-relative instruction,
//!     which no interrupt can split, so the operations take no guard;
//!   - `folded` (RISC-V, LoongArch64, `.percpu` at VMA 0): a static's load
//!     and store are one `asm!` block with its symbol folded into the
//!     instruction (`load_store.rs`);
//!   - `pointer` (the rest): register + offset, then an ordinary access
//!     and, for the read-modify-write set, a local atomic
//!     (`generic.rs`);
//!   - `naive` (`sp-naive`): no register; a static is a plain global.
//!
//! An architecture file provides, whatever its family:
//!
//! 1. `pub(crate) struct Target`, implementing [`Arch`]: reading and
//!    writing the per-CPU register, and (if it beats reading the register
//!    and adding) the register plus an offset;
//! 2. `__percpu_symbol_imm!(sym)`, `#[macro_export]`: the symbol's
//!    link-time value as an immediate, one `asm!` block through
//!    `__percpu_asm_usize!`. With `.percpu` at VMA 0 it is the offset;
//!    elsewhere it is not used (a symbol's VMA is then its address).
//!
//! (`naive.rs` provides only `Target`.) And, for its family:
//!
//! - `segment`: `offset_accesses!` (every `Location` access for a run-time
//!   offset), `__percpu_segment_static_accesses!` (the overrides naming a
//!   static's symbol, at VMA 0) and `__PERCPU_SELF_PTR`;
//! - `folded`: `__percpu_current_addr!(sym)` (the static's address on this
//!   CPU, one `asm!` block), `__percpu_addr_asm!` and `__percpu_insn!` (see
//!   `load_store.rs`).
//!
//! A missing piece stops percpu's own build with its name: `Arch`'s items
//! through the trait, the macros through [`probe`], which expands them all
//! once.

pub mod generic;

#[cfg(percpu_access = "folded")]
mod load_store;

#[cfg(percpu_arch = "none")]
compile_error!(
    "percpu supports x86_64, aarch64, riscv32, riscv64, loongarch64 and arm; \
     elsewhere enable the `sp-naive` feature"
);

// The file that implements the contract for this target (`percpu_arch`),
// under its own name, which the symbols it defines carry, and as `cpu`.
#[cfg(percpu_arch = "x86_64")]
pub(crate) mod x86_64;
#[cfg(percpu_arch = "x86_64")]
pub(crate) use x86_64 as cpu;
#[cfg(percpu_arch = "aarch64")]
pub(crate) mod aarch64;
#[cfg(percpu_arch = "aarch64")]
pub(crate) use aarch64 as cpu;
#[cfg(percpu_arch = "riscv")]
pub(crate) mod riscv;
#[cfg(percpu_arch = "riscv")]
pub(crate) use riscv as cpu;
#[cfg(percpu_arch = "loongarch64")]
pub(crate) mod loongarch64;
#[cfg(percpu_arch = "loongarch64")]
pub(crate) use loongarch64 as cpu;
#[cfg(percpu_arch = "armv7")]
pub(crate) mod armv7;
#[cfg(percpu_arch = "armv7")]
pub(crate) use armv7 as cpu;
#[cfg(percpu_arch = "naive")]
pub(crate) mod naive;
#[cfg(percpu_arch = "naive")]
pub(crate) use naive as cpu;

/// What every architecture file implements, for its `Target`.
pub(crate) trait Arch {
    /// This CPU's per-CPU register: its area's base.
    fn read_percpu_reg() -> usize;

    /// Sets this CPU's per-CPU register.
    ///
    /// # Safety
    /// See `percpu::write_percpu_reg`.
    unsafe fn write_percpu_reg(base: usize);

    /// The per-CPU register plus `offset`: the current CPU's address of a
    /// run-time offset, for the `pointer` family (and the `folded`
    /// family's run-time offsets). Override it where reading the register
    /// is no instruction of its own (RISC-V adds to `gp` directly).
    // Unused with `segment`, whose accesses add to `SELF_PTR` instead.
    #[allow(dead_code)]
    #[inline(always)]
    fn register_plus(offset: usize) -> usize {
        Self::read_percpu_reg() + offset
    }
}

/// This CPU's per-CPU register.
#[inline(always)]
pub fn read_percpu_reg() -> usize {
    <cpu::Target as Arch>::read_percpu_reg()
}

/// Sets this CPU's per-CPU register.
///
/// # Safety
/// See `percpu::write_percpu_reg`.
#[inline(always)]
pub unsafe fn write_percpu_reg(base: usize) {
    // SAFETY: the caller's contract.
    unsafe { <cpu::Target as Arch>::write_percpu_reg(base) }
}

/// The per-CPU register plus `offset`.
#[allow(dead_code)]
#[inline(always)]
pub fn register_plus(offset: usize) -> usize {
    <cpu::Target as Arch>::register_plus(offset)
}

/// The guard of the primitive operations: none where they are a single
/// instruction that preemption cannot split (`segment`), else no
/// preemption.
#[cfg(percpu_access = "segment")]
pub type OpGuard = crate::__priv::NoGuard;
/// The guard of the primitive operations: none where they are a single
/// instruction that preemption cannot split (`segment`), else no
/// preemption.
#[cfg(not(percpu_access = "segment"))]
pub type OpGuard = crate::guard::NoPreempt;

// The `Location` defaults, for a run-time offset: the architecture's own
// with `segment`, else the pointer path.
#[cfg(not(percpu_access = "segment"))]
pub(crate) use crate::location::pointer_accesses as offset_accesses;
#[cfg(percpu_access = "segment")]
pub(crate) use cpu::offset_accesses;

/// A `usize` computed by one `asm!` block from a symbol: `{0}` is the
/// result, `{1}` the symbol. Not `pure` unless the caller says so: a value
/// that depends on the CPU must not be merged across a possible migration.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_asm_usize {
    ($sym:path; $($tmpl:expr),+; $($option:ident),*) => {{
        let value: usize;
        #[allow(unused_unsafe)]
        unsafe {
            ::core::arch::asm!($($tmpl),+, out(reg) value, sym $sym, options($($option),*))
        };
        value
    }};
}

/// A symbol's VMA: at VMA 0 the architecture's immediate, which is also its
/// offset in an area.
#[cfg(not(any(percpu_non_zero_vma, percpu_access = "naive")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_symbol_vma {
    ($sym:path) => {
        $crate::__percpu_symbol_imm!($sym)
    };
}

/// Not at VMA 0 (or with no `.percpu` at all, `sp-naive`), a symbol's VMA
/// is its address, as the compiler reaches it.
#[cfg(any(percpu_non_zero_vma, percpu_access = "naive"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_symbol_vma {
    ($sym:path) => {{
        #[allow(unused_unsafe)]
        let addr = unsafe { ::core::ptr::addr_of!($sym) } as usize;
        addr
    }};
}

/// A static's offset: its VMA at VMA 0; with `sp-naive` its address, which
/// the register's 0 turns into the static itself.
#[cfg(any(not(percpu_non_zero_vma), percpu_access = "naive"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_offset {
    ($sym:path) => {
        $crate::__percpu_symbol_vma!($sym)
    };
}

/// Not at VMA 0, the offset is the address minus the section's start.
#[cfg(all(percpu_non_zero_vma, not(percpu_access = "naive")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_offset {
    ($sym:path) => {{
        extern "C" {
            static _percpu_load_start: u8;
        }
        $crate::__percpu_symbol_vma!($sym) - $crate::__percpu_symbol_vma!(_percpu_load_start)
    }};
}

/// The accesses a static's symbol improves on: with `segment` at VMA 0 the
/// symbol is the instruction's displacement.
#[cfg(all(percpu_access = "segment", not(percpu_non_zero_vma)))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_static_accesses {
    ($sym:path) => {
        $crate::__percpu_segment_static_accesses!($sym);
    };
}

/// With `folded`, the symbol's offset is in the load or store itself.
#[cfg(percpu_access = "folded")]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_static_accesses {
    ($sym:path) => {
        $crate::__percpu_load_store_accesses!($sym);
    };
}

/// Elsewhere nothing beats register + offset (`pointer`: AArch64 and ARMv7,
/// whose loads take a register offset anyway, and any target not at
/// VMA 0; `naive`; `segment` not at VMA 0, where the symbol is no
/// displacement): a static keeps the defaults.
#[cfg(not(any(
    percpu_access = "folded",
    all(percpu_access = "segment", not(percpu_non_zero_vma))
)))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_static_accesses {
    ($sym:path) => {};
}

/// What `#[def_percpu]` expands to after the storage: the static's
/// location, named by its storage symbol. `$init` is the initialiser, which
/// the storage takes from `INIT`.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_static_location {
    ($loc:ident, $sym:ident, $ty:ty, $name:literal, $init:expr) => {
        // SAFETY: `$sym` is the `.percpu` storage of a `$ty`; the offset and
        // the overridden accesses all name it.
        unsafe impl $crate::__priv::Location for $loc {
            const NAME: &'static str = $name;
            #[inline(always)]
            fn offset(&self) -> usize {
                $crate::__percpu_offset!($sym)
            }
            $crate::__percpu_static_accesses!($sym);
        }
        // SAFETY: as above; `INIT` is the static's initialiser.
        unsafe impl $crate::__priv::StaticLocation<$ty> for $loc {
            #[allow(clippy::declare_interior_mutable_const)]
            const INIT: $ty = $init;
            #[inline(always)]
            fn symbol_vma(&self) -> usize {
                $crate::__percpu_symbol_vma!($sym)
            }
        }
    };
}

/// Every macro of the contract, expanded once in percpu itself, so that an
/// architecture file that lacks one fails here, naming it, and not in a
/// user's crate. Generic and never used: nothing of it becomes code.
#[allow(dead_code)]
mod probe {
    static PROBE: usize = 0;

    struct Probe<P>(core::marker::PhantomData<P>);

    // SAFETY: never used; it only has to compile.
    unsafe impl<P> crate::__priv::Location for Probe<P> {
        const NAME: &'static str = "probe";
        fn offset(&self) -> usize {
            crate::__percpu_offset!(PROBE)
        }
        crate::__percpu_static_accesses!(PROBE);
    }

    // SAFETY: as above.
    unsafe impl<P> crate::__priv::StaticLocation<usize> for Probe<P> {
        const INIT: usize = 0;
        fn symbol_vma(&self) -> usize {
            crate::__percpu_symbol_vma!(PROBE)
        }
    }
}
