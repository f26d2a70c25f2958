//! Many rows of text read at once: [`Store::select_in`].
//!
//! On SQLite the database aggregates the rows into one JSON array of
//! objects and the store parses it with serde. Why: sqlx's SQLite driver
//! steps the statement on a worker thread and sends each row across to
//! the caller, waking it per row: about 10 µs a row of eleven columns,
//! where SQLite itself reads all 96,000 authorizations of the replay
//! bench in 0.1 s. Aggregated, the replay's authorization loads took
//! 0.41 s instead of 1.3 s (docs/PERFORMANCE.md). PostgreSQL's rows come
//! buffered off the socket and cost little; building JSON there cost the
//! server more than it saved (a replay went from 2.4 s to 2.9 s), so
//! PostgreSQL reads plain rows.

use serde::de::DeserializeOwned;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Backend, Result, Store, StoreError};

/// SQLite's aggregate of `fields` (JSON key, SQL expression) over a
/// query's rows, in `order` (an `ORDER BY` list, or empty): one text
/// value, `[]` when there are no rows.
fn json_rows(fields: &[(&str, &str)], order: &str) -> String {
    let mut object = String::new();
    for (i, (key, expr)) in fields.iter().enumerate() {
        if i > 0 {
            object.push_str(", ");
        }
        object.push('\'');
        object.push_str(key);
        object.push_str("', ");
        object.push_str(expr);
    }
    let order = if order.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {order}")
    };
    format!("json_group_array(json_object({object}){order})")
}

/// The rows of a JSON array a query aggregated.
fn parse<T: DeserializeOwned>(text: &str) -> Result<Vec<T>> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("rows aggregated as JSON: {e}")))
}

impl Store {
    /// `SELECT fields {from_where} IN (values) ORDER BY {order}`: each
    /// field (its name, its SQL expression) read into a `T`, from one
    /// JSON row per 500 values on SQLite, from the rows (`from_row`) on
    /// PostgreSQL. For queries of thousands of rows of text.
    pub(super) async fn select_in<T: DeserializeOwned>(
        &self,
        conn: &mut AnyConnection,
        fields: &[(&str, &str)],
        from_where: &str,
        values: &[&str],
        order: &str,
        from_row: impl Fn(&AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        if self.backend == Backend::Postgres {
            let columns: Vec<String> = fields.iter().map(|(k, e)| format!("{e} AS {k}")).collect();
            let head = format!("SELECT {} {from_where}", columns.join(", "));
            let tail = if order.is_empty() {
                String::new()
            } else {
                format!(" ORDER BY {order}")
            };
            let rows = self.fetch_in(conn, &head, &[], values, &tail).await?;
            return rows.iter().map(from_row).collect();
        }
        let rows = json_rows(fields, order);
        let mut out = Vec::new();
        for chunk in values.chunks(500) {
            let sql = format!(
                "SELECT {rows} AS rows {from_where} IN ({})",
                self.backend.placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for v in chunk {
                q = q.bind(*v);
            }
            let row = q.fetch_one(&mut *conn).await?;
            out.extend(parse::<T>(row.try_get("rows")?)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aggregate_names_each_field() {
        assert_eq!(
            json_rows(&[("a", "x"), ("b", "y")], "id"),
            "json_group_array(json_object('a', x, 'b', y) ORDER BY id)"
        );
        assert_eq!(
            json_rows(&[("a", "x")], ""),
            "json_group_array(json_object('a', x))"
        );
    }
}
