//! The filter builder: values never change a filter's structure. For arbitrary strings
//! (quotes, backslashes, `]`, `)`, `or`, control characters, any Unicode), building, printing
//! with the core printer and parsing with the core parser gives back the same AST.

use proptest::prelude::*;
use scim_client::filter::{Expr, FilterBuildError, attr, not};
use scim_core::filter::{CompValue, CompareOp, DEPTH_CAP, Filter, Limits};
use scim_core::path::AttrPath;

/// Strings that try hard to break out of a quoted value.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop_oneof![
                Just("\"".to_owned()),
                Just("\\".to_owned()),
                Just("]".to_owned()),
                Just(")".to_owned()),
                Just("(".to_owned()),
                Just("[".to_owned()),
                Just(" or ".to_owned()),
                Just(" and ".to_owned()),
                Just("not (".to_owned()),
                Just(" pr".to_owned()),
                Just("\\u0022".to_owned()),
                Just("\n\t\u{0}\u{1f}".to_owned()),
                Just("é€😀\u{2028}".to_owned()),
                "[a-z ]{0,4}",
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat()),
    ]
}

fn path() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "userName",
        "name.givenName",
        "displayName",
        "emails.value",
        "meta.lastModified",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    ])
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(CompareOp::ALL.to_vec())
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (path(), op(), hostile()).prop_map(|(p, o, v)| attr(p).compare(o, v)),
        (path(), op(), any::<i64>()).prop_map(|(p, o, v)| attr(p).compare(o, v)),
        (path(), any::<bool>()).prop_map(|(p, v)| attr(p).eq(v)),
        (path(), op(), -1e12f64..1e12).prop_map(|(p, o, v)| attr(p).compare(o, v)),
        path().prop_map(|p| attr(p).eq(None::<&str>)),
        path().prop_map(|p| attr(p).pr()),
        (hostile(), hostile()).prop_map(|(t, v)| {
            attr("emails").has(attr("type").eq(t).or(not(attr("value").co(v))))
        }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
            inner.prop_map(not),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn build_print_parse_is_identity(e in expr()) {
        let f = e.build().unwrap();
        let text = f.to_string();
        let limits = Limits { max_len: 1 << 20, max_depth: DEPTH_CAP };
        prop_assert_eq!(Filter::parse_with(&text, &limits), Ok(f), "{}", text);
    }

    #[test]
    fn a_value_stays_one_comparison(v in hostile()) {
        let f = attr("userName").eq(v.as_str()).build().unwrap();
        let parsed = Filter::parse(&f.to_string()).unwrap();
        prop_assert_eq!(
            parsed,
            Filter::Compare(AttrPath::new("userName", None), CompareOp::Eq, CompValue::Str(v))
        );
    }
}

#[test]
fn malformed_paths_and_numbers_are_errors_not_text() {
    assert!(matches!(
        attr("userName eq \"x\" or id").eq("y").build(),
        Err(FilterBuildError::InvalidPath(_))
    ));
    assert!(matches!(attr("age").gt(f64::NAN).build(), Err(FilterBuildError::InvalidNumber(_))));
    assert!(matches!(
        attr("emails.value").has(attr("type").eq("work")).build(),
        Err(FilterBuildError::ValuePathWithSubAttr(_))
    ));
    // The first error wins through combinators.
    assert!(attr("ok").pr().and(attr("bad path").pr()).or(attr("x").pr()).build().is_err());
}

#[test]
fn precedence_is_kept() {
    let f = attr("a").pr().or(attr("b").pr()).and(attr("c").pr()).build().unwrap();
    assert_eq!(f.to_string(), "(a pr or b pr) and c pr");
    let f = attr("a").pr().and(attr("b").pr().or(attr("c").pr())).build().unwrap();
    assert_eq!(f.to_string(), "a pr and (b pr or c pr)");
}
