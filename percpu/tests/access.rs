//! Every method on every primitive type and on a struct, on the host.

mod common;

use common::{on_cpu, CPUS};
use core::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    hits: u64,
    tag: [u8; 5],
    ratio: f32,
}

const STATS_INIT: Stats = Stats {
    hits: 7,
    tag: *b"percp",
    ratio: 0.5,
};

/// A type alias and a fully qualified primitive: the fast path follows the
/// type, not its spelling.
type Ticks = u32;

#[percpu::def_percpu]
static BOOL: bool = true;
#[percpu::def_percpu]
static U8: u8 = 0xa1;
#[percpu::def_percpu]
static U16: u16 = 0xa2a2;
#[percpu::def_percpu]
static U32: u32 = 0xa3a3_a3a3;
#[percpu::def_percpu]
static U64: u64 = 0xa4a4_a4a4_a4a4_a4a4;
#[percpu::def_percpu]
static USIZE: usize = 0xa5;
#[percpu::def_percpu]
static I8: i8 = -1;
#[percpu::def_percpu]
static I16: i16 = -2;
#[percpu::def_percpu]
static I32: i32 = -3;
#[percpu::def_percpu]
static I64: i64 = -4;
#[percpu::def_percpu]
static ISIZE: isize = -5;
#[percpu::def_percpu]
static PTR: *const u8 = core::ptr::null();
#[percpu::def_percpu]
static MUT_PTR: *mut u32 = core::ptr::null_mut();
#[percpu::def_percpu]
static TICKS: Ticks = 11;
#[percpu::def_percpu]
static QUALIFIED: core::primitive::u32 = 12;
#[percpu::def_percpu]
static STATS: Stats = STATS_INIT;
#[percpu::def_percpu]
static ATOMIC: AtomicU32 = AtomicU32::new(3);

/// Doc comments, visibility and `#[cfg]` are kept.
#[percpu::def_percpu]
#[cfg(target_os = "linux")]
pub static PUBLIC_DOCUMENTED: u16 = 1;
#[percpu::def_percpu]
#[cfg(target_os = "none")]
static CONFIGURED_OUT: u16 = 1;

// A `#[cfg]` that removes the item removes all of it: these would be
// duplicate definitions otherwise.
#[allow(dead_code)]
static CONFIGURED_OUT: () = ();
#[allow(dead_code, non_upper_case_globals)]
static __PERCPU_CONFIGURED_OUT: () = ();
#[allow(dead_code, non_camel_case_types)]
struct CONFIGURED_OUT_WRAPPER;

/// Kernel assembly names storage symbols; `#[no_mangle]` must reach it.
#[percpu::def_percpu]
#[no_mangle]
static EXPORTED: usize = 0x5eed;

macro_rules! check_primitive {
    ($var:ident, $init:expr, $other:expr) => {{
        assert_eq!($var.read_current(), $init, stringify!($var));
        $var.write_current($other);
        assert_eq!($var.read_current(), $other, stringify!($var));
        assert_eq!(unsafe { $var.read_current_raw() }, $other);
        unsafe { $var.write_current_raw($init) };
        assert_eq!($var.read_current(), $init);
        $var.with_current(|v| *v = $other);
        assert_eq!(*$var.current_ref(), $other);
        assert_eq!(unsafe { *$var.current_ptr() }, $other);
        assert_eq!(unsafe { *$var.current_ref_raw() }, $other);
        unsafe { *$var.current_ref_mut_raw() = $init };
        assert_eq!($var.read_current(), $init);
        $var.write_current($other);
        $var.reset_to_init();
        assert_eq!(
            $var.read_current(),
            $init,
            "reset_to_init {}",
            stringify!($var)
        );
    }};
}

