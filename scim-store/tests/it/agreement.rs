//! Cases where the differential test (`differential.rs`) found the database and
//! `Filter::matches` disagreeing, fixed and kept here as plain regression tests: each
//! query's ids are checked against the evaluator on the same resources.

use crate::support::*;
use scim_core::filter::Filter;
use scim_core::schema::ResourceKind::{self, Group, User};
use scim_core::sid::OrganizationSid;
use scim_store::{MemberKind, MemberRow, NewResource, ReadOptions, Store};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The ids the store returns for `filter`, and the ids the evaluator matches.
async fn both(
    s: &Arc<dyn Store>,
    org: OrganizationSid,
    kind: ResourceKind,
    filter: &str,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let reg = registry();
    let f = Filter::parse(filter).unwrap();
    let mut all = crate::query::q(None);
    all.read = ReadOptions::ALL;
    let expected = s
        .query(org, kind, &all)
        .await
        .unwrap()
        .resources
        .into_iter()
        .filter(|r| f.matches(&r.resource.clone().into_value(), &reg, kind))
        .map(|r| r.id)
        .collect();
    let got = s
        .query(org, kind, &crate::query::q(Some(filter)))
        .await
        .unwrap_or_else(|e| panic!("{filter}: {e}"))
        .resources
        .into_iter()
        .map(|r| r.id)
        .collect();
    (got, expected)
}

/// Asserts that the store and the evaluator agree on `filter`, and that it matches `n`.
async fn agree(
    s: &Arc<dyn Store>,
    org: OrganizationSid,
    kind: ResourceKind,
    filter: &str,
    n: usize,
) {
    let (got, expected) = both(s, org, kind, filter).await;
    assert_eq!(got, expected, "{filter}");
    assert_eq!(got.len(), n, "{filter}");
}

