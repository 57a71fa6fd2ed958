//! Service configuration: defaults, then `scim.toml` (or `--config FILE`), then `SCIM_*`
//! environment variables, then command-line flags, each overriding the one before
//! (figment). Every option is documented in `docs/configuration.md`.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod overrides;
pub use overrides::Overrides;

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
    /// How many replicas serve the same database: each enforces `1/replicas` of the rate
    /// limit and burst (rounded up).
    pub replicas: u32,
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
    /// How long start-up keeps retrying a database that refuses or times out the
    /// connection, in seconds (0: try once). Other database errors fail at once.
    pub database_connect_timeout_secs: u64,
    /// How long a request waits for a database connection before it is answered 503, in
    /// milliseconds; also the deadline of `/readyz`.
    pub database_acquire_timeout_ms: u64,
    /// Days of change log kept (0: kept whatever its age).
    pub change_log_retention_days: u64,
    /// Change-log rows kept at most, the newest (0: no count limit).
    pub change_log_max_rows: u64,
    /// Days a soft-deleted user or group is kept (restorable) before it is purged
    /// (0: kept until restored or deleted with the organization).
    pub soft_delete_retention_days: u64,
    /// Seconds between two rounds of background pruning (change log, idempotency records,
    /// soft-deleted resources).
    pub prune_interval_secs: u64,
    /// Whether this replica delivers push event streams (RFC 8935).
    pub events_deliver: bool,
    /// The `iss` claim of the Security Event Tokens.
    pub events_issuer: String,
    /// Consecutive failed deliveries after which a push stream is paused (0: never).
    pub events_pause_after: u32,
    /// The longest a poll request (RFC 8936) waits for events, in seconds.
    pub events_poll_max_wait_secs: u64,
    /// A PUT or PATCH of a group with more members than this answers without `members`.
    pub write_response_max_members: u32,
    /// Longest time a client may take to send a request's headers, in seconds, counted
    /// from when the connection is ready for it: also how long an idle keep-alive
    /// connection stays open.
    pub header_read_timeout_secs: u64,
    /// Largest request head (request line and headers), in bytes: 431 beyond it.
    pub max_header_bytes: usize,
    /// Most query-string parameters a request may carry: 400 beyond it.
    pub max_query_params: usize,
    /// Most client connections open at once; one more gets 503 and is closed.
    pub max_connections: usize,
    /// Whether the admin HTTP API (`/admin/v1`, `docs/admin-api.md`) is served. Off by
    /// default: then its paths are unknown routes (404).
    pub admin_api: bool,
    /// A second socket address that serves only the admin API (and the health probes);
    /// when set, the main listener does not serve `/admin/v1` at all. Needs `admin_api`.
    pub admin_listen: Option<String>,
    /// PEM file of the TLS certificate chain (leaf first). With [`Config::tls_key`], the
    /// listeners serve HTTPS (`docs/operations.md`); both or neither.
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the TLS private key (PKCS#8, PKCS#1 or SEC1) of [`Config::tls_cert`].
    pub tls_key: Option<PathBuf>,
    /// Seconds between two checks of the TLS files' modification times; a change reloads
    /// them (0: only on SIGHUP).
    pub tls_reload_secs: u64,
    /// Whether the operator console (`/console`, `docs/console.md`) is served, beside the
    /// admin API (on `admin_listen` when that is set). Off by default. Needs `admin_api`.
    pub console: bool,
    /// How many recent requests the console's request log keeps per replica (in memory).
    pub request_log_size: usize,
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
            .field("replicas", &self.replicas)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("auth_cache_ttl_ms", &self.auth_cache_ttl_ms)
            .field("cors_origins", &self.cors_origins)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("bootstrap_token", &self.bootstrap_token.as_ref().map(|_| "<redacted>"))
            .field("database_connect_timeout_secs", &self.database_connect_timeout_secs)
            .field("database_acquire_timeout_ms", &self.database_acquire_timeout_ms)
            .field("change_log_retention_days", &self.change_log_retention_days)
            .field("change_log_max_rows", &self.change_log_max_rows)
            .field("soft_delete_retention_days", &self.soft_delete_retention_days)
            .field("prune_interval_secs", &self.prune_interval_secs)
            .field("events_deliver", &self.events_deliver)
            .field("events_issuer", &self.events_issuer)
            .field("events_pause_after", &self.events_pause_after)
            .field("events_poll_max_wait_secs", &self.events_poll_max_wait_secs)
            .field("write_response_max_members", &self.write_response_max_members)
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_query_params", &self.max_query_params)
            .field("max_connections", &self.max_connections)
            .field("admin_api", &self.admin_api)
            .field("admin_listen", &self.admin_listen)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_reload_secs", &self.tls_reload_secs)
            .field("console", &self.console)
            .field("request_log_size", &self.request_log_size)
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
            replicas: 1,
            access_token_ttl_secs: 3600,
            auth_cache_ttl_ms: 1000,
            cors_origins: Vec::new(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            bootstrap_token: None,
            database_connect_timeout_secs: 60,
            database_acquire_timeout_ms: 1000,
            change_log_retention_days: 7,
            change_log_max_rows: 1_000_000,
            soft_delete_retention_days: 0,
            prune_interval_secs: 60,
            events_deliver: true,
            events_issuer: "scim-server".into(),
            events_pause_after: 20,
            events_poll_max_wait_secs: 30,
            write_response_max_members: 100,
            header_read_timeout_secs: 10,
            max_header_bytes: 32 * 1024,
            max_query_params: 64,
            max_connections: 1024,
            admin_api: false,
            admin_listen: None,
            tls_cert: None,
            tls_key: None,
            tls_reload_secs: 5,
            console: false,
            request_log_size: 2000,
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

/// `SCIM_*` variables that are not options but are known: the configuration file's name
/// (`SCIM_CONFIG`) and the variables of the `scim` client, which an operator may have set
/// in the same shell.
pub const KNOWN_OTHER_ENV: &[&str] = &[
    "SCIM_CONFIG",
    "SCIM_URL",
    "SCIM_TOKEN",
    "SCIM_CLIENT_ID",
    "SCIM_CLIENT_SECRET",
    "SCIM_ORGANIZATION",
];

/// Prefixes of `SCIM_*` variables that the project's own tooling reads (test suites,
/// benchmarks, the conformance runner); the server ignores them.
pub const TOOLING_ENV_PREFIXES: &[&str] =
    &["SCIM_TEST_", "SCIM_BENCH_", "SCIM_LOADMIX_", "SCIM_CLI_", "SCIM_SANITY_"];

/// The option names (TOML keys), in declaration order.
pub fn option_names() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// The candidate closest to `name`, when it is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => "; `scim-server serve --help` lists every option".to_owned(),
    }
}

