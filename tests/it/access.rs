//! Access control end to end (issue 5): a real OAuth 2.0 client library
//! (the `oauth2` crate) drives the client-credentials grant and the
//! authorization-code grant with PKCE against `priorauth serve` over HTTP,
//! and each threat of RFC 6749 §10 / RFC 7636 that the issue names has a
//! negative test. Every test runs on SQLite and on PostgreSQL: lockouts,
//! codes and revocations live in the store.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardErrorResponse, SyncHttpClient, TokenResponse, TokenUrl,
};
use serde_json::{json, Value};

use crate::adjudication::BILLING;
use crate::render::render;
use crate::service::{
    add_auth, add_client, agent, client_token, mri_claim, post_837, send, units_used, wait_for,
    Backend, Db, Reply, Server,
};

both!(
    billing_systems_use_client_credentials,
    billing_system_sees_and_submits_only_its_own,
    bad_tokens_get_401_and_under_scoped_get_403,
    encoded_paths_are_still_guarded,
    billing_systems_stay_in_their_lane,
    staff_sign_in_with_authorization_code_and_pkce,
    reused_code_is_refused_and_revokes_its_tokens,
    expired_code_is_refused,
    code_for_another_client_is_refused,
    redirect_uri_must_match_exactly,
    pkce_verifier_is_required_and_checked,
    brute_force_locks_the_client_out,
    brute_force_locks_the_user_out,
    replayed_submission_consumes_once,
    external_oidc_tokens_are_accepted,
    staff_sign_in_to_the_console_at_the_external_issuer,
    keys_rotate_without_breaking_tokens,
    full_flow_logs_carry_no_phi,
    disabled_clients_and_users_lose_access_at_once,
    public_clients_and_unknown_ids_are_never_locked,
    admins_reset_passwords_and_filter_the_audit_log,
);

mod http_conformance {
    #[test]
    fn sqlite() {
        super::http_conformance()
    }
}

mod slow_bodies_get_408 {
    #[test]
    fn sqlite() {
        super::slow_bodies_get_408()
    }
}

mod revocation_reaches_another_instance {
    #[test]
    fn postgres() {
        super::revocation_reaches_another_instance()
    }
}

/// Another billing system's NPI (valid check digit, never in the fixtures).
const OTHER_NPI: &str = "1245319599";
const CONSOLE_REDIRECT: &str = "https://console.example.org/callback";

/// The oauth2 crate's HTTP client: ureq, with redirects off and 4xx/5xx
/// answers returned as responses (so the crate parses RFC 6749 errors).
struct Http(ureq::Agent);

impl Http {
    fn new() -> Http {
        Http(agent())
    }
}

impl SyncHttpClient for Http {
    type Error = std::io::Error;

    fn call(&self, request: HttpRequest) -> Result<HttpResponse, Self::Error> {
        let mut req = self
            .0
            .request(request.method().as_str(), &request.uri().to_string());
        for (name, value) in request.headers() {
            req = req.set(name.as_str(), value.to_str().unwrap());
        }
        let res = match req.send_bytes(request.body()) {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        };
        let mut b = oauth2::http::Response::builder().status(res.status());
        if let Some(ct) = res.header("content-type") {
            b = b.header("content-type", ct);
        }
        let mut body = Vec::new();
        res.into_reader().read_to_end(&mut body)?;
        Ok(b.body(body).unwrap())
    }
}

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn oauth_client(s: &Server, id: &str, secret: Option<&str>) -> Client {
    let mut c = BasicClient::new(ClientId::new(id.to_string()))
        .set_auth_uri(AuthUrl::new(s.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(CONSOLE_REDIRECT.to_string()).unwrap());
    if let Some(secret) = secret {
        c = c.set_client_secret(ClientSecret::new(secret.to_string()));
    }
    c
}

type TokenError = RequestTokenError<std::io::Error, StandardErrorResponse<BasicErrorResponseType>>;

/// The RFC 6749 error code of a refused token request.
fn error_of<T: std::fmt::Debug>(r: Result<T, TokenError>) -> (BasicErrorResponseType, String) {
    match r {
        Err(RequestTokenError::ServerResponse(e)) => (
            e.error().clone(),
            e.error_description().cloned().unwrap_or_default(),
        ),
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}

/// A billing system's token through the oauth2 crate (client_secret_basic).
fn billing_token(s: &Server, id: &str, secret: &str) -> String {
    oauth_client(s, id, Some(secret))
        .exchange_client_credentials()
        .request(&Http::new())
        .unwrap()
        .access_token()
        .secret()
        .clone()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn call(s: &Server, method: &str, path: &str, token: &str, body: Option<(&str, &[u8])>) -> Reply {
    let auth = bearer(token);
    let mut h = vec![("Authorization", auth.as_str())];
    if let Some((ct, _)) = body {
        h.push(("Content-Type", ct));
    }
    send(method, &s.url(path), &h, body.map(|b| b.1))
}

fn submit(s: &Server, token: &str, x12: &str, extra: &[(&str, &str)]) -> Reply {
    let auth = bearer(token);
    let mut h = vec![
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/edi-x12"),
    ];
    h.extend_from_slice(extra);
    send("POST", &s.url("/v1/claims"), &h, Some(x12.as_bytes()))
}

/// `priorauth <args> --json --database URL`, parsed.
fn cli_json(db: &Db, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_priorauth"))
        .args(args)
        .args(["--json", "--database", &db.url])
        .current_dir(&db.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A public console client and a staff user: (client id, username, password).
fn console_and_staff(db: &Db, roles: &[&str]) -> (String, String, String) {
    let console = cli_json(
        db,
        &[
            "clients",
            "add",
            "--name",
            "Staff console",
            "--public",
            "--redirect-uri",
            CONSOLE_REDIRECT,
            "--scope",
            "claims:read",
            "rules:write",
            "admin",
        ],
    );
    assert!(console["client_secret"].is_null());
    let mut args = vec!["users", "add", "--username", "avery", "--role"];
    args.extend_from_slice(roles);
    let user = cli_json(db, &args);
    (
        console["client_id"].as_str().unwrap().to_string(),
        "avery".to_string(),
        user["password"].as_str().unwrap().to_string(),
    )
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let e: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={e}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The query parameters of a URL.
fn query(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let mut out = Vec::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b'%' => {
                        out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                        i += 3;
                    }
                    b'+' => {
                        out.push(b' ');
                        i += 1;
                    }
                    c => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            (k.to_string(), String::from_utf8(out).unwrap())
        })
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query(url).into_iter().find(|(k, _)| k == name).map(|p| p.1)
}

/// One sign-in: the authorization URL the oauth2 crate builds (PKCE
/// S256), its page fetched, the form posted with the credentials.
/// Returns the redirect (status, Location) and the PKCE verifier.
struct SignIn {
    status: u16,
    location: String,
    state: CsrfToken,
    verifier: PkceCodeVerifier,
    body: String,
    challenge: Option<String>,
}

fn sign_in(s: &Server, client: &Client, user: &str, password: &str) -> SignIn {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("claims:read".into()))
        .add_scope(Scope::new("admin".into()))
        .set_pkce_challenge(challenge)
        .url();
    let page = send("GET", url.as_str(), &[("Authorization", "")], None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    let mut fields = query(url.as_str());
    fields.push(("username".into(), user.into()));
    fields.push(("password".into(), password.into()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = post_form(&s.url("/oauth/authorize"), &form(&pairs));
    SignIn {
        status: r.status,
        location: r.header("location").unwrap_or_default().to_string(),
        state,
        verifier,
        challenge: r.header("www-authenticate").map(str::to_string),
        body: r.body,
    }
}

/// A form post with no bearer token (the OAuth endpoints).
fn post_form(url: &str, body: &str) -> Reply {
    send(
        "POST",
        url,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", ""),
        ],
        Some(body.as_bytes()),
    )
}

/// Signs staff in and returns the code and verifier.
fn code_for(s: &Server, client: &Client, user: &str, password: &str) -> (String, PkceCodeVerifier) {
    let r = sign_in(s, client, user, password);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location.starts_with(CONSOLE_REDIRECT), "{}", r.location);
    assert_eq!(
        param(&r.location, "state").as_deref(),
        Some(r.state.secret().as_str()),
        "the caller's state comes back"
    );
    (param(&r.location, "code").unwrap(), r.verifier)
}

fn exchange(
    client: &Client,
    code: &str,
    verifier: Option<PkceCodeVerifier>,
) -> Result<String, TokenError> {
    let mut req = client.exchange_code(AuthorizationCode::new(code.to_string()));
    if let Some(v) = verifier {
        req = req.set_pkce_verifier(v);
    }
    req.request(&Http::new())
        .map(|t| t.access_token().secret().clone())
}

/// A code cannot be polled for expiry (a try uses it up), so this one
/// test of expiry waits on the clock.
#[allow(clippy::disallowed_methods)]
fn let_time_pass(d: Duration) {
    std::thread::sleep(d);
}

/// The provider's clock, for the tokens the test signs as the provider.
#[allow(clippy::disallowed_methods)]
fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The submitter recorded on a stored claim's row, read from the database.
fn submitter(db: &Db, payer_claim_id: &str) -> (Option<String>, Option<String>) {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut c = sqlx::AnyConnection::connect(&db.url).await.unwrap();
            let sql = if db.url.starts_with("sqlite") {
                "SELECT submitted_by, submitted_from FROM claims WHERE payer_claim_id = ?"
            } else {
                "SELECT submitted_by, submitted_from FROM claims WHERE payer_claim_id = $1"
            };
            let row = sqlx::query(sql)
                .bind(payer_claim_id)
                .fetch_one(&mut c)
                .await
                .unwrap();
            (row.get(0), row.get(1))
        })
}

// ---- the tests ----

/// Billing systems get tokens with client credentials, by HTTP Basic and
/// by client_secret_post; scopes are checked; errors are RFC 6749 §5.2.
fn billing_systems_use_client_credentials(b: Backend) {
    let db = Db::fresh(b, "cc");
    let s = Server::start(&db, &[]);
    let (id, secret) = add_client(
        &db,
        "Riverside",
        &[BILLING],
        &["claims:submit", "claims:read"],
    );

    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let token = oauth_client(&s, &id, Some(&secret))
            .set_auth_type(auth.clone())
            .exchange_client_credentials()
            .add_scope(Scope::new("claims:submit".into()))
            .request(&Http::new())
            .unwrap_or_else(|e| panic!("{auth:?}: {e:?}"));
        assert_eq!(
            token.scopes().unwrap()[0].as_str(),
            "claims:submit",
            "the granted scope is said"
        );
        let lifetime = token.expires_in().unwrap();
        assert!(lifetime <= Duration::from_secs(900) && lifetime > Duration::from_secs(0));
        // The token is a JWT naming the client, its scopes and NPIs.
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.access_token().secret().split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["client_id"], id.as_str());
        assert_eq!(claims["npi"], json!([BILLING]));
        assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 900);
    }

    let asked_too_much = oauth_client(&s, &id, Some(&secret))
        .exchange_client_credentials()
        .add_scope(Scope::new("rules:write".into()))
        .request(&Http::new());
    assert_eq!(
        error_of(asked_too_much).0,
        BasicErrorResponseType::InvalidScope
    );
    let wrong_secret = oauth_client(&s, &id, Some("not-the-secret"))
        .exchange_client_credentials()
        .request(&Http::new());
    let (code, why) = error_of(wrong_secret);
    assert_eq!(code, BasicErrorResponseType::InvalidClient);
    assert!(why.contains("client authentication failed"), "{why}");
    let unknown = oauth_client(&s, "pa_nobody", Some(&secret))
        .exchange_client_credentials()
        .request(&Http::new());
    assert_eq!(error_of(unknown).0, BasicErrorResponseType::InvalidClient);

    // Raw requests for what the library never sends.
    let token_url = s.url("/oauth/token");
    let raw = |body: &str| post_form(&token_url, body);
    let r = raw(&form(&[
        ("grant_type", "password"),
        ("client_id", &id),
        ("client_secret", &secret),
    ]));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let r = raw(&form(&[("client_id", &id), ("client_secret", &secret)]));
    assert_eq!(r.json()["error"], "invalid_request", "{}", r.body);
    let r = raw(&format!(
        "grant_type=client_credentials&pad={}",
        "x".repeat(70_000)
    ));
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_request");
    let r = raw("grant_type=client_credentials&grant_type=client_credentials");
    assert_eq!(r.json()["error"], "invalid_request");
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("more than once"));
}

