//! Links the tests with `legacy.ld`, a script written the way percpu 0.4
//! users wrote theirs: no `_percpu_area_align`, no `_percpu_area_stride`,
//! the areas reserved by hand with 64-byte rounding.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=legacy.ld");
    // `-T` with an `INSERT` script augments the default script.
    println!("cargo:rustc-link-arg-tests=-Wl,-T,{dir}/legacy.ld");
}
