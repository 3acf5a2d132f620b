//! Webhook secrets at rest, sealed with AES-256-GCM. A keyring lists keys newest first: the
//! first seals, every one opens, so rotating the key is putting a new one on top, letting
//! the re-sealing pass move every secret to it, then removing the old one.
//!
//! Sealed form: `sealed:v1:<key id>:<base64(nonce || ciphertext and tag)>`, where the key id
//! is the first 8 hex digits of the key's SHA-256 and the webhook's id is the associated
//! data, so a sealed secret copied onto another webhook does not open. Anything else is a
//! secret stored before sealing was configured, returned as it is.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealingError {
    #[error("an encryption key must be base64 of 32 bytes (line {0})")]
    BadKey(usize),
    #[error("no encryption key given")]
    NoKeys,
    #[error("a secret is sealed with key {0}, which is not in the keyring")]
    UnknownKey(String),
    #[error("a sealed secret does not open: altered, or sealed for another webhook")]
    Corrupt,
}

/// The keys, newest (the sealing one) first.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

impl Keyring {
    /// Keys as base64 of 32 bytes, one per line (or comma-separated), newest first; blank
    /// lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, SealingError> {
        let keys = text
            .split(['\n', ','])
            .map(str::trim)
            .enumerate()
            .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
            .map(|(n, line)| {
                let bytes = STANDARD
                    .decode(line)
                    .ok()
                    .filter(|b| b.len() == KEY_BYTES)
                    .ok_or(SealingError::BadKey(n + 1))?;
                let id = hex::encode(&Sha256::digest(&bytes)[..4]);
                let cipher =
                    Aes256Gcm::new_from_slice(&bytes).map_err(|_| SealingError::BadKey(n + 1))?;
                Ok((id, cipher))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(SealingError::NoKeys);
        }
        Ok(Self { keys })
    }

    /// A new random key, base64, for a key file.
    pub fn generate_key() -> String {
        let mut key = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    /// The id of the key that seals.
    pub fn active_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `secret` for the webhook `owner` with the newest key.
    pub fn seal(&self, secret: &str, owner: &[u8]) -> String {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: owner,
        };
        // Encryption with a valid key and a 12-byte nonce cannot fail.
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        format!(
            "{PREFIX}{id}:{}",
            STANDARD.encode([&nonce[..], &sealed].concat())
        )
    }

    /// The secret in `stored`: opened if sealed, as it is otherwise.
    pub fn open(&self, stored: &str, owner: &[u8]) -> Result<String, SealingError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, encoded) = rest.split_once(':').ok_or(SealingError::Corrupt)?;
        let cipher = self
            .keys
            .iter()
            .find(|(key_id, _)| key_id == id)
            .map(|(_, cipher)| cipher)
            .ok_or_else(|| SealingError::UnknownKey(id.to_owned()))?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SealingError::Corrupt)?;
        if bytes.len() <= NONCE_BYTES {
            return Err(SealingError::Corrupt);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: sealed,
            aad: owner,
        };
        let opened = cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| SealingError::Corrupt)?;
        String::from_utf8(opened).map_err(|_| SealingError::Corrupt)
    }

    /// Whether `stored` needs sealing again: plain, or sealed with an older key.
    pub fn is_stale(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_none_or(|(id, _)| id != self.active_id())
    }
}

/// Opens with the keyring when there is one; without one, sealed secrets cannot be read.
pub fn open_with(
    keyring: Option<&Keyring>,
    stored: &str,
    owner: &[u8],
) -> Result<String, SealingError> {
    match keyring {
        Some(keyring) => keyring.open(stored, owner),
        None if stored.starts_with(PREFIX) => Err(SealingError::NoKeys),
        None => Ok(stored.to_owned()),
    }
}

/// Seals with the keyring when there is one, else stores as given.
pub fn seal_with(keyring: Option<&Keyring>, secret: &str, owner: &[u8]) -> String {
    keyring.map_or_else(|| secret.to_owned(), |k| k.seal(secret, owner))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &[u8] = b"webhook-1";

    #[test]
    fn a_sealed_secret_opens_only_for_its_webhook_and_hides_its_text() {
        let ring = Keyring::parse(&Keyring::generate_key()).unwrap();
        let sealed = ring.seal("whsec_abc", OWNER);
        assert!(sealed.starts_with("sealed:v1:") && !sealed.contains("whsec_abc"));
        assert_eq!(ring.open(&sealed, OWNER).unwrap(), "whsec_abc");
        assert_eq!(ring.open(&sealed, b"webhook-2"), Err(SealingError::Corrupt));
        assert_ne!(
            ring.seal("whsec_abc", OWNER),
            sealed,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn an_altered_sealed_secret_is_refused() {
        let ring = Keyring::parse(&Keyring::generate_key()).unwrap();
        let sealed = ring.seal("whsec_abc", OWNER);
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap();
        assert_eq!(ring.open(&altered, OWNER), Err(SealingError::Corrupt));
    }

    #[test]
    fn rotation_seals_with_the_new_key_and_still_opens_the_old() {
        let (old, new) = (Keyring::generate_key(), Keyring::generate_key());
        let before = Keyring::parse(&old).unwrap();
        let sealed_old = before.seal("whsec_abc", OWNER);
        let after = Keyring::parse(&format!("# newest first\n{new}\n\n{old}\n")).unwrap();
        assert_eq!(after.open(&sealed_old, OWNER).unwrap(), "whsec_abc");
        assert!(after.is_stale(&sealed_old));
        let resealed = after.seal("whsec_abc", OWNER);
        assert!(!after.is_stale(&resealed));
        assert!(after.is_stale("whsec_plain"));
        let only_new = Keyring::parse(&new).unwrap();
        assert!(matches!(
            only_new.open(&sealed_old, OWNER),
            Err(SealingError::UnknownKey(_))
        ));
    }

    #[test]
    fn plain_secrets_pass_through_and_bad_keys_are_named() {
        let ring = Keyring::parse(&Keyring::generate_key()).unwrap();
        assert_eq!(ring.open("whsec_plain", OWNER).unwrap(), "whsec_plain");
        assert!(matches!(
            Keyring::parse("# none\n"),
            Err(SealingError::NoKeys)
        ));
        assert!(matches!(
            Keyring::parse("\nc2hvcnQ="),
            Err(SealingError::BadKey(2))
        ));
        assert_eq!(
            open_with(None, "whsec_plain", OWNER).unwrap(),
            "whsec_plain"
        );
        let sealed = ring.seal("whsec_abc", OWNER);
        assert_eq!(open_with(None, &sealed, OWNER), Err(SealingError::NoKeys));
    }
}
