//! Authorization records (SPEC §2.3): one, added, imported all or
//! nothing, patched.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use std::collections::HashMap;

use super::readjudicate::Released;
use super::{stamp, Backend, Result, Store, StoreError};
use crate::authorizations::{date_text, AuthStatus, Authorization, AuthorizationRecord, FIELDS};

/// [`FIELDS`] as a column list (a unit test keeps them the same).
pub(super) const AUTH_COLUMNS: &str =
    "number, member_id, provider_npi, codes, units, units_used, start_date, end_date, status, patient_birth_date, unit_type";

pub(super) fn auth_from_row(row: &AnyRow) -> Result<Authorization> {
    auth_from_record(record_from_row(row)?)
}

/// A stored authorization's columns, as text.
fn record_from_row(row: &AnyRow) -> Result<AuthorizationRecord> {
    Ok(AuthorizationRecord {
        number: row.try_get("number")?,
        member_id: row.try_get("member_id")?,
        provider_npi: row.try_get("provider_npi")?,
        codes: row.try_get("codes")?,
        units: row.try_get("units")?,
        units_used: Some(row.try_get("units_used")?),
        start_date: row.try_get("start_date")?,
        end_date: row.try_get("end_date")?,
        status: row.try_get("status")?,
        patient_birth_date: row.try_get("patient_birth_date")?,
        unit_type: Some(row.try_get("unit_type")?),
    })
}

/// A stored authorization's record, checked as every authorization is.
pub(super) fn auth_from_record(rec: AuthorizationRecord) -> Result<Authorization> {
    // No field value in the message: a birth date is PHI.
    rec.validate().map_err(|p| {
        StoreError::Corrupt(format!(
            "authorization {}: {}",
            rec.number,
            p.iter().map(|p| p.field).collect::<Vec<_>>().join("; ")
        ))
    })
}

impl Store {
    /// The authorizations whose `column` (member_id or number) is one of
    /// `values`: a batch chunk or a replay page reads thousands
    /// ([`Store::select_in`]).
    pub(super) async fn authorizations_where_in(
        &self,
        conn: &mut AnyConnection,
        column: &str,
        values: &[&str],
    ) -> Result<Vec<Authorization>> {
        // Each column under its own name, which is the record's field name.
        let fields: Vec<(&str, &str)> = FIELDS.iter().map(|c| (*c, *c)).collect();
        let from = format!("FROM authorizations WHERE {column}");
        self.select_in(conn, &fields, &from, values, "", record_from_row)
            .await?
            .into_iter()
            .map(auth_from_record)
            .collect()
    }

