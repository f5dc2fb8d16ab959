//! From a plan's selection (kind, namespace, name / pattern / label selector) to API
//! calls: which endpoint, which list and watch parameters, which objects match.

use kube::api::{Api, DynamicObject, ListParams, ResourceExt};
use kube::runtime::watcher;

use crate::validate::{Selection, Target};

use super::env::TaskEnv;
use super::error::KubeError;
use super::kinds::ResolvedKind;
use super::retry;
use super::watch::{Objects, WatchEnd, watch_until};

/// A selection with its kind resolved: ready to list, watch and delete.
#[derive(Clone)]
pub struct Selected {
    pub selection: Selection,
    pub kind: ResolvedKind,
    pub api: Api<DynamicObject>,
    /// For messages: `namespaces/flux-system`, `customresourcedefinitions... matching /re/`.
    pub description: String,
}

impl Selected {
    /// Resolves the selection's kind and checks the namespace fits its scope.
    pub async fn resolve(env: &TaskEnv<'_>, selection: &Selection) -> Result<Self, KubeError> {
        let kind = env
            .conn
            .kinds()
            .resolve(env, &selection.kind, selection.api_version.as_deref())
            .await?;
        if !kind.namespaced && selection.namespace.is_some() {
            return Err(KubeError::Scope {
                message: format!(
                    "{} is cluster-scoped, but the task names namespace `{}`; remove `namespace`",
                    selection.kind,
                    selection.namespace.as_deref().unwrap_or_default()
                ),
            });
        }
        let api = kind.api(env.client(), selection.namespace.as_deref());
        let description = describe(selection, &kind);
        Ok(Self {
            selection: selection.clone(),
            kind,
            api,
            description,
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

    /// Whether a listed or watched object belongs to the selection.
    pub fn matches(&self, obj: &DynamicObject) -> bool {
        self.selection.matches_name(&obj.name_any())
    }

    /// Watches the selected objects until `done` holds for them (see
    /// [`watch_until`]).
    pub async fn watch_until(
        &self,
        env: &TaskEnv<'_>,
        done: impl FnMut(&Objects<DynamicObject>) -> bool,
    ) -> Result<WatchEnd<DynamicObject>, KubeError> {
        let resource = self.kind.resource_name();
        let config = self.watch_config();
        watch_until(
            env,
            self.api.clone(),
            config,
            &resource,
            |o| self.matches(o),
            done,
        )
        .await
    }

    /// The matching objects now, in name order (retrying transient errors).
    pub async fn list(&self, env: &TaskEnv<'_>) -> Result<Vec<DynamicObject>, KubeError> {
        let lp = self.list_params();
        let resource = self.kind.resource_name();
        let list = retry::call(env, "list", &resource, || self.api.list(&lp)).await?;
        let mut objects: Vec<DynamicObject> =
            list.items.into_iter().filter(|o| self.matches(o)).collect();
        objects.sort_by_key(object_name);
        Ok(objects)
    }

    /// `plural/name` (`plural/ns/name` for namespaced objects), as messages name objects.
    pub fn object_ref(&self, obj: &DynamicObject) -> String {
        format!("{}/{}", self.kind.resource.plural, object_name(obj))
    }
}

/// `namespace/name` for namespaced objects, `name` otherwise.
pub fn object_name(obj: &DynamicObject) -> String {
    match obj.namespace() {
        Some(ns) => format!("{ns}/{}", obj.name_any()),
        None => obj.name_any(),
    }
}

fn describe(selection: &Selection, kind: &ResolvedKind) -> String {
    let plural = &kind.resource.plural;
    let place = match (&selection.namespace, kind.namespaced) {
        (Some(ns), _) => format!(" in namespace {ns}"),
        (None, true) => " in all namespaces".to_string(),
        (None, false) => String::new(),
    };
    match &selection.target {
        Target::Name(n) => format!("{plural}/{n}{place}"),
        Target::Pattern(re) => format!("{plural} matching /{}/{place}", re.as_str()),
        Target::Selector(s) => format!("{plural} with labels {s}{place}"),
    }
}
