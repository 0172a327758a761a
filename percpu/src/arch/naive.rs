//! `sp-naive`: a per-CPU static is a plain global; its "offset" is its
//! address, so that `percpu_area_base(0) + offset` (0 + address) holds.

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_symbol_vma {
    ($sym:path) => {{
        #[allow(unused_unsafe)]
        let addr = unsafe { ::core::ptr::addr_of!($sym) } as usize;
        addr
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_offset {
    ($sym:path) => {
        $crate::__percpu_symbol_vma!($sym)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_current_ptr {
    ($sym:path) => {
        $crate::__percpu_symbol_vma!($sym)
    };
}
