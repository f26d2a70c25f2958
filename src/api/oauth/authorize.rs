//! The authorization endpoint (RFC 6749 §4.1, PKCE S256): the staff
//! sign-in page, the checks on the request, and the redirect with a code.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::*;

/// The parameters of an authorization request.
struct AuthorizeRequest {
    client: ClientRecord,
    redirect_uri: String,
    state: Option<String>,
    scopes: Vec<Scope>,
    challenge: String,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        // RFC 9110 §15.5.2: every 401 carries a challenge; this one is the
        // sign-in form itself (no HTTP authentication scheme applies).
        r.insert_header(("WWW-Authenticate", r#"Form realm="priorauth""#));
    }
    r.content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · priorauth</title>\
             <style>body{{font-family:sans-serif;max-width:28em;margin:4em auto}}label{{display:block;margin:.8em 0}}input{{width:100%}}</style>\
             </head><body><h1>{t}</h1>{body}</body></html>",
            t = escape(title)
        ))
}

/// An error that must not go to the redirect URI (unknown client, or a
/// redirect URI that is not registered: RFC 6749 §4.1.2.1).
fn no_redirect(message: &str) -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        "Sign-in request refused",
        &format!("<p>{}</p>", escape(message)),
    )
}

fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let q = serde_urlencoded::to_string(params).unwrap_or_default();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{q}")
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// An error sent back to the client's redirect URI with its `state`.
fn redirect_error(
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &str,
    error: &str,
    description: &str,
) -> HttpResponse {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    redirect(&with_query(redirect_uri, &params))
}

