//! A graph that holds both lines: statics of `percpu` 0.4 (here) and of
//! `percpu` 0.2.99 (`line02-user`), one `init()`, one set of areas, one
//! register. Everything is checked where a user sees it: addresses and
//! values on each CPU.

use line02_user::{
    LINE02_FROM_MACRO, LINE02_GENERIC, LINE02_HANDLER, LINE02_ID, LINE02_MUT, LINE02_NAME,
};

#[percpu::def_percpu]
static LINE04_ID: usize = 0x0404;

#[percpu::def_percpu]
static LINE04_WORD: u64 = 0;

const CPUS: usize = 4;

#[test]
fn one_runtime_for_both_lines() {
    // The 0.2 line's init, once, in place of the 0.4 one: the areas of the
    // script, on the heap as 0.2 put them in user space.
    assert_eq!(line02_user::init(), CPUS);
    assert_eq!(line02_user::init(), 0, "a second 0.2 init() returns 0");

    // One set of areas: both lines see the same number, size and bases.
    let size = percpu::percpu_area_size();
    assert_eq!(percpu::percpu_area_num(), CPUS);
    for cpu in 0..CPUS {
        let (base, num, size_02) = line02_user::area(cpu);
        assert_eq!(
            (base, num, size_02),
            (percpu::percpu_area_base(cpu), CPUS, size)
        );
    }
    // Both lines' statics lie in one template, at distinct offsets.
    let offsets = [
        LINE02_ID.offset(),
        LINE02_MUT.offset(),
        LINE02_GENERIC.offset(),
        LINE02_FROM_MACRO.offset(),
        LINE04_ID.offset(),
        LINE04_WORD.offset(),
    ];
    for (i, off) in offsets.iter().enumerate() {
        assert!(*off < size, "offset {off:#x} outside an area of {size:#x}");
        assert!(!offsets[..i].contains(off), "offset {off:#x} twice");
    }

    for cpu in 0..CPUS {
        // One register: set through one line, read through the other.
        line02_user::init_percpu_reg(cpu);
        let base = percpu::percpu_area_base(cpu);
        assert_eq!(percpu::read_percpu_reg(), base);
        assert_eq!(line02_user::read_percpu_reg(), base);
        // SAFETY: the register is initialised on this thread, which is the
        // only one using these areas.
        unsafe {
            assert_eq!(LINE02_ID.current_ptr() as usize, base + LINE02_ID.offset());
            assert_eq!(LINE04_ID.current_ptr() as usize, base + LINE04_ID.offset());
        }
        // Every area got the template of both lines.
        assert_eq!(LINE02_ID.read_current(), 0x0202);
        assert_eq!(LINE04_ID.read_current(), 0x0404);
        assert_eq!(LINE02_FROM_MACRO.read_current(), 0x2020);
        assert_eq!(LINE02_GENERIC.with_current(|g| g.value), 0x22);
        assert_eq!(LINE02_NAME.with_current(|name| *name), "line02");
        LINE02_HANDLER.with_current(|handler| {
            assert!(handler.set(&|| 7).is_ok());
        });
        LINE02_ID.write_current(cpu * 10);
        LINE02_MUT.write_current(cpu as u32 + 100);
        LINE04_ID.write_current(cpu * 1000);
        LINE04_WORD.write_current(cpu as u64);
        assert_eq!(line02_user::counter_in_fn(), 1);
    }
    for cpu in 0..CPUS {
        // Remote reads through either line land in the same copy.
        // SAFETY: no CPU is writing; the areas are initialised.
        unsafe {
            assert_eq!(*LINE02_ID.remote_ptr(cpu), cpu * 10);
            assert_eq!(*LINE02_MUT.remote_ref_raw(cpu), cpu as u32 + 100);
            assert_eq!(*LINE04_ID.remote_ptr(cpu), cpu * 1000);
            assert_eq!(*LINE04_WORD.remote_ref_raw(cpu), cpu as u64);
        }
    }
    line02_user::init_percpu_reg(2);
    assert_eq!(LINE04_ID.read_current(), 2000);
    assert_eq!(LINE02_ID.read_current(), 20);
    assert_eq!(line02_user::counter_in_fn(), 2);
    assert_eq!(
        LINE02_HANDLER.with_current(|handler| handler.get().map(|f| f())),
        Some(7)
    );
}
