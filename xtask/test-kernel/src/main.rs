//! The percpu QEMU test kernel.
//!
//! Boots every CPU, sets up the per-CPU areas (`init_in_place()`,
//! `init(base, n)` on a static buffer with the `external-areas` feature, or
//! areas the kernel places itself with `placed`, whose last CPU joins late:
//! see `placed.rs`),
//! points each CPU's per-CPU register at its area, and then runs the same
//! checks on all CPUs at once: initial values of a variable of every
//! primitive type and of a struct, every access method, 100,000 increments
//! with `add_current` and with `with_current`, remote reads of every other
//! CPU's copies, the register against `percpu_area_base`, and `reset_to_init`.
//! A per-CPU array larger than 64 KiB comes first in `.percpu`, so that the
//! other variables' offsets need more than 16 bits.
//!
//! Output (read by `cargo xtask test-all-arches`): one `CPU n: OK ...` (or
//! `CPU n: FAIL ...`) line per CPU (with a late CPU, also `EARLY CPU n: OK`
//! for each boot CPU's first round and `LATE CPU n: OK`), one
//! `OFFSET <NAME> 0x<hex>` line per
//! variable, then `PASS` or `FAIL: <what>`; QEMU then exits with status 0
//! or non-zero.

#![no_std]
#![no_main]
#![deny(missing_docs)]

use core::cell::UnsafeCell;
use core::fmt::{self, Debug, Write};
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Number of CPUs the kernel boots (QEMU's `-smp`), and of the per-CPU
/// areas its linker script reserves: `PERCPU_TEST_CPUS` at build time
/// (build.rs; 4 if unset, always 1 with `sp-naive`). The platform must
/// report exactly this many CPUs.
pub const MAX_CPUS: usize = parse_count(env!("PERCPU_TEST_CPUS"));

/// Whether the last CPU joins late (`placed`, more than one CPU): it is
/// registered with `percpu::register_area` and started once the others ran
/// the check set (`placed.rs`).
pub const LATE: bool = cfg!(feature = "placed") && !cfg!(feature = "sp-naive") && MAX_CPUS > 1;

/// CPUs started at boot, and the areas set up then.
pub const BOOT_CPUS: usize = if LATE { MAX_CPUS - 1 } else { MAX_CPUS };

/// The decimal number build.rs passes, at compile time.
const fn parse_count(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut value = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(
            bytes[i].is_ascii_digit(),
            "PERCPU_TEST_CPUS is not a number"
        );
        value = value * 10 + (bytes[i] - b'0') as usize;
        i += 1;
    }
    assert!(value > 0, "PERCPU_TEST_CPUS must be at least 1");
    value
}

/// The architecture this kernel was built for, by our name for it (build.rs).
const ARCH: &str = env!("PERCPU_TEST_ARCH");

/// Size of each CPU's boot stack.
pub const STACK_SIZE: usize = 0x10000;

/// One boot stack per CPU; CPU `i` uses slot `i` (the stack grows down from
/// the slot's end).
#[repr(C, align(16))]
pub struct Stacks(pub [[u8; STACK_SIZE]; MAX_CPUS]);

/// The boot stacks, referenced by name from each architecture's entry code.
#[no_mangle]
pub static mut BOOT_STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_CPUS]);

// ---------------------------------------------------------------------------
// Console

/// Console state, only touched with `CONSOLE_LOCK` held.
struct ConsoleState {
    /// The first failed check: (cpu, what).
    first_failure: Option<(usize, &'static str)>,
}

struct Console {
    lock: AtomicBool,
    state: UnsafeCell<ConsoleState>,
}

// SAFETY: `state` is only reached with `lock` held.
unsafe impl Sync for Console {}

static CONSOLE: Console = Console {
    lock: AtomicBool::new(false),
    state: UnsafeCell::new(ConsoleState {
        first_failure: None,
    }),
};

struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                arch::putchar(b'\r');
            }
            arch::putchar(b);
        }
        Ok(())
    }
}

/// Runs `f` with the console lock held, so lines from different CPUs don't mix.
fn with_console<R>(f: impl FnOnce(&mut Serial, &mut ConsoleState) -> R) -> R {
    while CONSOLE
        .lock
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    // SAFETY: the lock is held.
    let r = f(&mut Serial, unsafe { &mut *CONSOLE.state.get() });
    CONSOLE.lock.store(false, Ordering::Release);
    r
}

