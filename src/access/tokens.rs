//! Signed access tokens: Ed25519 JWTs issued and verified here, and tokens
//! of an external OpenID Connect provider verified against its JWKS.

use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Caller, Scope};
use crate::store::SigningKeyRecord;

/// The longest an access token lives (the issue's 15 minutes).
pub const MAX_TOKEN_SECONDS: i64 = 900;

/// The claims of a token this server issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject: the client id, or `user:ID` for staff.
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Billing NPIs of a provider billing system.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub npi: Vec<String>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// The authorization-code grant it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
}

impl TokenClaims {
    /// The caller the token speaks for.
    pub fn caller(&self) -> Caller {
        Caller {
            subject: self.sub.clone(),
            client_id: self.client_id.clone(),
            scopes: Scope::parse_all(self.scope.split_whitespace()).unwrap_or_default(),
            npis: (!self.npi.is_empty()).then(|| self.npi.clone()),
            grant: self.gid.clone(),
        }
    }
}

/// Why a token is not accepted (or cannot be made).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Past its `exp`.
    #[error("the access token has expired; get a new one from the token endpoint")]
    Expired,
    /// Signature does not verify.
    #[error("the access token's signature does not verify")]
    BadSignature,
    /// Not a JWT at all.
    #[error("the access token is malformed: {0}")]
    Malformed(String),
    /// Signed with a key nobody here knows.
    #[error("the access token was signed with a key this server does not know ({0:?})")]
    UnknownKey(String),
    /// Valid but not for this issuer or audience.
    #[error("the access token was issued for another issuer or audience")]
    WrongAudience,
    /// Anything else wrong with the claims.
    #[error("the access token is not valid: {0}")]
    Invalid(String),
    /// Key material that cannot be used.
    #[error("signing key: {0}")]
    Key(String),
    /// The identity provider's JWKS could not be read.
    #[error("the identity provider's keys could not be fetched: {0}")]
    Jwks(String),
}

/// The token error in plain words: jsonwebtoken's own messages name its
/// internals (serde positions, its list of algorithms), never said to a
/// caller (issue 15 point 4).
fn map_jwt_error(e: jsonwebtoken::errors::Error) -> TokenError {
    let malformed = |what: &str| TokenError::Malformed(what.to_string());
    let invalid = |what: &str| TokenError::Invalid(what.to_string());
    match e.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::InvalidToken => malformed("it is not a JWT (three base64url parts joined by dots)"),
        ErrorKind::Base64(_) => malformed("a part of it is not base64url"),
        ErrorKind::Utf8(_) => malformed("a part of it is not UTF-8 text"),
        ErrorKind::Json(_) => malformed(
            "its header or claims are not those of a JWT this server accepts (an EdDSA token with iss, aud, sub, exp and client_id)",
        ),
        ErrorKind::MissingRequiredClaim(claim) => {
            TokenError::Invalid(format!("it has no {claim} claim"))
        }
        ErrorKind::ImmatureSignature => invalid("it is not valid yet (nbf is in the future)"),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            invalid("it is signed with an algorithm that is not accepted here")
        }
        ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::RsaFailedSigning
        | ErrorKind::MissingAlgorithm => invalid("the key it names cannot verify it"),
        _ => invalid("it cannot be verified"),
    }
}

/// The key id (`kid`) in a token's header.
pub fn header_kid(token: &str) -> Result<Option<String>, TokenError> {
    Ok(jsonwebtoken::decode_header(token)
        .map_err(map_jwt_error)?
        .kid)
}

/// A signing key ready for use.
struct Signer {
    kid: String,
    key: EncodingKey,
}

#[derive(Default)]
struct KeySet {
    signer: Option<Signer>,
    verify: HashMap<String, DecodingKey>,
    public: Vec<(String, String)>,
}

/// The keys this server signs and verifies its tokens with. The newest
/// stored key signs (or the configured one); every stored key verifies, so
/// tokens signed before a rotation stay good until they expire.
pub struct Keys {
    issuer: String,
    audience: String,
    set: RwLock<KeySet>,
    /// Tokens verified before, with their claims: a billing system sends
    /// the same token for up to 15 minutes, and checking an Ed25519
    /// signature on every request showed in the service's latency. Emptied
    /// whenever the keys change; expiry is still checked on every use.
    verified: Mutex<HashMap<String, TokenClaims>>,
}

/// Verified tokens remembered at most (then the memory starts over).
const VERIFIED_CACHE: usize = 10_000;

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

fn key_id(public: &[u8]) -> String {
    super::sha256_hex(&URL_SAFE_NO_PAD.encode(public))
        .chars()
        .take(16)
        .collect()
}

