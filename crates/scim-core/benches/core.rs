//! Benchmarks for the hot paths of scim-core (filled by the filter and PATCH work).
#![allow(missing_docs)]
use criterion::{Criterion, criterion_group, criterion_main};

fn sid(c: &mut Criterion) {
    c.bench_function("sid/parse", |b| {
        b.iter(|| {
            scim_core::sid::UserSid::parse(std::hint::black_box(
                "US0123456789abcdef0123456789abcdef",
            ))
        })
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

criterion_group!(benches, sid, filter_parse, filter_eval);
criterion_main!(benches);
