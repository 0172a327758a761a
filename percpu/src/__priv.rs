//! What the code that `#[def_percpu]` generates calls. Not public API.

pub use crate::arch::generic as ptr;
pub use crate::arch::OpGuard;
pub use crate::guard::NoPreempt;
pub use crate::guard::{IrqSave, NoPreemptIrqSave};
pub use crate::location::{Location, StaticLocation};

#[cfg(percpu_access = "segment")]
pub use crate::arch::cpu::__PERCPU_SELF_PTR;
pub use crate::area::remote_area_base;

/// A guard that does nothing: for operations that are a single instruction,
/// which neither preemption nor an interrupt can split.
pub struct NoGuard;

#[allow(clippy::new_without_default)]
impl NoGuard {
    /// Takes nothing.
    #[inline(always)]
    pub fn new() -> Self {
        NoGuard
    }
}
