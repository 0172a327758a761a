//! Nothing: the test is `tests/preempt.rs`.
