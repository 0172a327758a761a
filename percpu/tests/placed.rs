//! Placed areas (feature `placed`) in x86_64 Linux user space, threads as
//! CPUs: areas from separate heap allocations in shuffled order, at
//! descending addresses, with gaps; every method on statics, boxes and
//! counters on every CPU; the views; a CPU that registers while three
//! others hammer counters and boxes; and refused areas, which must leave
//! every byte as it was.
//!
//! The areas are process-wide, so the tests run one at a time, each
//! setting its own areas up.

#![cfg(all(feature = "placed", not(feature = "sp-naive")))]

use std::alloc::Layout;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard};

use percpu::{AreaError, PerCpuBox, PerCpuCounter};

static SERIAL: Mutex<()> = Mutex::new(());

#[percpu::def_percpu]
static CPU_ID: usize = usize::MAX;
#[percpu::def_percpu]
static HITS: u64 = 7;
#[percpu::def_percpu]
static PAIR: (u32, u16) = (1, 2);

percpu::def_percpu_counter!(
    /// A static counter, in the template.
    static EVENTS
);

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// One area's layout for the linker script's dynamic region.
fn area_layout() -> Layout {
    percpu::percpu_area_layout_placed(0).unwrap()
}

/// A leaked base table with room for `n` CPUs.
fn table(n: usize) -> &'static mut [usize] {
    Box::leak(vec![0usize; n].into_boxed_slice())
}

/// `n` areas, each its own heap allocation (leaked: areas live as long as
/// the process), filled with `fill`, handed out in a shuffled order.
fn separate_areas(n: usize, fill: u8) -> Vec<*mut [u8]> {
    let layout = area_layout();
    let mut areas: Vec<*mut [u8]> = (0..n)
        .map(|_| {
            // SAFETY: a non-zero layout.
            let p = unsafe { std::alloc::alloc(layout) };
            assert!(!p.is_null());
            // SAFETY: fresh memory of `layout.size()` bytes.
            unsafe { p.write_bytes(fill, layout.size()) };
            std::ptr::slice_from_raw_parts_mut(p, layout.size())
        })
        .collect();
    // A fixed shuffle: CPU i gets allocation (i * 5 + 3) % n.
    let order: Vec<usize> = (0..n).map(|i| (i * 5 + 3) % n).collect();
    let mut sorted: Vec<usize> = order.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), n, "the shuffle is a permutation");
    let shuffled = order.iter().map(|&i| areas[i]).collect();
    areas.clear();
    shuffled
}

/// `n` areas carved out of one block at descending addresses, with a gap
/// of one area between neighbours.
fn descending_areas(n: usize) -> Vec<*mut [u8]> {
    let area = area_layout();
    let block = Layout::from_size_align(area.size() * 2 * n, area.align()).unwrap();
    // SAFETY: a non-zero layout; leaked like the areas above.
    let p = unsafe { std::alloc::alloc_zeroed(block) };
    assert!(!p.is_null());
    (0..n)
        .map(|cpu| {
            // SAFETY: inside the block: slot 2 * (n - 1 - cpu).
            let at = unsafe { p.add(area.size() * 2 * (n - 1 - cpu)) };
            std::ptr::slice_from_raw_parts_mut(at, area.size())
        })
        .collect()
}

/// Runs `f(cpu)` on one thread per CPU, each with its register set.
fn on_every_cpu(n: usize, f: impl Fn(usize) + Sync) {
    std::thread::scope(|scope| {
        for cpu in 0..n {
            let f = &f;
            scope.spawn(move || {
                percpu::init_percpu_reg(cpu);
                f(cpu)
            });
        }
    });
}

