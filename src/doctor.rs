//! `aura doctor`: tries every configured connection and prints one verdict per line, with how to fix a problem.
//!
//! Each dependency is one small async function returning a [`Verdict`]; [`run`] lists the ones the configuration
//! turns on, runs them at the same time under [`CHECK_TIMEOUT`], and keeps their order.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, ListParams, PostParams};
use matrix_sdk::authentication::matrix::MatrixSession;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::argo;
use crate::chat::discord;
use crate::chat::telegram::{self, ProbeError};
use crate::clock::Clock;
use crate::config::{
    ArgoConfig, Config, DatabaseConfig, DiscordConfig, GitConfig, GithubConfig, HttpConfig,
    KubernetesConfig, LlmConfig, MatrixConfig, TelegramConfig, redact_url,
};
use crate::error_text::with_causes;
use crate::gitops::git::redact_remote;
use crate::storage::{self, Store};

/// How long one check may take before it counts as a problem.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// One dependency's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked: `database`, `telegram`, `http`.
    pub name: &'static str,
    /// What was found when it works, or the problem.
    pub result: Verdict,
}

/// What a check found: a detail line when it works, or the problem.
pub type Verdict = Result<String, Problem>;

/// What is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong, e.g. "cannot reach the Bot API at …".
    pub what: String,
    /// What the operator can do about it.
    pub fix: String,
}

impl Problem {
    fn new(what: impl Into<String>, fix: impl Into<String>) -> Problem {
        Problem {
            what: what.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(detail) => write!(f, "ok      {}: {detail}", self.name),
            Err(p) => write!(f, "PROBLEM {}: {} — {}", self.name, p.what, p.fix),
        }
    }
}

type Probe<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// Runs every check that applies to `config`, concurrently, each within [`CHECK_TIMEOUT`]; order is stable.
pub async fn run(config: &Config) -> Vec<Check> {
    let mut probes: Vec<(&'static str, Probe<'_>)> =
        vec![("database", Box::pin(database(&config.database)))];
    if config.telegram.is_on() {
        probes.push(("telegram", Box::pin(telegram(&config.telegram))));
    }
    if config.matrix.is_on() {
        probes.push(("matrix", Box::pin(matrix(&config.matrix))));
    }
    if config.discord.is_on() {
        probes.push(("discord", Box::pin(discord(&config.discord))));
    }
    if config.llm.is_on() {
        probes.push(("llm", Box::pin(llm(&config.llm))));
    }
    if config.github.token.is_some() {
        probes.push(("github", Box::pin(github(&config.github))));
    }
    if config.git.repo_url.is_some() {
        probes.push(("git", Box::pin(git_remote(&config.git))));
    }
    if config.kubernetes.is_on() {
        let (kube, argo) = (&config.kubernetes, &config.argocd);
        probes.push(("kubernetes", Box::pin(kubernetes(kube, argo))));
        probes.push(("argocd", Box::pin(argocd(kube, argo))));
    }
    probes.push(("http", Box::pin(listen(&config.http))));
    join_all(probes.into_iter().map(|(name, probe)| async move {
        let result = tokio::time::timeout(CHECK_TIMEOUT, probe)
            .await
            .unwrap_or_else(|_| {
                Err(Problem::new(
                    format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
                    "check that it runs and that this host can reach it (firewall, proxy, DNS)",
                ))
            });
        Check { name, result }
    }))
    .await
}

/// Connects, runs `SELECT 1` and compares the applied migrations with the ones this binary carries.
async fn database(config: &DatabaseConfig) -> Verdict {
    let shown = redact_url(&config.url);
    if let Some(file) = storage::sqlite_file(&config.url)
        && !file.is_file()
    {
        return Err(Problem::new(
            format!("{} does not exist", file.display()),
            "run `aura migrate` to create it, or point database.url at the existing file",
        ));
    }
    let store = Store::connect(&config.url, 1, Clock::system())
        .await
        .map_err(|e| {
            Problem::new(
                format!("{shown}: {}", hide_password(&e, &config.url)),
                "check database.url (host, port, user, password) and that the server runs",
            )
        })?;
    let answered = store.ping().await;
    let pending = match answered {
        Ok(()) => store.pending_migrations().await,
        Err(e) => Err(anyhow::Error::new(e).context("SELECT 1 failed")),
    };
    store.close().await;
    match pending {
        Ok(p) if p.is_empty() => Ok(format!("{shown} answers; every migration is applied")),
        Ok(p) => Err(Problem::new(
            format!("{shown} answers but lacks migration(s) {}", p.join(", ")),
            "run `aura migrate` (`aura serve` also applies them at start)",
        )),
        Err(e) => Err(Problem::new(
            format!("{shown}: {}", hide_password(&e, &config.url)),
            "check that the database user may read it; `aura migrate` sets up the schema",
        )),
    }
}

