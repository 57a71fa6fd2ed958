//! The filter parser: RFC 7644 3.4.2.2 ABNF, hand-written recursive descent over bytes.
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / valueSub / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! valueSub  = valuePath "." attrName SP ("pr" / compareOp SP compValue)
//! valFilter = attrExp / logExp / *1"not" "(" valFilter ")"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! compValue = false / null / true / number / string      ; JSON literals (RFC 7159)
//! ```
//!
//! `valueSub` is not in RFC 7644's filter ABNF (its `valuePath "." subAttr` form is a PATCH
//! path), but Entra ID sends it in filters (`emails[type eq "work"].value eq "a@b.c"`); it
//! is read as the value filter `emails[type eq "work" and value eq "a@b.c"]`.
//!
//! `and` binds tighter than `or` (RFC 7644 3.4.2.2, "precedence"), and chains are
//! left-associative: `a or b or c` is `Or(Or(a, b), c)`. Keywords and operators are
//! case-insensitive. Whitespace is any run of ASCII spaces, tabs, CR or LF.
//!
//! Bounds: the input length is checked before anything else, and every level of nesting
//! (a `(`, a `not (`, a `[`, and every `and`/`or` node of the tree) counts towards
//! [`Limits::max_depth`], which is itself capped at [`DEPTH_CAP`]. Recursion only happens
//! on `(`, `not (` and `[`, each after the depth check, so no input can overflow the stack.

use super::{CompValue, CompareOp, Filter};
use crate::error::{ErrorCode, ScimError};
use crate::path::{AttrPath, is_urn_byte};
use std::borrow::Cow;

/// The hard ceiling on [`Limits::max_depth`]: deeper limits are clamped to it, so that the
/// parser, the printer, the evaluator and `Drop` stay far from the stack limit.
pub const DEPTH_CAP: usize = 256;

/// What the parser accepts at most. The server passes its configured values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest filter, in bytes.
    pub max_len: usize,
    /// Deepest nesting: every `(`, `not (`, `[` and every `and`/`or` node on the way from
    /// the root to a comparison counts one level (clamped to [`DEPTH_CAP`]). A flat chain
    /// `a or b or c` is left-nested, so it counts one level per operator.
    pub max_depth: usize,
}

impl Default for Limits {
    /// 4096 bytes and 64 levels: far beyond any filter identity providers send, small
    /// enough that a hostile filter costs microseconds.
    fn default() -> Self {
        Self { max_len: 4096, max_depth: 64 }
    }
}

/// A filter that does not parse, or is over a [`Limits`] bound.
///
/// Its display is the `detail` of the `invalidFilter` error it becomes, e.g.
/// `invalid filter at byte 14: expected a comparison operator (eq, ne, co, sw, ew, gt, ge,
/// lt, le) or pr`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// The text breaks the grammar.
    #[error("invalid filter at byte {offset}: expected {expected}")]
    Syntax {
        /// Byte offset where parsing failed.
        offset: usize,
        /// What the parser expected there.
        expected: Cow<'static, str>,
    },
    /// The filter is longer than [`Limits::max_len`].
    #[error("invalid filter: it is {len} bytes long, over the limit of {max} bytes")]
    TooLong {
        /// The filter's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The filter nests deeper than [`Limits::max_depth`].
    #[error("invalid filter at byte {offset}: it nests deeper than the limit of {max} levels")]
    TooDeep {
        /// Byte offset of the construct that went over the limit.
        offset: usize,
        /// The limit.
        max: usize,
    },
}

impl FilterError {
    /// Byte offset of the failure (for [`FilterError::TooLong`], the limit).
    pub fn offset(&self) -> usize {
        match self {
            Self::Syntax { offset, .. } | Self::TooDeep { offset, .. } => *offset,
            Self::TooLong { max, .. } => *max,
        }
    }

    /// What was expected at [`FilterError::offset`], as a phrase.
    pub fn expected(&self) -> Cow<'static, str> {
        match self {
            Self::Syntax { expected, .. } => expected.clone(),
            Self::TooLong { max, .. } => format!("a filter of at most {max} bytes").into(),
            Self::TooDeep { max, .. } => format!("at most {max} levels of nesting").into(),
        }
    }
}

impl From<FilterError> for ScimError {
    fn from(e: FilterError) -> Self {
        ScimError::new(ErrorCode::InvalidFilter, e.to_string())
    }
}

