//! percpu 0.4.0's public API, each item at its exact 0.4.0 type: a
//! changed parameter or return type fails to compile here. `cargo
//! semver-checks` (`cargo xtask ci`) sees removed items and changed
//! parameter counts, not a `usize` that became a `u32`.

mod common;

use core::alloc::Layout;

use percpu::InitError;

#[percpu::def_percpu]
static VALUE: u32 = 7;

#[test]
fn the_free_functions_have_0_4s_types() {
    let _: fn() -> usize = percpu::percpu_area_num;
    let _: fn() -> usize = percpu::percpu_area_size;
    let _: fn(usize) -> Layout = percpu::percpu_area_layout_expected;
    let _: fn(usize) -> usize = percpu::percpu_area_base;
    let _: fn() -> Result<usize, InitError> = percpu::init_in_place;
    let _: fn(*mut u8, usize) -> Result<usize, InitError> = percpu::init;
    let _: fn() -> usize = percpu::read_percpu_reg;
    let _: unsafe fn(usize) = percpu::write_percpu_reg;
    let _: fn(usize) = percpu::init_percpu_reg;
}

/// The two variants and the traits 0.4.0's `InitError` has.
#[test]
fn init_error_is_0_4s() {
    fn traits<E>(_: E)
    where
        E: core::error::Error + Clone + Copy + PartialEq + Eq + core::hash::Hash + Send + Sync,
    {
    }
    for err in [InitError::InvalidBase, InitError::UnalignedBase] {
        traits(err);
        // Exhaustive, as a 0.4 kernel may match it.
        match err {
            InitError::InvalidBase | InitError::UnalignedBase => {}
        }
    }
}

/// The methods 0.4.0's macro gave a static, by their types; they are not
/// called, so nothing needs initialised areas.
#[test]
fn a_static_has_0_4s_methods() {
    let _: fn() -> u32 = || VALUE.read_current();
    let _: fn(u32) = |v| VALUE.write_current(v);
    let _: fn() -> usize = || VALUE.symbol_vma();
    let _: fn() -> usize = || VALUE.offset();
    let _: fn() = || VALUE.reset_to_init();
    let _: fn() -> u32 = || VALUE.with_current(|v: &mut u32| *v);
    // SAFETY (all of these): never called.
    let _: unsafe fn() -> u32 = || unsafe { VALUE.read_current_raw() };
    let _: unsafe fn(u32) = |v| unsafe { VALUE.write_current_raw(v) };
    let _: unsafe fn() -> *const u32 = || unsafe { VALUE.current_ptr() };
    let _: unsafe fn() -> &'static u32 = || unsafe { VALUE.current_ref_raw() };
    let _: unsafe fn() -> &'static mut u32 = || unsafe { VALUE.current_ref_mut_raw() };
    let _: unsafe fn(usize) -> *const u32 = |cpu| unsafe { VALUE.remote_ptr(cpu) };
    let _: unsafe fn(usize) -> &'static u32 = |cpu| unsafe { VALUE.remote_ref_raw(cpu) };
    let _: unsafe fn(usize) -> &'static mut u32 = |cpu| unsafe { VALUE.remote_ref_mut_raw(cpu) };
}

// Types with elided lifetimes, which 0.4.0's macro accepts: in a static,
// `&T` is `&'static T` and `'_` is `'static`.
#[percpu::def_percpu]
static NAME: &str = "boot";
#[percpu::def_percpu]
static HANDLER: Option<&(dyn Fn() -> u32 + Send + Sync)> = None;
#[percpu::def_percpu]
static PARSE: Option<fn(&str) -> &str> = None;
#[percpu::def_percpu]
static WORDS: [Option<&'_ [u8]>; 2] = [None, Some(b"ab")];

#[test]
fn statics_with_elided_lifetimes_work() {
    let _serial = common::on_cpu(0);
    assert_eq!(NAME.with_current(|name| *name), "boot");
    NAME.with_current(|name| *name = "late");
    fn seven() -> u32 {
        7
    }
    HANDLER.with_current(|h| *h = Some(&seven));
    assert_eq!(HANDLER.with_current(|h| h.map(|f| f())), Some(7));
    PARSE.with_current(|p| *p = Some(|s| s.trim()));
    assert_eq!(PARSE.with_current(|p| p.map(|f| f(" x "))), Some("x"));
    assert_eq!(WORDS.with_current(|w| w[1]), Some(&b"ab"[..]));
    NAME.with_current(|name| assert_eq!(*name, "late"));
}
