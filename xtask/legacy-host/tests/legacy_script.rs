//! Our runtime under a percpu 0.4-style linker script (`legacy.ld`), which
//! defines no `_percpu_area_*` symbol: it links, and the areas are 0.4's,
//! 64-byte aligned, each the template rounded up to 64 bytes.

use std::alloc::{alloc, dealloc, Layout};
use std::sync::Mutex;

#[percpu::def_percpu]
static MARK: u64 = 0x0123_4567_89ab_cdef;
/// Makes the template a size that is not a multiple of 64.
#[percpu::def_percpu]
static BYTES: [u8; 100] = [0xa5; 100];

extern "C" {
    static _percpu_start: u8;
    static _percpu_load_start: u8;
    static _percpu_load_end: u8;
}

const CPUS: usize = 4;

/// The template's size, from the script's own symbols (`.percpu` is at its
/// load address, so these are ordinary addresses).
fn template_size() -> usize {
    core::ptr::addr_of!(_percpu_load_end) as usize
        - core::ptr::addr_of!(_percpu_load_start) as usize
}

/// The tests share the process's areas.
static SERIAL: Mutex<()> = Mutex::new(());

/// Every CPU (a thread each) sees its own copy at `base + cpu * stride`,
/// starting from the initial values; what CPU `cpu` writes, the others
/// read remotely.
fn check_areas(base: usize, stride: usize) {
    std::thread::scope(|scope| {
        for cpu in 0..CPUS {
            scope.spawn(move || {
                percpu::init_percpu_reg(cpu);
                assert_eq!(percpu::read_percpu_reg(), base + cpu * stride);
                // SAFETY: only the address is compared.
                let ptr = unsafe { MARK.current_ptr() };
                assert_eq!(ptr as usize, base + cpu * stride + MARK.offset());
                assert_eq!(MARK.read_current(), 0x0123_4567_89ab_cdef);
                assert!(BYTES.current_ref().iter().all(|&b| b == 0xa5));
                MARK.write_current(cpu as u64 * 11);
            });
        }
    });
    for cpu in 0..CPUS {
        // SAFETY: the threads that used the areas have ended.
        unsafe {
            assert_eq!(*MARK.remote_ptr(cpu), cpu as u64 * 11);
            // CPU 0's area may be the template, which the next `init` copies.
            *MARK.remote_ref_mut_raw(cpu) = 0x0123_4567_89ab_cdef;
        }
    }
}

#[test]
fn the_layout_is_0_4s() {
    let template = template_size();
    assert_ne!(template % 64, 0, "the template should show the rounding");
    let stride = template.next_multiple_of(64);
    assert_eq!(percpu::percpu_area_size(), stride);
    assert_eq!(
        percpu::percpu_area_layout_expected(CPUS),
        Layout::from_size_align(CPUS * stride, 64).unwrap()
    );
}

#[test]
fn init_in_place_uses_the_hand_made_reservation() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    assert_eq!(percpu::init_in_place(), Ok(CPUS));
    assert_eq!(percpu::percpu_area_num(), CPUS);
    let start = core::ptr::addr_of!(_percpu_start) as usize;
    check_areas(start, template_size().next_multiple_of(64));
}

#[test]
fn init_takes_a_base_aligned_to_64() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let stride = template_size().next_multiple_of(64);
    // Aligned to 128 so that +64 is aligned to exactly 64.
    let layout = Layout::from_size_align((CPUS + 1) * stride, 128).unwrap();
    // SAFETY: a non-zero size.
    let buf = unsafe { alloc(layout) };
    assert!(!buf.is_null());
    assert_eq!(
        percpu::init(buf.wrapping_add(32), CPUS),
        Err(percpu::InitError::UnalignedBase)
    );
    let base = buf.wrapping_add(64);
    assert_eq!(percpu::init(base, CPUS), Ok(CPUS));
    check_areas(base as usize, stride);
    // SAFETY: allocated above with this layout; the areas are no longer used.
    unsafe { dealloc(buf, layout) };
}
