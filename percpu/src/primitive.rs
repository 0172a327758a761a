//! The types that get the single-access fast path.
//!
//! The methods `read_current`, `write_current` (and for integers the
//! read-modify-write set) exist when the variable's type implements these
//! traits, whatever it is spelled as: `u32`, `core::primitive::u32` or an
//! alias of either.

mod sealed {
    pub trait Sealed {}
}

/// A type that one load or store of its width moves: `bool`, the integers
/// up to 64 bits, and raw pointers.
///
/// Sealed: the access code reinterprets the value as an unsigned integer of
/// the same width, which is only sound for these types.
pub trait PerCpuPrimitive: Copy + sealed::Sealed + 'static {}

/// An integer: also gets `add_current`, `sub_current` (wrapping),
/// `and_current`, `or_current`, `xor_current`, `xchg_current` and
/// `cmpxchg_current`.
pub trait PerCpuInteger: PerCpuPrimitive + Eq {
    #[doc(hidden)]
    fn __wrapping_add(self, rhs: Self) -> Self;
    #[doc(hidden)]
    fn __wrapping_sub(self, rhs: Self) -> Self;
    #[doc(hidden)]
    fn __and(self, rhs: Self) -> Self;
    #[doc(hidden)]
    fn __or(self, rhs: Self) -> Self;
    #[doc(hidden)]
    fn __xor(self, rhs: Self) -> Self;
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl PerCpuPrimitive for $t {}
        impl PerCpuInteger for $t {
            #[inline(always)]
            fn __wrapping_add(self, rhs: Self) -> Self { self.wrapping_add(rhs) }
            #[inline(always)]
            fn __wrapping_sub(self, rhs: Self) -> Self { self.wrapping_sub(rhs) }
            #[inline(always)]
            fn __and(self, rhs: Self) -> Self { self & rhs }
            #[inline(always)]
            fn __or(self, rhs: Self) -> Self { self | rhs }
            #[inline(always)]
            fn __xor(self, rhs: Self) -> Self { self ^ rhs }
        }
    )*};
}

integers!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl sealed::Sealed for bool {}
impl PerCpuPrimitive for bool {}
impl<T: 'static> sealed::Sealed for *const T {}
impl<T: 'static> PerCpuPrimitive for *const T {}
impl<T: 'static> sealed::Sealed for *mut T {}
impl<T: 'static> PerCpuPrimitive for *mut T {}
