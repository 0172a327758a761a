//! What the code that `#[def_percpu]` generates calls. Not public API.

pub use crate::arch::OpGuard;
pub use crate::guard::NoPreempt;
pub use kernel_guard::NoPreemptIrqSave;

#[cfg(all(target_arch = "x86_64", not(feature = "sp-naive")))]
pub use crate::arch::__PERCPU_SELF_PTR;
pub use crate::area::remote_area_base;

/// The read-modify-write operations of the generic (pointer) access path.
pub mod rmw {
    use crate::PerCpuInteger;

    #[inline(always)]
    pub fn add<T: PerCpuInteger>(a: T, b: T) -> T {
        a.__wrapping_add(b)
    }
    #[inline(always)]
    pub fn sub<T: PerCpuInteger>(a: T, b: T) -> T {
        a.__wrapping_sub(b)
    }
    #[inline(always)]
    pub fn and<T: PerCpuInteger>(a: T, b: T) -> T {
        a.__and(b)
    }
    #[inline(always)]
    pub fn or<T: PerCpuInteger>(a: T, b: T) -> T {
        a.__or(b)
    }
    #[inline(always)]
    pub fn xor<T: PerCpuInteger>(a: T, b: T) -> T {
        a.__xor(b)
    }
}

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

/// Reinterprets a primitive as the unsigned integer of its width (or back).
///
/// # Safety
/// `A` and `B` have the same size and every bit pattern of `A` that occurs
/// is valid for `B` (true between a `PerCpuPrimitive` and its own width).
#[inline(always)]
pub unsafe fn bits<A: Copy, B: Copy>(a: A) -> B {
    debug_assert!(core::mem::size_of::<A>() == core::mem::size_of::<B>());
    // SAFETY: sizes are equal and the caller vouches for validity.
    unsafe { core::mem::transmute_copy(&a) }
}

/// Reached only for a width that no `PerCpuPrimitive` has.
#[cold]
#[inline(never)]
pub fn unsupported_width() -> ! {
    panic!("percpu: no access sequence for this width")
}

/// Debug-build tracking of borrows of one variable on one CPU: the flag is
/// 0 when free, `usize::MAX` while `&mut` is out, else the number of `&`.
pub struct DebugBorrow {
    flag: *mut usize,
}

const EXCLUSIVE: usize = usize::MAX;

impl DebugBorrow {
    /// Tracks nothing (release builds).
    #[inline(always)]
    pub fn none() -> Self {
        Self {
            flag: core::ptr::null_mut(),
        }
    }

    /// Marks the variable borrowed mutably on this CPU.
    ///
    /// # Safety
    /// `flag` is this CPU's borrow flag of the variable.
    #[inline]
    #[track_caller]
    pub unsafe fn exclusive(flag: *mut usize, name: &'static str) -> Self {
        // SAFETY: the caller passes this CPU's flag with preemption off.
        let state = unsafe { flag.read_volatile() };
        if state != 0 {
            already_borrowed(name, state == EXCLUSIVE);
        }
        unsafe { flag.write_volatile(EXCLUSIVE) };
        Self { flag }
    }

    /// Marks the variable borrowed shared on this CPU.
    ///
    /// # Safety
    /// `flag` is this CPU's borrow flag of the variable.
    #[inline]
    #[track_caller]
    pub unsafe fn shared(flag: *mut usize, name: &'static str) -> Self {
        // SAFETY: the caller passes this CPU's flag with preemption off.
        let state = unsafe { flag.read_volatile() };
        if state == EXCLUSIVE {
            already_borrowed(name, true);
        }
        unsafe { flag.write_volatile(state + 1) };
        Self { flag }
    }
}

impl Drop for DebugBorrow {
    #[inline]
    fn drop(&mut self) {
        if self.flag.is_null() {
            return;
        }
        // SAFETY: `flag` was valid when taken and we are on the same CPU
        // (the borrow lives inside a guard that disables preemption).
        unsafe {
            let state = self.flag.read_volatile();
            self.flag
                .write_volatile(if state == EXCLUSIVE { 0 } else { state - 1 });
        }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn already_borrowed(name: &str, mutably: bool) -> ! {
    if mutably {
        panic!(
            "per-CPU variable `{name}` is already borrowed mutably on this CPU \
             (nested `with_current`, or an interrupt handler inside one): a second access would alias its `&mut`"
        )
    } else {
        panic!(
            "per-CPU variable `{name}` is borrowed shared on this CPU (`current_ref`): \
             a `&mut` now would alias it"
        )
    }
}