/// Every method on statics, a box and a counter, on `n` CPUs whose areas
/// are `areas`: each CPU's copies are inside its own area, aligned, and
/// hold their own values.
fn check_every_method(areas: &[*mut [u8]]) {
    let n = areas.len();
    let spans: Vec<(usize, usize)> = areas
        .iter()
        .map(|&a| (a as *mut u8 as usize, a.len()))
        .collect();
    let boxed = PerCpuBox::new_with(|cpu| cpu as u64 * 10).unwrap();
    #[repr(align(64))]
    #[derive(Clone)]
    struct Line([u8; 64]);
    let line = PerCpuBox::new(Line([0; 64])).unwrap();
    let counter = PerCpuCounter::new().unwrap();
    let barrier = Barrier::new(n);
    on_every_cpu(n, |cpu| {
        let (base, size) = spans[cpu];
        assert_eq!(percpu::read_percpu_reg(), base, "CPU {cpu}'s register");
        assert_eq!(percpu::percpu_area_base(cpu), base);
        assert_eq!(CPU_ID.read_current(), usize::MAX, "the template's value");
        assert_eq!(HITS.read_current(), 7);
        CPU_ID.write_current(cpu);
        HITS.add_current(cpu as u64);
        HITS.sub_current(1);
        assert_eq!(HITS.xchg_current(100 + cpu as u64), 6 + cpu as u64);
        assert_eq!(
            HITS.cmpxchg_current(100 + cpu as u64, 200),
            100 + cpu as u64
        );
        PAIR.with_current(|p| p.0 += cpu as u32);
        assert_eq!(*PAIR.current_ref(), (1 + cpu as u32, 2));
        EVENTS.add(cpu as i64 + 1);
        assert_eq!(boxed.read_current(), cpu as u64 * 10);
        boxed.add_current(1);
        line.with_current(|l| l.0[63] = cpu as u8);
        counter.add(2);
        // SAFETY: a pointer, not dereferenced.
        let copies = unsafe {
            [
                CPU_ID.current_ptr() as usize,
                boxed.current_ptr() as usize,
                line.current_ptr() as usize,
            ]
        };
        for addr in copies {
            assert!(
                (base..base + size).contains(&addr),
                "CPU {cpu}'s copy at {addr:#x} is outside its area {base:#x}+{size:#x}"
            );
        }
        assert_eq!(copies[2] % 64, 0, "a 64-aligned box's copy");
        barrier.wait();
        for (other, &(other_base, _)) in spans.iter().enumerate() {
            // SAFETY: every CPU stopped writing at the barrier.
            unsafe {
                assert_eq!(*CPU_ID.remote_ptr(other), other);
                assert_eq!(*HITS.remote_ref_raw(other), 200);
                assert_eq!(*boxed.remote_ptr(other), other as u64 * 10 + 1);
                assert_eq!(line.remote_ref(other).0[63], other as u8);
                let remote = CPU_ID.remote_ptr(other) as usize;
                assert_eq!(remote - other_base, CPU_ID.offset());
            }
        }
        barrier.wait();
    });
    // The views, over every placed area.
    // SAFETY: the writers are done.
    unsafe {
        let ids: Vec<(usize, usize)> = CPU_ID.iter_raw().map(|(c, &v)| (c, v)).collect();
        assert_eq!(ids, (0..n).map(|c| (c, c)).collect::<Vec<_>>());
        let expected: u64 = (0..n as u64).map(|c| c * 10 + 1).sum();
        assert_eq!(boxed.sum_raw(), expected);
    }
    assert_eq!(counter.sum(), 2 * n as i64);
    assert_eq!(EVENTS.sum(), (1..=n as i64).sum::<i64>());
    assert_eq!(percpu::percpu_area_num(), n);
}

#[test]
fn shuffled_separate_allocations() {
    let _serial = serial();
    let areas = separate_areas(6, 0xa5);
    assert_eq!(
        percpu::try_init_placed(table(6), 6, |cpu| areas[cpu]),
        Ok(6)
    );
    check_every_method(&areas);
}

#[test]
fn descending_addresses_with_gaps() {
    let _serial = serial();
    let areas = descending_areas(5);
    assert_eq!(
        percpu::try_init_placed(table(8), 5, |cpu| areas[cpu]),
        Ok(5)
    );
    check_every_method(&areas);
}

