//! The data-protection linter: deterministic rules every planned diff must pass; no approval overrides them.

use std::fmt;

/// A rule a diff broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A PersistentVolumeClaim is deleted.
    PvcDeletion,
    /// A PersistentVolume is deleted.
    PvDeletion,
    /// A Namespace is deleted.
    NamespaceDeletion,
    /// Argo CD pruning (or `kubectl --prune`) is switched on.
    PruneEnabled,
    /// A storage reclaim policy is changed.
    ReclaimPolicyChange,
    /// A file outside the ticket's allowed paths is touched.
    OutsideAllowedPaths,
}

impl Rule {
    /// The rule's stable name, shown to users and stored in the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Rule::PvcDeletion => "no-pvc-deletion",
            Rule::PvDeletion => "no-pv-deletion",
            Rule::NamespaceDeletion => "no-namespace-deletion",
            Rule::PruneEnabled => "no-prune-enabling",
            Rule::ReclaimPolicyChange => "no-reclaim-policy-change",
            Rule::OutsideAllowedPaths => "allowed-paths-only",
        }
    }
}

/// One broken rule, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub path: String,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.rule.name(), self.path, self.detail)
    }
}

/// One file's part of a unified diff.
#[derive(Debug, Default)]
struct FileDiff {
    path: String,
    deleted: bool,
    added: Vec<String>,
    removed: Vec<String>,
}

fn parse(diff: &str) -> Vec<FileDiff> {
    let mut files: Vec<FileDiff> = Vec::new();
    let mut old_path = String::new();
    for line in diff.lines() {
        if let Some(p) = line.strip_prefix("--- ") {
            old_path = p.trim_start_matches("a/").to_owned();
        } else if let Some(p) = line.strip_prefix("+++ ") {
            let deleted = p == "/dev/null";
            let path = if deleted {
                old_path.clone()
            } else {
                p.trim_start_matches("b/").to_owned()
            };
            files.push(FileDiff {
                path,
                deleted,
                ..FileDiff::default()
            });
        } else if let Some(f) = files.last_mut() {
            if let Some(l) = line.strip_prefix('+') {
                f.added.push(l.to_owned());
            } else if let Some(l) = line.strip_prefix('-') {
                f.removed.push(l.to_owned());
            }
        }
    }
    files
}

/// The `kind:` values in some YAML lines.
fn kinds(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("kind:")
                .map(|k| k.trim().trim_matches(['"', '\'']).to_owned())
        })
        .collect()
}

fn is_prune_on(line: &str) -> bool {
    let l = line.trim().to_ascii_lowercase().replace(' ', "");
    l == "prune:true" || l.contains("prune=true") || l.contains("--prune")
}

fn is_reclaim(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    l.contains("reclaimpolicy")
}

/// Whether `path` is inside one of `allowed` (directory prefixes like `apps/podinfo/`, or exact files).
pub fn path_allowed(path: &str, allowed: &[String]) -> bool {
    !path.split('/').any(|seg| seg == "..")
        && allowed.iter().any(|a| {
            path == a.trim_end_matches('/')
                || path.starts_with(&format!("{}/", a.trim_end_matches('/')))
        })
}