#[test]
fn primitives_through_every_method() {
    let _cpu = on_cpu(0);
    let mut local = 5u8;
    let mut word = 9u32;
    check_primitive!(BOOL, true, false);
    check_primitive!(U8, 0xa1, 0x1a);
    check_primitive!(U16, 0xa2a2, 0x2a2a);
    check_primitive!(U32, 0xa3a3_a3a3, 0x3a3a_3a3a);
    check_primitive!(U64, 0xa4a4_a4a4_a4a4_a4a4, 0x4a4a_4a4a_4a4a_4a4a);
    check_primitive!(USIZE, 0xa5, usize::MAX);
    check_primitive!(I8, -1, i8::MIN);
    check_primitive!(I16, -2, i16::MAX);
    check_primitive!(I32, -3, i32::MIN);
    check_primitive!(I64, -4, i64::MAX);
    check_primitive!(ISIZE, -5, isize::MIN);
    check_primitive!(PTR, core::ptr::null(), &raw const local);
    check_primitive!(MUT_PTR, core::ptr::null_mut(), &raw mut word);
    check_primitive!(TICKS, 11, 0xdead_beef);
    check_primitive!(QUALIFIED, 12, 13);
    check_primitive!(PUBLIC_DOCUMENTED, 1, 2);
    local += 1;
    word += local as u32;
    assert_eq!(word, 15);
}

#[test]
fn neighbours_are_untouched_by_narrow_writes() {
    let _cpu = on_cpu(1);
    // A byte store must not spill into the variables beside it.
    let before = (U16.read_current(), U32.read_current(), I8.read_current());
    U8.write_current(0xff);
    BOOL.write_current(false);
    assert_eq!(
        (U16.read_current(), U32.read_current(), I8.read_current()),
        before
    );
    U8.reset_to_init();
    BOOL.reset_to_init();
}

#[test]
fn read_modify_write_set() {
    let _cpu = on_cpu(2);
    USIZE.write_current(10);
    USIZE.add_current(5);
    assert_eq!(USIZE.read_current(), 15);
    USIZE.sub_current(20);
    assert_eq!(USIZE.read_current(), 15usize.wrapping_sub(20), "sub wraps");
    USIZE.write_current(0b1100);
    USIZE.and_current(0b1010);
    assert_eq!(USIZE.read_current(), 0b1000);
    USIZE.or_current(0b0011);
    assert_eq!(USIZE.read_current(), 0b1011);
    USIZE.xor_current(0b1111);
    assert_eq!(USIZE.read_current(), 0b0100);
    assert_eq!(USIZE.xchg_current(77), 0b0100);
    assert_eq!(USIZE.read_current(), 77);
    assert_eq!(
        USIZE.cmpxchg_current(1, 2),
        77,
        "mismatch returns the current value"
    );
    assert_eq!(USIZE.read_current(), 77, "mismatch leaves it");
    assert_eq!(USIZE.cmpxchg_current(77, 78), 77);
    assert_eq!(USIZE.read_current(), 78);

    U8.write_current(250);
    U8.add_current(10);
    assert_eq!(U8.read_current(), 4, "u8 add wraps");
    U8.sub_current(5);
    assert_eq!(U8.read_current(), 255);
    assert_eq!(U8.xchg_current(1), 255);
    assert_eq!(U8.cmpxchg_current(1, 9), 1);
    assert_eq!(U8.read_current(), 9);

    I16.write_current(i16::MAX);
    I16.add_current(1);
    assert_eq!(I16.read_current(), i16::MIN);
    I16.xor_current(-1);
    assert_eq!(I16.read_current(), i16::MAX);

    I32.write_current(-100);
    I32.sub_current(i32::MAX);
    assert_eq!(I32.read_current(), (-100i32).wrapping_sub(i32::MAX));
    I32.and_current(0xff);
    assert_eq!(I32.read_current(), (-100i32).wrapping_sub(i32::MAX) & 0xff);
    assert_eq!(
        I32.cmpxchg_current(I32.read_current(), -7),
        (-100i32).wrapping_sub(i32::MAX) & 0xff
    );
    assert_eq!(I32.read_current(), -7);

    U64.write_current(u64::MAX - 1);
    U64.add_current(3);
    assert_eq!(U64.read_current(), 1);
    U64.or_current(1 << 63);
    assert_eq!(U64.read_current(), (1 << 63) | 1);
    assert_eq!(U64.xchg_current(5), (1 << 63) | 1);

    TICKS.add_current(1);
    QUALIFIED.add_current(1);
    USIZE.reset_to_init();
    U8.reset_to_init();
    I16.reset_to_init();
    I32.reset_to_init();
    U64.reset_to_init();
    TICKS.reset_to_init();
    QUALIFIED.reset_to_init();
}

