//! openapi/openapi.yaml against the server: the same routes both ways, and
//! every JSON answer of a real session (on SQLite and on PostgreSQL)
//! valid under the schema the file declares for its path, method, status
//! and media type. An answer with a status or media type the file does
//! not list is a failure too, and so is a missing header the file marks
//! `required` or a documented header whose value does not fit its schema.
//! Each operation's `security` is the access the route table gives it.
//!
//! The schemas are checked by a small validator written here for the
//! subset of OpenAPI 3.0 the file uses (`type`, `properties`, `required`,
//! `additionalProperties`, `items`, `$ref`, `nullable`, `enum`, `oneOf`,
//! `format`, `minimum`); a keyword it does not know is an error, so the
//! file cannot say more than is checked.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::adjudication::BILLING;
use crate::helpers::root;
use crate::render::{interchange, render, transaction_set};
use crate::service::{batch_file, mri_claim, send, Backend, Db, Reply, Server};
use priorauth::model::ClaimKind;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Keywords the validator enforces.
const CHECKED: [&str; 11] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "nullable",
    "enum",
    "oneOf",
    "format",
    "minimum",
    "$ref",
];

/// Keywords that only annotate.
const ANNOTATIONS: [&str; 4] = ["description", "example", "default", "title"];

fn spec_text() -> String {
    std::fs::read_to_string(root().join("openapi/openapi.yaml")).unwrap()
}

pub fn spec() -> Value {
    serde_yaml::from_str(&spec_text())
        .unwrap_or_else(|e| panic!("openapi/openapi.yaml is not valid YAML: {e}"))
}

/// `(method, path)` of every operation in the file.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("openapi.yaml has paths");
    let mut ops = BTreeSet::new();
    for (path, item) in paths {
        for key in item.as_object().expect("a path item is a map").keys() {
            if METHODS.contains(&key.as_str()) {
                ops.insert((key.clone(), path.clone()));
            }
        }
    }
    ops
}

