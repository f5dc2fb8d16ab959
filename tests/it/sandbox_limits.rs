//! The sandbox enforces the real API server's limits and checks, with its answers:
//! body size, object size, body formats (kubectl's protobuf), label selectors,
//! continue tokens, `$patch` directives, ConfigMap data types, a bounded request log.

use serde_json::{Value, json};

use crate::support::{raw_http, start_sandbox};

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: ns}\ndata: {a: \"1\", b: \"2\"}\n";

fn status(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// GETs `path`, expecting a refusal with `code`: its message.
async fn refused_get(addr: std::net::SocketAddr, path: &str, code: u16) -> String {
    let (got, text) = raw_http(addr, "GET", path, &[], b"").await;
    assert_eq!(got, code, "{path}: {text}");
    status(&text)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[tokio::test]
async fn bodies_over_3_mib_get_413_and_objects_over_1_5_mib_the_etcd_error() {
    let sb = start_sandbox(planrun_sandbox::Scenario::default(), &[NS]).await;
    let addr = sb.addr();
    let big = "x".repeat(4 * 1024 * 1024);
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": big}}).to_string();
    let (code, text) = raw_http(
        addr,
        "POST",
        "/api/v1/namespaces/ns/configmaps",
        &[JSON],
        body.as_bytes(),
    )
    .await;
    assert_eq!(code, 413, "{text}");
    let s = status(&text);
    assert_eq!(s["reason"], "RequestEntityTooLarge");
    assert_eq!(s["message"], "Request entity too large: limit is 3145728");
    // 2 MiB: read, but over what etcd stores.
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": "y".repeat(2 * 1024 * 1024)}}).to_string();
    let (code, text) = raw_http(
        addr,
        "POST",
        "/api/v1/namespaces/ns/configmaps",
        &[JSON],
        body.as_bytes(),
    )
    .await;
    assert_eq!(code, 500, "{text}");
    assert_eq!(status(&text)["message"], "etcdserver: request is too large");
    assert!(sb.state().get("v1", "ConfigMap", "ns", "big").is_none());
    sb.shutdown().await;
}

#[tokio::test]
async fn bodies_in_unknown_formats_get_415() {
    let sb = start_sandbox(planrun_sandbox::Scenario::default(), &[NS]).await;
    let addr = sb.addr();
    for (content_type, body) in [
        ("application/cbor", &b"\xa1\x61a\x01"[..]),
        ("text/plain", b"{}"),
        // A kind the sandbox does not read in protobuf.
        (
            "application/vnd.kubernetes.protobuf",
            b"k8s\x00\x0a\x09\x0a\x02v1\x12\x03Pod\x12\x00",
        ),
    ] {
        let (code, text) = raw_http(
            addr,
            "POST",
            "/api/v1/namespaces/ns/configmaps",
            &[("Content-Type", content_type)],
            body,
        )
        .await;
        assert_eq!(code, 415, "{content_type}: {text}");
        let s = status(&text);
        assert_eq!(s["reason"], "UnsupportedMediaType");
        assert_eq!(
            s["message"],
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"
        );
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn label_selectors_continue_tokens_patch_directives_and_data_types_as_the_real_server() {
    let other = CM.replace("name: cm,", "name: other,");
    let sb = start_sandbox(planrun_sandbox::Scenario::default(), &[NS, CM, &other]).await;
    let addr = sb.addr();
    // `!!!===` is no selector: 400, not everything.
    let path = "/api/v1/namespaces/ns/configmaps?labelSelector=%21%21%21%3D%3D%3D";
    assert!(
        refused_get(addr, path, 400)
            .await
            .starts_with("unable to parse requirement")
    );
    // A garbage continue token: 400, not an empty list.
    let path = "/api/v1/namespaces/ns/configmaps?limit=1&continue=garbage";
    assert!(
        refused_get(addr, path, 400)
            .await
            .starts_with("invalid continue token: continue key is not valid")
    );
    // A real token pages on.
    let (_, first) = raw_http(addr, "GET", "/api/v1/configmaps?limit=1", &[], b"").await;
    let first = status(&first);
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("a continue token");
    let (code, text) = raw_http(
        addr,
        "GET",
        &format!("/api/v1/configmaps?limit=1&continue={token}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(code, 200, "{text}");
    // An unknown `$patch`: refused (the real server's 500), nothing changed; `delete`
    // empties the map, as the real server does.
    let smp = ("Content-Type", "application/strategic-merge-patch+json");
    let (code, text) = raw_http(
        addr,
        "PATCH",
        "/api/v1/namespaces/ns/configmaps/cm",
        &[smp],
        br#"{"data":{"$patch":"garbage"}}"#,
    )
    .await;
    assert_eq!(code, 500, "{text}");
    assert_eq!(
        status(&text)["message"],
        "unknown patch type: garbage in map: map[$patch:garbage]"
    );
    assert_eq!(
        sb.state().get("v1", "ConfigMap", "ns", "cm").unwrap()["data"],
        json!({"a": "1", "b": "2"})
    );
    // ConfigMap data holds strings only.
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typed"}, "data": {"n": 1}}).to_string();
    let (code, text) = raw_http(
        addr,
        "POST",
        "/api/v1/namespaces/ns/configmaps",
        &[JSON],
        body.as_bytes(),
    )
    .await;
    assert_eq!(code, 400, "{text}");
    assert_eq!(
        status(&text)["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
    );
    let merge = ("Content-Type", "application/merge-patch+json");
    let (code, text) = raw_http(
        addr,
        "PATCH",
        "/api/v1/namespaces/ns/configmaps/cm",
        &[merge],
        br#"{"data":{"a":{"x":true}}}"#,
    )
    .await;
    assert_eq!(code, 400, "{text}");
    sb.shutdown().await;
}

#[tokio::test]
async fn the_request_log_keeps_the_latest_requests_only() {
    let sb = start_sandbox(planrun_sandbox::Scenario::default(), &[NS]).await;
    let client = sb.client().await.unwrap();
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
    let cap = planrun_sandbox::REQUEST_LOG_CAPACITY;
    for _ in 0..cap + 50 {
        api.get("ns").await.unwrap();
    }
    assert_eq!(sb.requests().len(), cap);
    sb.shutdown().await;
}