/// A billing system submits only claims billed under its own NPIs (others
/// are refused whole, nothing consumed) and reads only its own claims,
/// batches and authorizations: another billing system's are "not found".
fn billing_system_sees_and_submits_only_its_own(b: Backend) {
    let db = Db::fresh(b, "own");
    let s = Server::start(&db, &[]);
    add_auth(&s, "OWN1", "70551", Some("5"));
    let (a_id, a_secret) = add_client(&db, "A", &[BILLING], &["claims:submit", "claims:read"]);
    let (b_id, b_secret) = add_client(&db, "B", &[OTHER_NPI], &["claims:submit", "claims:read"]);
    let a = billing_token(&s, &a_id, &a_secret);
    let b_token = billing_token(&s, &b_id, &b_secret);

    // B sends a claim billed under A's NPI: refused, nothing consumed or stored.
    let foreign = render(&[mri_claim("FOREIGN-1", "OWN1", "2")]);
    let r = submit(&s, &b_token, &foreign, &[]);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"], "forbidden");
    let msg = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("FOREIGN-1") && msg.contains(BILLING) && msg.contains(OTHER_NPI),
        "{msg}"
    );
    assert_eq!(units_used(&s, "OWN1"), "0");
    let search = format!("/v1/claims?billing_npi={BILLING}&claim_id=FOREIGN-1");
    assert_eq!(
        call(&s, "GET", &search, &s.token, None).json()["claims"],
        json!([])
    );
    // The same through a batch: refused before anything is queued.
    let r = call(
        &s,
        "POST",
        "/v1/batches",
        &b_token,
        Some(("application/edi-x12", foreign.as_bytes())),
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // A's own claim goes through; A reads it, B cannot.
    let r = submit(&s, &a, &render(&[mri_claim("OWN-1", "OWN1", "2")]), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(units_used(&s, "OWN1"), "2");
    let id = r.json()["claims"][0]["payer_claim_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/claims/{id}");
    assert_eq!(
        submitter(&db, &id),
        (Some(a_id.clone()), Some("127.0.0.1".to_string())),
        "who submitted, from where, is on the claim row"
    );
    assert_eq!(call(&s, "GET", &path, &a, None).status, 200);
    let r = call(&s, "GET", &path, &b_token, None);
    assert_eq!(r.status, 404, "another billing system's claim: {}", r.body);
    let search = format!("/v1/claims?billing_npi={BILLING}&claim_id=OWN-1");
    assert_eq!(
        call(&s, "GET", &search, &a, None).json()["claims"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        call(&s, "GET", &search, &b_token, None).json()["claims"],
        json!([])
    );
    let r = call(&s, "GET", "/v1/authorizations/OWN1", &b_token, None);
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        call(&s, "GET", "/v1/authorizations/OWN1", &a, None).status,
        200
    );

    // Batches: A's batch is A's.
    let r = call(
        &s,
        "POST",
        "/v1/batches",
        &a,
        Some((
            "application/edi-x12",
            render(&[mri_claim("OWN-B1", "OWN1", "1")]).as_bytes(),
        )),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let batch = r.json()["id"].as_str().unwrap().to_string();
    for p in [
        format!("/v1/batches/{batch}"),
        format!("/v1/batches/{batch}/results"),
    ] {
        assert_eq!(call(&s, "GET", &p, &a, None).status, 200, "{p}");
        assert_eq!(call(&s, "GET", &p, &b_token, None).status, 404, "{p}");
    }

    // Payer staff with claims:read read everything; the reads are audited.
    let (staff_id, staff_secret) = add_client(&db, "payer reporting", &[], &["claims:read"]);
    let staff = billing_token(&s, &staff_id, &staff_secret);
    assert_eq!(call(&s, "GET", &path, &staff, None).status, 200);
    let audit = call(
        &s,
        "GET",
        "/v1/admin/audit?action=claim.read",
        &s.token,
        None,
    )
    .json();
    let actors: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object_id"] == id.as_str())
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert!(
        actors.contains(&staff_id.as_str()) && actors.contains(&a_id.as_str()),
        "{audit}"
    );
    assert!(
        !actors.contains(&b_id.as_str()),
        "a refused read is not a read"
    );
}

/// The guard sees the path as the router does: a percent-encoded path is
/// still the route it names, and a path it does not know needs a token too.
fn encoded_paths_are_still_guarded(b: Backend) {
    let db = Db::fresh(b, "encoded");
    let s = Server::start(&db, &[]);
    let (id, secret) = add_client(&db, "reader", &[], &["claims:read"]);
    let reader = billing_token(&s, &id, &secret);
    for path in [
        "/v1/admin/%61udit",
        "/v1/admin/clients",
        "/v1/%61dmin/users",
    ] {
        let r = send("GET", &s.url(path), &[("Authorization", "")], None);
        assert_eq!(r.status, 401, "{path} without a token: {}", r.body);
        let r = call(&s, "GET", path, &reader, None);
        assert_eq!(r.status, 403, "{path} without the admin scope: {}", r.body);
        assert_eq!(call(&s, "GET", path, &s.token, None).status, 200, "{path}");
    }
    let r = send(
        "GET",
        &s.url("/openapi%2Eyaml"),
        &[("Authorization", "")],
        None,
    );
    assert_eq!(r.status, 401);
    let r = send(
        "GET",
        &s.url("/no/such/route"),
        &[("Authorization", "")],
        None,
    );
    assert_eq!(r.status, 401, "unknown paths fail closed");
    assert_eq!(call(&s, "GET", "/no/such/route", &reader, None).status, 404);
}

/// A billing system corrects (replaces, voids) only claims billed under
/// its own NPIs, and writes only authorizations of its own NPIs.
fn billing_systems_stay_in_their_lane(b: Backend) {
    let db = Db::fresh(b, "lane");
    let out = Command::new(env!("CARGO_BIN_EXE_priorauth"))
        .args([
            "clients",
            "add",
            "--name",
            "unbound",
            "--scope",
            "claims:submit",
        ])
        .args(["--database", &db.url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--npi"), "claims:submit needs NPIs: {err}");

    let s = Server::start(&db, &[]);
    add_auth(&s, "LANE1", "70551", Some("5"));
    let (a_id, a_secret) = add_client(&db, "A", &[BILLING], &["claims:submit", "claims:read"]);
    let (b_id, b_secret) = add_client(&db, "B", &[OTHER_NPI], &["claims:submit", "claims:read"]);
    let a = billing_token(&s, &a_id, &a_secret);
    let b_token = billing_token(&s, &b_id, &b_secret);
    let r = submit(&s, &a, &render(&[mri_claim("LANE-1", "LANE1", "2")]), &[]);
    let victim = r.json()["claims"][0]["payer_claim_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(units_used(&s, "LANE1"), "2");
    // B voids "its" claim LANE-9 naming A's payer claim id in REF*F8.
    let mut void = mri_claim("LANE-9", "LANE1", "2");
    void.billing_npi = OTHER_NPI.into();
    let void = crate::service::correction(void, "8", &victim);
    let r = submit(&s, &b_token, &render(&[void]), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.body.contains("LANE-1"),
        "nothing of A's claim is shown to B: {}",
        r.body
    );
    assert_eq!(units_used(&s, "LANE1"), "2", "A's units stay consumed");
    let c = call(&s, "GET", &format!("/v1/claims/{victim}"), &a, None).json();
    assert_eq!(c["current"], true, "A's claim still answers for LANE-1");

    // A billing system that may write authorizations writes only its own.
    let (w_id, w_secret) = add_client(&db, "W", &[OTHER_NPI], &["auths:write", "claims:read"]);
    let w = billing_token(&s, &w_id, &w_secret);
    let auth = |npi: &str| {
        json!({"number": format!("W-{npi}"), "member_id": "M1", "provider_npi": npi,
               "codes": "70551", "units": "3", "start_date": "2026-01-01",
               "end_date": "2026-12-31", "status": "approved"})
        .to_string()
    };
    let post = |body: String| {
        call(
            &s,
            "POST",
            "/v1/authorizations",
            &w,
            Some(("application/json", body.as_bytes())),
        )
    };
    assert_eq!(post(auth(BILLING)).status, 403);
    assert_eq!(post(auth(OTHER_NPI)).status, 201);
    let r = call(
        &s,
        "PATCH",
        "/v1/authorizations/LANE1",
        &w,
        Some(("application/json", b"{}")),
    );
    assert_eq!(
        r.status, 404,
        "another provider's authorization: {}",
        r.body
    );
    let r = call(
        &s,
        "PATCH",
        &format!("/v1/authorizations/W-{OTHER_NPI}"),
        &w,
        Some((
            "application/json",
            format!("{{\"provider_npi\": \"{BILLING}\"}}").as_bytes(),
        )),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // An import cannot take another provider's authorization over by
    // naming its number under the importer's own NPI.
    let csv = format!(
        "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n\
         LANE1,M1,{OTHER_NPI},70551,99,0,2026-01-01,2026-12-31,approved\n"
    );
    let r = call(
        &s,
        "POST",
        "/v1/authorizations/import",
        &w,
        Some(("text/csv", csv.as_bytes())),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let lane = call(&s, "GET", "/v1/authorizations/LANE1", &s.token, None).json();
    assert_eq!(lane["provider_npi"], BILLING, "nothing was changed");
}

/// Missing, malformed, expired, wrongly signed and under-scoped tokens.
fn bad_tokens_get_401_and_under_scoped_get_403(b: Backend) {
    let db = Db::fresh(b, "badtok");
    // Tokens live 3 s here (the expiry below); on a loaded machine a
    // shorter life ran out before the scope checks.
    let s = Server::start(&db, &[("PRIORAUTH_TOKEN_TTL", "3")]);
    let (id, secret) = add_client(&db, "reader", &[], &["claims:read"]);
    let token = billing_token(&s, &id, &secret);
    let get_with = |auth: &str| {
        send(
            "GET",
            &s.url("/v1/claims/x"),
            &[("Authorization", auth)],
            None,
        )
    };

    let r = get_with("");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthorized");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="priorauth""#)
    );
    let r = get_with("Bearer not-a-token");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_token");
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains(r#"error="invalid_token""#));
    let r = get_with(&format!("Basic {token}"));
    assert_eq!(r.status, 401, "{}", r.body);

    // A forged signature: the payload changed, the signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["scope"] = json!("claims:read admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let r = get_with(&bearer(&forged));
    assert_eq!(r.status, 401);
    assert!(r.json()["message"].as_str().unwrap().contains("signature"));

    // Under-scoped: a reader may not replace rules or submit claims (a
    // fresh token, so that its life covers these calls).
    let token = billing_token(&s, &id, &secret);
    let r = call(
        &s,
        "PUT",
        "/v1/rules",
        &token,
        Some(("application/toml", b"version = \"x\"")),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "insufficient_scope");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="priorauth", error="insufficient_scope", scope="rules:write""#)
    );
    assert_eq!(submit(&s, &token, "ISA", &[]).status, 403);
    assert_eq!(call(&s, "GET", "/v1/admin/audit", &token, None).status, 403);
    // Health, readiness and metrics stay open.
    for p in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            send("GET", &s.url(p), &[("Authorization", "")], None).status,
            200,
            "{p}"
        );
    }

    // Expired: the token lives three seconds here.
    wait_for("the token to expire", Duration::from_secs(15), || {
        get_with(&bearer(&token)).status == 401
    });
    let r = get_with(&bearer(&token));
    assert!(
        r.json()["message"].as_str().unwrap().contains("expired"),
        "{}",
        r.body
    );
}

/// Staff sign in through the authorization-code grant with PKCE, driven by
/// the oauth2 crate; the token reads any claim and the audit log.
fn staff_sign_in_with_authorization_code_and_pkce(b: Backend) {
    let db = Db::fresh(b, "authcode");
    let s = Server::start(&db, &[]);
    let (console, user, password) = console_and_staff(&db, &["claims:read", "admin"]);
    let client = oauth_client(&s, &console, None);
    let (code, verifier) = code_for(&s, &client, &user, &password);
    let token = exchange(&client, &code, Some(verifier)).unwrap();

    let r = submit(
        &s,
        &s.token,
        &render(&[mri_claim("STAFF-1", "NONE", "1")]),
        &[],
    );
    let id = r.json()["claims"][0]["payer_claim_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        call(&s, "GET", &format!("/v1/claims/{id}"), &token, None).status,
        200
    );
    let audit = call(&s, "GET", "/v1/admin/audit?limit=5", &token, None);
    assert_eq!(audit.status, 200, "{}", audit.body);
    let entry = &audit.json()["entries"][0];
    assert_eq!(entry["action"], "claim.read");
    assert!(entry["actor"].as_str().unwrap().starts_with("user:"));
    assert_eq!(entry["client_id"], console.as_str());
    // The staff member has no rules:write role: not in the token.
    assert_eq!(
        call(
            &s,
            "PUT",
            "/v1/rules",
            &token,
            Some(("application/toml", b"x"))
        )
        .status,
        403
    );
    // A wrong password gets the form again with a clear notice.
    let r = sign_in(&s, &client, &user, "wrong password!");
    assert_eq!(r.status, 401);
    assert!(
        r.body.contains("username or password is wrong"),
        "{}",
        r.body
    );

    // A disabled staff member can neither redeem a code nor sign in.
    let (code, verifier) = code_for(&s, &client, &user, &password);
    let users = call(&s, "GET", "/v1/admin/users", &s.token, None).json();
    let id = users["users"][0]["id"].as_str().unwrap().to_string();
    let r = call(
        &s,
        "DELETE",
        &format!("/v1/admin/users/{id}"),
        &s.token,
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let (err, _) = error_of(exchange(&client, &code, Some(verifier)));
    assert_eq!(err, BasicErrorResponseType::InvalidGrant);
    assert_eq!(sign_in(&s, &client, &user, &password).status, 401);
}

/// A code works once; a second use is invalid_grant and revokes the token
/// the first use got.
fn reused_code_is_refused_and_revokes_its_tokens(b: Backend) {
    let db = Db::fresh(b, "reuse");
    let s = Server::start(&db, &[]);
    let (console, user, password) = console_and_staff(&db, &["claims:read"]);
    let client = oauth_client(&s, &console, None);
    let (code, verifier) = code_for(&s, &client, &user, &password);
    let again = PkceCodeVerifier::new(verifier.secret().clone());
    let token = exchange(&client, &code, Some(verifier)).unwrap();
    assert_eq!(call(&s, "GET", "/v1/rules", &token, None).status, 200);
    let (err, why) = error_of(exchange(&client, &code, Some(again)));
    assert_eq!(err, BasicErrorResponseType::InvalidGrant);
    assert!(why.contains("already used"), "{why}");
    let r = call(&s, "GET", "/v1/rules", &token, None);
    assert_eq!(r.status, 401, "the first token is revoked: {}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("revoked"));
}

/// Codes expire (here after 1 s; 60 s by default).
fn expired_code_is_refused(b: Backend) {
    let db = Db::fresh(b, "expired");
    let s = Server::start(&db, &[("PRIORAUTH_CODE_TTL", "1")]);
    let (console, user, password) = console_and_staff(&db, &["claims:read"]);
    let client = oauth_client(&s, &console, None);
    let (code, verifier) = code_for(&s, &client, &user, &password);
    let_time_pass(Duration::from_millis(1200));
    let (err, why) = error_of(exchange(&client, &code, Some(verifier)));
    assert_eq!(err, BasicErrorResponseType::InvalidGrant);
    assert!(why.contains("expired"), "{why}");
}

/// A code issued to one client cannot be redeemed by another.
fn code_for_another_client_is_refused(b: Backend) {
    let db = Db::fresh(b, "otherclient");
    let s = Server::start(&db, &[]);
    let (console, user, password) = console_and_staff(&db, &["claims:read"]);
    let other = cli_json(
        &db,
        &[
            "clients",
            "add",
            "--name",
            "Other console",
            "--redirect-uri",
            CONSOLE_REDIRECT,
            "--scope",
            "claims:read",
        ],
    );
    let (code, verifier) = code_for(&s, &oauth_client(&s, &console, None), &user, &password);
    let thief = oauth_client(
        &s,
        other["client_id"].as_str().unwrap(),
        other["client_secret"].as_str(),
    );
    let (err, why) = error_of(exchange(&thief, &code, Some(verifier)));
    assert_eq!(err, BasicErrorResponseType::InvalidGrant);
    assert!(why.contains("another client"), "{why}");
}

/// Redirect URIs match exactly: no prefix, no extra query, no other host;
/// a mismatch is never redirected to. At the token endpoint the URI must
/// be the one of the authorization request.
fn redirect_uri_must_match_exactly(b: Backend) {
    let db = Db::fresh(b, "redirect");
    let s = Server::start(&db, &[]);
    let (console, user, password) = console_and_staff(&db, &["claims:read"]);
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    for bad in [
        "https://console.example.org/callback/extra",
        "https://console.example.org/callback?next=evil",
        "https://console.example.org/callbac",
        "https://evil.example.org/callback",
        "",
    ] {
        let mut c = oauth_client(&s, &console, None);
        if !bad.is_empty() {
            c = c.set_redirect_uri(RedirectUrl::new(bad.into()).unwrap());
        }
        let (url, _) = c
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge.clone())
            .url();
        let mut url = url.to_string();
        if bad.is_empty() {
            url = query(&url)
                .into_iter()
                .filter(|(k, _)| k != "redirect_uri")
                .map(|(k, v)| format!("{k}={}", form(&[("v", &v)]).trim_start_matches("v=")))
                .fold(s.url("/oauth/authorize?"), |acc, p| format!("{acc}&{p}"));
        }
        let r = send("GET", &url, &[("Authorization", "")], None);
        assert_eq!(r.status, 400, "{bad:?} must not be accepted");
        assert!(
            r.header("location").is_none(),
            "{bad:?}: never redirected to"
        );
    }
    // Token endpoint: the code's redirect URI must be sent again, exactly.
    let good = oauth_client(&s, &console, None);
    let (code, verifier) = code_for(&s, &good, &user, &password);
    let elsewhere = good
        .clone()
        .set_redirect_uri(RedirectUrl::new("https://console.example.org/other".into()).unwrap());
    let (err, why) = error_of(exchange(&elsewhere, &code, Some(verifier)));
    assert_eq!(err, BasicErrorResponseType::InvalidGrant);
    assert!(why.contains("redirect_uri"), "{why}");
}

/// PKCE: the authorization request must carry an S256 challenge, and the
/// code needs the matching verifier.
fn pkce_verifier_is_required_and_checked(b: Backend) {
    let db = Db::fresh(b, "pkce");
    let s = Server::start(&db, &[]);
    let (console, user, password) = console_and_staff(&db, &["claims:read"]);
    let client = oauth_client(&s, &console, None);

    // No challenge, or the plain method: refused back to the client.
    let (no_pkce, _) = client.authorize_url(CsrfToken::new_random).url();
    let r = send("GET", no_pkce.as_str(), &[("Authorization", "")], None);
    assert_eq!(r.status, 303);
    let loc = r.header("location").unwrap().to_string();
    assert_eq!(param(&loc, "error").as_deref(), Some("invalid_request"));
    assert!(param(&loc, "error_description").unwrap().contains("S256"));
    let verifier = PkceCodeVerifier::new("a".repeat(43));
    let plain = PkceCodeChallenge::new_random_sha256().0;
    let (plain_url, _) = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(plain)
        .url();
    let plain_url = plain_url
        .as_str()
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let r = send("GET", &plain_url, &[("Authorization", "")], None);
    assert_eq!(
        param(r.header("location").unwrap(), "error").as_deref(),
        Some("invalid_request")
    );

    // Missing verifier.
    let (code, _) = code_for(&s, &client, &user, &password);
    let (err, why) = error_of(exchange(&client, &code, None));
    assert_eq!(err, BasicErrorResponseType::InvalidGrant);
    assert!(why.contains("code_verifier"), "{why}");
    // Wrong verifier.
    let (code, _) = code_for(&s, &client, &user, &password);
    let (err, why) = error_of(exchange(&client, &code, Some(verifier)));
    assert_eq!(err, BasicErrorResponseType::InvalidGrant);
    assert!(why.contains("does not match"), "{why}");
}

/// Three failed client authentications within 10 s lock the client out;
/// while locked even the right secret is refused (401 `invalid_client`,
/// saying so and when to retry);
/// the lock ends after the configured time.
fn brute_force_locks_the_client_out(b: Backend) {
    let db = Db::fresh(b, "lockout");
    let s = Server::start(&db, &[("PRIORAUTH_LOCKOUT_SECONDS", "3")]);
    let (id, secret) = add_client(&db, "target", &[BILLING], &["claims:submit"]);
    let (other_id, other_secret) = add_client(&db, "bystander", &[BILLING], &["claims:submit"]);
    let guess = |secret: &str| {
        oauth_client(&s, &id, Some(secret))
            .exchange_client_credentials()
            .request(&Http::new())
    };
    for i in 0..3 {
        let (err, why) = error_of(guess(&format!("guess-{i}")));
        assert_eq!(err, BasicErrorResponseType::InvalidClient);
        if i == 2 {
            assert!(
                why.contains("locked out"),
                "the third failure says so: {why}"
            );
        }
    }
    // Locked: the right secret is refused too, with when to retry.
    let r = post_form(
        &s.url("/oauth/token"),
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ]),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_client");
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("locked out"));
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry), "{retry}");
    assert_eq!(r.json()["retry_after"], retry);
    // Another client is not affected.
    assert!(oauth_client(&s, &other_id, Some(&other_secret))
        .exchange_client_credentials()
        .request(&Http::new())
        .is_ok());
    // Successes do not reset an active lock: still locked a moment later.
    assert_eq!(
        error_of(guess(&secret)).0,
        BasicErrorResponseType::InvalidClient
    );
    wait_for("the lock to end", Duration::from_secs(10), || {
        guess(&secret).is_ok()
    });

    // The locked-out answer to a client using HTTP Basic challenges it.
    wait_for("a new lock", Duration::from_secs(10), || {
        let r = post_form(
            &s.url("/oauth/token"),
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "wrong"),
            ]),
        );
        r.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("locked out")
    });
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    );
    let r = send(
        "POST",
        &s.url("/oauth/token"),
        &[
            ("Authorization", basic.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(b"grant_type=client_credentials"),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("locked out"), "{}", r.body);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Basic")),
        "{:?}",
        r.headers
    );
}

