//! cargo-percpu's integration tests, one binary with a module per subject so
//! the shared helpers in `common/` compile once. `render` and `build_script`
//! run without the `cli` feature (what a build.rs gets); the rest need it.

mod build_script;
mod render;

#[cfg(feature = "cli")]
mod ci;
#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "cli")]
mod common;
#[cfg(feature = "cli")]
mod corpus;
#[cfg(feature = "cli")]
mod inspect;
#[cfg(feature = "cli")]
mod kernel;
#[cfg(feature = "cli")]
mod link;
#[cfg(feature = "cli")]
mod link_matrix;
#[cfg(feature = "cli")]
mod structure;
#[cfg(feature = "cli")]
mod tables;
