//! An account's `[[accounts.users]]`: the people texts are forwarded to, by unique id and
//! unique e-mail (send requests name a user by either, `Account::find_user`).

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
    /// Sees every conversation in the team inbox.
    #[serde(default)]
    admin: bool,
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
                admin: u.admin,
            };
            if let Some(other) = users
                .values()
                .find(|o: &&User| o.email.as_str().eq_ignore_ascii_case(user.email.as_str()))
            {
                self.report(self.err(
                    format!("{uat}.email"),
                    format!(
                        "user '{}' has the same e-mail as user '{}' ({}); send requests name \
                         a user by id or e-mail, so each user needs an e-mail of their own",
                        user.id,
                        other.id,
                        user.email.as_str()
                    ),
                ));
                all_ok = false;
                continue;
            }
            users.insert(user.id.clone(), user);
        }
        all_ok.then_some(users)
    }
}
