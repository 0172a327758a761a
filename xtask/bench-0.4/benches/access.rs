//! The published `percpu` 0.4.0 under the access benchmark of
//! `percpu/benches/access.rs`: the same harness (`common`, which uses only
//! the 0.4 API), the same operation bodies and a `thread_local!` reference
//! of its own process. 0.4.0 has no `add_current`; a 0.4 kernel adds with
//! `with_current`, which is the `with_current` row.

#[path = "../../../percpu/benches/common/mod.rs"]
mod common;

use common::{report, run_interleaved, setup_percpu, thread_local_case, Case, Kind, UNROLL};
use std::hint::black_box;
use std::sync::atomic::{compiler_fence, Ordering};
use std::time::Duration;

#[percpu::def_percpu]
static PERCPU: usize = 0;

/// The case name `cargo xtask bench` puts in its 0.4.0 column.
const NAME: &str = "percpu 0.4.0";

fn case(op: &str, run: impl FnMut(u64) -> Duration + 'static) -> Case {
    Case::new(op, NAME, UNROLL, run)
}

fn cases() -> Vec<Case> {
    vec![
        case("read", |n| {
            unrolled!(n, {
                black_box(PERCPU.read_current());
            })
        }),
        thread_local_case("read", Kind::Read),
        case("write", |n| {
            unrolled!(n, {
                PERCPU.write_current(black_box(1));
            })
        }),
        thread_local_case("write", Kind::Write),
        case("with_current", |n| {
            unrolled!(n, {
                PERCPU.with_current(|v| *v = v.wrapping_add(black_box(1)));
            })
        }),
        thread_local_case("with_current", Kind::Add),
        case("chain", |n| {
            unrolled!(n, {
                PERCPU.with_current(|v| *v += 1);
                compiler_fence(Ordering::SeqCst);
            })
        }),
        thread_local_case("chain", Kind::Chain),
    ]
}

fn main() {
    setup_percpu();
    let mut cases = cases();
    let rounds = common::rounds(25);
    run_interleaved(&mut cases, rounds, Duration::from_millis(4));
    report(&cases, rounds, &["read", "write", "with_current", "chain"]);
}
