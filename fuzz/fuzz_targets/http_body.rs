//! The HTTP bodies: JSON → persona file (POST/PUT) and JSON merge patch (PATCH), as the server
//! hands them to the store. Never a panic; a value TOML cannot hold is refused, never changed.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const BASE: &str = "name = \"Coach\"\ndescription = \"d\"\nicon = \"i\"\nsystem_prompt = \"p\"\n[model]\ntemperature = 0.5\n";

fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir")).path()
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let representable = personas::check_representable(&body).is_ok();
    // POST/PUT: the body laid out as a new file, then checked like any file.
    if representable {
        let text = personas::render_value(&body, 0);
        let _ = personas::check_text(std::path::Path::new("personas/body.toml"), &text);
    }
    // PATCH: a merge patch over an existing file, edited in place.
    let path = dir().join("coach.toml");
    std::fs::write(&path, BASE).expect("write the base file");
    let store = personas::Store::new(dir());
    let _ = store.patch_value("coach", &body);
});
