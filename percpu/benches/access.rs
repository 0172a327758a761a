//! Per-CPU access against the alternatives user space has, side by side in
//! one process: `thread_local!` with a `Cell<usize>` (`common`'s reference
//! cases), a `static AtomicUsize` (relaxed) and a plain `static mut`. Every
//! case does the same work per operation (`black_box` on the operand or
//! result), unrolled 8 times. `xtask/bench-0.4` measures the published
//! 0.4.0 the same way.
//!
//! The `+ no-op guard` cases wrap the percpu operation in what `preempt`
//! costs a kernel whose `KernelGuardIf` does nothing: `kernel_guard`'s
//! out-of-line `NoPreempt::new` and `drop`, each calling the kernel's hook.
//! In user space `kernel_guard` compiles its guards to nothing (`NoOp`), so
//! a `--features preempt` build measures the same code as the default one;
//! the model shows what the calls add where a guard is taken (`with_current`
//! everywhere, the primitive operations outside x86_64).

mod common;

use common::{report, run_interleaved, setup_percpu, thread_local_case, Case, Kind, UNROLL};
use percpu::{PerCpuBox, PerCpuCounter};
use std::hint::black_box;
use std::sync::atomic::{compiler_fence, AtomicUsize, Ordering};
use std::time::Duration;

#[percpu::def_percpu]
static PERCPU: usize = 0;

static ATOMIC: AtomicUsize = AtomicUsize::new(0);

percpu::def_percpu_counter!(static STATIC_COUNTER);

static mut PLAIN: usize = 0;

/// `kernel_guard::NoPreempt` with a no-op `KernelGuardIf`, as a kernel
/// links it: two out-of-line calls per guard, each calling the hook.
struct NoOpGuard;

impl NoOpGuard {
    #[inline(never)]
    fn new() -> Self {
        disable_preempt();
        NoOpGuard
    }
}

impl Drop for NoOpGuard {
    #[inline(never)]
    fn drop(&mut self) {
        enable_preempt();
    }
}

#[inline(never)]
fn disable_preempt() {
    // An opaque no-op: the call cannot be dropped as side-effect free.
    black_box(());
}

#[inline(never)]
fn enable_preempt() {
    black_box(());
}

/// The label of the real percpu cases: the feature set this build has.
const PERCPU_LABEL: &str = if cfg!(feature = "preempt") {
    "percpu preempt"
} else {
    "percpu"
};

fn case(op: &str, name: &str, run: impl FnMut(u64) -> Duration + 'static) -> Case {
    Case::new(op, name, UNROLL, run)
}

