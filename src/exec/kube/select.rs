//! From a plan's selection (kinds, namespace, name / pattern / label selector) to API
//! calls: which endpoints, which list and watch parameters, which objects match.
//!
//! A selection of several kinds (`kinds`, `group_pattern`) lists and watches each
//! kind and merges the objects; every listed object carries its `apiVersion` and
//! `kind`, so executors find its kind with [`Selected::kind_of`].

use kube::api::{Api, DynamicObject, ListParams, ResourceExt, TypeMeta};
use kube::runtime::watcher;
use planrun_text::plural;

use crate::events::ObjectRef;
use crate::validate::{KindSet, Namespaces, Selection, Target};

use super::env::TaskEnv;
use super::error::KubeError;
use super::kinds::ResolvedKind;
use super::retry;
use super::watch::{Objects, Source, Unserved, WatchEnd, watch_until};

/// What a task does with the selected objects: the verbs every kind must answer
/// (for kinds found by group pattern; others are skipped, and the task says so),
/// and whether it changes objects (then a namespaced kind needs `namespace`, or
/// `namespace = "*"` to act on all namespaces).
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub verbs: &'static [&'static str],
    pub writes: bool,
}

impl Access {
    /// List only.
    pub const READ: Access = Access {
        verbs: &["list"],
        writes: false,
    };
    /// List and watch.
    pub const WATCH: Access = Access {
        verbs: &["list", "watch"],
        writes: false,
    };
    /// Delete the objects.
    pub const DELETE: Access = Access {
        verbs: &["list", "delete"],
        writes: true,
    };
    /// Patch the objects.
    pub const PATCH: Access = Access {
        verbs: &["list", "patch"],
        writes: true,
    };
}

/// A selection with its kinds resolved: ready to list, watch, patch and delete.
#[derive(Clone)]
pub struct Selected {
    pub selection: Selection,
    /// The kinds, in the order of the plan (a group's: by group, then kind).
    pub kinds: Vec<ResolvedKind>,
    /// For messages: `namespaces/flux-system`, `customresourcedefinitions matching /re/`,
    /// `kustomizations.kustomize.toolkit.fluxcd.io, ... matching /.*/ in all namespaces`.
    pub description: String,
    /// What the selection left out, one line each: kinds skipped, group-versions
    /// discovery could not list.
    pub notes: Vec<String>,
}

impl Selected {
    /// Resolves the selection's kinds and checks the namespace fits their scopes.
    pub async fn resolve(
        env: &TaskEnv<'_>,
        selection: &Selection,
        access: Access,
    ) -> Result<Self, KubeError> {
        let mut notes = Vec::new();
        let kinds = match &selection.kinds {
            KindSet::Kind { kind, api_version } => {
                let r = env
                    .conn
                    .kinds()
                    .resolve(env, kind, api_version.as_deref())
                    .await?;
                check_scope(selection, kind, &r, access)?;
                vec![r]
            }
            KindSet::Kinds(names) => {
                let mut kinds = Vec::new();
                for kind in names {
                    let r = env.conn.kinds().resolve(env, kind, None).await?;
                    check_scope(selection, kind, &r, access)?;
                    kinds.push(r);
                }
                kinds
            }
            KindSet::GroupPattern(re) => {
                let found = env.conn.kinds().group(env, re, access.verbs).await?;
                let mut kinds = Vec::new();
                let mut cluster_scoped = Vec::new();
                for r in found.kinds {
                    if !r.namespaced && selection.namespace.named().is_some() {
                        cluster_scoped.push(r.resource.kind.clone());
                        continue;
                    }
                    check_scope(selection, &r.resource.kind.clone(), &r, access)?;
                    kinds.push(r);
                }
                if !cluster_scoped.is_empty() {
                    notes.push(format!(
                        "skipped cluster-scoped {} (the task names a namespace): {}",
                        plural(cluster_scoped.len(), "kind", "kinds"),
                        cluster_scoped.join(", ")
                    ));
                }
                if !found.lacking.is_empty() {
                    notes.push(format!(
                        "skipped kinds that cannot be {}: {}",
                        access.verbs.join(" and "),
                        found.lacking.join("; ")
                    ));
                }
                if !found.unavailable.is_empty() {
                    notes.push(format!(
                        "could not list API {} matching /{}/: {}",
                        plural(found.unavailable.len(), "group-version", "group-versions"),
                        re.as_str(),
                        found.unavailable.join("; ")
                    ));
                }
                kinds
            }
        };
        let description = describe(selection, &kinds);
        Ok(Self {
            selection: selection.clone(),
            kinds,
            description,
            notes,
        })
    }