fn list(items: &BTreeSet<(String, String)>) -> String {
    if items.is_empty() {
        return "  (none)".into();
    }
    items
        .iter()
        .map(|(m, p)| format!("  {} {p}", m.to_uppercase()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn routes_match_the_file() {
    let doc = spec();
    assert_eq!(doc["openapi"], "3.0.3");
    let routes = priorauth::api::routes();
    let served: BTreeSet<(String, String)> = routes
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(served.len(), routes.len(), "a route is registered twice");
    let documented = documented_operations(&doc);
    let undocumented: BTreeSet<_> = served.difference(&documented).cloned().collect();
    let not_served: BTreeSet<_> = documented.difference(&served).cloned().collect();
    assert!(
        undocumented.is_empty() && not_served.is_empty(),
        "openapi/openapi.yaml and priorauth::api::routes() differ.\n\
         Served but missing from openapi.yaml:\n{}\n\
         In openapi.yaml but not served:\n{}",
        list(&undocumented),
        list(&not_served)
    );
    // Each operation declares exactly the path parameters of its template.
    for (method, path) in &documented {
        let item = &doc["paths"][path];
        let want: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_string)
            .collect();
        let declared: BTreeSet<String> = [&item["parameters"], &item[method]["parameters"]]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            declared,
            want,
            "{} {path}: path parameters in openapi.yaml",
            method.to_uppercase()
        );
    }
}

/// The scope sets of a `security` list: one set per requirement object
/// (any one of them is enough), each naming the `oauth2` scopes it needs.
fn requirements(security: &Value, at: &str) -> Vec<BTreeSet<String>> {
    let list = security
        .as_array()
        .unwrap_or_else(|| panic!("{at}: security is not a list: {security}"));
    list.iter()
        .map(|req| {
            let req = req
                .as_object()
                .unwrap_or_else(|| panic!("{at}: a security requirement is not a map"));
            assert_eq!(
                req.keys().collect::<Vec<_>>(),
                ["oauth2"],
                "{at}: a requirement names the oauth2 scheme only"
            );
            req["oauth2"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: the scopes are not a list"))
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// `components.securitySchemes` describes the token server, and each
/// operation's `security` (its own, or the document's) is what the route
/// table demands: Public ↔ `[]`, Token ↔ one requirement without scopes,
/// AnyOf(scopes) ↔ one requirement per scope. Guarded operations document
/// the 401 (and, when a scope is needed, the 403) with the codes the guard
/// answers.
#[test]
fn security_matches_the_route_table() {
    use priorauth::access::Scope;
    use priorauth::api::Access;

    let doc = spec();
    let v = Validator::new(&doc);
    let scheme = &doc["components"]["securitySchemes"]["oauth2"];
    assert_eq!(scheme["type"], "oauth2");
    let all: BTreeSet<String> = Scope::ALL.iter().map(|s| s.as_str().to_string()).collect();
    for flow in ["clientCredentials", "authorizationCode"] {
        let f = &scheme["flows"][flow];
        assert_eq!(f["tokenUrl"], "/oauth/token", "{flow}");
        let scopes = f["scopes"].as_object().unwrap();
        assert_eq!(
            scopes.keys().cloned().collect::<BTreeSet<_>>(),
            all,
            "{flow}: the scopes there are"
        );
        for (name, d) in scopes {
            assert!(
                d.as_str().is_some_and(|d| !d.trim().is_empty()),
                "{flow}: scope {name} has no description"
            );
        }
    }
    assert_eq!(
        scheme["flows"]["authorizationCode"]["authorizationUrl"],
        "/oauth/authorize"
    );
    let global = requirements(&doc["security"], "security");
    assert_eq!(
        global,
        [BTreeSet::new()],
        "the document's security: any token"
    );

    let error = |code: &str| json!({"error": code, "message": "…"});
    for r in priorauth::api::routes() {
        let at = format!("{} {}", r.method.to_uppercase(), r.path);
        let op = &doc["paths"][r.path][r.method];
        let security = op.get("security").unwrap_or(&doc["security"]);
        let mut got = requirements(security, &at);
        let mut want: Vec<BTreeSet<String>> = match r.access {
            Access::Public => vec![],
            Access::Token => vec![BTreeSet::new()],
            Access::AnyOf(scopes) => scopes
                .iter()
                .map(|s| BTreeSet::from([s.as_str().to_string()]))
                .collect(),
        };
        got.sort();
        want.sort();
        assert_eq!(got, want, "{at}: security in openapi.yaml ({:?})", r.access);
        if r.access == Access::Public {
            continue;
        }
        // The answers of the guard are documented, with schemas that take
        // the codes it sends.
        let answer = |status: &str| {
            let resp = op["responses"]
                .get(status)
                .unwrap_or_else(|| panic!("{at}: a guarded operation documents {status}"));
            let resp = v.resolve(resp).unwrap();
            let schema = &resp["content"]["application/json"]["schema"];
            assert!(!schema.is_null(), "{at} {status}: a JSON body");
            // The bearer challenge: always there on 401; on 403 with
            // insufficient_scope (`conform` checks the answers).
            let challenge = &resp["headers"]["WWW-Authenticate"];
            assert!(
                challenge.is_object() && (status != "401" || challenge["required"] == true),
                "{at} {status}: the WWW-Authenticate header is documented"
            );
            schema
        };
        let unauthorized = answer("401");
        for code in ["unauthorized", "invalid_token", "invalid_request"] {
            v.check(unauthorized, &error(code), "$")
                .unwrap_or_else(|e| panic!("{at} 401 {code}: {e}"));
        }
        if let Access::AnyOf(_) = r.access {
            v.check(answer("403"), &error("insufficient_scope"), "$")
                .unwrap_or_else(|e| panic!("{at} 403: {e}"));
        }
    }
}

// ---- the validator ----

/// Checks JSON values against the schemas of one OpenAPI document.
pub struct Validator<'a> {
    doc: &'a Value,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<'a> Validator<'a> {
    pub fn new(doc: &'a Value) -> Self {
        Validator { doc }
    }

    /// The value a local `$ref` (`#/components/...`) points at.
    fn target(&self, r: &str) -> Result<&'a Value, String> {
        r.strip_prefix('#')
            .and_then(|p| self.doc.pointer(p))
            .ok_or_else(|| format!("$ref {r} points at nothing"))
    }

    /// Follows `$ref`s to a schema (or response) object.
    fn resolve(&self, mut v: &'a Value) -> Result<&'a Value, String> {
        for _ in 0..32 {
            let Some(r) = v.get("$ref") else {
                return Ok(v);
            };
            if v.as_object().is_some_and(|m| m.len() > 1) {
                return Err(format!(
                    "$ref {r} has sibling keywords, which OpenAPI 3.0 ignores"
                ));
            }
            v = self.target(r.as_str().ok_or("$ref is not a string")?)?;
        }
        Err("$ref chain too long".into())
    }

    /// `Ok` when `value` fits `schema`; otherwise the JSON path (`$.a[0].b`)
    /// of the first mismatch and what is wrong there.
    pub fn check(&self, schema: &'a Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema).map_err(|e| format!("{at}: {e}"))?;
        let s = schema
            .as_object()
            .ok_or_else(|| format!("{at}: schema is not a map: {schema}"))?;
        for key in s.keys() {
            if !CHECKED.contains(&key.as_str()) && !ANNOTATIONS.contains(&key.as_str()) {
                return Err(format!(
                    "{at}: schema keyword `{key}` is not checked by this validator"
                ));
            }
        }
        if value.is_null() {
            return if s.get("nullable") == Some(&Value::Bool(true)) {
                Ok(())
            } else {
                Err(format!("{at}: null, and the schema is not nullable"))
            };
        }
        if let Some(branches) = s.get("oneOf") {
            let branches = branches
                .as_array()
                .ok_or(format!("{at}: oneOf is not a list"))?;
            let results: Vec<Result<(), String>> =
                branches.iter().map(|b| self.check(b, value, at)).collect();
            let ok = results.iter().filter(|r| r.is_ok()).count();
            if ok == 0 {
                let why: Vec<String> = results.into_iter().filter_map(Result::err).collect();
                return Err(format!(
                    "{at}: matches no branch of oneOf:\n    {}",
                    why.join("\n    ")
                ));
            }
            if ok > 1 {
                return Err(format!(
                    "{at}: matches {ok} branches of oneOf (must be one)"
                ));
            }
        }
        if let Some(t) = s.get("type") {
            let t = t.as_str().ok_or(format!("{at}: type is not a string"))?;
            let fits = match t {
                "integer" => kind(value) == "integer",
                "number" => value.is_number(),
                other => kind(value) == other,
            };
            if !fits {
                return Err(format!(
                    "{at}: expected {t}, found {}: {value}",
                    kind(value)
                ));
            }
        }
        if let Some(options) = s.get("enum") {
            let options = options
                .as_array()
                .ok_or(format!("{at}: enum is not a list"))?;
            if !options.contains(value) {
                return Err(format!("{at}: {value} is not one of {}", json!(options)));
            }
        }
        if let (Some(f), Some(text)) = (s.get("format"), value.as_str()) {
            check_format(f.as_str().unwrap_or_default(), text).map_err(|e| format!("{at}: {e}"))?;
        }
        if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), value.as_f64()) {
            if n < min {
                return Err(format!("{at}: {n} is below the minimum {min}"));
            }
        }
        if let Value::Object(fields) = value {
            if let Some(required) = s.get("required") {
                for name in required
                    .as_array()
                    .ok_or(format!("{at}: required is not a list"))?
                {
                    let name = name.as_str().unwrap_or_default();
                    if !fields.contains_key(name) {
                        return Err(format!("{at}: required property `{name}` is missing"));
                    }
                }
            }
            let props = s.get("properties");
            for (name, v) in fields {
                let here = format!("{at}.{name}");
                match (
                    props.and_then(|p| p.get(name)),
                    s.get("additionalProperties"),
                ) {
                    (Some(p), _) => self.check(p, v, &here)?,
                    (None, Some(Value::Bool(false))) => {
                        return Err(format!(
                            "{here}: property not in the schema (additionalProperties: false)"
                        ))
                    }
                    (None, Some(extra @ Value::Object(_))) => self.check(extra, v, &here)?,
                    (None, _) => {}
                }
            }
        }
        if let (Some(items), Value::Array(values)) = (s.get("items"), value) {
            for (i, v) in values.iter().enumerate() {
                self.check(items, v, &format!("{at}[{i}]"))?;
            }
        }
        Ok(())
    }

    /// Every keyword in `schema` and below is one the validator checks, and
    /// every `$ref` resolves.
    pub fn lint(&self, schema: &'a Value, at: &str) -> Result<(), String> {
        if let Some(r) = schema.get("$ref") {
            self.resolve(schema).map_err(|e| format!("{at}: {e}"))?;
            return r
                .as_str()
                .map(|_| ())
                .ok_or_else(|| format!("{at}: $ref is not a string"));
        }
        let s = schema
            .as_object()
            .ok_or_else(|| format!("{at}: schema is not a map"))?;
        for key in s.keys() {
            if !CHECKED.contains(&key.as_str()) && !ANNOTATIONS.contains(&key.as_str()) {
                return Err(format!(
                    "{at}: schema keyword `{key}` is not checked by this validator"
                ));
            }
        }
        if let Some(f) = s.get("format").and_then(Value::as_str) {
            if !["date", "date-time", "decimal", "uuid", "binary"].contains(&f) {
                return Err(format!("{at}: format {f} is not checked by this validator"));
            }
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (name, p) in props {
                self.lint(p, &format!("{at}.properties.{name}"))?;
            }
        }
        if let Some(items) = s.get("items") {
            self.lint(items, &format!("{at}.items"))?;
        }
        if let Some(extra @ Value::Object(_)) = s.get("additionalProperties") {
            self.lint(extra, &format!("{at}.additionalProperties"))?;
        }
        for (i, b) in s
            .get("oneOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.lint(b, &format!("{at}.oneOf[{i}]"))?;
        }
        Ok(())
    }
}

fn check_format(format: &str, text: &str) -> Result<(), String> {
    let ok = match format {
        "date" => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        "date-time" => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        "decimal" => rust_decimal::Decimal::from_str(text).is_ok(),
        "uuid" => uuid::Uuid::parse_str(text).is_ok(),
        "binary" => true,
        other => return Err(format!("format {other} is not checked by this validator")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{text:?} is not a {format}"))
    }
}

/// The `error` codes an API error body may carry with each status.
fn error_code(status: u16) -> Option<&'static [&'static str]> {
    Some(match status {
        400 => &["bad_request"],
        401 => &["unauthorized", "invalid_token", "invalid_request"],
        403 => &["insufficient_scope", "forbidden"],
        404 => &["not_found"],
        405 => &["method_not_allowed"],
        408 => &["request_timeout"],
        409 => &["conflict"],
        413 => &["payload_too_large"],
        415 => &["unsupported_media_type"],
        422 => &["unprocessable"],
        500 => &["internal"],
        503 => &["unavailable"],
        _ => return None,
    })
}

/// The RFC 6749 §5.2 `error` codes the token endpoint may answer with each
/// status (a locked-out client is a 401 with Retry-After).
fn oauth_error_code(status: u16) -> Option<&'static [&'static str]> {
    Some(match status {
        400 => &[
            "invalid_request",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
        ],
        401 => &["invalid_client"],
        413 => &["invalid_request"],
        500 => &["server_error"],
        _ => return None,
    })
}

/// The OAuth endpoints answer RFC 6749 bodies (and HTML), not the API's
/// `{"error", "message"}`.
fn is_oauth(path: &str) -> bool {
    path.starts_with("/oauth/")
}

#[test]
fn validator_rejects_drift() {
    let doc = spec();
    let v = Validator::new(&doc);
    let auth = json!({"$ref": "#/components/schemas/Authorization"});
    let good = json!({
        "number": "A1", "member_id": "M1", "provider_npi": "1234567893",
        "codes": "70551", "units": "4", "units_used": "1",
        "start_date": "2026-01-01", "end_date": "2026-12-31",
        "status": "approved", "patient_birth_date": null, "unit_type": "units",
        "units_remaining": "3"
    });
    v.check(&auth, &good, "$").unwrap();
    let mut unlimited = good.clone();
    unlimited["units"] = Value::Null;
    unlimited["units_remaining"] = Value::Null;
    v.check(&auth, &unlimited, "$").unwrap();

    let fails = |value: &Value, want: &str| {
        let e = v.check(&auth, value, "$").unwrap_err();
        assert!(e.contains(want), "{e:?} should mention {want:?}");
    };
    // An extra property.
    let mut extra = good.clone();
    extra["colour"] = json!("red");
    fails(&extra, "$.colour: property not in the schema");
    // A missing required field.
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("units_remaining");
    fails(&missing, "required property `units_remaining` is missing");
    // A wrong type: a decimal as a JSON number.
    let mut number = good.clone();
    number["units_used"] = json!(1);
    fails(&number, "$.units_used: expected string, found integer");
    // null where it is not nullable, a word outside the enum, a bad format.
    let mut null = good.clone();
    null["member_id"] = Value::Null;
    fails(&null, "$.member_id: null");
    let mut word = good.clone();
    word["status"] = json!("maybe");
    fails(&word, "$.status: \"maybe\" is not one of");
    let mut date = good.clone();
    date["end_date"] = json!("2026-02-30");
    fails(&date, "$.end_date: \"2026-02-30\" is not a date");
    let mut dec = good.clone();
    dec["units"] = json!("four");
    fails(&dec, "$.units: \"four\" is not a decimal");

    // The path of a mismatch deep inside an answer, through $ref and items.
    let answer = json!({"$ref": "#/components/schemas/Answer"});
    let line = json!({
        "line": 1, "procedure": "70551", "revenue_code": null, "modifiers": [],
        "service_date": "2026-03-04", "units": "2", "charge": "2400.00",
        "decision": "partial", "rule": "5.1.2-MRI", "authorization": "A1",
        "suggestion": null, "exemption": null, "units_approved": "1", "units_denied": "1",
        "adjustments": [{"group": "CO", "carc": "198", "amount": "1200.00", "units": "1"}],
        "remarks": [], "reason": "…"
    });
    let mut a = json!({
        "rule_set": "2026.11",
        "claims": [{"claim_id": "C1", "payer_claim_id": "df71c3f2-fe4a-5c74-99ef-c86c3c96e730",
                    "status": "partial", "lines": [line]}],
        "rejected": []
    });
    v.check(&answer, &a, "$").unwrap();
    a["claims"][0]["lines"][0]["adjustments"][0]["carc"] = json!(198);
    let e = v.check(&answer, &a, "$").unwrap_err();
    assert!(
        e.starts_with("$.claims[0].lines[0].adjustments[0].carc: expected string"),
        "{e}"
    );

    // oneOf: exactly one branch.
    let check = json!({"$ref": "#/components/schemas/RuleCheck"});
    v.check(
        &check,
        &json!({"rule_set": "x", "requires_authorization": false, "rule": null}),
        "$",
    )
    .unwrap();
    let e = v
        .check(
            &check,
            &json!({"rule_set": "x", "requires_authorization": false, "rule": "R"}),
            "$",
        )
        .unwrap_err();
    assert!(e.contains("matches no branch of oneOf"), "{e}");

    // A keyword the validator does not enforce is refused, not ignored.
    let pattern = json!({"type": "string", "pattern": "^[0-9]{10}$"});
    let e = v.check(&pattern, &json!("12"), "$").unwrap_err();
    assert!(e.contains("`pattern` is not checked"), "{e}");
}

/// Every schema in the file (components and inline ones in responses) uses
/// only keywords the validator enforces, and every `$ref` resolves.
#[test]
fn the_file_uses_only_what_the_validator_checks() {
    let doc = spec();
    let v = Validator::new(&doc);
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        v.lint(schema, &format!("components.schemas.{name}"))
            .unwrap();
    }
    for (method, path) in documented_operations(&doc) {
        let op = &doc["paths"][&path][&method];
        for (status, response) in op["responses"].as_object().unwrap() {
            let at = format!("{} {path} {status}", method.to_uppercase());
            assert!(
                status.parse::<u16>().is_ok(),
                "{at}: a status code, not a default or range"
            );
            let response = v.resolve(response).unwrap_or_else(|e| panic!("{at}: {e}"));
            for (media, m) in response["content"].as_object().into_iter().flatten() {
                v.lint(&m["schema"], &format!("{at} {media}")).unwrap();
            }
            // Header values are checked too (`conform`).
            for (name, h) in response["headers"].as_object().into_iter().flatten() {
                v.lint(&h["schema"], &format!("{at} header {name}"))
                    .unwrap();
            }
        }
    }
}

