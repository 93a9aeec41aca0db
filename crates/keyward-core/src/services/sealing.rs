//! The server's sealing keys: what the server must read back but not store as such (a
//! two-factor secret, a webhook's signing secret) is sealed with AES-256-GCM (a random
//! nonce; a context such as the owner's id as associated data, so a sealed secret cannot
//! be moved to another owner) under a key derived from the server (session) secret with
//! HKDF-SHA256. Each sealed value is stored beside the version of the keys that sealed
//! it, so a server whose secret changed says so instead of failing obscurely; the keys of
//! the previous server secret, while it is rotated out, still open what they sealed. A
//! second derived key makes keyed digests (two-factor's recovery codes).
//!
//! Level 0: used by `two_factor` and `webhooks`, it uses no other service.

use crate::error::AppError;
use base64::Engine;

/// The keys derived from the server secret. `Debug` shows only the version.
#[derive(Clone)]
pub struct SealingKeys {
    seal: [u8; 32],
    digest: [u8; 32],
    version: String,
    /// The keys of the previous server secret, while it is rotated out.
    previous: Option<Box<SealingKeys>>,
}

impl std::fmt::Debug for SealingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKeys")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl SealingKeys {
    /// Derives the sealing and digest keys from the server (session) secret. (The HKDF
    /// info names two-factor, which came first: changing it would orphan every sealed
    /// secret.)
    pub fn derive(server_secret: &[u8]) -> Self {
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"keyward"), server_secret);
        let mut okm = [0u8; 64];
        hkdf.expand(b"keyward two-factor v1", &mut okm)
            .expect("64 bytes is a valid HKDF-SHA256 output length");
        let mut seal = [0u8; 32];
        let mut digest = [0u8; 32];
        seal.copy_from_slice(&okm[..32]);
        digest.copy_from_slice(&okm[32..]);
        // The version names the key without revealing it: v1 and a fingerprint.
        let fingerprint = keyed_digest(&digest, b"key version");
        Self {
            seal,
            digest,
            version: format!("v1.{}", &fingerprint[..12]),
            previous: None,
        }
    }

    /// These keys, also opening what the previous server secret's keys sealed.
    pub fn with_previous(self, previous_secret: Option<&[u8]>) -> Self {
        Self {
            previous: previous_secret
                .map(Self::derive)
                .filter(|p| p.version != self.version)
                .map(Box::new),
            ..self
        }
    }

    /// The keys whose version is `version`: these, or the previous ones.
    fn for_version(&self, version: &str) -> Option<&SealingKeys> {
        if self.version == version {
            return Some(self);
        }
        self.previous.as_deref().filter(|p| p.version == version)
    }

    /// Whether these keys open what the keys of `version` sealed.
    pub fn opens(&self, version: &str) -> bool {
        self.for_version(version).is_some()
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// The key versions these keys open: the current one and the previous one, if any.
    pub fn versions(&self) -> Vec<&str> {
        let mut versions = vec![self.version.as_str()];
        versions.extend(self.previous.as_deref().map(|p| p.version.as_str()));
        versions
    }

    /// Seals `secret` under the current keys, bound to `context` (authenticated, not
    /// stored). Store the answer with [`Self::version`].
    ///
    /// Every new use of sealing must give a context that starts with a purpose prefix of
    /// its own (webhooks: `webhook:<endpoint id>`), so that what one feature sealed can
    /// never be opened as another's, even where two features share an id space. Two-factor
    /// secrets are the one exception, kept for compatibility with those already stored:
    /// their context is the bare account id, so no new context may be a bare id either.
    pub fn seal(&self, context: &str, secret: &[u8]) -> Result<String, AppError> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&self.seal)
            .map_err(|_| AppError::internal("the sealing key has the wrong length"))?;
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce[..]);
        let sealed = cipher
            .encrypt(
                aes_gcm::Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| AppError::internal("a secret could not be sealed"))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Opens what the keys of `version` sealed for `context`. The errors name key
    /// versions, never a secret.
    pub fn open(&self, version: &str, context: &str, sealed: &str) -> Result<Vec<u8>, AppError> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let Some(keys) = self.for_version(version) else {
            return Err(AppError::internal(format!(
                "a secret was sealed under another server secret ({version}, this server has {}): set KEYWARD_PREVIOUS_SESSION_SECRET to that secret",
                self.version
            )));
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| AppError::internal("a sealed secret is not base64"))?;
        if bytes.len() < 12 {
            return Err(AppError::internal("a sealed secret is too short"));
        }
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&keys.seal)
            .map_err(|_| AppError::internal("the sealing key has the wrong length"))?;
        cipher
            .decrypt(
                aes_gcm::Nonce::from_slice(&bytes[..12]),
                Payload {
                    msg: &bytes[12..],
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| AppError::internal("a sealed secret does not open"))
    }

    /// HMAC-SHA256 of `message` under the current digest key, in hex.
    pub fn digest(&self, message: &[u8]) -> String {
        keyed_digest(&self.digest, message)
    }

    /// The digests `message` may be stored under: the current keys' and the previous
    /// ones'.
    pub fn digests(&self, message: &[u8]) -> Vec<String> {
        let mut digests = vec![self.digest(message)];
        if let Some(previous) = &self.previous {
            digests.push(previous.digest(message));
        }
        digests
    }
}

fn keyed_digest(key: &[u8], message: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .expect("HMAC-SHA256 takes a key of any length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_in_its_context_and_under_its_keys() {
        let keys = SealingKeys::derive(&[7u8; 64]);
        let sealed = keys.seal("a", b"0123456789abcdefghij").unwrap();
        assert!(!sealed.contains("0123456789"));
        assert_eq!(
            keys.open(keys.version(), "a", &sealed).unwrap(),
            b"0123456789abcdefghij"
        );
        assert!(keys.open(keys.version(), "b", &sealed).is_err());
        let other = SealingKeys::derive(&[8u8; 64]);
        assert_ne!(other.version(), keys.version());
        assert!(other.open(keys.version(), "a", &sealed).is_err());
        // With the old secret as the previous one, the new keys open it.
        let rotated = other.with_previous(Some(&[7u8; 64]));
        assert_eq!(rotated.versions().len(), 2);
        assert!(rotated.open(keys.version(), "a", &sealed).is_ok());
        assert!(!format!("{rotated:?}").contains("seal:"));
    }

    /// Known answers, computed outside this code (Python's `hmac`, `hashlib` and
    /// `cryptography` from the HKDF and AES-GCM specifications) for the derivation the
    /// stored data was sealed with since two-factor came (`afe0f69` and before): a change
    /// to the salt, the info, the key split, the version's fingerprint, the nonce layout
    /// or the associated data fails here instead of orphaning every stored two-factor
    /// secret, recovery code and webhook secret.
    #[test]
    fn what_earlier_versions_sealed_still_opens() {
        let keys = SealingKeys::derive(&[7u8; 64]);
        assert_eq!(keys.version(), "v1.99634699a55f");
        // An all-zero nonce, as a fixed value for the test only (`seal` draws a random one).
        let sealed = "AAAAAAAAAAAAAAAA77cSBmlSb7KfM/+3DFKAErZJbBXVJDKPb40/ilh0vOJCEsPD";
        assert_eq!(
            keys.open("v1.99634699a55f", "a", sealed).unwrap(),
            b"0123456789abcdefghij"
        );
        assert_eq!(
            keys.digest(b"acct:code"),
            "9caef6efe6503cd2a5a305f57e850bd7426890619ad4bfd83d5df07db8d86df6"
        );
    }
}
