//! Authorization records (SPEC §2.3): one, added, imported all or
//! nothing, patched.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use std::collections::HashMap;

use super::{insert_rows, stamp, Backend, Result, Store, StoreError};
use crate::authorizations::{Authorization, AuthorizationRecord};

pub(super) const AUTH_COLUMNS: &str =
    "number, member_id, provider_npi, codes, units, units_used, start_date, end_date, status, patient_birth_date, unit_type";

pub(super) fn auth_from_row(row: &AnyRow) -> Result<Authorization> {
    let rec = AuthorizationRecord {
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
    };
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
        insert_authorizations(&mut w.tx, self.backend, std::slice::from_ref(a)).await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Imports authorizations all or nothing: new numbers are added, known
    /// ones are replaced, except that their units used never go down.
    pub async fn import_authorizations(&self, auths: &[Authorization]) -> Result<(u64, u64)> {
        let mut w = self.write().await?;
        // Units used on file: an import never lowers them (the store is the
        // truth of what claims consumed; a file exported earlier would
        // otherwise hand consumed units out again).
        let mut known: HashMap<String, rust_decimal::Decimal> = HashMap::new();
        let numbers: Vec<&str> = auths.iter().map(|a| a.number.as_str()).collect();
        let head = format!("SELECT {AUTH_COLUMNS} FROM authorizations WHERE number");
        for row in self
            .fetch_in(&mut w.tx, &head, &[], &numbers, self.for_update())
            .await?
        {
            let a = auth_from_row(&row)?;
            known.insert(a.number, a.units_used);
        }
        let auths: Vec<Authorization> = auths
            .iter()
            .map(|a| {
                let mut a = a.clone();
                if let Some(&used) = known.get(&a.number) {
                    a.units_used = a.units_used.max(used);
                }
                a
            })
            .collect();
        let auths = auths.as_slice();
        for chunk in auths.chunks(500) {
            let sql = format!(
                "DELETE FROM authorizations WHERE number IN ({})",
                self.backend.placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for a in chunk {
                q = q.bind(&a.number);
            }
            q.execute(&mut *w.tx).await?;
        }
        insert_authorizations(&mut w.tx, self.backend, auths).await?;
        w.tx.commit().await?;
        let replaced = known.len() as u64;
        Ok((auths.len() as u64 - replaced, replaced))
    }

    /// Changes an authorization under the row lock: `change` gets the
    /// stored record and returns the new one (validated here).
    pub async fn update_authorization(
        &self,
        number: &str,
        change: impl FnOnce(&mut AuthorizationRecord),
    ) -> Result<Authorization> {
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
        w.tx.commit().await?;
        Ok(new)
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

async fn insert_authorizations(
    tx: &mut AnyConnection,
    backend: Backend,
    auths: &[Authorization],
) -> Result<()> {
    let at = stamp();
    insert_rows(
        tx,
        backend,
        &format!("INSERT INTO authorizations ({AUTH_COLUMNS}, updated_at)"),
        12,
        auths,
        |q, a| {
            q.bind(a.number.clone())
                .bind(a.member_id.clone())
                .bind(a.provider_npi.clone())
                .bind(a.codes_text())
                .bind(a.units.map(|u| u.to_string()))
                .bind(a.units_used.to_string())
                .bind(a.start_date.to_string())
                .bind(a.end_date.to_string())
                .bind(a.status.as_str())
                .bind(a.patient_birth_date.map(|d| d.to_string()))
                .bind(a.unit_type.as_str())
                .bind(at.clone())
        },
    )
    .await
}
