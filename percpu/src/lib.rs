//! Per-CPU data for kernels and hypervisors.
//!
//! `#[percpu::def_percpu] static X: T = init;` gives every CPU its own copy
//! of `X`, reached through the CPU's per-CPU register in the fewest
//! instructions the hardware allows:
//!
//! ```ignore
//! #[percpu::def_percpu]
//! static CPU_ID: usize = 0;
//!
//! percpu::init_in_place()?;          // on the boot CPU, once
//! percpu::init_percpu_reg(cpu_id);   // on each CPU
//! CPU_ID.write_current(cpu_id);
//! assert_eq!(CPU_ID.read_current(), cpu_id);
//! ```
//!
//! # Layout
//! The linker places every per-CPU static in section `.percpu`, linked at
//! VMA 0 (so a variable's address *is* its offset in an area) and loaded at
//! `_percpu_start`. That loaded copy is the template and CPU 0's area; the
//! linker script reserves room for more areas after it (`cargo percpu
//! ldscript` renders the script). [`init_in_place`] copies the template into
//! the reserved areas; [`init`] into memory the caller provides. Each area is
//! the template rounded up to the area alignment that the linker script
//! defines (64 bytes unless rendered with a larger `--align`).
//!
//! | architecture | per-CPU register | access |
//! |---|---|---|
//! | x86_64 | `GS_BASE` | `gs:`-relative, one instruction |
//! | AArch64 | `TPIDR_EL1` (`TPIDR_EL2` with `arm-el2`) | `mrs` + `movz`/`movk` offset + register-offset load |
//! | RISC-V 32/64 | `gp` | `lui` + `add gp` + load with `%lo` |
//! | LoongArch64 | `$r21` | `lu12i.w` + `ori` + indexed load |
//! | ARMv7-A | `TPIDRPRW` | `mrc` + `movw`/`movt` + register-offset load |
//!
//! # Features
//! - `sp-naive`: one CPU; per-CPU statics are plain globals.
//! - `preempt`: the guarded methods disable preemption through
//!   [`kernel_guard`]'s `KernelGuardIf`, which the kernel implements.
//! - `arm-el2`: AArch64 hypervisors at EL2 use `TPIDR_EL2`.
//! - `riscv-m-mode`: RISC-V kernels and firmware that run in machine mode:
//!   `with_current_irqsave` (and every other interrupt mask of the crate)
//!   clears `mstatus.MIE` instead of `sstatus.SIE`, which does not mask
//!   machine-mode interrupts.
//! - `placed`: each CPU's area wherever the platform puts it (NUMA nodes,
//!   memory with holes), and CPUs that register after boot:
//!   `try_init_placed`, `register_area`. Remote accesses load the
//!   area's base from a table; without the feature they stay the stride
//!   arithmetic, and current-CPU accesses are the same either way.
//! - `non-zero-vma`: `.percpu` is linked at a non-zero VMA (implied in Linux
//!   user space); offsets are computed from `_percpu_load_start`.

#![no_std]
#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]

// The macro's expansion names `::percpu`, also inside this crate.
extern crate self as percpu;

#[doc(hidden)]
pub mod __priv;
mod arch;
mod boxed;
mod counter;
mod current_ref;
mod debug_borrow;
mod dynamic;
mod guard;
mod init_error;
mod location;
mod per_cpu;
mod primitive;

#[cfg(not(feature = "sp-naive"))]
mod area;
#[cfg(feature = "sp-naive")]
#[path = "area_naive.rs"]
mod area;
#[cfg(all(feature = "placed", not(feature = "sp-naive")))]
mod placed;
#[cfg(all(feature = "placed", feature = "sp-naive"))]
pub use area::{
    percpu_area_layout_placed, register_area, try_adopt_placed, try_init_placed,
    try_init_placed_with_dynamic,
};
#[cfg(all(feature = "placed", not(feature = "sp-naive")))]
pub use placed::{
    percpu_area_layout_placed, register_area, try_adopt_placed, try_init_placed,
    try_init_placed_with_dynamic,
};

pub use area::{
    init_percpu_reg, init_with_dynamic, percpu_area_base, percpu_area_layout_expected,
    percpu_area_layout_with_dynamic, percpu_area_num, percpu_area_size, read_percpu_reg, try_init,
    try_init_in_place, write_percpu_reg,
};
pub use boxed::PerCpuBox;
pub use counter::PerCpuCounter;
pub use current_ref::CurrentRef;
pub use dynamic::{percpu_dynamic_region, AllocError, DynamicLocation};
pub use init_error::{init, init_in_place, AreaError, InitError};
pub use per_cpu::PerCpu;
pub use percpu_macros::{def_percpu, def_percpu_counter};
pub use primitive::{PerCpuInteger, PerCpuPrimitive};

/// Guards that the per-CPU methods take, re-exported for kernels that need
/// to implement [`kernel_guard::KernelGuardIf`] with the `preempt` feature.
pub use kernel_guard;
