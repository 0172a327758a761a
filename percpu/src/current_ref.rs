use core::marker::PhantomData;
use core::ops::Deref;

use crate::__priv::NoPreempt;
use crate::debug_borrow::DebugBorrow;

/// A shared reference to the current CPU's copy of a per-CPU static, from
/// `X.current_ref()`. Preemption stays disabled while it lives, so the copy
/// stays the current CPU's; it cannot be sent to another thread.
pub struct CurrentRef<'a, T> {
    value: &'a T,
    _borrow: DebugBorrow,
    _guard: NoPreempt,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T> CurrentRef<'a, T> {
    /// # Safety
    /// `value` must be the current CPU's copy, and `guard` must keep it so.
    #[doc(hidden)]
    #[inline(always)]
    pub unsafe fn new(value: &'a T, guard: NoPreempt, borrow: DebugBorrow) -> Self {
        Self {
            value,
            _borrow: borrow,
            _guard: guard,
            _not_send: PhantomData,
        }
    }
}

impl<T> Deref for CurrentRef<'_, T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        self.value
    }
}
