//! `cargo percpu`: render the `.percpu` linker script that per-CPU data
//! needs, and inspect what the linker made of it.
//!
//! The [`ldscript`] renderer is `percpu_layout`'s, re-exported, and is
//! always built: a kernel's `build.rs` uses it with `default-features =
//! false` (or `percpu_layout` itself). Everything else (the ELF inspector
//! and its DWARF reader, the diff, the JSON form, the cargo runner and the
//! command line) is behind the default `cli` feature.

#![deny(missing_docs)]

/// The link contract: section, symbols, area alignment and stride rule, reach.
pub use percpu_layout as layout;
pub use percpu_layout::ldscript;

#[cfg(feature = "cli")]
pub mod cargo_build;
#[cfg(feature = "cli")]
pub mod cargo_config;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod diff;
#[cfg(feature = "cli")]
pub mod dwarf;
#[cfg(feature = "cli")]
pub mod elf;
#[cfg(feature = "cli")]
pub mod json;
#[cfg(feature = "cli")]
pub mod report;
#[cfg(feature = "cli")]
pub mod style;