impl Keys {
    /// No keys yet; [`Keys::install`] adds them.
    pub fn new(issuer: &str, audience: &str) -> Keys {
        Keys {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            set: RwLock::new(KeySet::default()),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The issuer (`iss`) of tokens made here.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience (`aud`) of tokens made here.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// A fresh Ed25519 key.
    pub fn generate() -> Result<SigningKeyRecord, TokenError> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| TokenError::Key("the OS random generator failed".into()))?;
        Keys::record(doc.as_ref())
    }

    /// A key from a PKCS#8 PEM file (`openssl genpkey -algorithm ed25519`).
    pub fn from_pem(pem: &str) -> Result<SigningKeyRecord, TokenError> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----") && !l.is_empty())
            .collect();
        if !pem.contains("-----BEGIN PRIVATE KEY-----") {
            return Err(TokenError::Key(
                "expected a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----) holding an Ed25519 key".into(),
            ));
        }
        let der = STANDARD
            .decode(body)
            .map_err(|e| TokenError::Key(format!("PEM body is not base64: {e}")))?;
        Keys::record(&der)
    }

    fn record(pkcs8: &[u8]) -> Result<SigningKeyRecord, TokenError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|e| TokenError::Key(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        let public = pair.public_key().as_ref();
        Ok(SigningKeyRecord {
            kid: key_id(public),
            private_key: STANDARD.encode(pkcs8),
            public_key: URL_SAFE_NO_PAD.encode(public),
            created_at: String::new(),
        })
    }

    /// Replaces the key set: all `stored` keys verify; `pinned` (the
    /// configured key) or else the last stored key signs.
    pub fn install(
        &self,
        stored: &[SigningKeyRecord],
        pinned: Option<&SigningKeyRecord>,
    ) -> Result<(), TokenError> {
        let mut set = KeySet::default();
        for k in stored.iter().chain(pinned) {
            let der = STANDARD
                .decode(&k.private_key)
                .map_err(|e| TokenError::Key(format!("key {}: {e}", k.kid)))?;
            set.verify.insert(
                k.kid.clone(),
                DecodingKey::from_ed_components(&k.public_key)
                    .map_err(|e| TokenError::Key(format!("key {}: {e}", k.kid)))?,
            );
            if !set.public.iter().any(|(kid, _)| kid == &k.kid) {
                set.public.push((k.kid.clone(), k.public_key.clone()));
            }
            set.signer = Some(Signer {
                kid: k.kid.clone(),
                key: EncodingKey::from_ed_der(&der),
            });
        }
        let mut g = self.set.write();
        // A key set that verified a token earlier may no longer hold its
        // key (retired): forget what was verified, unless nothing changed.
        let same = g.public == set.public;
        *g = set;
        if !same {
            self.verified.lock().clear()
        }
        Ok(())
    }

    /// Forgets the verified tokens of a client (or of the staff user with
    /// token subject `subject`): they are checked afresh next time.
    pub fn forget(&self, client_id: Option<&str>, subject: Option<&str>) {
        self.verified.lock().retain(|_, c| {
            client_id != Some(c.client_id.as_str()) && subject != Some(c.sub.as_str())
        });
    }

    /// True when `kid` is one of ours.
    pub fn knows(&self, kid: &str) -> bool {
        self.set.read().verify.contains_key(kid)
    }

    /// Signs `claims`.
    pub fn issue(&self, claims: &TokenClaims) -> Result<String, TokenError> {
        let g = self.set.read();
        let signer = g
            .signer
            .as_ref()
            .ok_or_else(|| TokenError::Key("no signing key is loaded".into()))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.kid.clone());
        jsonwebtoken::encode(&header, claims, &signer.key).map_err(map_jwt_error)
    }

    /// Verifies one of our tokens: signature, expiry (no leeway), issuer
    /// and audience. A token verified before is not verified again, but
    /// its expiry is checked against `now_s` (Unix seconds).
    pub fn verify_at(&self, token: &str, now_s: i64) -> Result<TokenClaims, TokenError> {
        let cached = self.verified.lock().get(token).cloned();
        if let Some(claims) = cached {
            return if claims.exp > now_s {
                Ok(claims)
            } else {
                Err(TokenError::Expired)
            };
        }
        let claims = self.verify(token)?;
        let mut v = self.verified.lock();
        if v.len() >= VERIFIED_CACHE {
            v.clear();
        }
        v.insert(token.to_string(), claims.clone());
        Ok(claims)
    }

    /// Verifies one of our tokens: signature, expiry (no leeway), issuer
    /// and audience.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(map_jwt_error)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid(
                "it is not signed with EdDSA, the only algorithm of this server's tokens".into(),
            ));
        }
        let kid = header.kid.unwrap_or_default();
        let g = self.set.read();
        let key = g
            .verify
            .get(&kid)
            .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.leeway = 0;
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<TokenClaims>(token, key, &v).map_err(map_jwt_error)?;
        Ok(data.claims)
    }

    /// The public keys as a JWKS (RFC 7517), for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        let g = self.set.read();
        let keys: Vec<_> = g
            .public
            .iter()
            .map(|(kid, x)| {
                json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"})
            })
            .collect();
        json!({ "keys": keys })
    }
}

