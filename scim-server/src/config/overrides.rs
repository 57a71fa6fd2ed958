//! The `serve` command's flags: one optional value per option of [`super::Config`], the
//! top layer of the configuration (flags beat the environment, the file and the defaults).

use super::LogFormat;
use serde::Serialize;
use std::path::PathBuf;

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
    /// Directory of extension schema JSON files [env: SCIM_SCHEMA_DIR] [default: none]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_dir: Option<PathBuf>,
    /// Public base URL for Location and meta.location [env: SCIM_PUBLIC_URL] [default: none: from X-Forwarded-*/Host]
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
    /// Largest request body after decompression, bytes [env: SCIM_MAX_BODY_BYTES] [default: 10485760]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
    /// Request timeout, seconds [env: SCIM_REQUEST_TIMEOUT_SECS] [default: 30]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_secs: Option<u64>,
    /// Longest filter, bytes [env: SCIM_MAX_FILTER_LENGTH] [default: 4096]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_filter_length: Option<usize>,
    /// Deepest filter nesting [env: SCIM_MAX_FILTER_DEPTH] [default: 16]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_filter_depth: Option<usize>,
    /// Default page size [env: SCIM_DEFAULT_PAGE_SIZE] [default: 100]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_page_size: Option<u64>,
    /// Maximum page size [env: SCIM_MAX_PAGE_SIZE] [default: 1000]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_page_size: Option<u64>,
    /// Cursor lifetime, seconds [env: SCIM_CURSOR_TIMEOUT_SECS] [default: 3600]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_timeout_secs: Option<u64>,
    /// Most operations per /Bulk request [env: SCIM_BULK_MAX_OPERATIONS] [default: 1000]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_max_operations: Option<u64>,
    /// Largest /Bulk body, bytes [env: SCIM_BULK_MAX_PAYLOAD_BYTES] [default: 1048576]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_max_payload_bytes: Option<u64>,
    /// Requests per second per credential, 0 = off [env: SCIM_RATE_LIMIT_PER_SECOND] [default: 0]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_second: Option<u32>,
    /// Token-bucket burst per credential [env: SCIM_RATE_LIMIT_BURST] [default: 50]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_burst: Option<u32>,
    /// Replicas sharing the database; each enforces its share of the rate limit [env: SCIM_REPLICAS] [default: 1]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// OAuth2 access token lifetime, seconds [env: SCIM_ACCESS_TOKEN_TTL_SECS] [default: 3600]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl_secs: Option<u64>,
    /// Credential/organization lookup cache, ms; 0 = off [env: SCIM_AUTH_CACHE_TTL_MS] [default: 1000]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_cache_ttl_ms: Option<u64>,
    /// Allowed CORS origin (repeat for several; none = any), comma-separated in the variable [env: SCIM_CORS_ORIGINS] [default: none: any origin]
    #[arg(long = "cors-origin")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cors_origins: Vec<String>,
    /// Log format, on stderr [env: SCIM_LOG_FORMAT] [default: text]
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. info or scim_server=debug; RUST_LOG wins when set [env: SCIM_LOG_LEVEL] [default: info]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// How long start-up retries a database that refuses or times out the connection, seconds; 0 = once [env: SCIM_DATABASE_CONNECT_TIMEOUT_SECS] [default: 60]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_connect_timeout_secs: Option<u64>,
    /// How long a request waits for a database connection before a 503, ms; also the /readyz deadline [env: SCIM_DATABASE_ACQUIRE_TIMEOUT_MS] [default: 1000]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_acquire_timeout_ms: Option<u64>,
    /// Days of change log kept; 0 = any age [env: SCIM_CHANGE_LOG_RETENTION_DAYS] [default: 7]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_log_retention_days: Option<u64>,
    /// Change-log rows kept at most, the newest; 0 = no limit [env: SCIM_CHANGE_LOG_MAX_ROWS] [default: 1000000]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_log_max_rows: Option<u64>,
    /// Days a soft-deleted resource stays restorable before it is purged; 0 = kept [env: SCIM_SOFT_DELETE_RETENTION_DAYS] [default: 0]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soft_delete_retention_days: Option<u64>,
    /// Seconds between background pruning rounds [env: SCIM_PRUNE_INTERVAL_SECS] [default: 60]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_interval_secs: Option<u64>,
    /// Whether this replica delivers push event streams [env: SCIM_EVENTS_DELIVER] [default: true]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_deliver: Option<bool>,
    /// The `iss` claim of Security Event Tokens [env: SCIM_EVENTS_ISSUER] [default: scim-server]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_issuer: Option<String>,
    /// Consecutive failed deliveries that pause a push stream; 0 = never [env: SCIM_EVENTS_PAUSE_AFTER] [default: 20]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_pause_after: Option<u32>,
    /// Longest wait of an event poll request, seconds, 0 to 300 [env: SCIM_EVENTS_POLL_MAX_WAIT_SECS] [default: 30]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_poll_max_wait_secs: Option<u64>,
    /// A PUT or PATCH of a group with more members answers without members [env: SCIM_WRITE_RESPONSE_MAX_MEMBERS] [default: 100]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_response_max_members: Option<u32>,
    /// Time to send a request's headers, and to keep an idle connection open, seconds [env: SCIM_HEADER_READ_TIMEOUT_SECS] [default: 10]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_read_timeout_secs: Option<u64>,
    /// Largest request head (request line and headers), bytes [env: SCIM_MAX_HEADER_BYTES] [default: 32768]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_header_bytes: Option<usize>,
    /// Most query-string parameters per request [env: SCIM_MAX_QUERY_PARAMS] [default: 64]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_query_params: Option<usize>,
    /// Most client connections open at once [env: SCIM_MAX_CONNECTIONS] [default: 1024]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Serve the admin HTTP API under /admin/v1 (docs/admin-api.md) [env: SCIM_ADMIN_API] [default: false]
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_api: Option<bool>,
    /// Serve the admin API on this address only, not on --listen [env: SCIM_ADMIN_LISTEN] [default: none: on --listen]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_listen: Option<String>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key) [env: SCIM_TLS_CERT] [default: none: plain HTTP]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert [env: SCIM_TLS_KEY] [default: none]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Seconds between checks of the TLS files for changes; 0 = reload on SIGHUP only [env: SCIM_TLS_RELOAD_SECS] [default: 5]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_reload_secs: Option<u64>,
    /// Serve the operator console under /console, beside the admin API (docs/console.md) [env: SCIM_CONSOLE] [default: false]
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<bool>,
    /// Requests the console's request log keeps per replica, 100 to 100000 [env: SCIM_REQUEST_LOG_SIZE] [default: 2000]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_log_size: Option<usize>,
}
