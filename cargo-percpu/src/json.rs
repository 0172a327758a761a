//! The JSON form of the reports: `inspect --format json` and
//! `diff --format json`.
//!
//! One JSON object per run, pretty-printed. Every document carries
//! `schema_version` ([`SCHEMA_VERSION`]) and `document` (`"inspect"` or
//! `"diff"`); every number is a JSON integer (addresses too, not strings).
//! The fields, their meaning and their order are written down in
//! `docs/inspect-json.md`, and `schema/percpu-report.schema.json` is the
//! JSON Schema that the tests check every document against. Lists are
//! sorted by offset, then name. A field may be added within a version;
//! renaming or removing one, or changing its meaning, bumps the version.

use serde::Serialize;

// The version lives with the report it describes, so that this module
// depends on `report` and not the other way round.
pub use crate::report::SCHEMA_VERSION;

/// A report as one pretty-printed JSON document.
pub fn to_json<T: Serialize>(document: &T) -> String {
    // Serializing plain structs of strings, integers and bools cannot fail.
    serde_json::to_string_pretty(document).unwrap_or_else(|err| {
        format!("{{\"schema_version\":{SCHEMA_VERSION},\"error\":\"{err}\"}}")
    })
}
