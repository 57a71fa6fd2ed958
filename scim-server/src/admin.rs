//! Administration: the first-start bootstrap and the `admin` subcommands
//! (`docs/configuration.md`), as functions over the [`Store`] so the binary only parses
//! arguments and prints.
//! Their JSON shapes are the contract scripts rely on.

use crate::token;
use scim_core::sid::{OrganizationSid, ResourceId};
use scim_store::{NewToken, Organization, Policy, Scope, Store, StoreError, TokenRecord};
use serde::Serialize;

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An argument is wrong.
    #[error("{0}")]
    Usage(String),
    /// The organization, token or client named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The organization still holds users or groups (deletion without `force`).
    #[error("{0}")]
    NotEmpty(String),
    /// The OS random source failed.
    #[error("random source: {0}")]
    Random(String),
}

/// `admin org create --json` output.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrgOut {
    /// The organization's sid.
    pub sid: OrganizationSid,
    /// Its name.
    pub name: String,
    /// Its policies.
    pub policies: Vec<Policy>,
}

impl From<&Organization> for OrgOut {
    fn from(o: &Organization) -> Self {
        Self { sid: o.sid, name: o.name.clone(), policies: o.policies.clone() }
    }
}

/// `admin token create --json` output; the only place a secret is ever shown.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenOut {
    /// Token id (to revoke it).
    pub id: String,
    /// The secret.
    pub token: String,
    /// The organization it grants.
    pub org: OrganizationSid,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// Its label.
    pub name: Option<String>,
    /// When it stops working, RFC 3339 (only when it expires).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// Parses a lifetime such as `90d`, `12h`, `30m`, `3600s` or `2w` (a number and a unit;
/// at most ten years).
pub fn parse_lifetime(s: &str) -> Result<std::time::Duration, AdminError> {
    let bad = || {
        AdminError::Usage(format!(
            "'{s}' is not a lifetime: write a number and a unit, s, m, h, d or w (e.g. 90d)"
        ))
    };
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    let total =
        n.checked_mul(secs).filter(|t| *t > 0 && *t <= 10 * 366 * 86_400).ok_or_else(bad)?;
    Ok(std::time::Duration::from_secs(total))
}

/// Finds an organization by sid or by name; a name that several organizations share is
/// an error listing them.
pub async fn resolve_org(store: &dyn Store, arg: &str) -> Result<Organization, AdminError> {
    if arg.starts_with("OR")
        && let Ok(sid) = OrganizationSid::parse(arg)
    {
        return store
            .organization(sid)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no organization {sid}")));
    }
    let matches: Vec<Organization> =
        store.organizations().await?.into_iter().filter(|o| o.name == arg).collect();
    match matches.as_slice() {
        [] => Err(AdminError::NotFound(format!(
            "no organization named '{arg}' (and it is not a sid)"
        ))),
        [one] => Ok(one.clone()),
        many => {
            let list: Vec<String> =
                many.iter().map(|o| format!("{} (created {})", o.sid, o.created)).collect();
            Err(AdminError::Usage(format!(
                "the name '{arg}' is ambiguous: {}; name the organization by its sid",
                list.join(", ")
            )))
        }
    }
}

/// Checks an organization name.
fn check_name(name: &str) -> Result<&str, AdminError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AdminError::Usage("the organization name must be 1 to 200 characters".into()));
    }
    Ok(name)
}

/// `admin org rename`.
pub async fn rename_org(store: &dyn Store, org: &str, name: &str) -> Result<OrgOut, AdminError> {
    let mut o = resolve_org(store, org).await?;
    let name = check_name(name)?;
    if !store.rename_organization(o.sid, name).await? {
        return Err(AdminError::NotFound(format!("no organization {}", o.sid)));
    }
    name.clone_into(&mut o.name);
    Ok(OrgOut::from(&o))
}

