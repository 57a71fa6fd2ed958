//! Benchmarks for the hot paths of scim-core (filled by the filter and PATCH work).
#![allow(missing_docs)]
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn sid(c: &mut Criterion) {
    c.bench_function("sid/parse", |b| {
        b.iter(|| {
            scim_core::sid::UserSid::parse(std::hint::black_box(
                "US0123456789abcdef0123456789abcdef",
            ))
        })
    });
}

/// A 5-operation Entra ID PATCH on a realistic user (target: under 20 µs).
fn patch_apply(c: &mut Criterion) {
    use scim_core::message::PatchRequest;
    use scim_core::patch::{PatchContext, apply};
    use scim_core::resource::Resource;
    use scim_core::schema::{Registry, ResourceKind};
    let registry = Registry::builtin();
    let ctx = PatchContext::new(&registry, ResourceKind::User);
    let user = Resource::from_value(serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "US0123456789abcdef0123456789abcdef",
        "externalId": "8c2a5b1e-0f0d-4a51-9d55-0d6b9f3e0a11",
        "userName": "adele.vance@contoso.example",
        "name": {"formatted": "Adele Vance", "givenName": "Adele", "familyName": "Vance"},
        "displayName": "Adele Vance",
        "title": "Retail Manager",
        "preferredLanguage": "en-US",
        "active": true,
        "emails": [{"value": "adele.vance@contoso.example", "type": "work", "primary": true},
                   {"value": "adele@home.example", "type": "home"}],
        "phoneNumbers": [{"value": "+1 425 555 0109", "type": "work"},
                         {"value": "+1 425 555 0110", "type": "mobile"}],
        "addresses": [{"type": "work", "streetAddress": "18 Microsoft Way", "locality": "Redmond",
                       "region": "WA", "postalCode": "98052", "country": "US", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "1042", "costCenter": "CC-7", "department": "Retail",
            "manager": {"value": "US00000000000000000000000000000042"}},
        "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z",
                 "lastModified": "2024-06-01T00:00:00Z", "version": "W/\"7\""}
    }))
    .expect("a user");
    let request: PatchRequest = serde_json::from_value(serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "displayName", "value": "Adele V."},
            {"op": "Replace", "path": "emails[type eq \"work\"].value",
             "value": "adele.v@contoso.example"},
            {"op": "Replace", "path": "name.givenName", "value": "Adèle"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
             "value": "Sales"},
            {"op": "Replace", "path": "active", "value": "False"}
        ]
    }))
    .expect("a PATCH request");
    c.bench_function("patch_apply", |b| {
        b.iter_batched(
            || user.clone(),
            |mut u| apply(&mut u, std::hint::black_box(&request.operations), &ctx),
            BatchSize::SmallInput,
        )
    });
}

/// Filter parsing: what Okta and Entra ID send on every provisioning cycle (target: under
/// 2 µs each).
fn filter_parse(c: &mut Criterion) {
    use scim_core::filter::Filter;
    let mut g = c.benchmark_group("filter_parse");
    for (name, text) in [
        ("okta_username", r#"userName eq "x@y.io""#),
        ("entra_external_id", r#"externalId eq "5f5b1e04-8c3e-4a7b-9f6d-2d1c0b9a8e7f""#),
        ("username_and_active", r#"userName eq "a@b.io" and active eq true"#),
        ("value_path", r#"emails[type eq "work" and value ew "@x.io"]"#),
    ] {
        g.bench_function(name, |b| b.iter(|| Filter::parse(std::hint::black_box(text))));
    }
    g.finish();
}

/// Filter evaluation against the RFC 7643 8.3 user (about 25 attributes; target: under
/// 1 µs each).
fn filter_eval(c: &mut Criterion) {
    use scim_core::filter::Filter;
    use scim_core::schema::{Registry, ResourceKind};
    let registry = Registry::builtin();
    let user: serde_json::Value =
        serde_json::from_str(include_str!("../tests/data/rfc7643/8.3-enterprise-user.json"))
            .expect("the fixture");
    let mut g = c.benchmark_group("filter_eval");
    for (name, text) in [
        ("okta_username", r#"userName eq "BJensen@example.com""#),
        ("username_and_active", r#"userName eq "bjensen@example.com" and active eq true"#),
        ("value_path", r#"emails[type eq "work" and value ew "@example.com"]"#),
        (
            "enterprise",
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
        ),
        ("last_modified", r#"meta.lastModified gt "2011-05-13T04:42:34Z""#),
    ] {
        let filter = Filter::parse(text).expect("a filter");
        g.bench_function(name, |b| {
            b.iter(|| std::hint::black_box(&filter).matches(&user, &registry, ResourceKind::User))
        });
    }
    g.finish();
}

criterion_group!(benches, sid, patch_apply, filter_parse, filter_eval);
criterion_main!(benches);
