//! Organization policies (SPEC section 6), chosen per organization at creation.

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
