//! Placed areas (feature `placed`): the kernel puts every CPU's area itself,
//! in a region of RAM away from its image, in a shuffled order with gaps,
//! through `percpu::try_init_placed`. With more than one CPU, the last one
//! is not started at boot: once the others ran the whole check set, it is
//! registered with `percpu::register_area` while they increment counters
//! and watch `percpu_area_num()` (the moment it counts the new CPU, its
//! copies must be whole: a slow constructor keeps the window wide), then
//! started and checked (its copies of the boxes allocated before it came
//! hold their constructors' values, every counter sum stays exact); then
//! every CPU runs the whole check set again (`crate::run_late_round`).
//!
//! With `placed-same-area`, the last boot CPU is given CPU 0's area: the
//! init must refuse it with `AreasOverlap` (the runner expects that line).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::{check_eq, fail, BOOT_CPUS, MAX_CPUS};

/// The areas' region: 128 MiB into RAM, far above the image (which the
/// kernel checks) and below the device tree QEMU puts near the top of
/// RAM on RISC-V; QEMU gives every board 256 MiB at least.
const REGION: usize = crate::arch::RAM_BASE + 0x0800_0000;
/// Bytes of the region.
const REGION_SIZE: usize = 0x0400_0000;
/// What the region holds before the areas are set up, so that a byte the
/// runtime failed to fill shows.
const JUNK: u8 = 0xEE;

/// The dynamic region each area gets: the script's (0), or `DYNAMIC` set at
/// run time where the configuration sizes it so (`init`, and the 0.4-style
/// script, which reserves none).
const DYNAMIC: usize = if cfg!(any(
    feature = "external-areas",
    feature = "legacy-script",
    feature = "sp-naive"
)) {
    crate::dynamic::DYNAMIC
} else {
    0
};

/// The base table: one entry per CPU the kernel will ever have.
struct Table(UnsafeCell<[usize; MAX_CPUS]>);
// SAFETY: handed to the runtime once, by CPU 0, before any other CPU runs.
unsafe impl Sync for Table {}
static TABLE: Table = Table(UnsafeCell::new([0; MAX_CPUS]));

