//! The error catalog: every failure the service can answer with, as one SCIM error type.
//!
//! RFC 7644 3.12 defines the error body (`status` as a string, optional `scimType`,
//! `detail`); this project adds a stable numeric `code` and a `moreInfo` link into
//! `docs/errors.md`. Every code is `prefix * 1000 + status`, so the HTTP status
//! can always be read off the code, and each distinct failure has its own code.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The URN of the SCIM error message schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// `scimType` values of RFC 7644 3.12, plus the cursor types of RFC 9865.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ScimType {
    /// The filter syntax was invalid or the filter is not supported.
    InvalidFilter,
    /// The filter yields too many results for the server to process.
    TooMany,
    /// One or more of the attribute values are already in use or reserved.
    Uniqueness,
    /// The attempted modification is not compatible with the target's mutability.
    Mutability,
    /// The request body structure was invalid or did not conform to the schema.
    InvalidSyntax,
    /// The path attribute was invalid or malformed.
    InvalidPath,
    /// The path did not yield an attribute or value that could be operated on.
    NoTarget,
    /// A required value was missing, or the value was not compatible.
    InvalidValue,
    /// The specified SCIM protocol version is not supported.
    InvalidVers,
    /// The request was sensitive and cannot be honoured.
    Sensitive,
    /// RFC 9865: the cursor is malformed or does not belong to this query.
    InvalidCursor,
    /// RFC 9865: the cursor has expired.
    ExpiredCursor,
}

impl ScimType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
            Self::Sensitive => "sensitive",
            Self::InvalidCursor => "invalidCursor",
            Self::ExpiredCursor => "expiredCursor",
        }
    }
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $status:ident, $scim:expr ;)*) => {
        /// One stable numeric code per distinct failure (never reused for another meaning).
        ///
        /// Every variant is documented in `docs/errors.md` with its cause and fix; a test
        /// fails when one is missing there.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $name, )*
        }

        impl ErrorCode {
            /// Every code, in catalog order.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$name, )* ];

            /// The numeric code sent as `code`.
            pub fn code(self) -> u32 {
                match self { $( ErrorCode::$name => $code, )* }
            }

            /// The HTTP status this failure is answered with.
            pub fn status(self) -> StatusCode {
                match self { $( ErrorCode::$name => StatusCode::$status, )* }
            }

            /// The `scimType` this failure carries, if any.
            pub fn scim_type(self) -> Option<ScimType> {
                match self { $( ErrorCode::$name => $scim, )* }
            }

            /// The variant's name, as written in `docs/errors.md`.
            pub fn name(self) -> &'static str {
                match self { $( ErrorCode::$name => stringify!($name), )* }
            }

            /// Looks a code up by its number.
            pub fn from_code(code: u32) -> Option<ErrorCode> {
                match code { $( $code => Some(ErrorCode::$name), )* _ => None }
            }
        }
    };
}

