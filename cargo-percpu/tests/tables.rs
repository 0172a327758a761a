//! The hand-written lists of architectures agree with `percpu_layout::ARCHES`,
//! the one place the facts live: the report schema's `file.machine` enum,
//! docs/inspect-json.md's `file.machine` row and the README's table.

use cargo_percpu::layout::ARCHES;

fn workspace_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Our names, and `x86`, the one other machine the inspector names.
fn machine_names() -> Vec<String> {
    let mut names: Vec<String> = ARCHES.iter().map(|row| row.name.to_string()).collect();
    names.push("x86".into());
    names
}

#[test]
fn the_schema_enum_is_the_rows() {
    let schema: serde_json::Value = serde_json::from_str(&workspace_file(
        "cargo-percpu/schema/percpu-report.schema.json",
    ))
    .unwrap();
    let any_of = find_key(&schema, "machine")
        .and_then(|m| m.get("anyOf"))
        .expect("file.machine in the schema");
    let listed: Vec<String> = any_of[0]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, machine_names());
}

fn find_key<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|v| find_key(v, key))),
        serde_json::Value::Array(list) => list.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}

#[test]
fn the_json_doc_lists_the_rows() {
    let doc = workspace_file("docs/inspect-json.md");
    let line = doc
        .lines()
        .find(|l| l.starts_with("| `file.machine` |"))
        .expect("the file.machine row of docs/inspect-json.md");
    let quoted: Vec<String> = line
        .split('`')
        .skip(3)
        .step_by(2)
        .map(String::from)
        .collect();
    let mut expected = machine_names();
    expected.push("EM_<number>".into());
    assert_eq!(quoted, expected, "{line}");
}

#[test]
fn the_readme_table_has_a_row_per_architecture() {
    let readme = workspace_file("README.md");
    let start = readme
        .find("| architecture | per-CPU register |")
        .expect("the README's architecture table");
    let rows: Vec<&str> = readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('|').nth(1).unwrap().trim())
        .collect();
    // The two RISC-V widths share a row.
    let mut expected: Vec<String> = Vec::new();
    for row in &ARCHES {
        let title = match row.title.strip_prefix("RISC-V ") {
            Some(_) => "RISC-V 32/64".to_string(),
            None => row.title.to_string(),
        };
        if !expected.contains(&title) {
            expected.push(title);
        }
    }
    assert_eq!(rows, expected);
}
