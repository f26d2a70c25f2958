//! Secrets: random values, argon2 hashes of client secrets and passwords,
//! and the PKCE S256 check (RFC 7636 §4.6).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// `bytes` random bytes from the OS, base64url without padding.
pub fn random_token(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| "the OS random generator failed".to_string())?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The client id and secret of an HTTP Basic credential (the part after
/// `Basic `): base64 of `id:secret`, each form-encoded (RFC 6749 §2.3.1).
pub fn decode_basic(value: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}")).ok()?;
        Some(pairs.into_iter().next().map(|p| p.1).unwrap_or_default())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// An argon2id PHC string of `secret` with a fresh salt.
pub fn hash_secret(secret: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "the OS random generator failed".to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// True when `secret` matches the PHC string (constant-time compare inside).
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

/// SHA-256, hex (how codes are stored: a database reader cannot redeem them).
pub fn sha256_hex(s: &str) -> String {
    format!("{:x}", Sha256::digest(s.as_bytes()))
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6, S256: BASE64URL(SHA256(verifier)) == challenge.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    // The challenge is public (it travelled in the authorization request),
    // so a plain comparison leaks nothing.
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        // The verifier and challenge printed in RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(valid_verifier(verifier));
        assert!(pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        assert!(!valid_verifier("short"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // "pa_1:s%3Ac" → secret "s:c".
        let v = base64::engine::general_purpose::STANDARD.encode("pa_1:s%3Ac");
        assert_eq!(
            decode_basic(&v),
            Some(("pa_1".to_string(), "s:c".to_string()))
        );
        assert_eq!(decode_basic("%%%"), None);
        let no_colon = base64::engine::general_purpose::STANDARD.encode("pa_1");
        assert_eq!(decode_basic(&no_colon), None);
    }

    #[test]
    fn secrets_hash_and_verify() {
        let s = random_token(32).unwrap();
        assert_eq!(s.len(), 43);
        let h = hash_secret(&s).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_secret(&s, &h));
        assert!(!verify_secret("wrong", &h));
        assert!(!verify_secret(&s, "not a hash"));
    }
}
