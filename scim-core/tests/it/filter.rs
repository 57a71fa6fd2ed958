//! Filters (RFC 7644 3.4.2.2): parse, print, round-trip, evaluate, errors, properties.

use proptest::prelude::*;
use scim_core::ErrorCode;
use scim_core::ScimError;
use scim_core::filter::{
    CompValue, CompareOp, Filter, FilterError, Limits, compared_attr, resolve_path,
};
use scim_core::path::AttrPath;
use scim_core::schema::{AttrType, ENTERPRISE_USER_SCHEMA, Registry, ResourceKind, USER_SCHEMA};
use serde_json::{Value, json};

const USER: &str = include_str!("../data/rfc7643/8.3-enterprise-user.json");

fn user() -> Value {
    serde_json::from_str(USER).unwrap()
}

fn parse(s: &str) -> Filter {
    Filter::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Parses, checks that the printed form parses back to the same AST, and evaluates.
fn check(s: &str, resource: &Value, kind: ResourceKind, expected: bool) {
    let r = Registry::builtin();
    let f = parse(s);
    let printed = f.to_string();
    assert_eq!(Filter::parse(&printed).as_ref(), Ok(&f), "{s} printed as {printed}");
    assert_eq!(f.matches(resource, &r, kind), expected, "{s}");
    f.validate(&r, kind).unwrap_or_else(|e| panic!("{s}: {e}"));
}

fn path(s: &str) -> AttrPath {
    AttrPath::parse(s).unwrap()
}

fn s(v: &str) -> CompValue {
    CompValue::Str(v.to_owned())
}

/// Every example of RFC 7644 3.4.2.2, against the RFC 7643 8.3 user.
#[test]
fn rfc7644_examples() {
    let u = user();
    let cases = [
        (r#"userName eq "bjensen""#, false),
        (r#"name.familyName co "O'Malley""#, false),
        (r#"userName sw "J""#, false),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#, false),
        (r#"title pr"#, true),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false),
        (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true),
        (r#"title pr and userType eq "Employee""#, true),
        (r#"title pr or userType eq "Intern""#, true),
        (r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#, true),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            true,
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            false,
        ),
        (r#"userType eq "Employee" and (emails.type eq "work")"#, true),
        (r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#, true),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            true,
        ),
    ];
    for (f, expected) in cases {
        check(f, &u, ResourceKind::User, expected);
    }
    // The same examples against a user they are written for.
    let b = json!({"schemas":[USER_SCHEMA], "userName":"Jbjensen", "userType":"Intern",
        "name":{"familyName":"O'Malley"},
        "emails":[{"type":"home","value":"j@example.org"}],
        "ims":[{"type":"xmpp","value":"j@foo.com"}],
        "meta":{"lastModified":"2011-05-13T04:42:35.001+00:00"}});
    for (f, expected) in [
        (r#"name.familyName co "O'Malley""#, true),
        (r#"userName sw "J""#, true),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "j""#, true),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, true),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false),
        (r#"title pr"#, false),
        (r#"title pr or userType eq "Intern""#, true),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            false,
        ),
        (r#"userType ne "Employee" and not (emails co "example.net")"#, true),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            true,
        ),
        (r#"emails[type eq "work" and value co "@example.com"]"#, false),
    ] {
        check(f, &b, ResourceKind::User, expected);
    }
}

#[test]
fn rfc_example_asts() {
    assert_eq!(
        parse(r#"userName eq "bjensen""#),
        Filter::Compare(path("userName"), CompareOp::Eq, s("bjensen"))
    );
    assert_eq!(
        parse(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#),
        Filter::Compare(
            AttrPath { urn: Some(USER_SCHEMA.into()), name: "userName".into(), sub_attr: None },
            CompareOp::Sw,
            s("J")
        )
    );
    assert_eq!(
        parse(r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#),
        Filter::and(
            Filter::Compare(path("userType"), CompareOp::Eq, s("Employee")),
            Filter::ValuePath(
                path("emails"),
                Box::new(Filter::and(
                    Filter::Compare(path("type"), CompareOp::Eq, s("work")),
                    Filter::Compare(path("value"), CompareOp::Co, s("@example.com")),
                ))
            )
        )
    );
    // `and` binds tighter than `or`; chains are left-associative.
    let a = || Filter::Present(path("a"));
    let b = || Filter::Present(path("b"));
    let c = || Filter::Present(path("c"));
    assert_eq!(parse("a pr or b pr and c pr"), Filter::or(a(), Filter::and(b(), c())));
    assert_eq!(parse("a pr and b pr or c pr"), Filter::or(Filter::and(a(), b()), c()));
    assert_eq!(parse("a pr or b pr or c pr"), Filter::or(Filter::or(a(), b()), c()));
    assert_eq!(parse("(a pr or b pr) and c pr"), Filter::and(Filter::or(a(), b()), c()));
    assert_eq!(parse("not (a pr) and b pr"), Filter::and(Filter::negate(a()), b()));
}

#[test]
fn keywords_are_case_insensitive() {
    let r = Registry::builtin();
    let f = parse(r#"USERNAME EQ "BJENSEN@EXAMPLE.COM" And Title PR oR not(active Eq FALSE)"#);
    assert_eq!(
        f.to_string(),
        r#"USERNAME eq "BJENSEN@EXAMPLE.COM" and Title pr or not (active eq false)"#
    );
    assert!(f.matches(&user(), &r, ResourceKind::User));
    assert_eq!(parse("x eq NULL"), Filter::Compare(path("x"), CompareOp::Eq, CompValue::Null));
    assert_eq!(
        parse("x Eq True"),
        Filter::Compare(path("x"), CompareOp::Eq, CompValue::Bool(true))
    );
}

#[test]
fn printer_uses_minimal_parentheses() {
    let a = || Filter::Present(path("a"));
    let b = || Filter::Present(path("b"));
    let c = || Filter::Present(path("c"));
    let cases = [
        (Filter::or(a(), Filter::or(b(), c())), "a pr or (b pr or c pr)"),
        (Filter::or(Filter::or(a(), b()), c()), "a pr or b pr or c pr"),
        (Filter::and(a(), Filter::and(b(), c())), "a pr and (b pr and c pr)"),
        (Filter::and(Filter::or(a(), b()), c()), "(a pr or b pr) and c pr"),
        (Filter::and(a(), Filter::or(b(), c())), "a pr and (b pr or c pr)"),
        (
            Filter::or(Filter::and(a(), b()), Filter::and(b(), c())),
            "a pr and b pr or b pr and c pr",
        ),
        (Filter::negate(Filter::or(a(), b())), "not (a pr or b pr)"),
        (
            Filter::ValuePath(path("emails"), Box::new(Filter::or(a(), Filter::negate(b())))),
            "emails[a pr or not (b pr)]",
        ),
    ];
    for (f, text) in cases {
        assert_eq!(f.to_string(), text);
        assert_eq!(parse(text), f, "{text}");
    }
}

#[test]
fn strings_and_numbers() {
    let f = parse(r#"a eq "q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude00 é""#);
    assert_eq!(
        f,
        Filter::Compare(path("a"), CompareOp::Eq, s("q\" b\\ s/ \u{8}\u{c}\n\r\t é 😀 é"))
    );
    assert_eq!(f.to_string(), "a eq \"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t é 😀 é\"");
    assert_eq!(parse(&f.to_string()), f);
    assert_eq!(CompValue::Str("\u{1}".into()).to_string(), r#""\u0001""#);
    for (text, printed) in [
        ("-1", "-1"),
        ("0", "0"),
        ("1.5", "1.5"),
        ("1e3", "1000.0"),
        ("-2.5E-3", "-0.0025"),
        ("18446744073709551615", "18446744073709551615"),
    ] {
        let f = parse(&format!("n gt {text}"));
        let Filter::Compare(_, _, v @ CompValue::Number(_)) = &f else { panic!("{text}") };
        assert_eq!(v.to_string(), printed);
        assert_eq!(parse(&f.to_string()), f);
    }
}

/// What identity providers (Entra ID, Okta) send.
#[test]
fn spec_filters() {
    let r = Registry::builtin();
    let u = user();
    let matches = |f: &str, v: &Value, kind| parse(f).matches(v, &r, kind);
    assert!(matches(
        r#"emails[type eq "work" and value ew "@example.com"]"#,
        &u,
        ResourceKind::User
    ));
    assert!(!matches(r#"emails[type eq "work" and value ew "@x.io"]"#, &u, ResourceKind::User));
    assert!(matches(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#, &u, ResourceKind::User));
    // A timezone offset denoting the same instant is equal.
    assert!(matches(r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#, &u, ResourceKind::User));
    // Okta: userName is caseExact false.
    assert!(matches(r#"userName eq "BJensen@Example.COM""#, &u, ResourceKind::User));
    // id and externalId are caseExact.
    assert!(matches(r#"externalId eq "701984""#, &u, ResourceKind::User));
    assert!(!matches(r#"id eq "2819C223-7F76-453A-919D-413861904646""#, &u, ResourceKind::User));
    assert!(matches(r#"id eq "2819c223-7f76-453a-919d-413861904646""#, &u, ResourceKind::User));
    // Entra: groups by displayName, case-insensitively.
    let g = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Tour Guides",
        "members":[{"value":"US1","type":"User"}]});
    assert!(matches(r#"displayName eq "tour guides""#, &g, ResourceKind::Group));
    assert!(matches(r#"members[value eq "US1"]"#, &g, ResourceKind::Group));
    assert!(matches(r#"members eq "US1""#, &g, ResourceKind::Group));
    assert!(!matches(r#"displayName eq "x""#, &g, ResourceKind::Group));
    // Enterprise extension, with the URN in any case.
    for f in [
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
        r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EmployeeNumber eq "701984""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName sw "john""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User pr"#,
    ] {
        check(f, &u, ResourceKind::User, true);
    }
    // A path without URN names a core attribute, never an extension one.
    assert!(!matches(r#"employeeNumber eq "701984""#, &u, ResourceKind::User));
}

/// Entra ID, matching on a work e-mail: a sub-attribute and a comparison after a value
/// filter mean "one element matches the value filter and its sub-attribute the comparison".
#[test]
fn value_filter_with_a_sub_attribute_comparison() {
    let u = user();
    let f = parse(r#"emails[type eq "work"].value eq "bjensen@example.com""#);
    assert_eq!(
        f,
        Filter::ValuePath(
            path("emails"),
            Box::new(Filter::and(
                Filter::Compare(path("type"), CompareOp::Eq, s("work")),
                Filter::Compare(path("value"), CompareOp::Eq, s("bjensen@example.com")),
            ))
        )
    );
    assert_eq!(f, parse(r#"emails[type eq "work" and value eq "bjensen@example.com"]"#));
    for (text, expected) in [
        (r#"emails[type eq "work"].value eq "bjensen@example.com""#, true),
        (r#"EMAILS[TYPE EQ "work"].VALUE EQ "BJensen@Example.com""#, true),
        // The home address is not the work one: no single element satisfies both.
        (r#"emails[type eq "work"].value eq "babs@jensen.org""#, false),
        (r#"emails[type eq "home"].value eq "babs@jensen.org""#, true),
        (r#"emails[type eq "work"].value pr"#, true),
        (r#"emails[type eq "other"].value pr"#, false),
        (r#"emails[type eq "work" or type eq "home"].value ew "@jensen.org""#, true),
        (r#"emails[not (type eq "home")].value co "example""#, true),
        (r#"addresses[type eq "work"].postalCode eq "91608""#, true),
        (r#"userName pr and emails[type eq "work"].value sw "bjensen""#, true),
        (r#"not (emails[type eq "work"].value eq "x@y.z")"#, true),
        (r#"(emails[type eq "work"].value eq "x@y.z") or userName eq "bjensen@example.com""#, true),
    ] {
        check(text, &u, ResourceKind::User, expected);
    }
    // An `or` inside the brackets keeps its grouping when printed.
    let f = parse(r#"emails[type eq "work" or primary eq true].value eq "a@b.c""#);
    assert_eq!(
        f.to_string(),
        r#"emails[(type eq "work" or primary eq true) and value eq "a@b.c"]"#
    );
    // The implicit `and` counts towards the depth limit like the printed form's.
    let limits = Limits { max_len: 4096, max_depth: 2 };
    assert!(Filter::parse_with(r#"emails[type eq "work"].value pr"#, &limits).is_ok());
    let e = Filter::parse_with(r#"emails[type eq "work" or type eq "x"].value pr"#, &limits);
    assert!(matches!(e, Err(FilterError::TooDeep { .. })), "{e:?}");
}

#[test]
fn unquoted_value_is_a_clear_invalid_filter() {
    let e = Filter::parse("externalId eq x").unwrap_err();
    assert_eq!(e.offset(), 14);
    let e = ScimError::from(e);
    assert_eq!(e.code, ErrorCode::InvalidFilter);
    assert_eq!(
        e.detail,
        "invalid filter at byte 14: expected a value: a quoted string (\"...\"), a number, true, \
         false or null, but found the unquoted word 'x' (strings must be in double quotes)"
    );
    let e = Filter::parse("userName eq bjensen@example.com").unwrap_err();
    assert!(e.to_string().contains("'bjensen@example.com'"), "{e}");
}

#[test]
fn error_offsets() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "an attribute path, '(' or 'not ('"),
        ("userName eq", 11, "a value"),
        ("userName eq ", 12, "a value"),
        (
            "userName xx \"a\"",
            9,
            "a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le) or pr",
        ),
        ("userName", 8, "a comparison operator"),
        ("userName==\"a\"", 8, "a comparison operator"),
        ("userName eq \"a\" garbage", 16, "'and', 'or' or the end of the filter"),
        ("userName eq \"a\" and", 19, "an attribute path"),
        ("(userName pr", 12, "')' to close the '(' at byte 0"),
        ("userName pr)", 11, "this ')' closes no '('"),
        ("emails[type eq \"work\"", 21, "']' to close the '[' at byte 6"),
        ("emails[type[value pr]]", 11, "cannot contain another"),
        ("emails[type eq \"work\"].value", 28, "a comparison operator"),
        ("emails[type eq \"work\"]. pr", 23, "an attribute name"),
        ("emails[type eq \"work\"].value.x pr", 23, "a sub-attribute name after '].'"),
        ("emails[type eq \"work\"].urn:x:y pr", 23, "a sub-attribute name after '].'"),
        ("emails[type eq \"work\"].value eq", 31, "a value"),
        ("name.givenName[value pr]", 14, "without sub-attribute"),
        ("userName eq \"abc", 16, "'\"' to close the string opened at byte 12"),
        ("userName eq \"a\\qb\"", 15, "an escape character"),
        ("a eq \"\\ud800\"", 12, "low surrogate"),
        ("a eq \"\\udc00\"", 6, "high surrogate"),
        ("a eq \"\\u12g4\"", 8, "four hex digits"),
        ("a eq \"\t\"", 6, "raw control character"),
        ("a eq 1.", 7, "a digit after the decimal point"),
        ("a eq 1e", 7, "a digit in the exponent"),
        ("a eq -x", 6, "a digit"),
        ("a eq 1e999", 5, "a number within the range"),
        ("a eq \"x\"and b pr", 8, "a space"),
        ("not userName pr", 4, "'(' after 'not'"),
        ("not (a pr", 9, "')' to close the '(' at byte 4"),
        ("1abc pr", 0, "an attribute name starting with a letter"),
        ("a.b.c pr", 3, "at most one sub-attribute"),
        ("foo:bar pr", 0, "a schema URN"),
        ("a pr and ()", 10, "an attribute path"),
        ("a eq ]", 5, "a value"),
    ];
    for (input, offset, expected) in cases {
        let e = Filter::parse(input).unwrap_err();
        assert_eq!(e.offset(), *offset, "{input}: {e}");
        assert!(e.expected().contains(expected), "{input}: {e}");
    }
}

#[test]
fn limits() {
    let e = Filter::parse(&format!("a eq \"{}\"", "x".repeat(5000))).unwrap_err();
    assert_eq!(e, FilterError::TooLong { len: 5007, max: 4096 });
    assert_eq!(
        e.to_string(),
        "invalid filter: it is 5007 bytes long, over the limit of 4096 bytes"
    );
    let tight = Limits { max_len: 100, max_depth: 3 };
    assert!(Filter::parse_with("(((a pr)))", &tight).is_ok());
    assert_eq!(
        Filter::parse_with("((((a pr))))", &tight),
        Err(FilterError::TooDeep { offset: 3, max: 3 })
    );
    assert!(Filter::parse_with("a pr or b pr or c pr or d pr", &tight).is_ok());
    assert_eq!(
        Filter::parse_with("a pr or b pr or c pr or d pr or e pr", &tight),
        Err(FilterError::TooDeep { offset: 29, max: 3 })
    );
    assert!(Filter::parse_with("not (x[a pr and b pr])", &tight).is_ok());
    assert!(matches!(
        Filter::parse_with("not (x[a pr and b pr or c pr])", &tight),
        Err(FilterError::TooDeep { .. })
    ));
    // Hostile nesting fails fast instead of overflowing the stack, whatever the limits.
    let huge = Limits { max_len: usize::MAX, max_depth: usize::MAX };
    for bomb in ["(".repeat(100_000), "not (".repeat(100_000), "a pr and ".repeat(20_000)] {
        assert!(matches!(Filter::parse(&bomb), Err(FilterError::TooLong { .. })));
        assert!(matches!(Filter::parse_with(&bomb, &huge), Err(FilterError::TooDeep { .. })));
    }
    let chain = vec!["id eq \"x\""; 60].join(" or ");
    assert!(Filter::parse(&chain).is_ok(), "a 60-id chain fits the default limits");
}

#[test]
fn evaluation_semantics() {
    let r = Registry::builtin();
    let u = user();
    let m = |f: &str| parse(f).matches(&u, &r, ResourceKind::User);
    // ne is `not eq`: an absent attribute matches, a multi-valued one only when no value equals.
    assert!(m(r#"nickName ne "x""#));
    assert!(m(r#"absent ne "x""#));
    assert!(!m(r#"emails.type ne "work""#));
    assert!(m(r#"emails.type ne "other""#));
    // null.
    assert!(m("absent eq null"));
    assert!(!m("title eq null"));
    assert!(m("title ne null"));
    assert!(!m("title gt null"));
    // Booleans: eq/ne only.
    assert!(m("active eq true"));
    assert!(m("active ne false"));
    assert!(!m("active gt false"));
    assert!(!m(r#"active eq "true""#));
    // Numbers against numbers only; strings compare lexicographically, case-insensitively.
    let n =
        json!({"count": 5, "ratio": 0.5, "userName": "b", "emails": [], "name": {}, "title": ""});
    let mn = |f: &str| parse(f).matches(&n, &r, ResourceKind::User);
    assert!(mn("count eq 5") && mn("count ge 5.0") && mn("count lt 6") && !mn("count gt 5"));
    assert!(mn("ratio lt 1") && mn("ratio gt -1e3") && !mn(r#"count eq "5""#));
    assert!(mn(r#"userName gt "A""#) && mn(r#"userName lt "C""#) && !mn(r#"userName co "x""#));
    // pr: not null, "", [] or {}.
    assert!(!mn("emails pr") && !mn("name pr") && !mn("title pr") && mn("count pr"));
    assert!(m("emails pr") && m("name pr") && m("name.givenName pr") && !m("name.nope pr"));
    // Multi-valued: any element; complex without sub-attribute compares `value`.
    assert!(m(r#"emails co "jensen.org""#));
    assert!(m(r#"emails.value ew "example.com""#));
    assert!(m(r#"groups.display eq "employees""#));
    assert!(m(r#"phoneNumbers[type eq "mobile" and value sw "555-555-4"]"#));
    assert!(!m(r#"phoneNumbers[type eq "work" and value sw "555-555-4"]"#));
    assert!(m(r#"emails[not (type eq "work")]"#));
    assert!(m(r#"addresses[postalCode eq "91608" and primary eq true]"#));
    // Unknown attributes: absent, or compared case-insensitively when present.
    let x = json!({"custom": "MiXeD", "things": [{"value": "A"}]});
    let mx = |f: &str| parse(f).matches(&x, &r, ResourceKind::User);
    assert!(mx(r#"CUSTOM eq "mixed""#) && mx(r#"things eq "a""#) && mx(r#"things[value eq "A"]"#));
    // Non-objects match nothing.
    assert!(!parse("a pr").matches(&json!([1]), &r, ResourceKind::User));
    // Dates that do not parse compare as strings.
    assert!(m(r#"meta.created lt "2011""#));
}

#[test]
fn validation() {
    let r = Registry::builtin();
    let ok = |f: &str, kind| parse(f).validate(&r, kind);
    assert!(ok(r#"emails[type eq "work"] and name.givenName sw "b""#, ResourceKind::User).is_ok());
    assert!(ok(r#"members[value eq "x"]"#, ResourceKind::Group).is_ok());
    for (f, kind, msg) in [
        ("nope pr", ResourceKind::User, "attribute 'nope' is not defined for User resources"),
        ("userName pr", ResourceKind::Group, "not defined for Group"),
        ("emails[nope pr]", ResourceKind::User, "'nope' is not a sub-attribute of 'emails'"),
        ("userName[value pr]", ResourceKind::User, "needs a complex attribute"),
        (r#"name eq "x""#, ResourceKind::User, "'name' is complex"),
        (
            "active gt true",
            ResourceKind::User,
            "'gt' cannot be applied to boolean attribute 'active'",
        ),
        (r#"x509Certificates.value lt "a""#, ResourceKind::User, "binary"),
        (r#"active co "t""#, ResourceKind::User, "boolean"),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope eq "x""#,
            ResourceKind::User,
            "not defined",
        ),
    ] {
        let e = ok(f, kind).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidFilter, "{f}");
        assert!(e.detail.contains(msg), "{f}: {}", e.detail);
    }
}

#[test]
fn resolution_for_the_sql_translator() {
    let r = Registry::builtin();
    let k = ResourceKind::User;
    let a = resolve_path(&path("USERNAME"), &r, k, None).unwrap();
    assert_eq!(
        (a.schema, a.extension, a.attribute.name.as_str()),
        (Some(USER_SCHEMA), false, "userName")
    );
    let a = resolve_path(&path("meta.lastModified"), &r, k, None).unwrap();
    assert_eq!((a.schema, a.leaf().kind), (None, AttrType::DateTime));
    let mgr = path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager.value");
    let a = resolve_path(&mgr, &r, k, None).unwrap();
    assert_eq!(
        (a.schema, a.extension, a.leaf().name.as_str()),
        (Some(ENTERPRISE_USER_SCHEMA), true, "value")
    );
    let emails = path("emails");
    let a = resolve_path(&path("Type"), &r, k, Some(&emails)).unwrap();
    assert_eq!((a.attribute.name.as_str(), a.leaf().name.as_str()), ("emails", "type"));
    assert!(resolve_path(&path("type.x"), &r, k, Some(&emails)).is_none());
    assert!(resolve_path(&path("type"), &r, k, Some(&path("userName"))).is_none());
    let a = resolve_path(&emails, &r, k, None).unwrap();
    assert!(a.sub_attribute.is_none());
    let a = compared_attr(&emails, &r, k, None).unwrap();
    assert_eq!(a.leaf().name, "value");
    assert!(compared_attr(&path("name"), &r, k, None).is_none());
    // Walking a filter's paths, with the parent of those inside `[...]`.
    let f = parse(r#"userName eq "a" or emails[type eq "work" and not (value pr)]"#);
    let mut seen = Vec::new();
    f.visit_paths(&mut |p, parent| seen.push((p.to_string(), parent.map(ToString::to_string))));
    assert_eq!(
        seen,
        [
            ("userName".to_owned(), None),
            ("emails".to_owned(), None),
            ("type".to_owned(), Some("emails".to_owned())),
            ("value".to_owned(), Some("emails".to_owned())),
        ]
    );
}

// ---- properties ----

// The filter strategies live in `scim_core::testing` (shared with the store's
// differential test).
pub(crate) use scim_core::testing::{attr_name, attr_path, comp_value, filter, op, val_filter};

/// Grammar-ish text: tokens of the filter language glued in random orders.
pub(crate) fn filterish() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "userName",
        "emails",
        "name.givenName",
        "urn:ietf:params:scim:schemas:core:2.0:User:",
        "urn:x:y",
        "$ref",
        "[",
        "]",
        "(",
        ")",
        "not",
        "and",
        "or",
        "eq",
        "pr",
        "co",
        "gt",
        " ",
        " ",
        "\"",
        "\"x\"",
        "\"\\u",
        "\\ud83d",
        "\\",
        "1",
        "-",
        "1.5e",
        ".",
        ":",
        "true",
        "null",
        "é",
        "\t",
    ]);
    prop::collection::vec(token, 0..24).prop_map(|t| t.concat())
}

proptest! {
    #[test]
    fn print_parse_round_trip(f in filter()) {
        let printed = f.to_string();
        prop_assert_eq!(Filter::parse_with(&printed, &Limits { max_len: usize::MAX, max_depth: 64 }), Ok(f), "{}", printed);
    }

    /// `attr[f].sub op v` reads as `attr[f and sub op v]`, and prints as the latter.
    #[test]
    fn value_filter_sub_attribute_reads_as_and(p in attr_path(), f in val_filter(), sub in attr_name(), op in op(), v in comp_value()) {
        let attr = p.without_sub_attr();
        let text = format!("{attr}[{f}].{sub} {op} {v}");
        let relaxed = Limits { max_len: usize::MAX, max_depth: 64 };
        let expected = Filter::ValuePath(attr, Box::new(Filter::and(f, Filter::Compare(AttrPath::new(sub, None), op, v))));
        let parsed = Filter::parse_with(&text, &relaxed);
        prop_assert_eq!(parsed.as_ref(), Ok(&expected), "{}", text);
        prop_assert_eq!(Filter::parse_with(&expected.to_string(), &relaxed), Ok(expected));
    }

    #[test]
    fn parse_never_panics(s in ".*") {
        let _ = Filter::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_filterish(s in filterish()) {
        if let Ok(f) = Filter::parse(&s) {
            // Whatever parses prints to something that parses to the same.
            prop_assert_eq!(Filter::parse(&f.to_string()), Ok(f));
        }
    }

    #[test]
    fn evaluation_never_panics(f in filter()) {
        let r = Registry::builtin();
        let u = user();
        let _ = f.matches(&u, &r, ResourceKind::User);
        let _ = f.validate(&r, ResourceKind::User);
    }
}