/// `getMe` with the configured token: proves the token and that the Bot API is reachable.
async fn telegram(config: &TelegramConfig) -> Verdict {
    let who = telegram::probe(config).await.map_err(|e| {
        let fix = match &e {
            ProbeError::Config(_) => {
                "fix the [telegram] section (`aura check` lists every problem)"
            }
            ProbeError::Unauthorized { .. } => {
                "set telegram.token (AURA__TELEGRAM__TOKEN) to the token @BotFather gave the bot"
            }
            ProbeError::Unreachable { .. } => {
                "check telegram.api_url and that this host can reach it (firewall, proxy, DNS)"
            }
            ProbeError::Failed(_) => {
                "check that telegram.api_url points at a Telegram Bot API server"
            }
        };
        Problem::new(e.to_string(), fix)
    })?;
    Ok(format!("{who} at {} ({})", config.api_url, config.mode))
}

/// `GET /users/@me` with the configured token: proves the token and that the REST API is reachable.
async fn discord(config: &DiscordConfig) -> Verdict {
    let who = discord::probe(config).await.map_err(|e| {
        let fix = match &e {
            discord::ProbeError::Config(_) => {
                "fix the [discord] section (`aura check` lists every problem)"
            }
            discord::ProbeError::Unauthorized { .. } => {
                "set discord.token (AURA__DISCORD__TOKEN) to the bot token from the Developer Portal (Bot → Token)"
            }
            discord::ProbeError::Unreachable { .. } => {
                "check discord.api_url and that this host can reach it (firewall, proxy, DNS)"
            }
        };
        Problem::new(e.to_string(), fix)
    })?;
    Ok(format!("{who} at {} ({})", config.api_url, config.mode))
}

/// Where `aura serve` keeps the Matrix session in `matrix.store_path` (written at the first login).
const MATRIX_SESSION_FILE: &str = "session.json";

/// How much of a peer's error text a problem line quotes.
const MAX_QUOTED: usize = 300;

/// Where the Matrix access token `aura serve` would use comes from.
enum TokenSource<'a> {
    Session(&'a Path),
    Config,
}

impl fmt::Display for TokenSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Session(file) => write!(f, "the saved session {}", file.display()),
            TokenSource::Config => f.write_str("matrix.access_token"),
        }
    }
}

