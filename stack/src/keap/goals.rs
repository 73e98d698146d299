//! Goals: the v2 achieve route, which answers `success: false` for a goal no published
//! campaign uses, and the goals achieved.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use smsflow_shared::ports::{Clock, SystemClock};

use super::http::{Caller, answer, error, json_body, record};
use super::{AchievedGoal, App, KeapMock};

impl KeapMock {
    /// Makes this goal unconfigured, as when no published campaign uses it.
    pub fn unconfigure_goal(&self, api_key: &str, integration: &str, call_name: &str) {
        self.with_app(api_key, |app| {
            app.unconfigured_goals
                .insert((integration.to_string(), call_name.to_string()));
        });
    }

    pub fn achieved_goals(&self, api_key: &str) -> Vec<AchievedGoal> {
        self.with_app(api_key, |app| app.achieved_goals.clone())
    }

    /// The `limit` goals achieved most recently, newest first.
    pub fn goals(&self, api_key: &str, limit: usize) -> Vec<AchievedGoal> {
        self.read_app(api_key, |app| {
            app.achieved_goals
                .iter()
                .rev()
                .take(limit)
                .cloned()
                .collect()
        })
    }
}

pub(super) async fn achieve_goal(caller: Caller, body: Bytes) -> Response {
    caller.answer(|app| {
        let body = json_body(
            &body,
            &[
                "integration",
                "call_name",
                "automation_id",
                "goal_id",
                "contact_id",
            ],
        )?;
        let contact_id = body
            .get("contact_id")
            .and_then(Value::as_u64)
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "contact_id (int64) is required"))?;
        let text = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (Some(integration), Some(call_name)) = (text("integration"), text("call_name")) else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "integration and call_name (or automation_id and goal_id) are required",
            ));
        };
        record(&app.contacts, "Contact", contact_id)?;
        let result = achieve(app, integration, call_name, contact_id);
        Ok(answer(StatusCode::OK, json!({ "results": [result] })))
    })
}

/// Achieves the goal for the contact, unless no published campaign uses it: the
/// `AchieveGoalResponse` result either way.
fn achieve(app: &mut App, integration: &str, call_name: &str, contact_id: u64) -> Value {
    let key = (integration.to_string(), call_name.to_string());
    if app.unconfigured_goals.contains(&key) {
        return json!({
            "success": false,
            "message": "No Goals were configured to be achieved by this event.",
            "automation_id": 0, "goal_id": 0,
            "flow_start_results": [], "flow_stop_results": []
        });
    }
    app.achieved_goals.push(AchievedGoal {
        integration: key.0,
        call_name: key.1,
        contact_id,
        achieved_at: SystemClock.now(),
    });
    json!({
        "success": true, "message": "",
        "automation_id": 3, "goal_id": 9,
        "flow_start_results": [{ "success": true, "message": "", "flow_id": 12 }],
        "flow_stop_results": []
    })
}