/// `admin org policy set|unset`: adds (`on`) or removes policies.
pub async fn change_policies(
    store: &dyn Store,
    org: &str,
    policies: &[Policy],
    on: bool,
) -> Result<OrgOut, AdminError> {
    let mut o = resolve_org(store, org).await?;
    for p in policies {
        if on && !o.policies.contains(p) {
            o.policies.push(*p);
        }
        if !on {
            o.policies.retain(|x| x != p);
        }
    }
    if !store.set_policies(o.sid, &o.policies).await? {
        return Err(AdminError::NotFound(format!("no organization {}", o.sid)));
    }
    Ok(OrgOut::from(&o))
}

/// `admin org delete --json` output.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrgDeletedOut {
    /// The organization's sid.
    pub sid: OrganizationSid,
    /// Its name.
    pub name: String,
    /// Always true (a refusal is an error).
    pub deleted: bool,
    /// Users deleted.
    pub users: u64,
    /// Groups deleted.
    pub groups: u64,
    /// Tokens deleted.
    pub tokens: u64,
    /// Clients that lost their grant on it (deleted when it was their only one).
    pub clients: u64,
}

/// `admin org delete`: refuses without `yes`; with it, refuses an organization that still
/// holds users or groups unless `force`. Everything goes in one transaction.
pub async fn delete_org(
    store: &dyn Store,
    org: &str,
    yes: bool,
    force: bool,
) -> Result<OrgDeletedOut, AdminError> {
    let o = resolve_org(store, org).await?;
    let c = store
        .organization_contents(o.sid)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no organization {}", o.sid)))?;
    let what = format!(
        "{} users, {} groups, {} tokens and the grants of {} clients",
        c.users, c.groups, c.tokens, c.clients
    );
    if !yes {
        return Err(AdminError::Usage(format!(
            "deleting organization '{}' {} erases its {what}, for good; repeat with --yes",
            o.name, o.sid
        )));
    }
    match store.delete_organization(o.sid, !force).await? {
        scim_store::OrgDeletion::Deleted(c) => Ok(OrgDeletedOut {
            sid: o.sid,
            name: o.name,
            deleted: true,
            users: c.users,
            groups: c.groups,
            tokens: c.tokens,
            clients: c.clients,
        }),
        scim_store::OrgDeletion::NotEmpty(c) => Err(AdminError::NotEmpty(format!(
            "organization '{}' {} still holds {} users and {} groups (soft-deleted ones \
             included); add --force to delete them too",
            o.name, o.sid, c.users, c.groups
        ))),
        scim_store::OrgDeletion::NotFound => {
            Err(AdminError::NotFound(format!("no organization {}", o.sid)))
        }
    }
}

