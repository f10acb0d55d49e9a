//! The loader's check of one file, then the rules across files and families: any bytes as a
//! persona file must give diagnostics, never a panic, and a bounded number of them.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let checked = personas::check_text(Path::new("personas/fuzzed.toml"), text);
    // The per-file cap: at most 20 of one code, plus one summary each (29 codes).
    assert!(checked.diagnostics.len() <= 21 * 29, "{} diagnostics", checked.diagnostics.len());
    let parent = personas::check_text(
        Path::new("personas/base.toml"),
        "name = \"B\"\ndescription = \"d\"\nicon = \"i\"\nsystem_prompt = \"p\"\n",
    );
    let _ = personas::Catalog::from_checked(vec![parent, checked]);
});
