//! What every Kubernetes task type promises, each written once and run against both
//! backends (see `kube_backend`): the embedded sandbox and the real control plane.
//! Every test works in namespaces and API groups of its own (`World::prefix`).
//!
//! Sandbox-only, and why (in `kube_tasks`, `kube_patch`, `kube_apply`,
//! `kube_finalizers`):
//! - injected faults: server errors, latency, watch drops, endless errors until the
//!   deadline, a conflict injected between a read and a write (an exact count of 409s),
//!   a removal that keeps conflicting, a group-version discovery cannot list — a real
//!   API server cannot be made to fail on cue;
//! - the sandbox's timing knobs: namespace and CRD finalization delays, a namespace
//!   stuck with conditions written on cue, Deployments ready after a set delay or never;
//! - the request log: a wait by watch (one list, then watches), PATCH counts — the real
//!   API server keeps no log a test can read;
//! - the simulated Flux controllers acting on finalizers (`kube_finalizers`), and the
//!   CLI tests that run whole plans against a sandbox of fixed cluster-wide names
//!   (`flux-system`, the Flux CRDs) — the real side of those is `flux_rebuild_real`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use planrun::exec::kube::{
    KubeError, TaskEnv, assert_deployments, assert_field_managers, capture, kube_apply,
    kube_delete, kube_patch, wait_absent, wait_condition,
};
use planrun::redact::Redactor;
use planrun::validate::{
    ApplySource, AssertDeployments, AssertFieldManagers, Capture, KindSet, KubeApply, KubePatch,
    Namespaces, ObjectName, PatchChange, Selection, Target, TaskRef, WaitAbsent, WaitCondition,
};
use regex::Regex;
use serde_json::{Value, json};

use crate::kube_backend::{CLIENT_SIDE_APPLY, World, on_both_backends};
use crate::kube_harness::{SHORT, delete, name, pattern};
use crate::kube_tasks::{planrun_cli, pulumi_owners};
use crate::pulumi::files_under;
use crate::support::managers;

/// Budget of a task expected to succeed: kwok's Pods and a new CRD take a few seconds
/// on the real side of a busy 2-core machine.
const LONG: Duration = Duration::from_secs(120);

on_both_backends!(
    a_delete_names_the_finalizers_and_the_wait_ends_when_they_go,
    a_wait_that_times_out_names_the_finalizer_that_holds_the_object,
    finalizers_go_from_several_kinds_of_the_groups_a_pattern_names_in_every_namespace,
    a_merge_patch_changes_each_object_once,
    captured_secrets_are_private_and_restored_only_where_absent,
    manifests_are_applied_as_the_field_manager,
    deployments_are_asserted_at_their_tags,
    field_managers_name_client_side_apply_and_accept_the_owners,
    a_wait_for_a_condition_explains_what_it_saw_and_ends_when_it_holds,
    planrun_run_captures_deletes_and_waits_and_keeps_the_secret_in_the_capture_alone,
    a_namespace_held_by_its_content_is_waited_for_until_the_finalizer_goes,
    a_namespace_held_by_a_pod_names_the_pod,
    a_namespace_delete_says_the_controller_in_it_is_stopped_first,
    a_field_the_kind_does_not_declare_is_refused_at_once_and_named,
    a_credential_plugin_that_fails_is_tried_again_and_what_it_printed_stays_private,
);

fn widget(group: &str, kind: &str, ns: &str, name: &str, finalizers: &[&str]) -> String {
    format!(
        "apiVersion: {group}/v1\nkind: {kind}\nmetadata: {{name: {name}, namespace: {ns}, finalizers: {finalizers:?}}}\nspec: {{size: 1}}\n"
    )
}

/// A ConfigMap with `data: {k: v}`.
fn config_map(ns: &str, name: &str) -> String {
    format!(
        "{{apiVersion: v1, kind: ConfigMap, metadata: {{name: {name}, namespace: {ns}}}, data: {{k: v}}}}"
    )
}

fn namespace(name: &str) -> String {
    format!("{{apiVersion: v1, kind: Namespace, metadata: {{name: {name}}}}}")
}