    /// One authorization.
    pub async fn authorization(&self, number: &str) -> Result<Option<Authorization>> {
        let row = sqlx::query(&format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE number = $1"
        ))
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(auth_from_row).transpose()
    }

    /// Adds one authorization; refuses a number already on file.
    pub async fn add_authorization(&self, a: &Authorization) -> Result<()> {
        let mut w = self.write().await?;
        let exists = sqlx::query("SELECT number FROM authorizations WHERE number = $1")
            .bind(&a.number)
            .fetch_optional(&mut *w.tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Exists(format!("authorization {}", a.number)));
        }
        insert_authorizations(&mut w.tx, self.backend, &[a], &stamp()).await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Imports authorizations all or nothing: new numbers are added, known
    /// ones are replaced, except that their units used never go down.
    pub async fn import_authorizations(&self, auths: &[Authorization]) -> Result<(u64, u64)> {
        let done = self.import_authorizations_counted(auths).await?;
        Ok((done.added, done.replaced))
    }

    /// [`Store::import_authorizations`], also counting the pended claims
    /// decided again (issue 18).
    pub async fn import_authorizations_counted(
        &self,
        auths: &[Authorization],
    ) -> Result<AuthImported> {
        let mut import = self.begin_auth_import().await?;
        for chunk in auths.chunks(IMPORT_BATCH) {
            import.add(chunk).await?;
        }
        import.commit_counted().await
    }

    /// Starts an import that takes its rows a batch at a time (a file of
    /// millions of rows in bounded memory), in one transaction: nothing of
    /// it is seen before [`AuthImport::commit`], and all of it is undone
    /// when the import is dropped uncommitted.
    pub async fn begin_auth_import(&self) -> Result<AuthImport<'_>> {
        Ok(AuthImport {
            w: self.write().await?,
            store: self,
            at: stamp(),
            added: 0,
            replaced: 0,
            released: Vec::new(),
        })
    }
    /// Changes an authorization under the row lock: `change` gets the
    /// stored record and returns the new one (validated here).
    pub async fn update_authorization(
        &self,
        number: &str,
        change: impl FnOnce(&mut AuthorizationRecord),
    ) -> Result<Authorization> {
        Ok(self.update_authorization_counted(number, change).await?.0)
    }

    /// [`Store::update_authorization`], also deciding again the pended
    /// claims it releases (issue 18): the new record and their number.
    pub async fn update_authorization_counted(
        &self,
        number: &str,
        change: impl FnOnce(&mut AuthorizationRecord),
    ) -> Result<(Authorization, u64)> {
        let mut w = self.write().await?;
        let row = sqlx::query(&format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations WHERE number = $1{}",
            self.for_update()
        ))
        .bind(number)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("authorization {number}")));
        };
        let old = auth_from_row(&row)?;
        let mut rec = AuthorizationRecord::from(&old);
        change(&mut rec);
        rec.number = old.number.clone();
        let new = rec.validate().map_err(StoreError::Invalid)?;
        sqlx::query(
            "UPDATE authorizations SET member_id = $2, provider_npi = $3, codes = $4, units = $5, units_used = $6, start_date = $7, end_date = $8, status = $9, updated_at = $10, patient_birth_date = $11, unit_type = $12 WHERE number = $1",
        )
        .bind(&new.number)
        .bind(&new.member_id)
        .bind(&new.provider_npi)
        .bind(new.codes_text())
        .bind(new.units.map(|u| u.to_string()))
        .bind(new.units_used.to_string())
        .bind(new.start_date.to_string())
        .bind(new.end_date.to_string())
        .bind(new.status.as_str())
        .bind(stamp())
        .bind(new.patient_birth_date.map(|d| d.to_string()))
        .bind(new.unit_type.as_str())
        .execute(&mut *w.tx)
        .await?;
        let released: Vec<Released> = released(&old, &new, "PATCH").into_iter().collect();
        let readjudicated = self.readjudicate_pended(&mut w, &released).await?;
        // The claims decided again may have consumed from it.
        let new = if readjudicated > 0 {
            let row = sqlx::query(&format!(
                "SELECT {AUTH_COLUMNS} FROM authorizations WHERE number = $1"
            ))
            .bind(number)
            .fetch_one(&mut *w.tx)
            .await?;
            auth_from_row(&row)?
        } else {
            new
        };
        w.tx.commit().await?;
        Ok((new, readjudicated))
    }

    /// Authorizations matching every filter given, by number (`auths
    /// list`, `GET /v1/authorizations`). At most `limit` of them.
    pub async fn list_authorizations(
        &self,
        filter: &AuthFilter,
        limit: u32,
    ) -> Result<Vec<Authorization>> {
        let mut conds = Vec::new();
        let mut binds: Vec<&str> = Vec::new();
        for (column, value) in [
            ("number", &filter.number),
            ("member_id", &filter.member_id),
            ("provider_npi", &filter.provider_npi),
            ("status", &filter.status),
        ] {
            if let Some(v) = value {
                binds.push(v.as_str());
                conds.push(format!("{column} = ${}", binds.len()));
            }
        }
        let sql = format!(
            "SELECT {AUTH_COLUMNS} FROM authorizations{}{} ORDER BY number LIMIT {limit}",
            if conds.is_empty() { "" } else { " WHERE " },
            conds.join(" AND ")
        );
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(auth_from_row).collect()
    }

    // ---- claims ----
}

/// Rows an import writes per step (what a caller should hand to
/// [`AuthImport::add`] at a time).
pub const IMPORT_BATCH: usize = 10_000;

/// An authorization import under way (see [`Store::begin_auth_import`]).
pub struct AuthImport<'s> {
    w: super::Write<'s>,
    store: &'s Store,
    at: String,
    added: u64,
    replaced: u64,
    /// Pending authorizations the import changed (issue 18).
    released: Vec<super::readjudicate::Released>,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthImported {
    /// New numbers.
    pub added: u64,
    /// Numbers on file replaced.
    pub replaced: u64,
    /// Live claims pended on a changed pending authorization, decided
    /// again.
    pub readjudicated: u64,
}

