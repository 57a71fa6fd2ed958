//! Differential property test: the database and scim-core must agree.
//!
//! - Random filters (the generator of `scim_core::testing`, fed with the User and Group
//!   schema's attribute paths and values close to the stored ones) over random users and
//!   groups: the ids a query returns are exactly those for which `Filter::matches` holds
//!   on the same resources as read back.
//! - Random PATCH requests: applied through `Store::modify` (members as rows, the way the
//!   server does it) they leave the same resource as the core PATCH engine applied locally
//!   (members in the document).
//!
//! Every backend runs the same cases. `SCIM_DIFF_CASES` sets the number of cases per
//! backend (default 32), `SCIM_DIFF_SEED` (64 hex digits) replays a run; a failure prints
//! the seed and the smallest failing case it shrank to.

use crate::support::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use scim_core::filter::{CompValue, Filter};
use scim_core::message::{PatchOpKind, PatchOperation, SortOrder};
use scim_core::patch::{self, MemberOp, PatchContext};
use scim_core::path::AttrPath;
use scim_core::resource::{Resource, get_ci};
use scim_core::schema::{
    ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, Registry, ResourceKind, USER_SCHEMA,
};
use scim_core::sid::OrganizationSid;
use scim_core::testing::{filter_over, leaf_of, logic_over};
use scim_store::{
    Change, MemberKind, MemberRow, NewResource, Pagination, Query, ReadOptions, Store, Stored,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

const ENT: &str = ENTERPRISE_USER_SCHEMA;

// ---- generated data ---------------------------------------------------------------------

/// Words the data and the filters share: case variants, non-ASCII letters, LIKE
/// metacharacters, the empty string.
///
/// Left out until the store handles them (known disagreements):
/// - non-ASCII capitals (`É`, `ÄRGER`): SQLite's `LOWER()` folds ASCII only, so a
///   case-insensitive comparison of JSON text fails there (`display co "É"` misses
///   `émile`);
/// - trailing spaces (`" "`): MySQL/MariaDB's PAD SPACE collations ignore them (`" " <> ""`
///   is false there, so `displayName pr` misses `" "`).
const WORDS: &[&str] = &[
    "alice", "Alice", "ALICE", "bob", "Bob", "al", "x", "é", "émile", "straße", "ärger", "a_b",
    "a%b", "a!b", "", "zz", "Zoë", "ab", "AB", "b",
];
const DOMAINS: &[&str] = &["x.io", "X.IO", "ex.org", "émail.fr"];
const TYPES: &[&str] = &["work", "home", "Work", "other"];
const DATES: &[&str] = &[
    "2020-01-01T00:00:00Z",
    "2020-01-01T01:00:00+01:00",
    "2019-12-31T23:59:59.999Z",
    "2021-06-01T12:00:00+02:00",
    "2021-06-01T10:00:00Z",
    "2030-01-01T00:00:00Z",
];
const NUMBERS: &[f64] = &[-5.0, -0.25, 0.0, 1.0, 1.5, 3.0, 10.0, 20.0];

fn word() -> impl Strategy<Value = String> + Clone {
    prop::sample::select(WORDS).prop_map(str::to_owned)
}

fn opt<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
    prop::option::weighted(0.6, s)
}

/// One user's document (without `userName` and `externalId`, which the index makes
/// unique: see [`Data::user`]).
#[derive(Debug, Clone)]
struct UserSeed {
    name_word: String,
    domain: String,
    external: Option<String>,
    fields: Map<String, Value>,
}