const EXPECT_OPERATOR: &str = "a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le) or pr";
const EXPECT_VALUE: &str = "a value: a quoted string (\"...\"), a number, true, false or null";
const EXPECT_EXPRESSION: &str = "an attribute path, '(' or 'not ('";
const EXPECT_AFTER_VALUE: &str = "a space, ')' , ']' or the end of the filter after the value";

/// Parses a whole filter.
pub(super) fn parse(input: &str, limits: &Limits) -> Result<Filter, FilterError> {
    if input.len() > limits.max_len {
        return Err(FilterError::TooLong { len: input.len(), max: limits.max_len });
    }
    let mut p = Parser::new(input, limits);
    let (filter, _) = p.or_expr(0, false)?;
    p.skip_ws();
    match p.peek() {
        None => Ok(filter),
        Some(b')') => {
            Err(p.syntax(p.pos, "'and', 'or' or the end of the filter (this ')' closes no '(')"))
        }
        Some(b']') => {
            Err(p.syntax(p.pos, "'and', 'or' or the end of the filter (this ']' closes no '[')"))
        }
        Some(_) => Err(p.syntax(p.pos, "'and', 'or' or the end of the filter")),
    }
}

/// Parses the value filter of a PATCH path: starts at byte `start` of `input` (just after
/// `[`), and returns the filter and the offset just after the closing `]`.
pub(crate) fn parse_value_filter(
    input: &str,
    start: usize,
    limits: &Limits,
) -> Result<(Filter, usize), FilterError> {
    if input.len() > limits.max_len {
        return Err(FilterError::TooLong { len: input.len(), max: limits.max_len });
    }
    let mut p = Parser::new(input, limits);
    p.pos = start;
    let (filter, _) = p.or_expr(1, true)?;
    p.skip_ws();
    if p.peek() != Some(b']') {
        return Err(p.syntax(
            p.pos,
            format!("'and', 'or' or ']' to close the '[' at byte {}", start.saturating_sub(1)),
        ));
    }
    Ok((filter, p.pos + 1))
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    max_depth: usize,
}

/// Characters of a bare word: attribute paths (with URNs), operators, literals.
fn is_word_byte(c: u8) -> bool {
    is_urn_byte(c) || c == b'$'
}

impl<'a> Parser<'a> {
    fn new(s: &'a str, limits: &Limits) -> Self {
        Self { s, b: s.as_bytes(), pos: 0, max_depth: limits.max_depth.min(DEPTH_CAP) }
    }

    fn syntax(&self, offset: usize, expected: impl Into<Cow<'static, str>>) -> FilterError {
        FilterError::Syntax { offset, expected: expected.into() }
    }

    fn too_deep(&self, offset: usize) -> FilterError {
        FilterError::TooDeep { offset, max: self.max_depth }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    /// Skips whitespace; says whether there was any.
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// The end of the run of bytes satisfying `f` from `from`.
    fn run_end(&self, from: usize, f: impl Fn(u8) -> bool) -> usize {
        let mut i = from;
        while self.at(i).is_some_and(&f) {
            i += 1;
        }
        i
    }

    fn slice(&self, from: usize, to: usize) -> &'a str {
        self.s.get(from..to).unwrap_or_default()
    }

    /// Consumes keyword `kw` (case-insensitively) when it stands alone as a word here.
    fn keyword(&mut self, kw: &str) -> bool {
        let end = self.pos + kw.len();
        let matches = self.s.get(self.pos..end).is_some_and(|w| w.eq_ignore_ascii_case(kw))
            && !self.at(end).is_some_and(is_word_byte);
        if matches {
            self.pos = end;
        }
        matches
    }

