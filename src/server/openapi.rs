//! The OpenAPI 3.1 document of the API. The persona schemas are the generated persona JSON
//! Schema itself (OpenAPI 3.1 speaks JSON Schema 2020-12), adapted per operation: never
//! written twice.

use serde_json::{Map, Value, json};

use crate::schema::persona_schema;

/// The OpenAPI 3.1 document served at `GET /api/openapi.json`.
#[must_use]
pub fn openapi_document() -> Value {
    let (persona, defs) = persona_component();
    let mut schemas = Map::new();
    schemas.extend(defs);
    schemas.insert("Persona".into(), persona.clone());
    schemas.insert(
        "PersonaOut".into(),
        with_extra(&persona, &["id", "revision"], Some(true)),
    );
    let mut detail = with_extra(&persona, &["id", "revision", "tokens"], Some(true));
    if let Some(Value::Object(props)) = detail.get_mut("properties") {
        props.insert(
            "tokens".into(),
            json!({"$ref": "#/components/schemas/TokenCounts", "description": "What the rendered system prompt and greeting cost, in tokens (variables at their defaults)."}),
        );
    }
    schemas.insert("PersonaDetail".into(), detail);
    schemas.insert("NewPersona".into(), with_extra(&persona, &["id"], None));
    schemas.insert(
        "PersonaReplace".into(),
        without_id(with_extra(&persona, &[], Some(false))),
    );
    schemas.insert("PersonaPatch".into(), patch_schema(&persona));
    // The response types are generated from their Rust types too.
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    for schema in [
        generator.subschema_for::<crate::diagnostic::Diagnostic>(),
        generator.subschema_for::<crate::sessions::ResolutionView<'static>>(),
        generator.subschema_for::<super::Health>(),
        generator.subschema_for::<crate::tokens::TokenCounts>(),
    ] {
        debug_assert!(
            schema.get("$ref").is_some(),
            "structs are referenced, not inlined"
        );
    }
    schemas.extend(generator.take_definitions(true));
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"},
            "diagnostics": {"type": "array", "items": {"$ref": "#/components/schemas/Diagnostic"}}
        }}),
    );

    schemas.insert(
        "PinnedResolution".into(),
        json!({"description": "A resolution and the session's pinned persona: the stored revision it was linked at (`pinned` is null, and `pinned_reason` says why, when there is none).",
            "allOf": [{"$ref": "#/components/schemas/ResolutionView"}, {"type": "object",
            "required": ["pinned", "pinned_revision", "pinned_reason"], "properties": {
            "pinned": {"anyOf": [{"$ref": "#/components/schemas/Persona"}, {"type": "null"}]},
            "pinned_revision": {"type": ["string", "null"]},
            "pinned_reason": {"type": ["string", "null"]}
        }}]}),
    );
    schemas.insert(
        "LinkRequest".into(),
        json!({"type": "object", "required": ["persona"], "properties": {"persona": {"type": "string", "description": "A persona id (or a former id listed in some persona's aliases)."}}}),
    );

    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The persona id (lowercase kebab-case); anything else names no persona (404)."});
    let session = json!({"name": "session", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 256}, "description": "An opaque session id: 1–256 bytes, no control characters."});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "personactl",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "AI chat personas as TOML files: read through a hot-reloading registry, written as validated, atomic, comment-preserving file edits, and chat sessions linked to personas."
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "Needed for writes when the server runs with --token (or PERSONAS_TOKEN)."}}
        },
        "paths": {
            "/healthz": {"get": {"operationId": "health", "summary": "Liveness and the registry's last reload", "responses": {"200": body("The server is up; `status` is `degraded` when the last reload left errors.", "Health")}}},
            "/api/schema": {"get": {"operationId": "personaSchema", "summary": "The persona JSON Schema", "responses": {"200": {"description": "The schema", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/api/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/api/personas": {
                "get": {
                    "operationId": "listPersonas",
                    "summary": "Personas in picker order (order, then id)",
                    "parameters": [{"name": "all", "in": "query", "required": false, "schema": {"type": "boolean"}, "description": "Include hidden personas."}],
                    "responses": {"200": {"description": "The personas", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/PersonaOut"}}}}}}
                },
                "post": write_op("createPersona", "Create a persona file", "NewPersona", "201", "Created", &["400", "401", "403", "409", "413", "422"])
            },
            "/api/personas/{id}": {
                "parameters": [id],
                "get": {"operationId": "getPersona", "summary": "One persona, as the registry serves it", "responses": {"200": body("The persona, with its token counts", "PersonaDetail"), "404": error("No such persona")}},
                "put": write_op("replacePersona", "Replace a persona (the file is edited in place; comments stay)", "PersonaReplace", "200", "Replaced", &["400", "401", "403", "404", "409", "413", "422"]),
                "patch": write_op("patchPersona", "Change some keys (JSON merge patch; null removes a key)", "PersonaPatch", "200", "Patched", &["400", "401", "403", "404", "409", "413", "422"]),
                "delete": {"operationId": "deletePersona", "summary": "Delete a persona file", "security": security(), "responses": responses_with(json!({"204": {"description": "Deleted"}}), &["401", "403", "404", "409"])}
            },
            "/api/sessions/{session}/persona": {
                "parameters": [session],
                "get": {"operationId": "resolveSession", "summary": "The persona a session uses (falls back to the default)",
                    "parameters": [{"name": "pinned", "in": "query", "required": false, "schema": {"type": "boolean"}, "description": "Also return the pinned persona: the stored revision the session was linked at."}],
                    "responses": responses_with(json!({"200": {"description": "The resolution (with `pinned=true`, and the pinned persona)", "content": {"application/json": {"schema": {"anyOf": [{"$ref": "#/components/schemas/PinnedResolution"}, {"$ref": "#/components/schemas/ResolutionView"}]}}}}}), &["400", "503"])},
                "put": {
                    "operationId": "linkSession",
                    "summary": "Link a session to a persona",
                    "security": security(),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LinkRequest"}}}},
                    "responses": responses_with(json!({"200": body("Linked; the new resolution", "ResolutionView")}), &["400", "401", "403", "413", "422", "503"])
                },
                "delete": {"operationId": "unlinkSession", "summary": "Unlink a session", "security": security(), "responses": responses_with(json!({"204": {"description": "Unlinked"}}), &["400", "401", "403", "404", "503"])}
            }
        }
    })
}

/// The persona schema as a component: `$defs` moved to `components/schemas` and references
/// rewritten, `$schema` dropped (the document's dialect is 2020-12 already).
fn persona_component() -> (Value, Map<String, Value>) {
    let mut schema = persona_schema();
    let defs = schema
        .as_object_mut()
        .and_then(|m| {
            m.remove("$schema");
            m.remove("$defs")
        })
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default();
    rewrite_refs(&mut schema);
    let defs = defs
        .into_iter()
        .map(|(k, mut v)| {
            rewrite_refs(&mut v);
            (k, v)
        })
        .collect();
    (schema, defs)
}

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                *r = format!("#/components/schemas/{name}");
            }
            map.values_mut().for_each(rewrite_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// The persona schema with `required` added, and a `revision` property: the persona's revision
/// in output (`Some(true)`), an optional precondition in input (`Some(false)`), none (`None`).
fn with_extra(persona: &Value, required: &[&str], revision: Option<bool>) -> Value {
    let mut schema = persona.clone();
    if let Some(map) = schema.as_object_mut() {
        map.remove("title");
        if let (Some(output), Some(Value::Object(props))) = (revision, map.get_mut("properties")) {
            let description = if output {
                "The persona's revision: a content hash of the persona as loaded."
            } else {
                "Optional precondition: the revision the change is based on (409 if the persona changed since)."
            };
            props.insert(
                "revision".into(),
                json!({"type": "string", "description": description}),
            );
        }
        if let Some(Value::Array(req)) = map.get_mut("required") {
            for r in required {
                req.push(json!(r));
            }
        }
    }
    schema
}

/// Bodies addressed by the path's id do not repeat it (one equal to the path's is tolerated).
fn without_id(mut schema: Value) -> Value {
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props.remove("id");
    }
    schema
}

fn patch_schema(persona: &Value) -> Value {
    let mut props = Map::new();
    if let Some(Value::Object(p)) = persona.get("properties") {
        for (k, v) in p.iter().filter(|(k, _)| *k != "id") {
            props.insert(k.clone(), json!({"anyOf": [v, {"type": "null"}]}));
        }
    }
    props.insert("revision".into(), json!({"type": "string", "description": "Optional precondition (409 if the persona changed since)."}));
    json!({"type": "object", "additionalProperties": false, "properties": props, "description": "A JSON merge patch (RFC 7386) of a persona: keys replace, tables merge, null removes."})
}

fn body(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn error(description: &str) -> Value {
    body(description, "Error")
}

fn security() -> Value {
    json!([{}, {"bearer": []}])
}

fn responses_with(mut responses: Value, errors: &[&str]) -> Value {
    for code in errors {
        let description = match *code {
            "400" => "Malformed request (bad JSON, bad session id)",
            "401" => "A token is needed for writes",
            "403" => "Wrong token",
            "404" => "No such persona or link",
            "409" => {
                "The id exists already, the persona changed since `revision`, or others extend it"
            }
            "408" => "The body did not arrive within the body timeout (`--body-timeout`)",
            "413" => "Body over 1 MiB",
            "422" => "Not a valid persona: diagnostics in the §4 shape",
            "503" => "The default persona is missing, or the sessions database cannot be reached",
            _ => "Error",
        };
        responses[*code] = error(description);
    }
    responses
}

fn write_op(
    operation: &str,
    summary: &str,
    schema: &str,
    ok: &str,
    ok_description: &str,
    errors: &[&str],
) -> Value {
    json!({
        "operationId": operation,
        "summary": summary,
        "security": security(),
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}},
        "responses": responses_with(json!({ok: body(ok_description, "PersonaOut")}), &[errors, &["408"]].concat())
    })
}
