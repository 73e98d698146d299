//! The ids that cross the use cases as more than text, so a contact id cannot be passed
//! where a message id belongs. Two kinds:
//!
//! - **validated** ids (`AccountId`, `GoalName`, `EmailAddress`, `PhoneNumber`) have a `parse`
//!   that can refuse; [`validated_text!`] gives them the conversions every one of them needs.
//! - **opaque** ids come from a system that owns their format (the CRM's contact id, the
//!   carrier's message SID, the ids smsflow itself mints) and are carried as they arrived;
//!   [`opaque_id!`] declares them.

/// An id compares equal to its text, so tests and logs can hold it against a literal.
macro_rules! compares_as_text {
    ($name:ident) => {
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}
pub(crate) use compares_as_text;

/// The string conversions a validated text type shares: `Display`, `FromStr` and serde's
/// `TryFrom<String>`/`Into<String>` through the type's own `parse`.
macro_rules! validated_text {
    ($name:ident, $error:ty, $parse:path) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $error;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        $crate::domain::ids::compares_as_text!($name);
    };
}
pub(crate) use validated_text;

/// Declares an opaque id: any text its issuer gave, stored and compared as is.
macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_string())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// An id reads as the text it is (the other way round takes `new`).
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        $crate::domain::ids::compares_as_text!($name);
    };
}

opaque_id!(
    /// A contact's id in the account's CRM (Keap's are digits; a webhook CRM's are its own).
    ContactId
);
opaque_id!(
    /// smsflow's id for one stored message: minted at receipt or admission, stable across
    /// retries and takeovers (see `ports::derived_id`).
    MessageId
);
opaque_id!(
    /// The carrier's id for one message (Twilio's `SM…`/`MM…` SID; the sandbox's own).
    MessageSid
);
opaque_id!(
    /// One run of a sequence with one contact.
    SessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opaque_id_keeps_its_text_and_serialises_as_a_plain_string() {
        let id = ContactId::new("42");
        assert_eq!(id.as_str(), "42");
        assert_eq!(id.to_string(), "42");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"42\"");
        let back: ContactId = serde_json::from_str("\"42\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(MessageSid::from("SM1").into_string(), "SM1");
    }
}
