//! Static bearer tokens: generation, hashing and the shape of an acceptable secret.
//!
//! A token is `scim_` followed by 40 base64url characters (240 bits from the OS CSPRNG).
//! Only its SHA-256 is stored; lookups go by that hash, so the database never sees the
//! secret and a lookup's timing reveals nothing about stored secrets.

use base64::Engine;
use sha2::{Digest, Sha256};

/// Prefix of every generated token (lets secret scanners recognise leaked ones).
pub const TOKEN_PREFIX: &str = "scim_";

/// A fresh random token secret.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut buf = [0u8; 30];
    getrandom::fill(&mut buf)?;
    Ok(format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)))
}

/// SHA-256 of a secret, as stored.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time equality of two hashes.
pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// Checks an operator-chosen secret (`SCIM_BOOTSTRAP_TOKEN`): at least 16 printable
/// ASCII characters without spaces, at most 512.
pub fn check_chosen_secret(secret: &str) -> Result<(), String> {
    if secret.len() < 16 || secret.len() > 512 {
        return Err("bootstrap_token must be 16 to 512 characters long".into());
    }
    if !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("bootstrap_token must be printable ASCII without spaces".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_well_formed() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 40);
        assert!(a[5..].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert!(hashes_equal(&hash(&a), &hash(&a)));
        assert!(!hashes_equal(&hash(&a), &hash(&b)));
    }

    #[test]
    fn chosen_secrets_are_checked() {
        assert!(check_chosen_secret("short").is_err());
        assert!(check_chosen_secret("has a space in it!").is_err());
        assert!(check_chosen_secret("dev-token-change-me").is_ok());
    }
}