    fn field_selector(&self) -> Option<String> {
        match &self.selection.target {
            Target::Name(n) => Some(format!("metadata.name={n}")),
            _ => None,
        }
    }

    fn label_selector(&self) -> Option<&str> {
        match &self.selection.target {
            Target::Selector(s) => Some(s),
            _ => None,
        }
    }

    pub fn list_params(&self) -> ListParams {
        let mut lp = ListParams::default();
        if let Some(f) = self.field_selector() {
            lp = lp.fields(&f);
        }
        if let Some(l) = self.label_selector() {
            lp = lp.labels(l);
        }
        lp
    }

    pub fn watch_config(&self) -> watcher::Config {
        let mut wc = watcher::Config::default();
        if let Some(f) = self.field_selector() {
            wc = wc.fields(&f);
        }
        if let Some(l) = self.label_selector() {
            wc = wc.labels(l);
        }
        wc
    }

    /// The API listing `kind` for this selection: its namespace, or all of them.
    pub fn api(&self, env: &TaskEnv<'_>, kind: &ResolvedKind) -> Api<DynamicObject> {
        kind.api(env.client(), self.selection.namespace.named())
    }

    /// The API for one listed object: its own namespace.
    pub fn object_api(&self, env: &TaskEnv<'_>, obj: &DynamicObject) -> Api<DynamicObject> {
        let kind = self.kind_of(obj).unwrap_or(&self.kinds[0]);
        match (kind.namespaced, obj.namespace()) {
            (true, Some(ns)) => Api::namespaced_with(env.client(), &ns, &kind.resource),
            _ => Api::all_with(env.client(), &kind.resource),
        }
    }

    /// Whether a listed or watched object belongs to the selection.
    pub fn matches(&self, obj: &DynamicObject) -> bool {
        self.selection.matches_name(&obj.name_any())
    }

    /// The kind of a listed object (by its `apiVersion` and `kind`).
    pub fn kind_of(&self, obj: &DynamicObject) -> Option<&ResolvedKind> {
        let types = obj.types.as_ref();
        match types {
            Some(t) => self
                .kinds
                .iter()
                .find(|k| k.resource.kind == t.kind && k.resource.api_version == t.api_version),
            None if self.kinds.len() == 1 => self.kinds.first(),
            None => None,
        }
    }

    /// Whether the selection covers several kinds (messages then name each object's).
    pub fn is_multi_kind(&self) -> bool {
        !matches!(self.selection.kinds, KindSet::Kind { .. })
    }

    /// Watches the selected objects until `done` holds for them (see
    /// [`watch_until`]); keys are `namespace/name`, prefixed by `plural/` when the
    /// selection covers several kinds.
    pub async fn watch_until(
        &self,
        env: &TaskEnv<'_>,
        unserved: Unserved,
        done: impl FnMut(&Objects<DynamicObject>) -> bool,
    ) -> Result<WatchEnd<DynamicObject>, KubeError> {
        let multi = self.is_multi_kind();
        let sources = self
            .kinds
            .iter()
            .map(|kind| Source {
                api: self.api(env, kind),
                config: self.watch_config(),
                resource: kind.resource_name(),
                prefix: if multi {
                    format!("{}/", kind.resource.plural)
                } else {
                    String::new()
                },
            })
            .collect();
        watch_until(env, sources, unserved, |o| self.matches(o), done).await
    }

