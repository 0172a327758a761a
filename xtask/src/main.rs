//! `cargo xtask`: the project's automation, in plain Rust.
//!
//! Every subcommand lives in its own module; `targets` is the one table of
//! targets they all read, and `toolchain` installs what a fresh machine
//! lacks so that each subcommand can run from a clean clone.

mod asm_placed;
mod asm_report;
mod axvisor;
mod bench;
mod bench_compile;
mod ci;
mod disasm;
mod dropin;
mod line02;
mod linkers;
mod miri;
mod msrv;
mod semver;
mod targets;
mod test_all_arches;
mod toolchain;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The project's automation.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything CI runs: fmt, clippy, docs, host tests, cross builds,
    /// packaging, the codegen budgets and the QEMU matrix. Writes no
    /// tracked file.
    Ci,
    /// `ci`'s packaging step alone: `cargo package` of the crates that
    /// publish, each verified by a build of its tarball.
    Package,
    /// `ci`'s MSRV step alone: `cargo check` of the crates that publish
    /// with the toolchain of the declared rust-version (host and
    /// bare-metal targets).
    Msrv,
    /// `ci`'s drop-in checks alone: percpu 0.4.0's own tests against ours,
    /// and `cargo semver-checks` against its API.
    Dropin,
    /// `ci`'s 0.2-line checks alone: the `compat/0.2` workspace, the
    /// published 0.2.x suites against `percpu` 0.2.99, the `=0.2.0` pin
    /// recipe, and arm_vcpu/axvcpu/axvm built for AArch64 at EL2.
    Line02,
    /// Boot the test kernel on every architecture under QEMU.
    TestAllArches(test_all_arches::Args),
    /// Count the instructions of every per-CPU access, check them against
    /// their budgets and write (or check) the generated listings.
    AsmReport(asm_report::Args),
    /// Run the benchmarks and write docs/performance.md (`bench compile`:
    /// the compile cost against percpu 0.4.0).
    Bench {
        /// Passed to the benchmark runner as they are.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// `ci`'s undefined-behaviour steps alone: the host tests under Miri
    /// (Stacked and Tree Borrows) and the loom model checks.
    Miri,
    /// Build arceos-hypervisor/axvisor (pre5 line, a checkout you provide)
    /// with our 0.2-line package and boot it at EL2 on 4 CPUs under QEMU.
    /// Opt-in: not part of `ci`.
    AxvisorBoot(axvisor::Args),
    /// Print what a fresh machine needs (QEMU packages, rustup targets and
    /// components, the MSRV toolchain and GNU linkers of the link matrix),
    /// one `kind name [package]` line each, for `.ci/run`.
    PrintDeps,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Ci => ci::run(),
        Command::Package => ci::package(),
        Command::Miri => miri::run().and_then(|()| miri::loom()),
        Command::Msrv => msrv::check(),
        Command::Dropin => dropin::run(),
        Command::Line02 => line02::run(),
        Command::TestAllArches(args) => test_all_arches::run(args),
        Command::AsmReport(args) => asm_report::run(args),
        Command::Bench { args } => bench::run(args),
        Command::AxvisorBoot(args) => axvisor::run(args),
        Command::PrintDeps => {
            targets::print_deps();
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            // A bad checkout or argument combination, like clap's errors.
            if err.is::<axvisor::UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn arguments() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["cargo-xtask"], args].concat());
        assert!(parse(&["test-all-arches", "--arch", "armv7", "--verbose"]).is_ok());
        assert!(parse(&["test-all-arches", "--arch", "m68k"]).is_err());
        assert!(parse(&["test-all-arches", "--bogus"]).is_err());
        assert!(parse(&["test-all-arches", "--cpus", "1,8,max", "--repeat", "10"]).is_ok());
        assert!(parse(&["test-all-arches", "--cpus", "all"]).is_ok());
        assert!(parse(&["test-all-arches", "--cpus", "0"]).is_err());
        assert!(parse(&["test-all-arches", "--repeat", "0"]).is_err());
        assert!(parse(&["test-all-arches", "--linker-toolchain", "1.85"]).is_ok());
        assert!(parse(&["test-all-arches", "--toolchain", "1.90"]).is_ok());
        assert!(parse(&["test-all-arches", "--toolchain"]).is_err());
        assert!(parse(&["asm-report", "--check", "--only", "riscv64"]).is_ok());
        assert!(parse(&["asm-report", "--only", "vax"]).is_err());
        assert!(parse(&["asm-report", "--target-dir"]).is_err());
        assert!(parse(&["ci", "extra"]).is_err());
        assert!(parse(&["bench", "--rounds", "3"]).is_ok());
        assert!(parse(&["axvisor-boot", "--checkout", "a", "--broken"]).is_ok());
        assert!(parse(&["axvisor-boot", "--checkout", "a", "--broken", "el1"]).is_ok());
        assert!(parse(&["axvisor-boot", "--checkout", "a", "--percpu", "published"]).is_ok());
        assert!(parse(&[
            "axvisor-boot",
            "--checkout",
            "a",
            "--recipe",
            "patch-pinned"
        ])
        .is_ok());
        assert!(parse(&["axvisor-boot", "--checkout", "a", "--broken", "x"]).is_err());
        assert!(parse(&["axvisor-boot", "--checkout", "a", "--timeout", "0"]).is_err());
        assert!(parse(&["axvisor-boot"]).is_err());
    }
}
