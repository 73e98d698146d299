//! The carrier's status callbacks: `sent`, then the final status, each signed like
//! Twilio's for the message's status callback URL, and where they travel when that URL's
//! public origin is served elsewhere.

use std::time::Duration;

use super::{CarrierMessage, delivery_reports, instasent_reports};
use crate::domain::{SmsProviderKind, twilio_signature};

/// Status callbacks to `public_origin` (scheme and authority, e.g.
/// `https://abc.execute-api.us-east-1.amazonaws.com`) are posted to `local_origin` (e.g.
/// `http://127.0.0.1:4100`) instead, with the public authority as `Host`; they are still
/// signed for the public URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRoute {
    public_origin: String,
    local_origin: String,
}

/// Where one callback goes: the URL to connect to, and the `Host` to send when it is not
/// that URL's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackTarget {
    pub url: String,
    pub host: Option<String>,
}

impl CallbackRoute {
    /// A trailing `/` on either origin is ignored.
    pub fn new(public_origin: &str, local_origin: &str) -> Self {
        CallbackRoute {
            public_origin: public_origin.trim_end_matches('/').to_string(),
            local_origin: local_origin.trim_end_matches('/').to_string(),
        }
    }

    /// Where a callback to `url` is posted: on the local origin when `url` is on the
    /// public one (the same path and query), else `url` itself.
    pub fn target(&self, url: &str) -> CallbackTarget {
        let rest = url
            .strip_prefix(&self.public_origin)
            .filter(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
        match rest {
            Some(rest) => CallbackTarget {
                url: format!("{}{rest}", self.local_origin),
                host: self
                    .public_origin
                    .split_once("://")
                    .map(|(_, authority)| authority.to_string()),
            },
            None => CallbackTarget {
                url: url.to_string(),
                host: None,
            },
        }
    }
}

/// What posting one message's status callbacks needs.
pub(super) struct DeliveryReport {
    pub(super) http: reqwest::Client,
    pub(super) auth_token: String,
    pub(super) message: CarrierMessage,
    pub(super) delay: Duration,
    pub(super) route: Option<CallbackRoute>,
}

/// Posts the message's [`delivery_reports`] (`sent` then `delivered`, unless its number
/// says otherwise), signed with the account's auth token for its status callback URL.
pub(super) async fn report_delivery(report: DeliveryReport) {
    let Some(url) = report.message.status_callback.clone() else {
        return;
    };
    let target = match &report.route {
        Some(route) => route.target(&url),
        None => CallbackTarget {
            url: url.clone(),
            host: None,
        },
    };
    if report.message.provider == SmsProviderKind::Instasent {
        return report_as_instasent(&report, &target).await;
    }
    let message = &report.message;
    for (status, error_code) in delivery_reports(&message.to) {
        tokio::time::sleep(report.delay).await;
        let mut params: Vec<(String, String)> = vec![
            ("AccountSid".into(), message.account_sid.clone()),
            ("ApiVersion".into(), "2010-04-01".into()),
            ("From".into(), message.from.clone()),
            ("MessageSid".into(), message.sid.clone()),
            ("MessageStatus".into(), status.as_str().into()),
            ("SmsSid".into(), message.sid.clone()),
            ("SmsStatus".into(), status.as_str().into()),
            ("To".into(), message.to.clone()),
        ];
        if let Some(code) = error_code {
            params.push(("ErrorCode".into(), code.to_string()));
        }
        let signature = twilio_signature::sign(&report.auth_token, &url, &params);
        let mut request = report
            .http
            .post(&target.url)
            .header("X-Twilio-Signature", signature)
            .form(&params);
        if let Some(host) = &target.host {
            request = request.header(reqwest::header::HOST, host);
        }
        log_answer(&message.sid, request.send().await);
    }
}

/// How often one Instasent report is posted before the carrier gives up on it: Instasent
/// retries any non-2xx answer with exponential backoff.
const INSTASENT_TRIES: u32 = 6;

/// Posts Instasent's delivery reports: one JSON body per status, unsigned (Instasent signs
/// nothing; the callback URL carries the account's secret), each retried on a non-2xx
/// answer with a doubling pause, as Instasent does.
async fn report_as_instasent(report: &DeliveryReport, target: &CallbackTarget) {
    let message = &report.message;
    for status in instasent_reports(&message.to) {
        tokio::time::sleep(report.delay).await;
        let code = (*status == "failed").then_some(1);
        let body = serde_json::json!({
            "id": message.sid,
            "clientId": message.client_id,
            "status": status,
            "code": code,
            "eventAt": jiff::Timestamp::now().to_string(),
        });
        let mut pause = report.delay;
        for attempt in 1..=INSTASENT_TRIES {
            let mut request = report.http.post(&target.url).json(&body);
            if let Some(host) = &target.host {
                request = request.header(reqwest::header::HOST, host);
            }
            let answer = request.send().await;
            let accepted = matches!(&answer, Ok(r) if r.status().is_success());
            if accepted || attempt == INSTASENT_TRIES {
                log_answer(&message.sid, answer);
                break;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
}

fn log_answer(sid: &str, answer: Result<reqwest::Response, reqwest::Error>) {
    match answer {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(sid, status = %r.status(), "status callback refused"),
        Err(e) => tracing::warn!(sid, error = %e, "status callback failed"),
    }
}