#[test]
fn struct_through_every_method() {
    let _cpu = on_cpu(common::cpu_or_last(3));
    assert_eq!(*STATS.current_ref(), STATS_INIT);
    let hits = STATS.with_current(|s| {
        s.hits += 1;
        s.tag[0] = b'P';
        s.hits
    });
    assert_eq!(hits, 8);
    assert_eq!(STATS.current_ref().tag, *b"Percp");
    STATS.with_current_irqsave(|s| s.ratio = 2.0);
    assert_eq!(unsafe { STATS.current_ref_raw() }.ratio, 2.0);
    unsafe { STATS.current_ref_mut_raw().hits = 100 };
    assert_eq!(unsafe { (*STATS.current_ptr()).hits }, 100);
    STATS.reset_to_init();
    assert_eq!(*STATS.current_ref(), STATS_INIT);

    // Interior mutability needs no `Sync` per CPU; it works through `&`.
    ATOMIC.current_ref().fetch_add(4, Ordering::Relaxed);
    assert_eq!(ATOMIC.current_ref().load(Ordering::Relaxed), 7);
    ATOMIC.reset_to_init();
    assert_eq!(ATOMIC.current_ref().load(Ordering::Relaxed), 3);
}

#[test]
fn remote_access_reaches_each_area() {
    let _cpu = on_cpu(0);
    for cpu in 0..CPUS {
        unsafe {
            *U32.remote_ref_mut_raw(cpu) = 1000 + cpu as u32;
            STATS.remote_ref_mut_raw(cpu).hits = cpu as u64;
        }
    }
    for cpu in 0..CPUS {
        percpu::init_percpu_reg(cpu);
        assert_eq!(
            U32.read_current(),
            1000 + cpu as u32,
            "CPU {cpu} sees its own copy"
        );
        assert_eq!(STATS.current_ref().hits, cpu as u64);
        assert_eq!(unsafe { *U32.remote_ref_raw(cpu) }, 1000 + cpu as u32);
        assert_eq!(unsafe { U32.remote_ref(cpu) }, &(1000 + cpu as u32));
        assert_eq!(
            unsafe { U32.remote_ptr(cpu) },
            unsafe { U32.current_ptr() },
            "remote_ptr of the current CPU is current_ptr"
        );
        U32.reset_to_init();
        STATS.reset_to_init();
    }
}

