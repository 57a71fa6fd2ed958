//! The frame a service provider puts around a resource's attributes: `id` and `meta`
//! (RFC 7643 3.1), and the reference list it maintains itself (a group's `members` with
//! `$ref`, a user's read-only `groups`).
//!
//! One [`Envelope`] serves both ways the server writes a resource and the client that reads
//! it: [`Envelope::wrap`] builds the [`Resource`] tree, [`Envelope::members`] hands the same
//! members, in the same order, to [`Projector::write`](crate::projection::Projector::write),
//! which copies stored text instead of parsing it. The order on the wire is `schemas`, `id`,
//! the attributes as stored, the reference list, `meta`; `meta`'s members come in
//! [`Meta`]'s field order. A property test keeps the two writers byte for byte equal.

use crate::etag::ETag;
use crate::projection::{JsonText, Member, Part, RawText};
use crate::resource::{Meta, Resource, get_ci};
use crate::schema::ResourceKind;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A resource's server-assigned members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The resource's `id`.
    pub id: String,
    /// The resource's `meta`.
    pub meta: Meta,
}

/// The attribute that holds a resource's references: a group's `members`, a user's
/// `groups` (RFC 7643 4.1.2, 4.2).
pub fn refs_attribute(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Group => "members",
        ResourceKind::User => "groups",
    }
}

impl Meta {
    /// The `meta` of a stored resource, without `location` (the request decides it).
    pub fn stored(
        kind: ResourceKind,
        created: String,
        last_modified: String,
        version: u64,
    ) -> Self {
        Self {
            resource_type: Some(kind.name().to_owned()),
            created: Some(created),
            last_modified: Some(last_modified),
            location: None,
            version: Some(ETag(version).to_string()),
        }
    }

    /// `meta` as a JSON object: what serialising it gives, members in field order.
    pub fn to_map(&self) -> Map<String, Value> {
        self.clone().into_map()
    }

    /// [`Meta::to_map`] without copying the strings.
    pub fn into_map(self) -> Map<String, Value> {
        let mut m = Map::with_capacity(5);
        let fields = [
            ("resourceType", self.resource_type),
            ("created", self.created),
            ("lastModified", self.last_modified),
            ("location", self.location),
            ("version", self.version),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                m.insert(name.to_owned(), Value::String(v));
            }
        }
        m
    }

    /// `meta` as JSON text: what serialising [`Meta::to_map`] writes, without building the
    /// map (its keys hashed, its values copied) for every resource of a response.
    pub fn to_json_text(&self) -> Option<JsonText> {
        let mut out = Vec::with_capacity(200);
        let mut keys = Vec::with_capacity(5);
        out.push(b'{');
        let fields = [
            ("resourceType", &self.resource_type),
            ("created", &self.created),
            ("lastModified", &self.last_modified),
            ("location", &self.location),
            ("version", &self.version),
        ];
        for (name, value) in fields {
            let Some(v) = value else { continue };
            if out.len() > 1 {
                out.push(b',');
            }
            let start = out.len();
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.push(b'"');
            keys.push((start, out.len(), false));
            out.push(b':');
            crate::scan::write_str(&mut out, v).ok()?;
        }
        out.push(b'}');
        let outline = crate::scan::Outline::of_object(keys);
        String::from_utf8(out).ok().map(|text| JsonText(text, outline))
    }

    /// Sets `location` in a `meta` object made by [`Meta::to_map`], at its place in the
    /// field order (before `version`), so the object reads as if built with it.
    pub fn set_location(meta: &mut Map<String, Value>, location: String) {
        let at = meta.keys().position(|k| k == "version").unwrap_or(meta.len());
        meta.shift_remove("location");
        meta.shift_insert(at.min(meta.len()), "location".to_owned(), Value::String(location));
    }
}

impl Envelope {
    /// The envelope of a stored resource (no `location` yet).
    pub fn stored(
        kind: ResourceKind,
        id: String,
        created: String,
        last_modified: String,
        version: u64,
    ) -> Self {
        Self { id, meta: Meta::stored(kind, created, last_modified, version) }
    }