/// The number of rows a query counts, read from the database.
pub(crate) fn count(db: &Db, sql: &str) -> i64 {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut c = sqlx::AnyConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql)
                .fetch_one(&mut c)
                .await
                .unwrap()
                .get::<i64, _>(0)
        })
}

/// Issue 15 point 2: a lockout that cannot be turned into a weapon.
/// Failed code redemptions (bogus codes, a wrong redirect_uri) fail per
/// code and never lock the public console, so a staff member signing in
/// right after gets a token; a confidential client that sends no secret,
/// or sends one for a public client, is refused without being counted;
/// unknown client ids leave no failure or lockout rows.
fn public_clients_and_unknown_ids_are_never_locked(b: Backend) {
    let db = Db::fresh(b, "nolock");
    let s = Server::start(&db, &[("PRIORAUTH_LOCKOUT_SECONDS", "60")]);
    let (console, user, password) = console_and_staff(&db, &["claims:read"]);
    let client = oauth_client(&s, &console, None);
    for i in 0..5 {
        let (err, _) = error_of(exchange(&client, &format!("forged-code-{i}"), None));
        assert_eq!(err, BasicErrorResponseType::InvalidGrant);
    }
    // A legitimate mistake: the right code with another redirect_uri.
    let (code, verifier) = code_for(&s, &client, &user, &password);
    let r = post_form(
        &s.url("/oauth/token"),
        &form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &console),
            ("code", &code),
            ("redirect_uri", "https://console.example.org/other"),
            ("code_verifier", verifier.secret()),
        ]),
    );
    assert_eq!(r.json()["error"], "invalid_grant", "{}", r.body);
    // A secret sent for the public client: refused, nothing to guess.
    for _ in 0..3 {
        let r = post_form(
            &s.url("/oauth/token"),
            &form(&[
                ("grant_type", "authorization_code"),
                ("client_id", &console),
                ("client_secret", "guess"),
                ("code", "x"),
                ("redirect_uri", CONSOLE_REDIRECT),
            ]),
        );
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let (code, verifier) = code_for(&s, &client, &user, &password);
    assert!(
        exchange(&client, &code, Some(verifier)).is_ok(),
        "the console is not locked"
    );

    // A confidential client that sends no secret is refused, not counted.
    let (id, secret) = add_client(&db, "Riverside", &[BILLING], &["claims:submit"]);
    for _ in 0..4 {
        let r = post_form(
            &s.url("/oauth/token"),
            &form(&[("grant_type", "client_credentials"), ("client_id", &id)]),
        );
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(r.header("www-authenticate").is_some());
    }
    assert_eq!(client_token(&s.base, &id, &secret, None).status, 200);

    // Unknown client ids: refused alike, and no rows.
    for i in 0..4 {
        let r = post_form(
            &s.url("/oauth/token"),
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &format!("nobody-{i}")),
                ("client_secret", "x"),
            ]),
        );
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(r.json()["error"], "invalid_client");
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM sign_in_failures"), 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM lockouts"), 0);
    // Wrong secrets of a confidential client are what counts.
    let r = post_form(
        &s.url("/oauth/token"),
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "wrong"),
        ]),
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM sign_in_failures WHERE subject = 'client:{id}'")
        ),
        1
    );
}