/// Every rule the diff breaks, in file order; empty means the diff may be offered for approval.
/// `allowed` is the ticket's allowed paths; `None` (a diff not tied to the repository) skips only that rule.
pub fn check(diff: &str, allowed: Option<&[String]>) -> Vec<Violation> {
    let mut out = Vec::new();
    for f in parse(diff) {
        let v = |rule, detail: String| Violation {
            rule,
            path: f.path.clone(),
            detail,
        };
        if let Some(allowed) = allowed
            && !path_allowed(&f.path, allowed)
        {
            out.push(v(
                Rule::OutsideAllowedPaths,
                format!("allowed: {}", allowed.join(", ")),
            ));
        }
        // A kind whose declarations are removed and not re-added is a deleted object.
        let (gone, kept) = (kinds(&f.removed), kinds(&f.added));
        for (kind, rule) in [
            ("PersistentVolumeClaim", Rule::PvcDeletion),
            ("PersistentVolume", Rule::PvDeletion),
            ("Namespace", Rule::NamespaceDeletion),
        ] {
            let removed = gone.iter().filter(|k| *k == kind).count();
            let added = kept.iter().filter(|k| *k == kind).count();
            if removed > added || (f.deleted && removed > 0) {
                out.push(v(rule, format!("a {kind} is deleted")));
            }
        }
        if let Some(l) = f.added.iter().find(|l| is_prune_on(l)) {
            out.push(v(Rule::PruneEnabled, format!("adds `{}`", l.trim())));
        }
        if let Some(l) = f.added.iter().chain(&f.removed).find(|l| is_reclaim(l)) {
            out.push(v(
                Rule::ReclaimPolicyChange,
                format!("changes `{}`", l.trim()),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["apps/podinfo/".into()]
    }

    const SCALE: &str = "diff --git a/apps/podinfo/values.yaml b/apps/podinfo/values.yaml
--- a/apps/podinfo/values.yaml
+++ b/apps/podinfo/values.yaml
@@ -1,3 +1,3 @@
 image: ghcr.io/stefanprodan/podinfo
-replicas: 1
+replicas: 3
";

    #[test]
    fn a_plain_scale_change_passes() {
        assert_eq!(check(SCALE, Some(&allowed())), vec![]);
    }

    #[test]
    fn deleting_a_pvc_file_is_refused() {
        let diff = "--- a/apps/podinfo/pvc.yaml\n+++ /dev/null\n@@ -1,4 +0,0 @@\n-apiVersion: v1\n-kind: PersistentVolumeClaim\n-metadata:\n-  name: data\n";
        let v = check(diff, Some(&allowed()));
        assert_eq!(
            v.iter().map(|v| v.rule).collect::<Vec<_>>(),
            [Rule::PvcDeletion]
        );
        assert_eq!(
            v[0].to_string(),
            "no-pvc-deletion (apps/podinfo/pvc.yaml): a PersistentVolumeClaim is deleted"
        );
    }

    #[test]
    fn removing_a_namespace_document_from_a_file_is_refused() {
        let diff = "--- a/apps/podinfo/all.yaml\n+++ b/apps/podinfo/all.yaml\n@@ -1,6 +1,2 @@\n-apiVersion: v1\n-kind: Namespace\n----\n kind: Deployment\n";
        assert_eq!(
            check(diff, Some(&allowed()))[0].rule,
            Rule::NamespaceDeletion
        );
    }

    #[test]
    fn prune_and_reclaim_policy_changes_are_refused() {
        let diff = "--- a/apps/podinfo/app.yaml\n+++ b/apps/podinfo/app.yaml\n@@ -1,2 +1,3 @@\n   automated:\n+    prune: true\n-  persistentVolumeReclaimPolicy: Retain\n+  persistentVolumeReclaimPolicy: Delete\n";
        let rules: Vec<Rule> = check(diff, Some(&allowed()))
            .iter()
            .map(|v| v.rule)
            .collect();
        assert_eq!(rules, [Rule::PruneEnabled, Rule::ReclaimPolicyChange]);
    }

    #[test]
    fn touching_another_app_is_outside_the_allowed_paths() {
        let diff = SCALE.replace("apps/podinfo", "apps/payments");
        assert_eq!(
            check(&diff, Some(&allowed()))[0].rule,
            Rule::OutsideAllowedPaths
        );
        assert!(!path_allowed("apps/podinfo/../payments/x.yaml", &allowed()));
        assert!(!path_allowed("apps/podinfo-evil/x.yaml", &allowed()));
        assert!(path_allowed("apps/podinfo/x.yaml", &allowed()));
    }

    #[test]
    fn moving_a_pvc_within_a_file_is_not_a_deletion() {
        let diff = "--- a/apps/podinfo/pvc.yaml\n+++ b/apps/podinfo/pvc.yaml\n@@ -1,3 +1,3 @@\n-kind: PersistentVolumeClaim\n+kind: PersistentVolumeClaim\n-  storage: 1Gi\n+  storage: 2Gi\n";
        assert_eq!(check(diff, Some(&allowed())), vec![]);
    }
}
