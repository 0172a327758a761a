//! A small benchmark harness shared by the bench binaries (x86_64 Linux user
//! space, where a thread's GS base plays the per-CPU register).
//!
//! Cases are measured in interleaved rounds (round `r` starts at case `r`
//! and goes round), so a frequency change or a noisy neighbour hits every
//! case alike instead of whichever ran at that moment. Each case reports
//! the median over rounds. Results go to stdout twice: a table for people
//! and `@bench` lines for `cargo xtask bench`.

#![allow(dead_code)]

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{compiler_fence, Ordering};
use std::time::{Duration, Instant};

/// One measured thing: `run(iters)` does `iters` batches and returns the
/// time they took; `per_batch` is the work unit count of one batch (ops,
/// or bytes) that the result is divided by.
pub struct Case {
    pub group: String,
    pub name: String,
    run: Box<dyn FnMut(u64) -> Duration>,
    per_batch: f64,
    iters: u64,
    samples: Vec<f64>,
}

impl Case {
    pub fn new(
        group: impl Into<String>,
        name: impl Into<String>,
        per_batch: f64,
        run: impl FnMut(u64) -> Duration + 'static,
    ) -> Self {
        Case {
            group: group.into(),
            name: name.into(),
            run: Box::new(run),
            per_batch,
            iters: 1,
            samples: Vec::new(),
        }
    }

    /// Fastest round, in nanoseconds per work unit: on a shared machine the
    /// least disturbed estimate of what the operation itself costs.
    pub fn best_ns(&self) -> f64 {
        self.samples.iter().copied().fold(f64::NAN, f64::min)
    }

    /// Median round, in nanoseconds per work unit.
    pub fn median_ns(&self) -> f64 {
        median(self.samples.clone())
    }
}