error_codes! {
    /// The body is not valid JSON, or a value has the wrong JSON type.
    InvalidSyntax = 20400, BAD_REQUEST, Some(ScimType::InvalidSyntax);
    /// The `filter` parameter does not parse or names something unfilterable.
    InvalidFilter = 21400, BAD_REQUEST, Some(ScimType::InvalidFilter);
    /// A PATCH `path` (or `sortBy`, `attributes`) does not parse or names no attribute.
    InvalidPath = 22400, BAD_REQUEST, Some(ScimType::InvalidPath);
    /// A PATCH `remove` or value-filtered path matched nothing it could act on.
    NoTarget = 23400, BAD_REQUEST, Some(ScimType::NoTarget);
    /// A value is missing, of the wrong type, or not allowed for the attribute.
    InvalidValue = 24400, BAD_REQUEST, Some(ScimType::InvalidValue);
    /// The request tries to change a readOnly or immutable attribute.
    Mutability = 25400, BAD_REQUEST, Some(ScimType::Mutability);
    /// A query or bulk request asks for more than the configured maximum.
    TooMany = 26400, BAD_REQUEST, Some(ScimType::TooMany);
    /// An organization policy (e.g. `username-is-primary-email`) rejects the resource.
    PolicyViolation = 27400, BAD_REQUEST, Some(ScimType::InvalidValue);
    /// `Zuora-Track-Id` (or another tracking header) is malformed.
    InvalidTrackingHeader = 28400, BAD_REQUEST, None;
    /// A credential granted on several organizations sent no `Scim-Organization` header.
    OrganizationRequired = 29400, BAD_REQUEST, None;
    /// The `{OrganizationSid}` in the path is not `OR` followed by 32 lowercase hex digits.
    InvalidOrganizationSid = 30400, BAD_REQUEST, None;
    /// An RFC 9865 cursor is malformed, tampered with, or belongs to another query.
    InvalidCursor = 31400, BAD_REQUEST, Some(ScimType::InvalidCursor);
    /// An RFC 9865 cursor has expired.
    ExpiredCursor = 32400, BAD_REQUEST, Some(ScimType::ExpiredCursor);
    /// A query parameter (`count`, `startIndex`, `sortOrder`, ...) is malformed.
    InvalidParameter = 33400, BAD_REQUEST, Some(ScimType::InvalidValue);
    /// A bulk operation refers to a `bulkId` that no earlier operation defined.
    UnresolvedBulkId = 34400, BAD_REQUEST, Some(ScimType::InvalidValue);
    /// The `schemas` of a request body are missing or wrong.
    InvalidSchemas = 35400, BAD_REQUEST, Some(ScimType::InvalidSyntax);
    /// A required attribute is missing.
    MissingAttribute = 36400, BAD_REQUEST, Some(ScimType::InvalidValue);
    /// The query string has more parameters than the service accepts.
    TooManyParameters = 37400, BAD_REQUEST, Some(ScimType::InvalidSyntax);
    /// An admin API request names an unknown policy or scope, or an invalid name,
    /// lifetime or combination of scopes.
    InvalidAdminRequest = 38400, BAD_REQUEST, None;
    /// No credential was sent.
    MissingCredential = 20401, UNAUTHORIZED, None;
    /// The credential is malformed, unknown, revoked or expired.
    InvalidCredential = 21401, UNAUTHORIZED, None;
    /// The credential lacks the scope the operation needs.
    InsufficientScope = 20403, FORBIDDEN, None;
    /// The credential is not granted on the organization the request names.
    OrganizationForbidden = 21403, FORBIDDEN, None;
    /// No resource with that id exists in the organization.
    ResourceNotFound = 20404, NOT_FOUND, None;
    /// The id in the path does not match the resource type's sid pattern.
    MalformedId = 21404, NOT_FOUND, None;
    /// No route matches the request path.
    UnknownRoute = 22404, NOT_FOUND, None;
    /// The organization an admin API request names does not exist.
    OrganizationNotFound = 23404, NOT_FOUND, None;
    /// The token or OAuth client an admin API request names does not exist, is already
    /// revoked, or belongs to another organization.
    CredentialNotFound = 24404, NOT_FOUND, None;
    /// The event stream an admin API request names does not exist.
    EventStreamNotFound = 25404, NOT_FOUND, None;
    /// The route exists but not with this method.
    MethodNotAllowed = 20405, METHOD_NOT_ALLOWED, None;
    /// A unique attribute (`userName`, `externalId`, group `displayName`) is taken.
    Uniqueness = 20409, CONFLICT, Some(ScimType::Uniqueness);
    /// On the organization-scoped family, `If-Match` does not match the current version.
    VersionConflict = 21409, CONFLICT, None;
    /// The first request with this `Idempotency-Key` is still running.
    IdempotencyInFlight = 22409, CONFLICT, None;
    /// An admin API deletion of an organization that still holds users or groups, without
    /// `force`.
    OrganizationNotEmpty = 23409, CONFLICT, None;
    /// On the RFC family, `If-Match` does not match the current version (RFC 7644 3.14).
    PreconditionFailed = 20412, PRECONDITION_FAILED, None;
    /// The body (or its decompressed form) is over the configured limit.
    PayloadTooLarge = 20413, PAYLOAD_TOO_LARGE, None;
    /// A bulk request is over `maxPayloadSize`.
    BulkPayloadTooLarge = 21413, PAYLOAD_TOO_LARGE, None;
    /// The request's `Content-Type` is neither `application/scim+json` nor `application/json`.
    UnsupportedMediaType = 20415, UNSUPPORTED_MEDIA_TYPE, None;
    /// An `Idempotency-Key` was reused with a different request.
    IdempotencyKeyReused = 20422, UNPROCESSABLE_ENTITY, None;
    /// The credential is over its rate limit.
    RateLimited = 20429, TOO_MANY_REQUESTS, None;
    /// The request's headers are larger than the service accepts.
    HeadersTooLarge = 20431, REQUEST_HEADER_FIELDS_TOO_LARGE, None;
    /// An unexpected server fault (a bug); the request id in the log tells which.
    Internal = 20500, INTERNAL_SERVER_ERROR, None;
    /// The operation is not supported (e.g. `/Me`).
    NotImplemented = 20501, NOT_IMPLEMENTED, None;
    /// The database cannot be reached; retry after the advertised delay.
    Unavailable = 20503, SERVICE_UNAVAILABLE, None;
    /// The request took longer than the configured timeout.
    Timeout = 21503, SERVICE_UNAVAILABLE, None;
    /// The process has as many connections open as it accepts.
    Overloaded = 22503, SERVICE_UNAVAILABLE, None;
}

