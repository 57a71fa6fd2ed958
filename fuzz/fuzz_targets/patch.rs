//! The PATCH engine on arbitrary bytes: whatever parses as a PatchRequest is applied to a
//! fixed user and a fixed group (members in the document and as rows). `apply` never
//! panics, a failed PATCH leaves the resource unchanged, and a successful one leaves a
//! resource that validates again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::message::PatchRequest;
use scim_core::patch::{PatchContext, apply};
use scim_core::resource::Resource;
use scim_core::schema::{Registry, ResourceKind};
use std::sync::LazyLock;

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::builtin);

fn load(json: &str) -> Resource {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| Resource::from_value(v).ok())
        .and_then(|r| scim_core::validate::validate(r, &REGISTRY, ResourceKind::User).ok())
        .unwrap_or_default()
}

static USER: LazyLock<Resource> = LazyLock::new(|| {
    load(include_str!("../../scim-core/tests/data/rfc7643/8.3-enterprise-user.json"))
});

static GROUP: LazyLock<Resource> = LazyLock::new(|| {
    Resource::from_value(serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "GR0123456789abcdef0123456789abcdef",
        "displayName": "Tour Guides",
        "members": [{"value": "US00000000000000000000000000000001", "type": "User"},
                    {"value": "GR00000000000000000000000000000002", "type": "Group"}]
    }))
    .unwrap_or_default()
});

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<PatchRequest>(data) else { return };
    for (kind, base, external) in [
        (ResourceKind::User, &*USER, false),
        (ResourceKind::Group, &*GROUP, false),
        (ResourceKind::Group, &*GROUP, true),
    ] {
        let ctx = PatchContext::new(&REGISTRY, kind).with_external_members(external);
        let mut r = base.clone();
        match apply(&mut r, &req.operations, &ctx) {
            Err(_) => assert_eq!(&r, base, "a failed PATCH changed the resource"),
            Ok(out) => {
                if !out.changed {
                    assert_eq!(&r, base, "unchanged, but the resource differs");
                }
                // What PATCH produced is a valid resource (readOnly parts aside).
                if let Err(e) = scim_core::validate::validate(r.clone(), &REGISTRY, kind) {
                    panic!("PATCH produced an invalid resource: {e:?}\n{:#}", r.into_value());
                }
            }
        }
    }
});
