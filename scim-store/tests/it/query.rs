//! Filters in the database: every operator on indexed columns and on JSON attributes,
//! case rules, extension attributes, multi-valued value filters, logic; tenant isolation.

use crate::support::*;
use scim_core::filter::Filter;
use scim_core::message::SortOrder;
use scim_core::schema::ResourceKind::{Group, User};
use scim_core::sid::OrganizationSid;
use scim_store::{Pagination, Query, ReadOptions, Store, StoreError};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A query with a filter, creation order, first 1000.
pub fn q(filter: Option<&str>) -> Query {
    Query {
        filter: filter.map(|f| Filter::parse(f).unwrap()),
        sort_by: None,
        sort_order: SortOrder::Ascending,
        pagination: Pagination::Index { start_index: 1, count: 1000 },
        read: ReadOptions::default(),
    }
}

async fn names(s: &Arc<dyn Store>, org: OrganizationSid, filter: &str) -> BTreeSet<String> {
    let page =
        s.query(org, User, &q(Some(filter))).await.unwrap_or_else(|e| panic!("{filter}: {e:?}"));
    assert_eq!(page.total_results as usize, page.resources.len(), "{filter}");
    page.resources
        .iter()
        .map(|r| r.resource.get("userName").unwrap().as_str().unwrap().to_owned())
        .collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

async fn seed(s: &Arc<dyn Store>, org: OrganizationSid) {
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    for u in [
        json!({"userName":"Alice@x.io","externalId":"A-1","displayName":"Alice Smith","active":true,
               "name":{"givenName":"Alice","familyName":"Smith"},"title":"Engineer",
               "emails":[{"value":"Alice@x.io","type":"work","primary":true},{"value":"alice@home.net","type":"home"}],
               "addresses":[{"type":"work","locality":"Berlin","country":"DE"}],
               ent: {"employeeNumber":"E100","department":"R&D","manager":{"value":"US00"}},
               ACME: {"organizationId":"Org-A","level":3,"score":1.5,"ssoEnabled":true,"region":"EU","since":"2020-01-01T00:00:00Z"}}),
        json!({"userName":"bob@y.io","externalId":"a-1","displayName":"Bob","active":false,
               "name":{"givenName":"bob"},"title":"engineer 100%",
               "emails":[{"value":"bob@y.io","type":"home"}],
               "addresses":[{"type":"home","locality":"Paris"}],
               ent: {"employeeNumber":"E200"},
               ACME: {"organizationId":"org-a","level":10,"ssoEnabled":false,"region":"us","since":"2021-06-01T12:00:00+02:00"}}),
        json!({"userName":"carol_1@x.io","active":true,"title":"",
               "emails":[],
               ACME: {"level":-1}}),
    ] {
        user(s, org, u).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn indexed_columns() {
    each(|env| async move {
        let s = &env.store;
        seed(s, env.a).await;
        let n = |f: &'static str| names(s, env.a, f);
        assert_eq!(n("userName eq \"ALICE@X.IO\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("userName ne \"alice@x.io\"").await, set(&["bob@y.io", "carol_1@x.io"]));
        assert_eq!(n("userName co \"X.IO\"").await, set(&["Alice@x.io", "carol_1@x.io"]));
        assert_eq!(n("userName sw \"B\"").await, set(&["bob@y.io"]));
        assert_eq!(n("userName ew \"@X.io\"").await, set(&["Alice@x.io", "carol_1@x.io"]));
        assert_eq!(n("userName gt \"b\"").await, set(&["bob@y.io", "carol_1@x.io"]));
        assert_eq!(n("userName ge \"bob@y.io\"").await, set(&["bob@y.io", "carol_1@x.io"]));
        assert_eq!(n("userName lt \"B\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("userName le \"alice@x.io\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("userName pr").await.len(), 3);
        // LIKE metacharacters are literal.
        assert_eq!(n("userName co \"_\"").await, set(&["carol_1@x.io"]));
        assert_eq!(n("userName co \"%\"").await, set(&[]));
        assert_eq!(n("title co \"100%\"").await, set(&["bob@y.io"]));
        // externalId is caseExact.
        assert_eq!(n("externalId eq \"A-1\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("externalId sw \"a\"").await, set(&["bob@y.io"]));
        assert_eq!(n("externalId pr").await.len(), 2);
        assert_eq!(n("not (externalId pr)").await, set(&["carol_1@x.io"]));
        assert_eq!(n("externalId eq null").await, set(&["carol_1@x.io"]));
        assert_eq!(n("displayName eq \"alice smith\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("active eq true").await, set(&["Alice@x.io", "carol_1@x.io"]));
        assert_eq!(n("active ne true").await, set(&["bob@y.io"]));
        assert_eq!(n("meta.created gt \"2000-01-01T00:00:00Z\"").await.len(), 3);
        assert_eq!(n("meta.lastModified lt \"2000-01-01T00:00:00+01:00\"").await.len(), 0);
        // emails.value through its lookup table, case-insensitively.
        assert_eq!(n("emails.value eq \"ALICE@HOME.NET\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("emails co \"@y.io\"").await, set(&["bob@y.io"]));
        assert_eq!(n("emails[value ew \".net\"]").await, set(&["Alice@x.io"]));
        assert_eq!(n("emails pr").await, set(&["Alice@x.io", "bob@y.io"]));
        // id
        let page = s.query(env.a, User, &q(Some("userName eq \"bob@y.io\""))).await.unwrap();
        let id = page.resources[0].id.clone();
        assert_eq!(names(s, env.a, &format!("id eq \"{id}\"")).await, set(&["bob@y.io"]));
        // Logic.
        assert_eq!(
            n("userName sw \"a\" or userName sw \"b\"").await,
            set(&["Alice@x.io", "bob@y.io"])
        );
        assert_eq!(
            n("userName co \"x.io\" and active eq true and not (userName sw \"c\")").await,
            set(&["Alice@x.io"])
        );
        assert_eq!(
            n("(userName sw \"a\" or userName sw \"b\") and active eq false").await,
            set(&["bob@y.io"])
        );
        // Groups: displayName.
        group(s, env.a, "Admins").await;
        group(s, env.a, "Sales").await;
        let page = s.query(env.a, Group, &q(Some("displayName eq \"admins\""))).await.unwrap();
        assert_eq!(page.resources.len(), 1);
        assert_eq!(page.resources[0].resource.get("displayName").unwrap(), "Admins");
        // Mistyped values match nothing.
        assert_eq!(n("active eq \"true\"").await, set(&[]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn json_attributes() {
    each(|env| async move {
        let s = &env.store;
        seed(s, env.a).await;
        let n = |f: &'static str| names(s, env.a, f);
        assert_eq!(n("name.givenName eq \"BOB\"").await, set(&["bob@y.io"]));
        assert_eq!(n("name.givenName pr").await, set(&["Alice@x.io", "bob@y.io"]));
        assert_eq!(n("name pr").await, set(&["Alice@x.io", "bob@y.io"]));
        assert_eq!(n("title eq \"ENGINEER\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("title co \"GIN\"").await, set(&["Alice@x.io", "bob@y.io"]));
        assert_eq!(n("title pr").await, set(&["Alice@x.io", "bob@y.io"]), "an empty string is not present");
        assert_eq!(n("title ne \"engineer\"").await, set(&["bob@y.io", "carol_1@x.io"]));
        assert_eq!(n("nickName eq \"x\"").await, set(&[]));
        assert_eq!(n("not (nickName eq \"x\")").await.len(), 3);
        // Enterprise extension, by full URN.
        assert_eq!(
            n("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"e100\"").await,
            set(&["Alice@x.io"])
        );
        assert_eq!(
            n("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"US00\"").await,
            set(&["Alice@x.io"])
        );
        assert_eq!(
            n("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department co \"&\"").await,
            set(&["Alice@x.io"])
        );
        // Vendor extension: caseExact string, integer, decimal, boolean, dateTime.
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:organizationId eq \"Org-A\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:organizationId co \"rg-\"").await, set(&["Alice@x.io", "bob@y.io"]));
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:organizationId sw \"O\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:region eq \"US\"").await, set(&["bob@y.io"]));
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:level gt 2").await, set(&["Alice@x.io", "bob@y.io"]));
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:level ge 10").await, set(&["bob@y.io"]));
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:level lt 0").await, set(&["carol_1@x.io"]));
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:level eq 3").await, set(&["Alice@x.io"]));
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:score le 1.5").await, set(&["Alice@x.io"]));
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:ssoEnabled eq true").await, set(&["Alice@x.io"]));
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:ssoEnabled eq false").await, set(&["bob@y.io"]));
        assert_eq!(n("urn:acme:scim:schemas:1.0:UserExtension:ssoEnabled pr").await, set(&["Alice@x.io", "bob@y.io"]));
        assert_eq!(
            n("urn:acme:scim:schemas:1.0:UserExtension:since gt \"2021-06-01T09:00:00Z\"").await,
            set(&["bob@y.io"])
        );
        // Multi-valued value filters over JSON.
        assert_eq!(n("emails[type eq \"work\" and value co \"@X.IO\"]").await, set(&["Alice@x.io"]));
        assert_eq!(n("emails[type eq \"home\"]").await, set(&["Alice@x.io", "bob@y.io"]));
        assert_eq!(n("emails[type eq \"home\" and not (value ew \".net\")]").await, set(&["bob@y.io"]));
        assert_eq!(n("emails[primary eq true]").await, set(&["Alice@x.io"]));
        // A sub-attribute comparison after the value filter (Entra ID): one element must
        // satisfy both, so Alice's home address does not match as her work one.
        assert_eq!(n("emails[type eq \"work\"].value eq \"ALICE@x.io\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("emails[type eq \"work\"].value eq \"alice@home.net\"").await, set(&[]));
        assert_eq!(n("emails[type eq \"home\"].value ew \".net\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("emails[type eq \"home\"].value pr").await, set(&["Alice@x.io", "bob@y.io"]));
        assert_eq!(n("addresses[type eq \"home\"].locality eq \"paris\"").await, set(&["bob@y.io"]));
        assert_eq!(n("not (emails[type eq \"work\"].value pr)").await, set(&["bob@y.io", "carol_1@x.io"]));
        assert_eq!(n("emails.type eq \"WORK\"").await, set(&["Alice@x.io"]));
        assert_eq!(n("addresses[type eq \"work\" and locality eq \"berlin\"]").await, set(&["Alice@x.io"]));
        assert_eq!(n("addresses.locality sw \"P\"").await, set(&["bob@y.io"]));
        assert_eq!(n("addresses[country pr]").await, set(&["Alice@x.io"]));
        assert_eq!(n("name[givenName eq \"alice\"]").await, set(&["Alice@x.io"]));
        assert_eq!(n("schemas eq \"urn:ietf:params:scim:schemas:core:2.0:User\"").await.len(), 3);
        // Mixed JSON and columns.
        assert_eq!(n("emails[type eq \"home\"] and active eq false").await, set(&["bob@y.io"]));

        // Unknown attributes are an invalidFilter error.
        for bad in ["nope eq \"x\"", "name.nope eq \"x\"", "emails[nope eq \"x\"]", "urn:x:y:Z:a eq \"b\""] {
            let e = s.query(env.a, User, &q(Some(bad))).await.unwrap_err();
            let StoreError::Scim(e) = e else { panic!("{bad}: {e:?}") };
            assert_eq!(e.code, scim_core::ErrorCode::InvalidFilter, "{bad}");
        }
        let e = s.query(env.a, Group, &q(Some("userName eq \"x\""))).await.unwrap_err();
        assert!(matches!(e, StoreError::Scim(_)));
    })
    .await;
}

/// An `emails` element without a `value` (left by a PATCH that removed it) is still an
/// element: `emails pr` matches it, and so do value filters that hold without a value. The
/// `resource_emails` rows hold values only, so these run over the JSON instead.
#[tokio::test(flavor = "multi_thread")]
async fn email_elements_without_a_value() {
    each(|env| async move {
        let s = &env.store;
        user(s, env.a, json!({"userName":"typed@x.io","emails":[{"type":"work","primary":true}]}))
            .await;
        user(s, env.a, json!({"userName":"valued@x.io","emails":[{"value":"v@x.io"}]})).await;
        user(s, env.a, json!({"userName":"none@x.io"})).await;
        let n = |f: &'static str| names(s, env.a, f);
        assert_eq!(n("emails pr").await, set(&["typed@x.io", "valued@x.io"]));
        assert_eq!(n("not (emails pr)").await, set(&["none@x.io"]));
        assert_eq!(n("emails.value pr").await, set(&["valued@x.io"]));
        assert_eq!(n("emails[not (value pr)]").await, set(&["typed@x.io"]));
        assert_eq!(n("emails[value ne \"v@x.io\"]").await, set(&["typed@x.io"]));
        assert_eq!(n("emails[value eq \"V@X.IO\"]").await, set(&["valued@x.io"]));
        assert_eq!(n("emails.value ne \"v@x.io\"").await, set(&["typed@x.io", "none@x.io"]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_isolation() {
    each(|env| async move {
        let s = &env.store;
        let ua = user(s, env.a, json!({"userName":"same@x.io","externalId":"e"})).await;
        let ub = user(s, env.b, json!({"userName":"same@x.io","externalId":"e"})).await;
        let ga = group(s, env.a, "G").await;
        let pa = s.query(env.a, User, &q(Some("userName eq \"same@x.io\""))).await.unwrap();
        assert_eq!(
            pa.resources.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            vec![ua.id.clone()]
        );
        let pb = s.query(env.b, User, &q(None)).await.unwrap();
        assert_eq!(
            pb.resources.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            vec![ub.id.clone()]
        );
        assert_eq!(s.query(env.b, Group, &q(None)).await.unwrap().total_results, 0);
        assert!(s.get(env.b, rid(User, &ua.id), ReadOptions::ALL).await.unwrap().is_none());
        assert!(s.get(env.b, rid(Group, &ga.id), ReadOptions::ALL).await.unwrap().is_none());
        let e = s
            .modify(
                env.b,
                rid(User, &ua.id),
                None,
                ReadOptions::default(),
                Box::new(|cur| {
                    Ok(scim_store::Change {
                        resource: cur.resource.clone(),
                        members: vec![],
                        password_hash: None,
                        changed: true,
                    })
                }),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound(_)));
        assert!(matches!(
            s.delete(env.b, rid(User, &ua.id), None, false).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.delete(env.b, rid(User, &ua.id), None, true).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(s.get(env.a, rid(User, &ua.id), ReadOptions::ALL).await.unwrap().is_some());
        let q_id = q(Some(&format!("id eq \"{}\"", ua.id)));
        assert_eq!(s.query(env.b, User, &q_id).await.unwrap().total_results, 0);
        assert!(
            s.changes(env.b, 0, 100).await.unwrap().iter().all(|c| c.id != ua.id && c.id != ga.id)
        );
    })
    .await;
}

/// Many concurrent scans (more than the store runs at once) next to point reads: every
/// answer is complete and right, none is lost while scans wait their turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scans_and_point_reads() {
    each(|env| async move {
        let s = &env.store;
        seed(s, env.a).await;
        let alice = s.query(env.a, User, &q(Some(r#"userName eq "alice@x.io""#))).await.unwrap();
        let alice_id = alice.resources[0].id.clone();
        let mut tasks = Vec::new();
        for i in 0..12 {
            let s = s.clone();
            let org = env.a;
            let id = alice_id.clone();
            tasks.push(tokio::spawn(async move {
                if i % 3 == 0 {
                    let got = s.get(org, rid(User, &id), ReadOptions::default()).await.unwrap();
                    assert_eq!(got.map(|r| r.id), Some(id));
                } else {
                    // Not index-served: JSON functions on every row, and a COUNT.
                    let page =
                        s.query(org, User, &q(Some(r#"title co "engineer""#))).await.unwrap();
                    assert_eq!(page.total_results, 2);
                    assert_eq!(page.resources.len(), 2);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await;
}

/// The figures `columns` (`float8` expressions of `pg_class`) of the `resources` table,
/// read every 50 ms until `enough` holds of them or 10 s have passed.
async fn resources_pg_class(
    env: &Env,
    columns: &[&str],
    enough: impl Fn(&[f64]) -> bool,
) -> Vec<f64> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let conn = Database::connect(env.url()).await.unwrap();
    let list: Vec<String> =
        columns.iter().enumerate().map(|(i, c)| format!("({c})::float8 AS c{i}")).collect();
    let sql = format!("SELECT {} FROM pg_class WHERE relname = 'resources'", list.join(", "));
    let mut seen = Vec::new();
    for _ in 0..200 {
        let row = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), sql.clone()))
            .await
            .unwrap()
            .unwrap();
        seen =
            (0..columns.len()).map(|i| row.try_get::<f64>("", &format!("c{i}")).unwrap()).collect();
        if enough(&seen) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    conn.close().await.unwrap();
    seen
}

/// PostgreSQL plans from statistics; the store refreshes them as the data grows (a fresh
/// database, a bulk load or a server with autovacuum off would otherwise have none, and a
/// lookup by id would scan the organization).
#[tokio::test(flavor = "multi_thread")]
async fn postgres_statistics_follow_growth() {
    each(|env| async move {
        if env.backend != Backend::Postgres {
            return;
        }
        let users: Vec<_> =
            (0..600).map(|i| new_user(json!({"userName": format!("u{i}@x.io")}))).collect();
        env.store.create_many(env.a, User, users).await.unwrap();
        let seen = resources_pg_class(&env, &["reltuples"], |s| s[0] >= 600.0).await;
        assert!(seen[0] >= 600.0, "resources statistics: {} rows", seen[0]);
    })
    .await;
}

/// A new row's page is not all-visible until a vacuum marks it, and until then a page by
/// `startIndex` visits the table for every row its offset skips: the store vacuums the
/// tables that grew once a burst of inserts has ended (autovacuum may come a minute later).
#[tokio::test(flavor = "multi_thread")]
async fn postgres_settles_new_rows_after_a_burst() {
    each(|env| async move {
        if env.backend != Backend::Postgres {
            return;
        }
        for chunk in 0..3 {
            let users: Vec<_> = (0..400)
                .map(|i| new_user(json!({"userName": format!("u{chunk}-{i}@x.io")})))
                .collect();
            env.store.create_many(env.a, User, users).await.unwrap();
        }
        let all_visible = |s: &[f64]| s[1] > 0.0 && s[0] >= s[1];
        let seen = resources_pg_class(&env, &["relallvisible", "relpages"], all_visible).await;
        assert!(all_visible(&seen), "{} of {} pages all-visible", seen[0], seen[1]);
    })
    .await;
}
