//! Run-time per-CPU data under QEMU: every CPU allocates a `PerCpuBox` at
//! once, every CPU writes its copy of every box, the boot CPU checks every
//! copy, the boxes are freed and allocated again into the same space, and
//! a run-time and a static `PerCpuCounter` sum every CPU's increments.
//! Every CPU also allocates boxes of a 64-byte-aligned type, sized and
//! zero-sized, and checks that every CPU's copy is at an aligned address.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use percpu::{PerCpuBox, PerCpuCounter};

use crate::{barrier, check_eq, MAX_CPUS};

/// Bytes of dynamic region per area: the linker script's `--dynamic`
/// (build.rs), or what `init_with_dynamic` is given; more with placed
/// areas, whose allocations keep their constructors beside them.
pub const DYNAMIC: usize = if cfg!(feature = "placed") {
    0x4000
} else {
    4096
};

/// Increments of each counter on each CPU.
const COUNTS: i64 = 10_000;

/// Tells a copy's owner, CPU and box apart.
const MAGIC: u64 = 0x5EED_0000_0000_0000;

type Slot = [u64; 3];

/// One box per CPU, each written only by its owner before and after the
/// barriers that order it with the others' reads.
struct Boxes(UnsafeCell<[Option<PerCpuBox<Slot>>; MAX_CPUS]>);

// SAFETY: slot `i` is written by CPU `i` only, between barriers; everyone
// else reads it only after the next barrier.
unsafe impl Sync for Boxes {}

static BOXES: Boxes = Boxes(UnsafeCell::new([const { None }; MAX_CPUS]));
/// Offsets of the first allocation round, by owner.
static FIRST_OFFSETS: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

struct Counter(UnsafeCell<Option<PerCpuCounter>>);
// SAFETY: written by CPU 0 before the first barrier, read after it.
unsafe impl Sync for Counter {}
static COUNTER: Counter = Counter(UnsafeCell::new(None));

percpu::def_percpu_counter!(
    /// A static counter, in the template: every CPU's copy starts at 0.
    pub(crate) static TICKS
);

fn slot(owner: usize) -> &'static Option<PerCpuBox<Slot>> {
    // SAFETY: see `Boxes`.
    unsafe { &(*BOXES.0.get())[owner] }
}

fn set_slot(owner: usize, value: Option<PerCpuBox<Slot>>) {
    // SAFETY: only `owner` writes its slot, between barriers.
    unsafe { (*BOXES.0.get())[owner] = value };
}

fn counter() -> &'static PerCpuCounter {
    // SAFETY: set by CPU 0 before the first barrier of `run`.
    unsafe {
        (*COUNTER.0.get())
            .as_ref()
            .expect("the counter is allocated")
    }
}

/// On CPU 0 once every CPU left `run` (after a barrier): frees the
/// counter, so that a next round starts with an empty region like the
/// first (its `a freed box's space is allocated again` assumes so).
pub fn end_round() {
    // SAFETY: nobody uses the counter any more (the caller's barrier).
    unsafe { *COUNTER.0.get() = None };
}

/// With `sp-naive` the dynamic region is memory `init_with_dynamic` gets.
#[cfg(feature = "sp-naive")]
pub fn init_naive_region() {
    #[repr(C, align(64))]
    struct Region([u8; DYNAMIC]);
    static mut REGION: Region = Region([0; DYNAMIC]);
    let base = core::ptr::addr_of_mut!(REGION) as *mut u8;
    if let Err(err) = percpu::init_with_dynamic(base, 1, DYNAMIC) {
        crate::abort(format_args!("init_with_dynamic failed: {err:?}"));
    }
}

/// Aligned to the default area alignment, the most every configuration
/// guarantees: 192 bytes, three cache lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Lines([u64; 24]);

/// Aligned as `Lines`, and zero-sized: its pointer must be aligned too.
#[repr(align(64))]
struct NoLines;

/// Allocates a box of `Lines` and one of `NoLines`, and checks the address
/// of every CPU's copy of each, and this CPU's `&mut`.
fn check_aligned_boxes(cpu: usize) {
    let lines = match PerCpuBox::new(Lines([cpu as u64; 24])) {
        Ok(b) => b,
        Err(err) => crate::abort(format_args!("CPU {cpu}: PerCpuBox<Lines>: {err}")),
    };
    let none = match PerCpuBox::new_with(|_| NoLines) {
        Ok(b) => b,
        Err(err) => crate::abort(format_args!("CPU {cpu}: PerCpuBox<NoLines>: {err}")),
    };
    for copy in 0..crate::round_cpus() {
        // SAFETY: only the addresses are used.
        let (at, empty_at) = unsafe { (lines.remote_ptr(copy), none.remote_ptr(copy)) };
        check_eq(
            cpu,
            "a 64-aligned box's copies are 64-aligned",
            at as usize % 64,
            0,
        );
        check_eq(
            cpu,
            "a zero-sized 64-aligned box's copies are 64-aligned",
            empty_at as usize % 64,
            0,
        );
    }
    lines.with_current(|l| {
        check_eq(
            cpu,
            "a 64-aligned box's &mut is 64-aligned",
            l as *mut Lines as usize % 64,
            0,
        );
        check_eq(cpu, "a 64-aligned box's copy", l.0[23], cpu as u64);
    });
}