// ---- the server against the file ----

/// A server and the file, with every call's answer checked against it.
struct Api<'a> {
    server: &'a Server,
    doc: &'a Value,
    v: Validator<'a>,
    /// (method, path template, status) of every answer seen.
    seen: RefCell<BTreeSet<(String, String, u16)>>,
}

impl<'a> Api<'a> {
    fn new(server: &'a Server, doc: &'a Value) -> Self {
        Api {
            server,
            doc,
            v: Validator::new(doc),
            seen: RefCell::new(BTreeSet::new()),
        }
    }

    /// The template in the file a concrete path answers to for `method`:
    /// of those that fit, the one with the most literal segments
    /// (`/v1/rules/check` before a `/v1/rules/{x}`).
    fn template(&self, method: &str, path: &str) -> Option<String> {
        documented_operations(self.doc)
            .into_iter()
            .filter(|(m, t)| m == method && priorauth::api::path_fits(t, path))
            .max_by_key(|(_, t)| t.split('/').filter(|s| !s.starts_with('{')).count())
            .map(|(_, t)| t)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let reply = send(method, &self.server.url(path), headers, body);
        self.conform(&method.to_lowercase(), path, &reply);
        reply
    }

    /// As `call`, but a redirect is answered, not followed (the sign-in
    /// sends the browser to the client's redirect URI, which nothing
    /// serves here), and no token goes along unless `headers` has one.
    fn get(&self, path: &str) -> Reply {
        self.call("GET", path, &[], None)
    }

    /// A call without a token.
    fn anonymous(&self, method: &str, path: &str) -> Reply {
        self.call(method, path, &[("Authorization", "")], None)
    }

    /// A call with another bearer token.
    fn with_token(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let auth = format!("Bearer {token}");
        let mut h = vec![("Authorization", auth.as_str())];
        if body.is_some() {
            h.push(("Content-Type", "application/json"));
        }
        let body = body.map(Value::to_string);
        self.call(method, path, &h, body.as_deref().map(str::as_bytes))
    }

