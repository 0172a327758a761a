//! Every alignment up to the area alignment holds at the address the user
//! gets, in every CPU's area: for run-time boxes in dynamic regions of
//! several sizes (so the allocator's granule goes from 16 bytes to beyond
//! the area alignment), and for statics. Past the area alignment a box is
//! refused with `AlignmentTooLarge`.
//!
//! x86_64 Linux user space, each thread a CPU; build.rs renders the script
//! with `--align 256` when `PERCPU_TEST_AREA_ALIGN=256`, where 128 and 256
//! must hold as well. With `sp-naive` (one CPU, also under Miri) the
//! region is the memory `init_with_dynamic` gets, aligned to 64.

use std::sync::Barrier;

use percpu::{AllocError, PerCpu, PerCpuBox};

/// The tests set up areas of their own: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// CPUs (threads) the test uses.
const CPUS: usize = if cfg!(feature = "sp-naive") { 1 } else { 4 };

/// The area alignment build.rs rendered the host script with (`sp-naive`
/// renders none: its region is aligned to 64).
fn area_align() -> usize {
    option_env!("PERCPU_TEST_AREA_ALIGN").map_or(64, |a| a.parse().unwrap())
}

/// The alignment `$align`, and a type of three times that size; its copy
/// is written and checked on every CPU through every path that yields an
/// address.
macro_rules! aligned {
    ($($name:ident = $align:literal),*) => {$(
        #[derive(Clone)]
        #[repr(align($align))]
        struct $name(#[allow(dead_code)] [u8; 3 * $align]);
    )*};
}
aligned!(
    A1 = 1,
    A2 = 2,
    A4 = 4,
    A8 = 8,
    A16 = 16,
    A32 = 32,
    A64 = 64,
    A128 = 128,
    A256 = 256
);

/// The test binary's statics, aligned up to the area alignment.
#[percpu::def_percpu]
static S1: A1 = A1([0; 3]);
#[percpu::def_percpu]
static S8: A8 = A8([7; 24]);
#[percpu::def_percpu]
static S16: A16 = A16([15; 48]);
#[percpu::def_percpu]
static S32: A32 = A32([31; 96]);
#[percpu::def_percpu]
static S64: A64 = A64([63; 192]);
#[cfg(percpu_test_wide_areas)]
#[percpu::def_percpu]
static S128: A128 = A128([127; 384]);
#[cfg(percpu_test_wide_areas)]
#[percpu::def_percpu]
static S256: A256 = A256([255; 768]);

/// Fails unless every CPU's copy of `v` is at an address aligned to
/// `align`, on that CPU (`current_ptr`, `with_current`) and from afar
/// (`remote_ptr`), and holds what it should.
fn check_every_copy<T: Send, L: percpu::__priv::Location + Sync>(
    what: &str,
    v: &PerCpu<T, L>,
    align: usize,
    first_byte: Option<u8>,
) {
    for cpu in 0..CPUS {
        // SAFETY: only the address is used, the areas are initialised.
        let addr = unsafe { v.remote_ptr(cpu) } as usize;
        assert_eq!(
            addr % align,
            0,
            "{what}: CPU {cpu}'s copy is at {addr:#x}, not {align}-aligned \
             (offset {:#x}, area base {:#x})",
            v.offset(),
            percpu::percpu_area_base(cpu)
        );
    }
    let barrier = Barrier::new(CPUS);
    std::thread::scope(|scope| {
        for cpu in 0..CPUS {
            let barrier = &barrier;
            scope.spawn(move || {
                percpu::init_percpu_reg(cpu);
                barrier.wait();
                // SAFETY: only the address is used.
                let addr = unsafe { v.current_ptr() } as usize;
                assert_eq!(addr % align, 0, "{what}: CPU {cpu}'s current_ptr {addr:#x}");
                v.with_current(|copy| {
                    let at = copy as *mut T as usize;
                    assert_eq!(at % align, 0, "{what}: CPU {cpu}'s &mut at {at:#x}");
                    if let Some(byte) = first_byte {
                        // SAFETY: a `T` here is a byte array behind its
                        // alignment.
                        let first = unsafe { *(copy as *mut T as *const u8) };
                        assert_eq!(first, byte, "{what}: CPU {cpu}'s copy");
                    }
                });
            });
        }
    });
}

/// One box of `$ty` (alignment `$align`): allocated and checked when the
/// alignment is at most the area's, refused otherwise.
macro_rules! box_of {
    ($ty:ident, $align:literal, $keep:expr) => {{
        let value = $ty([($align - 1) as u8; 3 * $align]);
        match PerCpuBox::new(value) {
            Ok(b) => {
                assert!($align <= area_align(), "{} allocated", stringify!($ty));
                check_every_copy(
                    concat!("PerCpuBox<", stringify!($ty), ">"),
                    &b,
                    $align,
                    Some(($align - 1) as u8),
                );
                $keep.push(Box::new(b) as Box<dyn Send>);
            }
            Err(err) => assert_eq!(
                err,
                AllocError::AlignmentTooLarge {
                    align: $align,
                    max: area_align()
                },
                "{}",
                stringify!($ty)
            ),
        }
    }};
}

/// Dynamic region sizes: the allocator's granule is 16 bytes for the
/// first, and grows to 32, 64, 128, 256 and 1024 bytes (past any area
/// alignment) for the others.
const REGIONS: [usize; 6] = [8192, 65_600, 140_000, 300_000, 600_000, 3 << 20];

#[test]
fn every_alignment_holds_at_every_cpus_address() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut start_not_aligned = false;
    for dynamic in REGIONS {
        let layout = percpu::percpu_area_layout_with_dynamic(CPUS, dynamic).unwrap();
        assert_eq!(layout.align(), area_align());
        // SAFETY: a non-zero layout, freed at the end of the iteration,
        // after every box is dropped.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        assert_eq!(percpu::init_with_dynamic(base, CPUS, dynamic), Ok(CPUS));
        let (start, size) = percpu::percpu_dynamic_region();
        assert!(size >= dynamic);
        start_not_aligned |= start % 64 != 0;
        // Twice over, so that later boxes land after earlier ones, where
        // each round's alignment padding differs.
        let mut keep: Vec<Box<dyn Send>> = Vec::new();
        for _ in 0..2 {
            box_of!(A1, 1, keep);
            box_of!(A2, 2, keep);
            box_of!(A4, 4, keep);
            box_of!(A8, 8, keep);
            box_of!(A16, 16, keep);
            box_of!(A32, 32, keep);
            box_of!(A64, 64, keep);
            box_of!(A128, 128, keep);
            box_of!(A256, 256, keep);
        }
        // Zero-sized, aligned: the pointer must be aligned all the same.
        #[repr(align(64))]
        struct Empty;
        let empty = PerCpuBox::new_with(|_| Empty).unwrap();
        check_every_copy("PerCpuBox<Empty>", &empty, 64, None);
        drop(empty);
        drop(keep);
        // SAFETY: nothing lives in the areas any more.
        unsafe { std::alloc::dealloc(base, layout) };
    }
    // The regions above start right after the template, rounded to 16:
    // the case where an offset aligned within the region is not aligned
    // at the address.
    assert!(
        start_not_aligned || cfg!(feature = "sp-naive"),
        "no region started off the area alignment: the test lost its point"
    );
}

#[test]
fn statics_are_aligned_in_every_area() {
    // Its own areas, with no dynamic region.
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    #[cfg(not(feature = "sp-naive"))]
    {
        let layout = percpu::percpu_area_layout_expected(CPUS);
        // SAFETY: a non-zero layout, leaked: statics stay reachable.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        assert_eq!(percpu::init(base, CPUS), Ok(CPUS));
    }
    check_every_copy("S1", &S1, 1, Some(0));
    check_every_copy("S8", &S8, 8, Some(7));
    check_every_copy("S16", &S16, 16, Some(15));
    check_every_copy("S32", &S32, 32, Some(31));
    check_every_copy("S64", &S64, 64, Some(63));
    #[cfg(percpu_test_wide_areas)]
    {
        check_every_copy("S128", &S128, 128, Some(127));
        check_every_copy("S256", &S256, 256, Some(255));
    }
}
