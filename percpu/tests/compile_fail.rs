//! Misuse of `#[def_percpu]` is a compile error that names the problem.
//!
//! The messages do not depend on features or the profile, so this runs once,
//! in the default debug configuration (each run compiles a fresh project).

#![cfg(all(
    debug_assertions,
    not(any(
        feature = "sp-naive",
        feature = "preempt",
        feature = "arm-el2",
        feature = "non-zero-vma"
    ))
))]

#[test]
fn misuse_is_rejected() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