/// The stored keys that still verify at `now`: the newest (it signs), and
/// each older one until [`MAX_TOKEN_SECONDS`] after the next one replaced
/// it; by then every token it signed has expired, so a key that leaked is
/// harmless 15 minutes after a rotation.
pub fn live_keys(stored: &[SigningKeyRecord], now: chrono::NaiveDateTime) -> Vec<SigningKeyRecord> {
    let replaced_at = |k: &SigningKeyRecord| {
        chrono::NaiveDateTime::parse_from_str(&k.created_at, "%Y-%m-%dT%H:%M:%S%.3fZ").ok()
    };
    stored
        .iter()
        .enumerate()
        .filter(|(i, _)| match stored.get(i + 1) {
            None => true,
            Some(next) => replaced_at(next).map_or(true, |t| {
                t + chrono::Duration::seconds(MAX_TOKEN_SECONDS) > now
            }),
        })
        .map(|(_, k)| k.clone())
        .collect()
}

/// An external OpenID Connect provider whose access tokens are accepted
/// beside ours: issuer, audience and where its JWKS is.
pub struct ExternalIssuer {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Where the provider publishes its keys.
    pub jwks_url: String,
    /// When the keys were fetched, when a fetch was last tried, the keys.
    keys: RwLock<(Option<Instant>, Option<Instant>, JwkSet)>,
}

impl std::fmt::Debug for ExternalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalIssuer")
            .field("issuer", &self.issuer)
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

/// Keys are fetched again after this long, or when a token names an
/// unknown key (at most once per [`REFETCH_AFTER`]).
const KEYS_LIVE: Duration = Duration::from_secs(600);
const REFETCH_AFTER: Duration = Duration::from_secs(10);

impl ExternalIssuer {
    /// An issuer with no keys fetched yet.
    pub fn new(issuer: &str, audience: &str, jwks_url: &str) -> ExternalIssuer {
        ExternalIssuer {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            jwks_url: jwks_url.to_string(),
            keys: RwLock::new((None, None, JwkSet { keys: Vec::new() })),
        }
    }

    /// True when the keys should be fetched before verifying a token that
    /// names `kid`.
    pub fn needs_fetch(&self, kid: Option<&str>) -> bool {
        let g = self.keys.read();
        // Never more than one try per REFETCH_AFTER, failed or not.
        if g.1.is_some_and(|tried| tried.elapsed() < REFETCH_AFTER) {
            return false;
        }
        match g.0 {
            None => true,
            Some(at) if at.elapsed() > KEYS_LIVE => true,
            Some(_) => !kid.is_some_and(|k| g.2.find(k).is_some()),
        }
    }

    /// Fetches the JWKS (blocking: call it off the async threads). A failed
    /// fetch also counts as a fetch, so a provider that is down is asked
    /// again after ten seconds, not on every request.
    pub fn fetch(&self) -> Result<(), TokenError> {
        let fetched = self.fetch_set();
        let mut g = self.keys.write();
        g.1 = Some(Instant::now());
        match fetched {
            Ok(set) => {
                g.0 = g.1;
                g.2 = set;
                Ok(())
            }
            // Keep the keys we have.
            Err(e) => Err(e),
        }
    }

    fn fetch_set(&self) -> Result<JwkSet, TokenError> {
        let set: JwkSet = ureq::get(&self.jwks_url)
            .timeout(Duration::from_secs(5))
            .call()
            .map_err(|e| TokenError::Jwks(e.to_string()))?
            .into_json()
            .map_err(|e| TokenError::Jwks(format!("not a JWKS: {e}")))?;
        Ok(set)
    }

