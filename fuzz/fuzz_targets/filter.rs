//! `Filter::parse` on arbitrary text: never panics, and whatever parses prints to text
//! that parses back to the same AST; evaluation and validation never panic either. A
//! sub-attribute after a value filter (`emails[type eq "work"].value eq "x"`) parses to
//! the value filter with the comparison joined by `and`, so its printed form differs from
//! the input but must parse to the same AST like every other.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::filter::{Filter, Limits};
use scim_core::schema::{Registry, ResourceKind};
use std::sync::LazyLock;

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::builtin);

static USER: LazyLock<serde_json::Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!(
        "../../scim-core/tests/data/rfc7643/8.3-enterprise-user.json"
    ))
    .unwrap_or_default()
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(filter) = Filter::parse(text) else { return };
    let printed = filter.to_string();
    // Printing may lengthen the text (`1e3` prints as `1000.0`), never deepen it.
    let relaxed = Limits { max_len: usize::MAX, ..Limits::default() };
    assert_eq!(Filter::parse_with(&printed, &relaxed).as_ref(), Ok(&filter), "{printed}");
    let _ = filter.matches(&USER, &REGISTRY, ResourceKind::User);
    let _ = filter.validate(&REGISTRY, ResourceKind::User);
});
