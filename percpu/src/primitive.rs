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
/// Sealed: the access code moves the value through a general-purpose
/// register as an integer of the same width, which is only sound for these
/// types.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no single-access fast path: it is not a per-CPU primitive",
    label = "`read_current`, `write_current` and the read-modify-write set need `bool`, an integer or a raw pointer",
    note = "reach other types through `with_current`, `current_ref` or `current_ptr`"
)]
pub trait PerCpuPrimitive: Copy + sealed::Sealed + 'static {
    /// The value in a 32-bit register, extended as the ABIs extend its type
    /// (so converting an argument costs nothing); for 8-byte types, the low
    /// half (never used: they take the 64-bit form).
    #[doc(hidden)]
    fn __to_reg32(self) -> u32;
    /// The value in a full register, extended as the 64-bit ABIs (RISC-V,
    /// LoongArch) extend its type: 32-bit values sign-extended.
    #[doc(hidden)]
    fn __to_reg(self) -> usize;
    /// The value in the low bits of `reg`.
    ///
    /// # Safety
    /// Those bits must be a valid `Self` (they are for a value read back
    /// from a variable of type `Self`).
    #[doc(hidden)]
    unsafe fn __from_reg(reg: usize) -> Self;
}

/// An integer: also gets `add_current`, `sub_current` (wrapping),
/// `and_current`, `or_current`, `xor_current`, `xchg_current` and
/// `cmpxchg_current`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no per-CPU arithmetic: it is not an integer",
    label = "the read-modify-write set needs an integer type",
    note = "`bool` and raw pointers have `read_current` and `write_current` only"
)]
pub trait PerCpuInteger: PerCpuPrimitive + Eq {
    /// `self OP rhs` for the operation codes of `crate::ops`, wrapping.
    #[doc(hidden)]
    fn __apply<const OP: u8>(self, rhs: Self) -> Self;
}

/// The read-modify-write operation codes: the const parameter of
/// `Location::rmw`, and in the assembly templates the `{op}` that picks
/// the instruction.
#[doc(hidden)]
pub mod ops {
    /// Wrapping addition.
    pub const ADD: u8 = 0;
    /// Wrapping subtraction.
    pub const SUB: u8 = 1;
    /// Bitwise and.
    pub const AND: u8 = 2;
    /// Bitwise or.
    pub const OR: u8 = 3;
    /// Bitwise exclusive or.
    pub const XOR: u8 = 4;
}

macro_rules! integers {
    ($($t:ty => $signed:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl PerCpuPrimitive for $t {
            #[inline(always)]
            fn __to_reg32(self) -> u32 {
                // Through the signed type of the same width: sign-extended
                // for signed types, zero-extended for unsigned ones.
                self as $signed as i32 as u32
            }
            #[inline(always)]
            fn __to_reg(self) -> usize {
                if core::mem::size_of::<$t>() == 4 {
                    // 64-bit RISC-V and LoongArch keep every 32-bit value
                    // sign-extended.
                    self as i32 as isize as usize
                } else {
                    self as $signed as isize as usize
                }
            }
            #[inline(always)]
            unsafe fn __from_reg(reg: usize) -> Self {
                reg as $t
            }
        }
        impl PerCpuInteger for $t {
            #[inline(always)]
            fn __apply<const OP: u8>(self, rhs: Self) -> Self {
                match OP {
                    ops::ADD => self.wrapping_add(rhs),
                    ops::SUB => self.wrapping_sub(rhs),
                    ops::AND => self & rhs,
                    ops::OR => self | rhs,
                    _ => self ^ rhs,
                }
            }
        }
    )*};
}

// Each unsigned type goes through itself: `u8 as u8 as i32` zero-extends.
integers!(
    u8 => u8, u16 => u16, u32 => i32, u64 => i64, usize => isize,
    i8 => i8, i16 => i16, i32 => i32, i64 => i64, isize => isize
);

impl sealed::Sealed for bool {}
impl PerCpuPrimitive for bool {
    #[inline(always)]
    fn __to_reg32(self) -> u32 {
        self as u32
    }
    #[inline(always)]
    fn __to_reg(self) -> usize {
        self as usize
    }
    #[inline(always)]
    unsafe fn __from_reg(reg: usize) -> Self {
        // SAFETY: the caller passes a byte read from a `bool`: 0 or 1. Not
        // `!= 0`, which would cost a compare on every read.
        #[allow(clippy::transmute_int_to_bool)]
        unsafe {
            core::mem::transmute::<u8, bool>(reg as u8)
        }
    }
}

macro_rules! pointers {
    ($($ptr:ty),*) => {$(
        impl<T: 'static> sealed::Sealed for $ptr {}
        impl<T: 'static> PerCpuPrimitive for $ptr {
            #[inline(always)]
            fn __to_reg32(self) -> u32 {
                self as usize as u32
            }
            #[inline(always)]
            fn __to_reg(self) -> usize {
                self as usize
            }
            #[inline(always)]
            unsafe fn __from_reg(reg: usize) -> Self {
                reg as $ptr
            }
        }
    )*};
}

pointers!(*const T, *mut T);
