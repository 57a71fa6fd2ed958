//! `projection::raw_object` (the scanner of stored documents) on arbitrary text: it
//! accepts exactly what `serde_json` accepts as an object and finds the same members.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::projection::raw_object;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

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
});
