//! `cargo-percpu`: run as `cargo percpu …` or `cargo-percpu …`.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let colour = cargo_percpu::style::colour_wanted();
    let code = cargo_percpu::cli::run_with_colour(
        std::env::args_os(),
        &mut stdout.lock(),
        &mut stderr.lock(),
        colour,
    );
    let _ = std::io::stdout().flush();
    ExitCode::from(code)
}
