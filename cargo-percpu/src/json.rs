//! The `--json` form of a report.
//!
//! One JSON object, stable within a [`SCHEMA_VERSION`]; every number is a
//! JSON integer (addresses too, not strings):
//!
//! ```text
//! {
//!   "schema_version": 1,
//!   "file": {"path": str, "class": "ELF64"|"ELF32", "endian": "little"|"big",
//!            "machine": str, "kind": str, "entry": int},
//!   "section": {"present": true, "vma": int, "lma": int, "file_size": int,
//!               "mem_size": int, "nobits": bool, "align": int} | null,
//!   "template": {"start": int, "end": int, "size": int, "align": int, "stride": int, "areas": int},
//!   "variables": [{"name": str, "symbol": str, "offset": int, "size": int, "align": int}],
//!   "checks": [{"name": str, "passed": bool, "detail": str}]
//! }
//! ```
//!
//! `machine` is our name of the architecture (`percpu_layout::Arch::name`:
//! `x86_64`, `aarch64`, ..., `armv7`) when percpu supports it, else `x86`,
//! `riscv<bits>` or `EM_<number>`; `kind` is `executable`,
//! `shared-object`, `relocatable`, `core` or `other`. `variables` is sorted
//! by offset. The check names, in order, are `section-exists`, `vma`,
//! `template-in-file`, `symbols`, `reservation` (only with `--cpus`),
//! `template-bounds` and `reach`; without a `.percpu` section only
//! `section-exists` is reported and `template` is all zeros. A new field may
//! be added within a version; renaming or removing one bumps it.

// The version lives with the report it describes, so that this module
// depends on `report` and not the other way round.
use crate::report::Report;
pub use crate::report::SCHEMA_VERSION;

/// The report as one pretty-printed JSON document.
pub fn to_json(report: &Report) -> String {
    // Serializing plain structs of strings, integers and bools cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_else(|err| {
        format!("{{\"schema_version\":{SCHEMA_VERSION},\"error\":\"{err}\"}}")
    })
}
