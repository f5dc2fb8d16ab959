//! The change summary of an update or a preview: how many resources each operation
//! touched, as Pulumi reports it (`resourceChanges` of the summary event,
//! `changeSummary` of the preview digest).

use std::collections::BTreeMap;
use std::fmt;

/// Operation (`create`, `update`, `delete`, `replace`, `same`, ...) -> count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSummary {
    pub counts: BTreeMap<String, u64>,
    /// A preview: counts are what would happen.
    pub preview: bool,
}

impl ChangeSummary {
    /// From a JSON object of counts; entries that are not counts are ignored.
    pub fn from_json(value: &serde_json::Value, preview: bool) -> Self {
        let counts = value
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_u64().map(|n| (k.clone(), n)))
                    .collect()
            })
            .unwrap_or_default();
        Self { counts, preview }
    }

    fn count(&self, op: &str) -> u64 {
        self.counts.get(op).copied().unwrap_or(0)
    }

    /// Whether anything changes.
    pub fn has_changes(&self) -> bool {
        self.counts.iter().any(|(op, n)| op != "same" && *n > 0)
    }
}

/// Counts by operation, for tests.
#[cfg(test)]
impl ChangeSummary {
    pub fn creates(&self) -> u64 {
        self.count("create")
    }

    pub fn updates(&self) -> u64 {
        self.count("update")
    }

    pub fn deletes(&self) -> u64 {
        self.count("delete")
    }

    pub fn unchanged(&self) -> u64 {
        self.count("same")
    }
}

impl fmt::Display for ChangeSummary {
    /// `3 created, 1 updated, 2 unchanged` or, for a preview,
    /// `3 to create, 1 to update, 2 unchanged`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ORDER: [(&str, &str); 5] = [
            ("create", "created"),
            ("update", "updated"),
            ("replace", "replaced"),
            ("delete", "deleted"),
            ("same", "unchanged"),
        ];
        let mut parts = Vec::new();
        let known = ORDER.iter().map(|(op, _)| *op).collect::<Vec<_>>();
        for (op, past) in ORDER {
            let n = self.count(op);
            if n == 0 {
                continue;
            }
            parts.push(match (op, self.preview) {
                ("same", _) => format!("{n} unchanged"),
                (_, true) => format!("{n} to {op}"),
                (_, false) => format!("{n} {past}"),
            });
        }
        for (op, n) in &self.counts {
            if *n > 0 && !known.contains(&op.as_str()) {
                parts.push(format!("{n} {op}"));
            }
        }
        if parts.is_empty() {
            f.write_str("no changes")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counts_and_says_them_in_order() {
        let json = serde_json::json!({"same": 2, "create": 3, "update": 1, "delete": 1, "read": 4});
        let s = ChangeSummary::from_json(&json, false);
        assert_eq!(
            (s.creates(), s.updates(), s.deletes(), s.unchanged()),
            (3, 1, 1, 2)
        );
        assert_eq!(
            s.to_string(),
            "3 created, 1 updated, 1 deleted, 2 unchanged, 4 read"
        );
        let p = ChangeSummary::from_json(&serde_json::json!({"create": 3, "same": 1}), true);
        assert_eq!(p.to_string(), "3 to create, 1 unchanged");
        assert!(p.has_changes());
        let none = ChangeSummary::from_json(&serde_json::json!({"same": 5}), false);
        assert!(!none.has_changes());
        assert_eq!(ChangeSummary::default().to_string(), "no changes");
    }
}