/// Three CPUs hammer a counter, a box and a static; meanwhile a fourth
/// registers, a reader walks every published CPU's copies, and then the
/// fourth joins the hammering. Its copies of what existed before it came
/// are what their constructors make, and the counters are exact.
#[test]
fn a_cpu_registers_while_three_others_hammer() {
    const ROUNDS: u64 = 200_000;
    let _serial = serial();
    let areas = separate_areas(4, 0x5a);
    assert_eq!(
        percpu::try_init_placed(table(4), 3, |cpu| areas[cpu]),
        Ok(3)
    );
    let counter = PerCpuCounter::new().unwrap();
    let boxed = PerCpuBox::new_with(|cpu| 1000 + cpu as u64).unwrap();
    let named = PerCpuBox::new(String::from("kept")).unwrap();
    let registered = AtomicBool::new(false);
    let reader_checks = AtomicU64::new(0);
    let start = Barrier::new(5);
    std::thread::scope(|scope| {
        for cpu in 0..3 {
            let (counter, boxed, start) = (&counter, &boxed, &start);
            scope.spawn(move || {
                percpu::init_percpu_reg(cpu);
                start.wait();
                for _ in 0..ROUNDS {
                    counter.inc();
                    boxed.add_current(1);
                    EVENTS.inc();
                }
            });
        }
        // A remote reader, racing the registration: every CPU it sees
        // published has its copies made.
        scope.spawn(|| {
            start.wait();
            loop {
                let done = registered.load(Ordering::Acquire);
                for cpu in 0..percpu::percpu_area_num() {
                    // SAFETY: a `String` is only read here, and nobody
                    // writes `named`'s copies.
                    let s = unsafe { named.remote_ref(cpu) };
                    assert_eq!(s, "kept", "CPU {cpu}'s copy, seen by a remote reader");
                    reader_checks.fetch_add(1, Ordering::Relaxed);
                }
                if done {
                    break;
                }
            }
        });
        start.wait();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(percpu::register_area(areas[3]), Ok(3));
        registered.store(true, Ordering::Release);
        let (counter, boxed, named) = (&counter, &boxed, &named);
        let late_base = areas[3] as *mut u8 as usize;
        scope.spawn(move || {
            percpu::init_percpu_reg(3);
            assert_eq!(percpu::read_percpu_reg(), late_base);
            assert_eq!(CPU_ID.read_current(), usize::MAX, "the template's value");
            assert_eq!(
                boxed.read_current(),
                1003,
                "new_with's constructor, for CPU 3"
            );
            assert_eq!(
                named.current_ref().as_str(),
                "kept",
                "a clone of new's value"
            );
            for _ in 0..ROUNDS {
                counter.inc();
                boxed.add_current(1);
                EVENTS.inc();
            }
        });
    });
    assert_eq!(percpu::percpu_area_num(), 4);
    assert_eq!(counter.sum(), 4 * ROUNDS as i64, "the counter sum is exact");
    assert_eq!(EVENTS.sum(), 4 * ROUNDS as i64);
    // SAFETY: the writers are done.
    let copies: Vec<u64> = unsafe { boxed.iter_raw().map(|(_, &v)| v).collect() };
    assert_eq!(
        copies,
        (0..4).map(|c| 1000 + c + ROUNDS).collect::<Vec<_>>()
    );
    assert!(reader_checks.load(Ordering::Relaxed) > 0);
    // A full table takes no fifth CPU, and writes nothing.
    let spare = separate_areas(1, 0x11)[0];
    assert_eq!(
        percpu::register_area(spare),
        Err(AreaError::TableFull {
            capacity: 4,
            needed: 5
        })
    );
    assert_untouched(spare, 0x11);
}

/// Every byte of `area` is still `fill`.
fn assert_untouched(area: *mut [u8], fill: u8) {
    // SAFETY: an area this test allocated and nobody uses.
    let bytes = unsafe { &*area };
    assert!(
        bytes.iter().all(|&b| b == fill),
        "a refused area was written"
    );
}

#[test]
fn bad_areas_are_refused_and_nothing_is_written() {
    let _serial = serial();
    let areas = separate_areas(3, 0x3c);
    let spans: &'static [(usize, usize)] = Box::leak(
        areas
            .iter()
            .map(|&a| (a as *mut u8 as usize, a.len()))
            .collect(),
    );
    let size = area_layout().size();
    let align = area_layout().align();
    let base = move |cpu: usize| spans[cpu].0 as *mut u8;
    let len = move |cpu: usize| spans[cpu].1;
    let same = move |cpu: usize| std::ptr::slice_from_raw_parts_mut(base(cpu), len(cpu));
    type Case = (&'static str, Box<dyn Fn(usize) -> *mut [u8]>, AreaError);
    let cases: Vec<Case> = vec![
        (
            "every area too small",
            Box::new(move |cpu| {
                let p = if cpu == 1 {
                    base(1).wrapping_add(8)
                } else {
                    base(cpu)
                };
                std::ptr::slice_from_raw_parts_mut(p, size - 64)
            }),
            AreaError::AreaTooSmall {
                cpu: 0,
                size: size - 64,
                needed: size,
            },
        ),
        (
            "misaligned",
            Box::new(move |cpu| {
                if cpu == 1 {
                    std::ptr::slice_from_raw_parts_mut(base(1).wrapping_add(8), len(1) - 8)
                } else {
                    same(cpu)
                }
            }),
            AreaError::UnalignedArea { cpu: 1, align },
        ),
        (
            "too small",
            Box::new(move |cpu| {
                std::ptr::slice_from_raw_parts_mut(
                    base(cpu),
                    if cpu == 2 { size - 1 } else { size },
                )
            }),
            AreaError::AreaTooSmall {
                cpu: 2,
                size: size - 1,
                needed: size,
            },
        ),
        (
            "null",
            Box::new(move |cpu| {
                if cpu == 2 {
                    std::ptr::slice_from_raw_parts_mut(std::ptr::null_mut(), size)
                } else {
                    same(cpu)
                }
            }),
            AreaError::NullArea { cpu: 2 },
        ),
        (
            // The fault injection: two CPUs given the same area.
            "shared",
            Box::new(move |cpu| same(if cpu == 2 { 0 } else { cpu })),
            AreaError::AreasOverlap { cpu: 2, other: 0 },
        ),
        (
            "half overlapping",
            Box::new(move |cpu| {
                if cpu == 1 {
                    let p = base(0).wrapping_add(align);
                    std::ptr::slice_from_raw_parts_mut(p, size)
                } else {
                    same(cpu)
                }
            }),
            AreaError::AreasOverlap { cpu: 1, other: 0 },
        ),
    ];
    for (what, area_of, expected) in cases {
        assert_eq!(
            percpu::try_init_placed(table(3), 3, &*area_of),
            Err(expected),
            "{what}"
        );
        for &area in &areas {
            assert_untouched(area, 0x3c);
        }
    }
    assert_eq!(
        percpu::try_init_placed(table(2), 3, same),
        Err(AreaError::TableFull {
            capacity: 2,
            needed: 3
        })
    );
    assert_eq!(
        percpu::try_init_placed(table(2), 0, same),
        Err(AreaError::ZeroCpuCount)
    );
    for &area in &areas {
        assert_untouched(area, 0x3c);
    }
    // Contiguous areas cannot take one more CPU.
    let block = percpu::percpu_area_layout_expected(2);
    // SAFETY: a non-zero layout, leaked.
    let contiguous = unsafe { std::alloc::alloc_zeroed(block) };
    assert_eq!(percpu::try_init(contiguous, 2), Ok(2));
    assert_eq!(percpu::register_area(same(0)), Err(AreaError::NotPlaced));
    assert_untouched(areas[0], 0x3c);
}

