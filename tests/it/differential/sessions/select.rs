//! Lists: their resourceVersion, order, pages, and label and field selectors.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use super::{Obs, Side, cm_uri, configmap, create, expect_ok, rv};

/// Creates `names` as ConfigMaps labelled `set=<set>` plus `labels` each.
async fn seed(s: &Side, ns: &str, set: &str, objects: &[(&str, Value)]) -> Vec<Value> {
    let mut out = Vec::new();
    for (name, labels) in objects {
        let mut labels = labels.clone();
        labels["set"] = json!(set);
        let raw = create(
            s,
            &cm_uri(ns, None),
            &configmap(ns, name, labels, json!({})),
        )
        .await;
        expect_ok(s, "create a ConfigMap", &raw);
        out.push(raw.body);
    }
    out
}

fn names(list: &Value) -> Value {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["metadata"]["name"].clone())
                .collect::<Vec<_>>()
        })
        .into()
}

/// A list's resourceVersion is at least every item's; items come sorted by name
/// whatever the creation order; kube-rs lists the same.
pub async fn list_resource_version(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let created = seed(
        &s,
        &ns,
        "rv",
        &[("c", json!({})), ("a", json!({})), ("b", json!({}))],
    )
    .await;
    let list = s
        .get_json(&format!("{}?labelSelector=set%3Drv", cm_uri(&ns, None)))
        .await;
    o.put("kind", list["kind"].clone());
    o.put("api_version", list["apiVersion"].clone());
    o.put("names", names(&list));
    let list_rv: u64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    o.put(
        "list_rv_covers_items",
        created.iter().all(|c| rv(c) <= list_rv),
    );
    o.put(
        "creation_rvs_increase",
        created.windows(2).all(|w| rv(&w[0]) < rv(&w[1])),
    );
    o.put("items_have_kind", list["items"][0].get("kind").is_some());
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let kube = api
        .list(&ListParams::default().labels("set=rv"))
        .await
        .unwrap();
    o.put(
        "kube_names",
        kube.items.iter().map(|c| c.name_any()).collect::<Vec<_>>(),
    );
    // Across namespaces too (the cluster-wide URL), with the namespace in each item.
    let all = s
        .get_json("/api/v1/configmaps?labelSelector=set%3Drv")
        .await;
    let where_: Vec<Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!([i["metadata"]["namespace"], i["metadata"]["name"]]))
        .collect();
    o.put("cluster_wide", where_);
    o.done()
}

/// `limit` and `continue`: pages in name order, `remainingItemCount` on all but the
/// last, and a continue token that works.
pub async fn list_pages(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    seed(
        &s,
        &ns,
        "pages",
        &[
            ("p1", json!({})),
            ("p2", json!({})),
            ("p3", json!({})),
            ("p4", json!({})),
            ("p5", json!({})),
        ],
    )
    .await;
    let base = format!("{}?labelSelector=set%3Dpages&limit=2", cm_uri(&ns, None));
    let mut pages = Vec::new();
    let mut next = String::new();
    for _ in 0..4 {
        let uri = if next.is_empty() {
            base.clone()
        } else {
            format!("{base}&continue={next}")
        };
        let page = s.get_json(&uri).await;
        let cont = page["metadata"]["continue"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        pages.push(json!({
            "names": names(&page),
            "has_continue": !cont.is_empty(),
            "remaining": page["metadata"]["remainingItemCount"].clone(),
        }));
        if cont.is_empty() {
            break;
        }
        next = cont;
    }
    o.put("pages", pages);
    let bad = s
        .raw("GET", &format!("{base}&continue=not-a-token"), None, None)
        .await;
    o.put("bad_continue", bad.seen());
    o.done()
}

/// Label selectors: equality, inequality, existence, set-based, several at once, and a
/// malformed one.
pub async fn label_selectors(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    seed(
        &s,
        &ns,
        "labels",
        &[
            ("one", json!({"tier": "web", "env": "prod"})),
            ("two", json!({"tier": "db", "env": "prod"})),
            ("three", json!({"tier": "web"})),
            ("four", json!({"env": "dev"})),
        ],
    )
    .await;
    let selectors = [
        "tier=web",
        "tier==web",
        "tier!=web",
        "env",
        "!env",
        "tier in (web,db)",
        "tier notin (web)",
        "tier=web,env=prod",
        "env,tier!=db",
        "tier in (web),!env",
    ];
    let mut seen = serde_json::Map::new();
    for sel in selectors {
        let q = format!("set=labels,{sel}");
        let list = s
            .get_json(&format!(
                "{}?labelSelector={}",
                cm_uri(&ns, None),
                urlencode(&q)
            ))
            .await;
        let mut n: Vec<String> = names(&list)
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        n.sort();
        seen.insert(sel.to_owned(), json!(n));
    }
    o.put("matches", Value::Object(seen));
    for (step, bad) in [("malformed", "tier=in=web"), ("bad_value", "tier=a b")] {
        let raw = s
            .raw(
                "GET",
                &format!("{}?labelSelector={}", cm_uri(&ns, None), urlencode(bad)),
                None,
                None,
            )
            .await;
        o.put(step, raw.seen());
    }
    o.done()
}

/// Field selectors: metadata.name and metadata.namespace (=, ==, !=), a namespace's
/// status.phase, and an unsupported field.
pub async fn field_selectors(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    seed(&s, &ns, "fields", &[("f1", json!({})), ("f2", json!({}))]).await;
    let mut seen = serde_json::Map::new();
    for sel in [
        "metadata.name=f1",
        "metadata.name==f2",
        "metadata.name!=f1",
        &format!("metadata.namespace={ns}"),
        "metadata.namespace=elsewhere",
    ] {
        let list = s
            .get_json(&format!(
                "{}?labelSelector=set%3Dfields&fieldSelector={}",
                cm_uri(&ns, None),
                urlencode(sel)
            ))
            .await;
        seen.insert(sel.replace(ns.as_str(), "<ns>"), names(&list));
    }
    o.put("matches", Value::Object(seen));
    let phase = s
        .get_json(&format!(
            "/api/v1/namespaces?fieldSelector={}",
            urlencode(&format!("metadata.name={ns},status.phase=Active"))
        ))
        .await;
    o.put("namespace_phase", names(&phase));
    let raw = s
        .raw(
            "GET",
            &format!("{}?fieldSelector=spec.foo%3Dbar", cm_uri(&ns, None)),
            None,
            None,
        )
        .await;
    o.put("unsupported", raw.seen());
    o.done()
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
