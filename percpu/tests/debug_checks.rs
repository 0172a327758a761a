//! Debug builds catch misuse instead of corrupting memory.

#![cfg(debug_assertions)]

mod common;

#[percpu::def_percpu]
static VALUE: u64 = 0;
#[percpu::def_percpu]
static LIST: [u32; 4] = [0; 4];

#[test]
#[should_panic(expected = "cpu_id 4, but only 4 per-CPU areas are initialised")]
#[cfg(not(feature = "sp-naive"))]
fn remote_past_the_last_area_panics() {
    let _cpu = common::on_cpu(0);
    let _ = unsafe { VALUE.remote_ptr(4) };
}

#[test]
#[should_panic(expected = "cpu_id 1, but only 1 per-CPU area exists")]
#[cfg(feature = "sp-naive")]
fn remote_past_the_only_area_panics() {
    let _cpu = common::on_cpu(0);
    let _ = unsafe { VALUE.remote_ptr(1) };
}

#[test]
#[should_panic(expected = "`LIST` is already borrowed mutably on this CPU")]
fn nested_with_current_panics() {
    let _cpu = common::on_cpu(0);
    LIST.with_current(|outer| {
        LIST.with_current(|inner| inner[0] = 1);
        outer[0] = 2;
    });
}

#[test]
#[should_panic(expected = "`VALUE` is already borrowed mutably on this CPU")]
fn primitive_write_inside_with_current_panics() {
    let _cpu = common::on_cpu(0);
    VALUE.with_current(|v| {
        VALUE.write_current(1);
        *v += 1;
    });
}

#[test]
#[should_panic(expected = "`LIST` is borrowed shared on this CPU")]
fn with_current_under_current_ref_panics() {
    let _cpu = common::on_cpu(0);
    let shared = LIST.current_ref();
    LIST.with_current(|v| v[1] = shared[0]);
}

#[test]
fn borrows_are_released() {
    let _cpu = common::on_cpu(0);
    // Sequential and shared-within-shared uses are fine.
    LIST.with_current(|v| v[2] = 3);
    LIST.with_current(|v| v[2] += 1);
    let a = LIST.current_ref();
    let b = LIST.current_ref();
    assert_eq!(a[2] + b[2], 8);
    drop((a, b));
    LIST.reset_to_init();
    assert_eq!(*LIST.current_ref(), [0; 4]);
}

#[test]
fn borrows_released_out_of_order_free_their_slots() {
    let _cpu = common::on_cpu(0);
    let list = LIST.current_ref();
    let value = VALUE.current_ref();
    // Not the reverse of the order taken: each guard frees its own slot.
    drop(list);
    LIST.with_current(|v| v[3] = 9);
    drop(value);
    VALUE.with_current(|v| *v += 1);
    // More variables borrowed at once than the table tracks is not an error.
    let refs: Vec<_> = (0..12).map(|_| VALUE.current_ref()).collect();
    assert!(refs.iter().all(|r| **r == **refs.first().unwrap()));
    drop(refs);
    VALUE.with_current(|v| *v -= 1);
    LIST.reset_to_init();
}