/// Checks an authorization request; `Err` is the answer to give.
async fn authorize_request(
    state: &AppState,
    p: &HashMap<String, String>,
) -> Result<AuthorizeRequest, HttpResponse> {
    let get = |k: &str| p.get(k).map(String::as_str);
    let Some(client_id) = get("client_id") else {
        return Err(no_redirect("client_id is missing."));
    };
    let client = match state.store.client(client_id).await {
        Ok(Some(c)) if !c.disabled && !c.redirect_uris.is_empty() => c,
        Ok(_) => {
            return Err(no_redirect(
                "This client is not registered for staff sign-in.",
            ))
        }
        Err(e) => {
            tracing::error!(cause = %e, "authorization endpoint failed");
            return Err(no_redirect("The sign-in service failed; try again."));
        }
    };
    // Exact string match: no prefixes, no wildcards, no normalising.
    let Some(redirect_uri) =
        get("redirect_uri").filter(|u| client.redirect_uris.iter().any(|r| r == u))
    else {
        return Err(no_redirect(
            "redirect_uri is missing or is not exactly one registered for this client.",
        ));
    };
    let st = get("state");
    let issuer = state.keys.issuer();
    let refuse = |error: &str, d: &str| redirect_error(redirect_uri, st, issuer, error, d);
    if get("response_type") != Some("code") {
        return Err(refuse(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    if get("code_challenge_method") != Some("S256") {
        return Err(refuse(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        ));
    }
    let challenge = get("code_challenge").unwrap_or_default();
    let ok_challenge = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok_challenge {
        return Err(refuse(
            "invalid_request",
            "code_challenge must be the 43-character base64url SHA-256 of the verifier",
        ));
    }
    let allowed = Scope::parse_all(client.scopes.iter().map(String::as_str)).unwrap_or_default();
    let scopes = match get("scope") {
        None => allowed.clone(),
        Some(s) => match Scope::parse_all(s.split_whitespace()) {
            Ok(asked) => asked,
            Err(e) => return Err(refuse("invalid_scope", &e)),
        },
    };
    if let Some(extra) = scopes.iter().find(|s| !allowed.contains(s)) {
        return Err(refuse(
            "invalid_scope",
            &format!(
                "this client may not ask for {extra}; it is registered for {}",
                Scope::join(&allowed)
            ),
        ));
    }
    Ok(AuthorizeRequest {
        redirect_uri: redirect_uri.to_string(),
        state: st.map(str::to_string),
        scopes,
        challenge: challenge.to_string(),
        client,
    })
}

fn sign_in_form(p: &HashMap<String, String>, r: &AuthorizeRequest, notice: &str) -> String {
    let mut hidden = String::new();
    for k in [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    ] {
        if let Some(v) = p.get(k) {
            hidden.push_str(&format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                escape(v)
            ));
        }
    }
    let notice = if notice.is_empty() {
        String::new()
    } else {
        format!("<p role=\"alert\"><strong>{}</strong></p>", escape(notice))
    };
    format!(
        "<p>{} asks to act for you with: {}.</p>{notice}\
         <form method=\"post\" action=\"/oauth/authorize\">{hidden}\
         <label>Username <input name=\"username\" autocomplete=\"username\" required></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Sign in</button></form>",
        escape(&r.client.name),
        escape(&Scope::join(&r.scopes))
    )
}

/// `GET /oauth/authorize`: the sign-in page.
pub(in crate::api) async fn authorize_page(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let p = match form(req.query_string().as_bytes()) {
        Ok(p) => p,
        Err(e) => return no_redirect(&e.description),
    };
    match authorize_request(&state, &p).await {
        Ok(r) => page(
            StatusCode::OK,
            "Sign in to priorauth",
            &sign_in_form(&p, &r, ""),
        ),
        Err(answer) => answer,
    }
}

/// `POST /oauth/authorize`: checks the password and redirects with a code.
pub(in crate::api) async fn authorize_sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    if !is_form(req.headers()) {
        return no_redirect("Send the sign-in form as application/x-www-form-urlencoded.");
    }
    let body = match form_body(&req, payload).await {
        Ok(b) => b,
        Err(e) => {
            let mut answer = no_redirect(&e.description);
            *answer.status_mut() = e.status;
            return answer;
        }
    };
    let p = match form(&body) {
        Ok(p) => p,
        Err(e) => return no_redirect(&e.description),
    };
    let r = match authorize_request(&state, &p).await {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    let username = p.get("username").map(String::as_str).unwrap_or("");
    let password = p.get("password").cloned().unwrap_or_default();
    if username.is_empty() || username.len() > MAX_NAME {
        return page(
            StatusCode::UNAUTHORIZED,
            "Sign in to priorauth",
            &sign_in_form(&p, &r, "Give your username and password."),
        );
    }
    let subject = format!("user:{username}");
    let now = now_ms();
    let server_failed = |e: &dyn std::fmt::Display| {
        tracing::error!(cause = %e, "sign-in failed");
        page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "<p>The sign-in service failed; try again.</p>",
        )
    };
    match state.store.locked_until(&subject, now).await {
        Ok(Some(until)) => {
            let e = locked("user", until, now);
            let mut answer = page(
                StatusCode::TOO_MANY_REQUESTS,
                "Locked out",
                &format!("<p>{}</p>", escape(&e.description)),
            );
            answer.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(e.retry_after.unwrap_or(1)),
            );
            return answer;
        }
        Ok(None) => {}
        Err(e) => return server_failed(&e),
    }
    let user = match state.store.user_by_name(username).await {
        Ok(u) => u.filter(|u| !u.disabled),
        Err(e) => return server_failed(&e),
    };
    let ok = verify_off_thread(password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let Some(user) = user.filter(|_| ok) else {
        let mut notice = "The username or password is wrong.".to_string();
        match count_failure(&state, &subject, now).await {
            Ok(Some(until)) => notice = locked("user", until, now).description,
            Ok(None) => {}
            Err(e) => return server_failed(&e),
        }
        return page(
            StatusCode::UNAUTHORIZED,
            "Sign in to priorauth",
            &sign_in_form(&p, &r, &notice),
        );
    };
    // The token gets what the client asked for, the client may have and the
    // user's roles allow.
    let allowed = Scope::parse_all(r.client.scopes.iter().map(String::as_str)).unwrap_or_default();
    let granted: Vec<Scope> = r
        .scopes
        .iter()
        .copied()
        .filter(|s| allowed.contains(s) && user.roles.iter().any(|role| role == s.as_str()))
        .collect();
    let issuer = state.keys.issuer().to_string();
    if granted.is_empty() {
        return redirect_error(
            &r.redirect_uri,
            r.state.as_deref(),
            &issuer,
            "access_denied",
            "the user has none of the requested scopes",
        );
    }
    let code = match random_token(32) {
        Ok(c) => c,
        Err(e) => return server_failed(&e),
    };
    let record = CodeRecord {
        code_hash: sha256_hex(&code),
        grant_id: uuid::Uuid::new_v4().to_string(),
        client_id: r.client.id.clone(),
        user_id: user.id.clone(),
        redirect_uri: r.redirect_uri.clone(),
        scopes: granted.iter().map(|s| s.as_str().to_string()).collect(),
        challenge: r.challenge.clone(),
        expires_ms: now + state.config.access.code_seconds * 1000,
    };
    if let Err(e) = state.store.add_code(&record).await {
        return server_failed(&e);
    }
    tracing::info!(client = %r.client.id, user = %user.id, "staff signed in; code issued");
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = r.state.as_deref() {
        params.push(("state", s));
    }
    params.push(("iss", issuer.as_str()));
    redirect(&with_query(&r.redirect_uri, &params))
}
