//! Entity tags of resource versions (RFC 7644 3.14, RFC 7232 2.3).
//!
//! A resource's version is a counter that every change increments; on the wire it is the
//! weak entity tag `W/"<n>"`, in the `ETag` header and in `meta.version`. Clients send it
//! back in `If-Match` / `If-None-Match`, weak or strong (`"3"` matches `W/"3"`: SCIM
//! compares versions weakly).

use std::fmt;

/// A resource version as an entity tag: displays as `W/"<n>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ETag(pub u64);

impl ETag {
    /// Parses one entity tag, weak or strong (`W/"3"`, `"3"`, or a bare `3`). Tags that
    /// are not a version of ours (any other text) give `None`: they can never match.
    pub fn parse(tag: &str) -> Option<Self> {
        let t = tag.trim();
        let t = t.strip_prefix("W/").or_else(|| t.strip_prefix("w/")).unwrap_or(t);
        let inner = t.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(t);
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        inner.parse().ok().map(Self)
    }

    /// The version number.
    pub fn version(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "W/\"{}\"", self.0)
    }
}

impl From<ETag> for String {
    fn from(tag: ETag) -> Self {
        tag.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn weak_strong_and_bare_tags_parse() {
        assert_eq!(ETag(3).to_string(), "W/\"3\"");
        assert_eq!(ETag::parse("W/\"3\""), Some(ETag(3)));
        assert_eq!(ETag::parse(" w/\"3\" "), Some(ETag(3)));
        assert_eq!(ETag::parse("\"3\""), Some(ETag(3)));
        assert_eq!(ETag::parse("3"), Some(ETag(3)));
        for bad in ["", "W/\"\"", "\"abc\"", "W/\"-1\"", "W/\"+1\"", "*", "W/\"1 \""] {
            assert_eq!(ETag::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(v in any::<u64>()) {
            prop_assert_eq!(ETag::parse(&ETag(v).to_string()), Some(ETag(v)));
        }
    }
}