fn finalizers_of(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| a.iter().map(|f| f.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Waits until the progress lines from the `from`th on contain `line`.
async fn said(w: &World, from: usize, line: &str) {
    let deadline = tokio::time::Instant::now() + LONG;
    while !w.lines.all().iter().skip(from).any(|l| l == line) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never said {line:?}: {:#?}",
            w.lines.all()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs wait-absent on `sel` and, once this wait has said `line`, removes every
/// finalizer of the object named `held` (of `held_ref`'s kind, in its namespace);
/// what the wait ended with.
async fn wait_while_released(
    w: &World,
    sel: Selection,
    line: &str,
    held_ref: Value,
) -> Result<String, KubeError> {
    let from = w.lines.all().len();
    let wait = async {
        let env = TaskEnv::new(&w.conn, &w.lines, LONG);
        wait_absent(&env, &WaitAbsent { selection: sel }).await
    };
    let release = async {
        said(w, from, line).await;
        w.merge(
            &held_ref,
            "held",
            json!({"metadata": {"finalizers": null}}),
            false,
        )
        .await;
    };
    let (gone, ()) = tokio::join!(wait, release);
    gone
}

/// Polls the object `(api_version, kind, namespace, name)` until it exists and `done`
/// holds for it, for at most [`LONG`].
async fn until_seen(
    w: &World,
    (api_version, kind, ns, name): (&str, &str, &str, &str),
    what: &str,
    done: impl Fn(&Value) -> bool,
) {
    let deadline = std::time::Instant::now() + LONG;
    while !w
        .get(api_version, kind, ns, name)
        .await
        .is_some_and(|o| done(&o))
    {
        assert!(std::time::Instant::now() < deadline, "never saw {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What `wait-absent` on `sel` says when it times out after [`SHORT`].
async fn timeout_text(w: &World, sel: &Selection) -> String {
    wait_absent(
        &w.env(SHORT),
        &WaitAbsent {
            selection: sel.clone(),
        },
    )
    .await
    .unwrap_err()
    .to_string()
}

/// A finalizer of the test's own, whose owner no Deployment on the shared cluster
/// names (the delete looks for one that may act on it).
fn holder(w: &World) -> String {
    format!("{}-owner.test/hold", w.prefix)
}

/// A Widget of the test's own group held by [`holder`] in a namespace of its own.
async fn held_widget(w: &World) -> (String, String, Selection) {
    let group = w.group("a");
    let ns = w.name("app");
    w.apply("planrun-test", &w.crd(&group, "Widget")).await;
    w.apply("planrun-test", &namespace(&ns)).await;
    w.apply(
        "planrun-test",
        &widget(&group, "Widget", &ns, "held", &[&holder(w)]),
    )
    .await;
    let sel = widgets(&group, &ns, name("held"));
    (group, ns, sel)
}

/// The Widgets of `group` in `ns` (by apiVersion: other tests have Widgets too).
fn widgets(group: &str, ns: &str, target: Target) -> Selection {
    Selection {
        kinds: KindSet::Kind {
            kind: "Widget".into(),
            api_version: Some(format!("{group}/v1")),
        },
        namespace: Namespaces::Named(ns.to_owned()),
        target,
    }
}

async fn a_delete_names_the_finalizers_and_the_wait_ends_when_they_go(w: World) {
    let (group, ns, sel) = held_widget(&w).await;
    let hold = holder(&w);
    let summary = kube_delete(&w.env(LONG), &delete(sel.clone()))
        .await
        .unwrap();
    assert_eq!(
        summary,
        format!(
            "deleted widgets/{ns}/held; 1 object carries finalizers ({hold}); \
             no running Deployment seems to act on them, so they may stay until removed"
        )
    );
    assert!(
        w.lines
            .all()
            .contains(&format!("widgets/{ns}/held carries finalizers [{hold}]")),
        "named before acting: {:#?}",
        w.lines.all()
    );
    let held = w
        .get(&format!("{group}/v1"), "Widget", &ns, "held")
        .await
        .unwrap();
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    let gone = wait_while_released(
        &w,
        sel,
        &format!("1 object left: {ns}/held, finalizer {hold}"),
        json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"namespace": ns}}),
    )
    .await;
    assert_eq!(
        gone.unwrap(),
        format!("widgets/held in namespace {ns} gone (1 deleted while waiting)")
    );
    w.finish().await;
}

async fn a_wait_that_times_out_names_the_finalizer_that_holds_the_object(w: World) {
    let (_, ns, sel) = held_widget(&w).await;
    let hold = holder(&w);
    kube_delete(&w.env(LONG), &delete(sel.clone()))
        .await
        .unwrap();
    let err = wait_absent(&w.env(SHORT), &WaitAbsent { selection: sel })
        .await
        .unwrap_err();
    let KubeError::TimedOut { details, .. } = &err else {
        panic!("{err}")
    };
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "timed out after 1.5s waiting for widgets/held in namespace {ns} to be gone"
        )),
        "{text}"
    );
    assert_eq!(details[0], format!("widgets/{ns}/held:"), "{text}");
    assert!(details[1].contains("being deleted since"), "{text}");
    assert!(
        details[1].contains(&format!("finalizers [{hold}]")),
        "{text}"
    );
    w.finish().await;
}

async fn finalizers_go_from_several_kinds_of_the_groups_a_pattern_names_in_every_namespace(
    w: World,
) {
    let (a, b) = (w.group("a"), w.group("b"));
    let (one, two) = (w.name("one"), w.name("two"));
    w.apply("planrun-test", &w.crd(&a, "Widget")).await;
    w.apply("planrun-test", &w.crd(&b, "Gadget")).await;
    w.apply("planrun-test", &namespace(&one)).await;
    w.apply("planrun-test", &namespace(&two)).await;
    w.apply(
        "planrun-test",
        &widget(
            &a,
            "Widget",
            &one,
            "w",
            &["example.com/hold", "example.com/keep"],
        ),
    )
    .await;
    w.apply(
        "planrun-test",
        &widget(&b, "Gadget", &two, "g", &["example.com/hold"]),
    )
    .await;
    w.apply("planrun-test", &widget(&a, "Widget", &two, "plain", &[]))
        .await;
    let every = Selection {
        kinds: KindSet::GroupPattern(
            Regex::new(&format!(r"\.{}\.planrun\.test$", w.prefix)).unwrap(),
        ),
        namespace: Namespaces::All,
        target: pattern(".*"),
    };
    let remove = |f: &str| KubePatch {
        selection: every.clone(),
        change: PatchChange::RemoveFinalizers(vec![f.to_owned()]),
    };
    let widget_ref =
        json!({"apiVersion": format!("{a}/v1"), "kind": "Widget", "metadata": {"namespace": one}});
    // Another writer labels the Widget while the finalizer goes: the removal never
    // writes a stale object over its changes (conflict-safe). Each of its writes can
    // cost the removal one attempt at most; four stay under the removal's five (a
    // writer that never stops makes it give up, saying so: `kube_patch`'s
    // `a_removal_that_keeps_conflicting_stops_with_a_clear_error`, and the real API
    // server does the same to it).
    let writer = async {
        for i in 0..4 {
            w.merge(
                &widget_ref,
                "w",
                json!({"metadata": {"labels": {"written": i.to_string()}}}),
                false,
            )
            .await;
        }
    };
    let (env, hold) = (w.env(LONG), remove("example.com/hold"));
    let (summary, ()) = tokio::join!(kube_patch(&env, &hold), writer);
    assert_eq!(
        summary.unwrap(),
        "removed example.com/hold from 2 objects in 2 namespaces; 1 had none"
    );
    let widget = w
        .get(&format!("{a}/v1"), "Widget", &one, "w")
        .await
        .unwrap();
    assert_eq!(finalizers_of(&widget), vec!["example.com/keep"]);
    assert_eq!(widget["metadata"]["labels"]["written"], "3", "{widget}");
    let gadget = w
        .get(&format!("{b}/v1"), "Gadget", &two, "g")
        .await
        .unwrap();
    assert!(finalizers_of(&gadget).is_empty(), "{gadget}");
    // The last one goes, then all three objects of both kinds, and the wait sees them go.
    kube_patch(&w.env(LONG), &remove("example.com/keep"))
        .await
        .unwrap();
    let deleted = kube_delete(&w.env(LONG), &delete(every.clone()))
        .await
        .unwrap();
    assert!(deleted.starts_with("deleted 3 objects"), "{deleted}");
    // Without finalizers they go at once, on both backends.
    let gone = wait_absent(&w.env(LONG), &WaitAbsent { selection: every })
        .await
        .unwrap();
    assert!(gone.ends_with("in all namespaces already absent"), "{gone}");
    for (api_version, kind, ns, name) in [
        (format!("{a}/v1"), "Widget", &one, "w"),
        (format!("{b}/v1"), "Gadget", &two, "g"),
        (format!("{a}/v1"), "Widget", &two, "plain"),
    ] {
        assert!(w.get(&api_version, kind, ns, name).await.is_none());
    }
    w.finish().await;
}

async fn a_merge_patch_changes_each_object_once(w: World) {
    let ns = w.name("cm");
    w.apply("planrun-test", &namespace(&ns)).await;
    w.apply("planrun-test", &config_map(&ns, "a")).await;
    w.apply(
        "planrun-test",
        &format!("{{apiVersion: v1, kind: ConfigMap, metadata: {{name: b, namespace: {ns}, labels: {{paused: 'yes'}}}}}}"),
    )
    .await;
    let merge = KubePatch {
        selection: Selection::of_kind("ConfigMap", Some(&ns), pattern("^[ab]$")),
        change: PatchChange::Merge(json!({"metadata": {"labels": {"paused": "yes"}}})),
    };
    let summary = kube_patch(&w.env(LONG), &merge).await.unwrap();
    assert_eq!(
        summary,
        "patched 1 object in 1 namespace; 1 already as patched"
    );
    let a = w.get("v1", "ConfigMap", &ns, "a").await.unwrap();
    assert_eq!(a["metadata"]["labels"]["paused"], "yes");
    assert_eq!(a["data"]["k"], "v");
    let version = a["metadata"]["resourceVersion"].clone();
    let summary = kube_patch(&w.env(LONG), &merge).await.unwrap();
    assert_eq!(summary, "patched 0 objects; 2 already as patched");
    let a = w.get("v1", "ConfigMap", &ns, "a").await.unwrap();
    assert_eq!(a["metadata"]["resourceVersion"], version, "written again");
    let json_patch = KubePatch {
        selection: Selection::of_kind("ConfigMap", Some(&ns), name("a")),
        change: PatchChange::Json(json!([
            {"op": "test", "path": "/data/k", "value": "v"},
            {"op": "replace", "path": "/data/k", "value": "w"},
        ])),
    };
    kube_patch(&w.env(LONG), &json_patch).await.unwrap();
    let a = w.get("v1", "ConfigMap", &ns, "a").await.unwrap();
    assert_eq!(a["data"]["k"], "w");
    // The `test` no longer holds: the API server refuses the patch (422).
    let err = kube_patch(&w.env(LONG), &json_patch).await.unwrap_err();
    assert!(matches!(err, KubeError::Api { code: 422, .. }), "{err}");
    // Every namespace must be asked for in so many words.
    let everywhere = KubePatch {
        selection: Selection::of_kind("ConfigMap", None, pattern(".*")),
        ..merge
    };
    let err = kube_patch(&w.env(LONG), &everywhere).await.unwrap_err();
    assert!(matches!(err, KubeError::Scope { .. }), "{err}");
    w.finish().await;
}

const VALUE: &str = "-----BEGIN OPENSSH PRIVATE KEY----- restore-me";
const VALUE_B64: &str = "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0gcmVzdG9yZS1tZQ==";

/// A Secret holding [`VALUE`], labelled `app: flux`.
fn secret(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: flux}}}}\ndata: {{identity: {VALUE_B64}}}\n"
    )
}

