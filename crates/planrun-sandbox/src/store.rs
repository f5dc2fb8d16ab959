//! The in-memory object store: one global resourceVersion counter, an event log for watch
//! replay, and a broadcast channel that carries every change in order.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::defaulting;
use super::fields::{self, FieldType, Scope, Types};
use super::limits;
use super::patch;
use super::reactions::Armed;
use super::resources::{self, ResKey, ResourceDef};
use super::scenario::Scenario;
use super::selector::Selectors;
use super::status::{ApiError, Cause};
use super::unknown_fields::{self, Declared, FieldValidation, Write};

/// A watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// Which collection.
    pub res: ResKey,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (the last state, for deletions).
    pub object: Value,
    /// The object before the change, for selector transitions.
    pub prev: Option<Value>,
}

/// Work scheduled by a write, run later by a timer.
#[derive(Debug, Clone, PartialEq)]
pub enum Scheduled {
    /// Remove a Terminating namespace's contents, then the namespace.
    FinalizeNamespace {
        /// Namespace name.
        name: String,
        /// Its uid when deleted.
        uid: String,
        /// Delay.
        after: Duration,
    },
    /// Remove a Terminating CRD's custom resources, then the CRD.
    FinalizeCrd {
        /// CRD name.
        name: String,
        /// Its uid.
        uid: String,
        /// Delay.
        after: Duration,
    },
    /// The kubelet starts a pod: Running and Ready.
    PodReady {
        /// Namespace.
        ns: String,
        /// Name.
        name: String,
        /// Uid.
        uid: String,
        /// Delay.
        after: Duration,
    },
    /// The kubelet has stopped a terminating pod: it goes.
    PodGone {
        /// Namespace.
        ns: String,
        /// Name.
        name: String,
        /// Uid.
        uid: String,
        /// Delay.
        after: Duration,
    },
    /// The replicaset controller looks at one ReplicaSet again.
    SyncReplicaSet {
        /// Namespace.
        ns: String,
        /// Name.
        name: String,
        /// Delay.
        after: Duration,
    },
    /// The replicaset controller tries again to create the pods the API server
    /// refused, backing off while they are refused.
    RetryReplicaSet {
        /// Namespace.
        ns: String,
        /// Name.
        name: String,
        /// Delay (doubled for the next try).
        after: Duration,
    },
    /// The garbage collector sweeps.
    CollectGarbage {
        /// Delay.
        after: Duration,
    },
    /// The simulated Flux controllers look at the cluster.
    FluxControllers {
        /// Delay.
        after: Duration,
    },
    /// Give a custom resource the condition of a scenario rule.
    Condition {
        /// Collection.
        res: ResKey,
        /// Namespace.
        ns: String,
        /// Name.
        name: String,
        /// Uid.
        uid: String,
        /// Generation observed.
        generation: i64,
        /// Index into the condition rules.
        rule: usize,
        /// Delay.
        after: Duration,
    },
    /// A simulated controller clears a deleted object's finalizers.
    ClearFinalizers {
        /// Collection.
        res: ResKey,
        /// Namespace.
        ns: String,
        /// Name.
        name: String,
        /// Uid.
        uid: String,
        /// Delay.
        after: Duration,
    },
}

impl Scheduled {
    /// How long to wait before running it.
    pub fn after(&self) -> Duration {
        match self {
            Scheduled::FinalizeNamespace { after, .. }
            | Scheduled::FinalizeCrd { after, .. }
            | Scheduled::PodReady { after, .. }
            | Scheduled::PodGone { after, .. }
            | Scheduled::SyncReplicaSet { after, .. }
            | Scheduled::RetryReplicaSet { after, .. }
            | Scheduled::CollectGarbage { after }
            | Scheduled::FluxControllers { after }
            | Scheduled::Condition { after, .. }
            | Scheduled::ClearFinalizers { after, .. } => *after,
        }
    }
}

/// The field manager of `kubectl apply --server-side`, whose applies the API server
/// reconciles with the last-applied annotation of a client-side apply.
const KUBECTL_MANAGER: &str = "kubectl";

/// Options shared by writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `force` (server-side apply).
    pub force: bool,
    /// The client's User-Agent, the default field manager.
    pub user_agent: Option<String>,
    /// `fieldValidation`: what the client hears of fields the kind does not declare.
    pub validation: FieldValidation,
}

impl WriteOpts {
    /// The manager recorded for an Update.
    pub fn manager(&self) -> String {
        if let Some(m) = &self.field_manager {
            return m.clone();
        }
        self.user_agent
            .as_deref()
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_owned()
    }
}

/// DeleteOptions that matter here.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `propagationPolicy`.
    pub propagation: Option<String>,
}

/// How the dependents of a deleted object go (`propagationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// The object goes now; the garbage collector deletes its dependents after.
    #[default]
    Background,
    /// The object waits (finalizer `foregroundDeletion`) until its blocking
    /// dependents are gone.
    Foreground,
    /// The dependents lose their owner reference (finalizer `orphan`).
    Orphan,
}

impl Propagation {
    /// From DeleteOptions (Background when unset).
    pub fn of(policy: Option<&str>) -> Self {
        match policy {
            Some("Foreground") => Propagation::Foreground,
            Some("Orphan") => Propagation::Orphan,
            _ => Propagation::Background,
        }
    }

    /// The finalizer this policy puts on the object.
    fn finalizer(self) -> Option<&'static str> {
        match self {
            Propagation::Background => None,
            Propagation::Foreground => Some(super::gc::FOREGROUND),
            Propagation::Orphan => Some(super::gc::ORPHAN),
        }
    }
}

/// One thing a simulated controller did, for the activity log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// What, in words.
    pub text: String,
}

/// How a delete ended.
#[derive(Debug, Clone)]
pub enum Deleted {
    /// Removed now; the last state.
    Gone(Value),
    /// Still there with a deletionTimestamp (finalizers pending).
    Pending(Value),
}

