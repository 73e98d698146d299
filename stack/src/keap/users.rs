//! Users: the v2 user read (a contact's owner, a note's assigned user).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::http::{Caller, answer, path_record};

pub(super) async fn get_user(caller: Caller, Path(user_id): Path<String>) -> Response {
    caller.answer(|app| {
        let (_, user) = path_record(&app.users, "User", &user_id)?;
        Ok(answer(
            StatusCode::OK,
            json!({
                "id": user.id.to_string(),
                "given_name": user.given_name,
                "family_name": user.family_name,
                "email_addresses": [{ "email": user.email, "field": "EMAIL1" }],
                "status": "ACTIVE",
                "admin": false,
                "partner": false
            }),
        ))
    })
}