/// Three wrong passwords within 10 s lock the staff member out, the right
/// password included, until the lock ends.
fn brute_force_locks_the_user_out(b: Backend) {
    let db = Db::fresh(b, "userlock");
    let s = Server::start(&db, &[("PRIORAUTH_LOCKOUT_SECONDS", "2")]);
    let (console, user, password) = console_and_staff(&db, &["claims:read"]);
    let client = oauth_client(&s, &console, None);
    for i in 0..3 {
        let r = sign_in(&s, &client, &user, &format!("wrong-password-{i}"));
        assert_eq!(r.status, 401);
    }
    let r = sign_in(&s, &client, &user, &password);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("locked out"), "{}", r.body);
    wait_for("the lock to end", Duration::from_secs(10), || {
        sign_in(&s, &client, &user, &password).status == 303
    });
}

/// A replayed submission (same Idempotency-Key) gets the first answer and
/// consumes nothing again; keys are per client, so another billing system
/// reusing the key gets its own answer, never the first client's.
fn replayed_submission_consumes_once(b: Backend) {
    let db = Db::fresh(b, "replay");
    let s = Server::start(&db, &[]);
    add_auth(&s, "RP1", "70551", Some("10"));
    let (a_id, a_secret) = add_client(&db, "A", &[BILLING], &["claims:submit", "claims:read"]);
    let (b_id, b_secret) = add_client(&db, "B", &[BILLING], &["claims:submit"]);
    let a = billing_token(&s, &a_id, &a_secret);
    let b_token = billing_token(&s, &b_id, &b_secret);
    let body = render(&[mri_claim("REPLAY-1", "RP1", "3")]);
    let key = [("Idempotency-Key", "batch-2026-11-23-0001")];
    let first = submit(&s, &a, &body, &key);
    assert_eq!(first.status, 200, "{}", first.body);
    let again = submit(&s, &a, &body, &key);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replay"), Some("true"));
    assert_eq!(units_used(&s, "RP1"), "3");
    // B with the same key: its own submission (a duplicate of A's claim).
    let theirs = submit(&s, &b_token, &body, &key);
    assert_eq!(theirs.status, 200);
    assert_ne!(theirs.body, first.body, "never another client's answer");
    assert!(theirs.header("idempotent-replay").is_none());
}

