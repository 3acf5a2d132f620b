//! Tenant API keys: shown once, stored only as a SHA-256 hash. The keys carry 256 bits of
//! randomness, so a fast hash is enough (no password-style stretching needed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "hk_";

/// A freshly generated key, to be shown to its owner once.
pub struct ApiKey(String);

impl ApiKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hash_api_key(&self.0)
    }

    /// The first characters, kept in clear so a tenant can tell its keys apart.
    pub fn display_prefix(&self) -> &str {
        &self.0[..PREFIX.len() + 6]
    }
}

/// The stored form of a presented key.
pub fn hash_api_key(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_stably() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("hk_"));
        assert_eq!(a.hash(), hash_api_key(a.expose()));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 64);
        assert_eq!(a.display_prefix().len(), 9);
    }
}
