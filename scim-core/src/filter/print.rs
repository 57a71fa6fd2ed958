//! The printer: text that [`Filter::parse`] turns back into the same AST.
//!
//! Parentheses are written only where precedence needs them: `and` binds tighter than
//! `or`, and both chains parse left-associatively, so a left child of the same operator
//! needs none while a right child of the same operator does (`a or (b or c)`).

use super::{CompValue, CompareOp, Filter};
use std::fmt::{self, Display, Formatter, Write};

/// Binding strength: higher binds tighter.
fn precedence(f: &Filter) -> u8 {
    match f {
        Filter::Or(..) => 1,
        Filter::And(..) => 2,
        _ => 3,
    }
}

fn child(f: &mut Formatter<'_>, c: &Filter, parent: u8, right: bool) -> fmt::Result {
    let p = precedence(c);
    if p < parent || (right && p == parent) { write!(f, "({c})") } else { write!(f, "{c}") }
}

impl Display for Filter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare(path, op, value) => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::And(l, r) => {
                child(f, l, 2, false)?;
                f.write_str(" and ")?;
                child(f, r, 2, true)
            }
            Filter::Or(l, r) => {
                child(f, l, 1, false)?;
                f.write_str(" or ")?;
                child(f, r, 1, true)
            }
            Filter::ValuePath(path, inner) => write!(f, "{path}[{inner}]"),
        }
    }
}

impl Display for CompareOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Display for CompValue {
    /// JSON text: `null`, `true`, a number, or a quoted string with JSON escapes.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::Str(s) => write_json_string(f, s),
        }
    }
}

/// Writes `s` as a JSON string (RFC 8259 section 7): quotes, backslashes and control
/// characters escaped, everything else as is.
pub(crate) fn write_json_string(f: &mut impl Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    let mut plain_from = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if u32::from(c) < 0x20 => "",
            _ => continue,
        };
        f.write_str(s.get(plain_from..i).unwrap_or_default())?;
        if esc.is_empty() {
            write!(f, "\\u{:04x}", u32::from(c))?;
        } else {
            f.write_str(esc)?;
        }
        plain_from = i + c.len_utf8();
    }
    f.write_str(s.get(plain_from..).unwrap_or_default())?;
    f.write_char('"')
}