/// Tokens of an external OpenID Connect provider are accepted when
/// configured: the test serves the provider's JWKS itself.
fn external_oidc_tokens_are_accepted(b: Backend) {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use ring::signature::{Ed25519KeyPair, KeyPair};

    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let jwks = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "idp-1", "alg": "EdDSA", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
    }]})
    .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{jwks}",
                jwks.len()
            );
        }
    });
    let db = Db::fresh(b, "oidc");
    let s = Server::start(
        &db,
        &[
            ("PRIORAUTH_OIDC_ISSUER", "https://idp.example.org"),
            ("PRIORAUTH_OIDC_AUDIENCE", "priorauth-api"),
            ("PRIORAUTH_OIDC_JWKS_URL", &jwks_url),
        ],
    );
    let now = unix_now();
    let sign = |claims: Value, key: &[u8], kid: &str| {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ed_der(key)).unwrap()
    };
    let claims = |aud: &str, exp: i64, scope: &str| {
        json!({"iss": "https://idp.example.org", "aud": aud, "sub": "staff-42",
               "azp": "console", "scope": scope, "iat": now, "exp": exp})
    };
    let good = sign(
        claims("priorauth-api", now + 300, "claims:read openid"),
        pkcs8.as_ref(),
        "idp-1",
    );
    assert_eq!(call(&s, "GET", "/v1/rules", &good, None).status, 200);
    let r = call(&s, "GET", "/v1/claims/none", &good, None);
    assert_eq!(r.status, 404, "claims:read is honoured: {}", r.body);
    let r = call(
        &s,
        "PUT",
        "/v1/rules",
        &good,
        Some(("application/toml", b"x")),
    );
    assert_eq!(r.status, 403, "scopes come from the provider's token");

    let mut other_issuer = claims("priorauth-api", now + 300, "claims:read");
    other_issuer["iss"] = json!("https://elsewhere.example.org");
    let other_issuer = sign(other_issuer, pkcs8.as_ref(), "idp-1");
    assert_eq!(
        call(&s, "GET", "/v1/rules", &other_issuer, None).status,
        401
    );
    let wrong_aud = sign(
        claims("someone-else", now + 300, "claims:read"),
        pkcs8.as_ref(),
        "idp-1",
    );
    assert_eq!(call(&s, "GET", "/v1/rules", &wrong_aud, None).status, 401);
    let expired = sign(
        claims("priorauth-api", now - 5, "claims:read"),
        pkcs8.as_ref(),
        "idp-1",
    );
    let r = call(&s, "GET", "/v1/rules", &expired, None);
    assert_eq!(r.status, 401);
    assert!(r.json()["message"].as_str().unwrap().contains("expired"));
    let stranger = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let forged = sign(
        claims("priorauth-api", now + 300, "claims:read"),
        stranger.as_ref(),
        "idp-1",
    );
    assert_eq!(call(&s, "GET", "/v1/rules", &forged, None).status, 401);
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("priorauth-api", now + 300, "claims:read"),
        &EncodingKey::from_secret(b"guessable"),
    )
    .unwrap();
    assert_eq!(call(&s, "GET", "/v1/rules", &hs, None).status, 401);
    // Our own tokens still work beside the provider's.
    assert_eq!(call(&s, "GET", "/v1/rules", &s.token, None).status, 200);
}

/// What the test's identity provider knows of a code it issued: the
/// PKCE challenge it was asked with, and the token's `azp`, `scope` and
/// optional `npi`.
type IssuedCodes = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Value)>>>;

/// A tiny OIDC provider on loopback: `/jwks` with its Ed25519 key, and
/// `/token`, which redeems the codes in `codes` (once each) for the
/// console client `console-at-idp` with secret `s3cret` (HTTP Basic),
/// checking the PKCE verifier, and answers `invalid_grant` otherwise.
fn identity_provider(codes: IssuedCodes) -> (String, Vec<u8>) {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use ring::signature::{Ed25519KeyPair, KeyPair};
    use sha2::{Digest, Sha256};

    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .unwrap()
        .as_ref()
        .to_vec();
    let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
    let jwks = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "idp-1", "alg": "EdDSA", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
    }]})
    .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let key = pkcs8.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as much body as Content-Length says.
            let (head, body) = loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break (head.to_string(), body.to_string());
                    }
                }
            };
            let answer = |status: &str, body: &str| {
                format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let reply = if head.starts_with("GET /jwks") {
                answer("200 OK", &jwks)
            } else if head.starts_with("POST /token") {
                let form = query(&format!("?{body}"));
                let field = |k: &str| form.iter().find(|p| p.0 == k).map(|p| p.1.clone());
                let basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("console-at-idp:s3cret")
                );
                let authenticated = head.lines().any(|l| {
                    l.split_once(':').is_some_and(|(k, v)| {
                        k.eq_ignore_ascii_case("authorization") && v.trim() == basic
                    })
                });
                let verifier = field("code_verifier").unwrap_or_default();
                let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                let code = field("code").unwrap_or_default();
                let issued = {
                    let mut codes = codes.lock().unwrap();
                    let at = codes.iter().position(|c| c.0 == code);
                    at.map(|i| codes.remove(i))
                };
                match issued {
                    Some((_, want, claims))
                        if authenticated
                            && want == challenge
                            && field("grant_type").as_deref() == Some("authorization_code") =>
                    {
                        let now = unix_now();
                        let mut c = json!({"iss": "https://idp.example.org", "aud": "priorauth-api",
                            "sub": "staff-7", "iat": now, "exp": now + 300});
                        for (k, v) in claims.as_object().unwrap() {
                            c[k] = v.clone();
                        }
                        let mut h = Header::new(Algorithm::EdDSA);
                        h.kid = Some("idp-1".into());
                        let token =
                            jsonwebtoken::encode(&h, &c, &EncodingKey::from_ed_der(&key)).unwrap();
                        answer(
                            "200 OK",
                            &json!({"access_token": token, "token_type": "Bearer", "expires_in": 300})
                                .to_string(),
                        )
                    }
                    _ => answer("400 Bad Request", r#"{"error":"invalid_grant"}"#),
                }
            } else {
                answer("404 Not Found", "{}")
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (base, pkcs8)
}

/// A browser's request without redirects: (status, Location, cookies
/// set as `name=value`, body).
fn browse(url: &str, cookie: Option<&str>) -> (u16, String, Vec<String>, String) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let mut req = agent.get(url);
    if let Some(c) = cookie {
        req = req.set("Cookie", c);
    }
    let res = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = res.status();
    let location = res.header("location").unwrap_or_default().to_string();
    let cookies = res
        .all("set-cookie")
        .iter()
        .filter_map(|c| c.split(';').next().map(str::to_string))
        .collect();
    let mut body = String::new();
    res.into_reader().read_to_string(&mut body).unwrap();
    (status, location, cookies, body)
}

