//! Shared test helpers.
#![allow(dead_code)]
pub mod broken;
pub mod crosscheck;
pub mod gen;
pub mod linkers;
pub mod run;
pub mod schema;
pub mod seed;
