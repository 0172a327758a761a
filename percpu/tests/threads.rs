//! Four threads, each with its own GS base and CPU id, hammer their own
//! counters at once and then read each other's: no cross-talk.

#![cfg(not(feature = "sp-naive"))]

mod common;

use std::sync::Barrier;

const ROUNDS: usize = 100_000;

#[percpu::def_percpu]
static CPU_ID: usize = usize::MAX;
#[percpu::def_percpu]
static ADDS: u64 = 0;
#[percpu::def_percpu]
static WITHS: u32 = 0;
#[percpu::def_percpu]
static SUBS: i64 = 0;

#[test]
fn four_cpus_hammer_their_own_counters() {
    let _serial = common::on_cpu(0);
    let barrier = Barrier::new(common::CPUS);
    std::thread::scope(|scope| {
        for cpu in 0..common::CPUS {
            let barrier = &barrier;
            scope.spawn(move || {
                percpu::init_percpu_reg(cpu);
                assert_eq!(percpu::read_percpu_reg(), percpu::percpu_area_base(cpu));
                assert_eq!(CPU_ID.read_current(), usize::MAX, "initial value");
                barrier.wait();
                CPU_ID.write_current(cpu);
                for round in 0..ROUNDS {
                    ADDS.add_current(1 + cpu as u64);
                    WITHS.with_current(|w| *w += 1);
                    SUBS.sub_current(1);
                    if round % 4096 == 0 {
                        std::thread::yield_now();
                    }
                }
                barrier.wait();
                for other in 0..common::CPUS {
                    // SAFETY: every thread stopped writing at the barrier.
                    unsafe {
                        assert_eq!(*CPU_ID.remote_ptr(other), other);
                        assert_eq!(*ADDS.remote_ptr(other), (ROUNDS * (1 + other)) as u64);
                        assert_eq!(*WITHS.remote_ref_raw(other), ROUNDS as u32);
                        assert_eq!(*SUBS.remote_ptr(other), -(ROUNDS as i64));
                    }
                }
                assert_eq!(CPU_ID.read_current(), cpu, "still on its own area");
                barrier.wait();
                CPU_ID.reset_to_init();
                ADDS.reset_to_init();
                WITHS.reset_to_init();
                SUBS.reset_to_init();
            });
        }
    });
}
