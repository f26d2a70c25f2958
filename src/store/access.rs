//! The access-control tables: clients, staff users, signing keys,
//! authorization codes, revoked grants, failed sign-ins with lockouts, and
//! the audit log. Kept in the store so several instances agree on them.

use chrono::NaiveDateTime;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{stamp, Result, Store, StoreError};

/// A registered OAuth client: a provider billing system (client
/// credentials, bound to NPIs) or the staff console (authorization code).
#[derive(Debug, Clone, Serialize)]
pub struct ClientRecord {
    /// Client id.
    pub id: String,
    /// Name a person recognises.
    pub name: String,
    /// argon2 PHC string; `None` for a public client (PKCE only).
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// Scopes it may be given.
    pub scopes: Vec<String>,
    /// Billing NPIs it submits for (empty: none).
    pub npis: Vec<String>,
    /// Exact redirect URIs for the authorization-code grant.
    pub redirect_uris: Vec<String>,
    /// Disabled clients get no tokens.
    pub disabled: bool,
    /// When it was registered (UTC).
    pub created_at: String,
}

/// A payer staff member who signs in to the console.
#[derive(Debug, Clone, Serialize)]
pub struct UserRecord {
    /// User id (the token subject is `user:ID`).
    pub id: String,
    /// Sign-in name.
    pub username: String,
    /// argon2 PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// Roles: the scopes the user may be given.
    pub roles: Vec<String>,
    /// Disabled users cannot sign in.
    pub disabled: bool,
    /// When it was added (UTC).
    pub created_at: String,
}

/// A token signing key (Ed25519, base64 PKCS#8 and raw public key).
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    /// Key id (`kid`).
    pub kid: String,
    /// PKCS#8 document, base64.
    pub private_key: String,
    /// Raw 32-byte public key, base64url.
    pub public_key: String,
    /// When it was stored (UTC, the store's stamp; empty before).
    pub created_at: String,
}

/// An issued authorization code (stored by hash).
#[derive(Debug, Clone)]
pub struct CodeRecord {
    /// SHA-256 of the code, hex.
    pub code_hash: String,
    /// Tokens issued from the code carry it, so a replay can revoke them.
    pub grant_id: String,
    /// Client it was issued to.
    pub client_id: String,
    /// User who signed in.
    pub user_id: String,
    /// The exact redirect URI of the request.
    pub redirect_uri: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// PKCE S256 challenge.
    pub challenge: String,
    /// Expiry, Unix milliseconds.
    pub expires_ms: i64,
}

/// Which audit records to list (every field optional: all of them).
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditFilter<'a> {
    /// Records with an id below this (paging).
    pub before: Option<i64>,
    /// Only this action (`claim.read`, …).
    pub action: Option<&'a str>,
    /// Only this actor (a client id, `user:ID`, `cli`).
    pub actor: Option<&'a str>,
    /// Only records at or after this time (UTC).
    pub since: Option<NaiveDateTime>,
    /// Only records before this time (UTC).
    pub until: Option<NaiveDateTime>,
}

/// One audit record: who, when, what, from where. Ids only.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// Row id (increasing).
    #[serde(default)]
    pub id: i64,
    /// When (UTC).
    #[serde(default)]
    pub at: String,
    /// Token subject (client id, `user:ID`, or `cli`).
    pub actor: String,
    /// OAuth client the actor used.
    pub client_id: String,
    /// What was done (`claim.read`, `rules.replace`, …).
    pub action: String,
    /// Kind of record.
    pub object_type: String,
    /// Its id.
    pub object_id: String,
    /// Peer address.
    pub remote_addr: String,
}