    /// A form post (the OAuth endpoints); no bearer token goes along, so
    /// `headers` may bring HTTP Basic client credentials.
    fn form(&self, path: &str, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(params).unwrap();
        let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            h.push(("Authorization", ""));
        }
        h.extend_from_slice(headers);
        self.call("POST", path, &h, Some(body.as_bytes()))
    }

    fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Reply {
        self.call("POST", path, &[("Content-Type", content_type)], Some(body))
    }

    fn json(&self, method: &str, path: &str, body: &Value) -> Reply {
        self.call(
            method,
            path,
            &[("Content-Type", "application/json")],
            Some(body.to_string().as_bytes()),
        )
    }

    fn x12(&self, path: &str, x12: &str, headers: &[(&str, &str)]) -> Reply {
        let mut h = vec![("Content-Type", "application/edi-x12")];
        h.extend_from_slice(headers);
        self.call("POST", path, &h, Some(x12.as_bytes()))
    }

    /// Fails unless the answer is one the file describes.
    fn conform(&self, method: &str, path: &str, reply: &Reply) {
        let bare = path.split('?').next().unwrap_or(path);
        let call = format!("{} {path} -> {}", method.to_uppercase(), reply.status);
        let response = match self.template(method, bare) {
            Some(t) => {
                self.seen
                    .borrow_mut()
                    .insert((method.to_string(), t.clone(), reply.status));
                let op = &self.doc["paths"][&t][method];
                let Some(r) = op["responses"].get(reply.status.to_string()) else {
                    let documented: Vec<&String> =
                        op["responses"].as_object().unwrap().keys().collect();
                    panic!(
                        "{call}: status {} of {} {t} is not in openapi.yaml (it lists {documented:?})\nbody: {}",
                        reply.status,
                        method.to_uppercase(),
                        cut(&reply.body)
                    );
                };
                self.v.resolve(r).unwrap()
            }
            None => {
                // No operation: a known path with another method is a 405,
                // anything else a 404, both as the file's shared responses.
                let known = documented_operations(self.doc)
                    .iter()
                    .any(|(_, t)| priorauth::api::path_fits(t, bare));
                let (status, name) = if known {
                    (405, "MethodNotAllowed")
                } else {
                    (404, "NotFound")
                };
                assert_eq!(
                    reply.status,
                    status,
                    "{call}: openapi.yaml has no such operation\nbody: {}",
                    cut(&reply.body)
                );
                &self.doc["components"]["responses"][name]
            }
        };
        let fail = |e: String| -> ! { panic!("{call}: {e}\nbody: {}", cut(&reply.body)) };
        // Headers: those the file marks required are there, and every
        // documented one that is there fits its schema.
        for (name, h) in response["headers"].as_object().into_iter().flatten() {
            match reply.header(name) {
                None if h["required"] == true => fail(format!("header {name} is missing")),
                None => {}
                Some(text) => {
                    let schema = &h["schema"];
                    let value = match self.v.resolve(schema).map(|s| &s["type"]) {
                        Ok(t) if t == "integer" => text
                            .parse::<i64>()
                            .map_or_else(|_| json!(text), |n| json!(n)),
                        _ => json!(text),
                    };
                    self.v
                        .check(schema, &value, &format!("header {name}"))
                        .unwrap_or_else(|e| fail(e));
                }
            }
        }
        if !is_oauth(bare) && reply.status == 401 {
            bearer_challenge(&call, reply);
        }
        // A response without content (204, a redirect) has no body.
        let Some(content) = response["content"].as_object() else {
            assert!(
                reply.body.is_empty(),
                "{call}: openapi.yaml declares no body for this answer\nbody: {}",
                cut(&reply.body)
            );
            return;
        };
        let media = reply
            .header("content-type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let Some(m) = content.get(&media) else {
            panic!(
                "{call}: Content-Type {media:?} is not documented for this answer (it lists {:?})",
                content.keys().collect::<Vec<_>>()
            );
        };
        let schema = &m["schema"];
        match media.as_str() {
            "application/json" => {
                let value: Value = serde_json::from_str(&reply.body)
                    .unwrap_or_else(|e| fail(format!("not JSON: {e}")));
                self.v
                    .check(schema, &value, "$")
                    .unwrap_or_else(|e| fail(e));
                if reply.status >= 400 {
                    let oauth = is_oauth(bare);
                    let want = if oauth {
                        oauth_error_code(reply.status)
                    } else {
                        error_code(reply.status)
                    }
                    .unwrap_or_else(|| fail("an error status without an error code".into()));
                    let code = value["error"].as_str().unwrap_or_default();
                    assert!(
                        want.contains(&code),
                        "{call}: error code {code:?}, expected one of {want:?}"
                    );
                    if oauth {
                        assert_eq!(
                            value.get("retry_after").is_some(),
                            reply.header("retry-after").is_some(),
                            "{call}: `retry_after` comes with Retry-After (a locked client)"
                        );
                    } else {
                        assert_eq!(
                            value.get("problems").is_some(),
                            reply.status == 422,
                            "{call}: `problems` is there on 422 only"
                        );
                    }
                    if code == "insufficient_scope" {
                        bearer_challenge(&call, reply);
                    }
                }
            }
            "application/x-ndjson" => {
                for (i, line) in reply.body.lines().enumerate() {
                    let value: Value = serde_json::from_str(line)
                        .unwrap_or_else(|e| fail(format!("line {}: not JSON: {e}", i + 1)));
                    self.v
                        .check(schema, &value, &format!("line {}: $", i + 1))
                        .unwrap_or_else(|e| fail(e));
                }
            }
            "application/yaml" => {
                // This file: a YAML client (schemathesis) reads it as a map.
                let value: Value = serde_yaml::from_str(&reply.body)
                    .unwrap_or_else(|e| fail(format!("not YAML: {e}")));
                self.v
                    .check(schema, &value, "$")
                    .unwrap_or_else(|e| fail(e));
            }
            _ => {
                // X12, Prometheus text: a string; nothing to check.
                assert_eq!(schema["type"], "string", "{call}: schema of {media}");
            }
        }
    }

    /// Every route the server has was answered with success (2xx, or the
    /// sign-in's 303) at least once.
    fn assert_every_route_succeeded(&self) {
        let seen = self.seen.borrow();
        let missing: Vec<String> = priorauth::api::routes()
            .iter()
            .filter(|r| {
                !seen
                    .iter()
                    .any(|(m, t, s)| m == r.method && t == r.path && *s < 400)
            })
            .map(|r| format!("{} {}", r.method.to_uppercase(), r.path))
            .collect();
        assert!(
            missing.is_empty(),
            "the session never got a success from: {missing:?}"
        );
    }
}

/// A 401 or 403 `insufficient_scope` of the API challenges as RFC 6750 §3
/// says: `Bearer realm=…`, with the body's error code unless no token came.
fn bearer_challenge(call: &str, reply: &Reply) {
    let challenge = reply
        .header("WWW-Authenticate")
        .unwrap_or_else(|| panic!("{call}: no WWW-Authenticate header"));
    assert!(
        challenge.starts_with("Bearer realm=\"priorauth\""),
        "{call}: WWW-Authenticate {challenge:?}"
    );
    let code = reply.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        challenge.contains(&format!("error=\"{code}\"")),
        code != "unauthorized",
        "{call}: WWW-Authenticate {challenge:?} with error {code:?}"
    );
}

