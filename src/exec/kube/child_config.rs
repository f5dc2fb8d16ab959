//! One cluster for every tool: every child of a run (scripts, `pulumi`, `flux`,
//! `kubectl` in a script) acts on the kube context the run uses (the one the plan's
//! guard checked), not on whatever context is current in the user's kubeconfig.
//!
//! Children get `KUBECONFIG=<private file>:<the files planrun read>`. The private
//! file, in a 0700 directory of the run, mode 0600, removed when the run ends, sets
//! only `current-context`. Every kubeconfig loader merges the list with "the first
//! file to set a value wins": client-go (kubectl, flux, the pulumi-kubernetes
//! provider) merges non-map values such as `current-context` so the first file's
//! stands (kubernetes/kubernetes `staging/src/k8s.io/client-go/tools/clientcmd/loader.go`,
//! `ClientConfigLoadingRules.Load`), and kube-rs keeps the first `current_context` it
//! meets (`kube-client` `config/file_config.rs`, `Kubeconfig::merge`). So the
//! children's current context is the run's, while clusters, users and credentials
//! still come from the user's own files: nothing is copied anywhere.
//!
//! The private file names `apiVersion: v1` and `kind: Config` like every kubeconfig:
//! kube-rs refuses to merge files whose `kind` or `apiVersion` differ.

use std::path::{Path, PathBuf};

use super::connection::Connection;
use crate::exec::private_file::write_private;
use crate::layout::create_private_dir;

/// The private kubeconfig of a run's children; removed when dropped.
#[derive(Debug)]
pub struct ChildKubeconfig {
    dir: PathBuf,
    value: String,
}

/// The private file's name inside its directory.
const FILE: &str = "kubeconfig";

impl ChildKubeconfig {
    /// Writes the private file into `dir` (created 0700) for `conn`'s context.
    pub fn write(dir: &Path, conn: &Connection) -> std::io::Result<Self> {
        create_private_dir(dir)?;
        let path = dir.join(FILE);
        write_private(&path, Self::contents(conn.context()).as_bytes())?;
        let mut entries = vec![path];
        entries.extend(conn.kubeconfig_files().iter().cloned());
        let joined = std::env::join_paths(&entries).map_err(std::io::Error::other)?;
        let value = joined.into_string().map_err(|_| {
            std::io::Error::other(
                "a kubeconfig path is not valid UTF-8; children cannot be given it",
            )
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            value,
        })
    }

    /// The private file: the context, nothing else. Context names are YAML-quoted.
    fn contents(context: &str) -> String {
        let quoted = serde_json::to_string(context).expect("a string serializes");
        format!("apiVersion: v1\nkind: Config\ncurrent-context: {quoted}\n")
    }

    /// The variable children get.
    pub fn env(&self) -> (String, String) {
        ("KUBECONFIG".to_owned(), self.value.clone())
    }
}

impl Drop for ChildKubeconfig {
    fn drop(&mut self) {
        // Best effort: the file holds only a context name.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::config::Kubeconfig;

    #[test]
    fn the_private_file_sets_the_current_context_first() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("config");
        std::fs::write(
            &user,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: 'https://prod:6443'}\n- name: staging\n  cluster: {server: 'https://staging:6443'}\nusers:\n- name: me\n  user: {token: abc}\ncontexts:\n- name: prod\n  context: {cluster: prod, user: me}\n- name: staging\n  context: {cluster: staging, user: me}\ncurrent-context: staging\n",
        )
        .unwrap();
        let private = dir.path().join("kube");
        std::fs::create_dir(&private).unwrap();
        let file = private.join(FILE);
        std::fs::write(&file, ChildKubeconfig::contents("prod")).unwrap();
        let merged = [file, user]
            .iter()
            .map(|p| Kubeconfig::read_from(p).unwrap())
            .reduce(|a, b| a.merge(b).unwrap())
            .unwrap();
        assert_eq!(merged.current_context.as_deref(), Some("prod"));
        assert_eq!(
            merged.contexts.len(),
            2,
            "contexts still come from the user's file"
        );
        assert_eq!(
            ChildKubeconfig::contents("we:ird \"name\""),
            "apiVersion: v1\nkind: Config\ncurrent-context: \"we:ird \\\"name\\\"\"\n"
        );
    }
}
