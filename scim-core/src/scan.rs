//! JSON text read without building values: the members of an object as slices of the
//! text, each with its outline (the keys a projection looks at), so a stored document is
//! read once where reading it through `serde_json`'s visitors took two passes (the
//! members, then each complex value again to see whether the projection keeps it whole).
//!
//! The scanner accepts exactly the texts `serde_json` accepts when it skips a value
//! (RFC 8259: strings without raw control characters and with valid escapes, numbers
//! without leading zeros, the three literals, any nesting), plus the check `serde_json`
//! makes on a key it reads as a string (no lone surrogate escapes). Differential
//! property tests against `serde_json` keep the two in agreement.

use serde::de::Error as _;
use std::borrow::Cow;

type Result<T> = std::result::Result<T, serde_json::Error>;

fn err(what: &str) -> serde_json::Error {
    serde_json::Error::custom(what)
}

/// JSON text that the scanner or `serde_json` has read: one whole, valid value, with
/// its outline when the scanner read it as a member of an object (see [`members`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawText<'a> {
    text: &'a str,
    outline: Option<Outline>,
}

/// What [`kept`] needs of a value, gathered while [`members`] read it, so that the value
/// is not read again: the keys of the object, or of the array's object items (ranges of
/// the value's text, and whether they hold escapes), and whether the value is an empty
/// object, an empty array or an array with an empty object item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Outline {
    empty: bool,
    keys: Vec<(usize, usize, bool)>,
}

impl<'a> RawText<'a> {
    /// The text.
    pub fn get(&self) -> &'a str {
        self.text
    }
}

impl<'a> From<&'a serde_json::value::RawValue> for RawText<'a> {
    fn from(raw: &'a serde_json::value::RawValue) -> Self {
        Self { text: raw.get(), outline: None }
    }
}

/// The members of the JSON object `text`, in order (duplicates included), each key
/// borrowed where it holds no escapes, each value as its text with its outline.
pub(crate) fn members(text: &str) -> Result<Vec<(Cow<'_, str>, RawText<'_>)>> {
    let mut s = Scanner { b: text.as_bytes(), i: 0 };
    let mut out = Vec::with_capacity(16);
    s.ws();
    if s.at() != Some(b'{') {
        return Err(err("expected a JSON object"));
    }
    s.object(|s, key| {
        let from = s.i;
        let outline = s.outline()?;
        let value = RawText { text: slice(text, (from, s.i))?, outline: Some(outline) };
        out.push((key_text(text, key)?, value));
        Ok(())
    })?;
    s.end()?;
    Ok(out)
}

/// [`kept_whole`] of `raw`, from its outline when it has one.
pub(crate) fn kept(raw: &RawText<'_>, keep: &dyn Fn(&str) -> bool) -> Result<bool> {
    let Some(outline) = &raw.outline else { return kept_whole(raw.text, keep) };
    let mut all = true;
    for &key in &outline.keys {
        // Every key is read (a bad one is an error, as reading the value again finds).
        let key = key_text(raw.text, key)?;
        all = all && keep(&key);
    }
    Ok(!outline.empty && all)
}

/// Whether the value `text` is kept whole by a projection that keeps the keys `keep`
/// accepts: an object has members and `keep` holds for each key; an array has items and
/// each is kept whole as an item (an object as above, anything else kept); any other
/// value is kept.
pub(crate) fn kept_whole(text: &str, keep: &dyn Fn(&str) -> bool) -> Result<bool> {
    let mut s = Scanner { b: text.as_bytes(), i: 0 };
    s.ws();
    let kept = match s.at() {
        Some(b'{') => s.object_kept(text, keep)?,
        Some(b'[') => {
            let (mut any, mut all) = (false, true);
            s.array(|s| {
                any = true;
                let kept = if s.at() == Some(b'{') {
                    s.object_kept(text, keep)?
                } else {
                    s.value()?;
                    true
                };
                all = all && kept;
                Ok(())
            })?;
            any && all
        }
        _ => {
            s.value()?;
            true
        }
    };
    s.end()?;
    Ok(kept)
}

/// The text of `range`.
fn slice(text: &str, (start, end): (usize, usize)) -> Result<&str> {
    text.get(start..end).ok_or_else(|| err("a value ends inside a character"))
}

/// A key (the range of its quoted text, and whether it holds escapes) as a string.
fn key_text(text: &str, (start, end, escaped): (usize, usize, bool)) -> Result<Cow<'_, str>> {
    let quoted = slice(text, (start, end))?;
    if escaped {
        return serde_json::from_str::<String>(quoted).map(Cow::Owned);
    }
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .map(Cow::Borrowed)
        .ok_or_else(|| err("a key is not a string"))
}

