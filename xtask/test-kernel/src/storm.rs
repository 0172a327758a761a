//! The interrupt storm (feature `storm`): every CPU arms a fast periodic
//! local timer and runs its access loop under it, and the timer handler
//! updates the same per-CPU variables as the loop it interrupted:
//!
//! - `STORM_ADD`, with `add_current(1)` in both;
//! - `STORM_PAIR`, a struct, through `with_current_irqsave` in both;
//! - `STORM_COUNTER`, a `PerCpuCounter`, with `add(1)` in both.
//!
//! At the end every total must be exact: the loop's iterations plus the
//! handler's calls, nothing lost. The runner boots these kernels under QEMU's
//! `-singlestep`, where an interrupt can fall between any two instructions
//! (without it, TCG takes interrupts only between translated blocks, and a
//! load/add/store is never split). Each CPU prints one `STORM CPU n irqs=..`
//! line, which the runner checks (at least [`MIN_IRQS`]) and shows.
//!
//! The handler runs with interrupts off, uses no floating point and takes
//! no lock.

use core::ptr::read_volatile;
use core::sync::atomic::{AtomicUsize, Ordering};

use percpu::def_percpu;

use crate::{barrier, check_eq, fail, injected};

/// Timer interrupts per second the storm aims for on each CPU, where the
/// architecture can read its timer's frequency (the Arm generic timer);
/// the others set a fixed period in their timer's own ticks.
pub const STORM_HZ: u32 = 10_000;

/// Interrupts each CPU must take during its loop.
pub const MIN_IRQS: u64 = 1000;
/// Interrupts the loop runs for (a margin over [`MIN_IRQS`]).
const TARGET_IRQS: u64 = 1200;
/// Loop iterations after which a CPU gives up waiting for interrupts.
const MAX_ITERATIONS: u64 = 50_000_000;

/// Updated with `add_current(1)` by the loop and by the handler.
#[def_percpu]
static STORM_ADD: u64 = 0;

/// A struct that the loop and the handler update through
/// `with_current_irqsave`: `count += 1; sum += count`. After `n` updates in
/// any order, `count == n` and `sum == n (n + 1) / 2`; a lost or torn
/// update breaks one of them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Pair {
    count: u64,
    sum: u64,
}

#[def_percpu]
static STORM_PAIR: Pair = Pair { count: 0, sum: 0 };

/// Timer interrupts taken on this CPU; only the handler writes it.
#[def_percpu]
static STORM_IRQS: u64 = 0;

percpu::def_percpu_counter!(static STORM_COUNTER);

/// The sum over every CPU of its updates of `STORM_COUNTER` (far below
/// `u32::MAX`: [`MAX_ITERATIONS`] bounds each CPU's loop).
static COUNTER_EXPECTED: AtomicUsize = AtomicUsize::new(0);

fn pair_update(p: &mut Pair) {
    p.count += 1;
    p.sum = p.sum.wrapping_add(p.count);
}

/// One timer tick: called by the architecture's interrupt entry, with
/// interrupts off, once the timer is acknowledged and re-armed.
pub fn on_tick() {
    // SAFETY: this CPU's register is set before its timer is armed; only
    // this handler, which does not nest, writes the count.
    unsafe { *STORM_IRQS.current_ref_mut_raw() += 1 };
    STORM_ADD.add_current(1);
    STORM_PAIR.with_current_irqsave(pair_update);
    STORM_COUNTER.add(1);
}

fn irqs() -> u64 {
    // SAFETY: this CPU's own count; the handler may write it in between,
    // so read it once, whole (a `u64` is one access on 64-bit targets, and
    // on 32-bit ones it is only compared against small numbers after the
    // timer stopped, or approximately while it runs).
    unsafe { read_volatile(STORM_IRQS.current_ptr()) }
}

/// The loop, under the storm; then the checks. Barrier `first` is this
/// phase's: CPU 0 checks the counter's sum after it.
pub fn run(cpu: usize, first: usize) {
    let mut iterations = 0u64;
    crate::arch::timer_start();
    loop {
        if injected("storm-plain") {
            // The broken variant: a load, an add and a store, and the
            // struct through `with_current`, which leaves interrupts on.
            let v = STORM_ADD.read_current();
            STORM_ADD.write_current(v + 1);
            STORM_PAIR.with_current(pair_update);
        } else {
            STORM_ADD.add_current(1);
            STORM_PAIR.with_current_irqsave(pair_update);
        }
        STORM_COUNTER.add(1);
        iterations += 1;
        if (iterations % 64 == 0 && irqs() >= TARGET_IRQS) || iterations >= MAX_ITERATIONS {
            break;
        }
    }
    crate::arch::timer_stop();
    let irqs = irqs();
    let n = iterations + irqs;
    check_eq(cpu, "storm: add_current total", STORM_ADD.read_current(), n);
    check_eq(
        cpu,
        "storm: with_current_irqsave struct",
        STORM_PAIR.with_current(|p| *p),
        Pair {
            count: n,
            sum: n.wrapping_mul(n + 1) / 2,
        },
    );
    if irqs < MIN_IRQS {
        fail(
            cpu,
            "storm: too few interrupts",
            format_args!("{irqs} in {iterations} iterations, at least {MIN_IRQS} needed"),
        );
    }
    COUNTER_EXPECTED.fetch_add(n as usize, Ordering::AcqRel);
    println!("STORM CPU {cpu} irqs={irqs} loop={iterations}");

    // Every CPU's timer is off: the counter no longer moves.
    barrier(first);
    if cpu == 0 {
        check_eq(
            cpu,
            "storm: PerCpuCounter sum",
            STORM_COUNTER.sum(),
            COUNTER_EXPECTED.load(Ordering::Acquire) as i64,
        );
    }
}