/// Allocates `owner`'s box: every copy says whose it is and for which CPU.
fn allocate(owner: usize) -> PerCpuBox<Slot> {
    match PerCpuBox::new_with(move |cpu| [MAGIC | (owner << 8 | cpu) as u64, 0, 0]) {
        Ok(b) => b,
        Err(err) => crate::abort(format_args!("CPU {owner}: PerCpuBox::new_with: {err}")),
    }
}

/// What every CPU does; barriers `first` .. `first + 3` are this phase's.
///
/// A percpu 0.4-style script (`legacy-script`) reserves no dynamic region:
/// there an allocation must fail cleanly, and nothing else runs.
pub fn run(cpu: usize, first: usize) {
    if cfg!(feature = "legacy-script") && !cfg!(feature = "placed") {
        let (_, size) = percpu::percpu_dynamic_region();
        let too_big = PerCpuBox::new([0u8; 4096]).map(|_| ());
        check_eq(
            cpu,
            "a region of {size} bytes refuses 4 KiB",
            too_big.is_err(),
            size < 4096,
        );
        for n in first..first + 4 {
            barrier(n);
        }
        return;
    }
    let (start, size) = percpu::percpu_dynamic_region();
    check_eq(
        cpu,
        "dynamic region holds DYNAMIC bytes",
        size >= DYNAMIC,
        true,
    );
    let cpus = crate::round_cpus();
    // The static counter keeps its earlier rounds' counts.
    let ticks_before = TICKS.sum();
    if cpu == 0 {
        match PerCpuCounter::new() {
            // SAFETY: nobody reads it before the barrier below.
            Ok(c) => unsafe { *COUNTER.0.get() = Some(c) },
            Err(err) => crate::abort(format_args!("PerCpuCounter::new: {err}")),
        }
    }
    // Every CPU allocates at once.
    let mine = allocate(cpu);
    let offset = mine.offset();
    check_eq(
        cpu,
        "box offset inside the dynamic region",
        offset >= start && offset + core::mem::size_of::<Slot>() <= start + size,
        true,
    );
    FIRST_OFFSETS[cpu].store(offset, Ordering::Relaxed);
    set_slot(cpu, Some(mine));
    barrier(first);

    // Every CPU writes its copy of every box, and bumps the counters.
    for owner in 0..cpus {
        let b = slot(owner).as_ref().expect("allocated before the barrier");
        let write = |v: &mut Slot| {
            v[0] += cpu as u64;
            v[1] = (cpu * 1000 + owner) as u64;
            v[2] = b.offset() as u64;
        };
        if crate::injected("box-cross") && cpu == 1 {
            // The fault: CPU 1 writes CPU 0's copy instead of its own.
            // SAFETY: a deliberate race the checks must catch.
            write(unsafe { b.remote_ref_mut_raw(0) });
        } else {
            b.with_current(write);
        }
    }
    check_aligned_boxes(cpu);
    // A box of a primitive: the single-access methods.
    let small = match PerCpuBox::new(10u64) {
        Ok(b) => b,
        Err(err) => crate::abort(format_args!("CPU {cpu}: PerCpuBox::new: {err}")),
    };
    small.add_current(cpu as u64);
    small.sub_current(1);
    check_eq(
        cpu,
        "box add_current/read_current",
        small.read_current(),
        9 + cpu as u64,
    );
    drop(small);
    for _ in 0..COUNTS {
        counter().add(1);
        TICKS.inc();
    }
    counter().add(cpu as i64);
    barrier(first + 1);

    if cpu == 0 {
        for owner in 0..cpus {
            let b = slot(owner).as_ref().expect("allocated");
            for copy in 0..cpus {
                // SAFETY: every CPU finished writing at the barrier.
                let v = unsafe { *b.remote_ref_raw(copy) };
                let expected = [
                    (MAGIC | (owner << 8 | copy) as u64) + copy as u64,
                    (copy * 1000 + owner) as u64,
                    b.offset() as u64,
                ];
                check_eq(0, "every copy of every box", v, expected);
            }
        }
        let n = cpus as i64;
        check_eq(
            0,
            "PerCpuCounter::sum",
            counter().sum(),
            n * COUNTS + n * (n - 1) / 2,
        );
        check_eq(
            0,
            "static counter sum",
            TICKS.sum(),
            ticks_before + n * COUNTS,
        );
        println!(
            "DYNAMIC {start:#x} {size:#x} counter={} ticks={}",
            counter().sum(),
            TICKS.sum()
        );
    }
    barrier(first + 2);

    // Free, then allocate again: the same space is used again.
    set_slot(cpu, None);
    barrier(first + 3);
    let again = allocate(cpu);
    let reused = FIRST_OFFSETS
        .iter()
        .any(|o| o.load(Ordering::Relaxed) == again.offset());
    check_eq(cpu, "a freed box's space is allocated again", reused, true);
    drop(again);
}
