//! `AttrPath::parse` and `PatchPath::parse` (with and without registry) on arbitrary text:
//! never panic, and whatever parses prints to text that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::patch::PatchPath;
use scim_core::path::{AttrPath, MAX_PATH_LEN};
use scim_core::schema::{Registry, ResourceKind};
use std::sync::LazyLock;

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::builtin);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(p) = AttrPath::parse(text) {
        assert_eq!(AttrPath::parse(&p.to_string()), Ok(p));
    }
    if let Ok(p) = PatchPath::parse(text) {
        let printed = p.to_string();
        if printed.len() <= MAX_PATH_LEN {
            assert_eq!(PatchPath::parse(&printed).as_ref(), Ok(&p), "{printed}");
        }
    }
    for kind in [ResourceKind::User, ResourceKind::Group] {
        if let Ok(p) = PatchPath::parse_with(text, &REGISTRY, kind) {
            let printed = p.to_string();
            if printed.len() <= MAX_PATH_LEN {
                let again = PatchPath::parse_with(&printed, &REGISTRY, kind);
                assert_eq!(again.as_ref(), Ok(&p), "{printed}");
            }
        }
    }
});
