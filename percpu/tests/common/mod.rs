//! Set-up shared by the host test binaries: x86_64 Linux user space, where
//! each thread has its own GS base, so a thread plays the part of a CPU.

#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard, Once};

/// Areas the user-space linker script reserves (build.rs renders it).
pub const CPUS: usize = if cfg!(feature = "sp-naive") { 1 } else { 4 };

/// CPU `wanted`, or the last one when there are fewer (`sp-naive` has one).
pub fn cpu_or_last(wanted: usize) -> usize {
    if wanted < CPUS {
        wanted
    } else {
        CPUS - 1
    }
}

static INIT: Once = Once::new();
static SERIAL: Mutex<()> = Mutex::new(());

/// Initialises the areas in place once per process, points this thread's
/// register at area `cpu`, and serialises the tests that share areas.
pub fn on_cpu(cpu: usize) -> MutexGuard<'static, ()> {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    INIT.call_once(|| {
        assert_eq!(percpu::init_in_place(), Ok(CPUS));
    });
    percpu::init_percpu_reg(cpu);
    guard
}
