//! A JSON Schema checker for the subset `/openapi.json` emits: `$ref` (local), `type`,
//! `properties`, `required`, `additionalProperties: false`, `items`, `enum`, `const`,
//! `pattern` (only the anchored shapes the document uses, see [`pattern_matches`]),
//! `minLength`/`maxLength`, `minItems`, `minimum`, `anyOf`, `oneOf`. `format`,
//! `contentEncoding`, `readOnly` and `description` are annotations and not checked.

use serde_json::Value;

/// The errors of `value` against `schema`, resolving `$ref`s in `doc`; empty when valid.
pub fn check(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    walk(doc, schema, value, "$", &mut errors);
    errors
}

/// Follows a local `$ref` (`#/a/b`).
pub fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// The document's patterns: `^...$` over literal characters, `[xX]` classes, `[0-9]`,
/// `[0-9a-f]`, `[!-~]`, `[1-5]`, the quantifiers `{n}`, `{n,m}`, `+`, and one `(?:a|b)`
/// group of alternatives. Checked by a small backtracking matcher.
pub fn pattern_matches(pattern: &str, s: &str) -> bool {
    let Some(body) = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')) else {
        panic!("unanchored pattern {pattern}");
    };
    if let Some(alts) = body.strip_prefix("(?:").and_then(|b| b.strip_suffix(')')) {
        return alts
            .split('|')
            .any(|a| seq_matches(&parse(a), s.chars().collect::<Vec<_>>().as_slice()));
    }
    seq_matches(&parse(body), s.chars().collect::<Vec<_>>().as_slice())
}

type Atom = (Vec<(char, char)>, usize, usize);

fn parse(p: &str) -> Vec<Atom> {
    let cs: Vec<char> = p.chars().collect();
    let mut out: Vec<Atom> = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let set = if cs[i] == '[' {
            let end = i + cs[i..].iter().position(|&c| c == ']').unwrap();
            let inner = &cs[i + 1..end];
            let mut set = Vec::new();
            let mut j = 0;
            while j < inner.len() {
                if j + 2 < inner.len() && inner[j + 1] == '-' {
                    set.push((inner[j], inner[j + 2]));
                    j += 3;
                } else {
                    set.push((inner[j], inner[j]));
                    j += 1;
                }
            }
            i = end + 1;
            set
        } else if cs[i] == '\\' {
            i += 2;
            vec![(cs[i - 1], cs[i - 1])]
        } else {
            i += 1;
            vec![(cs[i - 1], cs[i - 1])]
        };
        let (mut min, mut max) = (1, 1);
        if i < cs.len() && cs[i] == '+' {
            (min, max) = (1, usize::MAX);
            i += 1;
        } else if i < cs.len() && cs[i] == '{' {
            let end = i + cs[i..].iter().position(|&c| c == '}').unwrap();
            let q: String = cs[i + 1..end].iter().collect();
            (min, max) = match q.split_once(',') {
                Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                None => (q.parse().unwrap(), q.parse().unwrap()),
            };
            i = end + 1;
        }
        out.push((set, min, max));
    }
    out
}

fn seq_matches(atoms: &[Atom], s: &[char]) -> bool {
    let Some(((set, min, max), rest)) = atoms.split_first() else { return s.is_empty() };
    let mut n = 0;
    loop {
        if n >= *min && seq_matches(rest, &s[n..]) {
            return true;
        }
        if n >= *max || n >= s.len() || !set.iter().any(|&(a, b)| (a..=b).contains(&s[n])) {
            return false;
        }
        n += 1;
    }
}

fn walk(doc: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else { return };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        match resolve(doc, r) {
            Some(target) => walk(doc, target, v, at, errors),
            None => errors.push(format!("{at}: unresolved $ref {r}")),
        }
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        errors.push(format!("{at}: {v} is not {c}"));
    }
    if let Some(Value::Array(e)) = s.get("enum")
        && !e.contains(v)
    {
        errors.push(format!("{at}: {v} is not one of {e:?}"));
    }
    if let Some(text) = v.as_str() {
        let n = text.chars().count() as u64;
        if s.get("minLength").and_then(Value::as_u64).is_some_and(|m| n < m) {
            errors.push(format!("{at}: too short"));
        }
        if s.get("maxLength").and_then(Value::as_u64).is_some_and(|m| n > m) {
            errors.push(format!("{at}: too long"));
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str)
            && !pattern_matches(p, text)
        {
            errors.push(format!("{at}: {text:?} does not match {p}"));
        }
    }
    if let (Some(m), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
        && n < m
    {
        errors.push(format!("{at}: {n} < {m}"));
    }
    if let Some(items) = v.as_array() {
        if s.get("minItems").and_then(Value::as_u64).is_some_and(|m| (items.len() as u64) < m) {
            errors.push(format!("{at}: fewer than minItems"));
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                walk(doc, item_schema, item, &format!("{at}[{i}]"), errors);
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s.get("required").and_then(Value::as_array).into_iter().flatten() {
            if let Some(r) = r.as_str()
                && !obj.contains_key(r)
            {
                errors.push(format!("{at}: missing required {r}"));
            }
        }
        for (k, member) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => walk(doc, ps, member, &format!("{at}.{k}"), errors),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{at}: unexpected member {k}"));
                }
                None => {}
            }
        }
    }
    if let Some(Value::Array(any)) = s.get("anyOf")
        && !any.iter().any(|sub| check(doc, sub, v).is_empty())
    {
        errors.push(format!("{at}: matches none of anyOf"));
    }
    if let Some(Value::Array(one)) = s.get("oneOf") {
        let n = one.iter().filter(|sub| check(doc, sub, v).is_empty()).count();
        if n != 1 {
            errors.push(format!("{at}: matches {n} of oneOf"));
        }
    }
}

#[test]
fn the_checker_checks() {
    assert!(pattern_matches("^OR[0-9a-f]{32}$", &format!("OR{}", "a".repeat(32))));
    assert!(!pattern_matches("^OR[0-9a-f]{32}$", "ORxyz"));
    assert!(pattern_matches("^W/\"[0-9]+\"$", "W/\"12\""));
    assert!(pattern_matches("^(?:[wW][oO][rR][kK]|[hH][oO][mM][eE])$", "WoRk"));
    assert!(!pattern_matches("^(?:[wW][oO][rR][kK])$", "works"));
    assert!(pattern_matches("^[!-~]{1,255}$", "key-1"));
    let doc = serde_json::json!({"components": {"schemas": {"A": {"type": "object",
        "required": ["x"], "additionalProperties": false,
        "properties": {"x": {"type": "integer", "minimum": 1}}}}}});
    let a = serde_json::json!({"$ref": "#/components/schemas/A"});
    assert!(check(&doc, &a, &serde_json::json!({"x": 2})).is_empty());
    assert_eq!(check(&doc, &a, &serde_json::json!({"x": 0, "y": 1})).len(), 2);
    assert_eq!(check(&doc, &a, &serde_json::json!({})).len(), 1);
}
