//! The API of the `percpu` 0.2 line, on the runtime of `percpu` 0.4.
//!
//! A crate written against `percpu` 0.2.0, 0.2.2 or 0.2.3-preview.1 builds
//! against this one unchanged: `#[def_percpu]` (with every method those
//! versions generate), [`init`], [`percpu_area_num`], [`percpu_area_size`],
//! [`percpu_area_base`], [`read_percpu_reg`], [`write_percpu_reg`],
//! [`init_percpu_reg`], and the features `sp-naive`, `preempt`, `arm-el2`,
//! `non-zero-vma` and `custom-base`.
//!
//! Everything is the 0.4 runtime's: a per-CPU static of this crate and one
//! of `percpu` 0.4 share the areas, the initialisation and the register,
//! and compile to the same instructions.
//!
//! ```ignore
//! #[percpu::def_percpu]
//! static CPU_ID: usize = 0;
//!
//! percpu::init();                    // on the boot CPU, once
//! percpu::init_percpu_reg(cpu_id);   // on each CPU
//! CPU_ID.write_current(cpu_id);
//! ```
//!
//! # Features
//! - `sp-naive`: one CPU; per-CPU statics are plain globals.
//! - `preempt`: the guarded methods disable preemption through the
//!   `KernelGuardIf` the kernel implements, with `kernel_guard` 0.1 as with
//!   0.2 or with 0.2 (both define the same symbols).
//! - `arm-el2`: AArch64 at EL2 uses `TPIDR_EL2`.
//! - `non-zero-vma`: `.percpu` is linked at a non-zero VMA.
//! - `custom-base`: the platform exports `_percpu_base_ptr(idx)`, each
//!   CPU's area (null past the last); [`init`] makes them the runtime's
//!   placed areas. Statics are `PerCpuData`s.

#![no_std]
#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]

#[cfg(target_os = "linux")]
extern crate std;

use core::sync::atomic::{AtomicU8, Ordering};

#[cfg(not(all(feature = "custom-base", not(feature = "sp-naive"))))]
pub use percpu04::{init_percpu_reg, percpu_area_base, PerCpu};
pub use percpu04::{percpu_area_num, percpu_area_size, read_percpu_reg, write_percpu_reg};

#[cfg(all(feature = "custom-base", not(feature = "sp-naive")))]
mod custom_base;
/// With `custom-base`, `#[def_percpu]` statics are [`PerCpuData`]s.
#[cfg(all(feature = "custom-base", not(feature = "sp-naive")))]
#[doc(hidden)]
pub use custom_base::PerCpuData as PerCpu;
#[cfg(all(feature = "custom-base", not(feature = "sp-naive")))]
pub use custom_base::{InPlace, PerCpuData, CUSTOM_BASE_MAX_CPUS};
pub use percpu_macros::def_percpu;

/// What the code `#[def_percpu]` generates names. Not public API.
#[doc(hidden)]
pub mod __priv {
    /// 0.2's name for the guard its methods took with `preempt`.
    #[cfg(feature = "preempt")]
    pub use percpu04::__priv::NoPreempt as NoPreemptGuard;
    pub use percpu04::__priv::*;
    pub use percpu04::def_percpu as def_percpu_0_4;
}

#[doc(hidden)]
pub use percpu04::{
    __percpu_asm_usize, __percpu_offset, __percpu_static_location, __percpu_symbol_vma,
};
/// The 0.4 runtime's run-time allocations and guards, for code that moves
/// to them (and for `cargo xtask asm-report`'s fixture, whose source is the
/// 0.4 one). Not the 0.2 API.
#[doc(hidden)]
pub use percpu04::{def_percpu_counter, kernel_guard, PerCpuBox, PerCpuCounter};

/// Where [`init`] is: not called, running, done.
static INIT_STATE: AtomicU8 = AtomicU8::new(IDLE);
const IDLE: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;

/// Initialises the per-CPU areas, as the 0.2 line did: in place, the areas
/// the linker script reserves in `.percpu` (in Linux user space, as many
/// areas on the heap). Returns their number; a second call does nothing
/// and returns 0 (after waiting for the first, if it runs on another CPU).
///
/// With `sp-naive` it returns 1.
///
/// # Panics
/// If the runtime refuses the areas (e.g. a script that reserves none);
/// the message says why.
pub fn init() -> usize {
    if INIT_STATE
        .compare_exchange(IDLE, RUNNING, Ordering::Acquire, Ordering::Acquire)
        .is_err()
    {
        // Another CPU's call (with `custom-base`, a first `init_percpu_reg`
        // of its own) may be running: its areas are there once it is done.
        while INIT_STATE.load(Ordering::Acquire) != DONE {
            core::hint::spin_loop();
        }
        return 0;
    }
    let result = init_areas();
    INIT_STATE.store(DONE, Ordering::Release);
    match result {
        Ok(count) => count,
        Err(err) => panic!("percpu::init: {err}"),
    }
}

