//! Tags and contact custom fields: the contact model, the tag list, create and apply routes,
//! custom field values checked against the model, and both read back by name and label.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use smsflow_shared::ports::crm::CrmResult;

use super::http::{
    Caller, KeapError, answer, error, filter_conditions, json_body, page_size, path_record,
};
use super::{App, KeapMock};

impl App {
    /// Adds a TEXT custom field of the contact model labelled `label`.
    pub(super) fn add_custom_field(&mut self, label: &str) {
        let id = self.new_id();
        self.custom_fields.push(json!({
            "id": id.to_string(),
            "label": label,
            "field_name": format!("{label}{id}"),
            "field_type": "TEXT",
            "record_type": "CONTACT",
            "options": []
        }));
    }

    fn has_custom_field(&self, label: &str) -> bool {
        self.custom_fields.iter().any(|f| f["label"] == label)
    }

    fn custom_field_ids(&self) -> Vec<String> {
        self.custom_fields
            .iter()
            .filter_map(|f| f["id"].as_str().map(str::to_string))
            .collect()
    }
}

impl KeapMock {
    /// Creates the contact custom fields labelled `labels` that the app lacks, as someone
    /// setting up Keap does before smsflow writes them (smsflow's Keap adapter only finds
    /// fields by label, it never creates one); the labels created, in order.
    pub fn create_custom_fields(&self, api_key: &str, labels: &[&str]) -> CrmResult<Vec<String>> {
        self.in_existing_app(api_key, |app| {
            let mut created = Vec::new();
            for label in labels {
                if !app.has_custom_field(label) {
                    app.add_custom_field(label);
                    created.push((*label).to_string());
                }
            }
            Ok(created)
        })
    }
}

pub(super) fn custom_field_values(
    app: &App,
    value: &Value,
) -> Result<HashMap<String, Value>, KeapError> {
    let known = app.custom_field_ids();
    let items = value
        .as_array()
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "custom_fields must be an array"))?;
    let mut values = HashMap::new();
    for item in items {
        let id = item["id"].as_str().unwrap_or_default();
        if !known.iter().any(|k| k == id) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("custom field '{id}' does not exist"),
            ));
        }
        values.insert(id.to_string(), item["content"].clone());
    }
    Ok(values)
}

/// Every custom field of the model, with the content given (or null).
pub(super) fn custom_field_list(app: &App, values: &HashMap<String, Value>) -> Value {
    Value::Array(
        app.custom_field_ids()
            .into_iter()
            .map(|id| {
                let content = values.get(&id).cloned().unwrap_or(Value::Null);
                json!({ "id": id, "content": content })
            })
            .collect(),
    )
}

/// Custom fields with a value, by label (the field's name when it has no label).
pub(super) fn custom_field_texts(app: &App, values: &Value) -> BTreeMap<String, String> {
    let name_of = |id: &str| {
        app.custom_fields
            .iter()
            .find(|f| f["id"] == id)
            .and_then(|f| f["label"].as_str().or(f["field_name"].as_str()))
            .unwrap_or(id)
            .to_string()
    };
    values
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|v| !v["content"].is_null())
        .filter_map(|v| {
            let text = match &v["content"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((name_of(v["id"].as_str()?), text))
        })
        .collect()
}

pub(super) async fn contact_model(caller: Caller) -> Response {
    caller.answer(|app| {
        Ok(answer(
            StatusCode::OK,
            json!({
                "custom_fields": app.custom_fields,
                "optional_properties": ["custom_fields", "tag_ids"]
            }),
        ))
    })
}

fn tag_json(id: u64, name: &str) -> Value {
    json!({
        "id": id.to_string(),
        "name": name,
        "description": null,
        "category": null,
        "create_time": "2026-01-01T00:00:00Z",
        "update_time": "2026-01-01T00:00:00Z"
    })
}

pub(super) async fn list_tags(
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    caller.answer(|app| {
        let conditions = filter_conditions(query.get("filter"))?;
        let ids: Option<Vec<u64>> = conditions
            .get("tag_ids")
            .map(|ids| ids.split(',').filter_map(|i| i.parse().ok()).collect());
        let size = page_size(&query)?;
        let tags: Vec<Value> = app
            .tags
            .iter()
            .filter(|(id, name)| {
                conditions.get("name").is_none_or(|n| n == *name)
                    && ids.as_ref().is_none_or(|ids| ids.contains(id))
            })
            .take(size)
            .map(|(id, name)| tag_json(*id, name))
            .collect();
        Ok(answer(
            StatusCode::OK,
            json!({ "tags": tags, "next_page_token": null }),
        ))
    })
}

pub(super) async fn create_tag(caller: Caller, body: Bytes) -> Response {
    caller.answer(|app| {
        let body = json_body(&body, &["name", "description", "category"])?;
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "name is required"))?;
        if app.tags.values().any(|t| t == name) {
            return Err(error(
                StatusCode::CONFLICT,
                format!("A tag named '{name}' already exists"),
            ));
        }
        let id = app.new_id();
        app.tags.insert(id, name.to_string());
        Ok(answer(StatusCode::CREATED, tag_json(id, name)))
    })
}

pub(super) async fn apply_tags(
    caller: Caller,
    Path(tag_id): Path<String>,
    body: Bytes,
) -> Response {
    caller.answer(|app| {
        let (tag, _) = path_record(&app.tags, "Tag", &tag_id)?;
        let body = json_body(&body, &["contact_ids"])?;
        let ids = body
            .get("contact_ids")
            .and_then(Value::as_array)
            .filter(|ids| ids.iter().all(Value::is_string))
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "contact_ids must be an array of strings",
                )
            })?;
        let mut results = Map::new();
        for raw in ids.iter().filter_map(Value::as_str) {
            let contact = raw
                .parse::<u64>()
                .ok()
                .and_then(|id| app.contacts.get_mut(&id));
            let result = match contact {
                None => "CONTACT_NOT_FOUND",
                Some(contact) => {
                    let tag_ids = contact["tag_ids"].as_array_mut();
                    match tag_ids {
                        Some(tag_ids) if tag_ids.contains(&json!(tag.to_string())) => "DUPLICATE",
                        Some(tag_ids) => {
                            tag_ids.push(json!(tag.to_string()));
                            "SUCCESS"
                        }
                        None => "FAILURE",
                    }
                }
            };
            results.insert(raw.to_string(), json!(result));
        }
        Ok(answer(StatusCode::OK, json!({ "results": results })))
    })
}

pub(super) fn tag_names(app: &App, ids: &Value) -> Vec<String> {
    ids.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|id| app.tags.get(&id.as_str()?.parse().ok()?).cloned())
        .collect()
}