/// `GET /_matrix/client/versions`, then `whoami` with the token `aura serve` would use (the saved session's, or
/// `matrix.access_token`). Never logs in: a login creates a device.
async fn matrix(config: &MatrixConfig) -> Verdict {
    let homeserver = config.homeserver.as_deref().ok_or_else(|| {
        Problem::new(
            "matrix.homeserver is not set",
            "set matrix.homeserver (AURA__MATRIX__HOMESERVER), e.g. https://matrix.example.org",
        )
    })?;
    let base = homeserver.trim_end_matches('/');
    let mut secrets: Vec<String> = [&config.access_token, &config.password]
        .into_iter()
        .flatten()
        .map(|s| s.expose_secret().to_owned())
        .collect();
    let unreachable = |e: reqwest::Error, secrets: &[String]| {
        Problem::new(
            format!(
                "cannot reach the homeserver at {homeserver}: {}",
                mask(&request_error(e), secrets)
            ),
            "check matrix.homeserver and that this host can reach it (firewall, proxy, DNS)",
        )
    };
    let not_matrix = |what: String| {
        Problem::new(
            what,
            "set matrix.homeserver to the homeserver's client URL (the base_url in https://<server>/.well-known/matrix/client)",
        )
    };
    let client = http_client()?;
    let versions = client
        .get(format!("{base}/_matrix/client/versions"))
        .send()
        .await
        .map_err(|e| unreachable(e, &secrets))?;
    if !versions.status().is_success() {
        return Err(not_matrix(format!(
            "{base}/_matrix/client/versions answered {}",
            versions.status()
        )));
    }
    let spoken = versions
        .json::<Value>()
        .await
        .ok()
        .and_then(|v| v["versions"].as_array().map(Vec::len))
        .unwrap_or(0);
    if spoken == 0 {
        return Err(not_matrix(format!(
            "{homeserver} does not answer like a Matrix homeserver"
        )));
    }

    // The same order as `aura serve`: a saved session, else a password login, else the access token.
    let session_file = config.store_path.join(MATRIX_SESSION_FILE);
    let (token, source) = match saved_token(&session_file).await? {
        Some(token) => (token, TokenSource::Session(&session_file)),
        None => match (&config.password, &config.access_token) {
            (Some(_), token) => {
                let unused = if token.is_some() {
                    " (matrix.access_token is not used while matrix.password is set)"
                } else {
                    ""
                };
                return Ok(format!(
                    "{homeserver} reachable; will log in with the password on first start{unused}"
                ));
            }
            (None, Some(token)) => (token.expose_secret().to_owned(), TokenSource::Config),
            (None, None) => {
                return Err(Problem::new(
                    "neither matrix.password nor matrix.access_token is set",
                    "set one of them (e.g. AURA__MATRIX__PASSWORD)",
                ));
            }
        },
    };
    secrets.push(token.clone());
    let whoami = client
        .get(format!("{base}/_matrix/client/v3/account/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| unreachable(e, &secrets))?;
    let status = whoami.status();
    let body: Value = whoami.json().await.unwrap_or(Value::Null);
    let configured = config.user_id.as_deref().unwrap_or_default();
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        let errcode = body["errcode"].as_str().unwrap_or("no errcode");
        let fix = match &source {
            TokenSource::Session(file) if config.password.is_some() => format!(
                "delete {} so that `aura serve` logs in again with matrix.password",
                file.display()
            ),
            TokenSource::Session(file) => format!(
                "set matrix.password (or a fresh matrix.access_token), then delete {}",
                file.display()
            ),
            TokenSource::Config => format!(
                "set matrix.access_token (AURA__MATRIX__ACCESS_TOKEN) to a valid token of {configured}, or use matrix.password"
            ),
        };
        return Err(Problem::new(
            format!("{homeserver} rejected {source} ({status}, {errcode})"),
            fix,
        ));
    }
    if !status.is_success() {
        return Err(Problem::new(
            format!("{homeserver} answered {status} to whoami"),
            "check the homeserver's health and logs",
        ));
    }
    let who = body["user_id"].as_str().unwrap_or_default();
    if who != configured {
        let fix = match &source {
            TokenSource::Session(file) => format!(
                "set matrix.user_id to {who}, or delete {} to log in as {configured}",
                file.display()
            ),
            TokenSource::Config => {
                format!("set matrix.user_id to {who}, or use an access token of {configured}")
            }
        };
        return Err(Problem::new(
            format!("{source} belongs to {who:?}, not to matrix.user_id {configured}"),
            fix,
        ));
    }
    match (body["device_id"].as_str(), &source) {
        (None, TokenSource::Config) => Err(Problem::new(
            "matrix.access_token has no device",
            "log in with matrix.password instead (Aura keeps the session in matrix.store_path)",
        )),
        (device, _) => Ok(format!(
            "{who} (device {}) at {homeserver}, with {source}",
            device.unwrap_or("?")
        )),
    }
}

/// The access token of the session `aura serve` saved, if there is one.
async fn saved_token(file: &Path) -> Result<Option<String>, Problem> {
    if !file.is_file() {
        return Ok(None);
    }
    let json = tokio::fs::read_to_string(file).await.map_err(|e| {
        Problem::new(
            format!("cannot read {}: {e}", file.display()),
            "run `aura doctor` as the user Aura runs as",
        )
    })?;
    // serde's message may quote a value of the file: only the position is shown.
    let session: MatrixSession = serde_json::from_str(&json).map_err(|e| {
        Problem::new(
            format!(
                "{} is not a saved Matrix session (line {}, column {})",
                file.display(),
                e.line(),
                e.column()
            ),
            "delete it: `aura serve` logs in again and saves a new one",
        )
    })?;
    Ok(Some(session.tokens.access_token))
}

/// `GET {llm.base_url}/models` with the API key: the key is accepted and the model planning uses is served.
async fn llm(config: &LlmConfig) -> Verdict {
    let base = config
        .base_url
        .as_deref()
        .unwrap_or_default()
        .trim_end_matches('/');
    let key = config.api_key.as_ref().map(|k| k.expose_secret());
    let secrets: Vec<String> = key.iter().map(|k| (*k).to_owned()).collect();
    let url = format!("{base}/models");
    let mut request = http_client()?.get(&url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(|e| {
        Problem::new(
            format!("cannot reach {url}: {}", mask(&request_error(e), &secrets)),
            "check llm.base_url and that this host can reach it (firewall, proxy, DNS)",
        )
    })?;
    let wrong_base = "set llm.base_url to the OpenAI-compatible base URL, usually ending in /v1";
    match response.status() {
        StatusCode::UNAUTHORIZED => {
            return Err(Problem::new(
                format!("{base} answered 401: the API key was rejected"),
                if key.is_some() {
                    "set llm.api_key (AURA__LLM__API_KEY) to a valid key for this endpoint"
                } else {
                    "set llm.api_key (AURA__LLM__API_KEY): this endpoint needs one"
                },
            ));
        }
        StatusCode::FORBIDDEN => {
            return Err(Problem::new(
                format!("{base} answered 403: the API key may not list the models"),
                "give the key access to the models (its project or organisation), or use another key",
            ));
        }
        StatusCode::NOT_FOUND => {
            return Err(Problem::new(format!("{url} answered 404"), wrong_base));
        }
        s if !s.is_success() => {
            return Err(Problem::new(
                format!("{url} answered {s}"),
                "check llm.base_url and the endpoint's status",
            ));
        }
        _ => {}
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let Some(listed) = body["data"].as_array() else {
        return Err(Problem::new(
            format!("{url} did not answer with a model list"),
            wrong_base,
        ));
    };
    let served: Vec<&str> = listed.iter().filter_map(|m| m["id"].as_str()).collect();
    // Ollama lists `name:latest`, Gemini `models/name`; both accept the bare name.
    let serves = |model: &str| {
        served.iter().any(|id| {
            *id == model
                || id.strip_suffix(":latest") == Some(model)
                || id.strip_prefix("models/") == Some(model)
        })
    };
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if let Some(model) = config.tiers.get("standard") {
        wanted.push(("llm.tiers.standard", model));
    }
    if wanted.iter().all(|(_, m)| *m != config.model) {
        wanted.push(("llm.model", &config.model));
    }
    let missing: Vec<&(&str, &str)> = wanted.iter().filter(|(_, m)| !serves(m)).collect();
    if let Some((key_name, _)) = missing.first() {
        let names: Vec<String> = missing.iter().map(|(k, m)| format!("{m} ({k})")).collect();
        let examples = match served.len() {
            0 => "it lists none".to_owned(),
            n if n <= 5 => served.join(", "),
            n => format!("{}, … ({n} in all)", served[..5].join(", ")),
        };
        return Err(Problem::new(
            format!("{base} does not serve model {}", names.join(", ")),
            format!("set {key_name} to a model it serves: {examples}"),
        ));
    }
    let models: Vec<&str> = wanted.iter().map(|(_, m)| *m).collect();
    let keyed = if key.is_some() {
        "accepts the API key and "
    } else {
        ""
    };
    Ok(format!("{base} {keyed}serves {}", models.join(", ")))
}

/// `GET {github.api_url}/repos/{owner}/{repo}` with the token: it sees the repository and may push to it.
async fn github(config: &GithubConfig) -> Verdict {
    let token = config
        .token
        .as_ref()
        .map(|t| t.expose_secret())
        .unwrap_or_default();
    let secrets = [token.to_owned()];
    let (Some(owner), Some(repo)) = (config.owner.as_deref(), config.repo.as_deref()) else {
        return Err(Problem::new(
            "github.owner and github.repo are not both set",
            "set them to the repository pull requests are opened in (AURA__GITHUB__OWNER, AURA__GITHUB__REPO)",
        ));
    };
    let api = config.api_url.trim_end_matches('/');
    let url = format!("{api}/repos/{owner}/{repo}");
    let response = http_client()?
        .get(&url)
        .bearer_auth(token)
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .send()
        .await
        .map_err(|e| {
            Problem::new(
                format!("cannot reach {api}: {}", mask(&request_error(e), &secrets)),
                "check github.api_url and that this host can reach it (firewall, proxy, DNS)",
            )
        })?;
    let status = response.status();
    // Classic tokens (and OAuth apps) name their scopes; fine-grained and app tokens send no header.
    let scopes = response
        .headers()
        .get("x-oauth-scopes")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = mask(
        &quote(body["message"].as_str().unwrap_or_default()),
        &secrets,
    );
    match status {
        StatusCode::UNAUTHORIZED => {
            return Err(Problem::new(
                format!("GitHub at {api} rejected github.token (401 {message})"),
                "set github.token (AURA__GITHUB__TOKEN) to a valid token: it may have expired or been revoked",
            ));
        }
        StatusCode::NOT_FOUND => {
            return Err(Problem::new(
                format!("{owner}/{repo} is not found with this token (404)"),
                "check github.owner and github.repo, and that the token may see the repository (a fine-grained token must list it; a classic one needs the repo scope for a private repository)",
            ));
        }
        StatusCode::FORBIDDEN => {
            return Err(Problem::new(
                format!("GitHub refused to show {owner}/{repo} (403 {message})"),
                "authorise the token for the organisation (SSO) or its IP allow list, or wait for the rate limit to reset",
            ));
        }
        s if !s.is_success() => {
            return Err(Problem::new(
                format!("GET {url} answered {s}"),
                "check github.api_url (https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server)",
            ));
        }
        _ => {}
    }
    if body["permissions"]["push"].as_bool() == Some(false) {
        return Err(Problem::new(
            format!("the token cannot push to {owner}/{repo}"),
            "give the token's account write access to the repository (a fine-grained token also needs Contents and Pull requests: read and write)",
        ));
    }
    if let Some(scopes) = &scopes {
        let list: Vec<&str> = scopes.split(',').map(str::trim).collect();
        let public = body["private"].as_bool() == Some(false);
        let may_push = list.contains(&"repo") || (public && list.contains(&"public_repo"));
        if !may_push {
            let shown = if scopes.is_empty() { "none" } else { scopes };
            return Err(Problem::new(
                format!("the token's scopes ({shown}) do not allow pushing to {owner}/{repo}"),
                "give the classic token the repo scope (public_repo for a public repository), or use a fine-grained token",
            ));
        }
    }
    let can = match body["permissions"]["push"].as_bool() {
        Some(true) => "the token can push",
        _ => "GitHub did not say whether the token can push",
    };
    let scopes = match &scopes {
        Some(s) => format!(" (scopes: {s})"),
        None => String::new(),
    };
    Ok(format!("{owner}/{repo} at {api}: {can}{scopes}"))
}

/// `git ls-remote --heads <git.repo_url> <git.base_branch>`: the remote answers (with the credentials the URL or
/// git's configuration gives) and has the base branch. Never prompts; the URL is shown without credentials.
async fn git_remote(config: &GitConfig) -> Verdict {
    let remote = config.repo_url.as_deref().unwrap_or_default();
    let base = &config.base_branch;
    let shown = redact_remote(remote, remote);
    let out = tokio::process::Command::new("git")
        .args(["ls-remote", "--heads", remote, base])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never")
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            Problem::new(
                format!("cannot run git: {e}"),
                "install git: Aura needs it on the PATH",
            )
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let fatal: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| {
                l.starts_with("fatal:") || l.starts_with("error:") || l.starts_with("remote:")
            })
            .collect();
        let said = if fatal.is_empty() { lines } else { fatal }.join("; ");
        let said = if said.is_empty() {
            format!("exit status {}", out.status)
        } else {
            said
        };
        return Err(Problem::new(
            format!(
                "git ls-remote {shown} failed: {}",
                quote(&mask_remote(&said, remote))
            ),
            "check git.repo_url and this host's access to it (a token in the https URL or a credential helper, an SSH key); git never prompts here",
        ));
    }
    let wanted = format!("refs/heads/{base}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let head = stdout.lines().find_map(|l| {
        let (sha, name) = l.split_once('\t')?;
        (name.trim() == wanted).then(|| sha.chars().take(12).collect::<String>())
    });
    match head {
        Some(sha) => Ok(format!("{shown}: {base} is at {sha}")),
        None => Err(Problem::new(
            format!("{shown} has no branch {base}"),
            "set git.base_branch (AURA__GIT__BASE_BRANCH) to the branch deployments follow, or push that branch",
        )),
    }
}

