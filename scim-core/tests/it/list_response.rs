//! The ListResponse a server writes around resources it renders as text
//! (`ListEnvelope::write`) is byte for byte what serialising the core `ListResponse` gives,
//! and parses back to it.

use proptest::prelude::*;
use scim_core::message::{LIST_RESPONSE, ListEnvelope, ListResponse};
use serde_json::{Value, json};

fn resource() -> impl Strategy<Value = Value> {
    (any::<String>(), proptest::option::of(any::<i64>()), any::<bool>(), "[a-z]{1,8}").prop_map(
        |(name, n, b, key)| {
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": format!("US{key}"),
                "userName": name,
                key: n,
                "active": b,
                "emails": [{"value": "a@example.com", "primary": b}],
                "meta": {"resourceType": "User", "version": "W/\"1\""}
            })
        },
    )
}

fn envelope_bytes(e: &ListEnvelope<'_>, resources: &[Value]) -> Vec<u8> {
    let items: Vec<Vec<u8>> = resources.iter().map(|r| serde_json::to_vec(r).unwrap()).collect();
    let mut out = Vec::new();
    e.write(&items.join(&b","[..]), &mut out);
    out
}

proptest! {
    #[test]
    fn envelope_writes_what_list_response_serialises(
        resources in proptest::collection::vec(resource(), 0..5),
        total in any::<u64>(),
        items_per_page in proptest::option::of(any::<u64>()),
        start_index in proptest::option::of(any::<u64>()),
        next in proptest::option::of(any::<String>()),
        previous in proptest::option::of(any::<String>()),
    ) {
        let e = ListEnvelope {
            total_results: total,
            items_per_page,
            start_index,
            next_cursor: next.as_deref(),
            previous_cursor: previous.as_deref(),
        };
        let fast = envelope_bytes(&e, &resources);
        let typed = ListResponse {
            schemas: vec![LIST_RESPONSE.to_owned()],
            total_results: total,
            items_per_page,
            start_index,
            next_cursor: next.clone(),
            previous_cursor: previous.clone(),
            resources: resources.clone(),
        };
        prop_assert_eq!(
            String::from_utf8(fast.clone()).unwrap(),
            serde_json::to_string(&typed).unwrap()
        );
        let back: ListResponse<Value> = serde_json::from_slice(&fast).unwrap();
        prop_assert_eq!(back, typed);
    }
}

#[test]
fn rfc7644_3_4_2_example_shape() {
    let e = ListEnvelope {
        total_results: 2,
        items_per_page: Some(1),
        start_index: Some(1),
        ..Default::default()
    };
    let mut out = Vec::new();
    e.write(br#"{"id":"2819c223-7f76-453a-919d-413861904646","userName":"bjensen"}"#, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":2,"itemsPerPage":1,"startIndex":1,"Resources":[{"id":"2819c223-7f76-453a-919d-413861904646","userName":"bjensen"}]}"#
    );
}
