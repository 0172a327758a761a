//! `init` into caller memory: copies, validation that writes nothing, and
//! repeated and concurrent calls.

#![cfg(not(feature = "sp-naive"))]

use std::alloc::{alloc, dealloc, Layout};
use std::sync::Mutex;

use percpu::{AreaError, InitError};

#[percpu::def_percpu]
static MARK: u64 = 0x1234_5678_9abc_def0;
#[percpu::def_percpu]
static BYTES: [u8; 100] = [0x5a; 100];

/// Aligned beyond the default 64: it links only with a script rendered with
/// `--align 256` (`PERCPU_TEST_AREA_ALIGN=256`, see build.rs).
#[cfg(percpu_test_wide_areas)]
#[repr(align(256))]
struct Aligned([u8; 3]);
#[cfg(percpu_test_wide_areas)]
#[percpu::def_percpu]
static ALIGNED: Aligned = Aligned([1, 2, 3]);

/// The area alignment build.rs rendered the host script with.
fn area_align() -> usize {
    env!("PERCPU_TEST_AREA_ALIGN").parse().unwrap()
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Memory aligned as `percpu_area_layout_expected` says, filled with a
/// pattern, freed on drop.
struct Buffer {
    ptr: *mut u8,
    layout: Layout,
}

impl Buffer {
    fn new(cpus: usize) -> Self {
        let expected = percpu::percpu_area_layout_expected(cpus);
        // Slack for the misaligned-base cases.
        let layout =
            Layout::from_size_align(expected.size() + 2 * expected.align(), expected.align())
                .unwrap();
        let ptr = unsafe { alloc(layout) };
        assert!(!ptr.is_null());
        unsafe { ptr.write_bytes(0xee, layout.size()) };
        Buffer { ptr, layout }
    }
    fn untouched(&self) -> bool {
        (0..self.layout.size()).all(|i| unsafe { *self.ptr.add(i) } == 0xee)
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn init_copies_the_template_into_every_area() {
    let _serial = serial();
    let buf = Buffer::new(4);
    assert_eq!(percpu::init(buf.ptr, 4), Ok(4));
    assert_eq!(percpu::percpu_area_num(), 4);
    let size = percpu::percpu_area_size();
    for cpu in 0..4 {
        assert_eq!(percpu::percpu_area_base(cpu), buf.ptr as usize + cpu * size);
        percpu::init_percpu_reg(cpu);
        assert_eq!(MARK.read_current(), 0x1234_5678_9abc_def0);
        assert_eq!(BYTES.current_ref()[99], 0x5a);
        MARK.write_current(cpu as u64);
    }
    for cpu in 0..4 {
        assert_eq!(unsafe { *MARK.remote_ptr(cpu) }, cpu as u64);
    }
    // The bytes after the last area are not written.
    assert!((4 * size..buf.layout.size()).all(|i| unsafe { *buf.ptr.add(i) } == 0xee));
}

#[test]
fn bad_requests_are_refused_and_write_nothing() {
    let _serial = serial();
    let buf = Buffer::new(4);
    let align = area_align();
    let cases: [(*mut u8, usize, AreaError); 6] = [
        (core::ptr::null_mut(), 4, AreaError::InvalidBase),
        (buf.ptr.wrapping_add(8), 4, AreaError::UnalignedBase),
        // Half the area alignment: a cache line, when the script asks for 128+.
        (buf.ptr.wrapping_add(align / 2), 4, AreaError::UnalignedBase),
        (buf.ptr, 0, AreaError::ZeroCpuCount),
        (buf.ptr, usize::MAX, AreaError::SizeOverflow),
        (
            (usize::MAX & !(align - 1)) as *mut u8,
            2,
            AreaError::SizeOverflow,
        ),
    ];
    for (base, cpus, expected) in cases {
        assert_eq!(
            percpu::try_init(base, cpus),
            Err(expected),
            "{base:p} x {cpus}"
        );
        assert!(buf.untouched(), "a refused init wrote memory: {expected}");
    }
    // Areas that would cover the template without starting at it.
    let template = MARK.symbol_vma() - MARK.offset();
    for base in [template - align, template + align] {
        assert_eq!(
            percpu::try_init(base as *mut u8, 2),
            Err(AreaError::OverlapsTemplate)
        );
    }
    // Every error has a message.
    for err in [
        AreaError::InvalidBase,
        AreaError::NonZeroVma,
        AreaError::NoAreasReserved,
    ] {
        assert!(!err.to_string().is_empty());
        let _: &dyn core::error::Error = &err;
    }
}

/// `init` answers with percpu 0.4's `InitError`, whose two variants a 0.4
/// kernel matches exhaustively.
#[test]
fn init_reports_0_4s_errors_as_0_4_did() {
    let _serial = serial();
    let buf = Buffer::new(4);
    for (base, expected) in [
        (core::ptr::null_mut(), InitError::InvalidBase),
        (buf.ptr.wrapping_add(8), InitError::UnalignedBase),
    ] {
        let err = percpu::init(base, 4).unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(AreaError::from(err), percpu::try_init(base, 4).unwrap_err());
        // The match a 0.4 kernel wrote: no wildcard arm.
        let what = match err {
            InitError::InvalidBase => "null",
            InitError::UnalignedBase => "not aligned",
        };
        assert!(err.to_string().contains(what), "{err}");
        let _: &dyn core::error::Error = &err;
    }
    assert!(buf.untouched());
}

/// A refusal 0.4's type cannot say is a panic from `init`, with the reason.
#[test]
#[should_panic(expected = "per-CPU area count is zero")]
fn init_panics_on_what_0_4s_error_cannot_say() {
    let buf = Buffer::new(1);
    let _ = percpu::init(buf.ptr, 0);
}

#[test]
fn the_area_alignment_comes_from_the_linker_script() {
    let _serial = serial();
    let align = area_align();
    assert_eq!(percpu::percpu_area_layout_expected(4).align(), align);
    assert_eq!(percpu::percpu_area_size() % align, 0);
    let buf = Buffer::new(4);
    assert_eq!(buf.ptr as usize % align, 0);
    // A base on a cache line, not on the larger alignment the script asks for.
    if align > 64 {
        assert_eq!(
            percpu::init(buf.ptr.wrapping_add(64), 4),
            Err(InitError::UnalignedBase)
        );
        assert!(buf.untouched());
    }
}

#[cfg(percpu_test_wide_areas)]
#[test]
fn a_variable_aligned_to_256_is_aligned_on_every_cpu() {
    let _serial = serial();
    assert_eq!(area_align(), 256);
    let buf = Buffer::new(4);
    assert_eq!(percpu::init(buf.ptr, 4), Ok(4));
    for cpu in 0..4 {
        let ptr = unsafe { ALIGNED.remote_ptr(cpu) };
        assert_eq!(ptr as usize % 256, 0, "CPU {cpu}'s ALIGNED");
        assert_eq!(unsafe { &(*ptr).0 }, &[1, 2, 3]);
    }
}

#[test]
fn calling_init_again_reinitialises() {
    let _serial = serial();
    let first = Buffer::new(2);
    let second = Buffer::new(3);
    assert_eq!(percpu::init(first.ptr, 2), Ok(2));
    percpu::init_percpu_reg(1);
    MARK.write_current(1);
    assert_eq!(percpu::init(second.ptr, 3), Ok(3));
    assert_eq!(percpu::percpu_area_num(), 3);
    assert_eq!(percpu::percpu_area_base(0), second.ptr as usize);
    percpu::init_percpu_reg(1);
    assert_eq!(
        MARK.read_current(),
        0x1234_5678_9abc_def0,
        "fresh copy of the template"
    );
    // The first areas keep what they had; nothing was freed or cleared.
    let first_cpu1 = first.ptr as usize + percpu::percpu_area_size() + MARK.offset();
    assert_eq!(unsafe { *(first_cpu1 as *const u64) }, 1);
}

#[test]
fn concurrent_inits_never_tear() {
    let _serial = serial();
    let a = Buffer::new(4);
    let b = Buffer::new(4);
    let (pa, pb) = (a.ptr as usize, b.ptr as usize);
    for _ in 0..50 {
        std::thread::scope(|scope| {
            scope.spawn(|| assert_eq!(percpu::init(pa as *mut u8, 4), Ok(4)));
            scope.spawn(|| assert_eq!(percpu::init(pb as *mut u8, 4), Ok(4)));
        });
        // Whichever ran last is in force, and all of its areas are whole.
        let base = percpu::percpu_area_base(0);
        assert!(base == pa || base == pb);
        for cpu in 0..4 {
            percpu::init_percpu_reg(cpu);
            assert_eq!(MARK.read_current(), 0x1234_5678_9abc_def0);
            assert!(BYTES.current_ref().iter().all(|&b| b == 0x5a));
        }
    }
}

#[test]
fn init_in_place_uses_the_reserved_areas() {
    let _serial = serial();
    assert_eq!(percpu::init_in_place(), Ok(4));
    assert_eq!(
        percpu::percpu_area_base(0),
        MARK.symbol_vma() - MARK.offset()
    );
    percpu::init_percpu_reg(3);
    assert_eq!(MARK.read_current(), 0x1234_5678_9abc_def0);
}