    /// `or`-chain: returns the filter and its height in levels.
    fn or_expr(&mut self, depth: usize, in_bracket: bool) -> Result<(Filter, usize), FilterError> {
        let (mut left, mut height) = self.and_expr(depth, in_bracket)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            let op_at = self.pos;
            if !self.keyword("or") {
                self.pos = save;
                return Ok((left, height));
            }
            let (right, h) = self.and_expr(depth, in_bracket)?;
            height = height.max(h) + 1;
            if depth + height > self.max_depth {
                return Err(self.too_deep(op_at));
            }
            left = Filter::Or(Box::new(left), Box::new(right));
        }
    }

    /// `and`-chain.
    fn and_expr(&mut self, depth: usize, in_bracket: bool) -> Result<(Filter, usize), FilterError> {
        let (mut left, mut height) = self.primary(depth, in_bracket)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            let op_at = self.pos;
            if !self.keyword("and") {
                self.pos = save;
                return Ok((left, height));
            }
            let (right, h) = self.primary(depth, in_bracket)?;
            height = height.max(h) + 1;
            if depth + height > self.max_depth {
                return Err(self.too_deep(op_at));
            }
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }

    /// `( filter )` after the `(` at `open`; returns the inner filter and its height.
    fn group(
        &mut self,
        open: usize,
        depth: usize,
        in_bracket: bool,
    ) -> Result<(Filter, usize), FilterError> {
        if depth + 1 > self.max_depth {
            return Err(self.too_deep(open));
        }
        self.pos = open + 1;
        let (inner, h) = self.or_expr(depth + 1, in_bracket)?;
        self.skip_ws();
        if self.peek() != Some(b')') {
            return Err(self
                .syntax(self.pos, format!("'and', 'or' or ')' to close the '(' at byte {open}")));
        }
        self.pos += 1;
        Ok((inner, h + 1))
    }

    /// A parenthesised group, `not (...)`, a value path or an attribute expression.
    fn primary(&mut self, depth: usize, in_bracket: bool) -> Result<(Filter, usize), FilterError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(b'(') => return self.group(start, depth, in_bracket),
            Some(c) if is_word_byte(c) => {}
            _ => return Err(self.syntax(start, EXPECT_EXPRESSION)),
        }
        let end = self.run_end(start, is_word_byte);
        let word = self.slice(start, end);
        if word.eq_ignore_ascii_case("not") {
            self.pos = end;
            self.skip_ws();
            if self.peek() == Some(b'(') {
                let (inner, h) = self.group(self.pos, depth, in_bracket)?;
                return Ok((Filter::Not(Box::new(inner)), h));
            }
            // `not` is also a valid attribute name: it is one when an operator follows.
            let w_end = self.run_end(self.pos, |c| c.is_ascii_alphabetic());
            let next = self.slice(self.pos, w_end);
            let is_op = next.eq_ignore_ascii_case("pr") || CompareOp::from_keyword(next).is_some();
            if w_end > self.pos && !is_op {
                return Err(self.syntax(self.pos, "'(' after 'not' (RFC 7644: not (filter))"));
            }
        }
        let attr = AttrPath::parse_at(word, start).map_err(|(o, e)| self.syntax(o, e))?;
        self.pos = end;
        if self.peek() == Some(b'[') {
            return self.value_path(attr, depth, in_bracket);
        }
        self.attr_expr(attr)
    }

    /// `attrPath "[" valFilter "]"`, at the `[`.
    fn value_path(
        &mut self,
        attr: AttrPath,
        depth: usize,
        in_bracket: bool,
    ) -> Result<(Filter, usize), FilterError> {
        let open = self.pos;
        if in_bracket {
            return Err(self.syntax(
                open,
                format!("{EXPECT_OPERATOR}: a value filter '[...]' cannot contain another"),
            ));
        }
        if attr.sub_attr.is_some() {
            return Err(self.syntax(
                open,
                format!(
                    "{EXPECT_OPERATOR}: '[' may only follow an attribute name without sub-attribute"
                ),
            ));
        }
        if depth + 1 > self.max_depth {
            return Err(self.too_deep(open));
        }
        self.pos = open + 1;
        let (inner, h) = self.or_expr(depth + 1, true)?;
        self.skip_ws();
        if self.peek() != Some(b']') {
            return Err(self
                .syntax(self.pos, format!("'and', 'or' or ']' to close the '[' at byte {open}")));
        }
        self.pos += 1;
        if self.peek() != Some(b'.') {
            return Ok((Filter::ValuePath(attr, Box::new(inner)), h + 1));
        }
        // `emails[type eq "work"].value eq "a@b.c"` (Entra ID sends it): one element must
        // match the value filter and have its sub-attribute satisfy the comparison, which is
        // `emails[type eq "work" and value eq "a@b.c"]`. It is parsed into that form, so
        // evaluation, SQL translation and printing need nothing of their own.
        let sub_at = self.pos + 1;
        let sub_end = self.run_end(sub_at, is_word_byte);
        let sub = AttrPath::parse_at(self.slice(sub_at, sub_end), sub_at)
            .map_err(|(o, e)| self.syntax(o, e))?;
        if sub.urn.is_some() || sub.sub_attr.is_some() {
            return Err(self.syntax(sub_at, "a sub-attribute name after '].'"));
        }
        // As deep as the printed form: `[`, the `and`, and the `( )` an `or` needs there.
        let height = h + 2 + usize::from(matches!(inner, Filter::Or(..)));
        if depth + height > self.max_depth {
            return Err(self.too_deep(sub_at));
        }
        self.pos = sub_end;
        let (cmp, _) = self.attr_expr(sub)?;
        Ok((Filter::ValuePath(attr, Box::new(Filter::and(inner, cmp))), height))
    }

    /// `attrPath SP "pr"` or `attrPath SP compareOp SP compValue`, after the path.
    fn attr_expr(&mut self, attr: AttrPath) -> Result<(Filter, usize), FilterError> {
        let had_ws = self.skip_ws();
        let op_at = self.pos;
        let op_end = self.run_end(op_at, is_word_byte);
        let op_word = self.slice(op_at, op_end);
        if !had_ws || op_word.is_empty() {
            return Err(self.syntax(op_at, EXPECT_OPERATOR));
        }
        if op_word.eq_ignore_ascii_case("pr") {
            self.pos = op_end;
            return Ok((Filter::Present(attr), 0));
        }
        let Some(op) = CompareOp::from_keyword(op_word) else {
            return Err(self.syntax(op_at, EXPECT_OPERATOR));
        };
        self.pos = op_end;
        self.skip_ws();
        let value = self.value()?;
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\r' | b'\n' | b')' | b']') => {}
            Some(_) => return Err(self.syntax(self.pos, EXPECT_AFTER_VALUE)),
        }
        Ok((Filter::Compare(attr, op, value), 0))
    }

    /// `compValue`.
    fn value(&mut self) -> Result<CompValue, FilterError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => self.string().map(CompValue::Str),
            Some(b'-' | b'0'..=b'9') => self.number().map(CompValue::Number),
            Some(c) if c.is_ascii_alphabetic() => {
                let end = self.run_end(start, is_word_byte);
                let word = self.slice(start, end);
                // JSON literals are lowercase; accept `True`/`NULL` as identity providers
                // sometimes send them.
                let v = if word.eq_ignore_ascii_case("true") {
                    CompValue::Bool(true)
                } else if word.eq_ignore_ascii_case("false") {
                    CompValue::Bool(false)
                } else if word.eq_ignore_ascii_case("null") {
                    CompValue::Null
                } else {
                    return Err(self.unquoted(start));
                };
                self.pos = end;
                Ok(v)
            }
            Some(_) => Err(self.unquoted(start)),
            None => Err(self.syntax(start, EXPECT_VALUE)),
        }
    }

    /// The error for an unquoted word in value position (`externalId eq x`).
    fn unquoted(&self, start: usize) -> FilterError {
        let end = self.run_end(start, |c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b')' | b']'));
        let word: String = self.slice(start, end).chars().take(40).collect();
        if word.is_empty() {
            return self.syntax(start, EXPECT_VALUE);
        }
        self.syntax(
            start,
            format!("{EXPECT_VALUE}, but found the unquoted word '{word}' (strings must be in double quotes)"),
        )
    }

    /// A JSON string (RFC 8259 section 7), at the opening quote.
    fn string(&mut self) -> Result<String, FilterError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run_end = self.run_end(self.pos, |c| c != b'"' && c != b'\\' && c >= 0x20);
            out.push_str(self.slice(self.pos, run_end));
            self.pos = run_end;
            match self.peek() {
                None => {
                    return Err(self.syntax(
                        self.pos,
                        format!("'\"' to close the string opened at byte {open}"),
                    ));
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => out.push(self.escape()?),
                Some(_) => {
                    return Err(self.syntax(
                        self.pos,
                        "an escape (\\n, \\t, \\u0000 ...) instead of a raw control character",
                    ));
                }
            }
        }
    }

    /// One escape sequence, at the backslash.
    fn escape(&mut self) -> Result<char, FilterError> {
        let at = self.pos;
        let c = match self.at(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.unicode_escape(),
            _ => return Err(self.syntax(at + 1, "an escape character: \" \\ / b f n r t or u")),
        };
        self.pos = at + 2;
        Ok(c)
    }

    /// Four hex digits after `\u` at `at`.
    fn hex4(&self, at: usize) -> Result<u32, FilterError> {
        let digits =
            self.s.get(at + 2..at + 6).filter(|d| d.bytes().all(|c| c.is_ascii_hexdigit()));
        digits
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.syntax(at + 2, "four hex digits after \\u"))
    }

    /// `\uXXXX`, with a UTF-16 surrogate pair as two escapes.
    fn unicode_escape(&mut self) -> Result<char, FilterError> {
        let at = self.pos;
        let hi = self.hex4(at)?;
        let code = match hi {
            0xD800..=0xDBFF => {
                let low_at = at + 6;
                if self.at(low_at) != Some(b'\\') || self.at(low_at + 1) != Some(b'u') {
                    return Err(self.syntax(
                        low_at,
                        "a \\u escape of a low surrogate (DC00-DFFF) after a high surrogate",
                    ));
                }
                let lo = self.hex4(low_at)?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(self.syntax(
                        low_at,
                        "a \\u escape of a low surrogate (DC00-DFFF) after a high surrogate",
                    ));
                }
                self.pos = low_at + 6;
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => {
                return Err(
                    self.syntax(at, "a high surrogate (D800-DBFF) before a low surrogate escape")
                );
            }
            _ => {
                self.pos = at + 6;
                hi
            }
        };
        char::from_u32(code).ok_or_else(|| self.syntax(at, "a valid Unicode scalar value"))
    }

    /// A JSON number: `-? (0 / [1-9][0-9]*) [. [0-9]+] [(e/E) [+/-] [0-9]+]`.
    fn number(&mut self) -> Result<serde_json::Number, FilterError> {
        let start = self.pos;
        let mut i = start;
        if self.at(i) == Some(b'-') {
            i += 1;
        }
        match self.at(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = self.run_end(i, |c| c.is_ascii_digit()),
            _ => return Err(self.syntax(i, "a digit")),
        }
        if self.at(i) == Some(b'.') {
            let frac = self.run_end(i + 1, |c| c.is_ascii_digit());
            if frac == i + 1 {
                return Err(self.syntax(i + 1, "a digit after the decimal point"));
            }
            i = frac;
        }
        if matches!(self.at(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(self.at(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let exp = self.run_end(i, |c| c.is_ascii_digit());
            if exp == i {
                return Err(self.syntax(i, "a digit in the exponent"));
            }
            i = exp;
        }
        if self.at(i).is_some_and(is_word_byte) {
            return Err(self.unquoted(start));
        }
        let n = number_of(self.slice(start, i))
            .ok_or_else(|| self.syntax(start, "a number within the range of a double"))?;
        self.pos = i;
        Ok(n)
    }
}

/// The value of JSON number text that the grammar has already checked: integers exactly
/// when they fit 64 bits, everything else as the nearest double. std's float parsing rounds
/// correctly, so printing a double and parsing it back gives the same double whatever
/// serde_json features the build enables.
fn number_of(text: &str) -> Option<serde_json::Number> {
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(i) = text.parse::<i64>() {
            return Some(i.into());
        }
        if let Ok(u) = text.parse::<u64>() {
            return Some(u.into());
        }
    }
    text.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> FilterError {
        Filter::parse(s).unwrap_err()
    }

    #[test]
    fn precedence_and_round_trip() {
        let f = Filter::parse("a pr or b pr and c pr").unwrap();
        assert!(matches!(&f, Filter::Or(_, r) if matches!(**r, Filter::And(..))));
        for s in [
            "a pr or b pr and c pr",
            "(a pr or b pr) and c pr",
            "a pr or (b pr or c pr)",
            "not (a eq \"x\\\"y\") and emails[type eq \"work\" or value co \"@x\"]",
            "x gt -1.5e3",
        ] {
            let f = Filter::parse(s).unwrap();
            assert_eq!(Filter::parse(&f.to_string()).unwrap(), f, "{s}");
        }
    }

    #[test]
    fn unquoted_value_is_explained() {
        let e = err("externalId eq x");
        assert_eq!(e.offset(), 14);
        let msg = ScimError::from(e).detail;
        assert!(msg.contains("quoted string"), "{msg}");
        assert!(msg.contains("unquoted word 'x'"), "{msg}");
    }

    #[test]
    fn bounded() {
        let deep = "(".repeat(100_000);
        assert!(matches!(err(&deep), FilterError::TooLong { .. }));
        let big = Limits { max_len: usize::MAX, max_depth: usize::MAX };
        assert!(matches!(Filter::parse_with(&deep, &big), Err(FilterError::TooDeep { .. })));
        let nots = "not (".repeat(100_000);
        assert!(matches!(Filter::parse_with(&nots, &big), Err(FilterError::TooDeep { .. })));
    }
}