/// The manifest that grants Aura exactly the access it needs.
const CLUSTER_ROLE: &str = "deploy/kubernetes/clusterrole.yaml";

/// One permission, as `kubectl auth can-i` names it: `list pods`, `get pods/log`, `list deployments.apps`.
struct Access {
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: Option<&'static str>,
    /// None: in every namespace.
    namespace: Option<String>,
}

impl Access {
    fn new(verb: &'static str, group: &'static str, resource: &'static str) -> Access {
        Access {
            verb,
            group,
            resource,
            subresource: None,
            namespace: None,
        }
    }

    fn review(&self) -> SelfSubjectAccessReview {
        SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(self.verb.into()),
                    group: Some(self.group.into()),
                    resource: Some(self.resource.into()),
                    subresource: self.subresource.map(str::to_owned),
                    namespace: self.namespace.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(sub) = self.subresource {
            write!(f, "/{sub}")?;
        }
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, " in {ns}")?;
        }
        Ok(())
    }
}

/// What Aura's tools and its Argo CD watcher do with the cluster (a sample of [`CLUSTER_ROLE`]).
fn needed_access(argo: &ArgoConfig) -> Vec<Access> {
    vec![
        Access::new("list", "", "pods"),
        Access {
            subresource: Some("log"),
            ..Access::new("get", "", "pods")
        },
        Access::new("list", "", "events"),
        Access::new("list", "apps", "deployments"),
        Access {
            namespace: Some(argo.namespace.clone()),
            ..Access::new("watch", "argoproj.io", "applications")
        },
    ]
}