/// Prints one formatted line atomically with respect to the other CPUs.
fn print_line(args: fmt::Arguments) {
    with_console(|w, _| {
        let _ = w.write_fmt(args);
        let _ = w.write_str("\n");
    });
}

/// Prints one line without the console lock, for panics and exceptions,
/// which may have interrupted a CPU that holds it.
pub(crate) fn print_unlocked(args: fmt::Arguments) {
    let _ = Serial.write_fmt(args);
    let _ = Serial.write_str("\n");
}

/// `println!` for the kernel console (also usable by the arch modules).
macro_rules! println {
    ($($arg:tt)*) => { $crate::print_line(format_args!($($arg)*)) };
}

mod arch;
mod checks;
mod dynamic;
#[cfg(feature = "placed")]
mod placed;
mod platform;
#[cfg(feature = "storm")]
mod storm;
mod vars;

// ---------------------------------------------------------------------------
// Boot and synchronisation

/// CPUs that have set their per-CPU register.
static ONLINE: AtomicUsize = AtomicUsize::new(0);
/// Barrier arrivals, counted monotonically: barrier `n` of a round is
/// passed once `ROUND_BASE + n * ROUND_CPUS` arrivals happened.
static ARRIVED: AtomicUsize = AtomicUsize::new(0);
/// Arrivals before this round's first barrier.
static ROUND_BASE: AtomicUsize = AtomicUsize::new(0);
/// CPUs taking part in this round: every CPU but the late one, then all.
static ROUND_CPUS: AtomicUsize = AtomicUsize::new(BOOT_CPUS);
/// Number of failed checks over all CPUs.
static FAILURES: AtomicUsize = AtomicUsize::new(0);
/// Number of failed checks per CPU.
static CPU_FAILURES: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

/// Waits until every CPU of the round reached barrier number `n` (1, 2,
/// 3, ... in order). The round is read before arriving: CPU 0 changes it
/// only once every CPU has left the previous round's barriers.
fn barrier(n: usize) {
    let base = ROUND_BASE.load(Ordering::Acquire);
    let cpus = ROUND_CPUS.load(Ordering::Acquire);
    ARRIVED.fetch_add(1, Ordering::AcqRel);
    while ARRIVED.load(Ordering::Acquire) < base + n * cpus {
        core::hint::spin_loop();
    }
}

/// The CPUs of the current round (the areas the checks visit).
pub fn round_cpus() -> usize {
    ROUND_CPUS.load(Ordering::Acquire)
}

/// Starts a round of `cpus` CPUs, on CPU 0, once no CPU is in a barrier.
#[cfg(feature = "placed")]
fn start_round(cpus: usize) {
    ROUND_BASE.store(ARRIVED.load(Ordering::Acquire), Ordering::Release);
    ROUND_CPUS.store(cpus, Ordering::Release);
}

/// Barriers of the check set (`checks::run`).
const CHECK_BARRIERS: usize = if cfg!(feature = "storm") { 8 } else { 7 };

/// With a late CPU, on a boot CPU after the first round: the late phase
/// (`placed.rs`), then the check set again on every CPU.
fn run_late_round(cpu: usize) {
    #[cfg(feature = "placed")]
    if LATE {
        placed::boot_cpu(cpu, CHECK_BARRIERS + 1);
        checks::run(cpu);
    }
    let _ = cpu;
}

/// Records a failed check: prints it and remembers the first one for the
/// final `FAIL:` line.
fn fail(cpu: usize, what: &'static str, detail: fmt::Arguments) {
    FAILURES.fetch_add(1, Ordering::AcqRel);
    let before = CPU_FAILURES
        .get(cpu)
        .map_or(0, |count| count.fetch_add(1, Ordering::AcqRel));
    with_console(|w, state| {
        // One broken mechanism fails dozens of checks: show the first few.
        if before < SHOWN_FAILURES {
            let _ = writeln!(w, "CPU {cpu}: check failed: {what}: {detail}");
        } else if before == SHOWN_FAILURES {
            let _ = writeln!(w, "CPU {cpu}: (more failed checks not shown)");
        }
        state.first_failure.get_or_insert((cpu, what));
    });
}

/// Failed checks printed per CPU.
const SHOWN_FAILURES: usize = 12;

/// Stops the test: prints `FAIL: <what>` and exits QEMU with a failure status.
fn abort(what: fmt::Arguments) -> ! {
    println!("FAIL: {what}");
    arch::exit(1)
}

