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

/// The text a ticket's applications are read from: its title and description.
fn ticket_text(ticket: &Ticket) -> String {
    format!("{} {}", ticket.title, ticket.description)
}

/// The short form of a commit id shown to people.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(8)]
}
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
        self.apps_named(base, &ticket_text(ticket)).await
    }

    /// Applications (directories matching `git.app_path` at `base`) that `text` names as a word.
    async fn apps_named(&self, base: &str, text: &str) -> anyhow::Result<Vec<String>> {
        let prefix = self.app_path.split("{app}").next().unwrap_or_default();
        let files = self.repo.lock().await.list(base, prefix).await?;
        let mut apps: Vec<String> = files
            .iter()
            .filter_map(|f| f.strip_prefix(prefix)?.split('/').next().map(str::to_owned))
            .collect();
        apps.sort();
        apps.dedup();
        Ok(Self::named(apps, text))
    }

    /// The applications among `apps` that `text` names as a word.
    fn named(apps: Vec<String>, text: &str) -> Vec<String> {
        let text = text.to_lowercase();
        let words: Vec<&str> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .collect();
        apps.into_iter()
            .filter(|a| words.contains(&a.to_lowercase().as_str()))
            .collect()
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
        self.prepare_for(&ticket_text(ticket), summary, steps, changes)
            .await
    }

    /// [`GitOps::prepare`] for a ticket not stored yet, by its text (title and description).
    pub async fn prepare_for(
        &self,
        ticket_text: &str,
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
        let allowed = self.allowed_paths(&self.apps_named(&base, ticket_text).await?);
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

    /// A commit's subject line (fetching first, so a just-synced revision is known); None when unknown.
    pub async fn subject(&self, commit: &str) -> Option<String> {
        let repo = self.repo.lock().await;
        if let Err(e) = repo.fetch().await {
            tracing::debug!(error = %format!("{e:#}"), "fetch before reading a commit subject failed");
        }
        repo.subject(commit).await
    }

    /// The changes that undo `commit` on the base head: every file it touched, back to its parent's content.
    /// `Err` with the reason when that is not a clean undo (a root commit, an unknown commit, or a file the
    /// commit touched changed again since).
    pub async fn revert_changes(
        &self,
        commit: &str,
    ) -> anyhow::Result<Result<Vec<FileChange>, String>> {
        let repo = self.repo.lock().await;
        let head = repo.fetch().await?;
        let Ok(Some(parent)) = repo.parent(commit).await else {
            return Ok(Err(format!(
                "{} is not a commit of the base branch with a parent",
                short(commit)
            )));
        };
        let touched = repo.changed(&parent, commit).await?;
        let since = repo.changed(commit, &head).await?;
        if let Some(path) = touched.iter().find(|p| since.contains(p)) {
            return Ok(Err(format!(
                "{path} changed again after {}; the revert needs a person",
                short(commit)
            )));
        }
        let mut changes = Vec::new();
        for path in touched {
            changes.push(FileChange {
                content: repo.read(&parent, &path).await?,
                path,
            });
        }
        Ok(Ok(changes))
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