/// Base address of CPU `cpu_id`'s area: the one `_percpu_base_ptr` gave.
/// The first call on a platform that never called [`init`] calls it (as
/// 0.2.3-preview.1 needed no `init` there).
///
/// # Panics
/// If `cpu_id` has no area.
#[cfg(all(feature = "custom-base", not(feature = "sp-naive")))]
pub fn percpu_area_base(cpu_id: usize) -> usize {
    init();
    percpu04::percpu_area_base(cpu_id)
}

/// Points this CPU's per-CPU register at area `cpu_id`, calling [`init`]
/// first if nothing did (as 0.2.3-preview.1 needed no `init` there).
///
/// # Panics
/// If `cpu_id` has no area.
#[cfg(all(feature = "custom-base", not(feature = "sp-naive")))]
pub fn init_percpu_reg(cpu_id: usize) {
    init();
    percpu04::init_percpu_reg(cpu_id)
}

#[cfg(all(feature = "custom-base", not(feature = "sp-naive")))]
use custom_base::init_areas;

#[cfg(feature = "sp-naive")]
fn init_areas() -> Result<usize, percpu04::AreaError> {
    Ok(1)
}

/// User space: the loaded `.percpu` is no place for areas (0.2's scripts
/// load none), so they go on the heap, as many as the script reserves.
#[cfg(all(
    not(feature = "sp-naive"),
    not(feature = "custom-base"),
    target_os = "linux"
))]
fn init_areas() -> Result<usize, percpu04::AreaError> {
    user_space::map_unloaded_template();
    let count = percpu_area_num();
    let layout = percpu04::percpu_area_layout_expected(count);
    if layout.size() == 0 {
        return Err(percpu04::AreaError::ZeroCpuCount);
    }
    // SAFETY: a non-zero size, checked above; the memory is never freed,
    // like a kernel's areas.
    let base = unsafe { std::alloc::alloc_zeroed(layout) };
    if base.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    percpu04::try_init(base, count)
}

#[cfg(all(
    not(feature = "sp-naive"),
    not(feature = "custom-base"),
    not(target_os = "linux")
))]
fn init_areas() -> Result<usize, percpu04::AreaError> {
    percpu04::try_init_in_place()
}

/// The 0.2 line's user-space scripts (its test scripts) mark `.percpu`
/// `NOLOAD`: nothing is mapped where the template should be, at
/// `_percpu_start`, and the 0.2 line never read it (it documented initial
/// values as unsupported there). The runtime copies the template into each
/// area, so zeroed pages are mapped wherever it is missing; a loaded
/// template (`cargo percpu ldscript --linux-user`) is left as it is.
#[cfg(all(
    not(feature = "sp-naive"),
    not(feature = "custom-base"),
    target_os = "linux"
))]
mod user_space {
    use core::ffi::{c_int, c_long, c_void};

    extern "C" {
        static _percpu_start: u8;
        fn mmap(
            addr: *mut c_void,
            len: usize,
            prot: c_int,
            flags: c_int,
            fd: c_int,
            off: c_long,
        ) -> *mut c_void;
        fn munmap(addr: *mut c_void, len: usize) -> c_int;
    }

    // Linux's values, the same on every architecture it runs this on.
    const PROT_READ_WRITE: c_int = 0x1 | 0x2;
    const MAP_PRIVATE_ANONYMOUS: c_int = 0x02 | 0x20;
    const MAP_FIXED_NOREPLACE: c_int = 0x10_0000;
    const PAGE: usize = 4096;

    pub fn map_unloaded_template() {
        let start = core::ptr::addr_of!(_percpu_start) as usize;
        let end = start + crate::percpu_area_size();
        let mut page = start & !(PAGE - 1);
        while page < end {
            // SAFETY: `MAP_FIXED_NOREPLACE` maps only where nothing is
            // mapped (it fails with `EEXIST` on a page in use), so no
            // memory anyone uses changes.
            unsafe {
                let got = mmap(
                    page as *mut c_void,
                    PAGE,
                    PROT_READ_WRITE,
                    MAP_PRIVATE_ANONYMOUS | MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                );
                // A kernel older than 4.17 takes the address as a hint and
                // maps elsewhere: not the page asked for, so give it back.
                if got as isize != -1 && got as usize != page {
                    munmap(got, PAGE);
                }
            }
            page += PAGE;
        }
    }
}
