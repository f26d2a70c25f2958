//! The staff console's records: sign-ins under way and sessions (both
//! keyed by the SHA-256 of what the browser holds), and its client's
//! registration as the public URL changes.

use sqlx::Row;

use super::{Result, Store};

/// A console session as the store keeps it.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// The CSRF token every form of the session carries.
    pub csrf: String,
    /// The access token the session acts with.
    pub access_token: String,
    /// The token's subject (`user:ID`).
    pub subject: String,
    /// When the token, and so the session, ends (Unix ms).
    pub expires_ms: i64,
}

impl Store {
    /// Records a sign-in under way: the state's hash, the PKCE verifier,
    /// the console page to return to; drops sign-ins long expired.
    pub async fn add_console_login(
        &self,
        state_hash: &str,
        verifier: &str,
        next_path: &str,
        expires_ms: i64,
    ) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM console_logins WHERE expires_ms < $1")
            .bind(expires_ms - 3_600_000)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "INSERT INTO console_logins (state_hash, verifier, next_path, expires_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(state_hash)
        .bind(verifier)
        .bind(next_path)
        .bind(expires_ms)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Takes a sign-in under way (once): (verifier, next path, expiry).
    pub async fn take_console_login(
        &self,
        state_hash: &str,
    ) -> Result<Option<(String, String, i64)>> {
        let mut w = self.write().await?;
        let row = sqlx::query(
            "DELETE FROM console_logins WHERE state_hash = $1 RETURNING verifier, next_path, expires_ms",
        )
        .bind(state_hash)
        .fetch_optional(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        row.map(|r| {
            Ok((
                r.try_get("verifier")?,
                r.try_get("next_path")?,
                r.try_get("expires_ms")?,
            ))
        })
        .transpose()
    }

    /// Stores a session under the hash of its cookie value.
    pub async fn add_console_session(&self, id_hash: &str, s: &ConsoleSession) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM console_sessions WHERE expires_ms < $1")
            .bind(s.expires_ms - 3_600_000)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, csrf, access_token, subject, expires_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(&s.csrf)
        .bind(&s.access_token)
        .bind(&s.subject)
        .bind(s.expires_ms)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// The session of a cookie's hash.
    pub async fn console_session(&self, id_hash: &str) -> Result<Option<ConsoleSession>> {
        let row = sqlx::query(
            "SELECT csrf, access_token, subject, expires_ms FROM console_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ConsoleSession {
                csrf: r.try_get("csrf")?,
                access_token: r.try_get("access_token")?,
                subject: r.try_get("subject")?,
                expires_ms: r.try_get("expires_ms")?,
            })
        })
        .transpose()
    }

    /// Ends a session.
    pub async fn end_console_session(&self, id_hash: &str) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Sets a client's redirect URIs and scopes (the console's, when the
    /// public URL changed between starts).
    pub async fn set_client_redirects(
        &self,
        id: &str,
        redirect_uris: &[String],
        scopes: &[String],
    ) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query("UPDATE clients SET redirect_uris = $2, scopes = $3 WHERE id = $1")
            .bind(id)
            .bind(redirect_uris.join(" "))
            .bind(scopes.join(" "))
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Every stored rule set, newest first: (version, loaded at, in force).
    pub async fn rule_set_history(&self) -> Result<Vec<(String, String, bool)>> {
        let rows = sqlx::query(
            "SELECT version, loaded_at, active FROM rule_sets ORDER BY id DESC LIMIT 200",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("version")?,
                    r.try_get("loaded_at")?,
                    r.try_get::<i64, _>("active")? == 1,
                ))
            })
            .collect()
    }
}

impl Store {
    /// The latest batches, newest first.
    pub async fn recent_batches(&self, limit: u32) -> Result<Vec<super::Batch>> {
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM batches ORDER BY created_at DESC, id LIMIT {limit}"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(b) = self.batch(&id).await? {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// A batch's claims by status and lines by decision.
    #[allow(clippy::type_complexity)]
    pub async fn batch_counts(
        &self,
        batch_id: &str,
    ) -> Result<(Vec<(String, i64)>, Vec<(String, i64)>)> {
        let statuses = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM claims WHERE batch_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(batch_id)
        .fetch_all(&self.pool)
        .await?;
        let decisions = sqlx::query(
            "SELECT l.decision, COUNT(*) AS n FROM line_decisions l JOIN claims c ON c.payer_claim_id = l.payer_claim_id WHERE c.batch_id = $1 GROUP BY l.decision ORDER BY l.decision",
        )
        .bind(batch_id)
        .fetch_all(&self.pool)
        .await?;
        let pairs = |rows: Vec<sqlx::any::AnyRow>, key: &str| -> Result<Vec<(String, i64)>> {
            rows.iter()
                .map(|r| Ok((r.try_get(key)?, r.try_get("n")?)))
                .collect()
        };
        Ok((pairs(statuses, "status")?, pairs(decisions, "decision")?))
    }
}
