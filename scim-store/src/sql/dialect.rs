//! Backend-specific SQL: how each database reads a value out of a JSON document, tests
//! presence, and iterates a JSON array. Everything else is portable sea-query.
//!
//! Templates are written with `?` for each argument; [`cust`] renumbers them to `$n` for
//! PostgreSQL. Arguments are sea-query expressions: values are always bound parameters.
//! The one exception is the path of MySQL's `JSON_TABLE`, which must be a literal: it is
//! built only from schema-registered attribute names and URNs that [`json_key`] checked to
//! hold no quote or backslash.

use crate::StoreError;
use sea_orm::DbBackend;
use sea_orm::sea_query::Expr;

/// The three SQL dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

impl Dialect {
    /// The sea-orm backend that writes this dialect.
    pub(crate) fn backend(self) -> DbBackend {
        match self {
            Dialect::Sqlite => DbBackend::Sqlite,
            Dialect::Postgres => DbBackend::Postgres,
            Dialect::MySql => DbBackend::MySql,
        }
    }

    pub(crate) fn of(b: DbBackend) -> Self {
        match b {
            DbBackend::Postgres => Self::Postgres,
            DbBackend::MySql => Self::MySql,
            _ => Self::Sqlite,
        }
    }
}

/// A custom expression from a `?` template, with the placeholders each backend wants.
pub(crate) fn cust(d: Dialect, template: &str, args: Vec<Expr>) -> Result<Expr, StoreError> {
    let marks = template.matches('?').count();
    if marks != args.len() {
        return Err(StoreError::Internal(format!(
            "SQL template has {marks} placeholders for {} arguments",
            args.len()
        )));
    }
    if d == Dialect::Postgres {
        let mut out = String::with_capacity(template.len() + 8);
        let mut n = 0;
        for c in template.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        Ok(Expr::cust_with_exprs(out, args))
    } else {
        Ok(Expr::cust_with_exprs(template.to_owned(), args))
    }
}

/// Checks that a JSON key (an attribute name or a schema URN from the registry) is safe to
/// quote inside a JSON path: no quotes, backslashes, brackets or control characters.
pub(crate) fn json_key(k: &str) -> Result<&str, StoreError> {
    let ok = !k.is_empty()
        && k.bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, b'-' | b'_' | b'.' | b':' | b'$' | b'/' | b'+' | b'~' | b'%')
        });
    if ok {
        Ok(k)
    } else {
        Err(StoreError::Scim(scim_core::ScimError::new(
            scim_core::ErrorCode::InvalidFilter,
            format!(
                "attribute '{}' cannot be used in a filter or sort",
                k.chars().take(80).collect::<String>()
            ),
        )))
    }
}

/// `$."a"."b"` (SQLite and MySQL path syntax).
fn dollar_path(keys: &[&str]) -> Result<String, StoreError> {
    let mut p = String::from("$");
    for k in keys {
        p.push_str(".\"");
        p.push_str(json_key(k)?);
        p.push('"');
    }
    Ok(p)
}

fn vals(keys: &[&str]) -> Result<Vec<Expr>, StoreError> {
    keys.iter().map(|k| json_key(k).map(|k| Expr::val(k.to_owned()))).collect()
}

/// `json_extract_path(doc, ?, ?)` for PostgreSQL (keys bound).
fn pg_path(fun: &str, doc: Expr, keys: &[&str]) -> Result<(String, Vec<Expr>), StoreError> {
    let mut args = vec![doc];
    args.extend(vals(keys)?);
    let marks = vec!["?"; args.len()].join(", ");
    Ok((format!("{fun}({marks})"), args))
}

