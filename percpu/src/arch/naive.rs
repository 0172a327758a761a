//! `sp-naive`: a per-CPU static is a plain global; its "offset" is its
//! address, so that `percpu_area_base(0) + offset` (0 + address) holds.

// `__percpu_symbol_vma!` is the address, as with `non-zero-vma` (mod.rs).

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