/// `groups.type` of a user: every group reads back as `"type": "direct"`; the store
/// refused the filter.
#[tokio::test(flavor = "multi_thread")]
async fn a_users_groups_type_is_direct() {
    each(|env| async move {
        let s = &env.store;
        let u = user(s, env.a, json!({"userName":"in"})).await;
        user(s, env.a, json!({"userName":"out"})).await;
        let members = vec![MemberRow { value: u.id.clone(), kind: MemberKind::User }];
        let g = NewResource { members, ..new_group("G") };
        s.create(env.a, Group, g).await.unwrap();
        agree(s, env.a, User, r#"groups.type eq "direct""#, 1).await;
        agree(s, env.a, User, r#"groups[type eq "DIRECT"]"#, 1).await;
        agree(s, env.a, User, r#"not (groups[type pr])"#, 1).await;
    })
    .await;
}

/// `co`/`sw`/`ew` on a dateTime compare its text (the store matched nothing); any other
/// operator needs a dateTime on the right: `Filter::validate` accepted any string and the
/// evaluator compared it as text, while the store refused it.
#[tokio::test(flavor = "multi_thread")]
async fn date_times_compare_as_instants_and_their_text_as_text() {
    each(|env| async move {
        let s = &env.store;
        user(s, env.a, json!({"userName":"a", ACME: {"since": "2021-06-01T12:00:00+02:00"}})).await;
        user(s, env.a, json!({"userName":"b", ACME: {"since": "2020-01-01T00:00:00Z"}})).await;
        let since = format!("{ACME}:since");
        agree(s, env.a, User, &format!(r#"{since} sw "2021-""#), 1).await;
        agree(s, env.a, User, &format!(r#"{since} ew "z""#), 1).await;
        agree(s, env.a, User, &format!(r#"{since} co "+02:""#), 1).await;
        agree(s, env.a, User, r#"meta.created co "T""#, 2).await;
        agree(s, env.a, User, r#"not (meta.lastModified ew "x")"#, 2).await;
        agree(s, env.a, User, &format!(r#"{since} gt "2021-06-01T09:59:59Z""#), 1).await;
        // Instants, whatever the offset and fraction: the store compared the stored text.
        agree(s, env.a, User, &format!(r#"{since} eq "2021-06-01T10:00:00.000Z""#), 1).await;
        agree(s, env.a, User, &format!(r#"{since} eq "2020-01-01T01:00:00+01:00""#), 1).await;
        agree(s, env.a, User, &format!(r#"{since} gt "2021-06-01T12:00:00+02:00""#), 0).await;
        agree(s, env.a, User, &format!(r#"{since} le "2021-06-01T11:00:00+01:00""#), 2).await;
        agree(s, env.a, User, &format!(r#"{since} lt "2019-12-31T23:59:59.999Z""#), 0).await;
        let reg = registry();
        for bad in [format!(r#"{since} gt "2021""#), r#"meta.created eq "today""#.to_owned()] {
            let f = Filter::parse(&bad).unwrap();
            assert!(f.validate(&reg, User).is_err(), "{bad}");
            assert!(s.query(env.a, User, &crate::query::q(Some(&bad))).await.is_err(), "{bad}");
        }
    })
    .await;
}

/// A value filter on a singular complex attribute the resource lacks matches nothing, even
/// when its inside is a negation (the store matched every user without a `name`).
#[tokio::test(flavor = "multi_thread")]
async fn a_value_filter_needs_a_value() {
    each(|env| async move {
        let s = &env.store;
        user(s, env.a, json!({"userName":"a", "name": {"givenName": "Ann"}})).await;
        user(s, env.a, json!({"userName":"b"})).await;
        agree(s, env.a, User, r#"name[not (givenName eq "x")]"#, 1).await;
        agree(s, env.a, User, r#"not (name[not (familyName pr)])"#, 1).await;
        agree(s, env.a, User, r#"emails[not (value pr)]"#, 0).await;
    })
    .await;
}

/// `members.value` and `groups.value` are not caseExact (RFC 7643 8.7.1): the store
/// compared the ids as they are stored (`US...` after `bob`, but `us...` before it).
#[tokio::test(flavor = "multi_thread")]
async fn member_ids_compare_case_insensitively() {
    each(|env| async move {
        let s = &env.store;
        let u = user(s, env.a, json!({"userName":"m"})).await;
        let members = vec![MemberRow { value: u.id.clone(), kind: MemberKind::User }];
        let g = s.create(env.a, Group, NewResource { members, ..new_group("G") }).await.unwrap();
        s.create(env.a, Group, new_group("Empty")).await.unwrap();
        agree(s, env.a, Group, r#"members.value ge "bob""#, 1).await;
        agree(s, env.a, Group, r#"not (members.value lt "bob")"#, 2).await;
        agree(s, env.a, Group, r#"members.value sw "us""#, 1).await;
        let upper = format!(r#"members[value eq "{}"]"#, u.id.to_uppercase());
        agree(s, env.a, Group, &upper, 1).await;
        agree(s, env.a, Group, &format!(r#"members.value ne "{}""#, u.id.to_uppercase()), 1).await;
        agree(s, env.a, User, &format!(r#"groups.value eq "{}""#, g.id.to_uppercase()), 1).await;
        agree(s, env.a, User, r#"groups.value gt "GRZ""#, 0).await;
    })
    .await;
}

/// `pr` on a complex attribute asks for a sub-attribute with a value (RFC 7644 3.4.2.2):
/// the store took `"name": {}` and `"roles": [{}]` for present.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_complex_value_is_not_present() {
    each(|env| async move {
        let s = &env.store;
        user(s, env.a, json!({"userName":"a", "name": {}, "roles": [{}]})).await;
        user(
            s,
            env.a,
            json!({"userName":"b", "name": {"givenName": ""}, "roles": [{"value": ""}]}),
        )
        .await;
        user(
            s,
            env.a,
            json!({"userName":"c", "name": {"familyName": "C"}, "roles": [{"type": "x"}]}),
        )
        .await;
        agree(s, env.a, User, "name pr", 1).await;
        agree(s, env.a, User, "roles pr", 1).await;
        agree(s, env.a, User, "not (name pr) and not (roles pr)", 2).await;
    })
    .await;
}

/// `meta.resourceType` is caseExact (RFC 7643 3.1): the store compared it lowercased.
#[tokio::test(flavor = "multi_thread")]
async fn resource_type_is_case_exact() {
    each(|env| async move {
        let s = &env.store;
        user(s, env.a, json!({"userName":"a"})).await;
        s.create(env.a, Group, new_group("G")).await.unwrap();
        agree(s, env.a, User, r#"meta.resourceType eq "User""#, 1).await;
        agree(s, env.a, User, r#"meta.resourceType eq "user""#, 0).await;
        agree(s, env.a, User, r#"meta.resourceType lt "bob""#, 1).await;
        agree(s, env.a, Group, r#"meta.resourceType eq "GROUP""#, 0).await;
        agree(s, env.a, Group, r#"meta.resourceType le "other""#, 1).await;
    })
    .await;
}
