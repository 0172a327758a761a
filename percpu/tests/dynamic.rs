//! Per-CPU data allocated at run time: `PerCpuBox`, `PerCpuCounter`, the
//! views over every CPU, and the allocator behind them, in x86_64 Linux
//! user space where each thread plays a CPU.
//!
//! This binary sets its areas up itself, in memory it allocates, with a
//! dynamic region (`init_with_dynamic`), so the tests share one process-wide
//! set of areas and run one at a time.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard, Once};

use percpu::{AllocError, AreaError, PerCpuBox, PerCpuCounter};

/// CPUs (threads) the tests use; `sp-naive` has one.
const CPUS: usize = if cfg!(feature = "sp-naive") { 1 } else { 4 };
/// Bytes of dynamic region per area.
const DYNAMIC: usize = 8192;

static SETUP: Once = Once::new();
/// The areas' memory, never freed.
static AREAS: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static SERIAL: Mutex<()> = Mutex::new(());

#[percpu::def_percpu]
static CPU_ID: usize = usize::MAX;

percpu::def_percpu_counter!(
    /// A static counter.
    static EVENTS
);

/// Sets the areas up once, with a dynamic region, and makes this thread
/// CPU `cpu`; serialises the tests.
fn on_cpu(cpu: usize) -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    SETUP.call_once(|| {
        let layout = percpu::percpu_area_layout_with_dynamic(CPUS, DYNAMIC).unwrap();
        // SAFETY: a non-zero layout; the memory is leaked on purpose (the
        // areas live as long as the process), reachable from `AREAS`.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        AREAS.store(base, Ordering::Relaxed);
        assert_eq!(percpu::init_with_dynamic(base, CPUS, DYNAMIC), Ok(CPUS));
        let (start, size) = percpu::percpu_dynamic_region();
        assert!(size >= DYNAMIC, "region of {size} bytes at {start:#x}");
    });
    percpu::init_percpu_reg(cpu);
    guard
}

fn on_each_cpu(f: impl Fn(usize) + Sync) {
    let barrier = Barrier::new(CPUS);
    std::thread::scope(|scope| {
        for cpu in 0..CPUS {
            let (f, barrier) = (&f, &barrier);
            scope.spawn(move || {
                percpu::init_percpu_reg(cpu);
                barrier.wait();
                f(cpu);
            });
        }
    });
}

#[derive(Clone, Debug, PartialEq)]
struct Stats {
    cpu: usize,
    ticks: u64,
    name: [u8; 6],
}

#[test]
fn primitive_box_has_every_method() {
    let _cpu = on_cpu(0);
    let b = PerCpuBox::new_with(|cpu| 100 + cpu as u64).unwrap();
    assert_eq!(b.read_current(), 100);
    b.write_current(7);
    b.add_current(5);
    b.sub_current(2);
    assert_eq!(b.read_current(), 10);
    b.or_current(0x30);
    b.and_current(0x3c);
    b.xor_current(0x1);
    assert_eq!(b.read_current(), 0x39);
    assert_eq!(b.xchg_current(4), 0x39);
    assert_eq!(b.cmpxchg_current(4, 9), 4);
    assert_eq!(b.cmpxchg_current(4, 1), 9);
    assert_eq!(b.with_current(|v| std::mem::replace(v, 11)), 9);
    assert_eq!(b.with_current_irqsave(|v| *v), 11);
    assert_eq!(*b.current_ref(), 11);
    // SAFETY: this thread is the only one using the box.
    unsafe {
        assert_eq!(b.read_current_raw(), 11);
        b.write_current_raw(12);
        assert_eq!(*b.current_ref_raw(), 12);
        *b.current_ref_mut_raw() += 1;
        assert_eq!(*b.current_ptr(), 13);
        assert_eq!(
            b.current_ptr() as usize,
            percpu::read_percpu_reg() + b.offset()
        );
        for cpu in (0..CPUS).skip(1) {
            assert_eq!(*b.remote_ref_raw(cpu), 100 + cpu as u64);
            *b.remote_ref_mut_raw(cpu) += 1;
            assert_eq!(*b.remote_ptr(cpu), 101 + cpu as u64);
        }
        // The views: every copy with its CPU, and their sum.
        let copies: Vec<(usize, u64)> = b.iter_raw().map(|(cpu, v)| (cpu, *v)).collect();
        assert_eq!(copies.len(), CPUS);
        assert_eq!(copies[0], (0, 13));
        assert_eq!(
            b.sum_raw(),
            13 + (1..CPUS as u64).map(|c| 101 + c).sum::<u64>()
        );
    }
    // The offset is in the dynamic region, after the template.
    let (start, size) = percpu::percpu_dynamic_region();
    assert!(b.offset() >= start && b.offset() + 8 <= start + size);
}