    /// The resource: `schemas` (when `doc` has it), `id`, the rest of `doc`, the reference
    /// list under `refs.0` when given, then `meta`.
    ///
    /// A member of `doc` named like one of the envelope's keeps its place with the
    /// envelope's value (`id` the document's: it is written over the envelope's).
    pub fn wrap(self, mut doc: Map<String, Value>, refs: Option<(&str, Vec<Value>)>) -> Resource {
        if doc.contains_key("id") {
            // Rare (a stored document never holds `id`): the document's `id` wins.
            let mut out = Map::with_capacity(doc.len() + 3);
            if let Some(s) = doc.shift_remove("schemas") {
                out.insert("schemas".into(), s);
            }
            out.insert("id".into(), Value::String(self.id));
            out.extend(doc);
            doc = out;
        } else {
            // In place: moving members keeps their hashes, where building a new map
            // hashed every key again (a tenth of a PATCH's own work).
            if doc.keys().next().is_some_and(|k| k != "schemas")
                && let Some(s) = doc.shift_remove("schemas")
            {
                doc.shift_insert(0, "schemas".into(), s);
            }
            let at = usize::from(doc.contains_key("schemas"));
            doc.shift_insert(at, "id".into(), Value::String(self.id));
        }
        if let Some((name, items)) = refs {
            doc.insert(name.to_owned(), Value::Array(items));
        }
        doc.insert("meta".into(), Value::Object(self.meta.into_map()));
        Resource(doc)
    }