fn user_seed() -> impl Strategy<Value = UserSeed> {
    let email = (word(), prop::sample::select(DOMAINS), opt(prop::sample::select(TYPES)));
    let emails = prop::collection::vec(email, 0..3);
    let address = (opt(word()), opt(word()), opt(prop::sample::select(TYPES)));
    let simple = (opt(word()), opt(word()), opt(word()), opt(any::<bool>()), opt(word()));
    let name = opt((opt(word()), opt(word())));
    let ent = opt((opt(word()), opt(word()), opt(word())));
    let acme = opt((
        opt(word()),
        opt(-5i64..20),
        opt(prop::sample::select(NUMBERS)),
        opt(any::<bool>()),
        opt(word()),
        opt(prop::sample::select(DATES)),
    ));
    let roles = prop::collection::vec(word(), 0..3);
    (
        (word(), prop::sample::select(DOMAINS), opt(word())),
        simple,
        name,
        emails,
        prop::collection::vec(address, 0..2),
        roles,
        ent,
        acme,
    )
        .prop_map(
            |((name_word, domain, external), simple, name, emails, addresses, roles, ent, acme)| {
                let mut m = Map::new();
                let mut schemas = vec![json!(USER_SCHEMA)];
                let (display, title, user_type, active, nick) = simple;
                let put = |m: &mut Map<String, Value>, k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        m.insert(k.to_owned(), v);
                    }
                };
                put(&mut m, "displayName", display.map(Value::String));
                put(&mut m, "title", title.map(Value::String));
                put(&mut m, "userType", user_type.map(Value::String));
                put(&mut m, "active", active.map(Value::Bool));
                put(&mut m, "nickName", nick.map(Value::String));
                if let Some((given, family)) = name {
                    let mut n = Map::new();
                    put(&mut n, "givenName", given.map(Value::String));
                    put(&mut n, "familyName", family.map(Value::String));
                    m.insert("name".into(), Value::Object(n));
                }
                if !emails.is_empty() {
                    let items: Vec<Value> = emails
                        .into_iter()
                        .enumerate()
                        .map(|(i, (w, d, t))| {
                            let mut e = Map::new();
                            e.insert("value".into(), json!(format!("{w}{i}@{d}")));
                            put(&mut e, "type", t.map(|t| json!(t)));
                            if i == 0 {
                                e.insert("primary".into(), json!(true));
                            }
                            Value::Object(e)
                        })
                        .collect();
                    m.insert("emails".into(), Value::Array(items));
                }
                if !addresses.is_empty() {
                    let items: Vec<Value> = addresses
                        .into_iter()
                        .map(|(locality, country, t)| {
                            let mut a = Map::new();
                            put(&mut a, "locality", locality.map(Value::String));
                            put(&mut a, "country", country.map(Value::String));
                            put(&mut a, "type", t.map(|t| json!(t)));
                            Value::Object(a)
                        })
                        .collect();
                    m.insert("addresses".into(), Value::Array(items));
                }
                if !roles.is_empty() {
                    let items = roles.into_iter().map(|r| json!({"value": r})).collect();
                    m.insert("roles".into(), Value::Array(items));
                }
                if let Some((number, department, manager)) = ent {
                    let mut e = Map::new();
                    put(&mut e, "employeeNumber", number.map(Value::String));
                    put(&mut e, "department", department.map(Value::String));
                    put(&mut e, "manager", manager.map(|v| json!({"value": v})));
                    if !e.is_empty() {
                        schemas.push(json!(ENT));
                        m.insert(ENT.into(), Value::Object(e));
                    }
                }
                if let Some((org, level, score, sso, region, since)) = acme {
                    let mut a = Map::new();
                    put(&mut a, "organizationId", org.map(Value::String));
                    put(&mut a, "level", level.map(|l| json!(l)));
                    put(&mut a, "score", score.map(|s| json!(s)));
                    put(&mut a, "ssoEnabled", sso.map(Value::Bool));
                    put(&mut a, "region", region.map(Value::String));
                    put(&mut a, "since", since.map(|s| json!(s)));
                    if !a.is_empty() {
                        schemas.push(json!(ACME));
                        m.insert(ACME.into(), Value::Object(a));
                    }
                }
                m.insert("schemas".into(), Value::Array(schemas));
                UserSeed { name_word, domain: domain.to_owned(), external, fields: m }
            },
        )
}

/// A group: its name and its members (indices into the users and the earlier groups).
#[derive(Debug, Clone)]
struct GroupSeed {
    name: String,
    users: Vec<prop::sample::Index>,
    groups: Vec<prop::sample::Index>,
}

fn group_seed() -> impl Strategy<Value = GroupSeed> {
    (
        word(),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        prop::collection::vec(any::<prop::sample::Index>(), 0..2),
    )
        .prop_map(|(name, users, groups)| GroupSeed { name, users, groups })
}

