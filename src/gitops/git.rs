//! The infrastructure repository through the real `git` CLI: fetch, read, and build commits from file changes
//! without a working tree (a temporary index), so the same changes always give the same tree and diff.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::domain::plan::FileChange;

/// A local mirror of the infrastructure repository.
#[derive(Debug, Clone)]
pub struct Repo {
    dir: PathBuf,
    remote: String,
    base: String,
}

/// Who commits.
#[derive(Debug, Clone)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// Removes credentials from a URL shown in an error (`https://user:token@host` → `https://***@host`).
pub(crate) fn redact_remote(text: &str, remote: &str) -> String {
    match url::Url::parse(remote) {
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            let mut clean = u.clone();
            let _ = clean.set_username("***");
            let _ = clean.set_password(None);
            text.replace(remote, clean.as_str())
        }
        _ => text.to_owned(),
    }
}

impl Repo {
    /// Clones `remote` into `dir` (bare) unless it is there, and fetches the base branch.
    pub async fn open(remote: &str, base: &str, dir: &Path) -> anyhow::Result<Repo> {
        let repo = Repo {
            dir: dir.to_path_buf(),
            remote: remote.to_owned(),
            base: base.to_owned(),
        };
        if !dir.join("HEAD").is_file() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create git.workdir {}", dir.display()))?;
            repo.git(&["init", "--bare", "--quiet"], None, &[]).await?;
            repo.git(&["remote", "add", "origin", remote], None, &[])
                .await?;
        }
        repo.fetch().await?;
        Ok(repo)
    }

    async fn git(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<String> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir").arg(&self.dir).args(args);
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .envs(env.iter().copied());
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().context("cannot run git (is it installed?)")?;
        if let Some(mut pipe) = child.stdin.take() {
            if let Some(input) = stdin {
                pipe.write_all(input.as_bytes()).await?;
            }
            drop(pipe);
        }
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            bail!(
                "git {} failed: {}",
                args.first().unwrap_or(&""),
                redact_remote(err.trim(), &self.remote)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Fetches the base branch; returns its head commit.
    pub async fn fetch(&self) -> anyhow::Result<String> {
        let refspec = format!("+refs/heads/{0}:refs/remotes/origin/{0}", self.base);
        self.git(&["fetch", "--quiet", "origin", &refspec], None, &[])
            .await?;
        Ok(self
            .git(
                &["rev-parse", &format!("refs/remotes/origin/{}", self.base)],
                None,
                &[],
            )
            .await?
            .trim()
            .to_owned())
    }

    /// A file's content at a commit, if it exists.
    pub async fn read(&self, commit: &str, path: &str) -> anyhow::Result<Option<String>> {
        match self
            .git(&["show", &format!("{commit}:{path}")], None, &[])
            .await
        {
            Ok(text) => Ok(Some(text)),
            Err(_) => Ok(None),
        }
    }

    /// A commit's subject line, if the commit is known.
    pub async fn subject(&self, commit: &str) -> Option<String> {
        self.git(&["log", "-1", "--format=%s", commit, "--"], None, &[])
            .await
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// The first parent of a commit; None for a root commit.
    pub async fn parent(&self, commit: &str) -> anyhow::Result<Option<String>> {
        let out = self
            .git(&["rev-list", "--parents", "-n", "1", commit], None, &[])
            .await?;
        Ok(out.split_whitespace().nth(1).map(str::to_owned))
    }

    /// Paths that differ between two commits.
    pub async fn changed(&self, from: &str, to: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .git(
                &["diff", "--name-only", "--no-renames", from, to],
                None,
                &[],
            )
            .await?
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// Files under `prefix` at a commit.
    pub async fn list(&self, commit: &str, prefix: &str) -> anyhow::Result<Vec<String>> {
        let mut args = vec!["ls-tree", "-r", "--name-only", commit];
        if !prefix.is_empty() {
            args.push("--");
            args.push(prefix);
        }
        Ok(self
            .git(&args, None, &[])
            .await?
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// Lines containing `needle` (fixed string) at a commit, as `path:line:text`.
    pub async fn search(&self, commit: &str, needle: &str) -> anyhow::Result<Vec<String>> {
        match self
            .git(&["grep", "-n", "-F", "-I", needle, commit], None, &[])
            .await
        {
            Ok(out) => Ok(out
                .lines()
                .map(|l| {
                    l.strip_prefix(&format!("{commit}:"))
                        .unwrap_or(l)
                        .to_owned()
                })
                .collect()),
            Err(_) => Ok(Vec::new()),
        }
    }

    /// The tree of `base` with `changes` applied, built in a throwaway index.
    pub async fn tree(&self, base: &str, changes: &[FileChange]) -> anyhow::Result<String> {
        // A path that does not exist yet: git refuses an empty file as an index.
        let scratch = tempfile::tempdir()?;
        let index_path = scratch.path().join("index").to_string_lossy().into_owned();
        let env = [("GIT_INDEX_FILE", index_path.as_str())];
        self.git(&["read-tree", base], None, &env).await?;
        for change in changes {
            match &change.content {
                Some(content) => {
                    let blob = self
                        .git(&["hash-object", "-w", "--stdin"], Some(content), &[])
                        .await?;
                    let info = format!("100644,{},{}", blob.trim(), change.path);
                    self.git(&["update-index", "--add", "--cacheinfo", &info], None, &env)
                        .await?;
                }
                None => {
                    // Mode 0 removes the entry; --force-remove would need a work tree.
                    let line = format!(
                        "0 0000000000000000000000000000000000000000\t{}\n",
                        change.path
                    );
                    self.git(&["update-index", "--index-info"], Some(&line), &env)
                        .await?;
                }
            }
        }
        Ok(self
            .git(&["write-tree"], None, &env)
            .await?
            .trim()
            .to_owned())
    }

    /// The unified diff between a commit and a tree.
    pub async fn diff(&self, base: &str, tree: &str) -> anyhow::Result<String> {
        self.git(
            &["diff", "--no-color", "--no-renames", base, tree],
            None,
            &[],
        )
        .await
    }

    /// A commit of `tree` on `parent`; the fixed date makes a retry produce the same commit.
    pub async fn commit(
        &self,
        parent: &str,
        tree: &str,
        message: &str,
        author: &Author,
        date: &str,
    ) -> anyhow::Result<String> {
        let env = [
            ("GIT_AUTHOR_NAME", author.name.as_str()),
            ("GIT_AUTHOR_EMAIL", author.email.as_str()),
            ("GIT_AUTHOR_DATE", date),
            ("GIT_COMMITTER_NAME", author.name.as_str()),
            ("GIT_COMMITTER_EMAIL", author.email.as_str()),
            ("GIT_COMMITTER_DATE", date),
        ];
        Ok(self
            .git(
                &["commit-tree", tree, "-p", parent, "-F", "-"],
                Some(message),
                &env,
            )
            .await?
            .trim()
            .to_owned())
    }

    /// Points `branch` on the remote at `commit`, unless it already is; refuses to overwrite someone else's work.
    pub async fn push(&self, commit: &str, branch: &str) -> anyhow::Result<()> {
        let remote_ref = format!("refs/heads/{branch}");
        let current = self
            .git(&["ls-remote", "origin", &remote_ref], None, &[])
            .await?;
        let current = current.split_whitespace().next().map(str::to_owned);
        if current.as_deref() == Some(commit) {
            return Ok(());
        }
        // --force-with-lease against what we saw: a branch that moved since is never clobbered.
        let lease = format!(
            "--force-with-lease={remote_ref}:{}",
            current.unwrap_or_default()
        );
        self.git(
            &[
                "push",
                "--quiet",
                &lease,
                "origin",
                &format!("{commit}:{remote_ref}"),
            ],
            None,
            &[],
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_remote_urls_are_hidden() {
        let remote = "https://x-access-token:ghp_secret@github.com/acme/infra.git";
        let shown = redact_remote(&format!("fatal: unable to access '{remote}'"), remote);
        assert!(!shown.contains("ghp_secret"), "{shown}");
        assert!(
            shown.contains("https://***@github.com/acme/infra.git"),
            "{shown}"
        );
    }
}