async fn captured_secrets_are_private_and_restored_only_where_absent(w: World) {
    let ns = w.name("secrets");
    w.apply("planrun-test", &namespace(&ns)).await;
    for name in ["deploy-key", "other"] {
        w.create(CLIENT_SIDE_APPLY, &secret(&ns, name)).await;
    }
    let run_dir = tempfile::tempdir().unwrap();
    let redactor = Redactor::new();
    let all = Capture {
        selection: Selection::of_kind("Secret", Some(&ns), pattern(".*")),
        file: "secrets.yaml".into(),
    };
    let captured = capture(&w.env(LONG), &all, run_dir.path(), &redactor)
        .await
        .unwrap();
    assert_eq!(
        captured,
        format!(
            "captured 2 secrets to secrets.yaml (mode 0600): {ns}/deploy-key (keys: identity); {ns}/other (keys: identity)"
        )
    );
    let file = run_dir.path().join("secrets.yaml");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let written: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["kind"], "List");
    assert_eq!(written["items"][0]["data"]["identity"], VALUE_B64);
    assert!(
        written["items"][0]["metadata"]
            .get("resourceVersion")
            .is_none(),
        "{written}"
    );
    // Every value is masked wherever the run's output goes from now on.
    assert_eq!(redactor.redact(VALUE), planrun::redact::MASK);
    assert_eq!(redactor.redact(VALUE_B64), planrun::redact::MASK);
    // One goes; the apply of the capture restores it and leaves the other alone.
    let one = Selection::of_kind("Secret", Some(&ns), name("deploy-key"));
    kube_delete(&w.env(LONG), &delete(one.clone()))
        .await
        .unwrap();
    wait_absent(&w.env(LONG), &WaitAbsent { selection: one })
        .await
        .unwrap();
    // Capturing again now (a resume, a `--rerun`) would write over the only copy of
    // the deleted Secret with less: the earlier capture is kept, and said so.
    let before = std::fs::read(&file).unwrap();
    let again = capture(&w.env(LONG), &all, run_dir.path(), &redactor)
        .await
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        format!(
            "{} holds an earlier capture, kept as it is: it holds Secret {ns}/deploy-key, which the cluster no longer has",
            file.display()
        )
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    let spec = KubeApply {
        source: ApplySource::Capture {
            task: TaskRef {
                id: "capture-secrets".into(),
                span: 0..0,
            },
            file: "secrets.yaml".into(),
        },
        only: ["deploy-key", "other"]
            .iter()
            .map(|n| ObjectName {
                namespace: Some(ns.clone()),
                name: (*n).into(),
            })
            .collect(),
        if_absent: true,
        field_manager: "planrun".into(),
        force: false,
    };
    let applied = kube_apply(&w.env(LONG), &spec, run_dir.path(), &redactor)
        .await
        .unwrap();
    assert_eq!(
        applied,
        format!(
            "applied secrets/{ns}/deploy-key (keys: identity) from the capture of `capture-secrets` as planrun; present, left as they are: secrets/{ns}/other"
        )
    );
    let restored = w.get("v1", "Secret", &ns, "deploy-key").await.unwrap();
    assert_eq!(restored["data"]["identity"], VALUE_B64);
    assert_eq!(restored["metadata"]["labels"]["app"], "flux");
    assert_eq!(managers(&restored), vec![("planrun", "Apply")]);
    let other = w.get("v1", "Secret", &ns, "other").await.unwrap();
    assert_eq!(managers(&other), vec![(CLIENT_SIDE_APPLY, "Update")]);
    let mut said = w.lines.all();
    said.extend([captured, applied]);
    for entry in std::fs::read_dir(run_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path != file {
            said.push(std::fs::read_to_string(&path).unwrap());
        }
    }
    for text in &said {
        assert!(
            !text.contains(VALUE) && !text.contains(VALUE_B64),
            "a secret value in {text}"
        );
    }
    w.finish().await;
}