/// Fails on a top-level key of the TOML file at `path` that is not an option.
fn check_file_keys(path: &Path) -> Result<(), ConfigError> {
    use figment::Provider as _;
    let data = Toml::file(path).data().map_err(|e| ConfigError::Load(e.to_string()))?;
    let names = option_names();
    for dict in data.values() {
        for key in dict.keys() {
            if !names.iter().any(|n| n == key) {
                return Err(ConfigError::Invalid(format!(
                    "unknown option `{key}` in {}{}",
                    path.display(),
                    did_you_mean(closest(key, names.iter().map(String::as_str)))
                )));
            }
        }
    }
    Ok(())
}

/// Fails on a `SCIM_*` environment variable that is neither an option nor one of the
/// known others ([`KNOWN_OTHER_ENV`], [`TOOLING_ENV_PREFIXES`]).
pub fn check_env(vars: impl IntoIterator<Item = String>) -> Result<(), ConfigError> {
    let options: Vec<String> =
        option_names().iter().map(|n| format!("SCIM_{}", n.to_ascii_uppercase())).collect();
    for var in vars {
        let upper = var.to_ascii_uppercase();
        if !upper.starts_with("SCIM_")
            || options.contains(&upper)
            || KNOWN_OTHER_ENV.contains(&upper.as_str())
            || TOOLING_ENV_PREFIXES.iter().any(|p| upper.starts_with(p))
        {
            continue;
        }
        let candidates = options.iter().map(String::as_str).chain(KNOWN_OTHER_ENV.iter().copied());
        return Err(ConfigError::Invalid(format!(
            "unknown environment variable `{var}`: no option is called that{}",
            did_you_mean(closest(&upper, candidates))
        )));
    }
    Ok(())
}

/// Checks a `tracing` filter more strictly than `EnvFilter` does: a directive without
/// `=` must be a level (`EnvFilter` would take a typo such as `inof` for a target name
/// and log nothing).
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !directive.contains('=')
            && !directive.contains('[')
            && !LEVELS.contains(&directive.to_ascii_lowercase().as_str())
        {
            let hint = match closest(&directive.to_ascii_lowercase(), LEVELS.iter().copied()) {
                Some(l) => format!("did you mean `{l}`?"),
                None => format!("to filter a target write `{directive}=debug`"),
            };
            return Err(format!(
                "`{directive}` is not a level (trace, debug, info, warn, error, off); {hint}"
            ));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map(|_| ())
        .map_err(|e| format!("`{filter}` is not a valid filter: {e}"))
}