/// Access Aura must not have: its tools' output goes to an LLM and into chat.
fn forbidden_access(argo: &ArgoConfig) -> Vec<Access> {
    vec![
        Access::new("get", "", "secrets"),
        Access {
            namespace: Some(argo.namespace.clone()),
            ..Access::new("get", "", "secrets")
        },
    ]
}

/// Which cluster `[kubernetes]` points at, without credentials.
fn cluster_name(config: &KubernetesConfig) -> String {
    match (&config.api_url, &config.kubeconfig) {
        (Some(url), _) => redact_url(url),
        (None, Some(path)) => match &config.context {
            Some(context) => format!("{} (context {context})", path.display()),
            None => path.display().to_string(),
        },
        (None, None) if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
            "the in-cluster API".into()
        }
        (None, None) => "the cluster of $KUBECONFIG or ~/.kube/config".into(),
    }
}

/// The configured Kubernetes token, to keep out of the output.
fn kube_secrets(config: &KubernetesConfig) -> Vec<String> {
    config
        .token
        .iter()
        .map(|t| t.expose_secret().to_owned())
        .collect()
}

/// The client `aura serve` would use.
async fn kube_client(
    config: &KubernetesConfig,
    secrets: &[String],
) -> Result<kube::Client, Problem> {
    // As `aura serve` does: kube and octocrab link rustls with different crypto back ends, so pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    argo::client(config).await.map_err(|e| {
        Problem::new(
            format!(
                "cannot set up the Kubernetes client: {}",
                mask(&with_causes(e.as_ref()), secrets)
            ),
            "fix the [kubernetes] section (api_url and token, or kubeconfig and context)",
        )
    })
}