/// A patch body, by content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/apply-patch+yaml`.
    Apply,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/json-patch+json`.
    Json,
}

/// The store. Lives behind one mutex; never held across an await.
pub struct Store {
    rv: u64,
    seq: u64,
    uid_seed: u64,
    objects: BTreeMap<ResKey, BTreeMap<(String, String), Value>>,
    log: VecDeque<Arc<Change>>,
    /// The highest resourceVersion no longer in the log.
    log_floor: u64,
    tx: broadcast::Sender<Arc<Change>>,
    builtins: Vec<ResourceDef>,
    /// Runtime knobs, seeded from the scenario.
    pub scenario: Scenario,
    finalizing_namespaces: BTreeSet<String>,
    finalizing_crds: BTreeSet<String>,
    effects: Vec<Scheduled>,
    /// The resourceVersion at which each CRD (by name) was created: its custom
    /// resources are served, and watchable, from there on.
    crds_since: BTreeMap<String, u64>,
    /// Seeds are being stored: workload controllers wait until all are.
    pub(super) seeding: bool,
    /// A garbage collector sweep is scheduled.
    pub(super) gc_scheduled: bool,
    /// The simulated Flux controllers are due to look.
    pub(super) flux_scheduled: bool,
    /// What the simulated controllers have already said once.
    pub(super) noted: BTreeSet<String>,
    activity: Vec<Activity>,
    /// Reactions armed on this store, evaluated after every change.
    reactions: Vec<Armed>,
    /// What the request being handled is warned of (`Warning` headers), taken by the
    /// HTTP layer with [`Store::take_warnings`].
    warnings: Vec<String>,
}

/// The current time in the API's RFC 3339 form (whole seconds, UTC).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn meta(obj: &Value, key: &str) -> Option<String> {
    obj.get("metadata")?.get(key)?.as_str().map(str::to_owned)
}

fn meta_mut(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata was made an object above")
}

/// The object's `metadata.finalizers`.
pub fn finalizers(obj: &Value) -> Vec<String> {
    resources::strings(obj.pointer("/metadata/finalizers"))
}

/// Whether the object is being deleted (has a `deletionTimestamp`).
pub(super) fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// The string at `pointer` (`""` when absent or not a string).
pub(super) fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Strip what does not count as a spec change (metadata and status).
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

fn without_times(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(list) = v
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    {
        for e in list {
            if let Some(e) = e.as_object_mut() {
                e.remove("time");
            }
        }
    }
    v
}

impl Store {
    /// An empty store with the default namespaces.
    pub fn new(scenario: Scenario) -> Self {
        let (tx, _) = broadcast::channel(8192);
        let uid_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut s = Self {
            rv: 0,
            seq: 0,
            uid_seed,
            objects: BTreeMap::new(),
            log: VecDeque::new(),
            log_floor: 0,
            tx,
            builtins: resources::builtins(),
            scenario,
            finalizing_namespaces: BTreeSet::new(),
            finalizing_crds: BTreeSet::new(),
            effects: Vec::new(),
            crds_since: BTreeMap::new(),
            seeding: false,
            gc_scheduled: false,
            flux_scheduled: false,
            noted: BTreeSet::new(),
            activity: Vec::new(),
            reactions: Vec::new(),
            warnings: Vec::new(),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":ns}});
            let def = s.builtins[0].clone();
            s.create(&def, "v1", "", obj, &WriteOpts::default())
                .expect("default namespaces are valid");
        }
        s
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Subscribe to future events (call under the same lock as reading the log).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    /// Take the effects scheduled by the last writes.
    pub fn take_effects(&mut self) -> Vec<Scheduled> {
        std::mem::take(&mut self.effects)
    }

    pub(super) fn schedule(&mut self, e: Scheduled) {
        self.effects.push(e);
    }

    /// How server-side apply merges `def`'s objects at `version`: a built-in kind's
    /// from the generated table, a custom kind's from its CRD's schema for the version
    /// (borrowed from the stored CRD at each write, so a CRD updated is followed at
    /// once).
    pub(super) fn types(&self, def: &ResourceDef, version: &str) -> Types<'_> {
        if !def.custom {
            return Types::builtin(&def.group, &def.kind);
        }
        match self.crd_schema(def, version) {
            Some(schema) => Types::custom(schema),
            None => Types::object_meta(),
        }
    }

    /// A custom kind's `openAPIV3Schema` at `version`, from its stored CRD.
    fn crd_schema(&self, def: &ResourceDef, version: &str) -> Option<&Value> {
        let crds = ResKey::new("apiextensions.k8s.io", "customresourcedefinitions");
        self.get_opt(&crds, "", &format!("{}.{}", def.plural, def.group))
            .and_then(|crd| version_schema(crd, version))
    }

    /// Gives a custom resource being written its CRD's defaults at `version`
    /// ([`defaulting`]).
    fn default_custom(&self, def: &ResourceDef, version: &str, obj: &mut Value) {
        if !def.custom {
            return;
        }
        if let Some(schema) = self.crd_schema(def, version) {
            defaulting::default(obj, schema);
        }
    }

    /// The warnings of the writes since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// What declares the fields of `def`'s objects at `version`.
    fn declared(&self, def: &ResourceDef, version: &str) -> Declared<'_> {
        if def.custom {
            return self
                .crd_schema(def, version)
                .map_or(Declared::MetadataOnly, Declared::Custom);
        }
        FieldType::of_kind(&def.group, &def.kind).map_or(Declared::MetadataOnly, Declared::Builtin)
    }

    /// Drops what the kind's schema does not declare from an object written by Update
    /// (`write` says how), and warns of it or refuses the write as `opts` asked
    /// ([`unknown_fields`]).
    fn drop_undeclared(
        &mut self,
        def: &ResourceDef,
        version: &str,
        mut obj: Value,
        opts: &WriteOpts,
        write: Write,
    ) -> Result<Value, ApiError> {
        let as_sent = (opts.validation == FieldValidation::Strict).then(|| obj.clone());
        let declared = self.declared(def, version);
        let paths = unknown_fields::prune(&mut obj, declared);
        if let Some(why) = unknown_fields::undecodable_bytes(&obj, declared) {
            return Err(unknown_fields::undecodable(
                &why,
                Some(write),
                &def.kind,
                &def.api_version(version),
                as_sent.as_ref().unwrap_or(&obj),
            ));
        }
        let warnings = unknown_fields::judge(
            opts.validation,
            &paths,
            write,
            &def.kind,
            version,
            as_sent.as_ref().unwrap_or(&obj),
        )?;
        self.warnings.extend(warnings);
        Ok(obj)
    }

    /// A CRD's spec was written: its stored objects read by its schema from now on,
    /// pruned of what it no longer declares and with its defaults, with no new
    /// resourceVersion and no event, as the API server decodes what it reads from
    /// storage (its storage codec prunes, then defaults: [`unknown_fields`],
    /// [`defaulting`]).
    fn reread_stored(&mut self, crd: &Value) {
        let (Some(group), Some(plural)) = (
            crd.pointer("/spec/group").and_then(Value::as_str),
            crd.pointer("/spec/names/plural").and_then(Value::as_str),
        ) else {
            return;
        };
        let Some(objects) = self.objects.get_mut(&ResKey::new(group, plural)) else {
            return;
        };
        for obj in objects.values_mut() {
            let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let version = api_version
                .rsplit('/')
                .next()
                .unwrap_or(api_version)
                .to_owned();
            if let Some(schema) = version_schema(crd, &version) {
                unknown_fields::prune(obj, Declared::Custom(schema));
                defaulting::default(obj, schema);
            }
        }
    }

    /// Records an Update of `new` (over `old`; none for a create) by `manager` at
    /// `version` of `def`, now: who owns what after it (see [`fields::record_update`]).
    pub(super) fn record_update(
        &self,
        def: &ResourceDef,
        version: &str,
        manager: &str,
        scope: Scope,
        old: Option<&Value>,
        new: &mut Value,
    ) {
        let types = self.types(def, version);
        let (api_version, now) = (def.api_version(version), now());
        let writer = fields::Writer::new(&types, manager, &api_version, scope, &now);
        // A create is recorded over the kind's zero value.
        let zero = old
            .is_none()
            .then(|| super::lifecycle::zero_object(def))
            .flatten();
        fields::record_update(&writer, old.or(zero.as_ref()), new);
    }

    /// Every resource served right now: built-ins plus established CRDs.
    pub fn resources(&self) -> Vec<ResourceDef> {
        let mut all = self.builtins.clone();
        if let Some(crds) = self.objects.get(&ResKey::new(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
        )) {
            all.extend(crds.values().filter_map(resources::from_crd));
        }
        all
    }

    /// The resource served at `group/version/plural`, if any.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<ResourceDef> {
        self.resources().into_iter().find(|d| {
            d.group == group && d.plural == plural && d.versions.iter().any(|v| v == version)
        })
    }

    /// One object by kind, as a client of `api_version` sees it.
    pub fn get_as(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let (def, version) = self.resolve_kind(api_version, kind)?;
        let obj = self.get_opt(&def.key(), ns, name)?.clone();
        Some(Self::present(&def, &version, obj))
    }

    /// Every object stored now, at its preferred version: namespaces first, then
    /// CRDs, then the rest by kind.
    pub fn all_objects(&self) -> Vec<Value> {
        let mut defs = self.resources();
        defs.sort_by_key(|d| match (d.group.as_str(), d.plural.as_str()) {
            ("", "namespaces") => 0,
            ("apiextensions.k8s.io", "customresourcedefinitions") => 1,
            _ => 2,
        });
        let mut out = Vec::new();
        for def in defs {
            let version = def.preferred_version().to_owned();
            out.extend(
                self.list(&def, None, &Default::default())
                    .into_iter()
                    .map(|o| Self::present(&def, &version, o)),
            );
        }
        out
    }

    /// Deletes an object by kind as a client would; `true` when it is gone at once.
    pub fn delete_as(
        &mut self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<bool, ApiError> {
        let (def, _) = self.resolve_kind(api_version, kind).ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                format!(
                    "the server could not find the requested resource ({kind} in {api_version})"
                ),
            )
        })?;
        Ok(matches!(
            self.delete(&def, ns, name, &DeleteOpts::default())?,
            Deleted::Gone(_)
        ))
    }

    /// Arms `reaction` (its manifest already read).
    pub fn arm(&mut self, reaction: crate::reactions::Reaction, manifest: Option<String>) {
        self.reactions.push(Armed::new(reaction, manifest));
    }

    /// Fires the armed reactions whose object is now in their state (see
    /// [`crate::reactions`]); what is said of each.
    pub fn run_reactions(&mut self) -> Vec<String> {
        let mut armed = std::mem::take(&mut self.reactions);
        let said = crate::reactions::run(self, &mut armed);
        self.reactions = armed;
        said
    }

    /// The resource of a kind (any served version), if any.
    pub fn resolve_kind(&self, api_version: &str, kind: &str) -> Option<(ResourceDef, String)> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        self.resources()
            .into_iter()
            .find(|d| d.group == group && d.kind == kind && d.versions.iter().any(|v| v == version))
            .map(|d| (d, version.to_owned()))
    }

    fn next_uid(&mut self) -> String {
        self.seq += 1;
        let x = self.uid_seed ^ self.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (x >> 32) as u32,
            (x >> 16) as u16,
            self.seq & 0xfff,
            (x >> 4) & 0xfff,
            self.seq
        )
    }

    pub(super) fn generate_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        self.seq += 1;
        let mut x = self.uid_seed ^ self.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (0..5)
            .map(|_| {
                let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
                x /= ALPHABET.len() as u64;
                c
            })
            .collect()
    }

    /// Present a stored object at the version it was asked for.
    pub fn present(def: &ResourceDef, version: &str, mut obj: Value) -> Value {
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".to_owned(), json!(def.api_version(version)));
            m.insert("kind".to_owned(), json!(def.kind));
        }
        obj
    }

    /// Get one object.
    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&def.key())
            .and_then(|m| m.get(&(ns.to_owned(), name.to_owned())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))
    }

    /// Get one object, if present.
    pub fn get_opt(&self, res: &ResKey, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(res)
            .and_then(|m| m.get(&(ns.to_owned(), name.to_owned())))
    }

    /// List objects, `ns = None` meaning all namespaces.
    pub fn list(&self, def: &ResourceDef, ns: Option<&str>, sel: &Selectors) -> Vec<Value> {
        self.objects
            .get(&def.key())
            .map(|m| {
                m.iter()
                    .filter(|((ons, _), _)| ns.is_none_or(|n| n == ons))
                    .map(|(_, v)| v)
                    .filter(|v| sel.matches(v))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every object of a collection, in every namespace.
    pub(super) fn objects_of(&self, res: &ResKey) -> impl Iterator<Item = &Value> {
        self.objects.get(res).into_iter().flat_map(|m| m.values())
    }

    /// Notes what a simulated controller did.
    pub(super) fn record_activity(&mut self, text: String) {
        self.activity.push(Activity { at: now(), text });
    }

    /// What the simulated controllers did so far.
    pub fn activity(&self) -> &[Activity] {
        &self.activity
    }

    /// Objects of a collection in one namespace (for finalizers), as (name, object).
    pub(super) fn names_in(&self, res: &ResKey, ns: &str) -> Vec<String> {
        self.objects
            .get(res)
            .map(|m| {
                m.keys()
                    .filter(|(n, _)| n == ns)
                    .map(|(_, name)| name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn mark_finalizing_namespace(&mut self, name: &str) {
        self.finalizing_namespaces.insert(name.to_owned());
    }
    pub(super) fn unmark_finalizing_namespace(&mut self, name: &str) {
        self.finalizing_namespaces.remove(name);
    }
    pub(super) fn is_finalizing_namespace(&self, name: &str) -> bool {
        self.finalizing_namespaces.contains(name)
    }
    pub(super) fn mark_finalizing_crd(&mut self, name: &str) {
        self.finalizing_crds.insert(name.to_owned());
    }
    pub(super) fn unmark_finalizing_crd(&mut self, name: &str) {
        self.finalizing_crds.remove(name);
    }
    pub(super) fn is_finalizing_crd(&self, name: &str) -> bool {
        self.finalizing_crds.contains(name)
    }

    pub(super) fn collections(&self) -> Vec<ResKey> {
        self.objects.keys().cloned().collect()
    }

    /// Events after `rv` for replay, or the 410 when they are no longer in the log.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<Change>>, ApiError> {
        if rv < self.log_floor {
            return Err(ApiError::expired(rv, self.log_floor + 1));
        }
        Ok(self.log.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    /// The oldest resourceVersion a watch of `def` may start from: a custom resource's
    /// events go back to its CRD's creation, a built-in's to the server's start.
    pub fn serving_since(&self, def: &ResourceDef) -> u64 {
        if !def.custom {
            return 0;
        }
        self.crds_since
            .get(&format!("{}.{}", def.plural, def.group))
            .copied()
            .unwrap_or(0)
    }

    /// Drop the whole event log (a compaction): older resourceVersions now answer 410.
    pub fn compact(&mut self) {
        self.log.clear();
        self.log_floor = self.rv;
    }

    fn emit(&mut self, res: ResKey, kind: EventType, object: Value, prev: Option<Value>) {
        let ev = Arc::new(Change {
            rv: self.rv,
            res,
            kind,
            object,
            prev,
        });
        self.log.push_back(ev.clone());
        while self.log.len() > self.scenario.event_log_capacity.max(1) {
            if let Some(old) = self.log.pop_front() {
                self.log_floor = old.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(ev);
    }

    /// Store an object (create or replace) with a fresh resourceVersion and emit its event.
    pub(super) fn put(&mut self, res: &ResKey, mut obj: Value) -> Value {
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".to_owned(), json!(self.rv.to_string()));
        let ns = meta(&obj, "namespace").unwrap_or_default();
        let name = meta(&obj, "name").unwrap_or_default();
        let prev = self
            .objects
            .entry(res.clone())
            .or_default()
            .insert((ns, name), obj.clone());
        let kind = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        if res.group == "apiextensions.k8s.io" && res.plural == "customresourcedefinitions" {
            if kind == EventType::Added {
                let name = meta(&obj, "name").unwrap_or_default();
                self.crds_since.insert(name, self.rv);
            }
            // Status writes (Established, finalization) leave the schemas as they were.
            if prev.as_ref().map(|p| &p["spec"]) != Some(&obj["spec"]) {
                self.reread_stored(&obj);
            }
        }
        self.emit(res.clone(), kind, obj.clone(), prev);
        obj
    }

    /// Remove an object for good and emit DELETED; then let finalizing parents progress.
    pub(super) fn remove(&mut self, res: &ResKey, ns: &str, name: &str) -> Option<Value> {
        let key = (ns.to_owned(), name.to_owned());
        let mut obj = self.objects.get_mut(res)?.remove(&key)?;
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".to_owned(), json!(self.rv.to_string()));
        self.emit(res.clone(), EventType::Deleted, obj.clone(), None);
        if !ns.is_empty() && self.finalizing_namespaces.contains(ns) {
            if *res == super::workloads::pods() && self.names_in(res, ns).is_empty() {
                self.last_pod_gone(ns);
            }
            self.try_complete_namespace(ns);
        }
        if !res.group.is_empty() {
            let crd_name = format!("{}.{}", res.plural, res.group);
            if self.finalizing_crds.contains(&crd_name) {
                self.try_complete_crd(&crd_name);
            }
        }
        if res.is_namespaces() {
            self.finalizing_namespaces.remove(name);
        }
        // Its dependents, if any, are garbage now.
        self.schedule_gc();
        Some(obj)
    }

    /// Create an object (POST).
    pub fn create(
        &mut self,
        def: &ResourceDef,
        version: &str,
        ns: &str,
        body: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let body = if body.is_object() {
            self.drop_undeclared(def, version, body, opts, Write::Decode)?
        } else {
            body
        };
        let mut obj = self.prepare_new(def, version, ns, body, None)?;
        self.record_update(
            def,
            version,
            &opts.manager(),
            scope_of(def, false),
            None,
            &mut obj,
        );
        Self::prepare_for_create(def, &mut obj);
        self.insert_new(def, obj, opts)
    }

    /// Store a seeded object as given (status and managedFields kept).
    pub fn seed(
        &mut self,
        def: &ResourceDef,
        version: &str,
        body: Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let ns = if def.namespaced {
            meta(&body, "namespace").unwrap_or_else(|| "default".to_owned())
        } else {
            String::new()
        };
        if def.namespaced
            && self
                .get_opt(&ResKey::new("", "namespaces"), "", &ns)
                .is_none()
        {
            let ns_obj = json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":ns}});
            let ns_def = self.builtins[0].clone();
            let mut ns_obj = self.prepare_new(&ns_def, "v1", "", ns_obj, None)?;
            self.record_update(&ns_def, "v1", manager, Scope::All, None, &mut ns_obj);
            Self::prepare_for_create(&ns_def, &mut ns_obj);
            self.insert_new(&ns_def, ns_obj, &WriteOpts::default())?;
        }
        let status = body.get("status").cloned();
        let managed = body.pointer("/metadata/managedFields").cloned();
        // A saved cluster restored keeps its uids: owner references still hold.
        let uid = meta(&body, "uid").filter(|u| !u.is_empty());
        let mut obj = self.prepare_new(def, version, &ns, body, None)?;
        if let Some(uid) = uid {
            meta_mut(&mut obj).insert("uid".to_owned(), json!(uid));
        }
        if let Some(st) = status {
            obj["status"] = st;
        }
        match managed {
            Some(m) => {
                meta_mut(&mut obj).insert("managedFields".to_owned(), m);
            }
            None => self.record_update(def, version, manager, Scope::All, None, &mut obj),
        }
        Self::prepare_for_create(def, &mut obj);
        let key = def.key();
        let name = meta(&obj, "name").unwrap_or_default();
        if let Some(old) = self.get_opt(&key, &ns, &name).cloned() {
            // Re-seeding replaces the object in place.
            let m = meta_mut(&mut obj);
            m.insert("uid".to_owned(), old["metadata"]["uid"].clone());
            m.insert(
                "creationTimestamp".to_owned(),
                old["metadata"]["creationTimestamp"].clone(),
            );
            let stored = self.put(&key, obj);
            self.after_write(def, Some(&old), &stored);
            return Ok(stored);
        }
        self.insert_new(def, obj, &WriteOpts::default())
    }

    fn insert_new(
        &mut self,
        def: &ResourceDef,
        obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let ns = meta(&obj, "namespace").unwrap_or_default();
        let name = meta(&obj, "name").unwrap_or_default();
        if self.get_opt(&def.key(), &ns, &name).is_some() {
            return Err(ApiError::already_exists(&def.group, &def.plural, &name));
        }
        limits::check_size(&obj)?;
        if opts.dry_run {
            return Ok(obj);
        }
        let stored = self.put(&def.key(), obj);
        Ok(self.after_write(def, None, &stored))
    }

    /// Validate and default a new object (shared by create, apply-create and seed).
    pub(super) fn prepare_new(
        &mut self,
        def: &ResourceDef,
        version: &str,
        ns: &str,
        mut obj: Value,
        applied_name: Option<&str>,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request is not a JSON object",
            ));
        }
        limits::check_types(def, &obj)?;
        // A Secret without a type is Opaque (kubernetes/kubernetes
        // `pkg/apis/core/v1/defaults.go`, `SetDefaults_Secret`).
        if def.group.is_empty()
            && def.kind == "Secret"
            && obj
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            obj["type"] = json!("Opaque");
        }
        if let Some(k) = obj.get("kind").and_then(Value::as_str)
            && k != def.kind
        {
            return Err(ApiError::bad_request(if def.custom {
                format!(
                    "the kind in the body ({k}) does not match the kind of the resource ({})",
                    def.kind
                )
            } else {
                // The decoder's words for a built-in kind (k8s.io/apimachinery
                // pkg/runtime/scheme.go, convertToVersion): the body's version, the
                // internal group.
                let internal = match def.group.as_str() {
                    "" => "core",
                    g => g.split('.').next().unwrap_or(g),
                };
                format!(
                    "{k} in version {version:?} cannot be handled as a {kind}: converting ({version}.{k}) to ({internal}.{kind}): unknown conversion",
                    kind = def.kind
                )
            }));
        }
        let m = meta_mut(&mut obj);
        if def.namespaced {
            match m.get("namespace").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    m.insert("namespace".to_owned(), json!(ns));
                }
            }
        } else {
            m.remove("namespace");
        }
        let mut name = m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if name.is_empty()
            && let Some(n) = applied_name
        {
            name = n.to_owned();
        }
        if name.is_empty() {
            let generate = m
                .get("generateName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if generate.is_empty() {
                return Err(ApiError::invalid(
                    &def.kind,
                    &def.group,
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                ));
            }
            name = format!("{generate}{}", self.generate_suffix());
        }
        let is_namespace = def.is_namespaces();
        if let Some(why) = name_problem(&name, is_namespace) {
            return Err(ApiError::invalid(
                &def.kind,
                &def.group,
                &name,
                "metadata.name",
                &why,
            ));
        }
        check_labels(def, &name, &obj)?;
        if def.namespaced {
            let ns_obj = self.get_opt(&ResKey::new("", "namespaces"), "", ns);
            match ns_obj {
                None => return Err(ApiError::not_found("", "namespaces", ns)),
                Some(n) if is_deleting(n) => {
                    return Err(ApiError::forbidden(
                        &def.group,
                        &def.plural,
                        &name,
                        &format!(
                            "unable to create new content in namespace {ns} because it is being terminated"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if def.custom {
            let crd_name = format!("{}.{}", def.plural, def.group);
            if self
                .get_opt(
                    &ResKey::new("apiextensions.k8s.io", "customresourcedefinitions"),
                    "",
                    &crd_name,
                )
                .is_some_and(is_deleting)
            {
                return Err(ApiError::method_not_allowed(
                    "create not allowed while custom resource definition is terminating",
                ));
            }
        }
        let uid = self.next_uid();
        let m = meta_mut(&mut obj);
        m.insert("name".to_owned(), json!(name));
        m.insert("uid".to_owned(), json!(uid));
        m.insert("creationTimestamp".to_owned(), json!(now()));
        m.remove("resourceVersion");
        m.remove("deletionTimestamp");
        m.remove("deletionGracePeriodSeconds");
        m.remove("managedFields");
        m.remove("selfLink");
        if def.tracks_generation {
            m.insert("generation".to_owned(), json!(1));
        } else {
            m.remove("generation");
        }
        obj["apiVersion"] = json!(def.api_version(version));
        obj["kind"] = json!(def.kind);
        if def.status_subresource
            && let Some(o) = obj.as_object_mut()
        {
            o.remove("status");
        }
        prune_empty(def, &mut obj);
        self.default_kind(def, &mut obj)?;
        self.default_custom(def, version, &mut obj);
        Ok(obj)
    }

    /// Replace an object (PUT), on the main resource or the status subresource.
    #[expect(clippy::too_many_arguments, reason = "mirrors the request's parts")]
    pub fn update(
        &mut self,
        def: &ResourceDef,
        version: &str,
        ns: &str,
        name: &str,
        body: Value,
        status: bool,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        self.replace(def, version, (ns, name), body, scope_of(def, status), opts)
    }

    /// Replace a namespace through its `finalize` subresource (PUT, the only verb it
    /// serves): the only write that changes its `spec.finalizers`
    /// (see [`Store::prepare_for_update`]). All but the stored status is the body's,
    /// metadata and spec alike (k8s.io/kubernetes v1.36.3
    /// `pkg/registry/core/namespace/strategy.go`, namespaceFinalizeStrategy.PrepareForUpdate;
    /// `pkg/registry/core/namespace/storage/storage.go`, FinalizeREST.Update).
    pub fn finalize_namespace(
        &mut self,
        def: &ResourceDef,
        version: &str,
        name: &str,
        body: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        self.replace(def, version, ("", name), body, Scope::Finalize, opts)
    }

    /// Replace object `ns/name` with `body` in `scope` (PUT).
    fn replace(
        &mut self,
        def: &ResourceDef,
        version: &str,
        (ns, name): (&str, &str),
        body: Value,
        scope: Scope,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let old = self.get(def, ns, name)?;
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request is not a JSON object",
            ));
        }
        if let Some(n) = meta(&body, "name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        // A body without resourceVersion is an unconditional update, as for built-ins.
        let mut new = self.drop_undeclared(def, version, body, opts, Write::Decode)?;
        if !body_has_managed_fields(&new)
            && let Some(mf) = old.pointer("/metadata/managedFields")
        {
            meta_mut(&mut new).insert("managedFields".to_owned(), mf.clone());
        }
        let new = restrict(&old, new, scope);
        self.commit_update(def, version, old, new, opts, scope, true)
    }

    /// Patch an object (PATCH); server-side apply may create it.
    #[expect(clippy::too_many_arguments, reason = "mirrors the request's parts")]
    pub fn patch(
        &mut self,
        def: &ResourceDef,
        version: &str,
        ns: &str,
        name: &str,
        kind: PatchKind,
        body: &[u8],
        status: bool,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let scope = scope_of(def, status);
        let api_version = def.api_version(version);
        if kind == PatchKind::Apply {
            let applied: Value = serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
            if !applied.is_object() {
                return Err(ApiError::bad_request(
                    "the apply configuration is not an object",
                ));
            }
            let manager = opts.field_manager.clone().ok_or_else(|| {
                ApiError::invalid_causes(
                    "PatchOptions",
                    "meta.k8s.io",
                    "",
                    &[Cause::required(
                        "fieldManager",
                        "is required for apply patch",
                    )],
                )
            })?;
            if let Some(n) = meta(&applied, "name")
                && n != name
            {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            if applied.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str())
                || applied.get("kind").and_then(Value::as_str) != Some(def.kind.as_str())
            {
                return Err(ApiError::bad_request(format!(
                    "apply configuration must set apiVersion {api_version} and kind {}",
                    def.kind
                )));
            }
            let declared = self.declared(def, version);
            let undeclared =
                unknown_fields::undeclared_in_apply(&applied, declared, &self.types(def, version));
            if !undeclared.is_empty() {
                return Err(unknown_fields::apply_refusal(
                    &applied,
                    &api_version,
                    &def.kind,
                    &undeclared,
                ));
            }
            if let Some(why) = unknown_fields::undecodable_bytes(&applied, declared) {
                return Err(unknown_fields::undecodable(
                    &why,
                    None,
                    &def.kind,
                    &api_version,
                    &applied,
                ));
            }
            let now = now();
            let live = self.get_opt(&def.key(), ns, name).cloned();
            let Some(old) = live else {
                if status {
                    return Err(ApiError::not_found(&def.group, &def.plural, name));
                }
                let mut fresh = applied.clone();
                if let Some(m) = fresh.as_object_mut() {
                    m.remove("status");
                }
                let prepared = self.prepare_new(def, version, ns, fresh.clone(), Some(name))?;
                // What the client sent says what it owns, empty maps the stored
                // object leaves out included.
                let types = self.types(def, version);
                let writer = fields::Writer::new(&types, &manager, &api_version, scope, &now);
                let mut merged = fields::apply_create(&writer, &prepared, &fresh);
                Self::prepare_for_create(def, &mut merged);
                return self.insert_new(def, merged, opts);
            };
            let types = self.types(def, version);
            let writer = fields::Writer::new(&types, &manager, &api_version, scope, &now);
            let attempt = |force: bool| fields::apply(&writer, Some(&old), &applied, force);
            let merged = match attempt(opts.force) {
                Ok(merged) => merged,
                // kubectl's own apply may take over what its client-side apply left,
                // where the last-applied annotation still says so.
                Err(conflicts)
                    if manager == KUBECTL_MANAGER
                        && fields::allowed_by_last_applied(&types, &old, &conflicts, scope) =>
                {
                    attempt(true).expect("a forced apply has no conflicts")
                }
                Err(conflicts) => {
                    // An apply conflict names no object, only the fields
                    // (k8s.io/apimachinery errors.NewApplyConflict).
                    let mut e =
                        ApiError::new(409, "Conflict", fields::conflict_message(&conflicts));
                    e.details = Some(json!({
                        "causes": conflicts.iter().map(|c| json!({
                            "reason": "FieldManagerConflict",
                            "message": format!("conflict with {}", c.shown),
                            "field": c.field,
                        })).collect::<Vec<_>>(),
                    }));
                    return Err(e);
                }
            };
            let mut merged = merged;
            if manager == KUBECTL_MANAGER {
                fields::update_last_applied(&mut merged, &applied);
            }
            let merged = restrict(&old, merged, scope);
            return self.commit_update(def, version, old, merged, opts, scope, false);
        }
        let old = self.get(def, ns, name)?;
        let parsed: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        let mut new = old.clone();
        match kind {
            PatchKind::Merge => patch::merge_patch(&mut new, &parsed),
            PatchKind::Strategic => {
                let merges = fields::PatchMerges::builtin(&def.group, &def.kind);
                patch::strategic_merge_patch(&mut new, &parsed, &merges)?
            }
            PatchKind::Json => patch::json_patch(&mut new, &parsed)?,
            PatchKind::Apply => unreachable!("handled above"),
        }
        let new = if new.is_object() {
            self.drop_undeclared(def, version, new, opts, Write::Patch)?
        } else {
            new
        };
        let new = restrict(&old, new, scope);
        self.commit_update(def, version, old, new, opts, scope, true)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one commit path for every write kind"
    )]
    fn commit_update(
        &mut self,
        def: &ResourceDef,
        version: &str,
        old: Value,
        mut new: Value,
        opts: &WriteOpts,
        scope: Scope,
        record: bool,
    ) -> Result<Value, ApiError> {
        let name = meta(&old, "name").unwrap_or_default();
        let ns = meta(&old, "namespace").unwrap_or_default();
        let wanted_rv = meta(&new, "resourceVersion").unwrap_or_default();
        if !wanted_rv.is_empty() && Some(&wanted_rv) != meta(&old, "resourceVersion").as_ref() {
            return Err(ApiError::stale(&def.group, &def.plural, &name));
        }
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the patched object is not a JSON object",
            ));
        }
        // Immutable metadata always comes from the stored object.
        for key in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            let m = meta_mut(&mut new);
            match old["metadata"].get(key) {
                Some(v) => {
                    m.insert(key.to_owned(), v.clone());
                }
                None => {
                    m.remove(key);
                }
            }
        }
        new["apiVersion"] = json!(def.api_version(version));
        new["kind"] = json!(def.kind);
        if is_deleting(&old) {
            let before: BTreeSet<String> = finalizers(&old).into_iter().collect();
            if finalizers(&new).iter().any(|f| !before.contains(f)) {
                return Err(ApiError::invalid(
                    &def.kind,
                    &def.group,
                    &name,
                    "metadata.finalizers",
                    "Forbidden: no new finalizers can be added if the object is being deleted",
                ));
            }
        }
        prune_empty(def, &mut new);
        super::lifecycle::default_on_write(def, &mut new);
        self.default_custom(def, version, &mut new);
        check_labels(def, &name, &new)?;
        if def.tracks_generation && spec_part(&new) != spec_part(&old) {
            meta_mut(&mut new).insert("generation".to_owned(), json!(generation(&old) + 1));
        }
        self.validate_update(def, &old, &new)?;
        limits::check_types(def, &new)?;
        if record {
            self.record_update(def, version, &opts.manager(), scope, Some(&old), &mut new);
        }
        // The field manager has seen the object as written; the registry's
        // PrepareForUpdate comes after it, so a manager that wrote what the registry
        // keeps still owns it (k8s.io/apiserver v0.36.3
        // `pkg/endpoints/handlers/update.go`: the field manager is a transformer of the
        // updated object, which `pkg/registry/generic/registry/store.go`, Update, takes
        // before `pkg/registry/rest/update.go`, BeforeUpdate).
        if matches!(scope, Scope::All | Scope::NoStatus) {
            Self::prepare_for_update(def, &old, &mut new);
        }
        meta_mut(&mut new).insert(
            "resourceVersion".to_owned(),
            old["metadata"]["resourceVersion"].clone(),
        );
        if without_times(&new) == without_times(&old) {
            return Ok(old);
        }
        limits::check_size(&new)?;
        if opts.dry_run {
            return Ok(new);
        }
        if is_deleting(&new) && finalizers(&new).is_empty() && !self.held_by_system(def, &new) {
            self.put(&def.key(), new);
            let gone = self
                .remove(&def.key(), &ns, &name)
                .expect("the object was just stored");
            return Ok(gone);
        }
        let stored = self.put(&def.key(), new);
        Ok(self.after_write(def, Some(&old), &stored))
    }

    /// Namespaces keep existing while `spec.finalizers` is non-empty.
    fn held_by_system(&self, def: &ResourceDef, obj: &Value) -> bool {
        def.is_namespaces()
            && obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
    }

    /// Delete an object (DELETE).
    pub fn delete(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Deleted, ApiError> {
        let old = self.get(def, ns, name)?;
        let uid = meta(&old, "uid").unwrap_or_default();
        let rv = meta(&old, "resourceVersion").unwrap_or_default();
        let is_namespace = def.is_namespaces();
        // The namespace registry checks preconditions itself and words them its way
        // (k8s.io/kubernetes v1.36.3 pkg/registry/core/namespace/storage/storage.go);
        // the generic registry names the kind (k8s.io/apiserver pkg/registry/rest/delete.go).
        let failed = |why: String| {
            if is_namespace {
                ApiError::conflict(&def.group, &def.plural, name, &why)
            } else {
                ApiError::precondition_failed(&def.group, &def.kind, name, &why)
            }
        };
        if let Some(want) = &opts.uid
            && *want != uid
        {
            return Err(failed(if is_namespace {
                format!(
                    "Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"
                )
            } else {
                format!(
                    "the UID in the precondition ({want}) does not match the UID in record ({uid}). The object might have been deleted and then recreated"
                )
            }));
        }
        if let Some(want) = &opts.resource_version
            && *want != rv
        {
            return Err(failed(if is_namespace {
                format!(
                    "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rv}"
                )
            } else {
                format!(
                    "the ResourceVersion in the precondition ({want}) does not match the ResourceVersion in record ({rv}). The object might have been modified"
                )
            }));
        }
        if let Some(p) = &opts.propagation
            && !["Background", "Foreground", "Orphan"].contains(&p.as_str())
        {
            return Err(ApiError::bad_request(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            )));
        }
        if def.is_namespaces() {
            return self.delete_namespace(def, old, opts.dry_run);
        }
        if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
            return self.delete_crd(def, old, opts.dry_run);
        }
        self.delete_object(
            def,
            old,
            opts.dry_run,
            Propagation::of(opts.propagation.as_deref()),
        )
    }

    /// The generic delete: linger while finalizers remain (a foreground or orphaning
    /// delete adds its own), else remove; pods terminate first (`workloads.rs`).
    pub(super) fn delete_object(
        &mut self,
        def: &ResourceDef,
        old: Value,
        dry_run: bool,
        propagation: Propagation,
    ) -> Result<Deleted, ApiError> {
        let ns = meta(&old, "namespace").unwrap_or_default();
        let name = meta(&old, "name").unwrap_or_default();
        if is_deleting(&old) {
            return Ok(Deleted::Pending(old));
        }
        if def.group.is_empty() && def.plural == "pods" {
            return self.delete_pod(def, old, dry_run);
        }
        let mut old = old;
        if let Some(f) = propagation.finalizer() {
            let mut fins = finalizers(&old);
            if !fins.iter().any(|x| x == f) {
                fins.push(f.to_owned());
            }
            meta_mut(&mut old).insert("finalizers".to_owned(), json!(fins));
        }
        if finalizers(&old).is_empty() {
            if dry_run {
                return Ok(Deleted::Gone(old));
            }
            let gone = self
                .remove(&def.key(), &ns, &name)
                .expect("the object was just read");
            return Ok(Deleted::Gone(gone));
        }
        let mut new = old.clone();
        let m = meta_mut(&mut new);
        m.insert("deletionTimestamp".to_owned(), json!(now()));
        m.insert("deletionGracePeriodSeconds".to_owned(), json!(0));
        if dry_run {
            return Ok(Deleted::Pending(new));
        }
        let stored = self.put(&def.key(), new);
        if propagation.finalizer().is_some() {
            self.schedule_gc();
        }
        if def.custom {
            // A Flux controller may have to finalize it.
            self.schedule_flux_controllers();
        }
        if let Some(after) = self.scenario.finalizer_clear_delay.duration() {
            self.schedule(Scheduled::ClearFinalizers {
                res: def.key(),
                ns,
                name,
                uid: meta(&stored, "uid").unwrap_or_default(),
                after,
            });
        }
        Ok(Deleted::Pending(stored))
    }

    /// Delete every object matching the selectors (DELETE on a collection).
    pub fn delete_collection(
        &mut self,
        def: &ResourceDef,
        ns: Option<&str>,
        sel: &Selectors,
        opts: &DeleteOpts,
    ) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        for obj in self.list(def, ns, sel) {
            let ons = meta(&obj, "namespace").unwrap_or_default();
            let name = meta(&obj, "name").unwrap_or_default();
            match self.delete(def, &ons, &name, opts)? {
                Deleted::Gone(v) | Deleted::Pending(v) => out.push(v),
            }
        }
        Ok(out)
    }
}

/// The `openAPIV3Schema` of a CRD's `version`.
fn version_schema<'a>(crd: &'a Value, version: &str) -> Option<&'a Value> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(version))?
        .pointer("/schema/openAPIV3Schema")
}

fn body_has_managed_fields(v: &Value) -> bool {
    v.pointer("/metadata/managedFields").is_some()
}

/// The managed-fields scope of a write.
pub fn scope_of(def: &ResourceDef, status: bool) -> Scope {
    if status {
        Scope::StatusOnly
    } else if def.status_subresource {
        Scope::NoStatus
    } else {
        Scope::All
    }
}

/// Keep only what a write may change: status writes change status (and nothing else),
/// main-resource writes of kinds with a status subresource and a namespace's
/// `finalize` writes keep the stored status. What else the registry keeps on a
/// main-resource write is kept once the write is recorded
/// ([`Store::prepare_for_update`], from `commit_update`).
fn restrict(old: &Value, mut new: Value, scope: Scope) -> Value {
    match scope {
        Scope::All => new,
        Scope::NoStatus | Scope::Finalize => {
            if let Some(m) = new.as_object_mut() {
                match old.get("status") {
                    Some(s) => {
                        m.insert("status".to_owned(), s.clone());
                    }
                    None => {
                        m.remove("status");
                    }
                }
            }
            new
        }
        Scope::StatusOnly => {
            let mut out = old.clone();
            if let Some(m) = out.as_object_mut() {
                match new.get("status") {
                    Some(s) => {
                        m.insert("status".to_owned(), s.clone());
                    }
                    None => {
                        m.remove("status");
                    }
                }
                if let Some(mf) = new.pointer("/metadata/managedFields") {
                    meta_mut(&mut out).insert("managedFields".to_owned(), mf.clone());
                }
                if let Some(rv) = new.pointer("/metadata/resourceVersion") {
                    meta_mut(&mut out).insert("resourceVersion".to_owned(), rv.clone());
                }
            }
            new = out;
            new
        }
    }
}

/// A DNS-1123 subdomain (what most kinds require of names).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// What is wrong with an object's name, in the API server's words (k8s.io/apimachinery
/// v0.36.3 `pkg/util/validation/validation.go`): namespaces need a DNS-1123 label, the
/// other kinds here a subdomain.
fn name_problem(name: &str, label: bool) -> Option<String> {
    if label {
        let ok = valid_name(name) && !name.contains('.') && name.len() <= 63;
        return (!ok).then(|| format!(
            "Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        ));
    }
    (!valid_name(name)).then(|| format!(
        r"Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    ))
}

/// A label value's problem, in the API server's words (same file, IsValidLabelValue).
pub(super) fn label_value_problem(value: &str) -> Option<String> {
    let ok_chars = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let ok_ends = value.is_empty()
        || (value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()));
    if value.len() > 63 {
        return Some(format!(
            "Invalid value: {value:?}: must be no more than 63 characters"
        ));
    }
    (!(ok_chars && ok_ends)).then(|| format!(
        "Invalid value: {value:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    ))
}

/// A label key's problem (a qualified name: `[prefix/]name`).
pub(super) fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && !valid_name(p)
    {
        return Some(format!(
            "Invalid value: {key:?}: prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        ));
    }
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    (!ok).then(|| format!(
        "Invalid value: {key:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    ))
}

/// A 422 naming every invalid label key and value of `obj`.
fn check_labels(def: &ResourceDef, name: &str, obj: &Value) -> Result<(), ApiError> {
    let causes = label_problems(obj);
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_causes(
            &def.kind, &def.group, name, &causes,
        ))
    }
}

/// The `422` causes of an object's labels.
fn label_problems(obj: &Value) -> Vec<Cause> {
    let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut causes = Vec::new();
    for (k, v) in labels {
        if let Some(why) = label_key_problem(k) {
            causes.push(Cause::invalid("metadata.labels", &why));
        }
        if let Some(why) = label_value_problem(v.as_str().unwrap_or("")) {
            causes.push(Cause::invalid("metadata.labels", &why));
        }
    }
    causes
}

/// Drops the empty maps and lists a built-in kind's Go types leave out (`omitempty`):
/// the API server never returns `labels: {}` or `data: {}` (an apply that sent one
/// still owns it: [`fields::apply_create`] reads what the client sent).
fn prune_empty(def: &ResourceDef, obj: &mut Value) {
    if def.custom {
        return;
    }
    let empty = |v: &Value| {
        v.as_object().is_some_and(serde_json::Map::is_empty)
            || v.as_array().is_some_and(Vec::is_empty)
            || v.is_null()
    };
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in ["labels", "annotations", "finalizers", "ownerReferences"] {
            if m.get(key).is_some_and(empty) {
                m.remove(key);
            }
        }
    }
    // A namespace's `spec.finalizers` is omitted when empty (k8s.io/api v0.36.3
    // `core/v1/types.go`, NamespaceSpec, `omitempty`).
    if def.is_namespaces()
        && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
        && spec.get("finalizers").is_some_and(empty)
    {
        spec.remove("finalizers");
    }
    let own: &[&str] = match (def.group.as_str(), def.plural.as_str()) {
        ("", "configmaps") => &["data", "binaryData"],
        ("", "secrets") => &["data", "stringData"],
        _ => &[],
    };
    if let Some(m) = obj.as_object_mut() {
        for key in own {
            if m.get(*key).is_some_and(empty) {
                m.remove(*key);
            }
        }
    }
}