/// Bytes of one area, set by `init`.
static AREA_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The multiplier of the shuffle: the first of these coprime with `n`.
fn multiplier(n: usize) -> usize {
    const fn gcd(a: usize, b: usize) -> usize {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    [5, 7, 11, 13, 17]
        .into_iter()
        .find(|&k| gcd(k, n) == 1)
        .unwrap_or(1)
}

/// The slot CPU `cpu` gets: a permutation of `0..MAX_CPUS`, neither the
/// identity nor its reverse for 4 or more CPUs.
fn slot_of(cpu: usize) -> usize {
    (cpu * multiplier(MAX_CPUS) + 3) % MAX_CPUS
}

/// Distance between two slots: two areas, so every area has a gap of one
/// area after it, plus a few alignments that differ from slot to slot.
fn slot_stride(size: usize) -> usize {
    2 * size + 3 * area_align()
}

fn area_align() -> usize {
    env!("PERCPU_TEST_AREA_ALIGN")
        .parse()
        .expect("build.rs passes a number")
}

/// Where CPU `cpu`'s area starts.
pub fn expected_base(cpu: usize) -> usize {
    let size = AREA_SIZE.load(Ordering::Relaxed);
    REGION + slot_of(cpu) * slot_stride(size) + (slot_of(cpu) % 3) * area_align()
}

fn area(base: usize) -> *mut [u8] {
    core::ptr::slice_from_raw_parts_mut(base as *mut u8, AREA_SIZE.load(Ordering::Relaxed))
}

/// The area the kernel hands the runtime for `cpu`: its slot, or CPU 0's
/// with the `placed-same-area` fault.
fn area_of(cpu: usize) -> *mut [u8] {
    if cfg!(feature = "placed-same-area") && cpu == BOOT_CPUS - 1 {
        return area(expected_base(0));
    }
    area(expected_base(cpu))
}

/// Sets the areas up on CPU 0, before any other CPU runs: `BOOT_CPUS`
/// of them, the last CPU's area left for `register_area`.
pub fn init() {
    extern "C" {
        static _kernel_end: u8;
    }
    let layout = match percpu::percpu_area_layout_placed(DYNAMIC) {
        Ok(layout) => layout,
        Err(err) => crate::abort(format_args!("percpu_area_layout_placed: {err:?}")),
    };
    AREA_SIZE.store(layout.size(), Ordering::Relaxed);
    // Only the address of the linker symbol is taken.
    let image_end = core::ptr::addr_of!(_kernel_end) as usize;
    let span = MAX_CPUS * slot_stride(layout.size());
    if image_end > REGION || span > REGION_SIZE || layout.align() > area_align() {
        crate::abort(format_args!(
            "placed areas: {span:#x} bytes of {layout:?} do not fit {REGION:#x}+{REGION_SIZE:#x} (image ends at {image_end:#x})"
        ));
    }
    if cfg!(feature = "placed-same-area") && BOOT_CPUS < 2 {
        crate::abort(format_args!("placed-same-area needs 2 boot CPUs"));
    }
    // SAFETY: RAM of the board that nothing else uses (checked above).
    unsafe { core::ptr::write_bytes(REGION as *mut u8, JUNK, span) };
    // SAFETY: CPU 0 alone runs; the table is handed over once.
    let table = unsafe { &mut *TABLE.0.get() };
    let result = percpu::try_init_placed_with_dynamic(table, BOOT_CPUS, DYNAMIC, area_of);
    match result {
        Ok(n) if n == BOOT_CPUS => {}
        Ok(n) => crate::abort(format_args!(
            "try_init_placed set up {n} areas, not {BOOT_CPUS}"
        )),
        Err(err) => crate::abort(format_args!("per-CPU init failed: {err:?} ({err})")),
    }
    println!(
        "areas: {BOOT_CPUS} placed by the kernel, {:#x} bytes each, in slots {:?} of {:#x} bytes from {REGION:#x}{}",
        layout.size(),
        Slots,
        slot_stride(layout.size()),
        if crate::LATE {
            "; the last CPU registers late"
        } else {
            ""
        },
    );
    // For the runner: inspect must report this size for a template-only
    // script (whose stride is one area, dynamic region included).
    println!("AREA_SIZE {:#x}", layout.size());
    #[cfg(feature = "sp-naive")]
    {
        // One CPU: the statics are globals, the area holds the dynamic region.
        check_eq(
            0,
            "sp-naive: the dynamic region is the placed area",
            percpu::percpu_dynamic_region().0,
            expected_base(0),
        );
        check_eq(
            0,
            "sp-naive: register_area refuses",
            percpu::register_area(area(expected_base(0))),
            Err(percpu::AreaError::NotPlaced),
        );
    }
    #[cfg(not(feature = "sp-naive"))]
    {
        check_eq(0, "percpu_area_num()", percpu::percpu_area_num(), BOOT_CPUS);
        for cpu in 0..BOOT_CPUS {
            check_eq(
                0,
                "percpu_area_base(cpu) is the area the kernel placed",
                percpu::percpu_area_base(cpu),
                expected_base(cpu),
            );
        }
    }
}

/// Formats the slot of every CPU.
struct Slots;
impl core::fmt::Debug for Slots {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries((0..MAX_CPUS.min(8)).map(slot_of))
            .finish()
    }
}

/// Every CPU's area holds its own base: on every CPU, the register and
/// `percpu_area_base` are the kernel's slot.
pub fn check_base(cpu: usize, base: usize) {
    if cfg!(not(feature = "sp-naive")) {
        check_eq(
            cpu,
            "area base is the kernel's slot",
            base,
            expected_base(cpu),
        );
    }
}

// ---------------------------------------------------------------------------
// The late CPU

/// A value written by CPU 0 before the CPUs that read it pass a barrier
/// or see `GO`.
struct Shared<T>(UnsafeCell<Option<T>>);
// SAFETY: written by CPU 0 only, ordered before every read (see `Shared`).
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    const fn new() -> Self {
        Shared(UnsafeCell::new(None))
    }
    fn get(&self) -> &T {
        // SAFETY: see `Shared`.
        unsafe { (*self.0.get()).as_ref().expect("set before the barrier") }
    }
    /// # Safety
    /// Nobody reads it at the same time.
    unsafe fn set(&self, value: Option<T>) {
        // SAFETY: the caller's.
        unsafe { *self.0.get() = value };
    }
}

