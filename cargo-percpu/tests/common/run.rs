//! The real `cargo-percpu` executable and the toolchain, as the tests run
//! them.

use std::path::Path;
use std::process::Command;

/// The executable, without the environment that would decide colour, the
/// build target or the compiler flags for it: each test sets what it relies
/// on.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-percpu"));
    for var in [
        "NO_COLOR",
        "CLICOLOR_FORCE",
        "CLICOLOR",
        "CARGO_BUILD_TARGET",
        // A kernel's own .cargo/config.toml sets its flags (as in the xtask).
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs the executable with `args` in `dir`, `env` added: (status, stdout,
/// stderr), the status -1 if a signal ended it.
pub fn exec_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = bin()
        .current_dir(dir)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The same in the test's own directory.
pub fn exec(args: &[&str]) -> (i32, String, String) {
    exec_in(Path::new("."), args, &[])
}

/// The compiler the tests link with: `$RUSTC`, else `rustc`.
pub fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string())
}

/// Whether the toolchain has the standard library of `target` (rustup's
/// `lib/rustlib/<target>/lib`); tests that link for it are skipped without.
pub fn target_installed(target: &str) -> bool {
    let out = Command::new(rustc())
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc runs");
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .join("lib")
        .is_dir()
}