/// A failed Kubernetes request as a problem; 401 and unreachable are the same for every check.
fn kube_problem(e: kube::Error, cluster: &str, secrets: &[String]) -> Problem {
    match e {
        kube::Error::Api(status) => {
            let said = mask(&quote(status.message.trim()), secrets);
            match status.code {
                401 => Problem::new(
                    format!("{cluster} rejected the credentials (401 {said})"),
                    "set kubernetes.token (AURA__KUBERNETES__TOKEN), or renew the kubeconfig's credentials",
                ),
                code => Problem::new(
                    format!("{cluster} answered {code} {}: {said}", status.reason),
                    "check that kubernetes.api_url (or the kubeconfig's server) is the Kubernetes API server, and its health",
                ),
            }
        }
        e => Problem::new(
            format!(
                "cannot reach the Kubernetes API at {cluster}: {}",
                mask(&with_causes(&e), secrets)
            ),
            "check kubernetes.api_url (or the kubeconfig's server) and that this host can reach it (firewall, proxy, DNS)",
        ),
    }
}

/// Whether the identity may do `access`, by a `SelfSubjectAccessReview` (it changes nothing in the cluster).
async fn can_i(client: &kube::Client, access: &Access) -> Result<bool, kube::Error> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = api.create(&PostParams::default(), &access.review()).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// The API answers, and Aura's identity has the read-only access it needs and no access to Secrets.
async fn kubernetes(config: &KubernetesConfig, argo: &ArgoConfig) -> Verdict {
    let cluster = cluster_name(config);
    let secrets = kube_secrets(config);
    let client = kube_client(config, &secrets).await?;
    let (needed, forbidden) = (needed_access(argo), forbidden_access(argo));
    let all: Vec<&Access> = needed.iter().chain(&forbidden).collect();
    // One review first: an unreachable or refusing API fails once (kube logs each failed request).
    let first = can_i(&client, all[0]).await;
    let rest = match &first {
        Ok(_) => join_all(all[1..].iter().map(|a| can_i(&client, a))).await,
        Err(_) => Vec::new(),
    };
    let answers = std::iter::once(first).chain(rest);
    let mut allowed = Vec::new();
    let mut missing = Vec::new();
    let mut excess = Vec::new();
    for (i, (access, answer)) in all.iter().zip(answers).enumerate() {
        let may = answer.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 403 => Problem::new(
                format!(
                    "{cluster} refused a SelfSubjectAccessReview (403 {})",
                    mask(&quote(s.message.trim()), &secrets)
                ),
                "bind the identity to the system:basic-user ClusterRole (every authenticated user has it by default)",
            ),
            kube::Error::Api(s) if s.code == 404 => Problem::new(
                format!("{cluster} does not serve authorization.k8s.io/v1 (404)"),
                "check that kubernetes.api_url (or the kubeconfig's server) is the Kubernetes API server",
            ),
            e => kube_problem(e, &cluster, &secrets),
        })?;
        match (i < needed.len(), may) {
            (true, true) => allowed.push(access.to_string()),
            (true, false) => missing.push(access.to_string()),
            (false, true) => excess.push(access.to_string()),
            (false, false) => {}
        }
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        let missing = missing.join(", ");
        problems.push(Problem::new(
            format!("{cluster}: the identity may not {missing}"),
            format!("apply {CLUSTER_ROLE} (or grant {missing})"),
        ));
    }
    if !excess.is_empty() {
        problems.push(Problem::new(
            format!(
                "{cluster}: the identity can read Secrets ({}); Aura needs no such access",
                excess.join(", ")
            ),
            format!("use the read-only ClusterRole ({CLUSTER_ROLE}) and drop the binding that grants Secrets"),
        ));
    }
    match problems.into_iter().reduce(|a, b| {
        Problem::new(
            format!("{}; {}", a.what, b.what),
            format!("{}; {}", a.fix, b.fix),
        )
    }) {
        Some(p) => Err(p),
        None => Ok(format!(
            "{cluster}: the identity may {}, and may not read Secrets",
            allowed.join(", ")
        )),
    }
}

