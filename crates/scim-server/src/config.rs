//! Service configuration: defaults, then `scim.toml` (or `--config FILE`), then `SCIM_*`
//! environment variables, then command-line flags, each overriding the one before
//! (figment). Every option is documented in `docs/configuration.md`.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The service's configuration (`docs/configuration.md`). Field names are the TOML keys; the
/// environment variable of each is `SCIM_` + the upper-cased name.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Database URL: `sqlite://FILE?mode=rwc`, `sqlite::memory:`, `postgres://...`,
    /// `mysql://...`.
    pub database_url: String,
    /// Socket address to listen on.
    pub listen: String,
    /// Directory of extension schema JSON files (RFC 7643 section 7), loaded at start.
    pub schema_dir: Option<PathBuf>,
    /// Public base URL (scheme and authority, optionally a path prefix) used for
    /// `meta.location` and `Location`; when unset, taken from `X-Forwarded-*`/`Host`.
    pub public_url: Option<String>,
    /// Base of the `moreInfo` links of error bodies (`{docs_base}/errors#{code}`); when
    /// unset, the service's own public base URL + [`DOCS_PATH`], where it serves the page.
    pub docs_base: Option<String>,
    /// Whether error bodies on `/scim/v2` also carry `code` and `moreInfo` (they always
    /// do on `/Organizations/{sid}/scim`). Off by default: RFC 7644 3.12 defines only
    /// `schemas`, `status`, `scimType` and `detail`, and strict clients reject other members;
    /// the code and its link travel in a `Link: <...>; rel="help"` header either way.
    pub error_body_codes: bool,
    /// Largest request body, after decompression, in bytes.
    pub max_body_bytes: usize,
    /// Longest time a request may take, in seconds, before it is answered with 503.
    pub request_timeout_secs: u64,
    /// Longest accepted `filter` expression, in bytes.
    pub max_filter_length: usize,
    /// Deepest accepted nesting of a filter (parentheses, `not`, value filters).
    pub max_filter_depth: usize,
    /// Page size when a query names no `count`.
    pub default_page_size: u64,
    /// Largest page size; a larger `count` is capped to it.
    pub max_page_size: u64,
    /// Seconds an RFC 9865 cursor stays valid.
    pub cursor_timeout_secs: u64,
    /// Most operations in one `/Bulk` request (also the most ids of `/Users/delete`).
    pub bulk_max_operations: u64,
    /// Largest `/Bulk` request body, in bytes.
    pub bulk_max_payload_bytes: u64,
    /// Requests per second allowed per credential; 0 turns rate limiting off.
    pub rate_limit_per_second: u32,
    /// Burst size of the per-credential token bucket (at least 1 when limiting).
    pub rate_limit_burst: u32,
    /// Lifetime of OAuth2 access tokens issued by `/oauth2/token`, in seconds.
    pub access_token_ttl_secs: u64,
    /// Milliseconds a successful credential or organization lookup is cached per replica
    /// (0 turns the cache off); a revoked token stops working within this time.
    pub auth_cache_ttl_ms: u64,
    /// Allowed CORS origins; empty means any origin (`*`, without credentials).
    #[serde(deserialize_with = "string_or_list")]
    pub cors_origins: Vec<String>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter in `tracing` `EnvFilter` syntax (`RUST_LOG` wins when set).
    pub log_level: String,
    /// The secret of the bootstrap token created on first start (otherwise random).
    pub bootstrap_token: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bootstrap token and database credentials never reach a log line.
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("schema_dir", &self.schema_dir)
            .field("public_url", &self.public_url)
            .field("docs_base", &self.docs_base)
            .field("error_body_codes", &self.error_body_codes)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("max_filter_length", &self.max_filter_length)
            .field("max_filter_depth", &self.max_filter_depth)
            .field("default_page_size", &self.default_page_size)
            .field("max_page_size", &self.max_page_size)
            .field("cursor_timeout_secs", &self.cursor_timeout_secs)
            .field("bulk_max_operations", &self.bulk_max_operations)
            .field("bulk_max_payload_bytes", &self.bulk_max_payload_bytes)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("auth_cache_ttl_ms", &self.auth_cache_ttl_ms)
            .field("cors_origins", &self.cors_origins)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("bootstrap_token", &self.bootstrap_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Replaces the password of a URL (`scheme://user:password@host`) with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// Where the service serves its own documentation (`/docs/errors`, `/docs/errors.md`); the
/// default docs base is the public base URL followed by this path.
pub const DOCS_PATH: &str = "/docs";

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://scim.db?mode=rwc".into(),
            listen: "127.0.0.1:8080".into(),
            schema_dir: None,
            public_url: None,
            docs_base: None,
            error_body_codes: false,
            max_body_bytes: 10 * 1024 * 1024,
            request_timeout_secs: 30,
            max_filter_length: 4096,
            max_filter_depth: 16,
            default_page_size: 100,
            max_page_size: 1000,
            cursor_timeout_secs: 3600,
            bulk_max_operations: 1000,
            bulk_max_payload_bytes: 1024 * 1024,
            rate_limit_per_second: 0,
            rate_limit_burst: 50,
            access_token_ttl_secs: 3600,
            auth_cache_ttl_ms: 1000,
            cors_origins: Vec::new(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            bootstrap_token: None,
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A source could not be read or has a wrongly typed value.
    #[error("configuration: {0}")]
    Load(String),
    /// The values are readable but contradict each other or are out of range.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Command-line overrides; `None` leaves the lower layers' value in place.
#[derive(Debug, Clone, Default, Serialize, clap::Args)]
pub struct Overrides {
    /// Database URL; set from the global `--database-url` flag, not a `serve` flag.
    #[arg(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Socket address to listen on [env: SCIM_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Directory of extension schema JSON files [env: SCIM_SCHEMA_DIR]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_dir: Option<PathBuf>,
    /// Public base URL for Location and meta.location [env: SCIM_PUBLIC_URL]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Base of the moreInfo links in error bodies [env: SCIM_DOCS_BASE] [default: the public URL + /docs]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docs_base: Option<String>,
    /// Also put code and moreInfo in error bodies on /scim/v2 [env: SCIM_ERROR_BODY_CODES] [default: false]
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_body_codes: Option<bool>,
    /// Largest request body after decompression, bytes [env: SCIM_MAX_BODY_BYTES]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
    /// Request timeout, seconds [env: SCIM_REQUEST_TIMEOUT_SECS]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_secs: Option<u64>,
    /// Longest filter, bytes [env: SCIM_MAX_FILTER_LENGTH]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_filter_length: Option<usize>,
    /// Deepest filter nesting [env: SCIM_MAX_FILTER_DEPTH]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_filter_depth: Option<usize>,
    /// Default page size [env: SCIM_DEFAULT_PAGE_SIZE]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_page_size: Option<u64>,
    /// Maximum page size [env: SCIM_MAX_PAGE_SIZE]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_page_size: Option<u64>,
    /// Cursor lifetime, seconds [env: SCIM_CURSOR_TIMEOUT_SECS]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_timeout_secs: Option<u64>,
    /// Most operations per /Bulk request [env: SCIM_BULK_MAX_OPERATIONS]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_max_operations: Option<u64>,
    /// Largest /Bulk body, bytes [env: SCIM_BULK_MAX_PAYLOAD_BYTES]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_max_payload_bytes: Option<u64>,
    /// Requests per second per credential, 0 = off [env: SCIM_RATE_LIMIT_PER_SECOND]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_second: Option<u32>,
    /// Token-bucket burst per credential [env: SCIM_RATE_LIMIT_BURST]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_burst: Option<u32>,
    /// OAuth2 access token lifetime, seconds [env: SCIM_ACCESS_TOKEN_TTL_SECS]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl_secs: Option<u64>,
    /// Credential/organization lookup cache, ms; 0 = off [env: SCIM_AUTH_CACHE_TTL_MS]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_cache_ttl_ms: Option<u64>,
    /// Allowed CORS origin (repeat for several; none = any) [env: SCIM_CORS_ORIGINS, comma-separated]
    #[arg(long = "cors-origin")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cors_origins: Vec<String>,
    /// Log format [env: SCIM_LOG_FORMAT]
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. info or scim_server=debug [env: SCIM_LOG_LEVEL]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
}

impl Config {
    /// Loads defaults, then the TOML file (`path`, or `scim.toml` when it exists), then
    /// `SCIM_*` variables, then `overrides`, and validates the result.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(p) if !p.exists() => {
                return Err(ConfigError::Load(format!(
                    "config file {} does not exist",
                    p.display()
                )));
            }
            Some(p) => fig = fig.merge(Toml::file(p)),
            None => fig = fig.merge(Toml::file("scim.toml")),
        }
        // `SCIM_CONFIG` names the file itself; `SCIM_URL`/`SCIM_TOKEN` belong to the client.
        let env = Env::prefixed("SCIM_").ignore(&["config", "url", "token"]);
        let fig = fig.merge(env).merge(Serialized::defaults(overrides));
        let config: Config = fig.extract().map_err(|e| ConfigError::Load(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.max_page_size == 0 {
            return bad("max_page_size must be at least 1");
        }
        if self.default_page_size > self.max_page_size {
            return bad("default_page_size must not exceed max_page_size");
        }
        if self.max_body_bytes < 1024 {
            return bad("max_body_bytes must be at least 1024");
        }
        if self.request_timeout_secs == 0 {
            return bad("request_timeout_secs must be at least 1");
        }
        if self.bulk_max_operations == 0 || self.bulk_max_payload_bytes == 0 {
            return bad("bulk_max_operations and bulk_max_payload_bytes must be at least 1");
        }
        if self.access_token_ttl_secs == 0 || self.access_token_ttl_secs > 86_400 {
            return bad("access_token_ttl_secs must be 1 to 86400");
        }
        if self.auth_cache_ttl_ms > 60_000 {
            return bad(
                "auth_cache_ttl_ms must be at most 60000 (a revoked token must stop working soon)",
            );
        }
        if self.rate_limit_per_second > 0 && self.rate_limit_burst == 0 {
            return bad("rate_limit_burst must be at least 1 when rate limiting is on");
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad("public_url must start with http:// or https://");
        }
        if self.cors_origins.iter().any(|o| o == "*") && self.cors_origins.len() > 1 {
            return bad("cors_origins: '*' cannot be combined with explicit origins");
        }
        if let Some(t) = &self.bootstrap_token {
            crate::token::check_chosen_secret(t).map_err(ConfigError::Invalid)?;
        }
        Ok(())
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// Accepts `"a,b"` (how environment variables carry lists) or `["a","b"]`.
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum L {
        One(String),
        Many(Vec<String>),
    }
    Ok(match L::deserialize(d)? {
        L::One(s) => {
            s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        }
        L::Many(v) => v,
    })
}

/// Builds the schema registry: the built-in schemas plus every `*.json` file in
/// `schema_dir` (in name order); a malformed file fails with its path and the reason.
pub fn load_registry(
    schema_dir: Option<&Path>,
) -> Result<scim_core::schema::Registry, ConfigError> {
    let mut registry = scim_core::schema::Registry::builtin();
    let Some(dir) = schema_dir else { return Ok(registry) };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ConfigError::Load(format!("schema_dir {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("json")) && p.is_file())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| ConfigError::Load(format!("schema file {}: {e}", file.display())))?;
        registry
            .add_extension_json(&text)
            .map_err(|e| ConfigError::Invalid(format!("schema file {}: {e}", file.display())))?;
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://u:secret@db:5432/x"), "postgres://u:***@db:5432/x");
        assert_eq!(redact_url("sqlite://scim.db?mode=rwc"), "sqlite://scim.db?mode=rwc");
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }
}
