//! The build.rs path: `Arch::from_build_target` and `write_script` with the
//! variables cargo gives a build script. The only test that sets environment
//! variables; it removes them again, and nothing else in this binary reads
//! `TARGET` or `OUT_DIR` (cargo sets both itself for the build scripts the
//! other tests run).

use cargo_percpu::ldscript::{render, write_script, Arch, Kind, Options, RenderError};

#[test]
fn write_script_renders_into_out_dir() {
    let dir = std::env::temp_dir().join(format!("cargo-percpu-build-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::env::remove_var("OUT_DIR");
    let opts = Options::new(Arch::Riscv64, 2);
    assert!(matches!(
        write_script(Kind::Full, &opts),
        Err(RenderError::Io(_))
    ));

    std::env::set_var("TARGET", "riscv64gc-unknown-none-elf");
    std::env::set_var("OUT_DIR", &dir);
    let arch = Arch::from_build_target().unwrap();
    assert_eq!(arch, Arch::Riscv64);
    let path = write_script(Kind::Full, &Options::new(arch, 2)).unwrap();
    assert_eq!(path, dir.join("percpu-full.ld"));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        render(Kind::Full, &opts).unwrap()
    );
    // Errors still come through.
    assert_eq!(
        write_script(Kind::Fragment, &Options::new(arch, 0)),
        Err(RenderError::ZeroCpus)
    );

    std::env::set_var("TARGET", "mips-unknown-linux-gnu");
    assert_eq!(Arch::from_build_target(), None);
    std::env::remove_var("TARGET");
    std::env::remove_var("OUT_DIR");
    let _ = std::fs::remove_dir_all(&dir);
}
