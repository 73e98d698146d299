//! Secrets that must never reach a log line, and hashed keys compared in constant time.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A credential (auth token, API key). `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The SHA-256 of a secret key: what we store instead of the key itself. Keys are long
/// random strings, so an unsalted fast hash is enough (no dictionary to attack).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(key: &str) -> Self {
        KeyHash(hex::encode(Sha256::digest(key.as_bytes())))
    }

    /// Accepts a stored hex digest (64 lower-case hex characters).
    pub fn from_hex(hex_digest: &str) -> Option<Self> {
        let ok = hex_digest.len() == 64 && hex_digest.chars().all(|c| c.is_ascii_hexdigit());
        ok.then(|| KeyHash(hex_digest.to_ascii_lowercase()))
    }

    pub fn as_hex(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison of `candidate`'s hash with this one.
    pub fn matches(&self, candidate: &str) -> bool {
        let other = KeyHash::of(candidate);
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", &self.0[..8.min(self.0.len())])
    }
}

/// A fresh random key of 32 URL-safe characters (≈190 bits).
pub fn generate_key() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn key_hash_matches_only_its_key() {
        let key = generate_key();
        assert_eq!(key.len(), 32);
        let hash = KeyHash::of(&key);
        assert!(hash.matches(&key));
        assert!(!hash.matches("wrong"));
        assert!(!hash.matches(""));
        assert_eq!(KeyHash::from_hex(hash.as_hex()), Some(hash.clone()));
        assert_eq!(KeyHash::from_hex("xyz"), None);
    }
}
