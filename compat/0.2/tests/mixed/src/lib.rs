//! Nothing: the test is `tests/mixed.rs`.
