//! Links the test with the user-space script `cargo percpu ldscript
//! --linux-user` renders (4 areas), as a kernel links with its own.

use percpu_layout::ldscript::{write_script, Arch, Kind, Options};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let path = write_script(Kind::LinuxUser, &Options::new(Arch::X86_64, 4))
        .expect("the user-space linker script renders into OUT_DIR");
    println!("cargo:rustc-link-arg-tests=-Wl,-T,{}", path.display());
}
