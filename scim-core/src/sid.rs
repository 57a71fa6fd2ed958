//! Typed resource identifiers (`id`, RFC 7643 3.1, which leaves the format to the service
//! provider): a two-letter prefix and 32 lowercase hex digits encoding 128 bits, of which
//! the first 48 are the creation time in Unix milliseconds and the other 80 are drawn from
//! the operating system's CSPRNG.
//!
//! Why time first: every table and index keyed by a resource's id (the id's own unique
//! index, its e-mail rows, its memberships) then receives new rows at its end, as UUIDv7
//! keys do, instead of on a random page of the whole index. A write changes the pages
//! it touches, and each changed page is copied to the WAL at commit and again into the
//! database at the checkpoint, so a create that lands on pages other creates of the same
//! batch already changed writes fewer pages. Eighty random bits keep ids unguessable.

use crate::error::{ErrorCode, ScimError};
use crate::schema::ResourceKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid sid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a valid {kind}: expected {prefix} followed by 32 lowercase hex digits")]
pub struct SidError {
    /// The sid type's name.
    pub kind: &'static str,
    /// The required prefix.
    pub prefix: &'static str,
    /// The rejected input, shortened to 80 characters.
    pub input: String,
}

/// Fills `buf` from the OS CSPRNG. Failure means the OS has no entropy source at all,
/// which no request can cause; it is reported rather than hidden.
fn random_u128() -> Result<u128, getrandom::Error> {
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf)?;
    Ok(u128::from_be_bytes(buf))
}

/// Bits of a sid below its 48-bit millisecond timestamp.
const RANDOM_BITS: u32 = 80;

/// A sid's value: `millis` (Unix milliseconds, its low 48 bits: enough until the year
/// 10889) above `RANDOM_BITS` bits of `random`.
fn time_ordered(millis: u128, random: u128) -> u128 {
    ((millis & ((1 << 48) - 1)) << RANDOM_BITS) | (random & ((1 << RANDOM_BITS) - 1))
}

/// Milliseconds since the Unix epoch (0 for a clock set before it).
fn unix_millis() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