/// Where the first `"`, `\\` or control character of `b` is: eight bytes at a time (a
/// byte equal to `c` is a zero byte of `word ^ c`, and `x - 0x01..` borrows into the high
/// bit of the lowest zero byte first).
fn special(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut at = 0;
    for chunk in b.chunks_exact(8) {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else { break };
        let v = u64::from_le_bytes(bytes);
        let hits = zero(v ^ (ONES * u64::from(b'"')))
            | zero(v ^ (ONES * u64::from(b'\\')))
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGH);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = b.get(at..).unwrap_or_default();
    tail.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map(|p| at + p)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn at(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.at() {
            self.i += 1;
        }
    }

    /// Only whitespace is left.
    fn end(&mut self) -> Result<()> {
        self.ws();
        match self.at() {
            None => Ok(()),
            Some(_) => Err(err("trailing characters")),
        }
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        if self.at() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(err("unexpected character"))
        }
    }

    /// A value at the cursor (whitespace before it already skipped), skipped. Iterative,
    /// as `serde_json`'s own skipping: any nesting is read without deep recursion (a bit
    /// per open container says whether it is an object).
    fn value(&mut self) -> Result<()> {
        // Open containers, a bit each (set: an object): the first 64 in a word, deeper
        // ones (which nothing this service writes reaches) in a vector.
        let (mut low, mut high): (u64, Vec<u64>) = (0, Vec::new());
        let mut depth = 0usize;
        loop {
            // A value starts here.
            match self.at() {
                Some(open @ (b'{' | b'[')) => {
                    self.i += 1;
                    self.ws();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.at() == Some(close) {
                        self.i += 1;
                    } else {
                        depth += 1;
                        let object = open == b'{';
                        if depth <= 64 {
                            let bit = 1u64 << (depth - 1);
                            low = if object { low | bit } else { low & !bit };
                        } else {
                            let (word, bit) = ((depth - 65) / 64, 1u64 << ((depth - 65) % 64));
                            if high.len() <= word {
                                high.push(0);
                            }
                            if let Some(w) = high.get_mut(word) {
                                *w = if object { *w | bit } else { *w & !bit };
                            }
                        }
                        if object {
                            self.key()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                _ => return Err(err("expected a value")),
            }
            // A value ended: close what it ends, or move to the next.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                self.ws();
                let object = if depth <= 64 {
                    low & (1 << (depth - 1)) != 0
                } else {
                    high.get((depth - 65) / 64).is_some_and(|w| w & (1 << ((depth - 65) % 64)) != 0)
                };
                match self.at() {
                    Some(b',') => {
                        self.i += 1;
                        self.ws();
                        if object {
                            self.key()?;
                        }
                        break;
                    }
                    Some(b'}') if object => {
                        self.i += 1;
                        depth -= 1;
                    }
                    Some(b']') if !object => {
                        self.i += 1;
                        depth -= 1;
                    }
                    _ => return Err(err("expected `,` or the end of a container")),
                }
            }
        }
    }

    /// `"key":` and the whitespace after it, in an object being skipped.
    fn key(&mut self) -> Result<bool> {
        if self.at() != Some(b'"') {
            return Err(err("expected a key"));
        }
        let escaped = self.string()?;
        self.ws();
        self.expect(b':')?;
        self.ws();
        Ok(escaped)
    }

    /// A member's value at the cursor, read with its [`Outline`] (key ranges relative to
    /// where the value starts).
    fn outline(&mut self) -> Result<Outline> {
        let base = self.i;
        let mut keys = Vec::new();
        let rel = |(start, end, escaped): (usize, usize, bool)| (start - base, end - base, escaped);
        let empty = match self.at() {
            Some(b'{') => {
                self.object(|s, key| {
                    keys.push(rel(key));
                    s.value()
                })?;
                keys.is_empty()
            }
            Some(b'[') => {
                let (mut any, mut empty_item) = (false, false);
                self.array(|s| {
                    any = true;
                    if s.at() == Some(b'{') {
                        let before = keys.len();
                        s.object(|s, key| {
                            keys.push(rel(key));
                            s.value()
                        })?;
                        empty_item = empty_item || keys.len() == before;
                    } else {
                        s.value()?;
                    }
                    Ok(())
                })?;
                !any || empty_item
            }
            _ => {
                self.value()?;
                false
            }
        };
        Ok(Outline { empty, keys })
    }

    /// An object at the cursor; `each` gets the scanner at a member's value and the
    /// key's range (quotes included) with whether it holds escapes, and reads the value.
    fn object(
        &mut self,
        mut each: impl FnMut(&mut Self, (usize, usize, bool)) -> Result<()>,
    ) -> Result<()> {
        self.expect(b'{')?;
        self.ws();
        if self.at() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            let start = self.i;
            if self.at() != Some(b'"') {
                return Err(err("expected a key"));
            }
            let escaped = self.string()?;
            let key = (start, self.i, escaped);
            self.ws();
            self.expect(b':')?;
            self.ws();
            each(self, key)?;
            self.ws();
            match self.at() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(err("expected `,` or `}`")),
            }
        }
    }

    /// An object at the cursor, and whether it has members whose keys `keep` all accepts.
    fn object_kept(&mut self, text: &str, keep: &dyn Fn(&str) -> bool) -> Result<bool> {
        let (mut any, mut all) = (false, true);
        self.object(|s, key| {
            any = true;
            all = all && keep(&key_text(text, key)?);
            s.value()
        })?;
        Ok(any && all)
    }

    /// An array at the cursor; `each` reads each item (the cursor at its first byte).
    fn array(&mut self, mut each: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.expect(b'[')?;
        self.ws();
        if self.at() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            each(self)?;
            self.ws();
            match self.at() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(err("expected `,` or `]`")),
            }
        }
    }

    /// A string at the cursor (its opening quote); says whether it holds escapes.
    fn string(&mut self) -> Result<bool> {
        self.expect(b'"')?;
        let mut escaped = false;
        loop {
            let rest = self.b.get(self.i..).unwrap_or_default();
            let Some(n) = special(rest) else {
                return Err(err("EOF while parsing a string"));
            };
            self.i += n;
            match self.at() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.i += 1;
                    match self.at() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            self.i += 1;
                            for _ in 0..4 {
                                if !self.at().is_some_and(|c| c.is_ascii_hexdigit()) {
                                    return Err(err("invalid escape"));
                                }
                                self.i += 1;
                            }
                        }
                        _ => return Err(err("invalid escape")),
                    }
                }
                _ => return Err(err("control character while parsing a string")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.at().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<()> {
        if self.at() == Some(b'-') {
            self.i += 1;
        }
        match self.at() {
            Some(b'0') => {
                self.i += 1;
                if self.at().is_some_and(|c| c.is_ascii_digit()) {
                    return Err(err("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(err("invalid number")),
        }
        if self.at() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.at() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.at() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(err("invalid number"));
            }
        }
        Ok(())
    }

    fn literal(&mut self, lit: &[u8]) -> Result<()> {
        if self.b.get(self.i..self.i + lit.len()) == Some(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(err("expected a value"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde_json::Value;
    use serde_json::value::RawValue;

    /// What `serde_json` makes of an object's members: the oracle of [`members`].
    fn serde_members(text: &str) -> Result<Vec<(String, String)>> {
        struct Members(Vec<(String, String)>);
        impl<'de> serde::Deserialize<'de> for Members {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
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

    /// `serde_json`'s reading of whether a value is kept whole: the oracle of
    /// [`kept_whole`].
    struct Kept<'k> {
        keep: &'k dyn Fn(&str) -> bool,
        item: bool,
    }

    impl<'de> DeserializeSeed<'de> for Kept<'_> {
        type Value = bool;
        fn deserialize<D: serde::Deserializer<'de>>(
            self,
            d: D,
        ) -> std::result::Result<bool, D::Error> {
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
        }

        /// Any text (a valid object with a few characters deleted, replaced or
        /// inserted): accepted and read alike, or refused by both.
        #[test]
        fn members_accept_what_serde_json_accepts(
            v in value(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, prop::sample::select(NOISE)), 1..4),
        ) {
            let mut chars: Vec<char> = text_of(&Value::Object([("k".to_owned(), v)].into_iter().collect()), false).chars().collect();
            for (at, how, c) in edits {
                let i = at.index(chars.len() + 1);
                match how {
                    0 if i < chars.len() => { chars.remove(i); }
                    1 if i < chars.len() => chars[i] = c,
                    _ => chars.insert(i, c),
                }
            }
            let text: String = chars.into_iter().collect();
            match (ours(&text), serde_members(&text)) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "{text:?}: ours {a:?}, serde_json {b:?}"),
            }
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
            for (_, raw) in members(&text).unwrap() {
                prop_assert!(raw.outline.is_some());
                prop_assert_eq!(kept(&raw, &keep).unwrap(), serde_kept(raw.get(), &keep).unwrap(), "{}", raw.get());
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
}