/// Staff sign in to the console at the external OIDC issuer (issue 16):
/// the console is that issuer's confidential client, PKCE S256, the code
/// redeemed at its token endpoint, its token checked as the API checks
/// it; a refused code, a token issued to another client and a billing
/// system's token give no session.
fn staff_sign_in_to_the_console_at_the_external_issuer(b: Backend) {
    let codes: IssuedCodes = Default::default();
    let (idp, _) = identity_provider(codes.clone());
    let db = Db::fresh(b, "console-oidc");
    let s = Server::start(
        &db,
        &[
            ("PRIORAUTH_OIDC_ISSUER", "https://idp.example.org"),
            ("PRIORAUTH_OIDC_AUDIENCE", "priorauth-api"),
            ("PRIORAUTH_OIDC_JWKS_URL", &format!("{idp}/jwks")),
            ("PRIORAUTH_OIDC_AUTHORIZE_URL", &format!("{idp}/authorize")),
            ("PRIORAUTH_OIDC_TOKEN_URL", &format!("{idp}/token")),
            ("PRIORAUTH_OIDC_CLIENT_ID", "console-at-idp"),
            ("PRIORAUTH_OIDC_CLIENT_SECRET", "s3cret"),
        ],
    );

    // Signed out, a page sends the browser to sign in and offers both ways.
    let (status, location, _, _) = browse(&s.url("/console/codes"), None);
    assert_eq!(status, 303);
    assert!(location.starts_with("/console/signin"), "{location}");
    let (status, _, _, page) = browse(&s.url(&location), None);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("via=issuer"), "{page}");
    assert!(page.contains("via=here"), "{page}");
    let (status, _, _, page) = browse(&s.url("/console/signin?via=elsewhere"), None);
    assert_eq!(status, 400, "{page}");

    // One sign-in at the issuer: its authorization request, then the
    // issuer's code back at the callback. Returns the callback's answer.
    let sign_in = |token_claims: Value| {
        let (status, location, cookies, _) = browse(
            &s.url("/console/signin?via=issuer&next=%2Fconsole%2Fcodes"),
            None,
        );
        assert_eq!(status, 303);
        assert!(
            location.starts_with(&format!("{idp}/authorize?")),
            "{location}"
        );
        assert_eq!(
            param(&location, "client_id").as_deref(),
            Some("console-at-idp")
        );
        assert_eq!(param(&location, "response_type").as_deref(), Some("code"));
        assert_eq!(
            param(&location, "redirect_uri"),
            Some(s.url("/console/callback"))
        );
        assert_eq!(
            param(&location, "code_challenge_method").as_deref(),
            Some("S256")
        );
        let scope = param(&location, "scope").unwrap();
        assert!(scope.split(' ').any(|w| w == "openid"), "{scope}");
        let state = param(&location, "state").unwrap();
        let login = cookies
            .iter()
            .find(|c| c.starts_with("pa_login="))
            .expect("the sign-in sets its login cookie")
            .clone();
        let code = format!("code-{}", &state[state.len() - 12..]);
        codes.lock().unwrap().push((
            code.clone(),
            param(&location, "code_challenge").unwrap(),
            token_claims,
        ));
        let callback = format!(
            "/console/callback?{}",
            form(&[("code", &code), ("state", &state)])
        );
        (browse(&s.url(&callback), Some(&login)), code, login, state)
    };

    let ((status, location, cookies, body), _, _, _) =
        sign_in(json!({"azp": "console-at-idp", "scope": "openid claims:read"}));
    assert_eq!(status, 303, "{body}");
    assert_eq!(location, "/console/codes", "back to the page asked for");
    let session = cookies
        .iter()
        .find(|c| c.starts_with("pa_console=") && c.len() > "pa_console=".len())
        .expect("a session begins")
        .clone();
    let (status, _, _, page) = browse(&s.url("/console/codes"), Some(&session));
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("staff-7"),
        "the issuer's subject is shown: {page}"
    );

    // The code is single-use at the issuer: the same callback again is
    // refused (the login was used up too).
    let ((status, _, cookies, body), code, login, state) =
        sign_in(json!({"azp": "console-at-idp", "scope": "claims:read"}));
    assert_eq!(status, 303, "{body}");
    assert!(cookies.iter().any(|c| c.starts_with("pa_console=")));
    let again = format!(
        "/console/callback?{}",
        form(&[("code", &code), ("state", &state)])
    );
    let (status, _, cookies, _) = browse(&s.url(&again), Some(&login));
    assert_eq!(status, 400);
    assert!(!cookies
        .iter()
        .any(|c| c.starts_with("pa_console=") && c.len() > 11));

    // A code the issuer refuses.
    let (status, location, cookies, _) = browse(&s.url("/console/signin?via=issuer"), None);
    assert_eq!(status, 303);
    let state = param(&location, "state").unwrap();
    let callback = format!(
        "/console/callback?{}",
        form(&[("code", "forged"), ("state", &state)])
    );
    let (status, _, set, body) = browse(&s.url(&callback), Some(&cookies[0]));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("invalid_grant"), "{body}");
    assert!(!set
        .iter()
        .any(|c| c.starts_with("pa_console=") && c.len() > 11));

    // A token the issuer made for another of its clients, and a billing
    // system's token: no session.
    for claims in [
        json!({"azp": "another-app", "scope": "claims:read"}),
        json!({"azp": "console-at-idp", "scope": "claims:read", "npi": [BILLING]}),
    ] {
        let ((status, _, cookies, body), _, _, _) = sign_in(claims.clone());
        assert_eq!(status, 403, "{claims}: {body}");
        assert!(body.contains("not issued to this console"), "{body}");
        assert!(!cookies
            .iter()
            .any(|c| c.starts_with("pa_console=") && c.len() > 11));
    }
    // Every code the test issued was redeemed.
    assert!(codes.lock().unwrap().is_empty());
}

/// A key rotation: new tokens use the new key, old tokens still verify,
/// and the JWKS lists both.
fn keys_rotate_without_breaking_tokens(b: Backend) {
    let db = Db::fresh(b, "rotate");
    let s = Server::start(&db, &[]);
    let old = s.token.clone();
    let jwks = |s: &Server| {
        send(
            "GET",
            &s.url("/.well-known/jwks.json"),
            &[("Authorization", "")],
            None,
        )
        .json()
    };
    assert_eq!(jwks(&s)["keys"].as_array().unwrap().len(), 1);
    let r = call(&s, "POST", "/v1/admin/keys/rotate", &old, None);
    assert_eq!(r.status, 201, "{}", r.body);
    let kid = r.json()["kid"].as_str().unwrap().to_string();
    assert_eq!(jwks(&s)["keys"].as_array().unwrap().len(), 2);
    let (id, secret) = add_client(&db, "after rotation", &[], &["claims:read"]);
    let new = billing_token(&s, &id, &secret);
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(new.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], kid.as_str());
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(call(&s, "GET", "/v1/rules", &old, None).status, 200);
    assert_eq!(call(&s, "GET", "/v1/rules", &new, None).status, 200);
}