fn parse_hex32(s: &str) -> Option<u128> {
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

macro_rules! sid {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u128);

        impl $name {
            /// The two-letter prefix.
            pub const PREFIX: &'static str = $prefix;
            /// The pattern a valid sid matches, for error details.
            pub const PATTERN: &'static str = concat!($prefix, "[0-9a-f]{32}");

            /// A fresh sid: the time in milliseconds, then 80 bits of the OS CSPRNG
            /// (see the module's documentation).
            pub fn generate() -> Result<Self, getrandom::Error> {
                Ok(Self(time_ordered(unix_millis(), random_u128()?)))
            }

            /// The sid with this 128-bit value.
            pub const fn from_u128(v: u128) -> Self {
                Self(v)
            }

            /// The 128-bit value.
            pub const fn as_u128(self) -> u128 {
                self.0
            }

            /// Parses `PREFIX` + 32 lowercase hex digits.
            pub fn parse(s: &str) -> Result<Self, SidError> {
                s.strip_prefix($prefix)
                    .and_then(parse_hex32)
                    .map(Self)
                    .ok_or_else(|| SidError {
                        kind: stringify!($name),
                        prefix: $prefix,
                        input: s.chars().take(80).collect(),
                    })
            }

            /// Whether `s` is a well-formed sid of this type.
            pub fn is_valid(s: &str) -> bool {
                Self::parse(s).is_ok()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // By hand: `{:032x}` of a u128 is a slow path of `core::fmt`, and sids
                // are written into every query and response.
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut buf = [0u8; 34];
                let (p, digits) = buf.split_at_mut(2);
                p.copy_from_slice($prefix.as_bytes());
                for (i, d) in digits.iter_mut().enumerate() {
                    let nibble = (self.0 >> (4 * (31 - i))) & 0xf;
                    *d = HEX.get(nibble as usize).copied().unwrap_or(b'0');
                }
                f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = SidError;
            fn from_str(s: &str) -> Result<Self, SidError> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

sid!(
    /// An organization (tenant): `OR` + 32 hex.
    OrganizationSid,
    "OR"
);
sid!(
    /// A user: `US` + 32 hex.
    UserSid,
    "US"
);
sid!(
    /// A group: `GR` + 32 hex.
    GroupSid,
    "GR"
);

/// The id of a stored resource, a user or a group: the kind travels with the sid, so
/// a store call cannot name a user's sid as a group.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceId {
    /// A user's sid.
    User(UserSid),
    /// A group's sid.
    Group(GroupSid),
}

impl ResourceId {
    /// The kind of resource this id names.
    pub fn kind(self) -> ResourceKind {
        match self {
            Self::User(_) => ResourceKind::User,
            Self::Group(_) => ResourceKind::Group,
        }
    }

    /// Parses a path id against the sid pattern of `kind`. No resource can exist under a
    /// malformed id, so the error is a 404 ([`ErrorCode::MalformedId`]) that names the
    /// pattern.
    pub fn parse(kind: ResourceKind, id: &str) -> Result<Self, ScimError> {
        let (parsed, pattern) = match kind {
            ResourceKind::User => (UserSid::parse(id).ok().map(Self::User), UserSid::PATTERN),
            ResourceKind::Group => (GroupSid::parse(id).ok().map(Self::Group), GroupSid::PATTERN),
        };
        parsed.ok_or_else(|| {
            let shown: String = id.chars().take(80).collect();
            ScimError::new(
                ErrorCode::MalformedId,
                format!(
                    "no {} has the id '{shown}': {} ids match {pattern}",
                    kind.name(),
                    kind.name()
                ),
            )
        })
    }

    /// The resource a sid names, its kind told by the prefix; `None` when `id` is neither
    /// a user's nor a group's sid.
    pub fn of(id: &str) -> Option<Self> {
        if id.starts_with(UserSid::PREFIX) {
            UserSid::parse(id).ok().map(Self::User)
        } else if id.starts_with(GroupSid::PREFIX) {
            GroupSid::parse(id).ok().map(Self::Group)
        } else {
            None
        }
    }
}

impl From<UserSid> for ResourceId {
    fn from(sid: UserSid) -> Self {
        Self::User(sid)
    }
}

impl From<GroupSid> for ResourceId {
    fn from(sid: GroupSid) -> Self {
        Self::Group(sid)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(sid) => fmt::Display::fmt(sid, f),
            Self::Group(sid) => fmt::Display::fmt(sid, f),
        }
    }
}

impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for ResourceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generate_parse_round_trip() {
        let a = UserSid::generate().unwrap();
        let b = UserSid::generate().unwrap();
        assert_ne!(a, b);
        let s = a.to_string();
        assert_eq!(s.len(), 34);
        assert!(s.starts_with("US"));
        assert_eq!(UserSid::parse(&s).unwrap(), a);
    }

    #[test]
    fn generated_sids_start_with_the_time() {
        let before = unix_millis();
        let a = GroupSid::generate().unwrap();
        let after = unix_millis();
        let millis = a.as_u128() >> RANDOM_BITS;
        assert!((before..=after).contains(&millis), "{before} <= {millis} <= {after}");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = GroupSid::generate().unwrap();
        assert!(b.to_string() > a.to_string(), "a later sid sorts after: {a} {b}");
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "",
            "US",
            "us0123456789abcdef0123456789abcdef",
            "US0123456789ABCDEF0123456789ABCDEF",
            "GR0123456789abcdef0123456789abcdef",
            "US0123456789abcdef0123456789abcde",
            "US0123456789abcdef0123456789abcdef0",
            "US+123456789abcdef0123456789abcdef",
        ] {
            assert!(UserSid::parse(bad).is_err(), "{bad}");
        }
        let e = OrganizationSid::parse("ORxyz").unwrap_err();
        assert!(e.to_string().contains("OR followed by 32 lowercase hex digits"));
    }

    #[test]
    fn resource_id_parse() {
        let id =
            ResourceId::parse(ResourceKind::User, "US0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(id.kind(), ResourceKind::User);
        assert_eq!(id.to_string(), "US0123456789abcdef0123456789abcdef");
        assert_eq!(format!("{id:?}"), "US0123456789abcdef0123456789abcdef");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"US0123456789abcdef0123456789abcdef\"");
        let e = ResourceId::parse(ResourceKind::User, "GR0123456789abcdef0123456789abcdef")
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedId);
        assert_eq!(
            e.detail,
            "no User has the id 'GR0123456789abcdef0123456789abcdef': User ids match \
             US[0-9a-f]{32}"
        );
        let e = ResourceId::parse(ResourceKind::Group, &"x".repeat(100)).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedId);
        assert!(e.detail.contains(&format!("'{}'", "x".repeat(80))));
        assert!(e.detail.ends_with("Group ids match GR[0-9a-f]{32}"));
    }

    #[test]
    fn resource_id_of() {
        let user = UserSid::from_u128(7);
        let group = GroupSid::from_u128(7);
        assert_eq!(ResourceId::of(&user.to_string()), Some(ResourceId::from(user)));
        assert_eq!(ResourceId::of(&group.to_string()), Some(ResourceId::from(group)));
        assert_eq!(
            ResourceId::of(&group.to_string()).map(ResourceId::kind),
            Some(ResourceKind::Group)
        );
        assert_eq!(ResourceId::of("OR0123456789abcdef0123456789abcdef"), None);
        assert_eq!(ResourceId::of(""), None);
    }

    proptest! {
        #[test]
        fn json_round_trip(v in any::<u128>()) {
            let sid = GroupSid::from_u128(v);
            let json = serde_json::to_string(&sid).unwrap();
            prop_assert_eq!(serde_json::from_str::<GroupSid>(&json).unwrap(), sid);
        }

        #[test]
        fn display_is_prefix_and_32_hex_digits(v in any::<u128>()) {
            prop_assert_eq!(UserSid::from_u128(v).to_string(), format!("US{v:032x}"));
        }

        #[test]
        fn time_ordered_keeps_the_time_and_80_random_bits(ms in 0u128..(1 << 48), r in any::<u128>()) {
            let v = time_ordered(ms, r);
            prop_assert_eq!(v >> RANDOM_BITS, ms);
            prop_assert_eq!(v & ((1 << RANDOM_BITS) - 1), r & ((1 << RANDOM_BITS) - 1));
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = OrganizationSid::parse(&s);
        }
    }
}
