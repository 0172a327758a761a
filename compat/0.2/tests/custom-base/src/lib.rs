//! Nothing: the test is `tests/custom_base.rs`.
