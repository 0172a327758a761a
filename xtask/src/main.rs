//! `cargo xtask`: the project's automation, in plain Rust.
//!
//! Every subcommand lives in its own module; `toolchain` installs what a
//! fresh machine lacks so that each subcommand can run from a clean clone.

mod asm_report;
mod bench;
mod bench_compile;
mod ci;
mod test_all_arches;
mod toolchain;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  ci                 everything CI runs: fmt, clippy, docs, host tests,
                     cross builds, the QEMU matrix and the codegen budgets
  test-all-arches    boot the test kernel on every architecture under QEMU
                     [--arch NAME] [--verbose]
  asm-report         count the instructions of every per-CPU access and
                     check them against their budgets
  bench              run the benchmarks and write docs/performance.md
                     [compile [--rounds N]]: compile cost against percpu 0.4.0
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match command.as_str() {
        "ci" => ci::run(rest),
        "test-all-arches" => test_all_arches::run(rest),
        "asm-report" => asm_report::run(rest),
        "bench" => bench::run(rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("error: unknown command `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
