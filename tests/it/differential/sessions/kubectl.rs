//! What kubectl shows and does: tables, errors, waits; and the discovery documents it
//! and kube-rs read.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    AGGREGATED_DISCOVERY, Obs, Side, cm_uri, configmap, crd, create, establish, expect_ok,
};

/// A kubectl table as rows of cells, the AGE column masked (it is a duration).
fn table(stdout: &str) -> Value {
    let mut age = None;
    let mut rows = Vec::new();
    for (i, line) in stdout.lines().enumerate() {
        let cells: Vec<&str> = line.split_whitespace().collect();
        if i == 0 {
            age = cells.iter().position(|c| *c == "AGE" || *c == "CREATED");
        }
        let row: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(j, c)| {
                if i > 0 && (Some(j) == age || c.contains('T') && c.ends_with('Z')) {
                    "<age>".to_owned()
                } else {
                    (*c).to_owned()
                }
            })
            .collect();
        rows.push(row);
    }
    json!(rows)
}

/// Exit code, stdout (as a table or text) and stderr, without client-go's own log lines
/// (`E1130 08:18:06.127598 ...`: how its watches ended as the command's own deadline
/// came, a race on the client's side).
fn run_seen(out: &std::process::Output, as_table: bool) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let klog = regex::Regex::new(r"^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+ ").unwrap();
    let stderr: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !klog.is_match(l))
        .map(str::to_owned)
        .collect();
    json!({
        "exit": out.status.code(),
        "stdout": if as_table { table(&stdout) } else { json!(stdout.trim()) },
        "stderr": stderr.join("\n").trim(),
    })
}

