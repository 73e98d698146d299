//! An account's `[[accounts.users]]`: the people texts are forwarded to, by unique id.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::validator::Validator;
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
    /// Each user's fields checked; ids unique within the account.
    pub(super) fn users(&self, at: &str, raw: Vec<RawUser>) -> Option<BTreeMap<String, User>> {
        let mut users = BTreeMap::new();
        let mut all_ok = true;
        for (j, u) in raw.into_iter().enumerate() {
            let uat = format!("{at}.users[{j}]");
            let id = self.keep(self.non_empty(&format!("{uat}.id"), u.id));
            let name = self.keep(self.non_empty(&format!("{uat}.name"), u.name));
            let email = self.keep(self.email(&format!("{uat}.email"), &u.email));
            let (Some(id), Some(name), Some(email)) = (id, name, email) else {
                all_ok = false;
                continue;
            };
            if users.contains_key(&id) {
                self.report(self.err(format!("{uat}.id"), format!("duplicate user id '{id}'")));
                all_ok = false;
                continue;
            }
            let user = User {
                id,
                name,
                email,
                crm_user_id: u.crm_user_id,
            };
            users.insert(user.id.clone(), user);
        }
        all_ok.then_some(users)
    }
}
