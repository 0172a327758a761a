//! `cargo percpu`: render the `.percpu` linker script that per-CPU data
//! needs, and inspect what the linker made of it.
//!
//! The [`ldscript`] renderer is always built and has no dependency: a
//! kernel's `build.rs` uses it with `default-features = false`. Everything
//! else (the ELF inspector, its JSON form and the command line) is behind the
//! default `cli` feature.

#![deny(missing_docs)]

pub mod ldscript;

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod elf;
#[cfg(feature = "cli")]
pub mod json;
#[cfg(feature = "cli")]
pub mod report;