/// Manifests applied by server-side apply as the task's field manager; a cluster-scoped
/// object whose manifest gives it a namespace is applied and named without one, as
/// kubectl does.
async fn manifests_are_applied_as_the_field_manager(w: World) {
    let ns = w.name("apply");
    let role = w.name("reader");
    w.apply("planrun-test", &namespace(&ns)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {ns}}}\ndata: {{mode: safe}}\n---\n\
             apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: runner, namespace: {ns}, labels: {{app: planrun}}}}\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {role}, namespace: {ns}}}\nrules: []\n"
        ),
    )
    .unwrap();
    let spec = KubeApply {
        source: ApplySource::Files(vec![file.clone()]),
        only: Vec::new(),
        if_absent: false,
        field_manager: "planrun".into(),
        force: false,
    };
    let summary = kube_apply(&w.env(LONG), &spec, dir.path(), &Redactor::new())
        .await
        .unwrap();
    assert_eq!(
        summary,
        format!(
            "applied 3 objects: configmaps/{ns}/settings (keys: mode); serviceaccounts/{ns}/runner; clusterroles/{role} from {} as planrun",
            file.display()
        )
    );
    let settings = w.get("v1", "ConfigMap", &ns, "settings").await.unwrap();
    assert_eq!(settings["data"]["mode"], "safe");
    assert_eq!(managers(&settings), vec![("planrun", "Apply")]);
    let runner = w.get("v1", "ServiceAccount", &ns, "runner").await.unwrap();
    assert_eq!(managers(&runner), vec![("planrun", "Apply")]);
    let reader = w
        .get("rbac.authorization.k8s.io/v1", "ClusterRole", "", &role)
        .await
        .unwrap();
    assert_eq!(managers(&reader), vec![("planrun", "Apply")]);
    assert_eq!(reader["metadata"].get("namespace"), None);
    w.finish().await;
}

fn deployment(ns: &str, name: &str, tag: &str) -> String {
    deployment_of(ns, name, &format!("ghcr.io/fluxcd/{name}:{tag}"))
}

/// A Deployment of one replica running `image`.
fn deployment_of(ns: &str, name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\n\
         spec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - {{name: manager, image: '{image}'}}\n"
    )
}

async fn deployments_are_asserted_at_their_tags(w: World) {
    let ns = w.name("deploy");
    w.apply("planrun-test", &namespace(&ns)).await;
    w.apply(
        "pulumi-kubernetes",
        &deployment(&ns, "source-controller", "v1.7.0"),
    )
    .await;
    w.apply(
        "pulumi-kubernetes",
        &deployment(&ns, "helm-controller", "v1.3.0"),
    )
    .await;
    let expect = |pairs: &[(&str, &str)]| AssertDeployments {
        namespace: ns.clone(),
        deployments: pairs
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect::<BTreeMap<_, _>>(),
    };
    let summary = assert_deployments(&w.env(LONG), &expect(&[("source-controller", "v1.7.0")]))
        .await
        .unwrap();
    assert_eq!(
        summary,
        format!("1 deployment ready in {ns}: source-controller v1.7.0")
    );
    let err = assert_deployments(
        &w.env(LONG),
        &expect(&[
            ("source-controller", "v1.7.0"),
            ("helm-controller", "v1.4.0"),
        ]),
    )
    .await
    .unwrap_err();
    let KubeError::Assertion { summary, details } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        summary,
        &format!("1 of 2 deployments in {ns} rolled out wrong")
    );
    assert_eq!(
        details[0],
        "helm-controller: tag v1.3.0, expected v1.4.0, ready 1/1"
    );
    w.finish().await;
}

async fn field_managers_name_client_side_apply_and_accept_the_owners(w: World) {
    let ns = w.name("owners");
    w.apply("planrun-test", &namespace(&ns)).await;
    w.create(CLIENT_SIDE_APPLY, &config_map(&ns, "by-kubectl"))
        .await;
    w.apply("pulumi-kubernetes-1234abcd", &config_map(&ns, "by-pulumi"))
        .await;
    w.create("pulumi-kubernetes", &config_map(&ns, "by-pulumi-create"))
        .await;
    let spec = |target: Target| AssertFieldManagers {
        selection: Selection::of_kind("ConfigMap", Some(&ns), target),
        forbidden: vec![Regex::new("^kubectl-client-side-apply$").unwrap()],
        owners: pulumi_owners(),
    };
    let err = assert_field_managers(&w.env(LONG), &spec(pattern("^by-")))
        .await
        .unwrap_err();
    let KubeError::Assertion { details, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        details,
        &[
            format!(
                "configmaps/{ns}/by-kubectl: forbidden manager kubectl-client-side-apply (Update) matches /^kubectl-client-side-apply$/"
            ),
            format!(
                "configmaps/{ns}/by-kubectl: no managedFields entry from an accepted owner \
                 (has: kubectl-client-side-apply (Update); accepted: /^pulumi-kubernetes$/ (Update), /^pulumi-kubernetes-[a-z0-9]+$/ (Apply))"
            ),
        ],
        "{err}"
    );
    // Both ways pulumi-kubernetes creates an object: server-side apply as
    // `pulumi-kubernetes-<suffix>` (before v4.29.0), a plain create as
    // `pulumi-kubernetes` (since).
    let summary = assert_field_managers(&w.env(LONG), &spec(pattern("^by-pulumi")))
        .await
        .unwrap();
    assert_eq!(summary, "field managers ok on 2 objects");
    w.finish().await;
}