/// Parses scope names; none means both SCIM scopes. `admin` stands alone: a credential
/// of the admin API reaches no SCIM route.
pub fn parse_scopes(names: &[String]) -> Result<Vec<Scope>, AdminError> {
    if names.is_empty() {
        return Ok(Scope::ALL.to_vec());
    }
    let mut scopes = Vec::new();
    for n in names {
        let s = Scope::parse(n).ok_or_else(|| {
            AdminError::Usage(format!("unknown scope '{n}' (known: scim:read, scim:write, admin)"))
        })?;
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    if scopes.contains(&Scope::Admin) && scopes.len() > 1 {
        return Err(AdminError::Usage(
            "the scope admin cannot be combined with scim:read or scim:write: an admin \
             token is for the admin API only"
                .into(),
        ));
    }
    Ok(scopes)
}

/// Parses policy names.
pub fn parse_policies(names: &[String]) -> Result<Vec<Policy>, AdminError> {
    let mut out = Vec::new();
    for n in names {
        let p: Policy = n
            .parse()
            .map_err(|e: scim_core::policy::UnknownPolicy| AdminError::Usage(e.to_string()))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Parses an organization sid argument.
pub fn parse_org(s: &str) -> Result<OrganizationSid, AdminError> {
    OrganizationSid::parse(s).map_err(|e| AdminError::Usage(e.to_string()))
}

/// `admin org create`.
pub async fn create_org(
    store: &dyn Store,
    name: &str,
    policies: &[Policy],
) -> Result<OrgOut, AdminError> {
    let name = check_name(name)?;
    Ok(OrgOut::from(&store.create_organization(name, policies).await?))
}

/// `admin token create`; `secret` chooses the token's value (bootstrap only); `lifetime`
/// makes it expire.
pub async fn create_token(
    store: &dyn Store,
    org: OrganizationSid,
    scopes: Vec<Scope>,
    name: Option<String>,
    secret: Option<&str>,
    lifetime: Option<std::time::Duration>,
) -> Result<TokenOut, AdminError> {
    if store.organization(org).await?.is_none() {
        return Err(AdminError::NotFound(format!("no organization {org}")));
    }
    let secret = match secret {
        Some(s) => s.to_owned(),
        None => token::generate().map_err(|e| AdminError::Random(e.to_string()))?,
    };
    let record = store
        .create_token(NewToken {
            org,
            name: name.clone(),
            scopes: scopes.clone(),
            secret_hash: token::hash(&secret),
            expires: match lifetime {
                Some(d) => Some(rfc3339(time::OffsetDateTime::now_utc() + d)?),
                None => None,
            },
        })
        .await?;
    Ok(TokenOut {
        id: record.id,
        token: secret,
        org,
        scopes: record.scopes,
        name: record.name,
        expires: record.expires,
    })
}

fn rfc3339(t: time::OffsetDateTime) -> Result<String, AdminError> {
    t.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| AdminError::Usage(format!("bad time: {e}")))
}

/// `admin token list`.
pub async fn list_tokens(
    store: &dyn Store,
    org: OrganizationSid,
) -> Result<Vec<TokenRecord>, AdminError> {
    Ok(store.tokens(org).await?)
}

/// `admin org list`: every organization, `{"sid","name","policies","created"}` each.
pub async fn list_orgs(store: &dyn Store) -> Result<Vec<Organization>, AdminError> {
    Ok(store.organizations().await?)
}

/// `admin token revoke --json` output.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenRevokedOut {
    /// The token id.
    pub id: String,
    /// Always true (an unknown token is an error).
    pub revoked: bool,
}

/// `admin token revoke`: a token that does not exist or is already revoked is
/// [`AdminError::NotFound`].
pub async fn revoke_token(store: &dyn Store, id: &str) -> Result<TokenRevokedOut, AdminError> {
    if !store.revoke_token(id).await? {
        return Err(AdminError::NotFound(format!("no live token {id}")));
    }
    Ok(TokenRevokedOut { id: id.to_owned(), revoked: true })
}

/// `admin client list`: the live clients, only those granted on `only` when given.
pub async fn list_clients(
    store: &dyn Store,
    only: Option<OrganizationSid>,
) -> Result<Vec<scim_store::ClientRecord>, AdminError> {
    Ok(store
        .clients()
        .await?
        .into_iter()
        .filter(|c| only.is_none_or(|o| c.orgs.contains(&o)))
        .collect())
}

/// `admin client revoke --json` output.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClientRevokedOut {
    /// The client id.
    pub client_id: String,
    /// Always true (an unknown client is an error).
    pub revoked: bool,
}

/// `admin client revoke`: a client that does not exist or is already revoked is
/// [`AdminError::NotFound`].
pub async fn revoke_client(
    store: &dyn Store,
    client_id: &str,
) -> Result<ClientRevokedOut, AdminError> {
    if !store.revoke_client(client_id).await? {
        return Err(AdminError::NotFound(format!("no live client {client_id}")));
    }
    Ok(ClientRevokedOut { client_id: client_id.to_owned(), revoked: true })
}

/// `admin restore --org SID ID`: undoes a soft delete of a user (`US...`) or group
/// (`GR...`); returns the restored resource.
pub async fn restore(
    store: &dyn Store,
    org: OrganizationSid,
    id: &str,
) -> Result<serde_json::Value, AdminError> {
    let Some(id) = ResourceId::of(id) else {
        return Err(AdminError::Usage(format!(
            "'{id}' is neither a user id (US and 32 hex digits) nor a group id (GR and 32 hex \
             digits)"
        )));
    };
    Ok(store.restore(org, id).await?.resource.into_value())
}

/// What the first start created.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// The `default` organization.
    pub org: OrgOut,
    /// Its token with both scopes.
    pub token: TokenOut,
}