#[test]
fn struct_box_and_its_copies() {
    let _cpu = on_cpu(0);
    let b = PerCpuBox::new_with(|cpu| Stats {
        cpu,
        ticks: 0,
        name: *b"stats!",
    })
    .unwrap();
    b.with_current(|s| s.ticks += 3);
    assert_eq!(b.current_ref().ticks, 3);
    // SAFETY: only the address is used.
    assert_eq!(
        unsafe { b.current_ptr() } as usize % core::mem::align_of::<Stats>(),
        0
    );
    on_each_cpu(|cpu| {
        assert_eq!(b.current_ref().cpu, cpu);
        b.with_current(|s| s.ticks += 10 * cpu as u64);
    });
    for cpu in 0..CPUS {
        // SAFETY: the threads are done.
        let s = unsafe { b.remote_ref_raw(cpu) };
        assert_eq!(
            (s.cpu, s.ticks),
            (cpu, if cpu == 0 { 3 } else { 10 * cpu as u64 })
        );
    }
    let copy = PerCpuBox::new(Stats {
        cpu: 9,
        ticks: 1,
        name: *b"cloned",
    })
    .unwrap();
    assert_eq!(copy.current_ref().name, *b"cloned");
    assert_ne!(copy.offset(), b.offset());
}

/// Counts live `Tracked` values, to see that `Drop` runs once per copy.
static LIVE: AtomicUsize = AtomicUsize::new(0);

