//! Installing what a fresh machine lacks, idempotently: rustup targets and
//! components, and Debian's QEMU packages.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The rustup components the automation uses: formatting and lints, the
/// sources `-Zbuild-std` builds, and `llvm-objdump`.
pub const COMPONENTS: &[&str] = &["rustfmt", "clippy", "rust-src", "llvm-tools"];

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, as cargo does,
/// else the workspace's `target/`.
pub fn target_root() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    // Absolute, so that paths handed to other processes survive a `cd`.
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Runs `cmd`, echoing it first, and fails unless it exits with status 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", display(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    if !status.success() {
        bail!("`{}` failed with {status}", display(cmd));
    }
    Ok(())
}

/// Runs `cmd` and returns its standard output; fails unless it exits with 0.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed with {}:\n{}",
            display(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A command line as a shell would show it.
pub fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// `cargo`, as the one running xtask, so the same toolchain builds everything.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn rustup_lines(args: &[&str]) -> Result<Vec<String>> {
    Ok(output(Command::new("rustup").args(args))?
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Installs the rustup targets that are missing.
pub fn ensure_targets(targets: &[&str]) -> Result<()> {
    let installed = rustup_lines(&["target", "list", "--installed"])?;
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed.iter().any(|i| i == t))
        .collect();
    if !missing.is_empty() {
        run(Command::new("rustup")
            .args(["target", "add"])
            .args(&missing))?;
    }
    Ok(())
}

/// Installs the rustup components (`rust-src`, `llvm-tools`, ...) that are missing.
pub fn ensure_components(components: &[&str]) -> Result<()> {
    let installed = rustup_lines(&["component", "list", "--installed"])?;
    for component in components {
        // Installed components are listed with their host triple appended.
        let present = installed
            .iter()
            .any(|i| i == component || i.starts_with(&format!("{component}-")));
        if !present {
            run(Command::new("rustup").args(["component", "add", component]))?;
        }
    }
    Ok(())
}

/// Makes sure `binary` (a `qemu-system-*`) is on the PATH: [`ensure_apt`].
pub fn ensure_qemu(binary: &str, package: &str) -> Result<()> {
    ensure_apt(binary, package)
}

/// Makes sure `binary` is on the PATH, installing Debian's `package` with
/// apt-get when running as root; otherwise fails with one line that names
/// the package.
pub fn ensure_apt(binary: &str, package: &str) -> Result<()> {
    if which(binary) {
        return Ok(());
    }
    let is_root = output(Command::new("id").arg("-u"))
        .map(|uid| uid.trim() == "0")
        .unwrap_or(false);
    if is_root && which("apt-get") {
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        if which(binary) {
            return Ok(());
        }
    }
    bail!(
        "`{binary}` not found: install the Debian package `{package}` (apt-get install {package})"
    )
}

/// Whether `binary` is found on the PATH.
pub fn which(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
}

/// Installs rustup toolchain `name` (minimal profile) unless it is there,
/// then its `targets` and `components`; every step is a no-op when done.
pub fn ensure_toolchain(name: &str, targets: &[&str], components: &[&str]) -> Result<()> {
    let present = Command::new("rustup")
        .args(["run", name, "rustc", "--version"])
        .env("RUSTUP_AUTO_INSTALL", "0")
        .output()
        .is_ok_and(|out| out.status.success());
    if !present {
        run(Command::new("rustup").args(["toolchain", "install", "--profile", "minimal", name]))
            .with_context(|| format!("cannot install toolchain {name}"))?;
    }
    if !targets.is_empty() {
        run(Command::new("rustup")
            .args(["target", "add", "--toolchain", name])
            .args(targets))?;
    }
    if !components.is_empty() {
        run(Command::new("rustup")
            .args(["component", "add", "--toolchain", name])
            .args(components))?;
    }
    Ok(())
}