fn cases() -> Vec<Case> {
    vec![
        // read
        case("read", PERCPU_LABEL, |n| {
            unrolled!(n, {
                black_box(PERCPU.read_current());
            })
        }),
        case("read", "percpu + no-op guard", |n| {
            unrolled!(n, {
                let _g = NoOpGuard::new();
                black_box(PERCPU.read_current());
            })
        }),
        thread_local_case("read", Kind::Read),
        case("read", "atomic", |n| {
            unrolled!(n, {
                black_box(ATOMIC.load(Ordering::Relaxed));
            })
        }),
        // SAFETY: only this thread touches `PLAIN`.
        case("read", "static mut", |n| {
            unrolled!(n, {
                black_box(unsafe { PLAIN });
            })
        }),
        // write
        case("write", PERCPU_LABEL, |n| {
            unrolled!(n, {
                PERCPU.write_current(black_box(1));
            })
        }),
        case("write", "percpu + no-op guard", |n| {
            unrolled!(n, {
                let _g = NoOpGuard::new();
                PERCPU.write_current(black_box(1));
            })
        }),
        thread_local_case("write", Kind::Write),
        case("write", "atomic", |n| {
            unrolled!(n, {
                ATOMIC.store(black_box(1), Ordering::Relaxed);
            })
        }),
        // SAFETY: only this thread touches `PLAIN`.
        case("write", "static mut", |n| {
            unrolled!(n, {
                unsafe { PLAIN = black_box(1) };
            })
        }),
        // add
        case("add", PERCPU_LABEL, |n| {
            unrolled!(n, {
                PERCPU.add_current(black_box(1));
            })
        }),
        case("add", "percpu + no-op guard", |n| {
            unrolled!(n, {
                let _g = NoOpGuard::new();
                PERCPU.add_current(black_box(1));
            })
        }),
        thread_local_case("add", Kind::Add),
        case("add", "atomic", |n| {
            unrolled!(n, {
                ATOMIC.fetch_add(black_box(1), Ordering::Relaxed);
            })
        }),
        case("add", "static mut", |n| {
            // SAFETY: only this thread touches `PLAIN`.
            unrolled!(n, {
                unsafe { PLAIN = PLAIN.wrapping_add(black_box(1)) };
            })
        }),
        // with_current increment
        case("with_current", PERCPU_LABEL, |n| {
            unrolled!(n, {
                PERCPU.with_current(|v| *v = v.wrapping_add(black_box(1)));
            })
        }),
        case("with_current", "percpu + no-op guard", |n| {
            unrolled!(n, {
                let _g = NoOpGuard::new();
                PERCPU.with_current(|v| *v = v.wrapping_add(black_box(1)));
            })
        }),
        thread_local_case("with_current", Kind::Add),
        case("with_current", "atomic", |n| {
            unrolled!(n, {
                ATOMIC.fetch_add(black_box(1), Ordering::Relaxed);
            })
        }),
        case("with_current", "static mut", |n| {
            // SAFETY: only this thread touches `PLAIN`.
            unrolled!(n, {
                unsafe { PLAIN = PLAIN.wrapping_add(black_box(1)) };
            })
        }),
        // A dependent read-modify-write chain: back-to-back increments of
        // one variable, each waiting for the last (the fence keeps the
        // compiler from merging them, and emits nothing).
        case("chain", PERCPU_LABEL, |n| {
            unrolled!(n, {
                PERCPU.with_current(|v| *v += 1);
                compiler_fence(Ordering::SeqCst);
            })
        }),
        case("chain", "percpu + no-op guard", |n| {
            unrolled!(n, {
                let _g = NoOpGuard::new();
                PERCPU.with_current(|v| *v += 1);
                compiler_fence(Ordering::SeqCst);
            })
        }),
        thread_local_case("chain", Kind::Chain),
        case("chain", "atomic", |n| {
            unrolled!(n, {
                ATOMIC.fetch_add(1, Ordering::Relaxed);
                compiler_fence(Ordering::SeqCst);
            })
        }),
        case("chain", "static mut", |n| {
            // SAFETY: only this thread touches `PLAIN`.
            unrolled!(n, {
                unsafe { PLAIN += 1 };
                compiler_fence(Ordering::SeqCst);
            })
        }),
        // Run-time allocations against the static equivalent: the box's
        // offset is loaded from its handle, then the same access.
        case("box read", PERCPU_LABEL, |n| {
            let b = PerCpuBox::new(0usize).unwrap();
            let b = black_box(&b);
            unrolled!(n, {
                black_box(b.read_current());
            })
        }),
        case("box read", "static", |n| {
            unrolled!(n, {
                black_box(PERCPU.read_current());
            })
        }),
        thread_local_case("box read", Kind::Read),
        case("box write", PERCPU_LABEL, |n| {
            let b = PerCpuBox::new(0usize).unwrap();
            let b = black_box(&b);
            unrolled!(n, {
                b.write_current(black_box(1));
            })
        }),
        case("box write", "static", |n| {
            unrolled!(n, {
                PERCPU.write_current(black_box(1));
            })
        }),
        thread_local_case("box write", Kind::Write),
        case("box add", PERCPU_LABEL, |n| {
            let b = PerCpuBox::new(0usize).unwrap();
            let b = black_box(&b);
            unrolled!(n, {
                b.add_current(black_box(1));
            })
        }),
        case("box add", "static", |n| {
            unrolled!(n, {
                PERCPU.add_current(black_box(1));
            })
        }),
        thread_local_case("box add", Kind::Add),
        case("counter add", PERCPU_LABEL, |n| {
            let c = PerCpuCounter::new().unwrap();
            let c = black_box(&c);
            unrolled!(n, {
                c.add(black_box(1));
            })
        }),
        case("counter add", "static", |n| {
            unrolled!(n, {
                STATIC_COUNTER.add(black_box(1));
            })
        }),
        thread_local_case("counter add", Kind::Add),
        case("counter add", "atomic", |n| {
            unrolled!(n, {
                ATOMIC.fetch_add(black_box(1), Ordering::Relaxed);
            })
        }),
    ]
}

fn main() {
    setup_percpu();
    let mut cases = cases();
    let rounds = common::rounds(25);
    run_interleaved(&mut cases, rounds, Duration::from_millis(4));
    report(
        &cases,
        rounds,
        &[
            "read",
            "write",
            "add",
            "with_current",
            "chain",
            "box read",
            "box write",
            "box add",
            "counter add",
        ],
    );
}