async fn a_wait_for_a_condition_explains_what_it_saw_and_ends_when_it_holds(w: World) {
    let group = w.group("a");
    let ns = w.name("ready");
    w.apply("planrun-test", &w.crd(&group, "Widget")).await;
    w.apply("planrun-test", &namespace(&ns)).await;
    for n in ["a", "b"] {
        w.apply("planrun-test", &widget(&group, "Widget", &ns, n, &[]))
            .await;
    }
    let widget_ref = json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"namespace": ns}});
    let set_ready = |n: &'static str, status: &'static str, reason: &'static str| {
        let widget_ref = widget_ref.clone();
        let w = &w;
        async move {
            let condition = json!({"type": "Ready", "status": status, "reason": reason,
                "message": format!("{n} is {reason}"), "lastTransitionTime": "2026-01-01T00:00:00Z"});
            w.merge(
                &widget_ref,
                n,
                json!({"status": {"conditions": [condition]}}),
                true,
            )
            .await;
        }
    };
    set_ready("a", "False", "Failing").await;
    let spec = WaitCondition {
        selection: widgets(&group, &ns, pattern(".*")),
        condition: "Ready".into(),
        status: "True".into(),
    };
    let err = wait_condition(&w.env(SHORT), &spec).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "timed out after 1.5s waiting for Ready=True on widgets matching /.*/ in namespace {ns}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "widgets/{ns}/a: Ready=False (Failing): a is Failing"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("widgets/{ns}/b: no Ready condition yet")),
        "{text}"
    );
    let wait = async {
        let env = TaskEnv::new(&w.conn, &w.lines, LONG);
        wait_condition(&env, &spec).await
    };
    let ready = async {
        set_ready("a", "True", "Succeeded").await;
        set_ready("b", "True", "Succeeded").await;
    };
    let (result, ()) = tokio::join!(wait, ready);
    assert_eq!(
        result.unwrap(),
        format!("Ready=True on widgets matching /.*/ in namespace {ns}: {ns}/a, {ns}/b")
    );
    w.finish().await;
}

/// A plan of kube tasks run by `planrun run --kubeconfig FILE --context NAME`.
async fn planrun_run_captures_deletes_and_waits_and_keeps_the_secret_in_the_capture_alone(
    w: World,
) {
    let ns = w.name("cli");
    w.apply("planrun-test", &namespace(&ns)).await;
    w.create(CLIENT_SIDE_APPLY, &secret(&ns, "deploy-key"))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let plan = capture_delete_wait_plan(&w.context, &ns);
    std::fs::write(dir.path().join("plan.toml"), plan).unwrap();
    let kubeconfig = w.kubeconfig.to_str().unwrap();
    let out = planrun_cli(
        dir.path(),
        &[
            "run",
            "plan.toml",
            "--kubeconfig",
            kubeconfig,
            "--context",
            &w.context,
            "--output",
            "json",
        ],
    )
    .await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(w.get("v1", "Namespace", "", &ns).await.is_none());
    assert!(
        stdout.contains(&format!(
            "captured 1 secret to flux-secrets.yaml (mode 0600): {ns}/deploy-key (keys: identity)"
        )),
        "{stdout}"
    );
    let files = files_under(&dir.path().join(".planrun"));
    let capture = files
        .iter()
        .find(|p| p.ends_with("flux-secrets.yaml"))
        .expect("the capture file is in the run directory");
    assert_eq!(
        std::fs::metadata(capture).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        std::fs::read_to_string(capture)
            .unwrap()
            .contains(VALUE_B64)
    );
    let report = files.iter().find(|p| p.ends_with("report.md")).unwrap();
    let report = std::fs::read_to_string(report).unwrap();
    assert!(
        report.contains(&format!("kube context `{}` at ", w.context)),
        "{report}"
    );
    // The value is nowhere else: not in output, events, logs, journal or report.
    let mut texts = vec![stdout, stderr];
    for f in files.iter().filter(|p| *p != capture) {
        texts.push(String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned());
    }
    for t in &texts {
        assert!(!t.contains(VALUE) && !t.contains(VALUE_B64), "leak in {t}");
    }
    w.finish().await;
}

/// A plan that captures the Secrets of namespace `ns` to `flux-secrets.yaml`, deletes
/// the namespace and waits until it is gone, on the cluster of `context`.
pub(crate) fn capture_delete_wait_plan(context: &str, ns: &str) -> String {
    format!(
        r#"
[plan]
name = "kube-cli"
context = "{context}"

[tasks.capture]
type = "capture"
kind = "Secret"
namespace = "{ns}"
name_pattern = ".*"
file = "flux-secrets.yaml"

[tasks.delete-ns]
type = "kube-delete"
kind = "Namespace"
name = "{ns}"
needs = ["capture"]

[tasks.ns-gone]
type = "wait-absent"
kind = "Namespace"
name = "{ns}"
timeout = "180s"
needs = ["delete-ns"]
"#
    )
}