impl Dialect {
    /// The JSON value at `keys` as text (strings unquoted, numbers and booleans as their
    /// JSON text); NULL when absent.
    pub(crate) fn json_text(self, doc: Expr, keys: &[&str]) -> Result<Expr, StoreError> {
        match self {
            Self::Sqlite => {
                // json_extract turns booleans into 1/0: read their type name instead.
                let p = dollar_path(keys)?;
                cust(
                    self,
                    "(CASE json_type(?, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
                     ELSE CAST(json_extract(?, ?) AS TEXT) END)",
                    vec![doc.clone(), Expr::val(p.clone()), doc, Expr::val(p)],
                )
            }
            Self::Postgres => {
                let (t, a) = pg_path("json_extract_path_text", doc, keys)?;
                cust(self, &t, a)
            }
            Self::MySql => {
                let p = dollar_path(keys)?;
                cust(self, "JSON_UNQUOTE(JSON_EXTRACT(?, ?))", vec![doc, Expr::val(p)])
            }
        }
    }

    /// The JSON number at `keys` as a SQL number; NULL when absent or not a number.
    pub(crate) fn json_number(self, doc: Expr, keys: &[&str]) -> Result<Expr, StoreError> {
        match self {
            Self::Sqlite => {
                let p = dollar_path(keys)?;
                cust(
                    self,
                    "(CASE WHEN json_type(?, ?) IN ('integer', 'real') THEN CAST(json_extract(?, ?) AS REAL) END)",
                    vec![doc.clone(), Expr::val(p.clone()), doc, Expr::val(p)],
                )
            }
            Self::Postgres => {
                let (j, mut a) = pg_path("json_extract_path", doc.clone(), keys)?;
                let (t, a2) = pg_path("json_extract_path_text", doc, keys)?;
                a.extend(a2);
                cust(
                    self,
                    &format!(
                        "(CASE WHEN json_typeof({j}) = 'number' THEN CAST({t} AS DOUBLE PRECISION) END)"
                    ),
                    a,
                )
            }
            Self::MySql => {
                let p = dollar_path(keys)?;
                cust(
                    self,
                    "(CASE WHEN JSON_TYPE(JSON_EXTRACT(?, ?)) IN ('INTEGER', 'DOUBLE', 'DECIMAL', 'UNSIGNED INTEGER') \
                     THEN CAST(JSON_UNQUOTE(JSON_EXTRACT(?, ?)) AS DOUBLE) END)",
                    vec![doc.clone(), Expr::val(p.clone()), doc, Expr::val(p)],
                )
            }
        }
    }

    /// RFC 7644 3.4.2.2 `pr`: the value at `keys` exists, is not null, not an empty string
    /// and not an empty array.
    pub(crate) fn json_present(self, doc: Expr, keys: &[&str]) -> Result<Expr, StoreError> {
        match self {
            Self::Sqlite => {
                let p = dollar_path(keys)?;
                let v = || Expr::val(p.clone());
                cust(
                    self,
                    "(COALESCE(json_type(?, ?), 'null') <> 'null' \
                     AND COALESCE(CAST(json_extract(?, ?) AS TEXT), 'x') <> '' \
                     AND COALESCE(json_type(?, ?) <> 'array' OR json_array_length(?, ?) > 0, 0))",
                    vec![doc.clone(), v(), doc.clone(), v(), doc.clone(), v(), doc, v()],
                )
            }
            Self::Postgres => {
                let (j, mut a) = pg_path("json_extract_path", doc.clone(), keys)?;
                let (t, a2) = pg_path("json_extract_path_text", doc.clone(), keys)?;
                let (j3, a3) = pg_path("json_extract_path", doc.clone(), keys)?;
                let (j4, a4) = pg_path("json_extract_path", doc, keys)?;
                a.extend(a2);
                a.extend(a3);
                a.extend(a4);
                cust(
                    self,
                    &format!(
                        "(COALESCE(json_typeof({j}), 'null') <> 'null' AND COALESCE({t}, 'x') <> '' \
                         AND (json_typeof({j3}) <> 'array' OR json_array_length({j4}) > 0))"
                    ),
                    a,
                )
            }
            Self::MySql => {
                let p = dollar_path(keys)?;
                let v = || Expr::val(p.clone());
                cust(
                    self,
                    "(COALESCE(JSON_TYPE(JSON_EXTRACT(?, ?)), 'NULL') <> 'NULL' \
                     AND COALESCE(JSON_UNQUOTE(JSON_EXTRACT(?, ?)), 'x') <> '' \
                     AND COALESCE(JSON_TYPE(JSON_EXTRACT(?, ?)) <> 'ARRAY' OR JSON_LENGTH(?, ?) > 0, 0))",
                    vec![doc.clone(), v(), doc.clone(), v(), doc.clone(), v(), doc, v()],
                )
            }
        }
    }

    /// `EXISTS` over the elements of the JSON array at `keys`, with `cond` built over the
    /// element expression this returns through the closure.
    pub(crate) fn json_any(
        self,
        doc: Expr,
        keys: &[&str],
        cond: impl FnOnce(Expr) -> Result<Expr, StoreError>,
    ) -> Result<Expr, StoreError> {
        match self {
            Self::Sqlite => {
                let p = dollar_path(keys)?;
                let c = cond(Expr::cust("je.value"))?;
                cust(
                    self,
                    "EXISTS (SELECT 1 FROM json_each(?, ?) AS je WHERE json_type(?, ?) = 'array' AND ?)",
                    vec![doc.clone(), Expr::val(p.clone()), doc, Expr::val(p), c],
                )
            }
            Self::Postgres => {
                let (j, mut a) = pg_path("json_extract_path", doc.clone(), keys)?;
                let (j2, a2) = pg_path("json_extract_path", doc, keys)?;
                a.extend(a2);
                a.push(cond(Expr::cust("je.v"))?);
                cust(
                    self,
                    &format!(
                        "EXISTS (SELECT 1 FROM json_array_elements(CASE WHEN json_typeof({j}) = 'array' \
                         THEN {j2} ELSE CAST('[]' AS json) END) AS je(v) WHERE ?)"
                    ),
                    a,
                )
            }
            Self::MySql => {
                // JSON_TABLE's path must be a literal; json_key() vetted every key.
                let p = dollar_path(keys)?;
                let c = cond(Expr::cust("je.v"))?;
                cust(
                    self,
                    &format!(
                        "EXISTS (SELECT 1 FROM JSON_TABLE(?, '{p}[*]' COLUMNS (v JSON PATH '$')) AS je WHERE ?)"
                    ),
                    vec![doc, c],
                )
            }
        }
    }

    /// The text of a scalar array element (from [`Dialect::json_any`]).
    pub(crate) fn element_text(self, elem: Expr) -> Result<Expr, StoreError> {
        match self {
            Self::Sqlite => cust(
                self,
                "(CASE je.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(? AS TEXT) END)",
                vec![elem],
            ),
            Self::Postgres => cust(self, "(? #>> '{}')", vec![elem]),
            Self::MySql => cust(self, "JSON_UNQUOTE(?)", vec![elem]),
        }
    }

    /// Forces a case-sensitive comparison of a text expression (MySQL collations are
    /// case-insensitive by default).
    pub(crate) fn exact(self, e: Expr) -> Result<Expr, StoreError> {
        match self {
            Self::MySql => cust(self, "(CONVERT(? USING utf8mb4) COLLATE utf8mb4_bin)", vec![e]),
            _ => Ok(e),
        }
    }

    /// A dateTime held as text in a document (RFC 3339, any offset, any fraction), as the
    /// stored form compares it: UTC with milliseconds (`2021-06-01T10:00:00.000Z`), so
    /// that text comparison orders instants as RFC 7644 3.4.2.2 asks. Documents are
    /// validated, so the text is a dateTime.
    pub(crate) fn date_time(self, e: Expr) -> Result<Expr, StoreError> {
        match self {
            Self::Sqlite => cust(self, "strftime('%Y-%m-%dT%H:%M:%fZ', ?)", vec![e]),
            Self::Postgres => cust(
                self,
                "to_char(CAST(? AS timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
                vec![e],
            ),
            // No offsets in MySQL's datetime literals (MariaDB): split the offset off and
            // convert with it (numeric offsets need no time zone tables).
            Self::MySql => cust(
                self,
                "CONCAT(SUBSTRING(DATE_FORMAT(CONVERT_TZ(CAST(REPLACE(CASE WHEN RIGHT(?, 1) IN ('Z', 'z') \
                 THEN LEFT(?, CHAR_LENGTH(?) - 1) ELSE LEFT(?, CHAR_LENGTH(?) - 6) END, 'T', ' ') \
                 AS DATETIME(3)), CASE WHEN RIGHT(?, 1) IN ('Z', 'z') THEN '+00:00' ELSE RIGHT(?, 6) END, \
                 '+00:00'), '%Y-%m-%dT%H:%i:%s.%f'), 1, 23), 'Z')",
                vec![e; 7],
            ),
        }
    }

    /// `LOWER(e)`.
    pub(crate) fn lower(self, e: Expr) -> Result<Expr, StoreError> {
        match self {
            Self::MySql => {
                cust(self, "LOWER(CONVERT(? USING utf8mb4) COLLATE utf8mb4_bin)", vec![e])
            }
            _ => cust(self, "LOWER(?)", vec![e]),
        }
    }

    /// `e LIKE pattern ESCAPE '!'`.
    pub(crate) fn like(self, e: Expr, pattern: Expr) -> Result<Expr, StoreError> {
        cust(self, "(? LIKE ? ESCAPE '!')", vec![e, pattern])
    }

    /// The SQL type name of text columns holding JSON documents.
    pub(crate) fn real_cast(self, e: Expr) -> Result<Expr, StoreError> {
        match self {
            Self::Sqlite => cust(self, "CAST(? AS REAL)", vec![e]),
            Self::Postgres => cust(self, "CAST(? AS DOUBLE PRECISION)", vec![e]),
            Self::MySql => cust(self, "CAST(? AS DOUBLE)", vec![e]),
        }
    }
}

/// Escapes `%`, `_` and `!` for a `LIKE ... ESCAPE '!'` pattern.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out
}
