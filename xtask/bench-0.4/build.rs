//! Links the bench with the user-space script `cargo percpu ldscript
//! --linux-user` renders, as `percpu`'s own benches do: 0.4.0 reads the
//! same `_percpu_*` symbols.

use percpu_layout::ldscript::{write_script, Arch, Kind, Options};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let path = write_script(Kind::LinuxUser, &Options::new(Arch::X86_64, 4))
        .expect("the user-space linker script renders into OUT_DIR");
    println!("cargo:rustc-link-arg-benches=-Wl,-T,{}", path.display());
    // 0.4.0's accesses name symbols as 32-bit absolute addresses, which a
    // position-independent executable cannot hold (its own tests link so).
    println!("cargo:rustc-link-arg-benches=-no-pie");
}