impl Bootstrapped {
    /// The message printed once on stderr; `base` is the server's URL as bound
    /// (`http://127.0.0.1:8080`, or `https://...` with TLS).
    pub fn message(&self, base: &str) -> String {
        format!(
            "First start: created organization \"default\" {sid} and a token with scopes scim:read scim:write.\n\
             Bearer token (shown only this once, store it now):\n\
             \n    {token}\n\n\
             Try: curl -H 'Authorization: Bearer {token}' {base}/scim/v2/Users\n",
            sid = self.org.sid,
            token = self.token.token,
        )
    }
}

impl Bootstrapped {
    /// The first-start banner as one JSON line (for `log_format = "json"`):
    /// `{"message","organization":{"sid","name","policies"},"token":{"id","token","org","scopes","name"},"try"}`.
    pub fn json_line(&self, base: &str) -> String {
        serde_json::json!({
            "message": "first start: created organization \"default\" and a token with scopes scim:read scim:write; the token is shown only this once",
            "organization": self.org,
            "token": self.token,
            "try": format!("curl -H 'Authorization: Bearer {}' {base}/scim/v2/Users", self.token.token),
        })
        .to_string()
    }
}

/// On an empty database, creates organization `default` and a token with both scopes
/// (its secret `chosen` when given, e.g. from `SCIM_BOOTSTRAP_TOKEN`), in one transaction;
/// otherwise nothing. Replicas starting together on an empty database may all call it:
/// exactly one creates them (the store's [`Store::bootstrap`]), and with a chosen secret
/// that token is then valid on every replica.
pub async fn bootstrap(
    store: &dyn Store,
    chosen: Option<&str>,
) -> Result<Option<Bootstrapped>, AdminError> {
    if !store.organizations().await?.is_empty() {
        return Ok(None);
    }
    let secret = match chosen {
        Some(s) => s.to_owned(),
        None => token::generate().map_err(|e| AdminError::Random(e.to_string()))?,
    };
    let created =
        store.bootstrap("default", Scope::ALL, Some("bootstrap"), token::hash(&secret)).await?;
    Ok(created.map(|b| Bootstrapped {
        org: OrgOut::from(&b.org),
        token: TokenOut {
            id: b.token.id,
            token: secret,
            org: b.org.sid,
            scopes: b.token.scopes,
            name: b.token.name,
            expires: b.token.expires,
        },
    }))
}

/// `admin client create --json` output; the only place a client secret is shown.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClientOut {
    /// The public client id.
    pub client_id: String,
    /// The secret.
    pub client_secret: String,
    /// The organizations it is granted on.
    pub orgs: Vec<OrganizationSid>,
    /// Its scopes.
    pub scopes: Vec<Scope>,
}

/// `admin client create`: an OAuth2 client granted on `orgs` with `scopes`.
pub async fn create_client(
    store: &dyn Store,
    orgs: Vec<OrganizationSid>,
    scopes: Vec<Scope>,
) -> Result<ClientOut, AdminError> {
    if orgs.is_empty() {
        return Err(AdminError::Usage("a client needs at least one --org".into()));
    }
    if scopes.contains(&Scope::Admin) {
        return Err(AdminError::Usage(
            "OAuth clients carry SCIM scopes only; the admin API takes a static token \
             (admin token create --scope admin)"
                .into(),
        ));
    }
    for org in &orgs {
        if store.organization(*org).await?.is_none() {
            return Err(AdminError::NotFound(format!("no organization {org}")));
        }
    }
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| AdminError::Random(e.to_string()))?;
    let client_id = format!("CL{}", hex::encode(id));
    let secret = token::generate().map_err(|e| AdminError::Random(e.to_string()))?;
    let record = store
        .create_client(scim_store::NewClient {
            client_id,
            secret_hash: token::hash(&secret),
            orgs,
            scopes,
        })
        .await?;
    Ok(ClientOut {
        client_id: record.client_id,
        client_secret: secret,
        orgs: record.orgs,
        scopes: record.scopes,
    })
}
