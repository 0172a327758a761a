//! Renders the kernel's linker script with `cargo percpu ldscript --full`'s
//! renderer (dogfooding: if the rendered script is wrong, the kernel fails).

use cargo_percpu::ldscript::{write_script, Arch, Kind, Options};
use std::env;

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let Some(arch) = Arch::from_target(&target) else {
        panic!("the test kernel has no linker script for target `{target}`");
    };
    // One area per CPU the kernel boots.
    let cpus = if env::var_os("CARGO_FEATURE_SP_NAIVE").is_some() {
        1
    } else {
        4
    };
    let script = write_script(Kind::Full, &Options::new(arch, cpus))
        .unwrap_or_else(|err| panic!("cannot render the linker script: {err:?}"));
    println!("cargo:rustc-link-arg=-T{}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
    // Fault injection for testing the test (see `injected` in main.rs).
    println!("cargo:rerun-if-env-changed=PERCPU_TEST_KERNEL_INJECT");
    // The templates are compiled into cargo-percpu, but name them anyway so
    // that an edited template always relinks the kernel.
    println!("cargo:rerun-if-changed=../../ld-templates");
}
