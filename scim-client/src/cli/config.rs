//! Connection settings: flags, else `SCIM_*` environment variables (both read by clap),
//! else a named profile of the TOML config file.
//!
//! ```toml
//! default_profile = "local"
//!
//! [profiles.local]
//! url = "http://127.0.0.1:8080/scim/v2"
//! token = "secret-token-for-local-use"
//!
//! [profiles.prod]
//! url = "https://scim.example.com/scim/v2"
//! client_id = "CL..."
//! client_secret = "..."
//! scopes = ["scim:read", "scim:write"]
//! organization = "OR..."
//! ```

use super::args::Connection;
use super::{CliResult, Io, Status, usage};
use crate::client::Client;
use scim_core::sid::OrganizationSid;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One profile of the config file; every key is optional.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    url: Option<String>,
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token_url: Option<String>,
    scopes: Option<Vec<String>>,
    organization: Option<String>,
    timeout: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// The settings a command runs with (no `Debug`: it holds secrets).
#[derive(Clone)]
pub(crate) struct Settings {
    url: Option<String>,
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token_url: Option<String>,
    scopes: Vec<String>,
    organization: Option<String>,
    timeout: u64,
}

fn default_config_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("scim").join("config.toml"))
}

fn read_config(path: &Path) -> CliResult<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read the config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| usage(format!("config file {}: {e}", path.display())))
}

impl Settings {
    /// Merges flags and environment (already in `conn`) over the profile.
    pub(crate) fn resolve(conn: &Connection) -> CliResult<Settings> {
        let file = match &conn.config {
            Some(path) => Some(read_config(path)?),
            None => match default_config_path() {
                Some(path) if path.is_file() => Some(read_config(&path)?),
                _ => None,
            },
        };
        let profile = match (&conn.profile, file) {
            (Some(name), None) => {
                return Err(usage(format!(
                    "profile '{name}' asked for, but there is no config file"
                )));
            }
            (Some(name), Some(mut f)) => f
                .profiles
                .remove(name)
                .ok_or_else(|| usage(format!("the config file has no profile '{name}'")))?,
            (None, Some(mut f)) => match f.default_profile.clone() {
                Some(name) => f.profiles.remove(&name).ok_or_else(|| {
                    usage(format!("default_profile '{name}' is not in the config file"))
                })?,
                None => f.profiles.remove("default").unwrap_or_default(),
            },
            (None, None) => Profile::default(),
        };
        let pick = |flag: &Option<String>, prof: Option<String>| flag.clone().or(prof);
        Ok(Settings {
            url: pick(&conn.url, profile.url),
            token: pick(&conn.token, profile.token),
            client_id: pick(&conn.client_id, profile.client_id),
            client_secret: pick(&conn.client_secret, profile.client_secret),
            token_url: pick(&conn.token_url, profile.token_url),
            scopes: if conn.scopes.is_empty() {
                profile.scopes.unwrap_or_default()
            } else {
                conn.scopes.clone()
            },
            organization: pick(&conn.organization, profile.organization),
            timeout: profile.timeout.filter(|_| conn.timeout == 30).unwrap_or(conn.timeout),
        })
    }

    fn url(&self) -> CliResult<&str> {
        self.url.as_deref().filter(|u| !u.is_empty()).ok_or_else(|| {
            usage("no server URL: pass --url, set SCIM_URL, or use a profile with a url")
        })
    }

    /// The token URL: as configured, else `/oauth2/token` at the base URL's origin (this
    /// project's server).
    fn token_url(&self) -> CliResult<String> {
        if let Some(t) = &self.token_url {
            return Ok(t.clone());
        }
        let base = url::Url::parse(self.url()?)
            .map_err(|e| usage(format!("the server URL is not a URL: {e}")))?;
        Ok(format!("{}/oauth2/token", base.origin().ascii_serialization()))
    }

    /// A client with these settings: a bearer token if one is set, else client
    /// credentials.
    pub(crate) fn client(&self) -> CliResult<Client> {
        let mut b = Client::builder(self.url()?)
            .user_agent(concat!("scim-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(Some(Duration::from_secs(self.timeout.max(1))));
        b = match (&self.token, &self.client_id, &self.client_secret) {
            (Some(t), _, _) => b.bearer(t),
            (None, Some(id), Some(secret)) => {
                b.client_credentials(self.token_url()?, id, secret, &self.scopes)
            }
            (None, Some(_), None) => {
                return Err(usage("--client-id needs --client-secret (or SCIM_CLIENT_SECRET)"));
            }
            _ => {
                return Err(usage(
                    "no credential: pass --token (SCIM_TOKEN), or --client-id and \
                     --client-secret (SCIM_CLIENT_ID, SCIM_CLIENT_SECRET), or use a profile",
                ));
            }
        };
        if let Some(org) = &self.organization {
            let sid: OrganizationSid =
                org.parse().map_err(|e| usage(format!("organization '{org}': {e}")))?;
            b = b.organization(sid);
        }
        Ok(b.build()?)
    }
}

/// `scim token`: fetches a client-credentials token and prints it (with `--json`, as
/// `{"access_token": ...}`).
pub(crate) async fn print_token(settings: &Settings, json: bool, io: &mut Io<'_>) -> CliResult {
    if settings.client_id.is_none() {
        return Err(usage(
            "scim token needs client credentials: --client-id and --client-secret \
             (SCIM_CLIENT_ID, SCIM_CLIENT_SECRET) or a profile with them",
        ));
    }
    let settings = Settings { token: None, ..settings.clone() };
    let client = settings.client()?;
    let token = client.access_token().await?.unwrap_or_default();
    let line = if json { serde_json::json!({ "access_token": token }).to_string() } else { token };
    writeln!(io.out, "{line}").map_err(|e| usage(format!("cannot write: {e}")))?;
    Ok(Status::Ok)
}
