//! IAM policy evaluation for one role, as AWS decides an identity-based request: an
//! explicit `Deny` wins, else an `Allow` whose actions and resources match, else the
//! request is denied. Actions match case-insensitively, resources case-sensitively, both
//! with `*` and `?` wildcards. Condition keys are not evaluated: a statement with a
//! `Condition` never allows and always denies, so the runner errs on refusing.

use serde_json::Value;

/// One statement, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Patterns,
    pub resources: Patterns,
    pub conditional: bool,
}

/// `Action` / `NotAction` (or the resource equivalents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patterns {
    Listed(Vec<String>),
    AllBut(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No statement allows it.
    ImplicitDeny,
    /// A `Deny` statement matches.
    ExplicitDeny,
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, thiserror::Error)]
#[error("policy statement {index}: {problem}")]
pub struct PolicyError {
    pub index: usize,
    pub problem: String,
}

impl Policy {
    /// The statements of a role's policies, as JSON policy statements.
    pub fn from_statements(statements: &[Value]) -> Result<Self, PolicyError> {
        let statements = statements
            .iter()
            .enumerate()
            .map(|(index, s)| parse_statement(s).map_err(|problem| PolicyError { index, problem }))
            .collect::<Result<_, _>>()?;
        Ok(Policy { statements })
    }

    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        let matching = |s: &&Statement| {
            s.actions.matches(action, true) && s.resources.matches(resource, false)
        };
        let mut allowed = false;
        for statement in self.statements.iter().filter(matching) {
            if !statement.allow {
                return Decision::ExplicitDeny;
            }
            allowed |= !statement.conditional;
        }
        if allowed {
            Decision::Allowed
        } else {
            Decision::ImplicitDeny
        }
    }
}

fn parse_statement(doc: &Value) -> Result<Statement, String> {
    let allow = match doc["Effect"].as_str() {
        Some("Allow") => true,
        Some("Deny") => false,
        other => return Err(format!("Effect must be Allow or Deny, not {other:?}")),
    };
    Ok(Statement {
        allow,
        actions: patterns(doc, "Action", "NotAction")?,
        resources: patterns(doc, "Resource", "NotResource")?,
        conditional: doc.get("Condition").is_some_and(|c| !c.is_null()),
    })
}

fn patterns(doc: &Value, listed: &str, all_but: &str) -> Result<Patterns, String> {
    let strings = |value: &Value| -> Result<Vec<String>, String> {
        match value {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{listed} entries must be strings, not {i}"))
                })
                .collect(),
            other => Err(format!("{listed} must be a string or a list, not {other}")),
        }
    };
    match (doc.get(listed), doc.get(all_but)) {
        (Some(v), None) => Ok(Patterns::Listed(strings(v)?)),
        (None, Some(v)) => Ok(Patterns::AllBut(strings(v)?)),
        _ => Err(format!("exactly one of {listed} and {all_but} is required")),
    }
}

impl Patterns {
    fn matches(&self, value: &str, ignore_case: bool) -> bool {
        let any = |patterns: &[String]| patterns.iter().any(|p| wildcard(p, value, ignore_case));
        match self {
            Patterns::Listed(patterns) => any(patterns),
            Patterns::AllBut(patterns) => !any(patterns),
        }
    }
}

/// `*` matches any run of characters, `?` any one.
fn wildcard(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| {
        if ignore_case {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let pattern: Vec<char> = fold(pattern).chars().collect();
    let value: Vec<char> = fold(value).chars().collect();
    // Iterative glob matching with one backtrack point (the last `*`).
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == value[v]) {
            p += 1;
            v += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, v));
            p += 1;
        } else if let Some((star_p, star_v)) = star {
            p = star_p + 1;
            v = star_v + 1;
            star = Some((star_p, star_v + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/smsflow-Table-1";

    fn policy() -> Policy {
        Policy::from_statements(&[
            json!({"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": TABLE}),
            json!({"Effect": "Allow", "Action": "sqs:*", "Resource": ["arn:aws:sqs:us-east-1:123456789012:send-?"]}),
            json!({"Effect": "Deny", "Action": "sqs:DeleteMessage", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": "ses:SendEmail", "Resource": "*", "Condition": {"StringEquals": {"ses:FromAddress": "a@b.c"}}}),
            json!({"Effect": "Allow", "NotAction": "logs:*", "Resource": "arn:aws:s3:::bucket/*"}),
        ])
        .expect("valid policy")
    }

    #[test]
    fn decides_as_iam() {
        let cases = [
            ("dynamodb:GetItem", TABLE, Decision::Allowed),
            ("DynamoDB:getitem", TABLE, Decision::Allowed),
            ("dynamodb:BatchGetItem", TABLE, Decision::ImplicitDeny),
            (
                "dynamodb:GetItem",
                &format!("{TABLE}/index/gsi1"),
                Decision::ImplicitDeny,
            ),
            (
                "sqs:SendMessage",
                "arn:aws:sqs:us-east-1:123456789012:send-q",
                Decision::Allowed,
            ),
            (
                "sqs:SendMessage",
                "arn:aws:sqs:us-east-1:123456789012:send-qq",
                Decision::ImplicitDeny,
            ),
            (
                "sqs:DeleteMessage",
                "arn:aws:sqs:us-east-1:123456789012:send-q",
                Decision::ExplicitDeny,
            ),
            (
                "ses:SendEmail",
                "arn:aws:ses:us-east-1:123456789012:identity/b.c",
                Decision::ImplicitDeny,
            ),
            ("s3:GetObject", "arn:aws:s3:::bucket/key", Decision::Allowed),
            (
                "logs:PutLogEvents",
                "arn:aws:s3:::bucket/key",
                Decision::ImplicitDeny,
            ),
        ];
        let policy = policy();
        for (action, resource, expected) in cases {
            assert_eq!(
                policy.decide(action, resource),
                expected,
                "{action} on {resource}"
            );
        }
    }

    #[test]
    fn wildcards_backtrack() {
        assert!(wildcard("a*b*c", "axxbyybc", false));
        assert!(!wildcard("a*b*c", "axxbyyb", false));
        assert!(wildcard("*", "", false));
        assert!(!wildcard("A", "a", false));
    }

    #[test]
    fn malformed_statements_are_refused() {
        let bad = [
            json!({"Effect": "Maybe", "Action": "*", "Resource": "*"}),
            json!({"Effect": "Allow", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": "*", "NotAction": "x", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": [1], "Resource": "*"}),
        ];
        for statement in bad {
            assert!(
                Policy::from_statements(std::slice::from_ref(&statement)).is_err(),
                "{statement}"
            );
        }
    }
}
