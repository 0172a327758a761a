//! Remote access over 4 CPUs: `remote_ptr` reads of every CPU's copy, and
//! `PerCpuCounter::sum`. Built without `placed` the areas are the linker
//! script's contiguous run and a remote address is `base + cpu * stride`;
//! built with it (`cargo bench --bench remote --features placed`) the areas
//! are 4 separate heap allocations set up by `try_init_placed`, and a
//! remote address loads the CPU's entry of the base table. `cargo xtask
//! bench` runs both and shows them side by side.

mod common;

use common::{report, run_interleaved, Case, UNROLL};
use std::hint::black_box;
use std::time::Duration;

/// The CPUs read: the areas the host tests' linker script reserves.
const CPUS: usize = 4;

#[percpu::def_percpu]
static VALUE: usize = 1;

percpu::def_percpu_counter!(static COUNTER);

/// The label of this build's cases.
const LABEL: &str = if cfg!(feature = "placed") {
    "percpu placed"
} else {
    "percpu"
};

/// The contiguous areas of the linker script; this thread is CPU 0.
#[cfg(not(feature = "placed"))]
fn setup() {
    common::setup_percpu();
    assert!(percpu::percpu_area_num() >= CPUS);
}

/// `CPUS` areas, each its own heap allocation (leaked: they live as long
/// as the process); this thread is CPU 0.
#[cfg(feature = "placed")]
fn setup() {
    let layout = percpu::percpu_area_layout_placed(0).expect("the area layout");
    let areas: Vec<*mut [u8]> = (0..CPUS)
        .map(|_| {
            // SAFETY: a non-zero layout (the template is not empty).
            let p = unsafe { std::alloc::alloc(layout) };
            assert!(!p.is_null());
            std::ptr::slice_from_raw_parts_mut(p, layout.size())
        })
        .collect();
    let table = Box::leak(vec![0usize; CPUS].into_boxed_slice());
    let n = percpu::try_init_placed(table, CPUS, |cpu| areas[cpu]).expect("placed areas");
    assert_eq!(n, CPUS);
    percpu::init_percpu_reg(0);
}

fn cases() -> Vec<Case> {
    vec![
        // One operation: one CPU's copy read through `remote_ptr`.
        Case::new("remote read", LABEL, UNROLL * CPUS as f64, |n| {
            unrolled!(n, {
                for cpu in 0..CPUS {
                    // SAFETY: CPU `cpu`'s area is initialised and nothing
                    // writes `VALUE` while the bench runs.
                    black_box(unsafe { *VALUE.remote_ptr(black_box(cpu)) });
                }
            })
        }),
        // One operation: a sum over every CPU's slot.
        Case::new("counter sum", LABEL, UNROLL, |n| {
            unrolled!(n, {
                black_box(COUNTER.sum());
            })
        }),
    ]
}

fn main() {
    setup();
    COUNTER.add(3);
    assert_eq!(COUNTER.sum(), 3);
    // SAFETY: as in the case: every area is initialised.
    assert_eq!(unsafe { *VALUE.remote_ptr(CPUS - 1) }, 1);
    let mut cases = cases();
    let rounds = common::rounds(25);
    run_interleaved(&mut cases, rounds, Duration::from_millis(4));
    report(&cases, rounds, &["remote read", "counter sum"]);
}