/// A SCIM error: what went wrong, and how it is answered on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    /// The failure, which fixes status, `scimType` and `code`.
    pub code: ErrorCode,
    /// Human-readable detail. Never carries SQL, secrets or another organization's data.
    pub detail: String,
}

impl ScimError {
    /// A new error with a detail message.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into() }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The `scimType`, if any.
    pub fn scim_type(&self) -> Option<ScimType> {
        self.code.scim_type()
    }

    /// The wire body, with `moreInfo` pointing below `docs_base` (e.g. `https://host/docs`).
    pub fn to_body(&self, docs_base: &str) -> ErrorBody {
        let code = self.code.code();
        ErrorBody {
            schemas: vec![ERROR_SCHEMA.to_owned()],
            status: self.status().as_u16().to_string(),
            scim_type: self.scim_type(),
            detail: Some(self.detail.clone()),
            code: Some(code),
            more_info: Some(format!("{}/errors#{code}", docs_base.trim_end_matches('/'))),
        }
    }

    /// Shorthand for [`ErrorCode::InvalidSyntax`].
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidSyntax, detail)
    }

    /// Shorthand for [`ErrorCode::InvalidValue`].
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidValue, detail)
    }

    /// Shorthand for [`ErrorCode::InvalidPath`].
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPath, detail)
    }

    /// Shorthand for [`ErrorCode::NoTarget`].
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NoTarget, detail)
    }

    /// Shorthand for [`ErrorCode::Mutability`].
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Mutability, detail)
    }

    /// Shorthand for [`ErrorCode::InvalidFilter`].
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidFilter, detail)
    }
}

/// The RFC 7644 3.12 error body, with this project's `code` and `moreInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Always `[ERROR_SCHEMA]`.
    pub schemas: Vec<String>,
    /// The HTTP status as a string (RFC 7644 3.12).
    #[serde(deserialize_with = "status_string_or_number")]
    pub status: String,
    /// The SCIM detail error keyword.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<ScimType>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The project's numeric error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    /// A link to the code's entry in the error documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_info: Option<String>,
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SCIM error {}", self.status)?;
        if let Some(t) = self.scim_type {
            write!(f, " ({})", t.as_str())?;
        }
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

/// Some servers send `status` as a number; accept both, keep the string.
fn status_string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        S(String),
        N(u64),
    }
    Ok(match S::deserialize(d)? {
        S::S(s) => s,
        S::N(n) => n.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_encodes_status_and_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert_eq!(c.code() % 1000, u32::from(c.status().as_u16()), "{c:?}");
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert_eq!(ErrorCode::from_code(c.code()), Some(*c));
        }
    }

    #[test]
    fn body_has_string_status_and_link() {
        let e = ScimError::new(ErrorCode::Uniqueness, "userName 'a@x.io' is taken");
        let v = serde_json::to_value(e.to_body("https://docs.example/")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"schemas":[ERROR_SCHEMA],"status":"409","scimType":"uniqueness",
              "detail":"userName 'a@x.io' is taken","code":20409,
              "moreInfo":"https://docs.example/errors#20409"})
        );
    }
}
