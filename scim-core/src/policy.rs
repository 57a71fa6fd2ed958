//! Organization policies, chosen per organization at creation (`docs/configuration.md`,
//! "Organization policies").

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A business rule an organization opts into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Policy {
    /// `userName` must equal the primary email's `value`, case-insensitively.
    #[serde(rename = "username-is-primary-email")]
    UsernameIsPrimaryEmail,
    /// DELETE deactivates and hides instead of erasing; an admin can restore.
    #[serde(rename = "soft-delete")]
    SoftDelete,
}

impl Policy {
    /// Every policy.
    pub const ALL: &'static [Policy] = &[Policy::UsernameIsPrimaryEmail, Policy::SoftDelete];

    /// The policy's name as used on the command line and in storage.
    pub fn name(self) -> &'static str {
        match self {
            Self::UsernameIsPrimaryEmail => "username-is-primary-email",
            Self::SoftDelete => "soft-delete",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown policy name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy '{0}' (known: username-is-primary-email, soft-delete)")]
pub struct UnknownPolicy(pub String);

impl FromStr for Policy {
    type Err = UnknownPolicy;
    fn from_str(s: &str) -> Result<Self, UnknownPolicy> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownPolicy(s.to_owned()))
    }
}

/// Checks a validated resource against an organization's policies.
///
/// `username-is-primary-email` applies to users only (a resource without `userName` is
/// not a user and passes): `userName` must equal, case-insensitively, the `value` of the
/// primary email. With exactly one email, that email counts as primary whether or not it
/// says so; with more than one, exactly one must have `primary: true`; a user without
/// emails violates the policy. `soft-delete` is about DELETE and checks nothing here.
/// Errors are [`ErrorCode::PolicyViolation`](crate::error::ErrorCode::PolicyViolation).
pub fn check_policies(
    resource: &crate::resource::Resource,
    policies: &[Policy],
) -> Result<(), crate::error::ScimError> {
    use crate::error::{ErrorCode, ScimError};
    use serde_json::Value;
    for policy in policies {
        match policy {
            Policy::UsernameIsPrimaryEmail => {
                let Some(user_name) = resource.get("userName").and_then(Value::as_str) else {
                    continue;
                };
                let violation = |detail: String| {
                    Err(ScimError::new(
                        ErrorCode::PolicyViolation,
                        format!("policy username-is-primary-email: {detail}"),
                    ))
                };
                let emails: Vec<&Value> = match resource.get("emails") {
                    Some(Value::Array(a)) => a.iter().collect(),
                    Some(v @ Value::Object(_)) => vec![v],
                    _ => Vec::new(),
                };
                let primary: Vec<&Value> = match emails.as_slice() {
                    [] => {
                        return violation(
                            "the user has no email; userName must equal the primary email".into(),
                        );
                    }
                    [only] => vec![*only],
                    many => many
                        .iter()
                        .copied()
                        .filter(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
                        .collect(),
                };
                let email = match primary.as_slice() {
                    [one] => one.get("value").and_then(Value::as_str).unwrap_or_default(),
                    [] => {
                        return violation(format!(
                            "the user has {} emails and none is primary; exactly one must be",
                            emails.len()
                        ));
                    }
                    _ => return violation("more than one email is primary".into()),
                };
                if !email.eq_ignore_ascii_case(user_name) {
                    return violation(format!(
                        "userName '{user_name}' must equal the primary email '{email}' (case-insensitively)"
                    ));
                }
            }
            Policy::SoftDelete => {}
        }
    }
    Ok(())
}
