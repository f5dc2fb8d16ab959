//! Seed manifests: multi-document YAML applied to the store at start or mid-test.

use std::path::Path;

use serde_json::Value;

use super::error::SandboxError;
use super::store::Store;

/// One manifest source.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Where it came from, for messages.
    pub source: String,
    /// Multi-document YAML.
    pub yaml: String,
}

impl Manifest {
    /// Inline YAML.
    pub fn inline(yaml: impl Into<String>) -> Self {
        Self {
            source: "inline manifest".to_owned(),
            yaml: yaml.into(),
        }
    }

    /// Read a file.
    pub fn from_file(path: &Path) -> Result<Self, SandboxError> {
        let yaml = std::fs::read_to_string(path).map_err(|e| SandboxError::Read {
            path: path.display().to_string(),
            source: e,
        })?;
        Ok(Self {
            source: path.display().to_string(),
            yaml,
        })
    }

    /// Its objects: the YAML documents, `kind: List` expanded, empty ones skipped.
    /// The one reading of a seed, for the sandbox and for a rehearsal on a cluster.
    pub fn objects(&self) -> Result<Vec<Value>, SandboxError> {
        planrun_text::manifest_objects(&self.yaml).map_err(|message| SandboxError::Seed {
            source_name: self.source.clone(),
            message,
        })
    }
}

/// Where an object goes when seeding, lowest first (a stable sort keeps the written
/// order otherwise): Namespaces, then CRDs, then the rest, so a manifest may list a
/// custom resource or a namespaced object before what it needs. The rehearsal on a
/// real cluster seeds in the same order.
pub fn seed_order(obj: &Value) -> u8 {
    match obj.get("kind").and_then(Value::as_str) {
        Some("Namespace") => 0,
        Some("CustomResourceDefinition") => 1,
        _ => 2,
    }
}

/// Store every object of the manifests: namespaces first, then CRDs, then the rest.
pub fn seed(
    store: &mut Store,
    manifests: &[Manifest],
    manager: &str,
) -> Result<Vec<Value>, SandboxError> {
    let mut docs = Vec::new();
    for m in manifests {
        for d in m.objects()? {
            docs.push((m.source.clone(), d));
        }
    }
    docs.sort_by_key(|(_, d)| seed_order(d));
    store.seeding = true;
    let stored = seed_all(store, docs, manager);
    store.seeding = false;
    store.reconcile_workloads();
    stored
}

fn seed_all(
    store: &mut Store,
    docs: Vec<(String, Value)>,
    manager: &str,
) -> Result<Vec<Value>, SandboxError> {
    let mut stored = Vec::new();
    for (source, d) in docs {
        let api_version = d.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = d.get("kind").and_then(Value::as_str).unwrap_or("");
        let Some((def, version)) = store.resolve_kind(api_version, kind) else {
            return Err(SandboxError::Seed {
                source_name: source,
                message: format!(
                    "no kind {kind:?} is served for apiVersion {api_version:?} (seed its CRD first)"
                ),
            });
        };
        let obj = store
            .seed(&def, &version, d, manager)
            .map_err(|e| SandboxError::Seed {
                source_name: source.clone(),
                message: e.message,
            })?;
        stored.push(obj);
    }
    Ok(stored)
}