/// `kubectl get`: tables of ConfigMaps, a namespace, a CRD and its custom resources,
/// `-o name`, jsonpath, and a missing object.
pub async fn kubectl_get(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    for name in ["k2", "k1"] {
        expect_ok(
            &s,
            "create",
            &create(
                &s,
                &cm_uri(&ns, None),
                &configmap(
                    &ns,
                    name,
                    json!({"show": "yes"}),
                    json!({"a": "1", "b": "2"}),
                ),
            )
            .await,
        );
    }
    let group = "get.diff.example";
    establish(&s, &crd(group, "Trinket", "trinkets")).await;
    expect_ok(
        &s,
        "create",
        &create(
            &s,
            &format!("/apis/{group}/v1/namespaces/{ns}/trinkets"),
            &json!({"apiVersion": format!("{group}/v1"), "kind": "Trinket", "metadata": {"name": "t"}}),
        )
        .await,
    );
    let k = &s.kubectl;
    let steps: Vec<(&str, Vec<String>, bool)> = vec![
        (
            "configmaps",
            vec!["get", "configmaps", "-n", &ns, "-l", "show=yes"]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
        ),
        (
            "namespace",
            vec!["get", "namespace", &ns]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
        ),
        (
            "crd",
            vec!["get", "crd", &format!("trinkets.{group}")]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
        ),
        (
            "custom",
            vec!["get", "trinkets", "-n", &ns]
                .into_iter()
                .map(String::from)
                .collect(),
            true,
        ),
        (
            "names",
            vec![
                "get",
                "configmaps",
                "-n",
                &ns,
                "-l",
                "show=yes",
                "-o",
                "name",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            false,
        ),
        (
            "jsonpath",
            vec![
                "get",
                "configmap",
                "k1",
                "-n",
                &ns,
                "-o",
                "jsonpath={.data.b}",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            false,
        ),
        (
            "missing",
            vec!["get", "configmap", "absent", "-n", &ns]
                .into_iter()
                .map(String::from)
                .collect(),
            false,
        ),
        (
            "missing_ignored",
            vec![
                "get",
                "configmap",
                "absent",
                "-n",
                &ns,
                "--ignore-not-found",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            false,
        ),
        (
            "none",
            vec!["get", "configmaps", "-n", &ns, "-l", "show=no"]
                .into_iter()
                .map(String::from)
                .collect(),
            false,
        ),
    ];
    for (step, args, as_table) in steps {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        o.put(step, run_seen(&k.run(&args).await, as_table));
    }
    o.done()
}

/// `kubectl wait`: for deletion (timeout and already gone), for a condition, for a
/// jsonpath value.
pub async fn kubectl_wait(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    expect_ok(
        &s,
        "create",
        &create(
            &s,
            &cm_uri(&ns, None),
            &configmap(&ns, "w", json!({}), json!({"a": "1"})),
        )
        .await,
    );
    let k = &s.kubectl;
    o.put(
        "delete_timeout",
        run_seen(
            &k.run(&[
                "wait",
                "--for=delete",
                "configmap/w",
                "-n",
                &ns,
                "--timeout=3s",
            ])
            .await,
            false,
        ),
    );
    o.put(
        "delete_absent",
        run_seen(
            &k.run(&[
                "wait",
                "--for=delete",
                "configmap/absent",
                "-n",
                &ns,
                "--timeout=5s",
            ])
            .await,
            false,
        ),
    );
    o.put(
        "jsonpath",
        run_seen(
            &k.run(&[
                "wait",
                "--for=jsonpath={.data.a}=1",
                "configmap/w",
                "-n",
                &ns,
                "--timeout=30s",
            ])
            .await,
            false,
        ),
    );
    let group = "wait.diff.example";
    establish(&s, &crd(group, "Bauble", "baubles")).await;
    o.put(
        "condition",
        run_seen(
            &k.run(&[
                "wait",
                "--for=condition=Established",
                &format!("crd/baubles.{group}"),
                "--timeout=30s",
            ])
            .await,
            false,
        ),
    );
    o.done()
}

/// Discovery: `/api`, the entries of the resources the sandbox serves in `/api/v1`,
/// `/apis/apps/v1` and `/apis/apiextensions.k8s.io/v1`, the aggregated `/apis` for
/// those groups, `/version`'s keys, and `kubectl api-resources` for them.
pub async fn discovery(s: Arc<Side>, _ns: String) -> Value {
    let mut o = Obs::default();
    let api = s.get_json("/api").await;
    o.put(
        "api",
        json!({"kind": api["kind"], "versions": api["versions"]}),
    );
    let wanted: &[(&str, &[&str])] = &[
        (
            "/api/v1",
            &[
                "namespaces",
                "namespaces/status",
                "namespaces/finalize",
                "configmaps",
                "secrets",
            ],
        ),
        (
            "/apis/apps/v1",
            &["deployments", "deployments/status", "deployments/scale"],
        ),
        (
            "/apis/apiextensions.k8s.io/v1",
            &[
                "customresourcedefinitions",
                "customresourcedefinitions/status",
            ],
        ),
    ];
    for (path, names) in wanted {
        let list = s.get_json(path).await;
        let resources: Vec<Value> = names
            .iter()
            .map(|n| {
                list["resources"]
                    .as_array()
                    .and_then(|rs| rs.iter().find(|r| r["name"] == *n))
                    .cloned()
                    .unwrap_or(Value::Null)
            })
            .collect();
        o.put(
            path,
            json!({"kind": list["kind"], "groupVersion": list["groupVersion"], "resources": resources}),
        );
    }
    let agg = s
        .raw_with(
            "GET",
            "/apis",
            &[("accept", AGGREGATED_DISCOVERY)],
            None,
            None,
        )
        .await;
    o.put("aggregated_content_type", agg.content_type.clone());
    let groups: Vec<Value> = agg.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|g| {
                    matches!(
                        g["metadata"]["name"].as_str(),
                        Some("apps" | "apiextensions.k8s.io")
                    )
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    o.put("aggregated_groups", groups);
    // The core group's namespaces, with their subresources.
    let core = s
        .raw_with(
            "GET",
            "/api",
            &[("accept", AGGREGATED_DISCOVERY)],
            None,
            None,
        )
        .await;
    let namespaces = core.body["items"][0]["versions"][0]["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["resource"] == "namespaces"))
        .cloned()
        .unwrap_or(Value::Null);
    o.put("aggregated_namespaces", namespaces);
    let version = s.get_json("/version").await;
    let mut keys: Vec<&String> = version
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    keys.sort();
    o.put("version_keys", json!(keys));
    o.put("version_major", version["major"].clone());
    let out = s
        .kubectl
        .run(&["api-resources", "--api-group=apps", "--no-headers"])
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let deployments: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("deployments"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    o.put("kubectl_api_resources", json!(deployments));
    o.done()
}