    /// The same members as [`Envelope::wrap`], in the same order, for
    /// [`Projector::write`](crate::projection::Projector::write): the stored attributes as
    /// text (the projection writes `schemas` first wherever it is).
    pub fn members<'a>(
        self,
        doc: impl IntoIterator<Item = (Cow<'a, str>, RawText<'a>)>,
        refs: Option<(&'static str, Vec<Value>)>,
    ) -> impl Iterator<Item = Member<'a>> {
        let (head, tail) = self.around(refs);
        head.into_iter().chain(doc.into_iter().map(|(k, v)| (k, Part::Raw(v)))).chain(tail)
    }

    /// The members [`Envelope::members`] writes before the stored document's (`id`) and
    /// after them (the references, `meta`), for
    /// [`Projector::write_stored`](crate::projection::Projector::write_stored).
    pub fn around<'a>(
        self,
        refs: Option<(&'static str, Vec<Value>)>,
    ) -> ([Member<'a>; 1], impl Iterator<Item = Member<'a>>) {
        let refs =
            refs.map(|(name, items)| (Cow::Borrowed(name), Part::Value(Value::Array(items))));
        let meta = match self.meta.to_json_text() {
            Some(text) => Part::Text(text),
            None => Part::Value(Value::Object(self.meta.into_map())),
        };
        let head = [(Cow::Borrowed("id"), Part::Value(Value::String(self.id)))];
        (head, refs.into_iter().chain(std::iter::once((Cow::Borrowed("meta"), meta))))
    }

    /// The envelope of a resource as a client receives it: `id` and `meta` when present
    /// and well-formed (member names matched case-insensitively).
    pub fn read(resource: &Map<String, Value>) -> Option<Self> {
        let id = get_ci(resource, "id").and_then(Value::as_str)?.to_owned();
        let meta = get_ci(resource, "meta")
            .and_then(|m| serde::Deserialize::deserialize(m).ok())
            .unwrap_or_default();
        Some(Self { id, meta })
    }

    /// The resource's version, when `meta.version` is one of ours or any entity tag that
    /// parses as a version.
    pub fn etag(&self) -> Option<ETag> {
        self.meta.version.as_deref().and_then(ETag::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::Projector;
    use crate::schema::Registry;
    use proptest::prelude::*;

    fn registry() -> Registry {
        Registry::builtin()
    }

    fn arb_scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            "[a-zA-Z0-9 \"\\\\é\u{1F600}]{0,12}".prop_map(Value::String),
            Just(Value::Null),
        ]
    }

    /// Random documents over the core User attributes and unknown ones, nested.
    fn arb_doc() -> impl Strategy<Value = Map<String, Value>> {
        let value = arb_scalar().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-zA-Z]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        // Attributes of the User schema (the projection writes only what a schema
        // declares; a stored document holds nothing else).
        let names = prop::sample::select(vec![
            "userName",
            "displayName",
            "name",
            "emails",
            "active",
            "nickName",
            "title",
            "externalId",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ])
        .prop_map(str::to_owned);
        (any::<bool>(), prop::collection::vec((names, value), 0..6)).prop_map(
            |(schemas, members)| {
                let mut m = Map::new();
                for (k, v) in members {
                    m.insert(k, v);
                }
                if schemas {
                    m.insert(
                        "schemas".into(),
                        Value::from(vec!["urn:ietf:params:scim:schemas:core:2.0:User"]),
                    );
                }
                m
            },
        )
    }

    fn envelope(id: &str, version: u64, location: Option<String>) -> Envelope {
        let mut e = Envelope::stored(
            ResourceKind::User,
            id.into(),
            "2026-01-02T03:04:05Z".into(),
            "2026-02-03T04:05:06.5Z".into(),
            version,
        );
        e.meta.location = location;
        e
    }

    proptest! {
        /// The outline `meta`'s text carries answers what reading the text again answers,
        /// whichever fields are set and whichever keys a projection keeps.
        #[test]
        fn meta_text_outline_is_the_texts(
            fields in prop::collection::vec(prop::option::of("[a-zA-Z0-9:\"/]{0,8}"), 5),
            kept in prop::sample::subsequence(
                vec!["resourceType", "created", "lastModified", "location", "version"], 0..=5),
        ) {
            let meta = Meta {
                resource_type: fields[0].clone(),
                created: fields[1].clone(),
                last_modified: fields[2].clone(),
                location: fields[3].clone(),
                version: fields[4].clone(),
            };
            let text = meta.to_json_text().unwrap();
            let keep = |k: &str| kept.contains(&k);
            prop_assert_eq!(
                crate::scan::kept_outlined(text.get(), &text.1, &keep).unwrap(),
                crate::scan::kept_whole(text.get(), &keep).unwrap()
            );
            let written: Map<String, Value> = serde_json::from_str(text.get()).unwrap();
            prop_assert_eq!(written, meta.to_map());
        }

        /// The text writer (stored attributes copied as text) and the tree agree byte
        /// for byte, with or without references and `location`.
        #[test]
        fn members_and_wrap_write_the_same_bytes(
            doc in arb_doc(),
            id in "[A-Za-z0-9]{1,12}",
            version in any::<u64>(),
            refs in prop::option::of(prop::collection::vec("[a-z0-9]{1,6}", 0..3)),
            location in prop::option::of("https://h/[a-z]{1,5}"),
            proj in prop::sample::select(vec![
                (vec![], vec![]),
                (vec!["userName"], vec![]),
                (vec!["name.givenName", "meta.version", "groups"], vec![]),
                (vec![], vec!["emails", "meta", "groups"]),
                (vec![], vec!["name.familyName", "id"]),
            ]),
        ) {
            let owned = |v: &Vec<&str>| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
            let (attributes, excluded) = (owned(&proj.0), owned(&proj.1));
            let refs = refs.map(|v| {
                ("groups", v.into_iter().map(|g| serde_json::json!({"value": g})).collect::<Vec<_>>())
            });
            let reg = registry();
            let tree = envelope(&id, version, location.clone()).wrap(doc.clone(), refs.clone());
            let tree = crate::projection::project_owned(tree, &attributes, &excluded, &reg, ResourceKind::User);
            let expected = serde_json::to_vec(&tree).unwrap();

            let text = serde_json::to_string(&doc).unwrap();
            let raw: std::collections::BTreeMap<&str, &serde_json::value::RawValue> = serde_json::from_str(&text).unwrap();
            // Keep the document's member order (a BTreeMap would sort it).
            let ordered: Vec<(Cow<'_, str>, RawText<'_>)> = doc
                .keys()
                .map(|k| (Cow::Borrowed(k.as_str()), RawText::from(raw[k.as_str()])))
                .collect();
            let projector = Projector::new(&attributes, &excluded, &reg, ResourceKind::User);
            let mut out = Vec::new();
            projector
                .write(envelope(&id, version, location.clone()).members(ordered, refs.clone()), &mut out)
                .unwrap();
            prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(expected.clone()).unwrap());
            // Read from the stored text as it is written: the same bytes.
            let (head, tail) = envelope(&id, version, location).around(refs);
            let mut out = Vec::new();
            projector.write_stored(head, &text, tail, &mut out).unwrap();
            prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(expected).unwrap());
        }

        /// `wrap` gives what building a new map gives: `schemas`, `id`, the rest of the
        /// document in order, the references, `meta`, a document's member of the same
        /// name keeping its place.
        #[test]
        fn wrap_orders_as_a_new_map(
            members in prop::collection::vec(
                (prop::sample::select(vec!["schemas", "id", "meta", "groups", "userName", "title", "Id"]),
                 arb_scalar()),
                0..7,
            ),
            refs in prop::option::of(prop::collection::vec("[a-z0-9]{1,6}", 0..3)),
        ) {
            let doc: Map<String, Value> = members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let refs = refs.map(|v| ("groups", v.into_iter().map(Value::String).collect::<Vec<_>>()));
            let e = envelope("the-id", 3, None);
            let mut want = Map::new();
            let mut rest = doc.clone();
            if let Some(s) = rest.shift_remove("schemas") {
                want.insert("schemas".into(), s);
            }
            want.insert("id".into(), Value::String(e.id.clone()));
            want.extend(rest);
            if let Some((name, items)) = refs.clone() {
                want.insert(name.to_owned(), Value::Array(items));
            }
            want.insert("meta".into(), Value::Object(e.meta.to_map()));
            let got = e.wrap(doc, refs).0;
            prop_assert_eq!(serde_json::to_string(&got).unwrap(), serde_json::to_string(&want).unwrap());
        }

        /// `set_location` puts `location` where a `meta` built with it has it.
        #[test]
        fn location_set_later_is_in_place(version in any::<u64>(), loc in "[a-z:/.]{1,20}") {
            let with = envelope("a", version, Some(loc.clone())).meta.to_map();
            let mut later = envelope("a", version, None).meta.to_map();
            Meta::set_location(&mut later, loc);
            prop_assert_eq!(serde_json::to_string(&later).unwrap(), serde_json::to_string(&with).unwrap());
        }
    }

    #[test]
    fn meta_text_is_what_serde_writes() {
        for location in [None, Some("https://h/Users/\"x\"\u{e9}".to_owned())] {
            let mut m = envelope("x", 7, location).meta;
            let want = serde_json::to_string(&Value::Object(m.to_map())).unwrap();
            assert_eq!(m.to_json_text().unwrap().get(), want);
            m.created = None;
            m.resource_type = None;
            let want = serde_json::to_string(&Value::Object(m.to_map())).unwrap();
            assert_eq!(m.to_json_text().unwrap().get(), want);
        }
        assert_eq!(Meta::default().to_json_text().unwrap().get(), "{}");
    }

    #[test]
    fn meta_map_is_what_serde_writes() {
        let m = envelope("x", 7, Some("https://h/Users/x".into())).meta;
        assert_eq!(serde_json::to_value(&m).unwrap(), Value::Object(m.to_map()));
        assert_eq!(serde_json::to_string(&m.to_map()).unwrap(), serde_json::to_string(&m).unwrap());
        assert_eq!(m.clone().into_map(), m.to_map());
    }

    #[test]
    fn a_received_resource_gives_its_envelope() {
        let v = serde_json::json!({"ID": "u1", "meta": {"version": "W/\"4\"", "location": "l"}});
        let Value::Object(map) = v else { unreachable!() };
        let e = Envelope::read(&map).unwrap();
        assert_eq!(e.id, "u1");
        assert_eq!(e.etag(), Some(ETag(4)));
        assert_eq!(e.meta.location.as_deref(), Some("l"));
        assert_eq!(Envelope::read(&Map::new()), None);
    }
}