async fn a_namespace_held_by_its_content_is_waited_for_until_the_finalizer_goes(w: World) {
    let ns = w.name("held");
    let hold = holder(&w);
    w.apply("planrun-test", &namespace(&ns)).await;
    w.apply(
        "planrun-test",
        &format!("{{apiVersion: v1, kind: ConfigMap, metadata: {{name: held, namespace: {ns}, finalizers: [{hold}]}}}}"),
    )
    .await;
    let sel = Selection::of_kind("Namespace", None, name(&ns));
    let summary = kube_delete(&w.env(LONG), &delete(sel.clone()))
        .await
        .unwrap();
    assert_eq!(
        summary,
        format!(
            "deleted namespaces/{ns}; 1 object carries finalizers ({hold}); \
             no running Deployment seems to act on them, so they may stay until removed"
        )
    );
    assert!(
        w.lines.all().contains(&format!(
            "namespaces/{ns}: 1 object in it carries finalizers ({hold}): configmaps/{ns}/held"
        )),
        "named before acting: {:#?}",
        w.lines.all()
    );
    // The namespace controller says what remains in conditions (the sandbox as the
    // real one, kubernetes pkg/controller/namespace/deletion).
    until_seen(
        &w,
        ("v1", "Namespace", "", &ns),
        "NamespaceFinalizersRemaining",
        |n| {
            n["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "NamespaceFinalizersRemaining" && c["status"] == "True")
            })
        },
    )
    .await;
    let text = timeout_text(&w, &sel).await;
    assert!(
        text.starts_with(&format!(
            "timed out after 1.5s waiting for namespaces/{ns} to be gone"
        )),
        "{text}"
    );
    for detail in [
        "spec.finalizers [kubernetes]".to_owned(),
        "phase Terminating".to_owned(),
        "condition NamespaceContentRemaining=True (SomeResourcesRemain): Some resources are remaining: configmaps. has 1 resource instances".to_owned(),
        format!("condition NamespaceFinalizersRemaining=True (SomeFinalizersRemain): Some content in the namespace has finalizers remaining: {hold} in 1 resource instances"),
    ] {
        assert!(text.contains(&detail), "{detail} not in {text}");
    }
    // The finalizer goes while the task waits: the namespace follows.
    let gone = wait_while_released(
        &w,
        sel,
        &format!("1 object left: {ns}, finalizer kubernetes"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": ns}}),
    )
    .await;
    assert_eq!(
        gone.unwrap(),
        format!("namespaces/{ns} gone (1 deleted while waiting)")
    );
    w.finish().await;
}

/// A namespace whose Pod cannot go: the namespace controller deletes Pods first and
/// nothing else until they are gone, and its conditions meanwhile say all content is
/// removed; the wait's timeout names the Pod and what holds it. The Pod has a
/// scheduling gate, so no node (no kwok) runs it: only its finalizer keeps it.
async fn a_namespace_held_by_a_pod_names_the_pod(w: World) {
    let ns = w.name("podheld");
    let hold = holder(&w);
    w.apply("planrun-test", &namespace(&ns)).await;
    w.apply(
        "planrun-test",
        &format!(
            "{{apiVersion: v1, kind: Pod, metadata: {{name: held, namespace: {ns}, finalizers: [{hold}]}}, \
             spec: {{schedulingGates: [{{name: example.com/gate}}], containers: [{{name: web, image: registry.example/web:1}}]}}}}"
        ),
    )
    .await;
    w.apply("planrun-test", &config_map(&ns, "settings")).await;
    let sel = Selection::of_kind("Namespace", None, name(&ns));
    kube_delete(&w.env(LONG), &delete(sel.clone()))
        .await
        .unwrap();
    until_seen(&w, ("v1", "Pod", &ns, "held"), "the pod deleted", |p| {
        p["metadata"].get("deletionTimestamp").is_some()
    })
    .await;
    let text = timeout_text(&w, &sel).await;
    for detail in [
        "1 pod remains in it (its other content is deleted only once they are gone)".to_owned(),
        "- pods/held: being deleted since ".to_owned(),
        format!("finalizers [{hold}]"),
    ] {
        assert!(text.contains(&detail), "{detail} not in {text}");
    }
    // What the namespace's conditions say then: nothing remains.
    assert!(!text.contains("SomeResourcesRemain"), "{text}");
    assert!(
        w.get("v1", "ConfigMap", &ns, "settings")
            .await
            .is_some_and(|c| c["metadata"].get("deletionTimestamp").is_none()),
        "the rest waits for the pod"
    );
    let gone = wait_while_released(
        &w,
        sel,
        &format!("1 object left: {ns}, finalizer kubernetes"),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ns}}),
    )
    .await;
    assert_eq!(
        gone.unwrap(),
        format!("namespaces/{ns} gone (1 deleted while waiting)")
    );
    w.finish().await;
}

/// A controller running in the namespace it is deleted with: from 1.33 the namespace
/// controller deletes the Pods first, so it stops before the objects whose finalizer
/// it owns are deleted (the sandbox reports 1.33, the real control plane 1.36); the
/// delete says so instead of "may act". Its own token: the shared cluster runs other
/// tests' controllers.
async fn a_namespace_delete_says_the_controller_in_it_is_stopped_first(w: World) {
    let ns = w.name("stopfirst");
    let token = format!("{}stopfirst", w.prefix);
    let finalizer = format!("{token}.example/hold");
    w.apply("planrun-test", &namespace(&ns)).await;
    w.apply(
        "planrun-test",
        &format!(
            "{{apiVersion: v1, kind: ConfigMap, metadata: {{name: held, namespace: {ns}, finalizers: [{finalizer}]}}}}"
        ),
    )
    .await;
    w.apply(
        "planrun-test",
        &deployment_of(
            &ns,
            "controller",
            &format!("registry.example/{token}-controller:v1"),
        ),
    )
    .await;
    until_seen(
        &w,
        ("apps/v1", "Deployment", &ns, "controller"),
        "the controller ready",
        |d| d["status"]["readyReplicas"] == 1,
    )
    .await;
    let sel = Selection::of_kind("Namespace", None, name(&ns));
    let summary = kube_delete(&w.env(LONG).dry_run(true), &delete(sel))
        .await
        .unwrap();
    assert_eq!(
        summary,
        format!(
            "would delete namespaces/{ns}; 1 object carries finalizers ({finalizer}); \
             {ns}/controller would act on them but is stopped first (its namespace's Pods go first), \
             so they may stay until removed"
        )
    );
    let lines = w.lines.all();
    let stopped = format!(
        "running Deployments that would act on {finalizer} but are stopped first: \
         {ns}/controller (1 ready, registry.example/{token}-controller:v1): they run in \
         namespaces/{ns}, and Kubernetes 1."
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&stopped)
            && l.contains("deletes a namespace's Pods before its other objects")),
        "{stopped} not in {lines:#?}"
    );
    w.merge(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": ns}}),
        "held",
        json!({"metadata": {"finalizers": null}}),
        false,
    )
    .await;
    w.finish().await;
}

