//! The guards: of the per-CPU accesses that must not migrate halfway, and
//! of the ones that interrupt handlers must not split either.
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

/// Disables local interrupts from `new` until it is dropped, restoring the
/// state it found: the architecture's interrupt mask (`arch::Arch::IrqSave`):
/// `kernel_guard::IrqSave` (the supervisor-level bit on RISC-V), or
/// `mstatus.MIE` with `riscv-m-mode`. Does nothing off bare metal, as
/// `kernel_guard`'s guards.
#[must_use = "interrupts are restored as soon as the guard is dropped"]
pub struct IrqSave {
    _inner: crate::arch::LocalIrqSave,
}

impl IrqSave {
    /// Disables local interrupts (on bare metal).
    #[inline(always)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            _inner: crate::arch::IrqMask::new(),
        }
    }
}

/// Disables preemption, then local interrupts, and enables them again in
/// the reverse order when dropped: `kernel_guard::NoPreemptIrqSave`'s
/// contract, with [`IrqSave`]'s interrupt mask (so `riscv-m-mode` masks
/// machine-mode interrupts).
#[must_use = "interrupts and preemption are restored as soon as the guard is dropped"]
pub struct NoPreemptIrqSave {
    // Dropped in declaration order: interrupts first, then preemption.
    _irq: IrqSave,
    _preempt: NoPreempt,
}

impl NoPreemptIrqSave {
    /// Disables preemption and local interrupts.
    #[inline(always)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let preempt = NoPreempt::new();
        Self {
            _irq: IrqSave::new(),
            _preempt: preempt,
        }
    }
}
