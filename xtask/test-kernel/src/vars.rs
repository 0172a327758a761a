//! The per-CPU variables under test.
//!
//! `BIG` is declared first so that it comes first in `.percpu` (this module
//! is one codegen unit: the profile sets `codegen-units = 1`), pushing every
//! other variable past offset 0x10000; `checks` verifies that at run time.

use percpu::def_percpu;

/// Length of [`BIG`]: more than 64 KiB.
pub const BIG_LEN: usize = 0x11000;
/// Every byte of [`BIG`] starts as this.
pub const BIG_INIT: u8 = 0x5A;

#[def_percpu]
pub static BIG: [u8; BIG_LEN] = [BIG_INIT; BIG_LEN];

#[def_percpu]
pub static BOOL: bool = true;
#[def_percpu]
pub static U8: u8 = 0xA5;
#[def_percpu]
pub static U16: u16 = 0xBEEF;
#[def_percpu]
pub static U32: u32 = 0xDEAD_BEEF;
#[def_percpu]
pub static U64: u64 = 0x0123_4567_89AB_CDEF;
#[def_percpu]
pub static USIZE: usize = usize::MAX / 3;
#[def_percpu]
pub static I8: i8 = -100;
#[def_percpu]
pub static I16: i16 = -12345;
#[def_percpu]
pub static I32: i32 = -1_234_567_890;
#[def_percpu]
pub static I64: i64 = -0x0123_4567_89AB_CDEF;
#[def_percpu]
pub static ISIZE: isize = isize::MIN + 77;
#[def_percpu]
pub static PTR: *mut u32 = core::ptr::null_mut();
#[def_percpu]
pub static CONST_PTR: *const u8 = core::ptr::null();

/// A struct per CPU: reached through `with_current`, `current_ref`, `remote_ptr`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(C)]
pub struct Record {
    /// Owner CPU, written by each CPU.
    pub id: usize,
    /// A 64-bit field, so that the struct is 8-byte aligned on every target.
    pub hits: u64,
    /// A flag.
    pub flag: bool,
    /// A byte string.
    pub name: [u8; 8],
    /// A signed field.
    pub small: i16,
}

/// Initial value of [`RECORD`].
pub const RECORD_INIT: Record = Record {
    id: usize::MAX,
    hits: 0x1122_3344_5566_7788,
    flag: true,
    name: *b"percpu!!",
    small: -3,
};

#[def_percpu]
pub static RECORD: Record = RECORD_INIT;

#[def_percpu]
pub static CPU_ID: usize = usize::MAX;
#[def_percpu]
pub static ADD_COUNTER: u64 = 0;
// `static mut`, as some 0.4 kernels declare their per-CPU state: the `mut`
// means nothing, and every check below runs on it like on the others.
#[def_percpu]
pub static mut WITH_COUNTER: u64 = 0;

/// Times this CPU disabled preemption (counted by the `KernelGuardIf` impl).
#[cfg(feature = "preempt")]
#[def_percpu]
pub static GUARD_ENTERS: usize = 0;
/// Times this CPU re-enabled preemption.
#[cfg(feature = "preempt")]
#[def_percpu]
pub static GUARD_LEAVES: usize = 0;

/// Aligned beyond the default 64 bytes: it links only with the script the
/// `wide-areas` feature renders (`--align 256`).
#[cfg(feature = "wide-areas")]
#[repr(C, align(256))]
pub struct Wide(pub [u8; 3]);
/// A variable of [`Wide`], which every CPU's copy must keep aligned.
#[cfg(feature = "wide-areas")]
#[def_percpu]
pub static WIDE: Wide = Wide([1, 2, 3]);

/// Calls `$m!(NAME)` for every variable.
macro_rules! for_each_var {
    ($m:ident) => {
        $m!(BIG);
        $m!(BOOL);
        $m!(U8);
        $m!(U16);
        $m!(U32);
        $m!(U64);
        $m!(USIZE);
        $m!(I8);
        $m!(I16);
        $m!(I32);
        $m!(I64);
        $m!(ISIZE);
        $m!(PTR);
        $m!(CONST_PTR);
        $m!(RECORD);
        $m!(CPU_ID);
        $m!(ADD_COUNTER);
        $m!(WITH_COUNTER);
        #[cfg(feature = "preempt")]
        {
            $m!(GUARD_ENTERS);
            $m!(GUARD_LEAVES);
        }
        #[cfg(feature = "wide-areas")]
        $m!(WIDE);
    };
}
pub(crate) use for_each_var;

/// Prints `OFFSET <NAME> 0x<hex>` for every variable, for the runner to
/// compare with `cargo percpu inspect`.
pub fn print_offsets() {
    macro_rules! print_offset {
        ($name:ident) => {
            let mut offset = $name.offset();
            if crate::injected("wrong-offset") && stringify!($name) == "U8" {
                offset += 1;
            }
            println!("OFFSET {} {:#x}", stringify!($name), offset);
        };
    }
    for_each_var!(print_offset);
}