/// Contiguous areas in a build with `placed`: the remote path reads each
/// area's own base word, and every copy is where the stride says.
#[test]
fn contiguous_areas_in_a_placed_build() {
    let _serial = serial();
    let n = 3;
    let layout = percpu::percpu_area_layout_expected(n);
    // SAFETY: a non-zero layout, leaked.
    let base = unsafe { std::alloc::alloc_zeroed(layout) } as usize;
    assert_eq!(percpu::try_init(base as *mut u8, n), Ok(n));
    let stride = percpu::percpu_area_size();
    for cpu in 0..n {
        assert_eq!(percpu::percpu_area_base(cpu), base + cpu * stride);
        // SAFETY: a pointer, not dereferenced.
        let remote = unsafe { HITS.remote_ptr(cpu) } as usize;
        assert_eq!(remote, base + cpu * stride + HITS.offset());
    }
    on_every_cpu(n, |cpu| {
        assert_eq!(percpu::read_percpu_reg(), base + cpu * stride);
        HITS.write_current(cpu as u64);
    });
    // SAFETY: the writers are done.
    unsafe {
        assert_eq!(HITS.sum_raw(), (0..n as u64).sum::<u64>());
    }
}

/// Areas the platform filled itself are adopted as they are: nothing is
/// written to them, and both current and remote accesses find them.
#[test]
fn adopted_areas_are_taken_as_they_are() {
    let _serial = serial();
    let areas = separate_areas(3, 0);
    // The "platform" fills them: the runtime's own copy, then CPUs use them.
    assert_eq!(
        percpu::try_init_placed(table(3), 3, |cpu| areas[cpu]),
        Ok(3)
    );
    on_every_cpu(3, |cpu| CPU_ID.write_current(cpu + 40));
    let before: Vec<Vec<u8>> = areas
        .iter()
        // SAFETY: no CPU runs; the areas are plain memory.
        .map(|&a| unsafe { (*a).to_vec() })
        .collect();
    let template_only =
        |cpu: usize| std::ptr::slice_from_raw_parts_mut(areas[cpu] as *mut u8, usize::MAX);
    // SAFETY: every area holds what the template became on its CPU.
    let adopted = unsafe { percpu::try_adopt_placed(table(3), 3, template_only) };
    assert_eq!(adopted, Ok(3));
    for (cpu, &area) in areas.iter().enumerate() {
        // SAFETY: as above.
        assert!(
            unsafe { *area == *before[cpu] },
            "CPU {cpu}'s adopted area was written"
        );
        // SAFETY: nobody writes.
        assert_eq!(unsafe { *CPU_ID.remote_ptr(cpu) }, cpu + 40);
    }
    on_every_cpu(3, |cpu| assert_eq!(CPU_ID.read_current(), cpu + 40));
    // No dynamic region: the platform's areas may end with the template.
    assert!(PerCpuBox::new(0u8).is_err());
    let short = |cpu: usize| std::ptr::slice_from_raw_parts_mut(areas[cpu] as *mut u8, 8);
    // SAFETY: as above; refused anyway.
    let refused = unsafe { percpu::try_adopt_placed(table(3), 3, short) };
    assert!(matches!(
        refused,
        Err(AreaError::AreaTooSmall {
            cpu: 0,
            size: 8,
            ..
        })
    ));
}
