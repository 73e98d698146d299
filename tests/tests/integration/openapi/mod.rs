//! `docs/openapi.yaml`, the published description of smsflow's HTTP routes, held to the
//! code so it cannot drift: every route the routers register is documented with its
//! methods ([`routers`]), and every documented operation is served in both shapes, answering
//! only documented statuses with bodies that match the documented schemas ([`probes`]).

mod probes;
mod routers;

use std::collections::BTreeSet;

use serde_json::{Value, json};

const SPEC: &str = include_str!("../../../../docs/openapi.yaml");

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The document, as JSON.
fn spec() -> Value {
    serde_saphyr::from_str(SPEC).expect("docs/openapi.yaml is YAML")
}

/// `(method, path)` of every documented operation, the method in lower case.
fn documented_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(|method| (method.to_string(), path.clone()))
        })
        .collect()
}

/// The JSON pointer of the schema documented for `status` answers of `method path`, or
/// `None` when that status is documented without a JSON body; `Err` when the status is not
/// documented at all.
fn answer_schema(
    spec: &Value,
    method: &str,
    path: &str,
    status: u16,
) -> Result<Option<String>, String> {
    let escaped = path.replace('~', "~0").replace('/', "~1");
    let mut pointer = format!("/paths/{escaped}/{method}/responses/{status}");
    let response = spec
        .pointer(&pointer)
        .ok_or_else(|| format!("{status} is not documented for {method} {path}"))?;
    if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
        pointer = reference.trim_start_matches('#').to_string();
    }
    let schema = format!("{pointer}/content/application~1json/schema");
    Ok(spec.pointer(&schema).map(|_| schema))
}

/// Problems of `body` against the schema at `pointer` in the document (its `$ref`s resolve
/// within the document).
fn schema_problems(spec: &Value, pointer: &str, body: &Value) -> Vec<String> {
    let mut root = spec.clone();
    // A `$ref` is a URI: braces in a path's parameters must be percent-encoded.
    let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
    root["$ref"] = json!(format!("#{fragment}"));
    let validator = jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("the schema at {pointer} compiles: {e}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn the_document_is_openapi_3_1_with_an_id_per_operation() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut ids = BTreeSet::new();
    for (method, path) in documented_operations(&spec) {
        let operation = &spec["paths"][&path][&method];
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{method} {path} has an operationId");
        assert!(ids.insert(id.to_string()), "operationId {id} is unique");
        assert!(
            operation["x-smsflow-function"].is_string(),
            "{method} {path} names the function that serves it"
        );
    }
}
