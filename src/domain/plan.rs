//! A proposed change to a ticket's target and its digest, which an approval is bound to.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A plan: what will be done, step by step, and optionally the exact diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub summary: String,
    pub steps: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The base commit the diff applies to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_sha: Option<String>,
    /// The exact file contents the change writes (the diff is computed from them against `base_sha`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FileChange>,
}

/// One file a plan writes (`content`) or deletes (`None`), by repository-relative path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileChange {
    pub path: String,
    pub content: Option<String>,
}

impl FileChange {
    /// Whether the path is a plain relative path inside the repository.
    pub fn path_is_safe(&self) -> bool {
        let p = &self.path;
        !p.is_empty()
            && !p.starts_with('/')
            && !p.contains('\\')
            && !p.contains('\0')
            && p.split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && seg != ".git")
    }
}

/// Why a plan cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPlan {
    #[error("a plan needs a summary")]
    EmptySummary,
    #[error("a plan needs at least one step")]
    NoSteps,
    #[error("step {0} is empty")]
    EmptyStep(usize),
    #[error("'{0}' is not a plain path inside the repository")]
    BadPath(String),
}

impl Plan {
    /// Checks that the plan says something.
    pub fn validate(&self) -> Result<(), BadPlan> {
        if self.summary.trim().is_empty() {
            return Err(BadPlan::EmptySummary);
        }
        if self.steps.is_empty() {
            return Err(BadPlan::NoSteps);
        }
        if let Some(i) = self.steps.iter().position(|s| s.trim().is_empty()) {
            return Err(BadPlan::EmptyStep(i + 1));
        }
        if let Some(c) = self.changes.iter().find(|c| !c.path_is_safe()) {
            return Err(BadPlan::BadPath(c.path.chars().take(120).collect()));
        }
        Ok(())
    }

    /// SHA-256 over every field, length-prefixed so no two plans share a digest by concatenation.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        };
        field(&self.summary);
        field(&self.steps.len().to_string());
        for step in &self.steps {
            field(step);
        }
        field(self.diff.as_deref().unwrap_or("\u{0}none"));
        field(self.base_sha.as_deref().unwrap_or("\u{0}none"));
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            summary: "scale podinfo".into(),
            steps: vec!["edit replicas".into(), "open PR".into()],
            diff: Some("-replicas: 1\n+replicas: 3\n".into()),
            base_sha: None,
            changes: vec![],
        }
    }

    #[test]
    fn any_change_to_a_plan_changes_its_digest() {
        let base = plan().digest();
        assert_eq!(base, plan().digest());
        let mut p = plan();
        p.steps[1].push('!');
        assert_ne!(p.digest(), base);
        let mut p = plan();
        p.diff = None;
        assert_ne!(p.digest(), base);
        let mut p = plan();
        p.steps = vec!["edit replicasopen PR".into()];
        assert_ne!(p.digest(), base);
        let mut p = plan();
        p.base_sha = Some("abc".into());
        assert_ne!(p.digest(), base);
    }

    #[test]
    fn change_paths_stay_inside_the_repository() {
        let change = |p: &str| FileChange {
            path: p.into(),
            content: None,
        };
        assert!(change("apps/podinfo/values.yaml").path_is_safe());
        for bad in [
            "/etc/passwd",
            "apps/../../x",
            "apps//x",
            ".git/config",
            "",
            "a/./b",
        ] {
            assert!(!change(bad).path_is_safe(), "{bad}");
        }
    }

    #[test]
    fn empty_plans_are_refused() {
        let mut p = plan();
        p.steps.clear();
        assert_eq!(p.validate(), Err(BadPlan::NoSteps));
        let mut p = plan();
        p.steps[0] = " ".into();
        assert_eq!(p.validate(), Err(BadPlan::EmptyStep(1)));
        assert_eq!(plan().validate(), Ok(()));
    }
}
