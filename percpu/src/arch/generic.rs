//! The pointer access path: `__percpu_current_ptr!` then an ordinary load
//! or store, which the compiler folds into the addressing mode (AArch64's
//! and ARM's register-offset loads need nothing more). Used by the targets
//! without `percpu_fused_access`, and by fused targets for widths their
//! registers lack (64-bit values on 32-bit RISC-V).

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_ptr_read {
    ($sym:path, $T:ty) => {
        ::core::ptr::read($crate::__percpu_current_ptr!($sym) as *const $T)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_ptr_write {
    ($sym:path, $T:ty, $val:expr) => {
        ::core::ptr::write($crate::__percpu_current_ptr!($sym) as *mut $T, $val)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_ptr_rmw {
    ($op:ident, $sym:path, $T:ty, $val:expr) => {{
        let ptr = $crate::__percpu_current_ptr!($sym) as *mut $T;
        ptr.write($crate::__priv::rmw::$op(ptr.read(), $val))
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_ptr_xchg {
    ($sym:path, $T:ty, $val:expr) => {
        ::core::ptr::replace($crate::__percpu_current_ptr!($sym) as *mut $T, $val)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_ptr_cmpxchg {
    ($sym:path, $T:ty, $old:expr, $new:expr) => {{
        let ptr = $crate::__percpu_current_ptr!($sym) as *mut $T;
        let current = ptr.read();
        if current == $old {
            ptr.write($new);
        }
        current
    }};
}

#[cfg(not(percpu_fused_access))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_read {
    ($($args:tt)*) => { $crate::__percpu_ptr_read!($($args)*) };
}

#[cfg(not(percpu_fused_access))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_write {
    ($($args:tt)*) => { $crate::__percpu_ptr_write!($($args)*) };
}

#[cfg(not(percpu_fused_access))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rmw {
    ($($args:tt)*) => { $crate::__percpu_ptr_rmw!($($args)*) };
}

#[cfg(not(percpu_fused_access))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_xchg {
    ($($args:tt)*) => { $crate::__percpu_ptr_xchg!($($args)*) };
}

#[cfg(not(percpu_fused_access))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_cmpxchg {
    ($($args:tt)*) => { $crate::__percpu_ptr_cmpxchg!($($args)*) };
}
