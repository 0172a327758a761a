//! The linkers the link tests try besides the toolchain's own rust-lld:
//! the rust-lld of the oldest toolchain the workspace supports (its
//! `rust-version`) and of the toolchains in `PERCPU_LINK_TOOLCHAINS`
//! (comma-separated, e.g. `1.90,nightly`), and GNU ld of Debian's binutils.
//! The Debian packages are the ones `cargo xtask print-deps` lists
//! (xtask/src/linkers.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_percpu::ldscript::Arch;

use super::run::rustc;

/// Whether a missing linker fails the test rather than skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// One linker: how to run it, and for which architectures.
pub struct Linker {
    /// What the report calls it: `rust-lld 1.85 (LLD 19.1.7)`, `GNU ld ...`.
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Arguments before the script and the object.
    pub args: Vec<&'static str>,
    /// The architectures it links; `None`: every one (LLD).
    pub arch: Option<Arch>,
}

impl Linker {
    /// Whether it links `arch`.
    pub fn links(&self, arch: Arch) -> bool {
        self.arch.is_none_or(|a| a == arch)
    }

    /// Links `object` with `script` in `dir`: the output, or the linker's
    /// error output.
    pub fn link(&self, dir: &Path, script: &str, object: &[u8]) -> Result<Vec<u8>, String> {
        std::fs::write(dir.join("seed.o"), object).unwrap();
        std::fs::write(dir.join("link.ld"), script).unwrap();
        let out = dir.join("linked");
        let _ = std::fs::remove_file(&out);
        let result = Command::new(&self.program)
            .current_dir(dir)
            .args(&self.args)
            .args(["-T", "link.ld", "seed.o", "-o"])
            .arg(&out)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", self.program.display()));
        if result.status.success() {
            Ok(std::fs::read(&out).unwrap())
        } else {
            Err(String::from_utf8_lossy(&result.stderr).into_owned())
        }
    }
}

/// The first line of `program --version`, if it runs.
fn version(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .arg("--version")
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    })
}

/// The rust-lld of the toolchain whose `rustc` is `rustc` (a command).
pub fn rust_lld(rustc: &mut Command) -> Result<PathBuf, String> {
    let out = rustc
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let host = host_triple();
    let lld = sysroot.join("lib/rustlib").join(host).join("bin/rust-lld");
    if lld.is_file() {
        Ok(lld)
    } else {
        Err(format!("{} does not exist", lld.display()))
    }
}

/// The host's target triple, from `rustc -vV`.
pub fn host_triple() -> String {
    let out = Command::new(rustc()).arg("-vV").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// A rust-lld, named by `label` and its version.
pub fn lld_linker(label: &str, lld: PathBuf) -> Linker {
    let args = vec!["-flavor", "gnu"];
    let version = version(&lld, &args).unwrap_or_default();
    // "LLD 19.1.7 (/checkout/...) (compatible with GNU linkers)"
    let short = version.split(" (").next().unwrap_or(&version).to_string();
    Linker {
        name: format!("rust-lld {label} ({short})"),
        program: lld,
        args,
        arch: None,
    }
}

/// GNU ld for each architecture: the binary, the extra arguments and the
/// Debian package (`None`: Debian 12 has no binutils for it).
const GNU_LD: [(Arch, &str, &[&str], Option<&str>); 6] = [
    (
        Arch::X86_64,
        "x86_64-linux-gnu-ld",
        &[],
        Some("binutils-x86-64-linux-gnu"),
    ),
    (
        Arch::Aarch64,
        "aarch64-linux-gnu-ld",
        &[],
        Some("binutils-aarch64-linux-gnu"),
    ),
    (
        Arch::Riscv64,
        "riscv64-linux-gnu-ld",
        &[],
        Some("binutils-riscv64-linux-gnu"),
    ),
    (
        Arch::Riscv32,
        "riscv64-linux-gnu-ld",
        &["-m", "elf32lriscv"],
        Some("binutils-riscv64-linux-gnu"),
    ),
    (Arch::Loongarch64, "loongarch64-linux-gnu-ld", &[], None),
    (
        Arch::Armv7,
        "arm-none-eabi-ld",
        &[],
        Some("binutils-arm-none-eabi"),
    ),
];

fn on_path(binary: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
}

/// Every linker to try after the reference, and what could not be found:
/// (linkers, missing and needed, missing and optional).
pub fn linkers() -> (Vec<Linker>, Vec<String>, Vec<String>) {
    let mut found = Vec::new();
    let mut needed = Vec::new();
    let mut optional = Vec::new();
    // The oldest toolchain we support, then any asked for.
    let msrv = env!("CARGO_PKG_RUST_VERSION");
    let extra = std::env::var("PERCPU_LINK_TOOLCHAINS").unwrap_or_default();
    let toolchains = std::iter::once(msrv).chain(extra.split(',').map(str::trim));
    for toolchain in toolchains.filter(|t| !t.is_empty()) {
        let mut cmd = Command::new("rustup");
        cmd.args(["run", toolchain, "rustc"]);
        match rust_lld(&mut cmd) {
            Ok(lld) => found.push(lld_linker(toolchain, lld)),
            Err(why) => {
                let line = format!(
                    "rust-lld of toolchain {toolchain} ({why}; rustup toolchain install --profile minimal {toolchain})"
                );
                if toolchain == msrv {
                    needed.push(line)
                } else {
                    optional.push(line)
                }
            }
        }
    }
    for (arch, binary, args, package) in GNU_LD {
        // The host's own ld is x86_64's on an x86_64 host.
        let program = on_path(binary).or_else(|| {
            (arch == Arch::X86_64 && host_triple().starts_with("x86_64-"))
                .then(|| on_path("ld"))
                .flatten()
        });
        match (program, package) {
            (Some(program), _) => {
                let version = version(&program, args).unwrap_or_default();
                found.push(Linker {
                    name: format!("GNU ld {} ({version})", arch.name()),
                    program,
                    args: args.to_vec(),
                    arch: Some(arch),
                });
            }
            (None, Some(package)) => needed.push(format!(
                "{binary} for {} (apt-get install {package})",
                arch.name()
            )),
            (None, None) => optional.push(format!(
                "{binary} for {}: Debian 12 packages no binutils for it",
                arch.name()
            )),
        }
    }
    (found, needed, optional)
}

/// The rust-lld of the toolchain under test (`$RUSTC`), which the others
/// are compared with.
pub fn reference() -> Linker {
    lld_linker(
        "of the toolchain under test",
        rust_lld(&mut Command::new(rustc())).expect("the toolchain under test has rust-lld"),
    )
}

/// The linkers found, after printing (or, under `CI=true`, failing on) the
/// ones that are missing.
pub fn found_or_fail() -> Vec<Linker> {
    let (linkers, needed, optional) = linkers();
    for line in &optional {
        eprintln!("skipped: {line}");
    }
    if !needed.is_empty() {
        let list = needed.join("\n  ");
        assert!(
            !in_ci(),
            "CI=true and linkers of the matrix are missing (cargo xtask print-deps lists them):\n  {list}"
        );
        eprintln!("skipped (set CI=true to fail instead):\n  {list}");
    }
    linkers
}
