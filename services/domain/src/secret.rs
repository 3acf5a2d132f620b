//! Webhook signing secrets: `whsec_` + base64 of 24 to 64 random bytes, the form Standard
//! Webhooks libraries expect. The signing key is the decoded bytes.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

const PREFIX: &str = "whsec_";
const MIN_BYTES: usize = 24;
const MAX_BYTES: usize = 64;
const GENERATED_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret must be \"whsec_\" followed by base64 of 24 to 64 bytes")]
pub struct InvalidSecret;

#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl WebhookSecret {
    pub fn generate() -> Self {
        let mut key = vec![0u8; GENERATED_BYTES];
        rand::rng().fill_bytes(&mut key);
        Self { key }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidSecret> {
        let encoded = raw.strip_prefix(PREFIX).ok_or(InvalidSecret)?;
        let key = STANDARD.decode(encoded).map_err(|_| InvalidSecret)?;
        if !(MIN_BYTES..=MAX_BYTES).contains(&key.len()) {
            return Err(InvalidSecret);
        }
        Ok(Self { key })
    }

    /// The HMAC key.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The `whsec_...` form shown to the tenant and stored.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.key))
    }
}

/// Never print a secret by accident.
impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_back() {
        let secret = WebhookSecret::generate();
        let shown = secret.expose();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&shown), Ok(secret.clone()));
        assert_eq!(secret.key().len(), 32);
        assert_ne!(WebhookSecret::generate(), secret);
    }

    #[test]
    fn the_standard_webhooks_example_secret_parses() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(secret.key().len(), 24);
    }

    #[test]
    fn malformed_secrets_are_refused() {
        let short = format!("whsec_{}", STANDARD.encode([7u8; 23]));
        let long = format!("whsec_{}", STANDARD.encode([7u8; 65]));
        for bad in [
            "",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_not base64!",
            &short,
            &long,
        ] {
            assert_eq!(WebhookSecret::parse(bad), Err(InvalidSecret), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_key() {
        assert_eq!(
            format!("{:?}", WebhookSecret::generate()),
            "WebhookSecret(..)"
        );
    }
}