#[test]
fn areas_offsets_and_registers_agree() {
    let _cpu = on_cpu(0);
    let size = percpu::percpu_area_size();
    assert_eq!(percpu::percpu_area_num(), CPUS);
    if cfg!(feature = "sp-naive") {
        assert_eq!(size, 0);
        return;
    }
    assert_eq!(size % 64, 0, "areas are whole cache lines");
    assert!(size >= core::mem::size_of::<Stats>() + 8 * 8);
    let layout = percpu::percpu_area_layout_expected(CPUS);
    assert_eq!(layout.size(), CPUS * size);
    assert_eq!(layout.align(), 64);
    for cpu in 0..CPUS {
        percpu::init_percpu_reg(cpu);
        let base = percpu::percpu_area_base(cpu);
        assert_eq!(base % 64, 0);
        assert_eq!(base, percpu::percpu_area_base(0) + cpu * size);
        assert_eq!(percpu::read_percpu_reg(), base);
        for offset in [U8.offset(), U64.offset(), STATS.offset(), EXPORTED.offset()] {
            assert!(
                offset < size,
                "offset {offset} inside the area of {size} bytes"
            );
        }
        assert_eq!(unsafe { U64.current_ptr() } as usize, base + U64.offset());
        assert_eq!(
            unsafe { STATS.remote_ptr(cpu) } as usize,
            base + STATS.offset()
        );
    }
    // Offsets are distinct, and VMAs differ from offsets by one constant.
    let delta = U8.symbol_vma() - U8.offset();
    assert_eq!(U64.symbol_vma() - U64.offset(), delta);
    assert_ne!(U8.offset(), U64.offset());
}

#[test]
#[cfg_attr(
    miri,
    ignore = "names a symbol the linker resolves: Miri has no linker"
)]
fn no_mangle_reaches_the_storage_symbol() {
    let _cpu = on_cpu(common::cpu_or_last(1));
    extern "C" {
        static __PERCPU_EXPORTED: usize;
    }
    // The symbol is the template, which area 0 is; the wrapper agrees.
    let template = core::ptr::addr_of!(__PERCPU_EXPORTED) as usize;
    assert_eq!(template, EXPORTED.symbol_vma());
    assert_eq!(EXPORTED.read_current(), 0x5eed);
    // The 0.4-era macro agrees, on a variable and on a linker symbol.
    assert_eq!(
        percpu_macros::percpu_symbol_vma!(__PERCPU_EXPORTED),
        EXPORTED.symbol_vma()
    );
    #[cfg(not(feature = "sp-naive"))]
    {
        extern "C" {
            static _percpu_load_start: u8;
        }
        let start = percpu_macros::percpu_symbol_vma!(_percpu_load_start);
        assert_eq!(EXPORTED.symbol_vma() - start, EXPORTED.offset());
    }
}

// `static mut` as 0.4 accepts it: the `mut` means nothing.
#[percpu::def_percpu]
static mut MUT_DECLARED: u32 = 7;

#[test]
fn static_mut_is_an_ordinary_per_cpu_static() {
    let last = common::cpu_or_last(3);
    for cpu in [0, last] {
        let _cpu = on_cpu(cpu);
        MUT_DECLARED.write_current(100 + cpu as u32);
        MUT_DECLARED.add_current(1);
        MUT_DECLARED.with_current(|v| *v *= 2);
        assert_eq!(MUT_DECLARED.read_current(), (101 + cpu as u32) * 2);
    }
    let _cpu = on_cpu(0);
    // Each CPU has its own copy, and the wrapper type is the 0.4 name.
    let wrapper: &MUT_DECLARED_WRAPPER = &MUT_DECLARED;
    assert_eq!(unsafe { *wrapper.remote_ptr(0) }, 202);
    if last != 0 {
        assert_eq!(
            unsafe { *wrapper.remote_ptr(last) },
            (101 + last as u32) * 2
        );
    }
    MUT_DECLARED.reset_to_init();
    assert_eq!(MUT_DECLARED.read_current(), 7);
}

#[test]
#[cfg(not(feature = "sp-naive"))]
fn the_linker_scripts_dynamic_region_takes_boxes() {
    let _cpu = on_cpu(0);
    // build.rs renders the script with `--dynamic 16384`.
    let (start, size) = percpu::percpu_dynamic_region();
    assert!(size >= 16384, "{size} bytes");
    assert!(start >= core::mem::size_of::<u64>() && start + size <= percpu::percpu_area_size());
    let b = percpu::PerCpuBox::new(41u64).unwrap();
    b.add_current(1);
    assert_eq!(b.read_current(), 42);
    assert!(b.offset() >= start && b.offset() < start + size);
}