/// One case: the data, the filters over it, the PATCH requests on it.
#[derive(Debug, Clone)]
struct Case {
    users: Vec<UserSeed>,
    groups: Vec<GroupSeed>,
    user_filters: Vec<Filter>,
    group_filters: Vec<Filter>,
    user_patches: Vec<(prop::sample::Index, Vec<PatchOperation>)>,
    group_patches: Vec<(prop::sample::Index, Vec<PatchOperation>)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(user_seed(), 2..7),
        prop::collection::vec(group_seed(), 0..4),
        prop::collection::vec(user_filter(), 12),
        prop::collection::vec(group_filter(), 6),
        prop::collection::vec((any::<prop::sample::Index>(), user_patch()), 2),
        prop::collection::vec((any::<prop::sample::Index>(), group_patch()), 2),
    )
        .prop_map(
            |(users, groups, user_filters, group_filters, user_patches, group_patches)| Case {
                users,
                groups,
                user_filters,
                group_filters,
                user_patches,
                group_patches,
            },
        )
}

// ---- filters ------------------------------------------------------------------------------

fn paths(list: &[&str]) -> impl Strategy<Value = AttrPath> + Clone + use<> {
    let parsed: Vec<AttrPath> =
        list.iter().map(|p| AttrPath::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"))).collect();
    prop::sample::select(parsed)
}

/// Strings: the shared words, substrings of e-mail addresses, placeholders of ids (`$U1`,
/// `$G0`: the id of that user or group of the case).
fn text() -> impl Strategy<Value = CompValue> + Clone {
    prop_oneof![
        4 => word(),
        1 => prop::sample::select(DOMAINS).prop_map(|d| format!("@{d}")),
        1 => (word(), 0..3usize).prop_map(|(w, i)| format!("{w}{i}")),
        1 => (0..6usize).prop_map(|i| format!("$U{i}")),
        1 => (0..4usize).prop_map(|i| format!("$G{i}")),
        1 => prop::sample::select(TYPES).prop_map(str::to_owned),
        1 => prop::sample::select(&["User", "user", "Group", "GROUP"][..]).prop_map(str::to_owned),
    ]
    .prop_map(CompValue::Str)
}

fn number() -> impl Strategy<Value = CompValue> + Clone {
    prop_oneof![
        (-6i64..21).prop_map(|n| CompValue::Number(n.into())),
        prop::sample::select(NUMBERS)
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
    ]
}

fn date() -> impl Strategy<Value = CompValue> + Clone {
    prop::sample::select(DATES).prop_map(|d| CompValue::Str(d.to_owned()))
}

/// Any value, also of the wrong type for the attribute.
fn any_value() -> impl Strategy<Value = CompValue> + Clone {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        number(),
        text(),
        date(),
    ]
}

const USER_TEXT: &[&str] = &[
    "userName",
    "displayName",
    "nickName",
    "title",
    "userType",
    "externalId",
    "id",
    "name.givenName",
    "name.familyName",
    "emails",
    "emails.value",
    "emails.type",
    "addresses.locality",
    "addresses.country",
    "roles",
    "roles.value",
    "groups",
    "groups.value",
    "groups.display",
    "meta.resourceType",
    "urn:ietf:params:scim:schemas:core:2.0:User:title",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    "urn:acme:scim:schemas:1.0:UserExtension:organizationId",
    "urn:acme:scim:schemas:1.0:UserExtension:region",
];
const USER_NUMBER: &[&str] = &[
    "urn:acme:scim:schemas:1.0:UserExtension:level",
    "urn:acme:scim:schemas:1.0:UserExtension:score",
];
const USER_BOOL: &[&str] =
    &["active", "emails.primary", "urn:acme:scim:schemas:1.0:UserExtension:ssoEnabled"];
const USER_DATE: &[&str] =
    &["meta.created", "meta.lastModified", "urn:acme:scim:schemas:1.0:UserExtension:since"];
const USER_PRESENT: &[&str] = &[
    "name",
    "emails",
    "addresses",
    "roles",
    "groups",
    "schemas",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
];
/// Complex attributes a value filter `x[...]` may name, with their sub-attributes.
const USER_VALUE_PATHS: &[(&str, &[&str])] = &[
    ("emails", &["value", "type", "display"]),
    ("addresses", &["locality", "country", "type"]),
    ("roles", &["value", "type"]),
    ("groups", &["value", "display", "type"]),
    ("name", &["givenName", "familyName"]),
];

