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
pub(crate) struct Outline {
    empty: bool,
    keys: Vec<(usize, usize, bool)>,
}

impl Outline {
    /// The outline of an object whose keys the caller wrote at `keys`: the range of each,
    /// quotes included, and whether it holds escapes.
    pub(crate) fn of_object(keys: Vec<(usize, usize, bool)>) -> Self {
        Self { empty: keys.is_empty(), keys }
    }
}

impl<'a> RawText<'a> {
    /// The text.
    pub fn get(&self) -> &'a str {
        self.text
    }

    /// Text the scanner has read as one whole value, without its outline.
    pub(crate) fn read(text: &'a str) -> Self {
        Self { text, outline: None }
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
    // A stored user has about twenty members: room for them without growing.
    let mut out = Vec::with_capacity(32);
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

/// The items of the JSON array `text` when each is a string without escapes (their text
/// between the quotes, which needs no escape when written again); `None` for any other
/// valid value, an error for text that is not one.
pub(crate) fn plain_strings(text: &str) -> Result<Option<Vec<&str>>> {
    let mut s = Scanner { b: text.as_bytes(), i: 0 };
    s.ws();
    if s.at() != Some(b'[') {
        s.value()?;
        s.end()?;
        return Ok(None);
    }
    let (mut items, mut plain) = (Vec::with_capacity(4), true);
    s.array(|s| {
        if s.at() == Some(b'"') {
            let start = s.i;
            if s.string()? {
                plain = false;
            } else {
                items.push(slice(text, (start + 1, s.i - 1))?);
            }
        } else {
            plain = false;
            s.value()?;
        }
        Ok(())
    })?;
    s.end()?;
    Ok(plain.then_some(items))
}

/// [`kept_whole`] of `raw`, from its outline when it has one.
pub(crate) fn kept(raw: &RawText<'_>, keep: &dyn Fn(&str) -> bool) -> Result<bool> {
    match &raw.outline {
        Some(outline) => kept_outlined(raw.text, outline, keep),
        None => kept_whole(raw.text, keep),
    }
}

/// [`kept_whole`] of `text`, from its `outline`.
pub(crate) fn kept_outlined(
    text: &str,
    outline: &Outline,
    keep: &dyn Fn(&str) -> bool,
) -> Result<bool> {
    let mut all = true;
    for &key in &outline.keys {
        // Every key is read (a bad one is an error, as reading the value again finds).
        let key = key_text(text, key)?;
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
    let kept = s.value_kept(text, keep)?;
    s.end()?;
    Ok(kept)
}

/// Reads the members of the JSON object `text` in order (duplicates included): `each`
/// gets each key (borrowed where it holds no escapes) and the value to read, with
/// [`MemberValue::skip`] or [`MemberValue::kept`]. What [`members`] gives, without collecting it.
pub(crate) fn each_member<'a>(
    text: &'a str,
    mut each: impl FnMut(Cow<'a, str>, &mut MemberValue<'_, 'a>) -> Result<()>,
) -> Result<()> {
    let mut s = Scanner { b: text.as_bytes(), i: 0 };
    s.ws();
    if s.at() != Some(b'{') {
        return Err(err("expected a JSON object"));
    }
    s.object(|s, key| {
        let mut value = MemberValue { s, text, read: false };
        each(key_text(text, key)?, &mut value)?;
        if !value.read {
            value.skip()?;
        }
        Ok(())
    })?;
    s.end()
}

/// A member's value for [`each_member`]'s caller to read once (one it leaves is skipped).
pub(crate) struct MemberValue<'s, 'a> {
    s: &'s mut Scanner<'a>,
    text: &'a str,
    read: bool,
}

impl<'a> MemberValue<'_, 'a> {
    /// The value's text.
    pub(crate) fn skip(&mut self) -> Result<&'a str> {
        let from = self.s.i;
        self.read = true;
        self.s.value()?;
        slice(self.text, (from, self.s.i))
    }

    /// The value's text, and whether a projection that keeps the keys `keep` accepts
    /// keeps it whole ([`kept_whole`]).
    pub(crate) fn kept(&mut self, keep: &dyn Fn(&str) -> bool) -> Result<(&'a str, bool)> {
        let from = self.s.i;
        self.read = true;
        let kept = self.s.value_kept(self.text, keep)?;
        Ok((slice(self.text, (from, self.s.i))?, kept))
    }
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

/// `s` as a JSON string: copied between quotes when nothing in it needs an escape (what
/// `serde_json` writes then too), else written by `serde_json`.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) -> Result<()> {
    if special(s.as_bytes()).is_none() {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return Ok(());
    }
    serde_json::to_writer(out, s)
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
        // Room for the keys of a typical complex value (an address has seven) at once,
        // rather than growing from four; nothing is allocated for a simple value.
        let mut keys = match self.at() {
            Some(b'{' | b'[') => Vec::with_capacity(8),
            _ => Vec::new(),
        };
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

    /// The value at the cursor, and whether it is kept whole ([`kept_whole`]); `text` is
    /// the scanner's whole text.
    fn value_kept(&mut self, text: &str, keep: &dyn Fn(&str) -> bool) -> Result<bool> {
        match self.at() {
            Some(b'{') => self.object_kept(text, keep),
            Some(b'[') => {
                let (mut any, mut all) = (false, true);
                self.array(|s| {
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
                Ok(any && all)
            }
            _ => {
                self.value()?;
                Ok(true)
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
mod tests;
