//! API goals: achieved on v2, and a goal no campaign uses reported as not configured.

use super::*;
use wiremock::matchers::body_json;

#[tokio::test]
async fn goals_are_achieved_on_v2_and_unconfigured_ones_reported() {
    let cases = [
        (
            json!({ "results": [{ "success": true, "message": "", "automation_id": 3, "goal_id": 9,
                                  "flow_start_results": [], "flow_stop_results": [] }] }),
            GoalOutcome::Achieved,
        ),
        (
            json!({ "results": [
                { "success": false, "message": "No Goals were configured to be achieved by this event." }
            ] }),
            GoalOutcome::NotConfigured,
        ),
        (json!({ "results": [] }), GoalOutcome::NotConfigured),
        (
            json!({ "results": [{ "success": false }, { "success": true }] }),
            GoalOutcome::Achieved,
        ),
    ];
    for (answer, expected) in cases {
        let server = MockServer::start().await;
        let goal = keap_write("POST", "/crm/rest/v2/automations/goals/achieve")
            .and(query_is(&[]))
            .and(body_json(json!({
                "integration": "smsflow", "call_name": "Inbound19523142318", "contact_id": 5
            })));
        expect(&server, 1, goal, ok(answer.clone())).await;
        let outcome = achieve(&server, "Inbound19523142318").await;
        assert_eq!(outcome, Ok(expected), "{answer}");
    }
}
