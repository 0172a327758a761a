//! `sp-naive`: a per-CPU static is a plain global; its "offset" is its
//! address and the register reads 0, so that base + offset (0 + address)
//! is the static itself. It stands in for the register of every
//! architecture, and for the whole contract of one percpu has no file for.

/// The stand-in architecture (`super::Arch`).
pub(crate) struct Target;

impl super::Arch for Target {
    /// There is no register: every area base is 0.
    #[inline(always)]
    fn read_percpu_reg() -> usize {
        0
    }

    /// There is no register to set.
    #[inline(always)]
    unsafe fn write_percpu_reg(_base: usize) {}

    type IrqSave = kernel_guard::IrqSave;
}