    /// Verifies a provider token with the fetched keys and reads the caller
    /// off it: `sub`; `client_id` or `azp`; `scope` (a string) or `scp` (a
    /// list); `npi` (a list or one string) for billing systems.
    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(map_jwt_error)?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(TokenError::Invalid(
                "it is signed with a shared secret (HS256, HS384, HS512), which is not accepted"
                    .into(),
            ));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let key = {
            let g = self.keys.read();
            let jwk =
                g.2.find(&kid)
                    .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?;
            DecodingKey::from_jwk(jwk).map_err(|_| {
                TokenError::Invalid("the identity provider's key it names cannot be used".into())
            })?
        };
        let mut v = Validation::new(header.alg);
        v.leeway = 0;
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
            .map_err(map_jwt_error)?
            .claims;
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let list = |name: &str| -> Vec<String> {
            match claims.get(name) {
                Some(serde_json::Value::String(s)) => {
                    s.split_whitespace().map(str::to_string).collect()
                }
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let subject = text("sub").unwrap_or_default();
        let mut scope_words = list("scope");
        scope_words.extend(list("scp"));
        // Unknown scopes of the provider's other APIs are ignored.
        let mut scopes: Vec<Scope> = scope_words.iter().filter_map(|w| Scope::parse(w)).collect();
        scopes.sort();
        scopes.dedup();
        let npis = list("npi");
        Ok(Caller {
            // Prefixed with the issuer, like the subject: the provider's ids
            // never collide with clients registered here.
            client_id: format!(
                "{}|{}",
                self.issuer,
                text("client_id")
                    .or_else(|| text("azp"))
                    .unwrap_or_else(|| subject.clone())
            ),
            subject: format!("{}|{subject}", self.issuer),
            scopes,
            npis: (!npis.is_empty()).then_some(npis),
            grant: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // a token's expiry is against the real clock
    fn claims(keys: &Keys, exp_in: i64) -> TokenClaims {
        let now = chrono::Utc::now().timestamp();
        TokenClaims {
            iss: keys.issuer().into(),
            aud: keys.audience().into(),
            sub: "c1".into(),
            client_id: "c1".into(),
            scope: "claims:submit claims:read".into(),
            npi: vec!["1234567893".into()],
            iat: now,
            exp: now + exp_in,
            jti: "j".into(),
            gid: None,
        }
    }

    #[test]
    fn replaced_keys_stop_verifying_after_fifteen_minutes() {
        let key = |kid: &str, at: &str| SigningKeyRecord {
            kid: kid.into(),
            private_key: String::new(),
            public_key: String::new(),
            created_at: at.into(),
        };
        let stored = [
            key("a", "2026-11-23T10:00:00.000Z"),
            key("b", "2026-11-23T11:00:00.000Z"),
            key("c", "2026-11-23T11:50:00.000Z"),
        ];
        let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap();
        let kids = |now| {
            live_keys(&stored, at(now))
                .into_iter()
                .map(|k| k.kid)
                .collect::<Vec<_>>()
        };
        assert_eq!(kids("2026-11-23T11:55:00"), ["b", "c"]);
        assert_eq!(kids("2026-11-23T12:05:01"), ["c"]);
    }

    #[test]
    fn issued_tokens_verify_across_rotation_and_expire() {
        let keys = Keys::new("priorauth", "priorauth");
        let first = Keys::generate().unwrap();
        keys.install(std::slice::from_ref(&first), None).unwrap();
        let c = claims(&keys, 60);
        let t = keys.issue(&c).unwrap();
        assert_eq!(keys.verify(&t).unwrap(), c);
        let caller = c.caller();
        assert_eq!(caller.scopes, vec![Scope::ClaimsSubmit, Scope::ClaimsRead]);
        assert!(caller.may_see_npi("1234567893") && !caller.may_see_npi("1679576722"));

        // After a rotation the old token still verifies; new ones use the new key.
        let second = Keys::generate().unwrap();
        keys.install(&[first.clone(), second.clone()], None)
            .unwrap();
        assert!(keys.verify(&t).is_ok());
        let t2 = keys.issue(&c).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&t2).unwrap().kid.unwrap(),
            second.kid
        );

        let expired = keys.issue(&claims(&keys, -1)).unwrap();
        assert!(matches!(keys.verify(&expired), Err(TokenError::Expired)));
        // The remembered token still expires.
        let t3 = keys.issue(&claims(&keys, 60)).unwrap();
        assert!(keys.verify_at(&t3, c.iat).is_ok());
        assert!(keys.verify_at(&t3, c.iat).is_ok());
        assert!(matches!(
            keys.verify_at(&t3, c.iat + 61),
            Err(TokenError::Expired)
        ));

        // A different key with the same kid is a bad signature.
        let other = Keys::new("priorauth", "priorauth");
        let mut forged = Keys::generate().unwrap();
        forged.kid = first.kid.clone();
        other.install(&[forged], None).unwrap();
        let f = other.issue(&c).unwrap();
        assert!(matches!(keys.verify(&f), Err(TokenError::BadSignature)));
        assert!(matches!(
            keys.verify("not.a.jwt"),
            Err(TokenError::Malformed(_))
        ));
    }
}