/// Rounds to run, overridable with `PERCPU_BENCH_ROUNDS` (e.g. 3 for a
/// quick look).
pub fn rounds(default: usize) -> usize {
    std::env::var("PERCPU_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(default)
}

/// Finds, per case, an iteration count whose batch takes about `target`,
/// then runs `rounds` interleaved rounds.
pub fn run_interleaved(cases: &mut [Case], rounds: usize, target: Duration) {
    for case in cases.iter_mut() {
        // Warm up (page faults, caches, branch predictors), then calibrate.
        (case.run)(1);
        let mut iters = 1u64;
        loop {
            let t = (case.run)(iters);
            if t >= target || iters >= 1 << 40 {
                break;
            }
            // Aim straight for the target, at most 100x at a time.
            let scale = (target.as_secs_f64() / t.as_secs_f64().max(1e-9)).clamp(2.0, 100.0);
            iters = ((iters as f64) * scale).ceil() as u64;
        }
        case.iters = iters;
    }
    let n = cases.len();
    for round in 0..rounds {
        for k in 0..n {
            let case = &mut cases[(round + k) % n];
            let t = (case.run)(case.iters);
            let units = case.iters as f64 * case.per_batch;
            case.samples.push(t.as_secs_f64() * 1e9 / units);
        }
    }
}

/// The median over rounds of `case`'s time divided by `reference`'s in the
/// same round. Interleaving puts the two within one round's span of each
/// other, so this shows how the ratio holds up across the machine's slow
/// and fast spells, where the ratio of the bests shows the undisturbed
/// core.
pub fn paired_ratio(case: &Case, reference: &Case) -> f64 {
    let ratios: Vec<f64> = case
        .samples
        .iter()
        .zip(&reference.samples)
        .map(|(c, r)| c / r)
        .collect();
    median(ratios)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Prints the measured cases of each group in `groups`, each with its
/// ratios to the group's `thread_local!` case (of the bests, and paired by
/// round): a table for people, then the `@bench` and `@ratio` lines.
pub fn report(cases: &[Case], rounds: usize, groups: &[&str]) {
    println!(
        "per-CPU access, ns/op: best (median) of {rounds} interleaved rounds; \
         ratio of the best to thread_local!'s, then [paired: the median over rounds \
         of the ratio to thread_local! in the same round]"
    );
    for &group in groups {
        let of_group: Vec<&Case> = cases.iter().filter(|c| c.group == group).collect();
        let tls = of_group.iter().find(|c| c.name == "thread_local");
        let paired = |c: &Case| tls.map_or(f64::NAN, |t| paired_ratio(c, t));
        let tls_best = tls.map_or(f64::NAN, |t| t.best_ns());
        println!("  {group}");
        for c in &of_group {
            let (best, median) = (c.best_ns(), c.median_ns());
            println!(
                "    {:<22} {best:>7.3} ({median:>7.3})  {:>5.2}x  [{:>5.2}x]",
                c.name,
                best / tls_best,
                paired(c)
            );
        }
        for c in &of_group {
            emit(&c.group, &c.name, c.best_ns(), c.median_ns(), "ns");
            println!("@ratio\t{}\t{}\t{:.4}", c.group, c.name, paired(c));
        }
    }
}

/// Prints the machine-readable line `cargo xtask bench` collects:
/// `@bench <group> <case> <best> <median> <unit>`, tab-separated. A case
/// with a reference is followed by `@ratio <group> <case> <paired ratio>`.
pub fn emit(group: &str, name: &str, best: f64, median: f64, unit: &str) {
    println!("@bench\t{group}\t{name}\t{best:.4}\t{median:.4}\t{unit}");
}

/// Runs `body` `$n` times per loop iteration, so that the loop's own
/// increment and branch weigh little against one-instruction operations.
#[macro_export]
macro_rules! unrolled {
    ($iters:expr, $body:block) => {{
        let iters: u64 = $iters;
        let start = ::std::time::Instant::now();
        for _ in 0..iters {
            $body $body $body $body $body $body $body $body
        }
        start.elapsed()
    }};
}

/// Operations in one iteration of [`unrolled!`].
pub const UNROLL: f64 = 8.0;

/// What a case does to its variable, once per operation.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Reads it, result through `black_box`.
    Read,
    /// Writes a `black_box`ed 1.
    Write,
    /// Adds a `black_box`ed 1.
    Add,
    /// `+= 1` back to back, a compiler fence between (which emits nothing)
    /// so that the increments are not merged: each waits for the last.
    Chain,
}

thread_local! {
    static TLS: Cell<usize> = const { Cell::new(0) };
}

/// The reference every ratio is taken to: a `const`-initialised
/// `thread_local!` `Cell<usize>`, its fastest form, doing `kind`. Every
/// bench binary that reports ratios measures it in its own process.
pub fn thread_local_case(group: &str, kind: Kind) -> Case {
    let run: Box<dyn FnMut(u64) -> Duration> = match kind {
        Kind::Read => Box::new(|n| {
            unrolled!(n, {
                black_box(TLS.with(Cell::get));
            })
        }),
        Kind::Write => Box::new(|n| {
            unrolled!(n, {
                TLS.with(|c| c.set(black_box(1)));
            })
        }),
        Kind::Add => Box::new(|n| {
            unrolled!(n, {
                TLS.with(|c| c.set(c.get().wrapping_add(black_box(1))));
            })
        }),
        Kind::Chain => Box::new(|n| {
            unrolled!(n, {
                TLS.with(|c| c.set(c.get() + 1));
                compiler_fence(Ordering::SeqCst);
            })
        }),
    };
    Case::new(group, "thread_local", UNROLL, run)
}

/// Sets up per-CPU areas in place and makes this thread CPU 0.
pub fn setup_percpu() {
    let areas = percpu::init_in_place().expect("the bench links the user-space script");
    assert!(areas >= 1);
    percpu::init_percpu_reg(0);
}

/// Benchmarks `init(base, n)` against `copy_nonoverlapping` of the same
/// bytes, for the template of this binary (`label` names its size).
pub fn init_bench(label: &str, cpu_counts: &[usize]) {
    setup_percpu();
    // Area 0 is the template, right after `init_in_place`.
    let template = percpu::percpu_area_base(0) as *const u8;
    let stride = percpu::percpu_area_size();
    println!("init with a {label} template ({stride} bytes per area)");
    for &n in cpu_counts {
        let layout = percpu::percpu_area_layout_expected(n);
        // SAFETY: the layout is non-zero (n >= 1, stride >= 64).
        let base = unsafe { std::alloc::alloc(layout) };
        assert!(!base.is_null(), "cannot allocate {} bytes", layout.size());
        let bytes = (n * stride) as f64;
        let group = format!("init/{label}/{n}");
        let mut cases = vec![
            Case::new(group.clone(), "init", bytes, move |iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let r = percpu::init(std::hint::black_box(base), n);
                    assert_eq!(r, Ok(n));
                }
                start.elapsed()
            }),
            Case::new(group.clone(), "copy", bytes, move |iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    for cpu in 0..n {
                        // SAFETY: `base` holds `n` areas of `stride` bytes;
                        // the template's section reserves at least one
                        // whole area after its start.
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                std::hint::black_box(template),
                                base.add(cpu * stride),
                                stride,
                            )
                        };
                    }
                }
                start.elapsed()
            }),
        ];
        // Big copies: fewer rounds, so the whole run stays short.
        let default_rounds = if n * stride >= 64 << 20 { 5 } else { 15 };
        run_interleaved(
            &mut cases,
            rounds(default_rounds),
            Duration::from_millis(20),
        );
        let [init, copy] = [&cases[0], &cases[1]].map(|c| gb_per_s(c.best_ns()));
        println!(
            "  {n:>5} CPUs: init {init:>7.2} GB/s   copy_nonoverlapping {copy:>7.2} GB/s   ratio {:.3}  (best round)",
            init / copy
        );
        for c in &cases {
            emit(
                &group,
                &c.name,
                gb_per_s(c.best_ns()),
                gb_per_s(c.median_ns()),
                "GB/s",
            );
        }
        // SAFETY: allocated above with this layout; nothing uses the areas
        // (this thread's register still points at the in-place area 0).
        unsafe { std::alloc::dealloc(base, layout) };
    }
}

/// ns per byte to GB/s.
fn gb_per_s(ns_per_byte: f64) -> f64 {
    1.0 / ns_per_byte
}
