//! Pull requests on GitHub (octocrab; `github.api_url` points tests at a fake): open, or adopt the one that exists.

use anyhow::Context;
use http::StatusCode;
use octocrab::Octocrab;
use octocrab::params::State;
use secrecy::ExposeSecret;

use crate::config::GithubConfig;

/// A pull request Aura opened or adopted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRef {
    pub number: u64,
    pub url: String,
}

/// Where a pull request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullState {
    pub open: bool,
    pub merged: bool,
    pub merge_commit: Option<String>,
}

/// The repository's pull requests.
#[derive(Debug, Clone)]
pub struct GitHub {
    client: Octocrab,
    owner: String,
    repo: String,
}

impl GitHub {
    /// A client for `github.owner/github.repo` at `github.api_url`.
    pub fn new(config: &GithubConfig) -> anyhow::Result<GitHub> {
        let token = config.token.as_ref().context("github.token is not set")?;
        let client = Octocrab::builder()
            .base_uri(config.api_url.as_str())
            .context("github.api_url is not a URL")?
            .personal_token(token.expose_secret().to_owned())
            .build()
            .context("cannot build the GitHub client")?;
        Ok(GitHub {
            client,
            owner: config.owner.clone().context("github.owner is not set")?,
            repo: config.repo.clone().context("github.repo is not set")?,
        })
    }

    /// Opens a pull request from `branch` into `base`; GitHub answers 422 when one exists, which is then adopted.
    pub async fn open_or_adopt(
        &self,
        branch: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> anyhow::Result<PullRef> {
        let pulls = self.client.pulls(&self.owner, &self.repo);
        match pulls.create(title, branch, base).body(body).send().await {
            Ok(pr) => Ok(to_ref(&pr)),
            Err(octocrab::Error::GitHub { source, .. })
                if source.status_code == StatusCode::UNPROCESSABLE_ENTITY =>
            {
                let existing = pulls
                    .list()
                    .head(format!("{}:{branch}", self.owner))
                    .state(State::All)
                    .send()
                    .await
                    .context("cannot list pull requests to adopt the existing one")?;
                let pr = existing.items.first().with_context(|| {
                    format!(
                        "GitHub refused the pull request ({}) and none exists for {branch}",
                        source.message
                    )
                })?;
                tracing::info!(pr = pr.number, branch, "adopting the existing pull request");
                Ok(to_ref(pr))
            }
            Err(e) => Err(anyhow::anyhow!(
                "cannot open a pull request for {branch}: {e}"
            )),
        }
    }

    /// Whether a pull request is open, merged, and with which commit.
    pub async fn state(&self, number: u64) -> anyhow::Result<PullState> {
        let pr = self
            .client
            .pulls(&self.owner, &self.repo)
            .get(number)
            .await?;
        Ok(PullState {
            open: matches!(pr.state, Some(octocrab::models::IssueState::Open)),
            merged: pr.merged_at.is_some() || pr.merged.unwrap_or(false),
            merge_commit: pr.merge_commit_sha.clone(),
        })
    }
}

fn to_ref(pr: &octocrab::models::pulls::PullRequest) -> PullRef {
    PullRef {
        number: pr.number,
        url: pr
            .html_url
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}
