//! The import formats (Character Card V2 JSON and PNG, Markdown agent files): any bytes give
//! a persona or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(imported) = personas::import(data) {
        // What an import makes can be written as a persona file and checked again.
        let text = personas::render_new(&imported.persona, 0);
        let _ = personas::check_text(std::path::Path::new("personas/imported.toml"), &text);
    }
});
