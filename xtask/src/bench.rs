//! `cargo xtask bench`: runs percpu's benchmarks (`percpu/benches`, x86_64
//! Linux user space) and writes their results, with the machine they ran
//! on, into `docs/performance.md` between the `bench` markers.
//!
//! Two runs: every bench with default features, then the access bench
//! with `preempt`. The bench binaries print `@bench` lines (see
//! `percpu/benches/common/mod.rs`); everything else they print is shown.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

use crate::asm_report::write_section;
use crate::toolchain::{self, cargo};

/// One `@bench` line.
#[derive(Clone, Debug, PartialEq)]
struct Sample {
    group: String,
    name: String,
    best: f64,
    median: f64,
    unit: String,
}

/// Reads the `@bench` lines of a bench run; other lines are ignored.
fn parse(stdout: &str) -> Vec<Sample> {
    stdout
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.strip_prefix("@bench\t")?.split('\t').collect();
            let [group, name, best, median, unit] = fields[..] else {
                return None;
            };
            Some(Sample {
                group: group.to_owned(),
                name: name.to_owned(),
                best: best.parse().ok()?,
                median: median.parse().ok()?,
                unit: unit.to_owned(),
            })
        })
        .collect()
}

struct Options {
    write: bool,
    rounds: Option<u32>,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut options = Options {
        write: true,
        rounds: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-write" => options.write = false,
            "--rounds" => {
                let n = args.next().context("`--rounds` needs a number")?;
                let n: u32 =
                    n.parse().ok().filter(|&n| n > 0).with_context(|| {
                        format!("`--rounds` needs a positive number, got `{n}`")
                    })?;
                options.rounds = Some(n);
            }
            other => bail!(
                "unknown argument `{other}`\n\nusage: cargo xtask bench [--no-write] [--rounds N]"
            ),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("compile") {
        return run_compile(&args[1..]);
    }
    let options = parse_args(args)?;
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        bail!("the benchmarks run in x86_64 Linux user space only");
    }
    let mut samples = Vec::new();
    for (run, extra) in [&[][..], &["--bench", "access", "--features", "preempt"][..]]
        .into_iter()
        .enumerate()
    {
        let mut cmd = cargo();
        cmd.args(["bench", "-p", "percpu"]).args(extra);
        if let Some(n) = options.rounds {
            cmd.env("PERCPU_BENCH_ROUNDS", n.to_string());
        }
        eprintln!("$ {}", toolchain::display(&cmd));
        let stdout = toolchain::output(&mut cmd)?;
        for line in stdout.lines().filter(|l| !l.starts_with("@bench")) {
            println!("{line}");
        }
        let mut run_samples = parse(&stdout);
        if run == 1 {
            // Of the `preempt` run keep the percpu cases, and its own
            // `thread_local!` for their ratio.
            run_samples.retain(|s| s.name == "percpu preempt" || s.name == "thread_local");
            for s in &mut run_samples {
                if s.name == "thread_local" {
                    s.name = PREEMPT_RUN_TLS.to_owned();
                }
            }
        }
        samples.extend(run_samples);
    }
    if samples.is_empty() {
        bail!("the benches printed no `@bench` lines");
    }
    publish(&options, "bench", &render(&samples, &machine()))
}

/// Writes `section` between its markers in docs/performance.md, or prints
/// it with `--no-write`.
fn publish(options: &Options, name: &str, section: &str) -> Result<()> {
    if options.write {
        write_section(name, section)?;
        eprintln!("{name}: wrote the results to docs/performance.md");
    } else {
        println!("{section}");
    }
    Ok(())
}

/// `cargo xtask bench compile [--no-write] [--rounds N]`.
fn run_compile(args: &[String]) -> Result<()> {
    let options = parse_args(args)?;
    let rounds = options.rounds.unwrap_or(5) as usize;
    let section = crate::bench_compile::run(rounds, &machine())?;
    publish(&options, "bench-compile", &section)
}

/// CPU model, logical CPU count, kernel and toolchain.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map_or("unknown CPU".to_owned(), |(_, m)| m.trim().to_owned());
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("unknown".to_owned(), |k| k.trim().to_owned());
    let rustc = toolchain::output(Command::new("rustc").arg("-V"))
        .map_or("rustc (unknown version)".to_owned(), |v| {
            v.trim().to_owned()
        });
    format!("{model}, {cpus} logical CPUs, Linux {kernel}, `{rustc}`")
}

/// Access cases in column order, with their headers.
const ACCESS_COLUMNS: &[(&str, &str)] = &[
    ("percpu", "percpu"),
    ("percpu preempt", "percpu, `preempt`"),
    ("percpu + no-op guard", "percpu + no-op guard calls"),
    ("thread_local", "`thread_local!` `Cell`"),
    ("atomic", "`AtomicUsize` relaxed"),
    ("static mut", "`static mut`"),
];

