//! `cargo bench -p cargo-percpu`: inspect a generated kernel-sized ELF with
//! 200,000 symbols, 10,000 of them per-CPU variables. The whole inspection
//! (map, parse, one symbol-table walk, demangle, sort, checks) should take
//! well under a second; the run fails if the median reaches one.

#[path = "../tests/common/gen.rs"]
mod gen;

use std::time::{Duration, Instant};

use cargo_percpu::report::{inspect_path, InspectOptions};
use gen::{GenElf, GenSym, Place, EM_X86_64};

const SYMBOLS: usize = 200_000;
const VARIABLES: usize = 10_000;

fn main() {
    let names: Vec<String> = (0..VARIABLES)
        .map(|i| {
            // Mangled like the macro's storage: crate::module_N::__PERCPU_VAR_i.
            let module = format!("module_{}", i % 97);
            let var = format!("__PERCPU_VAR_{i}");
            format!(
                "_ZN6kernel{}{module}{}{var}17h0123456789abcdefE",
                module.len(),
                var.len()
            )
        })
        .collect();
    let vars: Vec<(&str, u64)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), 8 + (i % 3) as u64 * 8))
        .collect();
    let mut elf = GenElf::kernel(64, false, EM_X86_64, 4, &vars);
    let others = SYMBOLS - elf.symbols.len();
    for i in 0..others {
        elf.symbols.push(GenSym {
            name: format!("_ZN6kernel4func{:05}17h0123456789abcdefE", i % 100_000),
            value: 0x10_0000 + i as u64 * 16,
            size: 16,
            // Mostly functions, some data, as in a kernel.
            st_type: if i % 4 == 0 { 1 } else { 2 },
            place: Place::Other,
        });
    }
    let data = elf.build();
    let path = std::env::temp_dir().join(format!("cargo-percpu-bench-{}.elf", std::process::id()));
    std::fs::write(&path, &data).expect("write the generated ELF");

    let opts = InspectOptions {
        cpus: Some(4),
        ..InspectOptions::default()
    };
    let mut times: Vec<Duration> = Vec::new();
    let mut variables = 0;
    for _ in 0..11 {
        let start = Instant::now();
        let report = inspect_path(&path, &opts).expect("the generated ELF is usable");
        times.push(start.elapsed());
        variables = report.variables.len();
        assert!(report.passed(), "{:?}", report.checks);
    }
    let _ = std::fs::remove_file(&path);
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "inspect: {} symbols, {variables} per-CPU variables, {:.1} MiB: median {:.1} ms, min {:.1} ms, max {:.1} ms (11 runs)",
        elf.symbols.len(),
        data.len() as f64 / (1 << 20) as f64,
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
    assert_eq!(variables, VARIABLES);
    assert!(
        median < Duration::from_secs(1),
        "inspect took {median:?}: not well under a second"
    );
}