/// Writes an audit record inside the caller's transaction.
pub(super) async fn insert_audit(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    e: &AuditEntry,
    object_id: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, client_id, action, object_type, object_id, remote_addr) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(stamp())
    .bind(&e.actor)
    .bind(&e.client_id)
    .bind(&e.action)
    .bind(&e.object_type)
    .bind(object_id)
    .bind(&e.remote_addr)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn client_from_row(row: &AnyRow) -> Result<ClientRecord> {
    Ok(ClientRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        scopes: words(&row.try_get::<String, _>("scopes")?),
        npis: words(&row.try_get::<String, _>("npis")?),
        redirect_uris: words(&row.try_get::<String, _>("redirect_uris")?),
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

fn user_from_row(row: &AnyRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        roles: words(&row.try_get::<String, _>("roles")?),
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    // ---- clients and users ----

    /// Registers a client.
    pub async fn add_client(&self, c: &ClientRecord) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO clients (id, name, secret_hash, scopes, npis, redirect_uris, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.scopes.join(" "))
        .bind(c.npis.join(" "))
        .bind(c.redirect_uris.join(" "))
        .bind(stamp())
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// One client.
    pub async fn client(&self, id: &str) -> Result<Option<ClientRecord>> {
        let row = sqlx::query("SELECT * FROM clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(client_from_row).transpose()
    }

    /// Every client, oldest first.
    pub async fn clients(&self) -> Result<Vec<ClientRecord>> {
        let rows = sqlx::query("SELECT * FROM clients ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(client_from_row).collect()
    }

    /// Disables a client: it gets no more tokens, and the ones it has stop
    /// working (see `access::Revocations`).
    pub async fn disable_client(&self, id: &str) -> Result<()> {
        self.disable(
            "UPDATE clients SET disabled = 1 WHERE id = $1",
            "client",
            id,
        )
        .await
    }

    /// Runs one `UPDATE … SET disabled = 1` of a client or user by id.
    async fn disable(&self, sql: &str, what: &str, id: &str) -> Result<()> {
        let mut w = self.write().await?;
        let done = sqlx::query(sql).bind(id).execute(&mut *w.tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("{what} {id}")));
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// The ids of every disabled client and every disabled user (few: the
    /// service reads them every half second, see `access::Revocations`).
    pub async fn disabled_ids(&self) -> Result<(Vec<String>, Vec<String>)> {
        let ids = |rows: Vec<AnyRow>| -> Result<Vec<String>> {
            rows.iter()
                .map(|r| r.try_get::<String, _>("id").map_err(Into::into))
                .collect()
        };
        let clients = sqlx::query("SELECT id FROM clients WHERE disabled <> 0")
            .fetch_all(&self.pool)
            .await?;
        let users = sqlx::query("SELECT id FROM users WHERE disabled <> 0")
            .fetch_all(&self.pool)
            .await?;
        Ok((ids(clients)?, ids(users)?))
    }

    /// Disables a staff user: no more sign-ins, and the tokens issued to
    /// them stop working (see `access::Revocations`).
    pub async fn disable_user(&self, id: &str) -> Result<()> {
        self.disable("UPDATE users SET disabled = 1 WHERE id = $1", "user", id)
            .await
    }

    /// Replaces a staff user's password hash (an admin's reset); an
    /// unknown id is [`StoreError::NotFound`].
    pub async fn set_user_password(&self, id: &str, password_hash: &str) -> Result<()> {
        let mut w = self.write().await?;
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// Adds a staff user; a taken username is [`StoreError::Exists`].
    pub async fn add_user(&self, u: &UserRecord) -> Result<()> {
        if self.user_by_name(&u.username).await?.is_some() {
            return Err(StoreError::Exists(format!("user {}", u.username)));
        }
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, roles, disabled, created_at) VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(u.roles.join(" "))
        .bind(stamp())
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// A user by sign-in name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user, oldest first.
    pub async fn users(&self) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    // ---- signing keys ----

    /// Every signing key, oldest first (the last one signs).
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, private_key, public_key, created_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SigningKeyRecord {
                    kid: r.try_get("kid")?,
                    private_key: r.try_get("private_key")?,
                    public_key: r.try_get("public_key")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Stores a new signing key; it signs from now on.
    pub async fn add_signing_key(&self, k: &SigningKeyRecord) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&k.kid)
        .bind(&k.private_key)
        .bind(&k.public_key)
        .bind(stamp())
        .execute(&mut *w.tx)
        .await?;
        super::notify::notify(&mut w.tx, self.backend, super::Change::Keys).await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Deletes every signing key but `kid`: tokens they signed stop
    /// verifying at once (after a key leak).
    pub async fn retire_signing_keys_except(&self, kid: &str) -> Result<u64> {
        let mut w = self.write().await?;
        let n = sqlx::query("DELETE FROM signing_keys WHERE kid <> $1")
            .bind(kid)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        super::notify::notify(&mut w.tx, self.backend, super::Change::Keys).await?;
        w.tx.commit().await?;
        Ok(n)
    }

    // ---- authorization codes and grants ----

    /// Stores an issued code (and forgets codes that expired over an hour
    /// ago: every token issued from them has expired too).
    pub async fn add_code(&self, c: &CodeRecord) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM authorization_codes WHERE expires_ms <= $1")
            .bind(c.expires_ms - 3_600_000)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, grant_id, client_id, user_id, redirect_uri, scopes, challenge, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.code_hash)
        .bind(&c.grant_id)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.redirect_uri)
        .bind(c.scopes.join(" "))
        .bind(&c.challenge)
        .bind(c.expires_ms)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Marks a code used and returns it with whether this was its first
    /// use. Exactly one caller ever sees `first == true`, across instances.
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        now_ms: i64,
    ) -> Result<Option<(CodeRecord, bool)>> {
        let mut w = self.write().await?;
        let first = sqlx::query(
            "UPDATE authorization_codes SET used_ms = $1 WHERE code_hash = $2 AND used_ms IS NULL",
        )
        .bind(now_ms)
        .bind(code_hash)
        .execute(&mut *w.tx)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query("SELECT * FROM authorization_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some((
            CodeRecord {
                code_hash: r.try_get("code_hash")?,
                grant_id: r.try_get("grant_id")?,
                client_id: r.try_get("client_id")?,
                user_id: r.try_get("user_id")?,
                redirect_uri: r.try_get("redirect_uri")?,
                scopes: words(&r.try_get::<String, _>("scopes")?),
                challenge: r.try_get("challenge")?,
                expires_ms: r.try_get("expires_ms")?,
            },
            first,
        )))
    }

    /// Revokes every token issued under a grant.
    pub async fn revoke_grant(&self, grant_id: &str) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO revoked_grants (grant_id, revoked_at) VALUES ($1, $2) ON CONFLICT (grant_id) DO NOTHING",
        )
        .bind(grant_id)
        .bind(stamp())
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// True when the grant was revoked.
    pub async fn grant_revoked(&self, grant_id: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT grant_id FROM revoked_grants WHERE grant_id = $1")
                .bind(grant_id)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    // ---- failed sign-ins and lockouts ----

    /// Until when (Unix ms) `subject` is locked out, if it is now.
    pub async fn locked_until(&self, subject: &str, now_ms: i64) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT until_ms FROM lockouts WHERE subject = $1")
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64, _>("until_ms"))
            .transpose()?
            .filter(|&until| until > now_ms))
    }

    /// Records a failed sign-in of `subject`. When that makes `threshold`
    /// failures within `window_ms`, locks it until `now + lock_ms` and
    /// returns that time. An active lock is never shortened or reset.
    pub async fn record_failure(
        &self,
        subject: &str,
        now_ms: i64,
        window_ms: i64,
        threshold: i64,
        lock_ms: i64,
    ) -> Result<Option<i64>> {
        let mut w = self.write().await?;
        if self.backend == super::Backend::Postgres {
            // Counting and locking are one step per subject across
            // instances (SQLite already has one writer at a time).
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(subject)
                .execute(&mut *w.tx)
                .await?;
        }
        // Failures outside the window and ended locks are no longer needed.
        sqlx::query("DELETE FROM sign_in_failures WHERE at_ms <= $1")
            .bind(now_ms - window_ms)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("DELETE FROM lockouts WHERE until_ms <= $1")
            .bind(now_ms)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("INSERT INTO sign_in_failures (subject, at_ms) VALUES ($1, $2)")
            .bind(subject)
            .bind(now_ms)
            .execute(&mut *w.tx)
            .await?;
        let failures: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM sign_in_failures WHERE subject = $1")
                .bind(subject)
                .fetch_one(&mut *w.tx)
                .await?
                .try_get("n")?;
        let mut locked = None;
        if failures >= threshold {
            let until = now_ms + lock_ms;
            sqlx::query(
                "INSERT INTO lockouts (subject, until_ms) VALUES ($1, $2) ON CONFLICT (subject) DO UPDATE SET until_ms = excluded.until_ms WHERE lockouts.until_ms <= $3",
            )
            .bind(subject)
            .bind(until)
            .bind(now_ms)
            .execute(&mut *w.tx)
            .await?;
            locked = Some(until);
        }
        w.tx.commit().await?;
        Ok(locked)
    }

    // ---- audit ----

    /// Appends an audit record (stamped now).
    pub async fn audit(&self, e: &AuditEntry) -> Result<()> {
        let mut w = self.write().await?;
        insert_audit(&mut w.tx, e, &e.object_id).await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Appends audit records in one transaction (a search that read many
    /// claims), all stamped now, in order.
    pub async fn audit_many(&self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let at = stamp();
        let mut w = self.write().await?;
        super::insert_rows(
            &mut w.tx,
            self.backend,
            "INSERT INTO audit_log (at, actor, client_id, action, object_type, object_id, remote_addr)",
            7,
            entries,
            |q, e| {
                q.bind(at.clone())
                    .bind(e.actor.clone())
                    .bind(e.client_id.clone())
                    .bind(e.action.clone())
                    .bind(e.object_type.clone())
                    .bind(e.object_id.clone())
                    .bind(e.remote_addr.clone())
            },
        )
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Audit records, newest first: at most `limit`, those the filter
    /// lets through.
    pub async fn audit_log(&self, limit: i64, f: &AuditFilter<'_>) -> Result<Vec<AuditEntry>> {
        let time = |t: Option<NaiveDateTime>| {
            t.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default()
        };
        // `at` is written as UTC text of one fixed shape (`stamp`), so text
        // order is time order.
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE id < $1 AND ($2 = '' OR action = $2) \
             AND ($3 = '' OR actor = $3) AND ($4 = '' OR at >= $4) AND ($5 = '' OR at < $5) \
             ORDER BY id DESC LIMIT $6",
        )
        .bind(f.before.unwrap_or(i64::MAX))
        .bind(f.action.unwrap_or(""))
        .bind(f.actor.unwrap_or(""))
        .bind(time(f.since))
        .bind(time(f.until))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    client_id: r.try_get("client_id")?,
                    action: r.try_get("action")?,
                    object_type: r.try_get("object_type")?,
                    object_id: r.try_get("object_id")?,
                    remote_addr: r.try_get("remote_addr")?,
                })
            })
            .collect()
    }
}