impl Config {
    /// What the background pruning keeps (`scim_store::Store::prune`).
    pub fn retention(&self) -> scim_store::Retention {
        let days = i64::try_from(self.change_log_retention_days.min(36_500)).unwrap_or(36_500);
        scim_store::Retention {
            change_log_max_age: (days > 0).then(|| time::Duration::days(days)),
            change_log_max_rows: (self.change_log_max_rows > 0).then_some(self.change_log_max_rows),
            soft_deleted_max_age: (self.soft_delete_retention_days > 0).then(|| {
                time::Duration::days(
                    i64::try_from(self.soft_delete_retention_days.min(36_500)).unwrap_or(36_500),
                )
            }),
            ..scim_store::Retention::default()
        }
    }

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
            Some(p) => {
                check_file_keys(p)?;
                fig = fig.merge(Toml::file(p));
            }
            None => {
                let p = Path::new("scim.toml");
                if p.exists() {
                    check_file_keys(p)?;
                }
                fig = fig.merge(Toml::file(p));
            }
        }
        check_env(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))?;
        // `SCIM_CONFIG` names the file itself; the others are not options (`check_env`).
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
        if self.replicas == 0 {
            return bad("replicas must be at least 1");
        }
        if self.rate_limit_per_second > 0 && self.rate_limit_burst == 0 {
            return bad("rate_limit_burst must be at least 1 when rate limiting is on");
        }
        if !(50..=60_000).contains(&self.database_acquire_timeout_ms) {
            return bad("database_acquire_timeout_ms must be 50 to 60000");
        }
        if !(1..=3600).contains(&self.prune_interval_secs) {
            return bad("prune_interval_secs must be 1 to 3600");
        }
        if self.events_poll_max_wait_secs > 300 {
            return bad("events_poll_max_wait_secs must be 0 to 300");
        }
        if self.events_issuer.is_empty() || self.events_issuer.len() > 256 {
            return bad("events_issuer must be 1 to 256 characters");
        }
        if self.header_read_timeout_secs == 0 {
            return bad("header_read_timeout_secs must be at least 1");
        }
        if self.max_header_bytes < 4096 {
            return bad("max_header_bytes must be at least 4096");
        }
        if self.max_query_params == 0 || self.max_connections == 0 {
            return bad("max_query_params and max_connections must be at least 1");
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad("public_url must start with http:// or https://");
        }
        if self.cors_origins.iter().any(|o| o == "*") && self.cors_origins.len() > 1 {
            return bad("cors_origins: '*' cannot be combined with explicit origins");
        }
        if let Err(why) = check_log_filter(&self.log_level) {
            return Err(ConfigError::Invalid(format!("invalid log_level: {why}")));
        }
        if let Some(t) = &self.bootstrap_token {
            crate::token::check_chosen_secret(t).map_err(ConfigError::Invalid)?;
        }
        if let Some(addr) = &self.admin_listen {
            if !self.admin_api {
                return bad("admin_listen needs admin_api = true");
            }
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return bad("admin_listen must be a socket address such as 127.0.0.1:8081");
            }
            if *addr == self.listen {
                return bad("admin_listen must differ from listen");
            }
        }
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => {}
            (Some(_), None) => return bad("tls_cert needs tls_key (both or neither)"),
            (None, Some(_)) => return bad("tls_key needs tls_cert (both or neither)"),
            (Some(cert), Some(key)) => {
                for (name, path) in [("tls_cert", cert), ("tls_key", key)] {
                    if !path.is_file() {
                        return Err(ConfigError::Invalid(format!(
                            "{name}: {} is not a readable file",
                            path.display()
                        )));
                    }
                }
            }
        }
        if self.tls_reload_secs > 86_400 {
            return bad("tls_reload_secs must be 0 to 86400");
        }
        if self.console && !self.admin_api {
            return bad("console needs admin_api = true");
        }
        if !(100..=100_000).contains(&self.request_log_size) {
            return bad("request_log_size must be 100 to 100000");
        }
        Ok(())
    }

    /// Whether the listeners serve HTTPS (`tls_cert` and `tls_key` are set).
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
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
    fn retention_zero_means_no_limit() {
        let r = Config::default().retention();
        assert_eq!(r.change_log_max_age, Some(time::Duration::days(7)));
        assert_eq!(r.change_log_max_rows, Some(1_000_000));
        let c =
            Config { change_log_retention_days: 0, change_log_max_rows: 0, ..Config::default() };
        let r = c.retention();
        assert_eq!((r.change_log_max_age, r.change_log_max_rows), (None, None));
    }

    #[test]
    fn suggests_the_closest_name() {
        let names = option_names();
        assert_eq!(
            closest("max_page_sise", names.iter().map(String::as_str)),
            Some("max_page_size")
        );
        assert_eq!(closest("zzzzzzzz", names.iter().map(String::as_str)), None);
        assert!(check_log_filter("info,scim_server=debug").is_ok());
        assert!(check_log_filter("inof").unwrap_err().contains("did you mean `info`?"));
        assert!(check_log_filter("scim=verbose").is_err());
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }
}