/// `GET` one Argo CD Application in `argocd.namespace`: the CRD is installed and Aura may list it.
async fn argocd(config: &KubernetesConfig, argo: &ArgoConfig) -> Verdict {
    let cluster = cluster_name(config);
    let secrets = kube_secrets(config);
    let client = kube_client(config, &secrets).await?;
    let ns = &argo.namespace;
    let api = crate::argo::applications(client, ns);
    match api.list(&ListParams::default().limit(1)).await {
        Ok(list) => {
            let seen = match list.items.first().and_then(|a| a.metadata.name.as_deref()) {
                Some(name) => format!("e.g. {name}"),
                None => "none yet".into(),
            };
            Ok(format!(
                "{cluster}: Applications in namespace {ns} are readable ({seen})"
            ))
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Err(Problem::new(
            format!(
                "{cluster} has no Argo CD Application resource (applications.argoproj.io/v1alpha1: 404)"
            ),
            "install Argo CD in this cluster, or point [kubernetes] at the cluster Argo CD runs in",
        )),
        Err(kube::Error::Api(s)) if s.code == 403 => Err(Problem::new(
            format!("{cluster}: the identity may not list Applications in namespace {ns} (403)"),
            format!(
                "apply {CLUSTER_ROLE} (or grant list applications.argoproj.io in {ns}); set argocd.namespace if Argo CD runs elsewhere"
            ),
        )),
        Err(e) => Err(kube_problem(e, &cluster, &secrets)),
    }
}

/// `text` without the credentials of `remote`, wherever git shows them.
fn mask_remote(text: &str, remote: &str) -> String {
    let text = redact_remote(text, remote);
    match url::Url::parse(remote) {
        Ok(u) => {
            let password = u.password().unwrap_or_default();
            let decoded = percent_decoded(password);
            // A token alone in the user part (`https://ghp_…@github.com`) is a secret too.
            let user = Some(u.username()).filter(|n| n.len() >= 20 && password.is_empty());
            let secrets: Vec<String> = [Some(password), Some(decoded.as_str()), user]
                .into_iter()
                .flatten()
                .map(str::to_owned)
                .collect();
            mask(&text, &secrets)
        }
        Err(_) => text,
    }
}

/// `%XX` escapes decoded, as git decodes a URL's password before using it.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP client for one check; [`run`] bounds the time it may take.
fn http_client() -> Result<reqwest::Client, Problem> {
    reqwest::Client::builder()
        .user_agent(concat!("aura-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            Problem::new(
                format!("cannot set up an HTTP client: {}", with_causes(&e)),
                "check this host's TLS setup (CA certificates)",
            )
        })
}

/// A failed request's causes without its URL (the caller names what it asked).
fn request_error(e: reqwest::Error) -> String {
    with_causes(&e.without_url())
}

/// `text` with every non-empty secret replaced by `***`.
fn mask(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "***"))
}

