//! `projection::raw_object` (the scanner of stored documents) on arbitrary text: it
//! accepts exactly what `serde_json` accepts as an object and finds the same members; and
//! `Projector::write_stored`, which reads the text member by member as it writes, writes
//! what `Projector::write` of those members writes (or refuses the text as it does).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::projection::{Part, Projector, raw_object};
use scim_core::schema::{Registry, ResourceKind};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A map keeps the last of duplicate keys, as `serde_json` does.
    let theirs = serde_json::from_str::<BTreeMap<String, &RawValue>>(text)
        .map(|m| m.into_iter().map(|(k, v)| (k, v.get().to_owned())).collect::<BTreeMap<_, _>>());
    let ours = raw_object(text).map(|members| {
        members
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.get().to_owned()))
            .collect::<BTreeMap<_, _>>()
    });
    match (ours, theirs) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{text:?}"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("{text:?}: scanner {a:?}, serde_json {b:?}"),
    }
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let registry = REGISTRY.get_or_init(Registry::builtin);
    let projector = Projector::new(&[], &[], registry, ResourceKind::User);
    let mut split = Vec::new();
    let split = raw_object(text)
        .and_then(|m| projector.write(m.into_iter().map(|(k, v)| (k, Part::Raw(v))), &mut split))
        .map(|()| split);
    let mut read = Vec::new();
    let read = projector.write_stored([], text, [], &mut read).map(|()| read);
    assert_eq!(split.ok(), read.ok(), "{text:?}");
});