/// Every log line of a full flow (tokens, sign-in, submissions, reads, a
/// batch) carries no member id, name or birth date of the claims sent.
fn full_flow_logs_carry_no_phi(b: Backend) {
    let db = Db::fresh(b, "phi");
    let s = Server::start(
        &db,
        &[("PRIORAUTH_LOG", "trace"), ("PRIORAUTH_LOG_FORMAT", "json")],
    );
    let files = [
        crate::helpers::root().join("fixtures/x12/837p-sample.x12"),
        crate::helpers::root().join("fixtures/x12/837i-sample.x12"),
    ];
    let mut phi: Vec<String> = Vec::new();
    // Birth dates as the claim model holds them (DMG02 of 2010BA and
    // 2010CA, SPEC 2.1), in both spellings: used for matching only.
    let mut births: Vec<String> = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let mut p = priorauth::x12::Parser::new(text.as_bytes());
        while let Some(set) = p.next_set() {
            for c in set.claims {
                phi.push(c.subscriber.member_id.clone());
                phi.push(c.subscriber.last_name.clone());
                phi.push(c.subscriber.first_name.clone());
                let dates = c
                    .subscriber
                    .birth_date
                    .into_iter()
                    .chain(c.patient.as_ref().and_then(|p| p.birth_date));
                for b in dates {
                    births.push(b.format("%Y-%m-%d").to_string());
                    births.push(b.format("%Y%m%d").to_string());
                }
                if let Some(pt) = &c.patient {
                    phi.push(pt.last_name.clone());
                    phi.push(pt.first_name.clone());
                }
            }
        }
        // Birth dates: DMG*D8*CCYYMMDD, in both spellings.
        for seg in text.split('~') {
            if let Some(rest) = seg.trim().strip_prefix("DMG*D8*") {
                let d = rest.split('*').next().unwrap().to_string();
                phi.push(format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8]));
                phi.push(d);
            }
        }
    }
    assert!(
        births.len() >= 4,
        "the samples' birth dates are read into the model: {births:?}"
    );
    phi.extend(births.iter().cloned());
    phi.retain(|p| p.len() >= 3);
    phi.sort();
    phi.dedup();
    assert!(phi.len() >= 6, "the samples carry PHI to look for: {phi:?}");

    let csv =
        std::fs::read_to_string(crate::helpers::root().join("fixtures/auths/sample.csv")).unwrap();
    send(
        "POST",
        &s.url("/v1/authorizations/import"),
        &[("Content-Type", "text/csv")],
        Some(csv.as_bytes()),
    );
    let (id, secret) = add_client(
        &db,
        "Riverside",
        &[BILLING],
        &["claims:submit", "claims:read"],
    );
    // A dependent's authorization (SPEC 2.3): a bad birth date is refused
    // without being echoed back.
    let bad = serde_json::json!({
        "number": "PHI-DOB", "member_id": "M00099999", "provider_npi": BILLING,
        "start_date": "2026-01-01", "end_date": "2026-12-31", "status": "approved",
        "patient_birth_date": "2015-02-31"
    });
    let r = send(
        "POST",
        &s.url("/v1/authorizations"),
        &[("Content-Type", "application/json")],
        Some(bad.to_string().as_bytes()),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(!r.body.contains("2015-02-31"), "{}", r.body);
    phi.push("2015-02-31".into());
    let billing = billing_token(&s, &id, &secret);
    let sample = std::fs::read_to_string(&files[0]).unwrap();
    let r = submit(&s, &billing, &sample, &[("Idempotency-Key", "phi-1")]);
    assert_eq!(r.status, 200, "{}", r.body);
    // Reasons never name a birth date.
    for b in &births {
        assert!(!r.body.contains(b.as_str()), "birth date {b} in an answer");
    }
    submit(&s, &billing, &sample, &[("Idempotency-Key", "phi-1")]);
    let claim = r.json()["claims"][0]["payer_claim_id"]
        .as_str()
        .unwrap()
        .to_string();
    call(&s, "GET", &format!("/v1/claims/{claim}"), &billing, None);
    let r = post_837(
        &s,
        "/v1/batches",
        &std::fs::read_to_string(&files[1]).unwrap(),
        &[],
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let (console, user, password) = console_and_staff(&db, &["claims:read"]);
    let client = oauth_client(&s, &console, None);
    sign_in(&s, &client, &user, "a wrong password");
    let (code, verifier) = code_for(&s, &client, &user, &password);
    let staff = exchange(&client, &code, Some(verifier)).unwrap();
    call(&s, "GET", &format!("/v1/claims/{claim}"), &staff, None);
    let forbidden = submit(&s, &staff, &sample, &[]);
    assert_eq!(forbidden.status, 403);
    // Nor does the audit trail.
    let audit = call(&s, "GET", "/v1/admin/audit?limit=1000", &s.token, None);
    assert_eq!(audit.status, 200, "{}", audit.body);
    for b in &births {
        assert!(
            !audit.body.contains(b.as_str()),
            "birth date {b} in the audit trail"
        );
    }
    let log = s.log();
    drop(s);
    assert!(log.lines().count() > 20, "a full flow logs: {log}");
    for p in &phi {
        assert!(!log.contains(p.as_str()), "PHI {p:?} in the server log");
    }
}

/// The id of the registered client or user named `name` (admin API).
fn id_named(s: &Server, what: &str, field: &str, name: &str) -> String {
    let list = call(s, "GET", &format!("/v1/admin/{what}"), &s.token, None).json();
    list[what]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c[field] == name)
        .unwrap_or_else(|| panic!("no {what} named {name}: {list}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A refused token: 401 `invalid_token` saying "disabled", in the body and
/// in the challenge.
fn assert_disabled(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.body);
    assert_eq!(r.json()["error"], "invalid_token", "{what}");
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("disabled"), "{what}: {message}");
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains(r#"error="invalid_token""#) && challenge.contains("disabled"),
        "{what}: {challenge}"
    );
}

/// Issue 15 point 1: a disabled client, and every token it was given, is
/// refused on its next request (the token verified and remembered before
/// included); a disabled staff user's token too, and disabling the console
/// refuses every staff token through it. An admin cannot disable the
/// client its own token came from.
fn disabled_clients_and_users_lose_access_at_once(b: Backend) {
    let db = Db::fresh(b, "revoke");
    let s = Server::start(&db, &[]);
    let (id, secret) = add_client(&db, "Riverside", &[BILLING], &["claims:submit"]);
    let token = billing_token(&s, &id, &secret);
    // Verified twice: the second answer came from the verified-token cache.
    for _ in 0..2 {
        assert_eq!(call(&s, "GET", "/v1/rules", &token, None).status, 200);
    }
    let r = call(
        &s,
        "DELETE",
        &format!("/v1/admin/clients/{id}"),
        &s.token,
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_disabled(&call(&s, "GET", "/v1/rules", &token, None), "billing token");
    let x12 = render(&[mri_claim("REVOKED-1", "NONE", "1")]);
    assert_disabled(&submit(&s, &token, &x12, &[]), "billing submission");
    let (err, _) = error_of(
        oauth_client(&s, &id, Some(&secret))
            .exchange_client_credentials()
            .request(&Http::new()),
    );
    assert_eq!(err, BasicErrorResponseType::InvalidClient);

    // A staff user's token, then the console's.
    let (console, user, password) = console_and_staff(&db, &["claims:read", "admin"]);
    let client = oauth_client(&s, &console, None);
    let staff = |s: &Server| {
        let (code, verifier) = code_for(s, &client, &user, &password);
        exchange(&client, &code, Some(verifier)).unwrap()
    };
    let first = staff(&s);
    let second = staff(&s);
    assert_eq!(call(&s, "GET", "/v1/rules", &first, None).status, 200);
    // The staff admin cannot disable the console its own token came from.
    let r = call(
        &s,
        "DELETE",
        &format!("/v1/admin/clients/{console}"),
        &first,
        None,
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("your own token"));
    let user_id = id_named(&s, "users", "username", &user);
    let r = call(
        &s,
        "DELETE",
        &format!("/v1/admin/users/{user_id}"),
        &s.token,
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_disabled(&call(&s, "GET", "/v1/rules", &first, None), "staff token");
    assert_disabled(
        &call(&s, "GET", "/v1/rules", &second, None),
        "second staff token",
    );

    // Another staff member through the console, then the console disabled.
    let other = cli_json(
        &db,
        &[
            "users",
            "add",
            "--username",
            "blake",
            "--role",
            "claims:read",
        ],
    );
    let blake = other["password"].as_str().unwrap().to_string();
    let (code, verifier) = code_for(&s, &client, "blake", &blake);
    let third = exchange(&client, &code, Some(verifier)).unwrap();
    assert_eq!(call(&s, "GET", "/v1/rules", &third, None).status, 200);
    let r = call(
        &s,
        "DELETE",
        &format!("/v1/admin/clients/{console}"),
        &s.token,
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_disabled(&call(&s, "GET", "/v1/rules", &third, None), "console token");

    // The operator cannot disable its own client either; its token still works.
    let operator = id_named(&s, "clients", "name", "test operator");
    let r = call(
        &s,
        "DELETE",
        &format!("/v1/admin/clients/{operator}"),
        &s.token,
        None,
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["error"], "conflict");
    assert_eq!(call(&s, "GET", "/v1/rules", &s.token, None).status, 200);
}

/// Issue 15 point 1 across instances: two `serve` processes on one
/// PostgreSQL database; a client disabled through one is refused by the
/// other within 2 s (printed: the measured delay of each try).
fn revocation_reaches_another_instance() {
    let db = Db::fresh(Backend::Postgres, "revoke2");
    let a = Server::start(&db, &[]);
    let b = Server::start(&db, &[]);
    let mut delays = Vec::new();
    for i in 0..5 {
        let (id, secret) = add_client(&db, &format!("billing-{i}"), &[BILLING], &["claims:submit"]);
        let token = billing_token(&a, &id, &secret);
        // B has verified (and remembered) the token before.
        assert_eq!(call(&b, "GET", "/v1/rules", &token, None).status, 200);
        let r = call(
            &a,
            "DELETE",
            &format!("/v1/admin/clients/{id}"),
            &a.token,
            None,
        );
        assert_eq!(r.status, 204, "{}", r.body);
        let disabled = std::time::Instant::now();
        // The instance it was disabled through refuses it at once.
        assert_disabled(&call(&a, "GET", "/v1/rules", &token, None), "same instance");
        let r = loop {
            let r = call(&b, "GET", "/v1/rules", &token, None);
            if r.status != 200 || disabled.elapsed() > Duration::from_secs(5) {
                break r;
            }
            let_time_pass(Duration::from_millis(5));
        };
        let delay = disabled.elapsed();
        assert_disabled(&r, "other instance");
        delays.push(delay);
    }
    // A staff user signed in through A, using B, disabled through A.
    let (console, user, password) = console_and_staff(&db, &["claims:read"]);
    let client = oauth_client(&a, &console, None);
    let (code, verifier) = code_for(&a, &client, &user, &password);
    let staff = exchange(&client, &code, Some(verifier)).unwrap();
    assert_eq!(call(&b, "GET", "/v1/rules", &staff, None).status, 200);
    let user_id = id_named(&a, "users", "username", &user);
    let r = call(
        &a,
        "DELETE",
        &format!("/v1/admin/users/{user_id}"),
        &a.token,
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let disabled = std::time::Instant::now();
    let r = loop {
        let r = call(&b, "GET", "/v1/rules", &staff, None);
        if r.status != 200 || disabled.elapsed() > Duration::from_secs(5) {
            break r;
        }
        let_time_pass(Duration::from_millis(5));
    };
    assert_disabled(&r, "staff token on the other instance");
    delays.push(disabled.elapsed());
    let ms: Vec<u128> = delays.iter().map(|d| d.as_millis()).collect();
    println!("revocation reached the other instance after (ms; five clients, then a user): {ms:?}");
    assert!(
        delays.iter().all(|d| *d <= Duration::from_secs(2)),
        "{ms:?}"
    );
}

/// A concrete path for a route template (`{x}` becomes `x1`).
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|p| if p.starts_with('{') { "x1" } else { p })
        .collect::<Vec<_>>()
        .join("/")
}

/// Issue 15 point 4: a wrong method is 405 with `Allow` before any
/// authentication, on every route; HEAD is answered wherever GET is;
/// every 401 carries `WWW-Authenticate`; error descriptions are plain
/// words; the metadata declares the `iss` response parameter; a warning
/// at start when the issuer is not an https URL.
fn http_conformance() {
    let db = Db::fresh(Backend::Sqlite, "conform");
    let s = Server::start(&db, &[]);
    let mut paths: Vec<&str> = priorauth::api::routes().iter().map(|r| r.path).collect();
    paths.dedup();
    for path in paths {
        let methods: Vec<String> = priorauth::api::routes()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method.to_ascii_uppercase())
            .collect();
        let here = concrete(path);
        // A method no route takes on this path (`PATCH
        // /v1/authorizations/import` is a PATCH of authorization "import").
        let wrong = ["PATCH", "PUT", "DELETE", "POST", "GET"]
            .into_iter()
            .find(|m| {
                !priorauth::api::routes().iter().any(|r| {
                    r.method.eq_ignore_ascii_case(m) && priorauth::api::path_fits(r.path, &here)
                })
            })
            .unwrap();
        let url = s.url(&here);
        let r = send(wrong, &url, &[("Authorization", "")], None);
        assert_eq!(r.status, 405, "{wrong} {path} without a token: {}", r.body);
        assert_eq!(r.json()["error"], "method_not_allowed");
        let allow = r.header("allow").unwrap_or_default().to_string();
        for m in &methods {
            assert!(allow.contains(m.as_str()), "{path}: Allow {allow}");
        }

        let has_get = priorauth::api::routes()
            .iter()
            .any(|r| r.method == "get" && priorauth::api::path_fits(r.path, &here));
        assert_eq!(allow.contains("HEAD"), has_get, "{path}: Allow {allow}");
        // HEAD: the GET's status and headers, no body.
        let head = send("HEAD", &url, &[], None);
        if has_get {
            let get = send("GET", &url, &[], None);
            assert_eq!(head.status, get.status, "HEAD {path}");
            assert!(head.body.is_empty(), "HEAD {path}: {}", head.body);
            assert_eq!(
                head.header("content-type"),
                get.header("content-type"),
                "HEAD {path}"
            );
        } else {
            assert_eq!(head.status, 405, "HEAD {path}");
        }
    }
    // A percent-encoded path is the path it names, for the 405 too.
    let r = send(
        "DELETE",
        &s.url("/v1/admin/%61udit"),
        &[("Authorization", "")],
        None,
    );
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // A path two templates fit takes the scope of the route the router
    // takes: PATCH /v1/authorizations/import needs auths:write.
    let (reader, reader_secret) = add_client(&db, "reader", &[], &["claims:read"]);
    let reader = billing_token(&s, &reader, &reader_secret);
    let r = call(
        &s,
        "PATCH",
        "/v1/authorizations/import",
        &reader,
        Some(("application/json", b"{}")),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let head = send("HEAD", &s.url("/healthz"), &[("Authorization", "")], None);
    assert_eq!(head.status, 200);
    assert!(
        head.header("content-length").is_some_and(|n| n != "0"),
        "{:?}",
        head.headers
    );

    // Every 401 challenges.
    let challenged = |r: &Reply, what: &str| {
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        assert!(
            r.header("www-authenticate").is_some(),
            "{what}: {:?}",
            r.headers
        );
    };
    challenged(
        &send("GET", &s.url("/v1/rules"), &[("Authorization", "")], None),
        "no token",
    );
    challenged(
        &send("GET", &s.url("/no/such"), &[("Authorization", "")], None),
        "unknown path",
    );
    challenged(&call(&s, "GET", "/v1/rules", "a.b.c", None), "bad token");
    challenged(
        &post_form(
            &s.url("/oauth/token"),
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "x"),
            ]),
        ),
        "token endpoint, secret in the body",
    );
    let (console, user, _) = console_and_staff(&db, &["claims:read"]);
    let signed = sign_in(
        &s,
        &oauth_client(&s, &console, None),
        &user,
        "wrong password",
    );
    assert_eq!(signed.status, 401);
    assert!(signed.challenge.is_some(), "the sign-in form's 401");

    // Plain words, no library internals.
    let internals = [
        "line 1 column",
        "expected one of",
        "HS256",
        "Error(",
        "Json(",
        "Base64",
        "InvalidToken",
    ];
    let plain = |r: &Reply, what: &str| {
        for i in internals {
            assert!(!r.body.contains(i), "{what}: {i:?} in {}", r.body);
        }
        if let Some(h) = r.header("www-authenticate") {
            for i in internals {
                assert!(!h.contains(i), "{what}: {i:?} in {h}");
            }
        }
    };
    let r = call(
        &s,
        "POST",
        "/v1/admin/clients",
        &s.token,
        Some(("application/json", b"not json")),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    plain(&r, "bad JSON");
    let r = call(
        &s,
        "POST",
        "/v1/admin/clients",
        &s.token,
        Some(("application/json", b"")),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    plain(&r, "empty JSON");
    let none_alg = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#)
    );
    for (token, what) in [
        (none_alg.as_str(), "alg none"),
        ("a.b.c", "junk"),
        ("abc", "one part"),
    ] {
        let r = call(&s, "GET", "/v1/rules", token, None);
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        plain(&r, what);
    }
    let r = call(
        &s,
        "POST",
        "/v1/admin/keys/rotate?retire_old=yes",
        &s.token,
        None,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("retire_old must be true or false"),
        "{}",
        r.body
    );
    let r = call(&s, "GET", "/v1/admin/audit?limit=many", &s.token, None);
    assert_eq!(r.status, 400, "{}", r.body);
    plain(&r, "query");
    assert!(!r.body.contains("invalid digit"), "{}", r.body);

    // RFC 8414 / RFC 9207, and the warning about a non-URL issuer.
    let m = send(
        "GET",
        &s.url("/.well-known/oauth-authorization-server"),
        &[],
        None,
    )
    .json();
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert!(
        s.log().contains("PRIORAUTH_ISSUER is not an https URL"),
        "{}",
        s.log()
    );
    let https = Server::start(
        &db,
        &[("PRIORAUTH_ISSUER", "https://priorauth.example.org")],
    );
    assert!(!https.log().contains("PRIORAUTH_ISSUER is not an https URL"));
}

/// Issue 15 point 3: a body that does not arrive within
/// `PRIORAUTH_BODY_TIMEOUT` (a partial body, a trickle) gets a 408 with a
/// JSON error, with a valid token and on an open endpoint alike.
fn slow_bodies_get_408() {
    use std::net::TcpStream;
    let db = Db::fresh(Backend::Sqlite, "slowbody");
    let s = Server::start(&db, &[("PRIORAUTH_BODY_TIMEOUT", "2")]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let answer = |mut stream: TcpStream| {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got);
        String::from_utf8_lossy(&got).to_string()
    };
    // A partial body: 10 of the 1000 bytes declared, then nothing.
    let started = std::time::Instant::now();
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /v1/claims HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/edi-x12\r\nContent-Length: 1000\r\n\r\nISA*00*   ",
        s.token
    )
    .unwrap();
    let text = answer(stream);
    let took = started.elapsed();
    println!("partial body answered after {took:?}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"error\":\"request_timeout\""), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );

    // A trickle: one byte every 300 ms to the token endpoint.
    let started = std::time::Instant::now();
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /oauth/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    )
    .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..100 {
            if writer.write_all(b"a").is_err() {
                break;
            }
            let_time_pass(Duration::from_millis(300));
        }
    });
    let text = answer(stream);
    let took = started.elapsed();
    println!("trickled body answered after {took:?}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    let _ = trickle.join();
    // A body that arrives in time is unaffected.
    let r = submit(
        &s,
        &s.token,
        &render(&[mri_claim("ONTIME-1", "NONE", "1")]),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// `POST /v1/admin/users/{id}/password`: the old password stops signing
/// in, the new one (given or generated) does; the reset is audited, and
/// the audit log filters by actor, action and time range.
fn admins_reset_passwords_and_filter_the_audit_log(b: Backend) {
    let db = Db::fresh(b, "reset");
    let s = Server::start(&db, &[]);
    let (console, user, password) = console_and_staff(&db, &["claims:read", "admin"]);
    let client = oauth_client(&s, &console, None);
    let id = id_named(&s, "users", "username", &user);
    let path = format!("/v1/admin/users/{id}/password");
    fn json(body: &str) -> Option<(&'static str, &[u8])> {
        Some(("application/json", body.as_bytes()))
    }

    let r = call(&s, "POST", &path, &s.token, json(r#"{"password":"short"}"#));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("at least 12 characters"), "{}", r.body);
    let r = call(&s, "POST", &path, &s.token, json(r#"{"pasword":"x"}"#));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = call(
        &s,
        "POST",
        "/v1/admin/users/nobody/password",
        &s.token,
        None,
    );
    assert_eq!(r.status, 404, "{}", r.body);

    // Generated: shown in the answer; the old password no longer works.
    let r = call(&s, "POST", &path, &s.token, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let generated = r.json()["password"].as_str().unwrap().to_string();
    assert!(generated.len() >= 20, "{generated}");
    assert_eq!(sign_in(&s, &client, &user, &password).status, 401);
    let (code, verifier) = code_for(&s, &client, &user, &generated);
    let staff = exchange(&client, &code, Some(verifier)).unwrap();
    // Given: that one works, and the answer has no password.
    let chosen = "correct horse battery staple";
    let r = call(
        &s,
        "POST",
        &path,
        &staff,
        json(&format!(r#"{{"password":"{chosen}"}}"#)),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["password"], Value::Null);
    assert_eq!(sign_in(&s, &client, &user, &generated).status, 401);
    assert_eq!(sign_in(&s, &client, &user, chosen).status, 303);

    // The audit log: the two resets, by whom; filters narrow it.
    let audit = |q: &str| -> Vec<Value> {
        let r = call(&s, "GET", &format!("/v1/admin/audit?{q}"), &s.token, None);
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        r.json()["entries"].as_array().unwrap().clone()
    };
    let resets = audit("action=user.password");
    assert_eq!(resets.len(), 2, "{resets:?}");
    assert!(resets.iter().all(|e| e["object_id"] == id.as_str()));
    let by_staff = audit(&format!("action=user.password&actor=user:{id}"));
    assert_eq!(by_staff.len(), 1, "{by_staff:?}");
    let at = by_staff[0]["at"].as_str().unwrap().to_string();
    assert_eq!(audit(&format!("actor=user:{id}&since={at}")).len(), 1);
    assert!(audit(&format!("actor=user:{id}&until={at}")).is_empty());
    let day = &at[..10];
    assert_eq!(
        audit(&format!("action=user.password&since={day}&until={day}")).len(),
        2
    );
    assert!(audit("since=2999-01-01").is_empty());
    for bad in [
        "since=yesterday",
        "until=2026-02-30",
        "since=2026-03-04T25:00",
    ] {
        let r = call(&s, "GET", &format!("/v1/admin/audit?{bad}"), &s.token, None);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
}
