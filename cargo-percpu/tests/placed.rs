//! The template-only script of placed areas, end to end through the real
//! executable: `ldscript --placed` renders it, the reference linker links
//! the seed object with it, and `inspect` and `diff` report what it is.

use std::path::{Path, PathBuf};

use crate::common::linkers;
use crate::common::run::exec;
use crate::common::schema;
use crate::common::seed;
use cargo_percpu::ldscript::Arch;

/// The dynamic region the placed scripts reserve room for in the stride.
const DYNAMIC: &str = "4096";

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cargo-percpu-placed-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Renders with the real executable: `ldscript --arch ARCH --cpus 8 ARGS`.
fn ldscript(arch: Arch, args: &[&str]) -> String {
    let mut all = vec!["ldscript", "--arch", arch.name(), "--cpus", "8"];
    all.extend_from_slice(args);
    let (code, out, err) = exec(&all);
    assert_eq!(code, 0, "{all:?}: {err}");
    out
}

/// Links the seed of `arch` with `script` (the reference rust-lld) into
/// `dir/name`.
fn link(dir: &Path, name: &str, arch: Arch, script: &str) -> PathBuf {
    let data = linkers::reference()
        .link(dir, script, &seed::object(arch))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

/// One placed area for a template of `template` bytes: the template
/// rounded up to 16, then 4096 bytes of dynamic region, rounded up to 64.
fn placed_area(template: u64) -> u64 {
    (template.next_multiple_of(16) + 4096).next_multiple_of(64)
}

#[test]
fn inspect_reports_a_template_only_script() {
    // The full script of every architecture (the link matrix links the
    // fragments, with every linker, and inspects them too).
    let dir = temp_dir("inspect");
    for arch in Arch::ALL {
        let script = ldscript(arch, &["--placed", "--full", "--dynamic", DYNAMIC]);
        let file = link(&dir, "placed", arch, &script);
        let file = file.to_str().unwrap();
        // --cpus asks for 8 areas: a placed script needs none.
        let (code, out, err) = exec(&["inspect", "--cpus", "8", file]);
        assert_eq!(code, 0, "{arch}: {out}{err}");
        let (code, json, _) = exec(&["inspect", "--cpus", "8", "--json", file]);
        assert_eq!(code, 0, "{arch}");
        // Parsed and checked against the schema.
        let value = schema::parse(&json);
        let t = &value["template"];
        assert_eq!(t["placed"], true, "{arch}");
        assert_eq!(t["areas"], 0, "{arch}");
        let size = t["size"].as_u64().unwrap();
        let stride = t["stride"].as_u64().unwrap();
        assert_eq!(stride, placed_area(size), "{arch}");
        assert_eq!(value["section"]["mem_size"], size, "{arch}");
        assert!(
            out.contains(&format!(
                "{size} bytes, template only: placed areas of {stride} bytes each"
            )),
            "{arch}: {out}"
        );
        assert!(
            out.contains(&format!(
                "ok    reservation       template only (placed): no area reserved, the platform places each CPU's {stride}-byte area"
            )),
            "{arch}: {out}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inspect_catches_areas_after_a_placed_template() {
    // The script's ASSERT refuses this at link time; without it (a hand
    // edit removed both), inspect still sees the areas.
    let dir = temp_dir("broken");
    let arch = Arch::Riscv64;
    let script = ldscript(arch, &["--placed", "--full"]);
    let end = "         */\n    }\n    /*\n     * _percpu_end";
    assert!(script.contains(end));
    let broken: String = script
        .replacen(end, "         */\n        . += 128;\n    }\n    /*\n     * _percpu_end", 1)
        .lines()
        .filter(|line| !line.contains("holds more than the template"))
        .map(|line| format!("{line}\n"))
        .collect();
    let file = link(&dir, "broken", arch, &broken);
    let (code, out, _) = exec(&["inspect", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL  reservation") && out.contains("yet .percpu holds 128 bytes after the"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn diff_says_when_the_areas_become_placed() {
    let dir = temp_dir("diff");
    let arch = Arch::Aarch64;
    let old = link(&dir, "old", arch, &ldscript(arch, &["--full"]));
    let new = link(&dir, "new", arch, &ldscript(arch, &["--full", "--placed"]));
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    let (code, out, err) = exec(&["diff", old, new]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("areas are    contiguous -> placed"), "{out}");
    assert!(out.contains("areas        8 -> 0 (-8)"), "{out}");
    let (code, json, _) = exec(&["diff", "--json", old, new]);
    assert_eq!(code, 0);
    let value = schema::parse(&json);
    assert_eq!(value["placed"], serde_json::json!([false, true]));
    // Two contiguous builds: no line about it.
    let (_, out, _) = exec(&["diff", old, old]);
    assert!(!out.contains("areas are"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_placed_arguments_are_one_line_errors() {
    for (args, message) in [
        (
            &["ldscript", "--placed", "--cpus", "0"][..],
            "error: the CPU count must be at least 1\n",
        ),
        (
            &["ldscript", "--placed", "--cpus", "1", "--arch", "riscv32", "--dynamic", "0x100000040"],
            "error: 1 areas of at least 64 bytes from 0x0 overflow the 32-bit address space of riscv32\n",
        ),
        (
            &["ldscript", "--placed", "--cpus", "1", "--align", "96"],
            "error: the alignment must be a power of two of at least 64, not 96\n",
        ),
    ] {
        let (code, out, err) = exec(args);
        assert_eq!((code, out.as_str(), err.as_str()), (2, "", message), "{args:?}");
    }
    // Given twice, clap refuses it like any flag.
    let (code, _, err) = exec(&["ldscript", "--placed", "--placed", "--cpus", "1"]);
    assert_eq!(code, 2);
    assert!(err.contains("--placed"), "{err}");
}
