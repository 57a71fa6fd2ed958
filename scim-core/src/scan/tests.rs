//! Differential tests of the scanner against `serde_json`.
use super::*;
use proptest::prelude::*;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// What `serde_json` makes of an object's members: the oracle of [`members`].
fn serde_members(text: &str) -> Result<Vec<(String, String)>> {
    struct Members(Vec<(String, String)>);
    impl<'de> serde::Deserialize<'de> for Members {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Members;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> std::result::Result<Members, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                        out.push((k, v.get().to_owned()));
                    }
                    Ok(Members(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Members>(text).map(|m| m.0)
}

fn ours(text: &str) -> Result<Vec<(String, String)>> {
    members(text)
        .map(|m| m.into_iter().map(|(k, v)| (k.into_owned(), v.get().to_owned())).collect())
}

/// [`ours`] read with [`each_member`]: each value skipped, or (`keep` given) read with
/// [`MemberValue::kept`], whose answers go to `answers`.
fn ours_each(
    text: &str,
    keep: Option<&dyn Fn(&str) -> bool>,
    answers: &mut Vec<bool>,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    each_member(text, |k, v| {
        let value = match keep {
            Some(keep) => {
                let (value, kept) = v.kept(keep)?;
                answers.push(kept);
                value
            }
            None => v.skip()?,
        };
        out.push((k.into_owned(), value.to_owned()));
        Ok(())
    })?;
    Ok(out)
}

/// `serde_json`'s reading of whether a value is kept whole: the oracle of
/// [`kept_whole`].
struct Kept<'k> {
    keep: &'k dyn Fn(&str) -> bool,
    item: bool,
}

impl<'de> DeserializeSeed<'de> for Kept<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Kept<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<bool, A::Error> {
        let (mut any, mut all) = (false, true);
        while let Some(key) = map.next_key::<String>()? {
            any = true;
            all = all && (self.keep)(&key);
            map.next_value::<IgnoredAny>()?;
        }
        Ok(any && all)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<bool, A::Error> {
        if self.item {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(true);
        }
        let (mut any, mut all) = (false, true);
        while let Some(kept) = seq.next_element_seed(Kept { keep: self.keep, item: true })? {
            any = true;
            all = all && kept;
        }
        Ok(any && all)
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<bool, E> {
        Ok(true)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<bool, E> {
        Ok(true)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<bool, E> {
        Ok(true)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<bool, E> {
        Ok(true)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<bool, E> {
        Ok(true)
    }
    fn visit_unit<E>(self) -> std::result::Result<bool, E> {
        Ok(true)
    }
}

fn serde_kept(text: &str, keep: &dyn Fn(&str) -> bool) -> Result<bool> {
    let mut de = serde_json::Deserializer::from_str(text);
    let kept = Kept { keep, item: false }.deserialize(&mut de)?;
    de.end()?;
    Ok(kept)
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        "[ab\"\\\\/\u{1}\u{1f}\u{7f}é\u{1F600}\n\t ]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[abc\"\\\\é\u{2}]{0,3}", inner), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON text of a value, compact or pretty.
fn text_of(v: &Value, pretty: bool) -> String {
    if pretty {
        serde_json::to_string_pretty(v).unwrap()
    } else {
        serde_json::to_string(v).unwrap()
    }
}

/// Characters that matter to the grammar, for mutations.
const NOISE: &[char] = &[
    '{', '}', '[', ']', ':', ',', '"', '\\', ' ', '\n', '0', '1', '9', '-', '+', '.', 'e', 'E',
    't', 'r', 'u', 'n', 'l', 'f', 'a', 's', 'x', 'D', '\u{1}', 'é',
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A string written by [`write_str`] is byte for byte what `serde_json` writes, with
    /// or without characters that need escaping.
    #[test]
    fn write_str_is_serde_json_s(s in "[a-zA-Z0-9:._\"\\\\é\u{0}-\u{1f}\u{7f}\u{2028}]{0,24}") {
        let mut ours = Vec::new();
        write_str(&mut ours, &s).unwrap();
        prop_assert_eq!(ours, serde_json::to_vec(&s).unwrap());
    }

    /// Valid objects: the same members as `serde_json` reads.
    #[test]
    fn members_are_serde_json_s(
        m in prop::collection::vec(("[abc\"\\\\é\u{3}]{0,4}", value()), 0..6),
        dup in any::<bool>(),
        pretty in any::<bool>(),
    ) {
        let v = Value::Object(m.into_iter().collect());
        let mut text = text_of(&v, pretty);
        if dup && text.len() > 2 {
            // A duplicate key, which a map would hide.
            text.insert_str(1, "\"a\":1,");
        }
        prop_assert_eq!(ours(&text).unwrap(), serde_members(&text).unwrap());
        prop_assert_eq!(ours_each(&text, None, &mut Vec::new()).unwrap(), serde_members(&text).unwrap());
    }

    /// Any text (a valid object with a few characters deleted, replaced or
    /// inserted): accepted and read alike, or refused by both.
    #[test]
    fn members_accept_what_serde_json_accepts(
        v in value(),
        edits in crate::testing::edits(NOISE, 1..4),
    ) {
        let object = Value::Object([("k".to_owned(), v)].into_iter().collect());
        let text = crate::testing::damaged(&text_of(&object, false), &edits);
        match (ours(&text), serde_members(&text)) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "{text:?}: ours {a:?}, serde_json {b:?}"),
        }
        // Read member by member, skipping each value: the same, or refused alike.
        let skipped = ours_each(&text, None, &mut Vec::new());
        prop_assert_eq!(skipped.ok(), serde_members(&text).ok(), "{:?}", text);
    }

    /// The outlines `members` gathers answer [`kept`] as reading each value again
    /// does.
    #[test]
    fn outlines_answer_as_reading_again(
        m in prop::collection::vec(("[abc]{0,2}", value()), 0..6),
        kept_keys in prop::collection::vec("[abc\"]{0,2}", 0..3),
        pretty in any::<bool>(),
    ) {
        let keep = |k: &str| kept_keys.iter().any(|x| x == k);
        let text = text_of(&Value::Object(m.into_iter().collect()), pretty);
        let mut want = Vec::new();
        for (_, raw) in members(&text).unwrap() {
            prop_assert!(raw.outline.is_some());
            prop_assert_eq!(kept(&raw, &keep).unwrap(), serde_kept(raw.get(), &keep).unwrap(), "{}", raw.get());
            want.push(kept(&raw, &keep).unwrap());
        }
        // Read member by member, each value once: the same answers and the same members.
        let mut answers = Vec::new();
        prop_assert_eq!(ours_each(&text, Some(&keep), &mut answers).unwrap(), ours(&text).unwrap());
        prop_assert_eq!(answers, want);
    }

    /// [`plain_strings`]: the strings `serde_json` reads, when the text is an array of
    /// strings none of which holds an escape; `None` for any other value; refused
    /// where `serde_json` refuses.
    #[test]
    fn plain_strings_are_serde_json_s(
        items in prop::collection::vec(prop_oneof![
            4 => "[a-z:.0-9]{0,8}".prop_map(Value::String),
            1 => "[a\"\\\\é\u{1}]{0,3}".prop_map(Value::String),
            1 => value(),
        ], 0..4),
        array in any::<bool>(),
        pretty in any::<bool>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let v = if array { Value::Array(items) } else { items.into_iter().next().unwrap_or(Value::Null) };
        let text = text_of(&v, pretty);
        let want = match &v {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().filter(|s| !text_of(&Value::from(*s), false).contains('\\')))
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        prop_assert_eq!(plain_strings(&text).unwrap(), want);
        // Cut short: refused as `serde_json` refuses it.
        let at = cut.index(text.len() + 1);
        if text.is_char_boundary(at) {
            let short = &text[..at];
            let theirs = serde_json::from_str::<IgnoredAny>(short).is_ok();
            prop_assert_eq!(plain_strings(short).is_ok(), theirs, "{:?}", short);
        }
    }

    /// Whether a value is kept whole: as `serde_json`'s reading says, for objects,
    /// arrays of anything and scalars, keeping some keys.
    #[test]
    fn kept_whole_is_serde_json_s(v in value(), kept in prop::collection::vec("[abc]{0,2}", 0..3), pretty in any::<bool>()) {
        let keep = |k: &str| kept.iter().any(|x| x == k);
        let text = text_of(&v, pretty);
        prop_assert_eq!(kept_whole(&text, &keep).unwrap(), serde_kept(&text, &keep).unwrap());
    }
}

#[test]
fn any_nesting_is_read_as_serde_json_reads_it() {
    for depth in [1, 63, 64, 65, 100, 127, 128, 129, 200, 5000] {
        for open in ["[", "{\"a\":"] {
            let close = if open == "[" { "]" } else { "}" };
            let inner = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let text = format!("{{\"k\":{inner}}}");
            assert_eq!(ours(&text).is_ok(), serde_members(&text).is_ok(), "{depth} {open}");
            let keep = |_: &str| true;
            assert_eq!(
                kept_whole(&inner, &keep).is_ok(),
                serde_kept(&inner, &keep).is_ok(),
                "{depth} {open}"
            );
        }
    }
}

proptest! {
    /// The word-at-a-time search finds what a byte-at-a-time one finds.
    #[test]
    fn special_finds_the_first_special_byte(
        b in prop::collection::vec(
            prop_oneof![
                12 => Just(b'a'),
                1 => prop::sample::select(vec![b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xa0, 0xff, 0x00, b'\n']),
            ],
            0..40,
        ),
    ) {
        prop_assert_eq!(special(&b), b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20));
    }
}

#[test]
fn deep_mixed_nesting_closes_in_order() {
    for depth in [10, 64, 65, 66, 150, 300] {
        let (mut open, mut close) = (String::new(), String::new());
        for level in 0..depth {
            if level % 3 == 0 {
                open.push_str("{\"a\":");
                close.insert(0, '}');
            } else {
                open.push('[');
                close.insert(0, ']');
            }
        }
        let good = format!("{{\"k\":{open}1{close},\"z\":2}}");
        assert_eq!(ours(&good).unwrap(), serde_members(&good).unwrap(), "{depth}");
        // One closer swapped, at every level in turn.
        for at in [0, depth / 2, depth - 1] {
            let mut bad: Vec<char> = close.chars().collect();
            bad[at] = if bad[at] == '}' { ']' } else { '}' };
            let bad: String = bad.into_iter().collect();
            let text = format!("{{\"k\":{open}1{bad}}}");
            assert!(ours(&text).is_err() && serde_members(&text).is_err(), "{depth} {at}");
        }
    }
}

#[test]
fn keys_and_strings_are_checked_as_serde_json_checks_them() {
    for text in [
        r#"{"\ud800":1}"#,
        r#"{"a":"\ud800"}"#,
        r#"{"\u00e9t\u00E9":"x"}"#,
        r#"{"a":"\x"}"#,
        "{\"a\":\"\u{1}\"}",
        r#"{"a":01}"#,
        r#"{"a":-}"#,
        r#"{"a":1.}"#,
        r#"{"a":1e}"#,
        r#"{"a":1e+5,"b":-0.5E-3}"#,
        r#"{"a":tru}"#,
        r#" { "a" : [ ] , "b" : { } } "#,
        r#"{"a":1,}"#,
        r#"{"a":1} x"#,
        r#"[1]"#,
        r#"{"a":1e400}"#,
        "",
    ] {
        let (a, b) = (ours(text), serde_members(text));
        assert_eq!(a.as_ref().ok(), b.as_ref().ok(), "{text}: {a:?} {b:?}");
    }
    assert_eq!(ours(r#"{"a\"b":1}"#).unwrap(), [("a\"b".to_owned(), "1".to_owned())]);
    // A bad key inside a value is found when the projection looks at it, as before.
    let m = members(r#"{"a":{"\ud800":1},"b":[{}],"c":[],"d":{},"e":[1,{"x":2}]}"#).unwrap();
    let all = |_: &str| true;
    assert!(kept(&m[0].1, &all).is_err());
    assert_eq!(
        m[1..].iter().map(|(_, v)| kept(v, &all).unwrap()).collect::<Vec<_>>(),
        [false, false, false, true]
    );
    // A number past f64's range: `serde_json`'s reading of a scalar refuses it, the
    // outline (which never reads numbers' values) keeps it; no document this
    // service writes holds one.
    let m = members(r#"{"a":1e400}"#).unwrap();
    assert!(kept(&m[0].1, &all).unwrap());
    assert!(serde_kept("1e400", &all).is_err());
    assert!(matches!(members(r#"{"ab":1}"#).unwrap()[0].0, Cow::Borrowed("ab")));
}
