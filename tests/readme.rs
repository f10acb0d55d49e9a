//! The README's format reference is generated from the committed schema, so it cannot drift.
//! On a mismatch, run `PERSONACTL_BLESS=1 cargo test --test readme` to rewrite that section.

use serde_json::Value;

const START: &str = "<!-- format-reference:start (generated from schema/persona.schema.json by tests/readme.rs) -->\n";
const END: &str = "<!-- format-reference:end -->";

fn limits(prop: &Value) -> String {
    let mut out = Vec::new();
    let num = |k: &str| {
        prop.get(k)
            .map(|v| v.to_string().trim_end_matches(".0").to_owned())
    };
    if let (Some(min), Some(max)) = (num("minLength"), num("maxLength")) {
        out.push(format!("{min}–{max} characters"));
    }
    if let (Some(min), Some(max)) = (num("minimum"), num("maximum")) {
        out.push(format!("{min} to {max}"));
    }
    if let Some(max) = num("maxItems") {
        out.push(format!("at most {max} items"));
    }
    if prop.get("uniqueItems") == Some(&Value::Bool(true)) {
        out.push("unique".into());
    }
    if let Some(items) = prop.get("items") {
        let inner = limits(items);
        if !inner.is_empty() {
            out.push(format!("each {inner}"));
        }
    }
    let choices = list(&prop["enum"]);
    if !choices.is_empty() {
        let quoted: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
        out.push(format!("one of {}", quoted.join(", ")));
    }
    match prop.get("pattern").and_then(Value::as_str) {
        Some(r"\S") => out.push("not blank".into()),
        Some(p) => out.push(format!("matches `{p}`")),
        None => {}
    }
    out.join(", ")
}

fn type_name(prop: &Value, schema: &Value) -> String {
    if prop.get("$ref").is_some() {
        return "table".into();
    }
    match prop.get("type").and_then(Value::as_str) {
        Some("array") => format!(
            "array of {}s",
            prop["items"]["type"].as_str().unwrap_or("value")
        ),
        Some("object") => "table".into(),
        Some("number") => "float".into(),
        Some(t) => t.to_owned(),
        None => {
            let _ = schema;
            "any".into()
        }
    }
}

fn list(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn rows(schema: &Value, node: &Value, prefix: &str, out: &mut String) {
    // "Required unless `extends`": `if {required: [extends]} else {required: […]}`.
    let unless_extends = list(&node["else"]["required"]);
    let mut required = list(&node["required"]);
    required.extend(&unless_extends);
    let props = node["properties"]
        .as_object()
        .expect("a table schema has properties");
    let mut keys: Vec<&String> = props.keys().collect();
    keys.sort_by_key(|k| {
        (
            !required.contains(&k.as_str()),
            k.as_str() == "model" || k.as_str() == "extensions",
            (*k).clone(),
        )
    });
    for key in keys {
        let prop = &props[key];
        let description = prop["description"]
            .as_str()
            .unwrap_or("")
            .replace('\n', " ");
        let req = if unless_extends.contains(&key.as_str()) {
            "unless `extends`"
        } else if required.contains(&key.as_str()) {
            "yes"
        } else {
            ""
        };
        out.push_str(&format!(
            "| `{prefix}{key}` | {} | {req} | {} | {description} |\n",
            type_name(prop, schema),
            limits(prop)
        ));
        if let Some(r) = prop.get("$ref").and_then(Value::as_str) {
            let target = schema
                .pointer(r.trim_start_matches('#'))
                .expect("local $ref resolves");
            rows(schema, target, &format!("{key}."), out);
        }
    }
}

fn reference(schema: &Value) -> String {
    let mut out =
        String::from("| key | type | required | limits | meaning |\n|---|---|---|---|---|\n");
    rows(schema, schema, "", &mut out);
    out
}

#[test]
fn readme_format_reference_matches_the_schema() {
    let root = env!("CARGO_MANIFEST_DIR");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/schema/persona.schema.json")).unwrap(),
    )
    .unwrap();
    let readme_path = format!("{root}/README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let start = readme
        .find(START)
        .expect("README has the format-reference start marker")
        + START.len();
    let end = readme
        .find(END)
        .expect("README has the format-reference end marker");
    let expected = reference(&schema);
    if readme[start..end] != expected {
        if std::env::var_os("PERSONACTL_BLESS").is_some() {
            let updated = format!("{}{}{}", &readme[..start], expected, &readme[end..]);
            std::fs::write(&readme_path, updated).unwrap();
        } else {
            panic!(
                "README format reference is stale; run PERSONACTL_BLESS=1 cargo test --test readme\nexpected:\n{expected}"
            );
        }
    }
}