const ACCESS_OPS: &[(&str, &str)] = &[
    ("read", "`read_current`"),
    ("write", "`write_current`"),
    ("add", "`add_current`"),
    ("with_current", "`with_current` increment"),
    ("chain", "`with_current` chain: `*v += 1` back to back"),
];

/// The run-time allocation cases, with their labels.
const DYNAMIC_OPS: &[(&str, &str)] = &[
    ("box read", "`PerCpuBox` `read_current`"),
    ("box write", "`PerCpuBox` `write_current`"),
    ("box add", "`PerCpuBox` `add_current`"),
    ("counter add", "`PerCpuCounter::add`"),
];

/// `thread_local!` as measured in the `preempt` run: the reference of that
/// run's ratios.
const PREEMPT_RUN_TLS: &str = "thread_local (preempt run)";

/// Timings are noisy; a target counts as met within this margin.
const NOISE: f64 = 1.05;

fn render(samples: &[Sample], machine: &str) -> String {
    let find =
        |group: &str, name: &str| samples.iter().find(|s| s.group == group && s.name == name);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Generated by `cargo xtask bench` on: {machine}.\n\n\
         Each cell: the best of the interleaved rounds in ns per operation (the median in \
         parentheses), then the ratio of the best to `thread_local!`'s best. Every case pays the \
         same `black_box` on its operand or result and runs unrolled 8 times per loop iteration. \
         The `preempt` column comes from a second run, and its ratio from that run's \
         `thread_local!`.\n"
    );
    out.push_str("| operation |");
    for (_, header) in ACCESS_COLUMNS {
        let _ = write!(out, " {header} |");
    }
    out.push_str(" percpu ≤ `thread_local!` and ≤ atomic |\n|---|");
    out.push_str(&"---|".repeat(ACCESS_COLUMNS.len() + 1));
    out.push('\n');
    for (op, label) in ACCESS_OPS {
        let tls = find(op, "thread_local").map(|s| s.best);
        let _ = write!(out, "| {label} |");
        for (name, _) in ACCESS_COLUMNS {
            // Each run's cases are compared with that run's reference.
            let reference = if *name == "percpu preempt" {
                find(op, PREEMPT_RUN_TLS).map(|s| s.best).or(tls)
            } else {
                tls
            };
            match (find(op, name), reference) {
                (Some(s), Some(t)) if t > 0.0 => {
                    let _ = write!(out, " {:.2} ({:.2}) {:.2}× |", s.best, s.median, s.best / t);
                }
                (Some(s), _) => {
                    let _ = write!(out, " {:.2} ({:.2}) |", s.best, s.median);
                }
                (None, _) => out.push_str(" – |"),
            }
        }
        let verdict = match (find(op, "percpu"), tls, find(op, "atomic")) {
            (Some(p), Some(t), Some(a)) => {
                if p.best <= t * NOISE && p.best <= a.best * NOISE {
                    "yes".to_owned()
                } else {
                    format!(
                        "**no** ({:.2}× TLS, {:.2}× atomic)",
                        p.best / t,
                        p.best / a.best
                    )
                }
            }
            _ => "–".to_owned(),
        };
        let _ = writeln!(out, " {verdict} |");
    }

    // Run-time allocations against their static equivalents.
    if DYNAMIC_OPS
        .iter()
        .any(|(op, _)| find(op, "percpu").is_some())
    {
        out.push_str(
            "\nRun-time allocations (`PerCpuBox`, `PerCpuCounter::new`) against the same \
             operation on a static, in ns per operation (best, median in parentheses), with \
             the ratio of the best to the static's and to `thread_local!`'s:\n\n\
             | operation | run-time | static | `thread_local!` | ÷ static | ÷ `thread_local!` |\n\
             |---|---|---|---|---|---|\n",
        );
        for (op, label) in DYNAMIC_OPS {
            let (Some(dynamic), Some(fixed), Some(tls)) = (
                find(op, "percpu"),
                find(op, "static"),
                find(op, "thread_local"),
            ) else {
                continue;
            };
            let cell = |s: &Sample| format!("{:.2} ({:.2})", s.best, s.median);
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} | {:.2}× | {:.2}× |",
                cell(dynamic),
                cell(fixed),
                cell(tls),
                dynamic.best / fixed.best,
                dynamic.best / tls.best
            );
        }
    }

    // init: group `init/<template>/<cpus>`, cases `init` and `copy`.
    let mut init_rows: BTreeMap<(u64, usize), InitRow> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.group.starts_with("init/")) {
        let mut parts = s.group.splitn(3, '/').skip(1);
        let (Some(template), Some(cpus)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(cpus) = cpus.parse::<usize>() else {
            continue;
        };
        let row = init_rows
            .entry((template_bytes(template), cpus))
            .or_insert_with(|| (template.to_owned(), None, None));
        match s.name.as_str() {
            "init" => row.1 = Some(s.best),
            "copy" => row.2 = Some(s.best),
            _ => {}
        }
    }
    if !init_rows.is_empty() {
        out.push_str(
            "\n`init(base, n)` against `copy_nonoverlapping` of the same bytes into the same \
             buffer (already faulted in), in GB/s, best round:\n\n\
             | template | CPUs | `init` | `copy_nonoverlapping` | ratio | within 10 % |\n\
             |---|---|---|---|---|---|\n",
        );
        for ((_, cpus), (template, init, copy)) in &init_rows {
            let (Some(init), Some(copy)) = (init, copy) else {
                continue;
            };
            let ratio = init / copy;
            let _ = writeln!(
                out,
                "| {template} | {cpus} | {init:.2} | {copy:.2} | {ratio:.3} | {} |",
                if ratio >= 0.9 { "yes" } else { "**no**" }
            );
        }
    }
    out
}

