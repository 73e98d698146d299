//! The configuration file the runner pushes to the stack: the user's own, except that an
//! account on the sandbox CRM (which exists only inside `smsflow serve`) talks to the
//! runner's Keap stand-in instead, over Keap's REST API, as a deployed account would; and
//! an account with Instasent credentials talks to the runner's Instasent stand-in, with a
//! callback secret the stand-in knows (the file's, else one derived from the account id).

use std::path::{Path, PathBuf};

use smsflow_shared::config::LocalConfig;
use toml::{Table, Value};

/// An account moved from the sandbox CRM to the Keap stand-in, with its API key there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeapApp {
    pub account: String,
    pub api_key: String,
}

#[derive(Debug)]
pub struct StackConfig {
    /// The user's configuration, parsed and validated.
    pub parsed: LocalConfig,
    /// Where the derived file was written.
    pub path: PathBuf,
    pub keap_apps: Vec<KeapApp>,
    /// The accounts pointed at the Instasent stand-in.
    pub instasent: Vec<InstasentToken>,
}

/// An account's Instasent token and callback secret, as the stand-in serves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstasentToken {
    pub account: String,
    pub api_token: String,
    pub callback_secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StackConfigError {
    #[error(transparent)]
    Invalid(#[from] smsflow_shared::config::ConfigError),
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
}

/// Reads `source`, validates it as `smsflow serve` does, and writes the stack's version
/// to `target` with every sandbox-CRM account pointed at `keap_base_url`.
pub fn derive(
    source: &Path,
    target: &Path,
    keap_base_url: &str,
    instasent_base_url: &str,
) -> Result<StackConfig, StackConfigError> {
    let file_error = |path: &Path, detail: String| StackConfigError::File {
        path: path.display().to_string(),
        detail,
    };
    let parsed = LocalConfig::load(source)?;
    let text = std::fs::read_to_string(source).map_err(|e| file_error(source, e.to_string()))?;
    let mut table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_error(source, e.to_string()))?;
    let keap_apps = point_sandbox_accounts_at(&mut table, keap_base_url);
    let instasent = point_instasent_accounts_at(&mut table, instasent_base_url);
    let derived = toml::to_string(&table).map_err(|e| file_error(target, e.to_string()))?;
    std::fs::write(target, derived).map_err(|e| file_error(target, e.to_string()))?;
    Ok(StackConfig {
        parsed,
        path: target.to_path_buf(),
        keap_apps,
        instasent,
    })
}

fn point_instasent_accounts_at(table: &mut Table, base_url: &str) -> Vec<InstasentToken> {
    let Some(Value::Array(accounts)) = table.get_mut("accounts") else {
        return Vec::new();
    };
    let mut tokens = Vec::new();
    for account in accounts.iter_mut().filter_map(Value::as_table_mut) {
        let id = (account.get("id").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string();
        let Some(Value::Table(instasent)) = account.get_mut("instasent") else {
            continue;
        };
        instasent.insert("base_url".into(), Value::String(base_url.into()));
        let secret = format!("stack-instasent-secret-{id}");
        let secret = instasent
            .entry("callback_secret")
            .or_insert(Value::String(secret))
            .as_str()
            .unwrap_or_default()
            .to_string();
        tokens.push(InstasentToken {
            api_token: (instasent.get("api_token").and_then(Value::as_str))
                .unwrap_or_default()
                .to_string(),
            account: id,
            callback_secret: secret,
        });
    }
    tokens
}

fn point_sandbox_accounts_at(table: &mut Table, keap_base_url: &str) -> Vec<KeapApp> {
    let Some(Value::Array(accounts)) = table.get_mut("accounts") else {
        return Vec::new();
    };
    let mut apps = Vec::new();
    for account in accounts.iter_mut().filter_map(Value::as_table_mut) {
        let id = account
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(Value::Table(crm)) = account.get_mut("crm") else {
            continue;
        };
        if crm.get("kind").and_then(Value::as_str) != Some("sandbox") {
            continue;
        }
        let api_key = format!("stack-keap-key-{id}");
        crm.insert("kind".into(), Value::String("keap".into()));
        crm.insert("base_url".into(), Value::String(keap_base_url.into()));
        crm.insert("api_key".into(), Value::String(api_key.clone()));
        apps.push(KeapApp {
            account: id,
            api_key,
        });
    }
    apps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sandbox_accounts_move_to_the_stand_in() {
        let mut table: Table = r#"
            [[accounts]]
            id = "acme"
            [accounts.crm]
            kind = "sandbox"

            [[accounts]]
            id = "beta"
            [accounts.crm]
            kind = "webhook"
            url = "https://crm.example/hook"
        "#
        .parse()
        .expect("TOML");
        let apps = point_sandbox_accounts_at(&mut table, "http://127.0.0.1:9");
        assert_eq!(point_instasent_accounts_at(&mut table, "http://i"), []);
        assert_eq!(
            apps,
            [KeapApp {
                account: "acme".into(),
                api_key: "stack-keap-key-acme".into()
            }]
        );
        let accounts = table["accounts"].as_array().expect("accounts");
        let crm = |i: usize| accounts[i]["crm"].as_table().expect("crm").clone();
        assert_eq!(crm(0)["kind"].as_str(), Some("keap"));
        assert_eq!(crm(0)["base_url"].as_str(), Some("http://127.0.0.1:9"));
        assert_eq!(crm(1)["kind"].as_str(), Some("webhook"));
    }

    #[test]
    fn instasent_accounts_move_to_the_stand_in_with_a_secret_it_knows() {
        let mut table: Table = r#"
            [[accounts]]
            id = "acme"
            [accounts.instasent]
            api_token = "t-acme"

            [[accounts]]
            id = "beta"
            [accounts.instasent]
            api_token = "t-beta"
            callback_secret = "beta-own-secret-0123"

            [[accounts]]
            id = "gamma"
        "#
        .parse()
        .expect("TOML");
        let tokens = point_instasent_accounts_at(&mut table, "http://127.0.0.1:9/v1");
        let token = |account: &str, api_token: &str, secret: &str| InstasentToken {
            account: account.into(),
            api_token: api_token.into(),
            callback_secret: secret.into(),
        };
        assert_eq!(
            tokens,
            [
                token("acme", "t-acme", "stack-instasent-secret-acme"),
                token("beta", "t-beta", "beta-own-secret-0123"),
            ]
        );
        let accounts = table["accounts"].as_array().expect("accounts");
        for account in &accounts[..2] {
            let instasent = account["instasent"].as_table().expect("instasent");
            assert_eq!(
                instasent["base_url"].as_str(),
                Some("http://127.0.0.1:9/v1")
            );
        }
        assert!(accounts[2].get("instasent").is_none());
    }
}
