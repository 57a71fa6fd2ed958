//! Conversions between the stored text and the store's types: timestamps, ids, kinds, scopes,
//! and the error of an invalid value.

use crate::{Result, Scope, StoreError};
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use scim_core::{ErrorCode, ScimError};

pub(super) const TS_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

pub(super) fn fmt_ts(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(TS_FORMAT).unwrap_or_default()
}

/// Now, as stored: RFC 3339 UTC with milliseconds.
pub(super) fn now() -> String {
    fmt_ts(time::OffsetDateTime::now_utc())
}

/// An RFC 3339 timestamp normalised to the stored form (UTC, milliseconds), so that text
/// comparison orders instants.
pub(crate) fn now_from(s: &str) -> Option<String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(fmt_ts)
}

pub(super) fn random_hex() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(b))
}

pub(super) fn kind_of(s: &str) -> Result<ResourceKind> {
    match s {
        "User" => Ok(ResourceKind::User),
        "Group" => Ok(ResourceKind::Group),
        other => {
            Err(StoreError::Internal(format!("unknown resource kind '{other}' in the database")))
        }
    }
}

pub(super) fn scopes_json(scopes: &[Scope]) -> String {
    serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into())
}

pub(super) fn parse_scopes(s: &str) -> Vec<Scope> {
    serde_json::from_str(s).unwrap_or_default()
}

pub(super) fn parse_org(s: &str) -> Result<OrganizationSid> {
    OrganizationSid::parse(s).map_err(|e| StoreError::Internal(e.to_string()))
}

pub(super) fn invalid_value(msg: String) -> StoreError {
    StoreError::Scim(ScimError::new(ErrorCode::InvalidValue, msg))
}
