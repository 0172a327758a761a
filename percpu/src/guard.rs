//! The guard of the per-CPU accesses that must not migrate halfway.
//!
//! It keeps `kernel_guard::NoPreempt`'s contract (with `preempt` on bare
//! metal it calls the kernel's `KernelGuardIf`, elsewhere it does nothing)
//! but calls the interface directly from inlined code: `kernel_guard`'s own
//! guard adds an out-of-line `new` and a `drop` that takes `&mut self`,
//! an instruction or two on every guarded access.

/// Disables preemption from `new` until it is dropped.
#[must_use = "preemption is enabled again as soon as the guard is dropped"]
pub struct NoPreempt {
    _private: (),
}

impl NoPreempt {
    /// Disables preemption (with `preempt` on bare metal).
    #[inline(always)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        #[cfg(all(feature = "preempt", target_os = "none"))]
        crate_interface::call_interface!(kernel_guard::KernelGuardIf::disable_preempt);
        Self { _private: () }
    }
}

impl Drop for NoPreempt {
    #[inline(always)]
    fn drop(&mut self) {
        #[cfg(all(feature = "preempt", target_os = "none"))]
        crate_interface::call_interface!(kernel_guard::KernelGuardIf::enable_preempt);
    }
}
