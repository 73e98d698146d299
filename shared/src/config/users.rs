//! An account's `[[accounts.users]]`: the people texts are forwarded to, by unique id and
//! unique e-mail (send requests name a user by either, `Account::find_user`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::validator::{ConfigError, Validator};
use crate::domain::User;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    id: String,
    name: String,
    email: String,
    crm_user_id: Option<String>,
}

impl Validator {
    pub(super) fn users(
        &self,
        at: &str,
        raw: Vec<RawUser>,
    ) -> Result<BTreeMap<String, User>, ConfigError> {
        let mut users = BTreeMap::new();
        for (j, u) in raw.into_iter().enumerate() {
            let uat = format!("{at}.users[{j}]");
            let user = User {
                id: self.non_empty(&format!("{uat}.id"), u.id)?,
                name: self.non_empty(&format!("{uat}.name"), u.name)?,
                email: self.email(&format!("{uat}.email"), &u.email)?,
                crm_user_id: u.crm_user_id,
            };
            if users.contains_key(&user.id) {
                return Err(self.err(
                    format!("{uat}.id"),
                    format!("duplicate user id '{}'", user.id),
                ));
            }
            if let Some(other) = users
                .values()
                .find(|o: &&User| o.email.as_str().eq_ignore_ascii_case(user.email.as_str()))
            {
                return Err(self.err(
                    format!("{uat}.email"),
                    format!(
                        "user '{}' has the same e-mail as user '{}' ({}); send requests name \
                         a user by id or e-mail, so each user needs an e-mail of their own",
                        user.id,
                        other.id,
                        user.email.as_str()
                    ),
                ));
            }
            users.insert(user.id.clone(), user);
        }
        Ok(users)
    }
}