type Pair = [u64; 2];
/// What a `new_with` box's constructor gives CPU `cpu`.
fn made(cpu: usize) -> Pair {
    [0xC0DE_0000 | cpu as u64, !(cpu as u64)]
}
/// The value a `new` box is created with.
const CLONED: [u32; 4] = [0xFEED, 1, 2, 0xBEEF];
/// What each CPU writes into its copies once it ran.
fn written(cpu: usize) -> Pair {
    [0xAAAA_0000 | cpu as u64, cpu as u64]
}

/// Spins of the late CPU's constructor.
const SLOW: usize = 4_000_000;

/// `made`, slowly for the late CPU: its constructor runs inside
/// `register_area`, and a registration that published the CPU before
/// making its copies would let the counting CPUs see it unmade for that
/// long (the window of a fill alone is microseconds, less than a host
/// time slice, so they would hardly ever look into it).
fn slowly_made(cpu: usize) -> Pair {
    if cpu == MAX_CPUS - 1 {
        for i in 0..SLOW {
            core::hint::black_box(i);
        }
    }
    made(cpu)
}

static MADE: Shared<percpu::PerCpuBox<Pair>> = Shared::new();
static CLONE: Shared<percpu::PerCpuBox<[u32; 4]>> = Shared::new();
static COUNTER: Shared<percpu::PerCpuCounter> = Shared::new();
/// The static counter's sum before the late phase.
static TICKS_BEFORE: AtomicUsize = AtomicUsize::new(0);
/// Failed checks before the late phase: its line says OK only if none
/// failed during it, on any CPU.
static FAILURES_BEFORE: AtomicUsize = AtomicUsize::new(0);
/// Boot CPUs that started incrementing.
static HAMMERING: AtomicUsize = AtomicUsize::new(0);
/// The late CPU checked its copies and is counting.
static LATE_ONLINE: AtomicBool = AtomicBool::new(false);
/// Increments each CPU made in the late phase.
static ADDS: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
/// CPUs done with the late phase.
static DONE: AtomicUsize = AtomicUsize::new(0);
/// Set by CPU 0 when every CPU may start the second round.
static GO: AtomicBool = AtomicBool::new(false);

/// Increments every CPU makes after the late CPU came.
const AFTER: usize = 5_000;

fn bump(mine: &mut usize) {
    COUNTER.get().add(1);
    crate::dynamic::TICKS.inc();
    *mine += 1;
}