fn typed_leaves(
    text_paths: &'static [&'static str],
    number_paths: &'static [&'static str],
    bool_paths: &'static [&'static str],
    date_paths: &'static [&'static str],
    present: &'static [&'static str],
) -> BoxedStrategy<Filter> {
    let all: Vec<&str> = [text_paths, number_paths, bool_paths, date_paths, present].concat();
    let mut leaves: Vec<(u32, BoxedStrategy<Filter>)> =
        vec![(6, leaf_of(paths(text_paths), text()).boxed())];
    if !number_paths.is_empty() {
        leaves.push((2, leaf_of(paths(number_paths), number()).boxed()));
    }
    if !bool_paths.is_empty() {
        leaves
            .push((2, leaf_of(paths(bool_paths), any::<bool>().prop_map(CompValue::Bool)).boxed()));
    }
    if !date_paths.is_empty() {
        leaves.push((2, leaf_of(paths(date_paths), date()).boxed()));
    }
    leaves.push((1, paths(&all).prop_map(Filter::Present).boxed()));
    leaves.push((1, leaf_of(paths(&all), any_value()).boxed()));
    prop::strategy::Union::new_weighted(leaves).boxed()
}

fn value_paths(list: &'static [(&'static str, &'static [&'static str])]) -> BoxedStrategy<Filter> {
    let options: Vec<BoxedStrategy<Filter>> = list
        .iter()
        .map(|(attr, subs)| {
            let attr = AttrPath::parse(attr).unwrap();
            let inner =
                logic_over(leaf_of(paths(subs), prop_oneof![3 => text(), 1 => any_value()]), 2);
            inner.prop_map(move |f| Filter::ValuePath(attr.clone(), Box::new(f))).boxed()
        })
        .collect();
    prop::strategy::Union::new(options).boxed()
}

fn user_filter() -> impl Strategy<Value = Filter> {
    filter_over(
        typed_leaves(USER_TEXT, USER_NUMBER, USER_BOOL, USER_DATE, USER_PRESENT),
        value_paths(USER_VALUE_PATHS),
    )
}

fn group_filter() -> impl Strategy<Value = Filter> {
    const TEXT: &[&str] = &[
        "displayName",
        "externalId",
        "id",
        "members",
        "members.value",
        "members.type",
        "members.display",
        "meta.resourceType",
    ];
    const DATE: &[&str] = &["meta.created", "meta.lastModified"];
    const PRESENT: &[&str] = &["members", "schemas"];
    const VALUE_PATHS: &[(&str, &[&str])] = &[("members", &["value", "type", "display"])];
    filter_over(typed_leaves(TEXT, &[], &[], DATE, PRESENT), value_paths(VALUE_PATHS))
}

// ---- PATCH requests -----------------------------------------------------------------------

fn op_kind() -> impl Strategy<Value = PatchOpKind> {
    prop::sample::select(vec![PatchOpKind::Add, PatchOpKind::Replace, PatchOpKind::Remove])
}

fn patch_op(kind: PatchOpKind, path: Option<&str>, value: Option<Value>) -> PatchOperation {
    let value = if kind == PatchOpKind::Remove && path.is_some() { None } else { value };
    PatchOperation { op: kind, path: path.map(str::to_owned), value }
}

fn user_patch() -> impl Strategy<Value = Vec<PatchOperation>> {
    let simple = (
        op_kind(),
        prop::sample::select(vec![
            "displayName",
            "title",
            "nickName",
            "name.givenName",
            "emails[type eq \"work\"].value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:acme:scim:schemas:1.0:UserExtension:region",
        ]),
        word(),
    )
        .prop_map(|(k, p, w)| patch_op(k, Some(p), Some(json!(w))));
    let active =
        (op_kind(), any::<bool>()).prop_map(|(k, b)| patch_op(k, Some("active"), Some(json!(b))));
    let email = (op_kind(), word(), prop::sample::select(TYPES)).prop_map(|(k, w, t)| {
        patch_op(k, Some("emails"), Some(json!([{"value": format!("{w}@x.io"), "type": t}])))
    });
    let remove_where = (word(), prop::sample::select(TYPES)).prop_map(|(w, t)| {
        let path = format!("emails[type eq \"{t}\" or value co \"{w}\"]");
        patch_op(PatchOpKind::Remove, Some(&path), None)
    });
    let pathless = (word(), word()).prop_map(|(d, t)| {
        patch_op(PatchOpKind::Replace, None, Some(json!({"displayName": d, "name.familyName": t})))
    });
    let level = (op_kind(), -5i64..20).prop_map(|(k, n)| {
        patch_op(k, Some("urn:acme:scim:schemas:1.0:UserExtension:level"), Some(json!(n)))
    });
    prop::collection::vec(
        prop_oneof![3 => simple, 1 => active, 1 => email, 1 => remove_where, 1 => pathless, 1 => level],
        1..4,
    )
}

