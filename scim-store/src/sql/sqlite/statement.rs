//! Running one sea-query statement on an SQLite connection: binding its values, the
//! prepared-statement cache, materialised rows, and moving long work off the runtime.

use crate::sql::outcome::{Done, ExecErr};
use rusqlite::Connection;
use rusqlite::types::Value as LV;
use sea_orm::{DbBackend, StatementBuilder};
use std::sync::Arc;

/// One materialised row: column names are shared by the rows of one query.
#[derive(Debug)]
pub(crate) struct Row {
    names: Arc<Names>,
    values: Vec<LV>,
}

/// A query's column names, in one string (three allocations per query rather than one
/// per column).
#[derive(Debug)]
struct Names {
    text: String,
    /// Where each name ends in `text`.
    ends: Vec<usize>,
}

impl Names {
    fn of(stmt: &rusqlite::Statement<'_>) -> Self {
        let mut text = String::with_capacity(128);
        let mut ends = Vec::with_capacity(stmt.column_count());
        for name in stmt.column_names() {
            text.push_str(name);
            ends.push(text.len());
        }
        Self { text, ends }
    }

    fn position(&self, c: &str) -> Option<usize> {
        let mut start = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            if self.text.get(start..end) == Some(c) {
                return Some(i);
            }
            start = end;
        }
        None
    }
}

impl Row {
    pub(crate) fn value(&self, c: &str) -> Option<&LV> {
        self.values.get(self.names.position(c)?)
    }

    /// Column `c`'s value moved out of the row (NULL is left behind), so that text is
    /// not copied again.
    pub(crate) fn take(&mut self, c: &str) -> Option<LV> {
        let i = self.names.position(c)?;
        self.values.get_mut(i).map(|v| std::mem::replace(v, LV::Null))
    }
}

/// Runs `f`; when `long`, without stalling the runtime's other tasks: under
/// `block_in_place` on a multi-threaded runtime (a current-thread runtime has no other
/// worker to hand its tasks to, so there it runs inline).
pub(crate) fn offload<T>(long: bool, f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi = long
        && Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi { tokio::task::block_in_place(f) } else { f() }
}

/// sea-query's values as SQLite values.
fn bind(v: sea_orm::Value) -> Result<LV, ExecErr> {
    use sea_orm::Value as V;
    let int = |i: Option<i64>| i.map_or(LV::Null, LV::Integer);
    Ok(match v {
        V::Bool(b) => int(b.map(i64::from)),
        V::TinyInt(i) => int(i.map(i64::from)),
        V::SmallInt(i) => int(i.map(i64::from)),
        V::Int(i) => int(i.map(i64::from)),
        V::BigInt(i) => int(i),
        V::TinyUnsigned(i) => int(i.map(i64::from)),
        V::SmallUnsigned(i) => int(i.map(i64::from)),
        V::Unsigned(i) => int(i.map(i64::from)),
        V::BigUnsigned(i) => match i {
            None => LV::Null,
            Some(u) => LV::Integer(
                i64::try_from(u)
                    .map_err(|_| ExecErr::Value(format!("{u} is out of SQLite's range")))?,
            ),
        },
        V::Float(f) => f.map_or(LV::Null, |f| LV::Real(f64::from(f))),
        V::Double(f) => f.map_or(LV::Null, LV::Real),
        V::String(s) => s.map_or(LV::Null, LV::Text),
        V::Char(c) => c.map_or(LV::Null, |c| LV::Text(c.to_string())),
        V::Bytes(b) => b.map_or(LV::Null, LV::Blob),
        V::Json(j) => j.map_or(LV::Null, |j| LV::Text(j.to_string())),
        other => return Err(ExecErr::Value(format!("unsupported SQL value {other:?}"))),
    })
}

fn prepare<'c>(
    c: &'c Connection,
    s: &dyn StatementBuilder,
) -> Result<(rusqlite::CachedStatement<'c>, Vec<LV>), ExecErr> {
    let st = s.build(&DbBackend::Sqlite);
    let mut values = match st.values {
        Some(v) => v.0.into_iter().map(bind).collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let sql = inline_limit(st.sql, &mut values);
    Ok((c.prepare_cached(&sql)?, values))
}

/// Writes a bound `LIMIT` into the statement as a number.
///
/// SQLite plans an `ORDER BY .. LIMIT` with the limit's value, so a statement whose
/// `LIMIT` is a parameter is prepared again (`sqlite3Reprepare`) every time it runs
/// with new bindings: that was a quarter of a `userName eq` search's CPU. sea-query
/// always binds it and puts it last (`LIMIT ?` or `LIMIT ? OFFSET ?`); a page size is
/// one of a few numbers, so the statement cache still holds every form. (The offset
/// may stay a parameter: it does not take part in the plan.)
pub(crate) fn inline_limit(sql: String, values: &mut Vec<LV>) -> String {
    let (tail, back) = if sql.ends_with(" LIMIT ? OFFSET ?") {
        (" LIMIT ? OFFSET ?", 2)
    } else if sql.ends_with(" LIMIT ?") {
        (" LIMIT ?", 1)
    } else {
        return sql;
    };
    let Some(at) = values.len().checked_sub(back) else { return sql };
    let Some(LV::Integer(n)) = values.get(at) else { return sql };
    let n = *n;
    values.remove(at);
    let mut out = sql;
    out.truncate(out.len() - tail.len());
    out.push_str(&format!(" LIMIT {n}"));
    if back == 2 {
        out.push_str(" OFFSET ?");
    }
    out
}

/// Runs a query; `first`: stop after one row.
/// Each row is handed to `wrap` (the caller's row type).
pub(crate) fn query<R>(
    c: &Connection,
    s: &dyn StatementBuilder,
    first: bool,
    wrap: impl Fn(Row) -> R,
) -> Result<Vec<R>, ExecErr> {
    let (mut stmt, values) = prepare(c, s)?;
    let names = Arc::new(Names::of(&stmt));
    let n = names.ends.len();
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(r.get::<_, LV>(i)?);
        }
        out.push(wrap(Row { names: Arc::clone(&names), values }));
        if first {
            break;
        }
    }
    Ok(out)
}

/// Runs a statement that returns no rows.
pub(crate) fn execute(c: &Connection, s: &dyn StatementBuilder) -> Result<Done, ExecErr> {
    let (mut stmt, values) = prepare(c, s)?;
    let n = stmt.execute(rusqlite::params_from_iter(values))?;
    Ok(Done::new(u64::try_from(n).unwrap_or(u64::MAX)))
}
