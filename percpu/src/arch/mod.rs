//! The architecture layer: the per-CPU register and the instruction
//! sequences of the current-CPU accesses.
//!
//! # Two decisions, made once
//!
//! `build.rs` (`arch_and_access`) decides, from the target and the
//! features, and nothing in this directory looks at `target_arch` again:
//!
//! - `percpu_arch`: the one file that implements the contract below, named
//!   by `percpu_layout`'s `Arch::name`: `x86_64.rs`, `aarch64.rs`,
//!   `loongarch64.rs`, `armv7.rs`, and `riscv.rs`, which the two RISC-V
//!   architectures share (a family, not an architecture); `none` if percpu
//!   has no file for the target, which only `sp-naive` accepts.
//! - `percpu_access`: the access family, from which this module alone picks
//!   the guard of the operations (`OpGuard`), the `Location` defaults for a
//!   run-time offset (`offset_accesses!`) and a static's overrides
//!   (`__percpu_static_accesses!`):
//!
//! | family | who | run-time offset | a static at VMA 0 | `OpGuard` |
//! |---|---|---|---|---|
//! | `segment` | x86_64 | one `gs:` instruction | the symbol as its displacement | none |
//! | `folded` | RISC-V, LoongArch64 at VMA 0 | pointer path | load and store in one `asm!` with the symbol (`load_store.rs`) | no preemption |
//! | `pointer` | AArch64, ARMv7, RISC-V and LoongArch64 not at VMA 0 | pointer path | pointer path | no preemption |
//! | `naive` | `sp-naive` | pointer path, register 0 (`naive.rs`) | pointer path | no preemption |
//!
//! The pointer path (`location.rs`, `generic.rs`) adds the offset to the
//! register (`Arch::register_plus`), then loads or stores, and runs the
//! architecture's read-modify-write set (`Arch::rmw`, `xchg`, `cmpxchg`).
//! With `sp-naive` the architecture's file still gives that set and the
//! interrupt mask; only its register is replaced.
//!
//! # The contract: what an architecture file provides
//!
//! 1. `pub(crate) struct Target` implementing [`Arch`]: read and write the
//!    per-CPU register; `type IrqSave`, the interrupt mask
//!    (`kernel_guard::IrqSave` where `kernel_guard` knows the architecture,
//!    else its own [`IrqMask`]); override `register_plus` where the
//!    register plus an offset beats reading it and adding, and `rmw`,
//!    `xchg`, `cmpxchg` where the relaxed atomics of `generic.rs` are not
//!    the best single step an interrupt cannot split (x86_64: no `lock`).
//! 2. `__percpu_symbol_imm!(sym)` (`#[macro_export]`, `#[doc(hidden)]`): a
//!    symbol's link-time value as an immediate, one `asm!` block through
//!    `__percpu_asm_usize!`. With `.percpu` at VMA 0 it is the symbol's
//!    offset in an area; at a non-zero VMA it goes unused.
//! 3. For `folded` only: `__percpu_current_addr!(sym)` (a static's address
//!    on this CPU, one `asm!` block), `__percpu_addr_asm!` and
//!    `__percpu_insn!` (`load_store.rs` says what they take).
//! 4. For `segment` only (x86_64 has it): `offset_accesses!` (every
//!    `Location` access for a run-time offset),
//!    `__percpu_segment_static_accesses!(sym)` and the `SELF_PTR` static.
//!
//! `naive.rs` provides only item 1, with register 0 and the defaults. A
//! missing piece stops percpu's own
//! build with the piece's name: the trait's items through the trait, the
//! macros through `probe` below, which expands each of them once.
//!
//! # Adding an architecture
//!
//! Its arm in `build.rs`'s `arch_and_access` (the file, and `folded` or
//! `pointer`) and its file name in the `percpu_arch` check-cfg values; the
//! two `#[cfg(percpu_arch = ...)]` lines below that declare its file and use
//! it as `cpu`; the file. `docs/porting.md` lists the rest of the
//! repository's files.