fn group_patch() -> impl Strategy<Value = Vec<PatchOperation>> {
    let add = (op_kind(), prop::collection::vec(0..6usize, 1..3)).prop_map(|(k, users)| {
        let members: Vec<Value> = users.iter().map(|u| json!(format!("$U{u}"))).collect();
        patch_op(k, Some("members"), Some(Value::Array(members)))
    });
    let remove_one = (0..6usize).prop_map(|u| {
        patch_op(PatchOpKind::Remove, Some(&format!("members[value eq \"$U{u}\"]")), None)
    });
    let remove_where =
        (word(), prop::sample::select(&["User", "user", "Group"][..])).prop_map(|(w, t)| {
            let path = format!("members[display co \"{w}\" or type eq \"{t}\"]");
            patch_op(PatchOpKind::Remove, Some(&path), None)
        });
    let remove_display = word().prop_map(|w| {
        patch_op(PatchOpKind::Remove, Some(&format!("members[display sw \"{w}\"]")), None)
    });
    let clear = Just(patch_op(PatchOpKind::Remove, Some("members"), None));
    let rename = (word(), 0..1000u32).prop_map(|(w, n)| {
        patch_op(PatchOpKind::Replace, Some("displayName"), Some(json!(format!("{w} r{n}"))))
    });
    prop::collection::vec(
        prop_oneof![3 => add, 2 => remove_one, 2 => remove_where, 1 => remove_display, 1 => clear, 1 => rename],
        1..4,
    )
}

// ---- running a case -----------------------------------------------------------------------

/// The ids of a case's resources, for the `$U1` / `$G0` placeholders.
#[derive(Debug, Default)]
struct Ids {
    users: Vec<String>,
    groups: Vec<String>,
    /// The `display` of each user as membership rows show it (see [`Ids::refresh`]).
    displays: std::collections::HashMap<String, String>,
}

impl Ids {
    fn resolve(&self, s: &str) -> Option<(MemberKind, &str)> {
        let pick = |list: &'_ [String], i: &str| -> Option<usize> {
            let i: usize = i.parse().ok()?;
            (!list.is_empty()).then(|| i % list.len())
        };
        if let Some(i) = s.strip_prefix("$U") {
            return pick(&self.users, i).map(|i| (MemberKind::User, self.users[i].as_str()));
        }
        if let Some(i) = s.strip_prefix("$G") {
            return pick(&self.groups, i).map(|i| (MemberKind::Group, self.groups[i].as_str()));
        }
        None
    }

    /// A placeholder's id; one of no resource (`GR` + zeros) when the case has no groups.
    fn text(&self, s: &str) -> String {
        match self.resolve(s) {
            Some((_, id)) => id.to_owned(),
            None if s.starts_with("$G") => "GR00000000000000000000000000000000".to_owned(),
            None => s.to_owned(),
        }
    }

    fn filter(&self, f: &Filter) -> Filter {
        match f {
            Filter::Compare(p, op, CompValue::Str(s)) => {
                Filter::Compare(p.clone(), *op, CompValue::Str(self.text(s)))
            }
            Filter::Compare(..) | Filter::Present(_) => f.clone(),
            Filter::Not(a) => Filter::negate(self.filter(a)),
            Filter::And(a, b) => Filter::and(self.filter(a), self.filter(b)),
            Filter::Or(a, b) => Filter::or(self.filter(a), self.filter(b)),
            Filter::ValuePath(p, inner) => {
                Filter::ValuePath(p.clone(), Box::new(self.filter(inner)))
            }
        }
    }

    /// A PATCH operation with its placeholders replaced: in paths by the id, in member
    /// values by the member as the rows show it (`value`, `display`, `type`).
    fn patch(&self, op: &PatchOperation) -> PatchOperation {
        let mut out = op.clone();
        if let Some(p) = &mut out.path {
            for i in 0..6 {
                let token = format!("$U{i}");
                if p.contains(&token) {
                    *p = p.replace(&token, &self.text(&token));
                }
            }
        }
        if let Some(Value::Array(items)) = &mut out.value {
            for item in items {
                if let Some(s) = item.as_str().map(str::to_owned)
                    && let Some((_, id)) = self.resolve(&s)
                {
                    let display = self.displays.get(id).cloned().unwrap_or_default();
                    *item = json!({"value": id, "display": display, "type": "User"});
                }
            }
        }
        out
    }
}