/// The late phase on boot CPU `cpu`: barriers `first` and `first + 1`.
pub fn boot_cpu(cpu: usize, first: usize) {
    if cpu == 0 {
        let made = percpu::PerCpuBox::new_with(slowly_made);
        let cloned = percpu::PerCpuBox::new(CLONED);
        let counter = percpu::PerCpuCounter::new();
        let (Ok(made), Ok(cloned), Ok(counter)) = (made, cloned, counter) else {
            crate::abort(format_args!("late phase: allocation failed"));
        };
        // SAFETY: the others read them after the barrier.
        unsafe {
            MADE.set(Some(made));
            CLONE.set(Some(cloned));
            COUNTER.set(Some(counter));
        }
        TICKS_BEFORE.store(crate::dynamic::TICKS.sum() as usize, Ordering::Relaxed);
        FAILURES_BEFORE.store(crate::FAILURES.load(Ordering::Acquire), Ordering::Relaxed);
    }
    crate::barrier(first);
    // Each CPU's copies change: the late CPU's must come from the
    // constructors, not from anybody's copy.
    check_eq(
        cpu,
        "new_with box before",
        MADE.get().with_current(|v| *v),
        made(cpu),
    );
    MADE.get().with_current(|v| *v = written(cpu));
    CLONE.get().with_current(|v| v[0] = cpu as u32);
    crate::barrier(first + 1);

    let mut mine = 0;
    if cpu == 0 {
        // Register and start the late CPU while the others count.
        while HAMMERING.load(Ordering::Acquire) < BOOT_CPUS - 1 {
            bump(&mut mine);
        }
        register_late();
        while !LATE_ONLINE.load(Ordering::Acquire) {
            bump(&mut mine);
        }
    } else {
        HAMMERING.fetch_add(1, Ordering::AcqRel);
        // A remote reader racing with the registration: once the count
        // says the late CPU is there, its whole area must be.
        let mut seen = false;
        while !LATE_ONLINE.load(Ordering::Acquire) {
            bump(&mut mine);
            if !seen && percpu::percpu_area_num() == MAX_CPUS {
                seen = true;
                RACED.fetch_add(1, Ordering::Relaxed);
                observe_late(cpu);
            }
        }
        if !seen {
            observe_late(cpu);
        }
    }
    for _ in 0..AFTER {
        bump(&mut mine);
    }
    ADDS[cpu].store(mine, Ordering::Relaxed);
    DONE.fetch_add(1, Ordering::AcqRel);
    if cpu == 0 {
        finish();
    }
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

/// Boot CPUs that saw the late CPU's area published while counting.
static RACED: AtomicUsize = AtomicUsize::new(0);

/// On a boot CPU, once `percpu_area_num()` counts the late CPU: its copies
/// hold the constructors' values and the template (it writes them only
/// after every boot CPU is done).
fn observe_late(cpu: usize) {
    let late = MAX_CPUS - 1;
    // SAFETY: published (the count, read with Acquire); nobody writes them
    // until every boot CPU is done.
    let copies = unsafe {
        (
            *MADE.get().remote_ref_raw(late),
            *CLONE.get().remote_ref_raw(late),
            *crate::vars::RECORD.remote_ptr(late),
        )
    };
    check_eq(
        cpu,
        "the late CPU's copies, seen once its area is published",
        copies,
        (made(late), CLONED, crate::vars::RECORD_INIT),
    );
}

/// Registers the late CPU's area, after the refusals that must write
/// nothing, and starts it.
fn register_late() {
    use percpu::AreaError;
    let late = MAX_CPUS - 1;
    let victim = BOOT_CPUS - 1;
    let size = AREA_SIZE.load(Ordering::Relaxed);
    let align = area_align();
    let record_before = unsafe { *crate::vars::RECORD.remote_ptr(victim) };
    let made_before = unsafe { *MADE.get().remote_ref_raw(victim) };
    let late_base = expected_base(late);
    // Overlapping a running CPU's area by one alignment; misaligned; small.
    let refusals = [
        (
            area(expected_base(victim) + align),
            Err(AreaError::AreasOverlap {
                cpu: late,
                other: victim,
            }),
        ),
        (
            area(late_base + 8),
            Err(AreaError::UnalignedArea { cpu: late, align }),
        ),
        (
            core::ptr::slice_from_raw_parts_mut(late_base as *mut u8, size - align),
            Err(AreaError::AreaTooSmall {
                cpu: late,
                size: size - align,
                needed: size,
            }),
        ),
    ];
    for (bad, expected) in refusals {
        check_eq(
            0,
            "register_area refuses a bad area",
            percpu::register_area(bad),
            expected,
        );
    }
    check_eq(
        0,
        "refused: area count unchanged",
        percpu::percpu_area_num(),
        BOOT_CPUS,
    );
    check_eq(
        0,
        "refused: the running CPU's copies unchanged",
        (unsafe { *crate::vars::RECORD.remote_ptr(victim) }, unsafe {
            *MADE.get().remote_ref_raw(victim)
        }),
        (record_before, made_before),
    );
    // SAFETY: the late area, not yet anybody's.
    let untouched = unsafe { core::slice::from_raw_parts(late_base as *const u8, size) };
    check_eq(
        0,
        "refused: late area untouched",
        untouched.iter().all(|&b| b == JUNK),
        true,
    );

    let sum_before = COUNTER.get().sum();
    check_eq(
        0,
        "register_area",
        percpu::register_area(area(late_base)),
        Ok(late),
    );
    let sum_after = COUNTER.get().sum();
    if sum_after < sum_before {
        fail(
            0,
            "counter sum went down across the registration",
            format_args!("{sum_before} then {sum_after}"),
        );
    }
    check_eq(
        0,
        "percpu_area_num() after register_area",
        percpu::percpu_area_num(),
        MAX_CPUS,
    );
    check_eq(
        0,
        "percpu_area_base(late)",
        percpu::percpu_area_base(late),
        late_base,
    );
    // The late CPU's copies, seen from here before it runs.
    // SAFETY: registered above; nobody writes them yet.
    unsafe {
        check_eq(
            0,
            "late CPU's new_with copy (remote)",
            *MADE.get().remote_ref_raw(late),
            made(late),
        );
        check_eq(
            0,
            "late CPU's new copy (remote)",
            *CLONE.get().remote_ref_raw(late),
            CLONED,
        );
        check_eq(
            0,
            "late CPU's RECORD (remote)",
            *crate::vars::RECORD.remote_ptr(late),
            crate::vars::RECORD_INIT,
        );
    }
    crate::arch::start_secondary(late, crate::platform::hw_id(late));
}

/// The late CPU, once its register is set: its copies, then its share of
/// the counting; then the second round like everyone.
pub fn late_cpu(cpu: usize) {
    check_eq(
        cpu,
        "late CPU: register is its area",
        percpu::read_percpu_reg(),
        expected_base(cpu),
    );
    check_eq(
        cpu,
        "late CPU: new_with copy is init(cpu)",
        MADE.get().with_current(|v| *v),
        made(cpu),
    );
    check_eq(
        cpu,
        "late CPU: new copy is the value",
        CLONE.get().with_current(|v| *v),
        CLONED,
    );
    crate::checks::check_initial(cpu);
    let mut mine = 0;
    for _ in 0..AFTER {
        bump(&mut mine);
    }
    LATE_ONLINE.store(true, Ordering::Release);
    // The boot CPUs read these copies remotely until they are done.
    while DONE.load(Ordering::Acquire) < BOOT_CPUS {
        core::hint::spin_loop();
    }
    MADE.get().with_current(|v| *v = written(cpu));
    CLONE.get().with_current(|v| v[0] = cpu as u32);
    ADDS[cpu].store(mine, Ordering::Relaxed);
    DONE.fetch_add(1, Ordering::AcqRel);
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

/// On CPU 0 once every CPU counted: exact sums, every copy, the line for
/// the runner; then the second round is opened for all CPUs.
fn finish() {
    while DONE.load(Ordering::Acquire) < MAX_CPUS {
        core::hint::spin_loop();
    }
    let late = MAX_CPUS - 1;
    let adds: usize = ADDS.iter().map(|a| a.load(Ordering::Relaxed)).sum();
    let sum = COUNTER.get().sum();
    let ticks = crate::dynamic::TICKS.sum();
    let ok = check_eq(
        0,
        "run-time counter sum across the addition",
        sum,
        adds as i64,
    ) & check_eq(
        0,
        "static counter sum across the addition",
        ticks,
        (TICKS_BEFORE.load(Ordering::Relaxed) + adds) as i64,
    );
    let mut copies = true;
    for cpu in 0..MAX_CPUS {
        // SAFETY: every CPU finished writing (DONE).
        unsafe {
            copies &= check_eq(
                0,
                "every new_with copy",
                *MADE.get().remote_ref_raw(cpu),
                written(cpu),
            );
            let mut cloned = CLONED;
            cloned[0] = cpu as u32;
            copies &= check_eq(
                0,
                "every new copy",
                *CLONE.get().remote_ref_raw(cpu),
                cloned,
            );
        }
    }
    println!(
        "LATE CPU {late}: {} registered at {:#x} while {} CPUs counted ({} saw it published meanwhile); counter={sum} ticks={ticks} over {adds} increments",
        if ok && copies && crate::FAILURES.load(Ordering::Acquire) == FAILURES_BEFORE.load(Ordering::Relaxed) {
            "OK"
        } else {
            "FAIL"
        },
        expected_base(late),
        BOOT_CPUS,
        RACED.load(Ordering::Relaxed),
    );
    // SAFETY: nobody uses them any more (DONE); dropping frees their space.
    unsafe {
        MADE.set(None);
        CLONE.set(None);
        COUNTER.set(None);
    }
    crate::start_round(MAX_CPUS);
    GO.store(true, Ordering::Release);
}