/// A typo in an applied custom resource or Deployment, or in a merge patch, and a
/// Secret's data that is not base64: the real API server's field manager refuses an
/// apply with a 500 (which is no passing fault), and a patch (sent with
/// `fieldValidation=Strict`) with a 422 that quotes the whole object. Each task fails at
/// its first attempt, names the field alone, and changes nothing.
async fn a_field_the_kind_does_not_declare_is_refused_at_once_and_named(w: World) {
    let group = w.group("s");
    let ns = w.name("schema");
    w.apply(
        "planrun-test",
        &w.crd_of(
            &group,
            "Gauge",
            "{type: object, properties: {spec: {type: object, properties: {size: {type: integer}, paused: {type: boolean}}}}}",
        ),
    )
    .await;
    w.apply("planrun-test", &namespace(&ns)).await;
    // Served once an object can be written (the real server serves a new CRD's kind a
    // moment after it is created).
    w.apply(
        "planrun-test",
        &format!(
            "{{apiVersion: {group}/v1, kind: Gauge, metadata: {{name: other, namespace: {ns}}}}}"
        ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    // kube-apply of `text`, as the file `gauge.yaml`.
    let apply = |text: String| {
        let file = dir.path().join("gauge.yaml");
        std::fs::write(&file, text).unwrap();
        let spec = KubeApply {
            source: ApplySource::Files(vec![file]),
            only: Vec::new(),
            if_absent: false,
            field_manager: "planrun".into(),
            force: false,
        };
        let (w, dir) = (&w, &dir);
        async move { kube_apply(&w.env(LONG), &spec, dir.path(), &Redactor::new()).await }
    };
    let gauge = |spec: &str, labels: &str| {
        format!(
            "apiVersion: {group}/v1\nkind: Gauge\nmetadata: {{name: g, namespace: {ns}{labels}}}\nspec: {spec}\n"
        )
    };
    let before = w.lines.all().len();
    let err = apply(gauge("{size: 1, sizee: 3}", "")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "apply gauges/{ns}/g: the server's schema for its kind refuses a field\n  spec.sizee: not declared"
        )
    );
    let err = apply(gauge("{size: 1}", ", labelz: {a: b}"))
        .await
        .unwrap_err();
    // planrun reads metadata as ObjectMeta itself, and says what that would drop.
    assert!(
        err.to_string().ends_with(&format!(
            "gauge.yaml: {ns}/g: metadata.labelz is not a field of an object's metadata (a typo? metadata has name, namespace, labels, annotations, finalizers, ownerReferences, ...)"
        )),
        "{err}"
    );
    // A key given twice is refused as kubectl refuses it, before anything is sent.
    let err = apply(gauge("{size: 1, size: 2}", "")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("gauge.yaml: invalid YAML: spec: duplicate entry with key \"size\""),
        "{err}"
    );
    assert!(
        !w.lines.all()[before..].iter().any(|l| l.contains("retry")),
        "a refusal is not retried: {:#?}",
        w.lines.all()
    );
    assert!(
        w.get(&format!("{group}/v1"), "Gauge", &ns, "g")
            .await
            .is_none()
    );
    apply(gauge("{size: 1}", "")).await.unwrap();
    let version = w
        .get(&format!("{group}/v1"), "Gauge", &ns, "g")
        .await
        .unwrap()["metadata"]["resourceVersion"]
        .clone();
    let sel = || Selection {
        kinds: KindSet::Kind {
            kind: "Gauge".into(),
            api_version: Some(format!("{group}/v1")),
        },
        namespace: Namespaces::Named(ns.clone()),
        target: name("g"),
    };
    let typo = KubePatch {
        selection: sel(),
        change: PatchChange::Merge(json!({"spec": {"pausd": true}})),
    };
    let err = kube_patch(&w.env(LONG), &typo).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "patch gauges/{ns}/g: the server's schema for its kind refuses a field\n  spec.pausd: not declared"
        )
    );
    let g = w
        .get(&format!("{group}/v1"), "Gauge", &ns, "g")
        .await
        .unwrap();
    assert_eq!(g["metadata"]["resourceVersion"], version, "written anyway");
    let right = KubePatch {
        selection: sel(),
        change: PatchChange::Merge(json!({"spec": {"paused": true}})),
    };
    assert_eq!(
        kube_patch(&w.env(LONG), &right).await.unwrap(),
        format!("patched 1 object in 1 namespace")
    );
    let g = w
        .get(&format!("{group}/v1"), "Gauge", &ns, "g")
        .await
        .unwrap();
    assert_eq!(g["spec"], json!({"size": 1, "paused": true}));
    // A built-in kind's type is as strict, at any depth.
    let err = apply(format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d, namespace: {ns}}}\n\
             spec: {{selector: {{matchLabels: {{app: d}}}}, template: {{metadata: {{labels: {{app: d}}}}, \
             spec: {{containers: [{{name: web, image: 'registry.example/web:v1', imagePullPolicyy: Always}}]}}}}}}\n"
        )).await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "apply deployments/{ns}/d: the server's schema for its kind refuses a field\n  spec.template.spec.containers[name=\"web\"].imagePullPolicyy: not declared"
        )
    );
    // A Secret's data that is not base64: refused before anything is sent, naming the
    // key; patched in, the server's refusal (which quotes the whole Secret) is shown
    // without the Secret.
    let secret = |password: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: {ns}}}\ndata: {{identity: {VALUE_B64}, password: '{password}'}}\n"
        )
    };
    let err = apply(secret("hunter2 plain")).await.unwrap_err();
    assert!(
        err.to_string().ends_with(&format!(
            "gauge.yaml: {ns}/s: data.password is not base64 (a Secret's data holds base64; plain text goes under stringData)"
        )),
        "{err}"
    );
    apply(secret("c2VjcmV0")).await.unwrap();
    let bad = KubePatch {
        selection: Selection::of_kind("Secret", Some(&ns), name("s")),
        change: PatchChange::Merge(json!({"data": {"password": "not base64!"}})),
    };
    let err = kube_patch(&w.env(LONG), &bad).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "patch secrets/{ns}/s: Invalid (422): the patched object cannot be read: illegal base64 data at input byte 3"
        )
    );
    w.finish().await;
}