fn cut(body: &str) -> &str {
    let mut end = body.len().min(2000);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

/// Trailing bytes where an interchange should start: data lost, reported
/// under `rejected` with a null control number.
const NOT_AN_INTERCHANGE: &str = "HELLO*WORLD~\n";

fn one_claim() -> String {
    render(&[mri_claim("LOST-1", "P1", "1")])
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

#[test]
fn responses_match_their_schemas_sqlite() {
    responses_match_their_schemas(Backend::Sqlite);
}

#[test]
fn responses_match_their_schemas_postgres() {
    responses_match_their_schemas(Backend::Postgres);
}

/// A session that touches every route and most error statuses.
fn responses_match_their_schemas(b: Backend) {
    let doc = spec();
    let db = Db::fresh(b, "openapi");
    let s = Server::start(
        &db,
        &[
            ("PRIORAUTH_BODY_LIMIT", "8192"),
            ("PRIORAUTH_BATCH_CHUNK", "7"),
        ],
    );
    let api = Api::new(&s, &doc);

    // Operations.
    assert_eq!(api.get("/healthz").status, 200);
    assert_eq!(api.get("/readyz").status, 200);
    let served = api.get("/openapi.yaml");
    assert_eq!(served.status, 200);
    assert_eq!(served.body, spec_text(), "the server serves the file");
    assert_eq!(api.get("/metrics").status, 200);

    // Authorizations.
    let r = api.post(
        "/v1/authorizations/import",
        "text/csv",
        read("fixtures/auths/sample.csv").as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let bad_csv =
        "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status\n\
                   C1,M1,1234567893,70551,x,0,2026-01-01,2026-12-31,approved\n";
    assert_eq!(
        api.post("/v1/authorizations/import", "text/csv", bad_csv.as_bytes())
            .status,
        422
    );
    assert_eq!(
        api.post("/v1/authorizations/import", "application/json", b"{}")
            .status,
        415
    );
    // An X12 278 response (issue 18): its answer has a schema of its own.
    let x278 =
        std::fs::read(crate::helpers::corpus_dir().join("x12-types/_278_test__parse_278_21.edi"))
            .unwrap();
    let r = api.post("/v1/authorizations/import", "application/edi-x12", &x278);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["imported"], 2);
    assert_eq!(
        api.get("/v1/authorizations?provider=1234567891").json()["authorizations"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let p1 = json!({
        "number": "P1", "member_id": "M1", "provider_npi": BILLING,
        "codes": "70551|70553", "units": "4", "start_date": "2026-01-01",
        "end_date": "2026-12-31", "status": "approved"
    });
    assert_eq!(api.json("POST", "/v1/authorizations", &p1).status, 201);
    assert_eq!(api.json("POST", "/v1/authorizations", &p1).status, 409);
    let unlimited = json!({
        "number": "U1", "member_id": "M1", "provider_npi": BILLING,
        "start_date": "2026-01-01", "end_date": "2026-12-31", "status": "approved"
    });
    let r = api.json("POST", "/v1/authorizations", &unlimited);
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["units_remaining"], Value::Null);
    let bad = json!({
        "number": "P2", "member_id": "M1", "provider_npi": "12",
        "start_date": "2026-02-30", "end_date": "2026-12-31", "status": "maybe"
    });
    assert_eq!(api.json("POST", "/v1/authorizations", &bad).status, 422);
    assert_eq!(
        api.post("/v1/authorizations", "application/json", b"{not json")
            .status,
        400
    );
    assert_eq!(api.get("/v1/authorizations/P1").status, 200);
    assert_eq!(api.get("/v1/authorizations/P1/ledger").status, 200);
    assert_eq!(api.get("/v1/authorizations/NOPE/ledger").status, 404);
    assert_eq!(api.get("/v1/authorizations/NOPE").status, 404);
    let patch = |number: &str, body: &Value| {
        api.json("PATCH", &format!("/v1/authorizations/{number}"), body)
    };
    assert_eq!(
        patch("U1", &json!({"units": "2", "units_used": "1"})).status,
        200
    );
    assert_eq!(
        patch("U1", &json!({"status": "cancelled", "units": null})).status,
        200
    );
    assert_eq!(patch("U1", &json!({"colour": "red"})).status, 400);
    assert_eq!(patch("U1", &json!({"end_date": "2025-01-01"})).status, 422);
    assert_eq!(patch("NOPE", &json!({})).status, 404);

    // Exemptions (SPEC §3.5), of a provider the rest of the session never bills.
    let ex = json!({
        "provider_npi": "1000000004", "rule_id": "5.1.2-MRI",
        "start_date": "2026-01-01", "end_date": "2026-06-30"
    });
    let r = api.json("POST", "/v1/exemptions", &ex);
    assert_eq!(r.status, 201, "{}", r.body);
    let ex_id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(api.json("POST", "/v1/exemptions", &ex).status, 409);
    let mut bad_ex = ex.clone();
    bad_ex["end_date"] = json!("2025-01-01");
    assert_eq!(api.json("POST", "/v1/exemptions", &bad_ex).status, 422);
    assert_eq!(
        api.get("/v1/exemptions?provider_npi=1000000004").status,
        200
    );
    let ex_csv =
        "provider_npi,rule_id,start_date,end_date\n1000000004,5.1.2-MRI,2026-07-01,2026-12-31\n";
    let r = api.post("/v1/exemptions", "text/csv", ex_csv.as_bytes());
    assert_eq!(r.status, 201, "{}", r.body);
    let bad_csv =
        "provider_npi,rule_id,start_date,end_date\n1000000004,NOPE,2026-07-01,2026-12-31\n";
    assert_eq!(
        api.post("/v1/exemptions", "text/csv", bad_csv.as_bytes())
            .status,
        422
    );
    assert_eq!(
        api.post("/v1/exemptions", "application/xml", b"<x/>")
            .status,
        415
    );
    let r = api.json(
        "POST",
        "/v1/exemptions/compute?as_of=2026-07-01",
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.json(
        "POST",
        "/v1/exemptions/compute",
        &json!({"as_of": "2026-07-01", "min_requests": 1000, "apply": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api.json("POST", "/v1/exemptions/compute?threshold=2", &json!({}))
            .status,
        400
    );
    assert_eq!(
        api.call("DELETE", &format!("/v1/exemptions/{ex_id}"), &[], None)
            .status,
        200
    );
    assert_eq!(
        api.call("DELETE", "/v1/exemptions/EX-NONE", &[], None)
            .status,
        404
    );
    assert_eq!(api.get("/v1/exemptions?revoked=true").status, 200);

    // Claims: the sample, checked and submitted.
    let sample = read("fixtures/x12/837p-sample.x12");
    let r = api.x12("/v1/claims?mode=check", &sample, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.x12("/v1/claims", &sample, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = r.json();
    let lines: Vec<&Value> = answer["claims"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["lines"].as_array().unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| !l["adjustments"].as_array().unwrap().is_empty()),
        "the sample has adjusted lines, so Adjustment is checked"
    );
    // A ledger with an entry: its reversed_by is null while the units
    // stay used (a schema that said otherwise failed schemathesis).
    let ledger = api.get("/v1/authorizations/A200003/ledger");
    assert_eq!(ledger.status, 200, "{}", ledger.body);
    let entries = ledger.json()["entries"].as_array().unwrap().clone();
    assert!(
        entries.iter().any(|e| e["reversed_by"].is_null()),
        "the sample consumed A200003: {}",
        ledger.body
    );
    let first = answer["claims"][0].clone();
    let id = first["payer_claim_id"].as_str().unwrap();
    assert_eq!(api.get(&format!("/v1/claims/{id}")).status, 200);
    assert_eq!(api.get("/v1/claims/does-not-exist").status, 404);
    let found = api.get(&format!(
        "/v1/claims?billing_npi={BILLING}&claim_id={}",
        first["claim_id"].as_str().unwrap()
    ));
    assert_eq!(found.status, 200);
    assert!(!found.json()["claims"].as_array().unwrap().is_empty());
    // Search by CLM01 alone, a page at a time.
    let page = api.get(&format!(
        "/v1/claims?claim_id={}&limit=1",
        first["claim_id"].as_str().unwrap()
    ));
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json()["claims"].as_array().unwrap().len(), 1);
    let all = api.get("/v1/claims?limit=1");
    assert_eq!(all.status, 200);
    let next = all.json()["next"].as_str().unwrap().to_string();
    assert_eq!(
        api.get(&format!("/v1/claims?limit=1&after={next}")).status,
        200
    );
    assert_eq!(api.get("/v1/claims?status=sideways").status, 400);
    assert_eq!(api.get("/v1/claims?after=not-a-cursor").status, 400);

    // A rejected set beside an adjudicated one.
    let good = transaction_set(&[mri_claim("GOOD-1", "P1", "1")], "0001");
    let mut bad = transaction_set(&[mri_claim("BAD-1", "P1", "1")], "0002");
    let clm = bad.iter().position(|seg| seg.starts_with("CLM*")).unwrap();
    bad[clm] = bad[clm].replacen("*1000", "*ABC", 1);
    let mixed = interchange(&[good, bad], ClaimKind::Professional, 7);
    let r = api.x12("/v1/claims", &mixed, &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.json()["rejected"][0]["errors"][0]["element"].is_u64(),
        "SyntaxError's optional fields are checked: {}",
        r.body
    );
    assert_eq!(
        api.x12("/v1/claims?mode=check&format=999", &mixed, &[])
            .status,
        200
    );
    let lost = api.x12(
        "/v1/claims?mode=check",
        &(one_claim() + NOT_AN_INTERCHANGE),
        &[],
    );
    assert_eq!(lost.json()["rejected"][0]["control_number"], Value::Null);
    // An 835 lists claims denied in full: none here (204), then one.
    // (2 units: the same services as GOOD-1 would be its duplicate by
    // content, SPEC §3.3, and denied in full.)
    let one = render(&[mri_claim("REMIT-1", "P1", "2")]);
    assert_eq!(api.x12("/v1/claims?format=835", &one, &[]).status, 204);
    let denied = render(&[mri_claim("REMIT-2", "NOT-ON-FILE", "1")]);
    assert_eq!(api.x12("/v1/claims?format=835", &denied, &[]).status, 200);

    // Idempotency: replay, then the same key with another body.
    let keyed = render(&[mri_claim("KEY-1", "P1", "1")]);
    let key = [("Idempotency-Key", "openapi-1")];
    assert_eq!(api.x12("/v1/claims", &keyed, &key).status, 200);
    let again = api.x12("/v1/claims", &keyed, &key);
    assert_eq!(again.status, 200);
    assert_eq!(again.header("Idempotent-Replay"), Some("true"));
    assert_eq!(api.x12("/v1/claims", &one, &key).status, 422);

    // Claim errors.
    assert_eq!(
        api.x12("/v1/claims", "hello, this is not X12", &[]).status,
        400
    );
    assert_eq!(api.x12("/v1/claims?mode=sideways", &one, &[]).status, 400);
    assert_eq!(
        api.x12("/v1/claims?mode=check&format=835", &one, &[])
            .status,
        400
    );
    assert_eq!(
        api.post("/v1/claims", "application/json", b"{}").status,
        415
    );
    let big = batch_file("BIG", 40, "P1");
    assert!(big.len() > 8192);
    assert_eq!(api.x12("/v1/claims", &big, &[]).status, 413);

    // Codes.
    assert_eq!(api.get("/v1/codes/carc/198").status, 200);
    assert_eq!(api.get("/v1/codes/rarc/N351").status, 200);
    assert_eq!(api.get("/v1/codes/carc/15").json()["active"], false);
    assert_eq!(api.get("/v1/codes/carc/99999").status, 404);
    assert_eq!(api.get("/v1/codes/nope/1").status, 404);

    // Rules.
    assert_eq!(api.get("/v1/rules").status, 200);
    let yes = api.get("/v1/rules/check?code=70551&lob=medicare&date=2026-03-04&units=2&charge=10.50&emergency=false");
    assert_eq!(yes.json()["requires_authorization"], true, "{}", yes.body);
    let no = api.get("/v1/rules/check?code=99213&date=2026-03-04");
    assert_eq!(no.json()["requires_authorization"], false, "{}", no.body);
    assert_eq!(api.get("/v1/rules/check?date=2026-03-04").status, 400);
    assert_eq!(api.get("/v1/rules/check?code=70551&date=soon").status, 400);
    let put =
        |ct: &str, body: &[u8]| api.call("PUT", "/v1/rules", &[("Content-Type", ct)], Some(body));
    assert_eq!(
        put(
            "application/toml",
            b"version = \"x\"\n[[rule]]\nid = \"A\"\n"
        )
        .status,
        422
    );
    assert_eq!(put("application/toml", b"\xff\xfe").status, 400);
    assert_eq!(put("application/json", b"{}").status, 415);
    assert_eq!(
        put("application/toml", priorauth::rules::BUNDLED.as_bytes()).status,
        200
    );
    // What a candidate would change (issue 19): one MRI rule only, so
    // the claims stored so far change and every list has members.
    let impact = |q: &str, ct: &str, body: &[u8]| {
        api.call(
            "POST",
            &format!("/v1/rules/impact{q}"),
            &[("Content-Type", ct)],
            Some(body),
        )
    };
    let candidate = b"version = \"impact-1\"\n[[rule]]\nid = \"EX-MRI\"\nsection = \"5.1.3\"\ntitle = \"MRI\"\ncodes = [\"70551\"]\neffective = \"2020-01-01\"\n";
    let r = impact("", "application/toml", candidate);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert!(v["lines_changed"].as_u64().unwrap() > 0, "{v}");
    assert!(!v["providers"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(
        impact(
            "?since=2000-01-01&until=2000-01-31",
            "text/plain",
            candidate
        )
        .json()["claims"],
        0
    );
    assert_eq!(
        impact(
            "",
            "application/toml",
            b"version = \"x\"\n[[rule]]\nid = \"A\"\n"
        )
        .status,
        422
    );
    assert_eq!(
        impact("?until=never", "application/toml", candidate).status,
        400
    );
    assert_eq!(impact("", "application/json", b"{}").status, 415);

    // Batches: a good set, a bad one and trailing data that is not an
    // interchange, followed to the end.
    let claims: Vec<_> = (0..20)
        .map(|i| mri_claim(&format!("BATCH-{i:03}"), "P1", "1"))
        .collect();
    let mut bad = transaction_set(&[mri_claim("BATCH-BAD", "P1", "1")], "0002");
    let clm = bad.iter().position(|seg| seg.starts_with("CLM*")).unwrap();
    bad[clm] = bad[clm].replacen("*1000", "*ABC", 1);
    let file = interchange(
        &[transaction_set(&claims, "0001"), bad],
        ClaimKind::Professional,
        9,
    ) + NOT_AN_INTERCHANGE;
    let r = api.x12("/v1/batches", &file, &[]);
    assert_eq!(r.status, 202, "{}", r.body);
    let batch = r.json()["id"].as_str().unwrap().to_string();
    // Polled without pause (tests do not sleep): each poll is a round trip,
    // and every state it sees is checked against the schema.
    let start = Instant::now();
    let done = loop {
        let b = api.get(&format!("/v1/batches/{batch}")).json();
        if b["state"] == "done" || b["state"] == "failed" {
            break b;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "batch never ended: {b}"
        );
    };
    assert_eq!(done["state"], "done", "{done}");
    let rejected: Vec<&Value> = done["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["control_number"])
        .collect();
    assert_eq!(rejected, [&json!("0002"), &Value::Null], "{done}");
    let results = api.get(&format!("/v1/batches/{batch}/results"));
    assert_eq!(results.status, 200);
    assert_eq!(results.body.lines().count(), 20);
    let from_batch: Value = serde_json::from_str(results.body.lines().next().unwrap()).unwrap();
    let stored = api.get(&format!(
        "/v1/claims/{}",
        from_batch["payer_claim_id"].as_str().unwrap()
    ));
    assert_eq!(stored.json()["batch_id"], batch.as_str());
    assert_eq!(api.get("/v1/batches/nope").status, 404);
    assert_eq!(api.get("/v1/batches/nope/results").status, 404);
    assert_eq!(api.x12("/v1/batches", "hello", &[]).status, 400);
    assert_eq!(
        api.post("/v1/batches", "application/json", b"{}").status,
        415
    );

    // The network directory (SPEC §2.4): replaced, read, a bad file
    // refused by line, and cleared again (no directory: everyone in
    // network) so the rest of the session decides as before.
    let csv = |body: &str| {
        api.call(
            "PUT",
            "/v1/network",
            &[("Content-Type", "text/csv")],
            Some(body.as_bytes()),
        )
    };
    let r = csv(
        "npi,network_start,network_end\n1000000004,2026-01-01,\n1000000004,2025-01-01,2025-12-31\n",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["imported"], 2);
    let r = api.get("/v1/network/1000000004");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["rows"][0]["network_end"], "2025-12-31");
    assert_eq!(api.get("/v1/network/1999999999").status, 404);
    let r = csv("npi,network_start,network_end\n12,2026-01-01,\n");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["problems"][0]["line"], 2);
    assert_eq!(
        api.call(
            "PUT",
            "/v1/network",
            &[("Content-Type", "application/json")],
            Some(b"{}")
        )
        .status,
        415
    );
    assert_eq!(csv("npi,network_start,network_end\n").status, 200);
    assert_eq!(api.get("/v1/network/1000000004").status, 404);

    // No operation: 405 on a known path, 404 elsewhere.
    assert_eq!(api.call("DELETE", "/v1/claims", &[], None).status, 405);
    assert_eq!(api.get("/v1/nothing/here").status, 404);

    access(&api, id);

    api.assert_every_route_succeeded();
}

/// The redirect URI of the staff console the session registers (nothing
/// listens there: the sign-in's redirect is not followed).
const CALLBACK: &str = "http://127.0.0.1:1/cb";

/// A query string or form body.
fn encoded(params: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(params).unwrap()
}

/// The query parameters of a redirect's Location.
fn location_params(reply: &Reply) -> Vec<(String, String)> {
    let location = reply.header("Location").expect("a redirect has a Location");
    let (uri, query) = location
        .split_once('?')
        .expect("the answer is in the query");
    assert_eq!(uri, CALLBACK, "redirected to the registered URI");
    serde_urlencoded::from_str(query).unwrap()
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The access side of the session: metadata and keys, the token endpoint
/// (both grants, its errors and a lockout), the staff sign-in, every admin
/// route, and the guard's 401 and 403 on API routes. `claim` is a stored
/// payer claim id.
fn access(api: &Api, claim: &str) {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    let claim_path = format!("/v1/claims/{claim}");

    // Metadata and keys are public.
    let meta = api.anonymous("GET", "/.well-known/oauth-authorization-server");
    assert_eq!(meta.status, 200);
    let meta = meta.json();
    assert_eq!(meta["token_endpoint"], api.server.url("/oauth/token"));
    assert_eq!(
        meta["authorization_endpoint"],
        api.server.url("/oauth/authorize")
    );
    let jwks = api.anonymous("GET", "/.well-known/jwks.json");
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.json()["keys"].as_array().unwrap().len(), 1);

    // The guard: no token, a token that is no JWT, another scheme.
    let r = api.anonymous("GET", "/v1/rules");
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, json!("unauthorized"))
    );
    assert_eq!(api.anonymous("GET", "/openapi.yaml").status, 401);
    let r = api.with_token("not-a-jwt", "GET", &claim_path, None);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, json!("invalid_token"))
    );
    // Another scheme is no bearer token at all.
    let r = api.call("GET", "/v1/rules", &[("Authorization", "Basic YTpi")], None);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, json!("unauthorized"))
    );

    // Clients: a payer-side reader, the staff console (public, PKCE), a
    // billing system bound to the other test NPI, and one to lock out.
    let add_client = |spec: Value| {
        let r = api.json("POST", "/v1/admin/clients", &spec);
        assert_eq!(r.status, 201, "{}", r.body);
        let v = r.json();
        (
            v["client_id"].as_str().unwrap().to_string(),
            v["client_secret"].as_str().unwrap_or_default().to_string(),
        )
    };
    let (reader, reader_secret) = add_client(json!({"name": "reader", "scopes": ["claims:read"]}));
    let (console, no_secret) = add_client(json!({
        "name": "console", "public": true, "redirect_uris": [CALLBACK],
        "scopes": ["claims:read", "admin"]
    }));
    assert_eq!(no_secret, "", "a public client has no secret");
    let (billing, billing_secret) = add_client(json!({
        "name": "other billing", "npis": ["1679576722"],
        "scopes": ["claims:submit", "claims:read"]
    }));
    let (locked, locked_secret) = add_client(json!({"name": "locked", "scopes": ["claims:read"]}));
    let r = api.json(
        "POST",
        "/v1/admin/clients",
        &json!({"name": "none", "scopes": []}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let r = api.json(
        "POST",
        "/v1/admin/clients",
        &json!({"name": "x", "scopes": ["admin"], "colour": "red"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        api.post("/v1/admin/clients", "text/plain", b"name=x")
            .status,
        415
    );
    let listed = api.get("/v1/admin/clients");
    assert_eq!(listed.status, 200);
    // The five above and the staff console, registered on start.
    let clients = listed.json()["clients"].as_array().unwrap().clone();
    assert_eq!(clients.len(), 6);
    assert!(clients.iter().any(|c| c["id"] == "priorauth-console"));

    // The token endpoint: client credentials in the body and by HTTP Basic.
    let token = |id: &str, secret: &str, scope: Option<&str>| {
        let mut p = vec![
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ];
        p.extend(scope.map(|s| ("scope", s)));
        api.form("/oauth/token", &p, &[])
    };
    let r = token(&reader, &reader_secret, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["scope"], "claims:read");
    let reader_token = r.json()["access_token"].as_str().unwrap().to_string();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{billing}:{billing_secret}"))
    );
    let r = api.form(
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "claims:submit"),
        ],
        &[("Authorization", &basic)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let billing_token = r.json()["access_token"].as_str().unwrap().to_string();
    // Its errors.
    let r = api.form(
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("client_id", &reader),
            ("client_secret", &reader_secret),
        ],
        &[],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    let r = token(&reader, &reader_secret, Some("admin"));
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("invalid_scope"))
    );
    let r = api.form(
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &console),
        ],
        &[],
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("unauthorized_client"))
    );
    let r = api.call(
        "POST",
        "/oauth/token",
        &[("Content-Type", "application/json"), ("Authorization", "")],
        Some(b"{}"),
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("invalid_request"))
    );
    // Three wrong secrets lock the client out: then even the right one gets
    // a 401 saying so, with Retry-After.
    let wrong = format!("Basic {}", STANDARD.encode(format!("{locked}:wrong")));
    let r = api.form(
        "/oauth/token",
        &[("grant_type", "client_credentials")],
        &[("Authorization", &wrong)],
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, json!("invalid_client"))
    );
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Basic realm=\"priorauth\"")
    );
    for _ in 0..2 {
        assert_eq!(token(&locked, "wrong", None).status, 401);
    }
    let r = token(&locked, &locked_secret, None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("locked out"));
    assert_eq!(
        r.header("Retry-After").map(str::to_string),
        Some(r.json()["retry_after"].to_string())
    );

    // 403: a token without the scope the route needs; a billing system's
    // claim billed under an NPI it is not bound to.
    let r = api.call(
        "PUT",
        "/v1/rules",
        &[
            ("Authorization", &format!("Bearer {reader_token}")),
            ("Content-Type", "application/toml"),
        ],
        Some(priorauth::rules::BUNDLED.as_bytes()),
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (403, json!("insufficient_scope"))
    );
    let r = api.with_token(&reader_token, "GET", "/v1/admin/audit", None);
    assert_eq!(r.status, 403);
    assert_eq!(
        api.with_token(&reader_token, "GET", &claim_path, None)
            .status,
        200
    );
    let foreign = render(&[mri_claim("FOREIGN-1", "P1", "1")]);
    let r = api.call(
        "POST",
        "/v1/claims?mode=check",
        &[
            ("Authorization", &format!("Bearer {billing_token}")),
            ("Content-Type", "application/edi-x12"),
        ],
        Some(foreign.as_bytes()),
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (403, json!("forbidden")),
        "{}",
        r.body
    );

    // Staff users.
    let password = "correct horse battery staple";
    let r = api.json(
        "POST",
        "/v1/admin/users",
        &json!({"username": "staff", "roles": ["claims:read"], "password": password}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["password"], Value::Null);
    let r = api.json(
        "POST",
        "/v1/admin/users",
        &json!({"username": "staff", "roles": ["claims:read"]}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    let r = api.json(
        "POST",
        "/v1/admin/users",
        &json!({"username": "auditor", "roles": ["admin", "claims:read"]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json()["password"].is_string(), "a generated password");
    let r = api.json(
        "POST",
        "/v1/admin/users",
        &json!({"username": "short", "roles": ["claims:read"], "password": "short"}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let users = api.get("/v1/admin/users");
    assert_eq!(users.status, 200);
    assert_eq!(users.json()["users"].as_array().unwrap().len(), 2);
    // Disabling a user (the auditor): listed as disabled from then on.
    let auditor = users.json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "auditor")
        .map(|u| u["id"].as_str().unwrap().to_string())
        .unwrap();
    // A password reset: generated (no body), then one given.
    let reset = format!("/v1/admin/users/{auditor}/password");
    let r = api.call("POST", &reset, &[], None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["password"].is_string(), "a generated password");
    let r = api.json("POST", &reset, &json!({"password": password}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["password"], Value::Null);
    let r = api.json("POST", &reset, &json!({"password": "short"}));
    assert_eq!(r.status, 422, "{}", r.body);
    let r = api.call("DELETE", &format!("/v1/admin/users/{auditor}"), &[], None);
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        api.call("DELETE", "/v1/admin/users/nobody", &[], None)
            .status,
        404
    );
    let users = api.get("/v1/admin/users").json();
    assert!(users["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["username"] == "auditor" && u["disabled"] == true));

    // The staff sign-in (authorization code with PKCE).
    let verifier = "openapi-session-verifier-0123456789-abcdefghijklmnop";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let request = [
        ("response_type", "code"),
        ("client_id", console.as_str()),
        ("redirect_uri", CALLBACK),
        ("scope", "claims:read"),
        ("state", "s-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let page = |params: &[(&str, &str)]| {
        api.call(
            "GET",
            &format!("/oauth/authorize?{}", encoded(params)),
            &[("Authorization", "")],
            None,
        )
    };
    let r = page(&request);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<form"), "{}", r.body);
    let mut unknown = request.to_vec();
    unknown[1] = ("client_id", "nobody");
    assert_eq!(page(&unknown).status, 400);
    let r = page(&request[..5]);
    assert_eq!(r.status, 303, "no PKCE: {}", r.body);
    let back = location_params(&r);
    assert_eq!(param(&back, "error"), Some("invalid_request"));
    assert_eq!(param(&back, "state"), Some("s-1"));
    let sign_in = |username: &str, password: &str| {
        let mut form = request.to_vec();
        form.extend([("username", username), ("password", password)]);
        api.call(
            "POST",
            "/oauth/authorize",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", ""),
            ],
            Some(encoded(&form).as_bytes()),
        )
    };
    let r = sign_in("staff", password);
    assert_eq!(r.status, 303, "{}", r.body);
    let back = location_params(&r);
    assert_eq!(param(&back, "state"), Some("s-1"));
    assert!(param(&back, "iss").is_some());
    let code = param(&back, "code").expect("a code").to_string();
    let exchange = [
        ("grant_type", "authorization_code"),
        ("client_id", console.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
    ];
    let r = api.form("/oauth/token", &exchange, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["scope"], "claims:read");
    let staff_token = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        api.with_token(&staff_token, "GET", &claim_path, None)
            .status,
        200
    );
    // A replayed code is refused and revokes the token it got.
    let r = api.form("/oauth/token", &exchange, &[]);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("invalid_grant"))
    );
    let r = api.with_token(&staff_token, "GET", &claim_path, None);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, json!("invalid_token"))
    );
    // Wrong passwords: the form again, then the username is locked out.
    for _ in 0..3 {
        let r = sign_in("ghost", "not the password");
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(r.body.contains("<form"), "{}", r.body);
    }
    assert_eq!(sign_in("ghost", "not the password").status, 429);
    let r = api.call(
        "POST",
        "/oauth/authorize",
        &[("Content-Type", "application/json"), ("Authorization", "")],
        Some(b"{}"),
    );
    assert_eq!(r.status, 400);

    // Keys: a rotation adds a key; tokens of the old one still verify.
    let r = api.call("POST", "/v1/admin/keys/rotate", &[], None);
    assert_eq!(r.status, 201, "{}", r.body);
    let kid = r.json()["kid"].clone();
    let keys = api.anonymous("GET", "/.well-known/jwks.json").json();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert!(keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == kid));
    assert_eq!(
        api.with_token(&reader_token, "GET", &claim_path, None)
            .status,
        200
    );
    let r = token(&reader, &reader_secret, None);
    let fresh = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(api.with_token(&fresh, "GET", &claim_path, None).status, 200);

    // Disabling a client: no more tokens for it.
    let r = api.call("DELETE", &format!("/v1/admin/clients/{reader}"), &[], None);
    assert_eq!(r.status, 204);
    assert_eq!(
        api.call("DELETE", "/v1/admin/clients/nobody", &[], None)
            .status,
        404
    );
    assert_eq!(token(&reader, &reader_secret, None).status, 401);
    let clients = api.get("/v1/admin/clients").json();
    assert!(clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == reader.as_str() && c["disabled"] == true));

    // The audit log: newest first, by action, paged.
    let r = api.get("/v1/admin/audit?action=client.create");
    assert_eq!(r.status, 200);
    let created = r.json()["entries"].as_array().unwrap().clone();
    assert_eq!(created.len(), 5, "the operator (CLI) and four clients");
    let r = api.get("/v1/admin/audit?limit=3");
    let page1 = r.json()["entries"].as_array().unwrap().clone();
    assert_eq!(page1.len(), 3);
    assert_eq!(page1[0]["action"], "client.disable");
    let before = page1[2]["id"].as_i64().unwrap();
    let page2 = api
        .get(&format!("/v1/admin/audit?limit=3&before={before}"))
        .json();
    assert!(page2["entries"][0]["id"].as_i64().unwrap() < before);
    let reads = api
        .get("/v1/admin/audit?action=claim.read&limit=1000")
        .json();
    assert!(
        reads["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"].as_str().unwrap().starts_with("user:")),
        "the staff member's read is recorded: {reads}"
    );
    assert_eq!(api.get("/v1/admin/audit?limit=0").status, 400);
    assert_eq!(api.get("/v1/admin/audit?before=soon").status, 400);
}