/// The change of a pending authorization that decides its pended claims
/// again: its status, or its terms while pending; in words.
fn released(old: &Authorization, new: &Authorization, by: &str) -> Option<Released> {
    if old.status != AuthStatus::Pending {
        return None;
    }
    let mut what = Vec::new();
    if new.status != old.status {
        what.push(format!("status pending → {}", new.status.as_str()));
    }
    if (new.start_date, new.end_date) != (old.start_date, old.end_date) {
        what.push(format!(
            "dates {}..{} → {}..{}",
            old.start_date, old.end_date, new.start_date, new.end_date
        ));
    }
    if new.units != old.units {
        let u = |x: Option<rust_decimal::Decimal>| x.map_or("unlimited".into(), |d| d.to_string());
        what.push(format!("units {} → {}", u(old.units), u(new.units)));
    }
    if new.codes_text() != old.codes_text() {
        what.push("codes changed".into());
    }
    // Member and provider ids are not named: a member id is PHI.
    if new.member_id != old.member_id || new.provider_npi != old.provider_npi {
        what.push("member or provider changed".into());
    }
    (!what.is_empty()).then(|| Released {
        number: new.number.clone(),
        what: format!("authorization {} ({by}): {}", new.number, what.join(", ")),
    })
}

impl AuthImport<'_> {
    /// Adds (or replaces) these authorizations. Units used on file are
    /// kept when higher: the store is the truth of what claims consumed,
    /// and a file exported earlier would otherwise hand them out again.
    ///
    /// One read of the numbers on file (locked), then one upsert: a
    /// multi-row `INSERT … ON CONFLICT DO UPDATE` on SQLite, one
    /// statement over a JSON parameter on PostgreSQL.
    pub async fn add(&mut self, auths: &[Authorization]) -> Result<()> {
        let store = self.store;
        let numbers: Vec<&str> = auths.iter().map(|a| a.number.as_str()).collect();
        let head = "SELECT number, units_used, status FROM authorizations WHERE number";
        let mut known: HashMap<String, rust_decimal::Decimal> = HashMap::new();
        let mut pending: Vec<String> = Vec::new();
        for row in store
            .fetch_in(&mut self.w.tx, head, &[], &numbers, store.for_update())
            .await?
        {
            let number: String = row.try_get("number")?;
            let used: String = row.try_get("units_used")?;
            let used = used
                .trim()
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("authorization {number}: units_used")))?;
            let status: String = row.try_get("status")?;
            if status.parse() == Ok(AuthStatus::Pending) {
                pending.push(number.clone());
            }
            known.insert(number, used);
        }
        // Pending ones on file are read whole: a change of theirs decides
        // their pended claims again (rare: most imports have none).
        if !pending.is_empty() {
            let pending: Vec<&str> = pending.iter().map(String::as_str).collect();
            let head = format!("SELECT {AUTH_COLUMNS} FROM authorizations WHERE number");
            let mut was: HashMap<String, Authorization> = HashMap::new();
            for row in store
                .fetch_in(&mut self.w.tx, &head, &[], &pending, "")
                .await?
            {
                let old = auth_from_row(&row)?;
                was.insert(old.number.clone(), old);
            }
            for a in auths {
                if let Some(r) = was.get(&a.number).and_then(|o| released(o, a, "import")) {
                    self.released.push(r);
                }
            }
        }
        let raised: Vec<Authorization> = auths
            .iter()
            .filter_map(|a| {
                let &used = known.get(&a.number)?;
                (used > a.units_used).then(|| Authorization {
                    units_used: used,
                    ..a.clone()
                })
            })
            .collect();
        let mut rows: Vec<&Authorization> = Vec::with_capacity(auths.len());
        let mut raised_at = raised.iter().peekable();
        for a in auths {
            match raised_at.peek() {
                Some(r) if r.number == a.number => {
                    rows.push(r);
                    raised_at.next();
                }
                _ => rows.push(a),
            }
        }
        upsert_authorizations(&mut self.w.tx, store.backend, &rows, &self.at).await?;
        self.replaced += known.len() as u64;
        self.added += (auths.len() - known.len()) as u64;
        Ok(())
    }

    /// Records an audit entry in the import's transaction (undone with it).
    pub async fn audit(&mut self, e: &super::AuditEntry) -> Result<()> {
        super::access::insert_audit(&mut self.w.tx, e, &e.object_id).await
    }

    /// Commits the import: (added, replaced).
    pub async fn commit(self) -> Result<(u64, u64)> {
        let done = self.commit_counted().await?;
        Ok((done.added, done.replaced))
    }

    /// Commits the import, having decided again the pended claims of the
    /// pending authorizations it changed, in the same transaction.
    pub async fn commit_counted(mut self) -> Result<AuthImported> {
        // A number given twice in one file: the last row is in force.
        let mut seen = std::collections::HashSet::new();
        let mut released = std::mem::take(&mut self.released);
        released.reverse();
        released.retain(|r| seen.insert(r.number.clone()));
        released.reverse();
        let readjudicated = self
            .store
            .readjudicate_pended(&mut self.w, &released)
            .await?;
        self.w.tx.commit().await?;
        Ok(AuthImported {
            added: self.added,
            replaced: self.replaced,
            readjudicated,
        })
    }
}

