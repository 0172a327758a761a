//! With `preempt`, a kernel on the 0.2 line implements `kernel_guard` 0.1's
//! `KernelGuardIf`; the runtime's guards must reach that implementation.
//!
//! On bare metal the runtime's guard (`percpu/src/guard.rs`) is one call,
//! `crate_interface` 0.3's `call_interface!` of `kernel_guard` 0.2's
//! `KernelGuardIf`; off bare metal it does nothing, as `kernel_guard` 0.1's
//! guards did. Here that very call runs against a counting 0.1
//! implementation: it links and counts only if both versions name the
//! methods alike (`__KernelGuardIf_disable_preempt`; crate_interface 0.1
//! and 0.3 both use `__{trait}_{method}` without a namespace).
//! `cargo xtask asm-report` shows the bare-metal guard calls in the 0.2
//! columns' `preempt` listings.

use std::sync::atomic::{AtomicUsize, Ordering};

static DISABLED: AtomicUsize = AtomicUsize::new(0);
static ENABLED: AtomicUsize = AtomicUsize::new(0);

struct Counting;

#[crate_interface::impl_interface]
impl kernel_guard::KernelGuardIf for Counting {
    fn disable_preempt() {
        DISABLED.fetch_add(1, Ordering::SeqCst);
    }

    fn enable_preempt() {
        ENABLED.fetch_add(1, Ordering::SeqCst);
    }
}

/// The runtime's guard on bare metal, verbatim: what `NoPreempt::new` and
/// its `drop` call.
fn runtime_guard<R>(f: impl FnOnce() -> R) -> R {
    crate_interface03::call_interface!(kernel_guard02::KernelGuardIf::disable_preempt);
    let r = f();
    crate_interface03::call_interface!(kernel_guard02::KernelGuardIf::enable_preempt);
    r
}

#[percpu::def_percpu]
static VALUE: usize = 1;

fn counts() -> (usize, usize) {
    (
        DISABLED.load(Ordering::SeqCst),
        ENABLED.load(Ordering::SeqCst),
    )
}

#[test]
fn the_kernels_kernel_guard_0_1_is_what_the_runtime_calls() {
    assert_eq!(counts(), (0, 0));
    let inside = runtime_guard(|| {
        assert_eq!(counts(), (1, 0), "not disabled while the guard lives");
        percpu::init();
        percpu::init_percpu_reg(0);
        VALUE.with_current(|v| *v += 1);
        counts()
    });
    // In user space the runtime's own guards stay no-ops, as 0.2's were.
    assert_eq!(inside, (1, 0));
    assert_eq!(counts(), (1, 1));
    assert_eq!(VALUE.read_current(), 2);
}