    /// The matching objects now, kind by kind, in name order (retrying transient
    /// errors); each carries its `apiVersion` and `kind`. A kind whose URL answers
    /// 404 (its CRD went since discovery) has no objects.
    pub async fn list(&self, env: &TaskEnv<'_>) -> Result<Vec<DynamicObject>, KubeError> {
        let lp = self.list_params();
        let mut out = Vec::new();
        for kind in &self.kinds {
            let api = self.api(env, kind);
            let resource = kind.resource_name();
            let list = match retry::call(env, "list", &resource, || api.list(&lp)).await {
                Ok(list) => list,
                Err(KubeError::Api { code: 404, .. }) => {
                    env.conn.kinds().forget().await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut objects: Vec<DynamicObject> = list
                .items
                .into_iter()
                .filter(|o| self.matches(o))
                .map(|mut o| {
                    o.types = Some(TypeMeta {
                        api_version: kind.resource.api_version.clone(),
                        kind: kind.resource.kind.clone(),
                    });
                    o
                })
                .collect();
            objects.sort_by_key(object_name);
            out.extend(objects);
        }
        Ok(out)
    }

    /// `plural/name` (`plural/ns/name` for namespaced objects), as messages name objects.
    pub fn object_ref(&self, obj: &DynamicObject) -> String {
        let plural = match self.kind_of(obj) {
            Some(kind) => kind.resource.plural.clone(),
            None => obj
                .types
                .as_ref()
                .map(|t| t.kind.to_lowercase())
                .unwrap_or_else(|| "objects".into()),
        };
        format!("{plural}/{}", object_name(obj))
    }

    /// How lists name an object: `namespace/name`, after its plural when the
    /// selection covers several kinds.
    pub fn short_ref(&self, obj: &DynamicObject) -> String {
        if self.is_multi_kind() {
            self.object_ref(obj)
        } else {
            object_name(obj)
        }
    }

    /// The kinds' resource names, for messages (`namespaces`, `gitrepositories.source.toolkit.fluxcd.io, ...`).
    pub fn resource_names(&self) -> String {
        self.kinds
            .iter()
            .map(ResolvedKind::resource_name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Says the notes (kinds skipped, groups not listed) as progress lines.
    pub fn say_notes(&self, env: &TaskEnv<'_>) {
        for note in &self.notes {
            env.say(note);
        }
    }

    /// A task's result line with the notes after it: what the selection left out
    /// is never silent.
    pub fn noted(&self, mut summary: String) -> String {
        for note in &self.notes {
            summary.push_str("; ");
            summary.push_str(note);
        }
        summary
    }
}

/// The selection's namespace against one kind's scope.
fn check_scope(
    selection: &Selection,
    kind: &str,
    r: &ResolvedKind,
    access: Access,
) -> Result<(), KubeError> {
    match (&selection.namespace, r.namespaced) {
        (Namespaces::Named(ns), false) => Err(KubeError::Scope {
            message: format!(
                "{kind} is cluster-scoped, but the task names namespace `{ns}`; remove `namespace`{}",
                if matches!(selection.kinds, KindSet::Kinds(_)) {
                    " or list the cluster-scoped kinds in a task of their own"
                } else {
                    ""
                }
            ),
        }),
        (Namespaces::Unset, true) if access.writes => Err(KubeError::Scope {
            message: format!(
                "{kind} is namespaced and the task changes objects: name the namespace (namespace = \"...\"), or write namespace = \"*\" to act on every namespace"
            ),
        }),
        _ => Ok(()),
    }
}

/// `namespace/name` for namespaced objects, `name` otherwise.
pub fn object_name(obj: &DynamicObject) -> String {
    match obj.namespace() {
        Some(ns) => format!("{ns}/{}", obj.name_any()),
        None => obj.name_any(),
    }
}

/// The object as a dry run's preview names it: its `apiVersion` and `kind` (as
/// listed or read from a manifest), namespace and name.
pub fn preview_ref(obj: &DynamicObject) -> ObjectRef {
    let types = obj.types.clone().unwrap_or_default();
    ObjectRef {
        api_version: types.api_version,
        kind: types.kind,
        namespace: obj.namespace(),
        name: obj.name_any(),
    }
}

fn describe(selection: &Selection, kinds: &[ResolvedKind]) -> String {
    let namespaced = kinds.iter().any(|k| k.namespaced);
    let place = match (&selection.namespace, namespaced) {
        (Namespaces::Named(ns), _) => format!(" in namespace {ns}"),
        (Namespaces::All, true) | (Namespaces::Unset, true) => " in all namespaces".to_string(),
        (_, false) => String::new(),
    };
    let what = match &selection.kinds {
        KindSet::Kind { .. } => kinds
            .first()
            .map(|k| k.resource.plural.clone())
            .unwrap_or_default(),
        KindSet::Kinds(_) => kinds
            .iter()
            .map(|k| k.resource.plural.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        KindSet::GroupPattern(re) if kinds.is_empty() => {
            format!("no kind (no served API group matches /{}/)", re.as_str())
        }
        KindSet::GroupPattern(re) => format!(
            "{} of API groups matching /{}/ ({})",
            plural(kinds.len(), "kind", "kinds"),
            re.as_str(),
            kinds
                .iter()
                .map(ResolvedKind::resource_name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let single = matches!(selection.kinds, KindSet::Kind { .. });
    match &selection.target {
        Target::Name(n) if single => format!("{what}/{n}{place}"),
        Target::Name(n) => format!("{what} named {n}{place}"),
        Target::Pattern(re) => format!("{what} matching /{}/{place}", re.as_str()),
        Target::Selector(s) => format!("{what} with labels {s}{place}"),
    }
}