/// What a kubeconfig's credential plugin writes: on stdout the credential, in the
/// environment the kubeconfig gives it a value of its own; neither may show anywhere.
const PLUGIN_TOKEN: &str = "plugin-token-3f9c1e";
const PLUGIN_ENV_VALUE: &str = "plugin-env-7d2a5b";

/// A credential plugin (as `aws eks get-token` or `gke-gcloud-auth-plugin`) that fails
/// as many more times as `failing` (beside it) says, printing a credential on stdout all
/// the same, and otherwise answers with a token that is already due, so that every
/// request runs it again. Its kubeconfig: `w`'s, the context's user given the plugin.
fn kubeconfig_with_plugin(w: &World, dir: &std::path::Path) -> std::path::PathBuf {
    let plugin = dir.join("credential-plugin");
    let failing = dir.join("failing");
    std::fs::write(
        &plugin,
        format!(
            r#"#!/bin/sh
n=$(cat '{failing}' 2>/dev/null || echo 0)
if [ "$n" -gt 0 ]; then
  echo $((n - 1)) > '{failing}'
  echo '{{"status": {{"token": "{PLUGIN_TOKEN}"}}}}'
  echo "error: the SSO session has expired;" >&2
  echo "  run aws sso login" >&2
  exit 255
fi
echo '{{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {{"token": "{PLUGIN_TOKEN}", "expirationTimestamp": "2000-01-01T00:00:00Z"}}}}'
"#,
            failing = failing.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&w.kubeconfig).unwrap()).unwrap();
    let user = config["contexts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some(&w.context))
        .unwrap()["context"]["user"]
        .clone();
    for u in config["users"].as_sequence_mut().unwrap() {
        if u["name"] == user {
            u["user"]["exec"] = serde_yaml::from_str(&format!(
                "{{apiVersion: client.authentication.k8s.io/v1beta1, command: '{}', env: [{{name: PLUGIN_PROFILE, value: {PLUGIN_ENV_VALUE}}}], interactiveMode: Never}}",
                plugin.display()
            ))
            .unwrap();
        }
    }
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    path
}

/// A kubeconfig's credential plugin that fails mid-run (the SSO login behind it expired,
/// or the way to its identity provider dropped) fails no task: it runs again with each
/// retry of the request, the task's line says "credentials failed" with what the plugin
/// wrote on stderr, and once it works again (the operator logged in anew in another
/// terminal) the run goes on. One that fails before the run refuses it (exit 3), saying
/// the same. Neither the plugin's stdout, where a credential stands, nor its environment
/// shows in any output or file.
async fn a_credential_plugin_that_fails_is_tried_again_and_what_it_printed_stays_private(w: World) {
    let ns = w.name("creds");
    w.apply("planrun-test", &namespace(&ns)).await;
    w.apply("planrun-test", &config_map(&ns, "doomed")).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_with_plugin(&w, dir.path());
    let failing = dir.path().join("failing");
    // The login expires between two tasks.
    std::fs::write(
        dir.path().join("plan.toml"),
        format!(
            r#"
[plan]
name = "creds"
context = "{context}"

[tasks.login-expires]
type = "exec-script"
script = "echo 3 > {failing}"

[tasks.delete]
type = "kube-delete"
kind = "ConfigMap"
namespace = "{ns}"
name = "doomed"
needs = ["login-expires"]
timeout = "2m"
"#,
            context = w.context,
            failing = failing.display()
        ),
    )
    .unwrap();
    let run = |extra: &'static [&'static str]| {
        let kubeconfig = kubeconfig.to_str().unwrap().to_owned();
        let dir = dir.path().to_path_buf();
        async move {
            let mut args = vec![
                "run",
                "plan.toml",
                "--kubeconfig",
                &kubeconfig,
                "--output",
                "json",
            ];
            args.extend(extra);
            planrun_cli(&dir, &args).await
        }
    };
    let out = run(&[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(w.get("v1", "ConfigMap", &ns, "doomed").await.is_none());
    let said = "credential plugin failed (exit status: 255): error: the SSO session has expired; run aws sso login";
    assert!(
        stdout.contains("credentials failed, retry 1 in 100ms: "),
        "{stdout}"
    );
    assert!(stdout.contains(said), "{stdout}");
    assert_eq!(std::fs::read_to_string(&failing).unwrap().trim(), "0");

    // Failing before the run: refused, nothing ran.
    std::fs::write(&failing, "1\n").unwrap();
    let refused = run(&["--restart"]).await;
    let refusal = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(3), "{refusal}");
    // Without spaces: miette wraps the message, inside the plugin's path too.
    let compact = |t: &str| t.replace(['│', ' ', '\n'], "");
    let expected = format!(
        "cannot get credentials for kube context `{}`: {}",
        w.context,
        said.replace(
            "credential plugin",
            &format!(
                "credential plugin `{}`",
                dir.path().join("credential-plugin").display()
            )
        )
    );
    assert!(compact(&refusal).contains(&compact(&expected)), "{refusal}");

    let mut texts = vec![stdout, stderr, refusal];
    texts.push(String::from_utf8_lossy(&refused.stdout).into_owned());
    for f in files_under(&dir.path().join(".planrun")) {
        texts.push(String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned());
    }
    for t in &texts {
        assert!(
            !t.contains(PLUGIN_TOKEN) && !t.contains(PLUGIN_ENV_VALUE),
            "leak in {t}"
        );
    }
    w.finish().await;
}