struct Tracked(#[allow(dead_code)] usize);

impl Tracked {
    fn new(cpu: usize) -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Tracked(cpu)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn drop_runs_once_per_copy_and_frees_the_space() {
    let _cpu = on_cpu(0);
    let before = LIVE.load(Ordering::SeqCst);
    let b = PerCpuBox::new_with(Tracked::new).unwrap();
    let offset = b.offset();
    assert_eq!(LIVE.load(Ordering::SeqCst), before + CPUS);
    drop(b);
    assert_eq!(LIVE.load(Ordering::SeqCst), before);
    // The space is free again: the next box of the same shape reuses it.
    let again = PerCpuBox::new_with(Tracked::new).unwrap();
    assert_eq!(again.offset(), offset);
}

#[test]
fn full_region_is_an_error_and_frees_recover() {
    let _cpu = on_cpu(0);
    let mut boxes = Vec::new();
    let err = loop {
        match PerCpuBox::new([0u8; 512]) {
            Ok(b) => boxes.push(b),
            Err(e) => break e,
        }
        assert!(
            boxes.len() <= DYNAMIC / 512 + 1,
            "the region never filled up"
        );
    };
    assert!(
        matches!(err, AllocError::OutOfSpace { size: 512, .. }),
        "{err}"
    );
    assert!(boxes.len() >= DYNAMIC / 512 - 4);
    // Every box is intact and distinct.
    for (i, b) in boxes.iter().enumerate() {
        b.with_current(|v| v[0] = i as u8);
    }
    for (i, b) in boxes.iter().enumerate() {
        assert_eq!(b.current_ref()[0], i as u8);
    }
    // Free every other one: 512-byte holes, but no room for 1024 bytes.
    let kept: Vec<_> = boxes
        .into_iter()
        .enumerate()
        .filter_map(|(i, b)| (i % 2 == 0).then_some(b))
        .collect();
    assert!(PerCpuBox::new([0u8; 1024]).is_err());
    let small = PerCpuBox::new([1u8; 512]).unwrap();
    drop(small);
    drop(kept);
    // All freed: the whole region is one run again.
    let big = PerCpuBox::new([0u8; DYNAMIC - 512]).unwrap();
    drop(big);
    // Alignment beyond the areas' own is refused, not approximated.
    #[repr(align(4096))]
    struct Page(#[allow(dead_code)] [u8; 4096]);
    let err = PerCpuBox::new_with(|_| Page([0; 4096]))
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(err, AllocError::AlignmentTooLarge { align: 4096, .. }),
        "{err}"
    );
}

#[test]
fn re_init_under_live_allocations_is_refused() {
    let _cpu = on_cpu(0);
    let b = PerCpuBox::new(5u32).unwrap();
    let layout = percpu::percpu_area_layout_with_dynamic(CPUS, DYNAMIC).unwrap();
    // SAFETY: a non-zero layout, freed below.
    let other = unsafe { std::alloc::alloc_zeroed(layout) };
    assert_eq!(
        percpu::init_with_dynamic(other, CPUS, DYNAMIC),
        Err(AreaError::DynamicRegionInUse)
    );
    assert_eq!(b.read_current(), 5, "nothing was written");
    // SAFETY: allocated above with this layout, never used as areas.
    unsafe { std::alloc::dealloc(other, layout) };
}

#[test]
#[cfg(not(feature = "sp-naive"))]
fn four_cpus_allocate_and_free_in_a_storm() {
    let _cpu = on_cpu(0);
    on_each_cpu(|cpu| {
        let mut mine: Vec<PerCpuBox<[u64; 3]>> = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ cpu as u64;
        for round in 0..3000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if mine.len() < 8 && seed % 3 != 0 {
                match PerCpuBox::new([cpu as u64, round, 0]) {
                    Ok(b) => {
                        b.with_current(|v| v[2] = round ^ cpu as u64);
                        mine.push(b);
                    }
                    Err(AllocError::OutOfSpace { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            } else if !mine.is_empty() {
                let b = mine.swap_remove((seed as usize / 3) % mine.len());
                // Nobody else's writes ever landed in it.
                let v = *b.current_ref();
                assert_eq!((v[0], v[2]), (cpu as u64, v[1] ^ cpu as u64));
                // SAFETY: the box is this thread's; other CPUs' copies of it
                // are only ever read here.
                for other in 0..CPUS {
                    assert_eq!(unsafe { b.remote_ref_raw(other)[0] }, cpu as u64);
                }
            }
        }
    });
}

#[test]
fn counters_sum_exactly() {
    let _cpu = on_cpu(0);
    let counter = PerCpuCounter::new().unwrap();
    // Miri runs each add some thousand times slower.
    const ADDS: i64 = if cfg!(miri) { 500 } else { 50_000 };
    on_each_cpu(|cpu| {
        for _ in 0..ADDS {
            counter.add(cpu as i64 + 1);
            EVENTS.inc();
        }
        counter.add(-1);
    });
    let expected: i64 = (1..=CPUS as i64).map(|n| n * ADDS - 1).sum();
    assert_eq!(counter.sum(), expected);
    assert_eq!(EVENTS.sum(), ADDS * CPUS as i64);
    EVENTS.add(-(ADDS * CPUS as i64));
    assert_eq!(EVENTS.sum(), 0);
    // A static's view, the unsafe form: every CPU's id after they wrote it.
    on_each_cpu(|cpu| CPU_ID.write_current(cpu));
    // SAFETY: the writers are done.
    let ids: Vec<usize> = unsafe { CPU_ID.iter_raw() }.map(|(_, &id)| id).collect();
    assert_eq!(ids, (0..CPUS).collect::<Vec<_>>());
    assert_eq!(unsafe { CPU_ID.sum_raw() }, (0..CPUS).sum::<usize>());
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "`PerCpuBox` is already borrowed mutably on this CPU")]
fn nested_with_current_on_a_box_panics() {
    let _cpu = on_cpu(0);
    let b = PerCpuBox::new(0u32).unwrap();
    b.with_current(|_| b.with_current(|v| *v += 1));
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "but only")]
fn remote_past_the_last_area_panics_on_a_box() {
    let _cpu = on_cpu(0);
    let b = PerCpuBox::new(0u32).unwrap();
    let _ = unsafe { b.remote_ptr(CPUS) };
}