/// A peer's text cut to [`MAX_QUOTED`] characters.
fn quote(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Whether the HTTP listen address can be bound, or is already served by a running Aura.
async fn listen(config: &HttpConfig) -> Verdict {
    let addr = config
        .listen_addr()
        .map_err(|e| Problem::new(e, "fix http.listen"))?;
    match TcpListener::bind(addr).await {
        Ok(_) => Ok(format!("{addr} can be listened on")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if answers_like_aura(addr).await {
                Ok(format!(
                    "{addr} is served by a running Aura (/healthz answers)"
                ))
            } else {
                Err(Problem::new(
                    format!("{addr} is taken by another process"),
                    "stop that process, or set http.listen to a free address",
                ))
            }
        }
        Err(e) => Err(Problem::new(
            format!("cannot listen on {addr}: {e}"),
            "set http.listen to an address of this host and a port above 1023",
        )),
    }
}

/// Whether `GET /healthz` at `addr` answers the way Aura does.
async fn answers_like_aura(addr: SocketAddr) -> bool {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let ask = async {
        let mut stream = TcpStream::connect((ip, addr.port())).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.0\r\nHost: aura\r\n\r\n")
            .await?;
        let mut reply = Vec::new();
        stream.take(4096).read_to_end(&mut reply).await?;
        std::io::Result::Ok(reply)
    };
    match tokio::time::timeout(Duration::from_secs(2), ask).await {
        Ok(Ok(reply)) => {
            let reply = String::from_utf8_lossy(&reply);
            reply.starts_with("HTTP/1.")
                && reply.contains(" 200 ")
                && reply.contains(r#""status":"ok""#)
        }
        _ => false,
    }
}

/// An error's text with its causes (each said once), without the database password.
fn hide_password(e: &anyhow::Error, url: &str) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let line = cause.to_string();
        if !text.contains(&line) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&line);
        }
    }
    match url::Url::parse(url) {
        Ok(u) => match u.password().filter(|p| !p.is_empty()) {
            Some(p) => text.replace(p, "***"),
            None => text,
        },
        Err(_) => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_reads_as_one_aligned_line() {
        let ok = Check {
            name: "database",
            result: Ok("sqlite://a.db answers".into()),
        };
        let bad = Check {
            name: "telegram",
            result: Err(Problem::new("cannot reach it", "check telegram.api_url")),
        };
        assert_eq!(ok.to_string(), "ok      database: sqlite://a.db answers");
        assert_eq!(
            bad.to_string(),
            "PROBLEM telegram: cannot reach it — check telegram.api_url"
        );
    }

    #[test]
    fn remote_credentials_never_reach_the_output() {
        let remote = "https://aura:p%40ss%2Fword@git.example.org/infra.git";
        let said =
            format!("fatal: unable to access '{remote}': p@ss/word and p%40ss%2Fword rejected");
        let shown = mask_remote(&said, remote);
        assert_eq!(
            shown,
            "fatal: unable to access 'https://***@git.example.org/infra.git': *** and *** rejected"
        );
        let token_only = "https://ghp_0123456789abcdefghij@github.com/acme/infra.git";
        let shown = mask_remote("denied for ghp_0123456789abcdefghij", token_only);
        assert_eq!(shown, "denied for ***");
        assert_eq!(
            mask_remote("fatal: no repo", "/srv/git/infra.git"),
            "fatal: no repo"
        );
    }

    #[test]
    fn secrets_are_masked_and_quotes_are_cut() {
        let secrets = ["sk-123".to_owned(), String::new()];
        assert_eq!(mask("key sk-123 refused", &secrets), "key *** refused");
        let long = "x".repeat(MAX_QUOTED + 10);
        assert_eq!(quote(&long).chars().count(), MAX_QUOTED + 1);
        assert_eq!(quote("short"), "short");
    }

    #[test]
    fn permissions_read_as_kubectl_auth_can_i_names_them() {
        let argo = ArgoConfig::default();
        let shown: Vec<String> = needed_access(&argo)
            .iter()
            .chain(&forbidden_access(&argo))
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "list pods",
                "get pods/log",
                "list events",
                "list deployments.apps",
                "watch applications.argoproj.io in argocd",
                "get secrets",
                "get secrets in argocd"
            ]
        );
        let review = serde_json::to_value(needed_access(&argo)[1].review()).expect("json");
        assert_eq!(
            review["spec"]["resourceAttributes"],
            serde_json::json!({"verb": "get", "group": "", "resource": "pods", "subresource": "log"})
        );
    }

    #[test]
    fn database_passwords_never_reach_the_output() {
        let e = anyhow::anyhow!("auth failed for aura:hunter2@db");
        assert_eq!(
            hide_password(&e, "postgres://aura:hunter2@db/aura"),
            "auth failed for aura:***@db"
        );
    }
}