pub mod generic;

use crate::PerCpuInteger;

#[cfg(percpu_access = "folded")]
mod load_store;

#[cfg(all(percpu_arch = "none", not(percpu_access = "naive")))]
compile_error!(
    "percpu has no architecture file for this target (percpu/build.rs, \
     `arch_and_access`; docs/porting.md); enable the `sp-naive` feature instead"
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
#[cfg(percpu_access = "naive")]
mod naive;

// Whose register the accesses use: the architecture's, or with `sp-naive`
// none (the register reads 0).
#[cfg(not(percpu_access = "naive"))]
use cpu::Target as Register;
#[cfg(percpu_access = "naive")]
use naive::Target as Register;

// Whose instructions the pointer path uses (the read-modify-write set, the
// interrupt mask): the architecture's, whatever the family, or the
// defaults where percpu has no file for it (`sp-naive` only).
#[cfg(not(percpu_arch = "none"))]
pub(crate) use cpu::Target as Instructions;
#[cfg(percpu_arch = "none")]
pub(crate) use naive::Target as Instructions;

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

    /// Masks local interrupts while it lives: `kernel_guard::IrqSave`, or
    /// the architecture's own mask where that one does not fit.
    type IrqSave: IrqMask;

    /// `copy = copy OP val` at `addr`, the current CPU's copy, in one step
    /// that an interrupt handler on this CPU cannot split: by default a
    /// relaxed atomic ([`generic::atomic_rmw`]).
    ///
    /// # Safety
    /// As for the functions of [`generic`].
    #[inline(always)]
    unsafe fn rmw<T: PerCpuInteger, const OP: u8>(addr: usize, val: T) {
        // SAFETY: the caller's contract.
        unsafe { generic::atomic_rmw::<T, OP>(addr, val) }
    }

    /// Replaces the copy at `addr`, returning the old value; by default one
    /// atomic swap.
    ///
    /// # Safety
    /// As for the functions of [`generic`].
    #[inline(always)]
    unsafe fn xchg<T: PerCpuInteger>(addr: usize, val: T) -> T {
        // SAFETY: the caller's contract.
        unsafe { generic::atomic_xchg(addr, val) }
    }

    /// Stores `new` at `addr` if the copy equals `old`; returns the value
    /// it had. By default one atomic compare-and-exchange.
    ///
    /// # Safety
    /// As for the functions of [`generic`].
    #[inline(always)]
    unsafe fn cmpxchg<T: PerCpuInteger>(addr: usize, old: T, new: T) -> T {
        // SAFETY: the caller's contract.
        unsafe { generic::atomic_cmpxchg(addr, old, new) }
    }
}

/// An interrupt mask: masks local interrupts from `new` until dropped.
pub(crate) trait IrqMask {
    /// Masks local interrupts, remembering whether they were enabled.
    fn new() -> Self;
}

impl IrqMask for kernel_guard::IrqSave {
    #[inline(always)]
    fn new() -> Self {
        kernel_guard::IrqSave::new()
    }
}

/// The interrupt mask of [`crate::guard::IrqSave`].
pub(crate) type LocalIrqSave = <Instructions as Arch>::IrqSave;

/// This CPU's per-CPU register.
#[inline(always)]
pub fn read_percpu_reg() -> usize {
    <Register as Arch>::read_percpu_reg()
}

/// Sets this CPU's per-CPU register.
///
/// # Safety
/// See `percpu::write_percpu_reg`.
#[inline(always)]
pub unsafe fn write_percpu_reg(base: usize) {
    // SAFETY: the caller's contract.
    unsafe { <Register as Arch>::write_percpu_reg(base) }
}

/// The per-CPU register plus `offset`.
#[allow(dead_code)]
#[inline(always)]
pub fn register_plus(offset: usize) -> usize {
    <Register as Arch>::register_plus(offset)
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
