//! Board support, one module per architecture, selected by the target.
//!
//! Every module provides the same functions plus a `_start` entry in
//! `.text.boot` that sets up CPU 0 (stack = `BOOT_STACKS` slot 0) and calls
//! [`crate::boot_main`]:
//!
//! - `putchar(byte)`: polled write of one byte to the console;
//! - `boot_hw_id()`: the boot CPU's hardware id, as the platform's CPU list
//!   names it (APIC id, MPIDR affinity, hart id, CPUID);
//! - `dtb_address()` (every board but x86_64): where the device tree is;
//! - `start_secondary(cpu_id, hw_id)`: start the CPU with hardware id
//!   `hw_id` as logical CPU `cpu_id` (1..MAX_CPUS) so that it runs
//!   [`crate::secondary_main`] on its `BOOT_STACKS` slot;
//! - `exit(code) -> !`: power QEMU off with status 0 iff `code == 0`;
//! - `RAM_BASE`: where the board's RAM starts (the `placed` kernel puts
//!   its areas 128 MiB above it);
//!
//! and, with `storm`, `timer_start()` (arm this CPU's periodic local timer
//! and enable interrupts) and `timer_stop()` (disable both), with an
//! interrupt entry that saves every caller-saved integer register and calls
//! [`crate::storm::on_tick`] once per tick. How many CPUs there are and
//! their ids come from `crate::platform`.

// Each board uses one of the two consoles; which one is the board's choice,
// not a `cfg` here.
#[cfg(not(target_arch = "x86_64"))]
#[allow(dead_code)]
mod uart;

#[cfg(all(feature = "storm", any(target_arch = "aarch64", target_arch = "arm")))]
mod gic;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;

#[cfg(target_arch = "arm")]
mod armv7;
#[cfg(target_arch = "arm")]
pub use armv7::*;

// What the two RISC-V boards share.
#[cfg(any(target_arch = "riscv64", target_arch = "riscv32"))]
mod riscv;

#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "riscv64")]
pub use riscv64::*;

#[cfg(target_arch = "riscv32")]
mod riscv32;
#[cfg(target_arch = "riscv32")]
pub use riscv32::*;

#[cfg(target_arch = "loongarch64")]
mod loongarch64;
#[cfg(target_arch = "loongarch64")]
pub use loongarch64::*;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;