/// Filters of [`Store::list_authorizations`]; `None`: any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFilter {
    /// The authorization number.
    pub number: Option<String>,
    /// The member id (PHI: never logged).
    pub member_id: Option<String>,
    /// The provider NPI.
    pub provider_npi: Option<String>,
    /// approved, denied, pending or cancelled.
    pub status: Option<String>,
}

/// Inserts or replaces `auths` (a number on file takes every column of
/// the new row): multi-row `INSERT … ON CONFLICT DO UPDATE` statements of
/// about 3000 parameters, on both stores. (One statement over a JSON
/// parameter on PostgreSQL was measured slower: docs/PERFORMANCE.md.)
async fn upsert_authorizations(
    tx: &mut AnyConnection,
    backend: Backend,
    auths: &[&Authorization],
    at: &str,
) -> Result<()> {
    const SET: &str = " ON CONFLICT (number) DO UPDATE SET member_id = excluded.member_id, provider_npi = excluded.provider_npi, codes = excluded.codes, units = excluded.units, units_used = excluded.units_used, start_date = excluded.start_date, end_date = excluded.end_date, status = excluded.status, patient_birth_date = excluded.patient_birth_date, unit_type = excluded.unit_type, updated_at = excluded.updated_at";
    write_authorizations(tx, backend, auths, at, SET).await
}

/// Writes `auths` in multi-row `INSERT … VALUES` statements of about
/// 3000 parameters, each ending with `tail` (a conflict clause, or none).
async fn write_authorizations(
    tx: &mut AnyConnection,
    backend: Backend,
    auths: &[&Authorization],
    at: &str,
    tail: &str,
) -> Result<()> {
    for chunk in auths.chunks(3000 / 12) {
        let sql = format!(
            "INSERT INTO authorizations ({AUTH_COLUMNS}, updated_at) VALUES {}{tail}",
            backend.value_rows(chunk.len(), 12)
        );
        let q = chunk
            .iter()
            .fold(sqlx::query(&sql), |q, &a| bind_authorization(q, a, at));
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Binds one row of [`write_authorizations`], borrowing what it can.
fn bind_authorization<'q>(
    q: super::AnyQuery<'q>,
    a: &'q Authorization,
    at: &'q str,
) -> super::AnyQuery<'q> {
    q.bind(a.number.as_str())
        .bind(a.member_id.as_str())
        .bind(a.provider_npi.as_str())
        .bind(a.codes_text())
        .bind(a.units.map(|u| u.to_string()))
        .bind(a.units_used.to_string())
        .bind(date_text(a.start_date))
        .bind(date_text(a.end_date))
        .bind(a.status.as_str())
        .bind(a.patient_birth_date.map(date_text))
        .bind(a.unit_type.as_str())
        .bind(at)
}

/// Inserts `auths` (a number on file is a conflict: an error).
async fn insert_authorizations(
    tx: &mut AnyConnection,
    backend: Backend,
    auths: &[&Authorization],
    at: &str,
) -> Result<()> {
    write_authorizations(tx, backend, auths, at, "").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_columns_are_the_record_fields() {
        assert_eq!(AUTH_COLUMNS, FIELDS.join(", "));
    }
}