/// Template label, `init` GB/s, `copy_nonoverlapping` GB/s.
type InitRow = (String, Option<f64>, Option<f64>);

/// "4 KiB" / "1 MiB" to bytes, for ordering rows; unknown sizes sort last.
fn template_bytes(label: &str) -> u64 {
    let mut parts = label.split_whitespace();
    let n: u64 = parts
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX >> 20);
    match parts.next() {
        Some("KiB") => n << 10,
        Some("MiB") => n << 20,
        _ => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
per-CPU access, ns/op
@bench\tread\tpercpu\t0.3000\t0.3500\tns
@bench\tread\tthread_local\t0.6000\t0.6100\tns
@bench\tread\tatomic\t0.3100\t0.3200\tns
@bench\tadd\tpercpu\t2.0000\t2.1000\tns
@bench\tadd\tthread_local\t1.0000\t1.0000\tns
@bench\tadd\tatomic\t4.0000\t4.0000\tns
@bench\tinit/4 KiB/64\tinit\t30.0000\t29.0000\tGB/s
@bench\tinit/4 KiB/64\tcopy\t40.0000\t39.0000\tGB/s
@bench\tbroken line
@bench\tread\tpercpu\tnot-a-number\t1\tns
";

    #[test]
    fn parses_only_well_formed_lines() {
        let samples = parse(OUTPUT);
        assert_eq!(samples.len(), 8);
        assert_eq!(samples[0].name, "percpu");
        assert_eq!(samples[0].best, 0.3);
        assert_eq!(samples[6].group, "init/4 KiB/64");
    }

    #[test]
    fn verdicts_follow_the_numbers() {
        let text = render(&parse(OUTPUT), "test machine");
        let read = text
            .lines()
            .find(|l| l.starts_with("| `read_current`"))
            .unwrap();
        assert!(read.ends_with(" yes |"), "{read}");
        assert!(read.contains("0.30 (0.35) 0.50×"), "{read}");
        let add = text
            .lines()
            .find(|l| l.starts_with("| `add_current`"))
            .unwrap();
        assert!(add.contains("**no** (2.00× TLS"), "{add}");
        let init = text
            .lines()
            .find(|l| l.starts_with("| 4 KiB | 64"))
            .unwrap();
        assert!(init.contains("0.750 | **no**"), "{init}");
        assert!(text.contains("test machine"));
    }

    #[test]
    fn the_preempt_column_uses_its_own_runs_reference() {
        let mut samples = parse(OUTPUT);
        for (name, best) in [("percpu preempt", 0.5), (PREEMPT_RUN_TLS, 1.0)] {
            samples.push(Sample {
                group: "read".into(),
                name: name.into(),
                best,
                median: best,
                unit: "ns".into(),
            });
        }
        let text = render(&samples, "m");
        let read = text
            .lines()
            .find(|l| l.starts_with("| `read_current`"))
            .unwrap();
        // 0.5 / 1.0 (its run), not 0.5 / 0.6 (the default run).
        assert!(read.contains("0.50 (0.50) 0.50×"), "{read}");
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse_args(&["--rounds".into(), "0".into()]).is_err());
        assert!(parse_args(&["--rounds".into(), "x".into()]).is_err());
        assert!(parse_args(&["--rounds".into()]).is_err());
        assert!(parse_args(&["--frobnicate".into()]).is_err());
        assert_eq!(
            parse_args(&["--rounds".into(), "3".into()]).unwrap().rounds,
            Some(3)
        );
    }

    #[test]
    fn template_sizes_order_rows() {
        assert!(template_bytes("4 KiB") < template_bytes("1 MiB"));
        assert_eq!(template_bytes("garbage"), u64::MAX >> 20);
    }
}
