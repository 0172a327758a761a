//! The per-CPU register and the instruction sequences, one file per
//! architecture.
//!
//! Each architecture file provides `read_percpu_reg`, `write_percpu_reg`,
//! `__percpu_symbol_vma!`, `offset_accesses!` (the `Location` defaults, for
//! a run-time offset) and `__percpu_static_accesses!` (the overrides a
//! static's symbol allows). The accesses come from one place per family:
//! `x86_64.rs` (`gs:`-relative, one instruction, for symbols and run-time
//! offsets alike), `load_store.rs` for RISC-V and LoongArch at VMA 0 (one
//! `asm!` block with the architecture's `__percpu_addr_asm!` and
//! `__percpu_insn!`), and the pointer path of `generic.rs` for the rest.
//! The static macros expand in the user's crate, naming its storage
//! symbol, so the symbol can sit inside the instruction.

pub mod generic;

#[cfg(all(
    percpu_fused_access,
    any(
        target_arch = "riscv32",
        target_arch = "riscv64",
        target_arch = "loongarch64"
    )
))]
mod load_store;

#[cfg(feature = "sp-naive")]
mod naive;
#[cfg(feature = "sp-naive")]
pub use self::naive::*;

#[cfg(all(target_arch = "x86_64", not(feature = "sp-naive")))]
mod x86_64;
#[cfg(all(target_arch = "x86_64", not(feature = "sp-naive")))]
pub use self::x86_64::*;

#[cfg(all(target_arch = "aarch64", not(feature = "sp-naive")))]
mod aarch64;
#[cfg(all(target_arch = "aarch64", not(feature = "sp-naive")))]
pub use self::aarch64::*;

#[cfg(all(
    any(target_arch = "riscv32", target_arch = "riscv64"),
    not(feature = "sp-naive")
))]
mod riscv;
#[cfg(all(
    any(target_arch = "riscv32", target_arch = "riscv64"),
    not(feature = "sp-naive")
))]
pub use self::riscv::*;

#[cfg(all(target_arch = "loongarch64", not(feature = "sp-naive")))]
mod loongarch64;
#[cfg(all(target_arch = "loongarch64", not(feature = "sp-naive")))]
pub use self::loongarch64::*;

#[cfg(all(target_arch = "arm", not(feature = "sp-naive")))]
mod arm;
#[cfg(all(target_arch = "arm", not(feature = "sp-naive")))]
pub use self::arm::*;

#[cfg(not(any(
    feature = "sp-naive",
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv32",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "arm"
)))]
compile_error!(
    "percpu supports x86_64, aarch64, riscv32, riscv64, loongarch64 and arm; \
     elsewhere enable the `sp-naive` feature"
);

/// The guard of the primitive operations: none where they are a single
/// instruction that preemption cannot split (x86_64), else no preemption.
#[cfg(all(target_arch = "x86_64", not(feature = "sp-naive")))]
pub type OpGuard = crate::__priv::NoGuard;
/// The guard of the primitive operations: none where they are a single
/// instruction that preemption cannot split (x86_64), else no preemption.
#[cfg(not(all(target_arch = "x86_64", not(feature = "sp-naive"))))]
pub type OpGuard = crate::guard::NoPreempt;

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

/// The offset of a variable is its VMA when `.percpu` is linked at 0.
#[cfg(all(not(percpu_non_zero_vma), not(feature = "sp-naive")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_offset {
    ($sym:path) => {
        $crate::__percpu_symbol_vma!($sym)
    };
}

/// Not at VMA 0 (or with no `.percpu` at all, `sp-naive`), a symbol's VMA
/// is its address, as the compiler reaches it.
#[cfg(any(percpu_non_zero_vma, feature = "sp-naive"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_symbol_vma {
    ($sym:path) => {{
        #[allow(unused_unsafe)]
        let addr = unsafe { ::core::ptr::addr_of!($sym) } as usize;
        addr
    }};
}

/// Not at VMA 0, the offset is the address minus the section's start.
#[cfg(all(percpu_non_zero_vma, not(feature = "sp-naive")))]
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

/// Where nothing beats register + offset (AArch64 and ARM, whose loads
/// take a register offset anyway; any target not at VMA 0; `sp-naive`), a
/// static keeps the defaults.
#[cfg(any(
    feature = "sp-naive",
    all(
        not(target_arch = "x86_64"),
        any(percpu_non_zero_vma, target_arch = "aarch64", target_arch = "arm")
    )
))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_static_accesses {
    ($sym:path) => {};
}

/// The per-CPU register plus `offset`, where reading the register is an
/// instruction of its own (RISC-V adds to `gp` directly).
#[cfg(not(any(
    all(target_arch = "x86_64", not(feature = "sp-naive")),
    all(
        any(target_arch = "riscv32", target_arch = "riscv64"),
        not(feature = "sp-naive")
    )
)))]
#[inline(always)]
pub fn register_plus(offset: usize) -> usize {
    read_percpu_reg() + offset
}

/// The pointer path is the default everywhere but on x86_64.
#[cfg(not(all(target_arch = "x86_64", not(feature = "sp-naive"))))]
pub(crate) use crate::location::pointer_accesses as offset_accesses;

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
