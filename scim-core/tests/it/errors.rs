//! The error catalog and `docs/errors.md` must agree.

use scim_core::ErrorCode;

const DOC: &str = include_str!("../../../docs/errors.md");

#[test]
fn every_code_is_documented_with_cause_and_fix() {
    for code in ErrorCode::ALL {
        let n = code.code();
        let anchor = format!("<a id=\"{n}\"></a>");
        let heading = format!("### {n} {}", code.name());
        assert!(DOC.contains(&anchor), "docs/errors.md lacks the anchor for {n}");
        let at = DOC.find(&heading).unwrap_or_else(|| panic!("docs/errors.md lacks '{heading}'"));
        let section = &DOC[at..];
        let end = section[heading.len()..].find("\n#").map_or(section.len(), |e| e + heading.len());
        let section = &section[..end];
        assert!(section.contains("**Cause:**") && section.contains("**Fix:**"), "{heading}");
        let row = format!("| {n} | {} | {} |", code.name(), code.status().as_u16());
        assert!(DOC.contains(&row), "docs/errors.md table lacks '{row}'");
    }
}

#[test]
fn documentation_names_no_unknown_code() {
    for line in DOC.lines().filter(|l| l.starts_with("### ")) {
        let n: u32 = line[4..9].parse().unwrap();
        assert!(ErrorCode::from_code(n).is_some(), "docs/errors.md documents unknown code {n}");
    }
}