impl Ids {
    /// The users' `display` as the rows now hold it: `displayName`, else `userName`.
    async fn refresh(&mut self, store: &Arc<dyn Store>, org: OrganizationSid) {
        for u in all(store, org, ResourceKind::User).await {
            let display = ["displayName", "userName"]
                .iter()
                .find_map(|k| u.resource.get(k).and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned();
            self.displays.insert(u.id, display);
        }
    }
}

fn query(filter: Filter) -> Query {
    Query {
        filter: Some(filter),
        sort_by: None,
        sort_order: SortOrder::Ascending,
        pagination: Pagination::Index { start_index: 1, count: 1000 },
        read: ReadOptions::default(),
    }
}

/// Every live resource of `kind` in `org`, as read with members and groups.
async fn all(store: &Arc<dyn Store>, org: OrganizationSid, kind: ResourceKind) -> Vec<Stored> {
    let mut q = query(Filter::Present(AttrPath::new("id", None)));
    q.filter = None;
    q.read = ReadOptions::ALL;
    store.query(org, kind, &q).await.unwrap().resources
}

async fn create(store: &Arc<dyn Store>, org: OrganizationSid, case: &Case) -> Ids {
    let mut ids = Ids::default();
    for (i, u) in case.users.iter().enumerate() {
        let mut doc = u.fields.clone();
        doc.insert("userName".into(), json!(format!("{}.{i}@{}", u.name_word, u.domain)));
        if let Some(x) = &u.external {
            doc.insert("externalId".into(), json!(format!("{x}-{i}")));
        }
        let new = NewResource {
            resource: Resource::from_value(Value::Object(doc)).unwrap(),
            members: Vec::new(),
            password_hash: None,
        };
        ids.users.push(store.create(org, ResourceKind::User, new).await.unwrap().id);
    }
    for (i, g) in case.groups.iter().enumerate() {
        let mut members: Vec<MemberRow> = Vec::new();
        for u in &g.users {
            let value = ids.users[u.index(ids.users.len())].clone();
            if !members.iter().any(|m| m.value == value) {
                members.push(MemberRow { value, kind: MemberKind::User });
            }
        }
        if !ids.groups.is_empty() {
            for n in &g.groups {
                let value = ids.groups[n.index(ids.groups.len())].clone();
                if !members.iter().any(|m| m.value == value) {
                    members.push(MemberRow { value, kind: MemberKind::Group });
                }
            }
        }
        let doc = json!({"schemas": [GROUP_SCHEMA], "displayName": format!("{} {i}", g.name)});
        let new = NewResource {
            resource: Resource::from_value(doc).unwrap(),
            members,
            password_hash: None,
        };
        ids.groups.push(store.create(org, ResourceKind::Group, new).await.unwrap().id);
    }
    ids
}

/// The filters of `kind`: the store's answer against the evaluator's.
async fn check_filters(
    store: &Arc<dyn Store>,
    reg: &Registry,
    org: OrganizationSid,
    kind: ResourceKind,
    filters: &[Filter],
    ids: &Ids,
) -> Result<(), String> {
    let resources: Vec<(String, Value)> =
        all(store, org, kind).await.into_iter().map(|s| (s.id, s.resource.into_value())).collect();
    for f in filters {
        let f = ids.filter(f);
        if f.validate(reg, kind).is_err() {
            // What validation refuses, the store refuses too.
            if store.query(org, kind, &query(f.clone())).await.is_ok() {
                return Err(format!("{} filter `{f}`: invalid, yet the store ran it", kind.name()));
            }
            continue;
        }
        let expected: BTreeSet<&str> = resources
            .iter()
            .filter(|(_, r)| f.matches(r, reg, kind))
            .map(|(id, _)| id.as_str())
            .collect();
        let page = store
            .query(org, kind, &query(f.clone()))
            .await
            .map_err(|e| format!("{} filter `{f}`: the store failed: {e}", kind.name()))?;
        let got: BTreeSet<&str> = page.resources.iter().map(|r| r.id.as_str()).collect();
        if got != expected || page.total_results != got.len() as u64 {
            let docs: Vec<&Value> = resources
                .iter()
                .filter(|(id, _)| got.contains(id.as_str()) != expected.contains(id.as_str()))
                .map(|(_, r)| r)
                .collect();
            return Err(format!(
                "{} filter `{f}`: the store returned {got:?} (total {}), the evaluator {expected:?}; \
                 resources they disagree on: {docs:#?}",
                kind.name(),
                page.total_results
            ));
        }
    }
    Ok(())
}

/// What a resource must agree on after a PATCH: the document without `meta` (version and
/// time move on) and with `members` as a set of (value, type, display).
fn comparable(mut doc: Map<String, Value>) -> (Map<String, Value>, BTreeSet<String>) {
    doc.retain(|k, _| !k.eq_ignore_ascii_case("meta") && !k.eq_ignore_ascii_case("groups"));
    let mut members = BTreeSet::new();
    if let Some(k) = doc.keys().find(|k| k.eq_ignore_ascii_case("members")).cloned()
        && let Some(Value::Array(items)) = doc.shift_remove(&k)
    {
        for m in items {
            let s = |n: &str| m.as_object().and_then(|o| get_ci(o, n)).and_then(Value::as_str);
            members.insert(format!(
                "{}|{}|{}",
                s("value").unwrap_or_default(),
                s("type").unwrap_or("User"),
                s("display").unwrap_or_default()
            ));
        }
    }
    (doc, members)
}

/// The core engine's result of `ops` on `resource` with members in the document, one
/// operation at a time (all or nothing, as one request): after each, every member gets the
/// `display` and `type` its row would show, since a later operation's filter may read
/// them (`members[display co "a"]`), and the store reads them from the rows.
fn locally(
    reg: &Registry,
    kind: ResourceKind,
    mut resource: Resource,
    ops: &[PatchOperation],
    ids: &Ids,
) -> Result<Resource, scim_core::ScimError> {
    let mut displays = ids.displays.clone();
    if let Some(Value::Array(items)) = resource.get("members") {
        for m in items {
            if let (Some(v), Some(d)) = (m.get("value"), m.get("display")) {
                displays.insert(v.as_str().unwrap().to_owned(), d.as_str().unwrap().to_owned());
            }
        }
    }
    for op in ops {
        patch::apply(&mut resource, std::slice::from_ref(op), &PatchContext::new(reg, kind))?;
        if let Some(Value::Array(items)) = resource.as_map_mut().get_mut("members") {
            for m in items.iter_mut().filter_map(Value::as_object_mut) {
                let value = m.get("value").and_then(Value::as_str).unwrap_or_default().to_owned();
                let t = if value.starts_with("GR") { "Group" } else { "User" };
                m.insert("type".into(), json!(t));
                if let Some(d) = displays.get(&value) {
                    m.insert("display".into(), json!(d));
                }
            }
        }
    }
    Ok(resource)
}

/// One PATCH request: through the store against the core engine on the resource as read.
async fn check_patch(
    store: &Arc<dyn Store>,
    reg: &Arc<Registry>,
    org: OrganizationSid,
    kind: ResourceKind,
    id: &str,
    ops: &[PatchOperation],
    ids: &Ids,
) -> Result<(), String> {
    let before = store.get(org, rid(kind, id), ReadOptions::ALL).await.unwrap().unwrap();
    let expected = locally(reg, kind, before.resource.clone(), ops, ids);
    let registry = Arc::clone(reg);
    let owned = ops.to_vec();
    let modifier: scim_store::Modifier = Box::new(move |stored: &Stored| {
        let pctx = PatchContext::new(&registry, kind).with_external_members(true);
        let mut map = stored.resource.clone().into_map();
        map.retain(|k, _| !k.eq_ignore_ascii_case("members") && !k.eq_ignore_ascii_case("groups"));
        let mut resource = Resource(map);
        let outcome = patch::apply(&mut resource, &owned, &pctx)?;
        let members: Vec<MemberOp> = outcome.member_ops;
        let changed = outcome.changed || !members.is_empty();
        Ok(Change { resource, members, password_hash: None, changed })
    });
    let through = store.modify(org, rid(kind, id), None, ReadOptions::ALL, modifier).await;
    let label = || format!("{} PATCH {}", kind.name(), serde_json::to_string(ops).unwrap());
    match (expected, through) {
        (Err(_), Err(_)) => Ok(()),
        (Ok(_), Err(e)) => {
            Err(format!("{}: the store failed ({e}), the core engine did not", label()))
        }
        (Err(e), Ok(_)) => {
            Err(format!("{}: the core engine failed ({e}), the store did not", label()))
        }
        (Ok(want), Ok(answer)) => {
            let stored = store.get(org, rid(kind, id), ReadOptions::ALL).await.unwrap().unwrap();
            let want = comparable(want.into_map());
            for (what, got) in [("answered", answer.resource), ("stored", stored.resource)] {
                let got = comparable(got.into_map());
                if got != want {
                    return Err(format!(
                        "{}: the store {what} {got:#?}, the core engine gives {want:#?}",
                        label()
                    ));
                }
            }
            Ok(())
        }
    }
}

async fn run_case(env: &Env, reg: &Arc<Registry>, case: &Case) -> Result<(), String> {
    let store = &env.store;
    let org = store.create_organization("differential", &[]).await.unwrap().sid;
    let mut ids = create(store, org, case).await;
    check_filters(store, reg, org, ResourceKind::User, &case.user_filters, &ids).await?;
    check_filters(store, reg, org, ResourceKind::Group, &case.group_filters, &ids).await?;
    for (i, ops) in &case.user_patches {
        let id = &ids.users[i.index(ids.users.len())];
        let ops: Vec<PatchOperation> = ops.iter().map(|o| ids.patch(o)).collect();
        check_patch(store, reg, org, ResourceKind::User, id, &ops, &ids).await?;
    }
    if !ids.groups.is_empty() {
        ids.refresh(store, org).await;
        for (i, ops) in &case.group_patches {
            let id = &ids.groups[i.index(ids.groups.len())];
            let ops: Vec<PatchOperation> = ops.iter().map(|o| ids.patch(o)).collect();
            check_patch(store, reg, org, ResourceKind::Group, id, &ops, &ids).await?;
        }
    }
    // The filters again, over the patched resources.
    check_filters(store, reg, org, ResourceKind::User, &case.user_filters, &ids).await?;
    check_filters(store, reg, org, ResourceKind::Group, &case.group_filters, &ids).await
}

fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    match std::env::var("SCIM_DIFF_SEED") {
        Ok(hex_seed) if !hex_seed.trim().is_empty() => {
            hex::decode_to_slice(hex_seed.trim(), &mut seed).expect("SCIM_DIFF_SEED: 64 hex digits")
        }
        _ => getrandom::fill(&mut seed).unwrap(),
    }
    seed
}

