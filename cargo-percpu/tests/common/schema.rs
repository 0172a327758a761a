//! Every JSON document a test sees goes through [`validate`]: the JSON
//! Schema kept in the repository (`schema/percpu-report.schema.json`), plus
//! the documented order of every list, which a schema cannot say.

use std::sync::OnceLock;

use serde_json::Value;

const SCHEMA: &str = include_str!("../../schema/percpu-report.schema.json");

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
    })
}

/// The key a list is sorted by: offset (or new offset), then name.
fn order_key(item: &Value, offset_field: &str) -> (u64, String) {
    (
        item[offset_field].as_u64().unwrap_or(0),
        item["name"].as_str().unwrap_or("").to_string(),
    )
}

fn assert_sorted(list: &Value, offset_field: &str, what: &str) {
    let keys: Vec<(u64, String)> = list
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not an array"))
        .iter()
        .map(|item| order_key(item, offset_field))
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] <= w[1]),
        "{what} is not sorted by offset, then name: {keys:?}"
    );
}

/// Panics, with every violation, unless `document` follows the schema and
/// its lists are in the documented order.
pub fn validate(document: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the document breaks schema/percpu-report.schema.json:\n{}\n{document:#}",
        errors.join("\n")
    );
    match document["document"].as_str() {
        Some("inspect") => assert_sorted(&document["variables"], "offset", "variables"),
        Some("diff") => {
            assert_sorted(&document["added"], "offset", "added");
            assert_sorted(&document["removed"], "offset", "removed");
            assert_sorted(&document["moved"], "new_offset", "moved");
            assert_sorted(&document["resized"], "offset", "resized");
        }
        other => panic!("unknown document {other:?}"),
    }
}

/// Parses `text` as one JSON document and validates it.
pub fn parse(text: &str) -> Value {
    let value: Value = serde_json::from_str(text)
        .unwrap_or_else(|err| panic!("not one JSON document: {err}\n{text}"));
    validate(&value);
    value
}
