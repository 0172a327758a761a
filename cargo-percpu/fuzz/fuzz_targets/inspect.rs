//! Feeds arbitrary bytes to the inspector: it must return a report or an
//! error, never panic, hang or allocate by what the file claims.
#![no_main]

use cargo_percpu::report::{inspect_bytes, render_text, InspectOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = InspectOptions {
        cpus: Some(4),
        ..InspectOptions::default()
    };
    if let Ok(report) = inspect_bytes(data, "fuzz-input", &opts) {
        let _ = render_text(&report);
        let _ = cargo_percpu::json::to_json(&report);
    }
});