fn cases() -> u32 {
    std::env::var("SCIM_DIFF_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(32)
}

/// Shrink steps at most, after a failure (each runs the case against the database).
const SHRINK_STEPS: u32 = 200;

#[tokio::test(flavor = "multi_thread")]
async fn store_and_core_agree_on_filters_and_patches() {
    let seed = seed();
    let hex_seed = hex::encode(seed);
    let reg = registry();
    each(|env| {
        let reg = Arc::clone(&reg);
        let hex_seed = hex_seed.clone();
        async move {
            // The same cases on every backend.
            let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
            let mut runner = TestRunner::new_with_rng(Config::default(), rng);
            let strategy = case();
            for n in 0..cases() {
                let mut tree = strategy.new_tree(&mut runner).unwrap();
                let Err(first) = run_case(&env, &reg, &tree.current()).await else { continue };
                // Shrink: the simplest case that still fails.
                let (mut smallest, mut why) = (tree.current(), first);
                let mut failing = true;
                for _ in 0..SHRINK_STEPS {
                    let moved = if failing { tree.simplify() } else { tree.complicate() };
                    if !moved {
                        break;
                    }
                    match run_case(&env, &reg, &tree.current()).await {
                        Err(e) => (smallest, why, failing) = (tree.current(), e, true),
                        Ok(()) => failing = false,
                    }
                }
                panic!(
                    "{:?}: the store and scim-core disagree (case {n}; replay with \
                     SCIM_DIFF_SEED={hex_seed}):\n{why}\nsmallest case: {smallest:#?}",
                    env.backend
                );
            }
        }
    })
    .await;
}