/// Number of spin iterations CPU 0 waits for the others to come up.
const ONLINE_SPINS: usize = 1 << 30;

/// Entry of the boot CPU (logical CPU 0), called by the architecture's `_start`.
#[no_mangle]
pub extern "C" fn boot_main() -> ! {
    println!(
        "percpu test kernel on {}: {MAX_CPUS} CPU(s), areas {}",
        ARCH,
        if cfg!(feature = "placed") {
            "placed by the kernel (percpu::try_init_placed)"
        } else if cfg!(feature = "external-areas") {
            "from percpu::init_with_dynamic(base, n, size)"
        } else {
            "from percpu::init_in_place()"
        }
    );
    checks::init_areas();
    #[cfg(all(feature = "sp-naive", not(feature = "placed")))]
    dynamic::init_naive_region();
    // As many CPUs as areas, or a FAIL line; their hardware ids.
    platform::discover();
    // Empty with one CPU (`sp-naive`, `PERCPU_TEST_CPUS=1`).
    #[allow(clippy::reversed_empty_ranges)]
    for cpu in 1..BOOT_CPUS {
        arch::start_secondary(cpu, platform::hw_id(cpu));
    }
    percpu::init_percpu_reg(0);
    ONLINE.fetch_add(1, Ordering::AcqRel);
    let mut spins = 0usize;
    while ONLINE.load(Ordering::Acquire) < BOOT_CPUS {
        spins += 1;
        if spins > ONLINE_SPINS {
            abort(format_args!(
                "only {} of {MAX_CPUS} CPUs came up",
                ONLINE.load(Ordering::Acquire)
            ));
        }
        core::hint::spin_loop();
    }
    checks::run(0);
    run_late_round(0);

    checks::after_all();
    vars::print_offsets();
    let failures = FAILURES.load(Ordering::Acquire);
    if failures == 0 {
        println!("PASS");
        arch::exit(0)
    }
    let first = with_console(|_, state| state.first_failure);
    match first {
        Some((cpu, what)) => abort(format_args!(
            "{what} (CPU {cpu}; {failures} failed checks in all)"
        )),
        None => abort(format_args!("{failures} failed checks")),
    }
}

/// A fault to inject, chosen at build time with the environment variable
/// `PERCPU_TEST_KERNEL_INJECT`, to show that the checks and the runner catch
/// it: `shared-area` (the last CPU uses CPU 1's area), `hang` (CPU 1 stops
/// before the first barrier), `wrong-offset` (a wrong `OFFSET` line),
/// `box-cross` (CPU 1 writes CPU 0's copy of every `PerCpuBox`),
/// `storm-plain` (with `storm`: the loop updates the variables the timer
/// handler updates with a plain load/add/store and `with_current`).
fn injected(fault: &str) -> bool {
    option_env!("PERCPU_TEST_KERNEL_INJECT") == Some(fault)
}

/// Entry of every secondary CPU, on its own `BOOT_STACKS` slot.
#[no_mangle]
pub extern "C" fn secondary_main(cpu_id: usize) -> ! {
    if cpu_id == 0 || cpu_id >= MAX_CPUS {
        abort(format_args!("secondary CPU started with bad id {cpu_id}"));
    }
    if injected("shared-area") && cpu_id == MAX_CPUS - 1 {
        percpu::init_percpu_reg(1);
    } else {
        percpu::init_percpu_reg(cpu_id);
    }
    #[cfg(feature = "placed")]
    if cpu_id >= BOOT_CPUS {
        placed::late_cpu(cpu_id);
        checks::run(cpu_id);
        loop {
            core::hint::spin_loop();
        }
    }
    ONLINE.fetch_add(1, Ordering::AcqRel);
    while ONLINE.load(Ordering::Acquire) < BOOT_CPUS {
        core::hint::spin_loop();
    }
    if !(injected("hang") && cpu_id == 1) {
        checks::run(cpu_id);
        run_late_round(cpu_id);
    }
    // CPU 0 reports and powers off.
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    print_unlocked(format_args!("FAIL: panic: {info}"));
    arch::exit(3)
}

/// Compares `got` with `expected` and records a failure if they differ.
fn check_eq<T: PartialEq + Debug>(cpu: usize, what: &'static str, got: T, expected: T) -> bool {
    if got == expected {
        return true;
    }
    fail(
        cpu,
        what,
        format_args!("got {got:?}, expected {expected:?}"),
    );
    false
}
