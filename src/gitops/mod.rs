//! GitOps: the infrastructure repository and its pull requests — preparing plans as exact diffs, and executing
//! approved ones (branch `aura/ticket-<id>`, commit, push, pull request).

pub mod executor;
pub mod git;
pub mod github;
pub mod observer;

use tokio::sync::Mutex;

use crate::config::Config;
use crate::domain::lint::{self, Violation};
use crate::domain::plan::FileChange;
use crate::domain::{Plan, Ticket};

pub use git::{Author, Repo};
pub use github::GitHub;

/// The repository, its pull requests, and the rules for what a ticket may change.
#[derive(Debug)]
pub struct GitOps {
    repo: Mutex<Repo>,
    github: GitHub,
    author: Author,
    base_branch: String,
    app_path: String,
}

/// Why a plan cannot be offered for approval.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("refused by the data-protection linter: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Refused(Vec<Violation>),
    #[error("the changes do not change anything")]
    NoChanges,
    #[error("{0}")]
    BadChange(String),
    #[error(transparent)]
    Git(#[from] anyhow::Error),
}

impl GitOps {
    /// Opens (cloning if needed) the repository and the GitHub client from the config.
    pub async fn connect(config: &Config) -> anyhow::Result<GitOps> {
        let remote = config.git.repo_url.as_deref().unwrap_or_default();
        let repo = Repo::open(remote, &config.git.base_branch, &config.git.workdir).await?;
        Ok(GitOps {
            repo: Mutex::new(repo),
            github: GitHub::new(&config.github)?,
            author: Author {
                name: config.git.author_name.clone(),
                email: config.git.author_email.clone(),
            },
            base_branch: config.git.base_branch.clone(),
            app_path: config.git.app_path.clone(),
        })
    }

    /// The branch a ticket's change goes on.
    pub fn branch(ticket: &Ticket) -> String {
        format!("aura/ticket-{}", ticket.id.0)
    }

    /// Applications (directories matching `git.app_path`) the ticket names, decided from its text alone, so
    /// nothing the agent reads can widen what it may change.
    pub async fn ticket_apps(&self, base: &str, ticket: &Ticket) -> anyhow::Result<Vec<String>> {
        let prefix = self.app_path.split("{app}").next().unwrap_or_default();
        let files = self.repo.lock().await.list(base, prefix).await?;
        let mut apps: Vec<String> = files
            .iter()
            .filter_map(|f| f.strip_prefix(prefix)?.split('/').next().map(str::to_owned))
            .collect();
        apps.sort();
        apps.dedup();
        let text = format!("{} {}", ticket.title, ticket.description).to_lowercase();
        let words: Vec<&str> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .collect();
        Ok(apps
            .into_iter()
            .filter(|a| words.contains(&a.to_lowercase().as_str()))
            .collect())
    }

    /// The paths a ticket may change.
    pub fn allowed_paths(&self, apps: &[String]) -> Vec<String> {
        apps.iter()
            .map(|a| self.app_path.replace("{app}", a))
            .collect()
    }

    /// Turns proposed file changes into a plan bound to the current base commit and its exact diff, after the
    /// linter passed it.
    pub async fn prepare(
        &self,
        ticket: &Ticket,
        summary: &str,
        steps: &[String],
        changes: Vec<FileChange>,
    ) -> Result<Plan, PrepareError> {
        if let Some(c) = changes.iter().find(|c| !c.path_is_safe()) {
            return Err(PrepareError::BadChange(format!(
                "'{}' is not a plain path inside the repository",
                c.path
            )));
        }
        let repo = self.repo.lock().await;
        let base = repo.fetch().await?;
        let tree = repo.tree(&base, &changes).await?;
        let diff = repo.diff(&base, &tree).await?;
        drop(repo);
        if diff.trim().is_empty() {
            return Err(PrepareError::NoChanges);
        }
        let allowed = self.allowed_paths(&self.ticket_apps(&base, ticket).await?);
        let violations = lint::check(&diff, Some(&allowed));
        if !violations.is_empty() {
            return Err(PrepareError::Refused(violations));
        }
        Ok(Plan {
            summary: summary.to_owned(),
            steps: steps.to_vec(),
            diff: Some(diff),
            base_sha: Some(base),
            changes,
        })
    }

    /// Reads a file at the base branch head (for the agent's repository tools).
    pub async fn read(&self, path: &str) -> anyhow::Result<Option<String>> {
        let repo = self.repo.lock().await;
        let base = repo.fetch().await?;
        repo.read(&base, path).await
    }

    /// Lists files under a prefix at the base branch head.
    pub async fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let repo = self.repo.lock().await;
        let base = repo.fetch().await?;
        repo.list(&base, prefix).await
    }

    /// Searches the base branch head for a fixed string.
    pub async fn search(&self, needle: &str) -> anyhow::Result<Vec<String>> {
        let repo = self.repo.lock().await;
        let base = repo.fetch().await?;
        repo.search(&base, needle).await
    }
}
