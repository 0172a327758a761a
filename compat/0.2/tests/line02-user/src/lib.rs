//! Per-CPU statics and calls as a crate on the 0.2 line writes them (the
//! shapes axvisor's graph uses: `static mut`, a generic type, a static in a
//! function body, statics declared through a `macro_rules!` that forwards
//! doc comments and `#[cfg]`).

#![no_std]

use core::marker::PhantomData;

/// A generic per-CPU type.
pub struct Tagged<T> {
    /// The value.
    pub value: usize,
    _tag: PhantomData<T>,
}

impl<T> Tagged<T> {
    const fn new(value: usize) -> Self {
        Self {
            value,
            _tag: PhantomData,
        }
    }
}

/// A 0.2 static with an initial value that every area must get.
#[percpu::def_percpu]
pub static LINE02_ID: usize = 0x0202;

/// A `static mut`, which the 0.2 line accepts.
#[percpu::def_percpu]
pub static mut LINE02_MUT: u32 = 0;

/// A generic type.
#[percpu::def_percpu]
pub static LINE02_GENERIC: Tagged<u8> = Tagged::new(0x22);

/// A type with elided lifetimes, as a static may have (arm_vcpu's
/// `IRQ_HANDLER`).
#[percpu::def_percpu]
pub static LINE02_HANDLER: core::cell::OnceCell<&(dyn Fn() -> usize + Send + Sync)> =
    core::cell::OnceCell::new();

/// `&str`: `&'static str`, elided.
#[percpu::def_percpu]
pub static LINE02_NAME: &str = "line02";

macro_rules! declare {
    ($($(#[$attr:meta])* $vis:vis static $name:ident: $ty:ty = $init:expr;)*) => {
        $(
            $(#[$attr])*
            #[percpu::def_percpu]
            $vis static $name: $ty = $init;
        )*
    };
}

declare! {
    /// Declared through a `macro_rules!`, doc comment forwarded.
    #[cfg(target_os = "linux")]
    pub static LINE02_FROM_MACRO: u64 = 0x2020;
}

/// 0.2's `init()`, called from this crate: the kernel's one initialisation.
pub fn init() -> usize {
    percpu::init()
}

/// 0.2's `init_percpu_reg`.
pub fn init_percpu_reg(cpu: usize) {
    percpu::init_percpu_reg(cpu)
}

/// 0.2's `read_percpu_reg`.
pub fn read_percpu_reg() -> usize {
    percpu::read_percpu_reg()
}

/// 0.2's `percpu_area_base`, `percpu_area_num` and `percpu_area_size`.
pub fn area(cpu: usize) -> (usize, usize, usize) {
    (
        percpu::percpu_area_base(cpu),
        percpu::percpu_area_num(),
        percpu::percpu_area_size(),
    )
}

/// A per-CPU static defined in a function body, read on the current CPU.
pub fn counter_in_fn() -> usize {
    #[percpu::def_percpu]
    static CALLS: usize = 0;
    let calls = CALLS.read_current() + 1;
    CALLS.write_current(calls);
    calls
}
