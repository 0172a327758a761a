//! The codegen fixture of `cargo xtask asm-report`.
//!
//! Each exported function does exactly one operation on one per-CPU
//! variable, so its disassembly is that operation's instruction sequence
//! (plus the return and whatever frame the target adds to every function,
//! which the report does not count). Names are `<operation>_<type>`.

#![no_std]
#![deny(missing_docs)]

use core::panic::PanicInfo;

use percpu::{PerCpuBox, PerCpuCounter};

/// Never reached by the measured functions; the crate must have one.
#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// A 3-word struct: accessed through pointers, not with one load.
#[derive(Clone, Copy)]
pub struct Triple {
    /// First word (the one `with_current` increments).
    pub a: usize,
    /// Second word.
    pub b: usize,
    /// Third word.
    pub c: usize,
}

#[percpu::def_percpu]
static VAR_USIZE: usize = 1;
#[percpu::def_percpu]
static VAR_U8: u8 = 1;
#[percpu::def_percpu]
static VAR_I32: i32 = 1;
#[percpu::def_percpu]
static VAR_TRIPLE: Triple = Triple { a: 1, b: 2, c: 3 };

/// The operations every type has: `with_current`, `current_ptr`, `remote_ptr`.
macro_rules! pointer_ops {
    ($var:ident, $ty:ty, $with:ident, $ptr:ident, $remote:ident, |$v:ident| $incr:expr) => {
        /// `with_current(|v| increment v)`.
        #[no_mangle]
        pub extern "C" fn $with() {
            $var.with_current(|$v| $incr)
        }

        /// `current_ptr()`.
        #[no_mangle]
        pub extern "C" fn $ptr() -> *const $ty {
            // SAFETY: only computes the address; nothing dereferences it.
            unsafe { $var.current_ptr() }
        }

        /// `remote_ptr(cpu)`.
        #[no_mangle]
        pub extern "C" fn $remote(cpu: usize) -> *const $ty {
            // SAFETY: only computes the address; nothing dereferences it.
            unsafe { $var.remote_ptr(cpu) }
        }
    };
}

/// The primitive operations: `read_current`, `write_current`, `add_current`.
macro_rules! primitive_ops {
    ($var:ident, $ty:ty, $read:ident, $write:ident, $add:ident) => {
        /// `read_current()`.
        #[no_mangle]
        pub extern "C" fn $read() -> $ty {
            $var.read_current()
        }

        /// `write_current(v)`.
        #[no_mangle]
        pub extern "C" fn $write(v: $ty) {
            $var.write_current(v)
        }

        /// `add_current(v)`.
        #[no_mangle]
        pub extern "C" fn $add(v: $ty) {
            $var.add_current(v)
        }
    };
}

primitive_ops!(
    VAR_USIZE,
    usize,
    read_current_usize,
    write_current_usize,
    add_current_usize
);
primitive_ops!(
    VAR_U8,
    u8,
    read_current_u8,
    write_current_u8,
    add_current_u8
);
primitive_ops!(
    VAR_I32,
    i32,
    read_current_i32,
    write_current_i32,
    add_current_i32
);

pointer_ops!(
    VAR_USIZE,
    usize,
    with_current_usize,
    current_ptr_usize,
    remote_ptr_usize,
    |v| *v += 1
);
pointer_ops!(
    VAR_U8,
    u8,
    with_current_u8,
    current_ptr_u8,
    remote_ptr_u8,
    |v| *v += 1
);
pointer_ops!(
    VAR_I32,
    i32,
    with_current_i32,
    current_ptr_i32,
    remote_ptr_i32,
    |v| *v += 1
);
pointer_ops!(
    VAR_TRIPLE,
    Triple,
    with_current_triple,
    current_ptr_triple,
    remote_ptr_triple,
    |v| v.a += 1
);

percpu::def_percpu_counter!(static COUNTER);

/// The run-time allocations: a box is reached through its handle, which
/// holds the offset.
macro_rules! box_ops {
    ($ty:ty, $read:ident, $write:ident, $add:ident) => {
        /// `PerCpuBox::read_current()`.
        #[no_mangle]
        #[allow(improper_ctypes_definitions)]
        pub extern "C" fn $read(b: &PerCpuBox<$ty>) -> $ty {
            b.read_current()
        }

        /// `PerCpuBox::write_current(v)`.
        #[no_mangle]
        #[allow(improper_ctypes_definitions)]
        pub extern "C" fn $write(b: &PerCpuBox<$ty>, v: $ty) {
            b.write_current(v)
        }

        /// `PerCpuBox::add_current(v)`.
        #[no_mangle]
        #[allow(improper_ctypes_definitions)]
        pub extern "C" fn $add(b: &PerCpuBox<$ty>, v: $ty) {
            b.add_current(v)
        }
    };
}

// `i32`, whose code differs from the counter's: identical functions would
// be merged into one symbol.
box_ops!(
    i32,
    box_read_current_i32,
    box_write_current_i32,
    box_add_current_i32
);

/// `PerCpuCounter::add(v)` on a `def_percpu_counter!` static.
#[no_mangle]
pub extern "C" fn counter_add_static(v: i64) {
    COUNTER.add(v)
}

/// `PerCpuCounter::add(v)` on a run-time counter.
#[no_mangle]
#[allow(improper_ctypes_definitions)]
pub extern "C" fn counter_add_box(c: &PerCpuCounter, v: i64) {
    c.add(v)
}

/// What a kernel provides for `preempt`: a preemption-disable count. Kept
/// in this crate, so the guard calls in the measured functions are the real
/// out-of-line calls into `kernel_guard` that a kernel pays.
#[cfg(feature = "preempt")]
mod guard {
    use core::sync::atomic::{AtomicUsize, Ordering};
    use percpu::kernel_guard::KernelGuardIf;

    static PREEMPT_DISABLED: AtomicUsize = AtomicUsize::new(0);

    struct Guard;

    #[crate_interface::impl_interface]
    impl KernelGuardIf for Guard {
        fn disable_preempt() {
            preempt_off();
        }

        fn enable_preempt() {
            preempt_on();
        }
    }

    // Out of line, as a kernel's scheduler is: what is measured is the call,
    // not the body of this stand-in, which would otherwise be inlined here.
    #[inline(never)]
    fn preempt_off() {
        PREEMPT_DISABLED.fetch_add(1, Ordering::Relaxed);
    }

    #[inline(never)]
    fn preempt_on() {
        PREEMPT_DISABLED.fetch_sub(1, Ordering::Relaxed);
    }
}
