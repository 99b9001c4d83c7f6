//! Configuration: built-in defaults, then an optional TOML file, then `AURA__SECTION__KEY` environment variables.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::approval::Policy;
use crate::domain::{ChatAddress, UserRef};
use crate::storage::Backend;

/// Everything Aura can be configured with; every field has a default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
    pub telegram: TelegramConfig,
    pub matrix: MatrixConfig,
    pub discord: DiscordConfig,
    pub approvals: ApprovalsConfig,
    pub llm: LlmConfig,
    pub git: GitConfig,
    pub github: GithubConfig,
    pub kubernetes: KubernetesConfig,
    pub argocd: ArgoConfig,
    /// Named sets of conversations, e.g. `approvals = ["telegram:-1001234"]`.
    pub channels: BTreeMap<String, Vec<String>>,
    pub bots: DirConfig,
    pub prompts: DirConfig,
    pub investigate: InvestigateConfig,
}

/// `[database]`: where tickets and the audit log live.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to.db` (embedded, the default) or `postgres://user@host/db`.
    pub url: String,
    /// Connection pool size.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://data/aura.db".into(),
            max_connections: 8,
        }
    }
}

/// `[http]`: the health, metrics, API and webhook server.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// Bearer token for `/api`; required unless `listen` is a loopback address.
    pub api_token: Option<SecretString>,
    /// Seconds between SSE heartbeats on `/api/stream`.
    pub stream_heartbeat_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
            api_token: None,
            stream_heartbeat_secs: 15,
        }
    }
}

impl HttpConfig {
    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen.parse().map_err(|_| {
            format!(
                "http.listen = {:?} is not an address like 127.0.0.1:8080",
                self.listen
            )
        })
    }
}

/// `[log]`: how Aura logs.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `text` (human-readable, the default) or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `aura=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// `[telegram]`: the Telegram bot. On when a token is set, unless `enabled = false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TelegramConfig {
    /// Force on or off; unset means "on when a token is set".
    pub enabled: Option<bool>,
    /// The bot token from @BotFather.
    pub token: Option<SecretString>,
    /// Bot API base URL (a self-hosted Bot API server or a test emulator).
    pub api_url: String,
    /// `polling` (long polling, the default) or `webhook`.
    pub mode: String,
    /// Public URL Telegram should POST updates to (webhook mode); Aura registers it at start when set.
    pub webhook_url: Option<String>,
    /// Secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token` (webhook mode; 1-256 of A-Z a-z 0-9 _ -).
    pub webhook_secret: Option<SecretString>,
    /// Long-poll timeout in seconds.
    pub poll_timeout_secs: u32,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            enabled: None,
            token: None,
            api_url: "https://api.telegram.org".into(),
            mode: "polling".into(),
            webhook_url: None,
            webhook_secret: None,
            poll_timeout_secs: 25,
        }
    }
}

impl TelegramConfig {
    /// Whether the Telegram adapter runs.
    pub fn is_on(&self) -> bool {
        self.enabled.unwrap_or(self.token.is_some())
    }

    /// Whether updates arrive through the webhook rather than long polling.
    pub fn webhook_mode(&self) -> bool {
        self.mode == "webhook"
    }
}

/// `[matrix]`: the Matrix bot account. On when a homeserver and credentials are set, unless `enabled = false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MatrixConfig {
    /// Force on or off; unset means "on when homeserver, user_id and a password or access token are set".
    pub enabled: Option<bool>,
    /// Homeserver base URL, e.g. `https://matrix.example.org`.
    pub homeserver: Option<String>,
    /// The bot's MXID, e.g. `@aura:example.org`.
    pub user_id: Option<String>,
    /// Password for the first login; the session (device and keys) is kept in `store_path` afterwards.
    pub password: Option<SecretString>,
    /// An access token instead of a password.
    pub access_token: Option<SecretString>,
    /// Where the session, sync state and end-to-end encryption keys are kept.
    pub store_path: PathBuf,
    /// Passphrase encrypting the store; recommended in production.
    pub store_passphrase: Option<SecretString>,
    /// Users whose invitations the bot accepts (`matrix:@alice:example.org`); approvers are always accepted.
    pub invite_from: Vec<String>,
    /// Rooms whose invitations the bot accepts whoever invites (`matrix:!room:example.org`).
    pub rooms: Vec<String>,
    /// Long-poll timeout of /sync in seconds.
    pub sync_timeout_secs: u32,
}

impl Default for MatrixConfig {
    fn default() -> Self {
        MatrixConfig {
            enabled: None,
            homeserver: None,
            user_id: None,
            password: None,
            access_token: None,
            store_path: PathBuf::from("data/matrix"),
            store_passphrase: None,
            invite_from: Vec::new(),
            rooms: Vec::new(),
            sync_timeout_secs: 30,
        }
    }
}

impl MatrixConfig {
    /// Whether the Matrix adapter runs.
    pub fn is_on(&self) -> bool {
        let configured = self.homeserver.is_some()
            && self.user_id.is_some()
            && (self.password.is_some() || self.access_token.is_some());
        self.enabled.unwrap_or(configured)
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.is_on() {
            return problems;
        }
        match &self.homeserver {
            Some(h) if url::Url::parse(h).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) => {
            }
            Some(h) => problems.push(format!("matrix.homeserver = {h:?} is not an http(s) URL")),
            None => problems.push("matrix.homeserver is not set".into()),
        }
        match &self.user_id {
            Some(u) if format!("matrix:{u}").parse::<UserRef>().is_ok() => {}
            Some(u) => problems.push(format!(
                "matrix.user_id = {u:?} is not a full MXID like @aura:example.org"
            )),
            None => problems.push("matrix.user_id is not set".into()),
        }
        if self.password.is_none() && self.access_token.is_none() {
            problems.push(
                "matrix: set matrix.password or matrix.access_token (e.g. AURA__MATRIX__PASSWORD)"
                    .into(),
            );
        }
        for u in &self.invite_from {
            if let Err(e) = u.parse::<UserRef>() {
                problems.push(format!("matrix.invite_from: {e}"));
            }
        }
        for r in &self.rooms {
            if let Err(e) = r.parse::<ChatAddress>() {
                problems.push(format!("matrix.rooms: {e}"));
            }
        }
        problems
    }
}

/// `[discord]`: the Discord bot. On when a token is set, unless `enabled = false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DiscordConfig {
    /// Force on or off; unset means "on when a token is set".
    pub enabled: Option<bool>,
    /// The bot token (Developer Portal → Bot → Token).
    pub token: Option<SecretString>,
    /// REST base URL: requests go to `{api_url}/api/v10/…`, and the gateway's address is asked from it.
    pub api_url: String,
    /// The application id; unset means "ask Discord at start".
    pub application_id: Option<String>,
    /// The application's public key (64 hex digits); `/webhooks/discord` is served when it is set.
    pub public_key: Option<String>,
    /// `gateway` (messages and interactions over the gateway, the default) or `interactions` (no gateway:
    /// slash commands and buttons through `/webhooks/discord` only; text messages are not read).
    pub mode: String,
    /// Whether to register Aura's slash commands at start (replaces the application's global commands).
    pub register_commands: bool,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            enabled: None,
            token: None,
            api_url: "https://discord.com".into(),
            application_id: None,
            public_key: None,
            mode: "gateway".into(),
            register_commands: true,
        }
    }
}

impl DiscordConfig {
    /// Whether the Discord adapter runs.
    pub fn is_on(&self) -> bool {
        self.enabled.unwrap_or(self.token.is_some())
    }

    /// Whether Aura keeps a gateway connection (off in `interactions` mode).
    pub fn gateway_mode(&self) -> bool {
        self.mode != "interactions"
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.enabled == Some(true) && self.token.is_none() {
            problems.push(
                "discord.enabled is true but discord.token is not set (e.g. AURA__DISCORD__TOKEN)"
                    .into(),
            );
        }
        if !self.is_on() {
            return problems;
        }
        if !url::Url::parse(&self.api_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            problems.push(format!(
                "discord.api_url = {:?} is not an http(s) URL",
                self.api_url
            ));
        }
        if let Some(id) = &self.application_id
            && id.parse::<u64>().is_err()
        {
            problems.push(format!(
                "discord.application_id = {id:?} is not a numeric id"
            ));
        }
        if let Some(key) = &self.public_key
            && !(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            problems.push(
                "discord.public_key must be the application's public key: 64 hex digits".into(),
            );
        }
        match self.mode.as_str() {
            "gateway" => {}
            "interactions" if self.public_key.is_none() => problems.push(
                "discord.mode = \"interactions\" needs discord.public_key to verify /webhooks/discord".into(),
            ),
            "interactions" => {}
            other => problems.push(format!("discord.mode = {other:?}: use \"gateway\" or \"interactions\"")),
        }
        problems
    }
}

/// `[approvals]`: who may approve plans, and for how long a request stands.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ApprovalsConfig {
    /// Users allowed to approve, by immutable id (`telegram:123`, `matrix:@alice:example.org`). Empty = no approvals.
    pub approvers: Vec<String>,
    /// Whether a ticket's requester may approve it.
    pub allow_self_approval: bool,
    /// How long an approval request stands, e.g. `30m`, `2h`, `90s`.
    pub ttl: String,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            approvers: Vec::new(),
            allow_self_approval: false,
            ttl: "30m".into(),
        }
    }
}

impl ApprovalsConfig {
    /// The policy, keeping only valid approver ids (validation reports the others).
    pub fn policy(&self) -> Policy {
        Policy {
            approvers: self
                .approvers
                .iter()
                .filter_map(|a| a.parse::<UserRef>().ok())
                .collect(),
            allow_self_approval: self.allow_self_approval,
        }
    }

    /// The request lifetime (validated; 30 minutes if unparsable).
    pub fn ttl(&self) -> chrono::Duration {
        parse_duration(&self.ttl).unwrap_or(chrono::Duration::minutes(30))
    }
}

/// `[llm]`: the OpenAI-compatible endpoint the agent plans with.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LlmConfig {
    /// Base URL of an OpenAI-compatible API (OpenAI, a local vLLM/Ollama gateway, …). Unset: no agent.
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
    /// The model used when a tier has none of its own.
    pub model: String,
    /// Models per tier: `fast`, `standard`, `reasoning` (planning uses `standard`).
    pub tiers: BTreeMap<String, String>,
    /// Agent turns a ticket may use before it pauses (`resume` grants more).
    pub max_turns: u32,
    /// Tokens a ticket may use in all.
    pub max_tokens_per_ticket: i64,
    /// Estimated price in millionths of a dollar per 1000 prompt / completion tokens (for the cost figure).
    pub price_per_1k_prompt_micros: i64,
    pub price_per_1k_completion_micros: i64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: None,
            api_key: None,
            model: "gpt-4o-mini".into(),
            tiers: BTreeMap::new(),
            max_turns: 20,
            max_tokens_per_ticket: 200_000,
            price_per_1k_prompt_micros: 150,
            price_per_1k_completion_micros: 600,
        }
    }
}

impl LlmConfig {
    /// Whether an LLM is configured.
    pub fn is_on(&self) -> bool {
        self.base_url.is_some()
    }

    /// The model for a tier.
    pub fn model_for(&self, tier: &str) -> &str {
        self.tiers
            .get(tier)
            .map_or(self.model.as_str(), String::as_str)
    }
}

/// `[git]`: the infrastructure repository changes are made in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct GitConfig {
    /// Clone URL (`https://…`, `ssh://…` or a path). Unset: no GitOps execution.
    pub repo_url: Option<String>,
    pub base_branch: String,
    /// Where Aura keeps its (bare) mirror of the repository.
    pub workdir: PathBuf,
    pub author_name: String,
    pub author_email: String,
    /// Where an application's files live; `{app}` is replaced by the application's name. A ticket may only
    /// change the paths of the applications it names.
    pub app_path: String,
}

impl Default for GitConfig {
    fn default() -> Self {
        GitConfig {
            repo_url: None,
            base_branch: "main".into(),
            workdir: PathBuf::from("data/git"),
            author_name: "Aura".into(),
            author_email: "aura@localhost".into(),
            app_path: "apps/{app}/".into(),
        }
    }
}

/// `[github]`: where pull requests are opened.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct GithubConfig {
    pub api_url: String,
    pub token: Option<SecretString>,
    pub owner: Option<String>,
    pub repo: Option<String>,
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig {
            api_url: "https://api.github.com".into(),
            token: None,
            owner: None,
            repo: None,
        }
    }
}

impl Config {
    /// Whether approved plans can be executed (a repository and a GitHub repository are configured).
    pub fn gitops_on(&self) -> bool {
        self.git.repo_url.is_some() && self.github.token.is_some()
    }

    fn agent_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(u) = &self.llm.base_url
            && url::Url::parse(u).is_err()
        {
            problems.push(format!("llm.base_url = {u:?} is not a URL"));
        }
        if self.llm.max_turns == 0 {
            problems.push("llm.max_turns must be at least 1".into());
        }
        for tier in self.llm.tiers.keys() {
            if !matches!(tier.as_str(), "fast" | "standard" | "reasoning") {
                problems.push(format!(
                    "llm.tiers.{tier}: tiers are fast, standard and reasoning"
                ));
            }
        }
        if self.git.repo_url.is_some() != self.github.token.is_some() {
            problems.push("set both git.repo_url and github.token (with github.owner and github.repo) to execute plans, or neither".into());
        }
        if self.github.token.is_some()
            && (self.github.owner.is_none() || self.github.repo.is_none())
        {
            problems.push("github.owner and github.repo must be set with github.token".into());
        }
        if url::Url::parse(&self.github.api_url).is_err() {
            problems.push(format!(
                "github.api_url = {:?} is not a URL",
                self.github.api_url
            ));
        }
        if let Err(e) = parse_duration(&self.argocd.observe_timeout) {
            problems.push(format!("argocd.observe_timeout: {e}"));
        }
        problems.extend(self.feed_problems());
        if let Some(u) = &self.kubernetes.api_url
            && url::Url::parse(u).is_err()
        {
            problems.push(format!("kubernetes.api_url = {u:?} is not a URL"));
        }
        if !self.git.app_path.contains("{app}") {
            problems.push("git.app_path must contain {app}, e.g. \"apps/{app}/\"".into());
        }
        problems
    }
}

/// `[kubernetes]`: the cluster Aura reads (never writes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct KubernetesConfig {
    /// Force on or off; unset means "on when api_url or kubeconfig is set, or when running in a cluster".
    pub enabled: Option<bool>,
    /// The API server URL, used with `token` (e.g. behind `kubectl proxy`, or a test server).
    pub api_url: Option<String>,
    pub token: Option<SecretString>,
    /// A kubeconfig file, and optionally the context to use from it.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

impl KubernetesConfig {
    /// Whether Aura talks to a cluster.
    pub fn is_on(&self) -> bool {
        let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
        self.enabled
            .unwrap_or(self.api_url.is_some() || self.kubeconfig.is_some() || in_cluster)
    }
}

/// `[argocd]`: where Argo CD's Applications live, how long a rollout may take, and the health feed.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ArgoConfig {
    pub namespace: String,
    /// How long after the merge an application may take to be synced and Healthy, e.g. `30m`.
    pub observe_timeout: String,
    /// Channels (names of `[channels]` entries, or addresses) the health feed posts to. Empty: no feed.
    pub feed: Vec<String>,
    /// Only Applications matching this label selector are watched (e.g. `team=payments`); unset: all.
    pub selector: Option<String>,
    /// Per-application routing, first match wins; an application no route matches goes to `feed`.
    pub routes: Vec<FeedRoute>,
    /// How long a Degraded, Missing or Unknown health must persist before it is announced (flap filter).
    pub confirm_after: String,
    /// A Degraded announced within this long of the synced revision changing proposes reverting that commit.
    pub revert_window: String,
}

/// `[[argocd.routes]]`: where one group of applications is announced.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedRoute {
    /// Application name pattern; `*` matches any run of characters (`payments-*`).
    pub apps: Option<String>,
    /// Labels the Application must carry, `key=value[,key=value]`.
    pub labels: Option<String>,
    /// Channels (names of `[channels]` entries, or addresses).
    pub channels: Vec<String>,
}

impl Default for ArgoConfig {
    fn default() -> Self {
        ArgoConfig {
            namespace: "argocd".into(),
            observe_timeout: "30m".into(),
            feed: Vec::new(),
            selector: None,
            routes: Vec::new(),
            confirm_after: "30s".into(),
            revert_window: "15m".into(),
        }
    }
}

impl ArgoConfig {
    /// The rollout deadline (validated; 30 minutes if unparsable).
    pub fn observe_timeout(&self) -> chrono::Duration {
        parse_duration(&self.observe_timeout).unwrap_or(chrono::Duration::minutes(30))
    }

    /// The flap filter (validated; 30 seconds if unparsable).
    pub fn confirm_after(&self) -> chrono::Duration {
        parse_duration(&self.confirm_after).unwrap_or(chrono::Duration::seconds(30))
    }

    /// How soon after a sync a Degraded proposes the revert (validated; 15 minutes if unparsable).
    pub fn revert_window(&self) -> chrono::Duration {
        parse_duration(&self.revert_window).unwrap_or(chrono::Duration::minutes(15))
    }

    /// Whether the health feed posts anywhere.
    pub fn feed_on(&self) -> bool {
        !self.feed.is_empty() || !self.routes.is_empty()
    }
}

/// `[investigate]`: answering `@aura <question>` with read-only debugging, and its budgets.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct InvestigateConfig {
    /// Whether mentions that are not commands are investigated.
    pub enabled: bool,
    /// Questions one user may ask per `window`.
    pub per_user: u32,
    /// The rate-limit window, e.g. `10m`.
    pub window: String,
    /// Investigations running at once; more questions than that get a "busy" reply.
    pub concurrency: u32,
    /// LLM turns one answer may use.
    pub max_turns: u32,
    /// LLM tokens one answer may use; beyond that the findings are the answer.
    pub max_tokens: i64,
}

impl Default for InvestigateConfig {
    fn default() -> Self {
        InvestigateConfig {
            enabled: true,
            per_user: 5,
            window: "10m".into(),
            concurrency: 4,
            max_turns: 4,
            max_tokens: 20_000,
        }
    }
}

impl InvestigateConfig {
    /// The rate-limit window (validated; 10 minutes if unparsable).
    pub fn window(&self) -> chrono::Duration {
        parse_duration(&self.window).unwrap_or(chrono::Duration::minutes(10))
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = parse_duration(&self.window) {
            problems.push(format!("investigate.window: {e}"));
        }
        if self.per_user == 0 {
            problems.push("investigate.per_user must be at least 1 (use enabled = false to turn questions off)".into());
        }
        if !(1..=64).contains(&self.concurrency) {
            problems.push("investigate.concurrency must be from 1 to 64".into());
        }
        if !(1..=20).contains(&self.max_turns) {
            problems.push("investigate.max_turns must be from 1 to 20".into());
        }
        if self.max_tokens < 1 {
            problems.push("investigate.max_tokens must be at least 1".into());
        }
        problems
    }
}

/// Parses `90s`, `30m`, `2h`, `1d`.
pub fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30m"))?;
    let d = match unit {
        "s" => chrono::Duration::seconds(n),
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => return Err(format!("{s:?} is not a duration like 90s, 30m, 2h or 1d")),
    };
    if n <= 0 {
        return Err(format!("{s:?} must be longer than zero"));
    }
    Ok(d)
}

/// `[bots]` / `[prompts]`: a directory of definition files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DirConfig {
    /// The directory; unset means `bots/` or `prompts/` next to where Aura runs, if present.
    pub dir: Option<PathBuf>,
}

/// Every problem found while loading or validating the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// A loaded configuration and the file it came from, if any.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub file: Option<PathBuf>,
}

const ENV_PREFIX: &str = "AURA";
/// Keys whose environment value is a comma-separated list (`AURA__APPROVALS__APPROVERS=telegram:1,telegram:2`).
const LIST_KEYS: [&str; 4] = [
    "approvals.approvers",
    "matrix.invite_from",
    "matrix.rooms",
    "argocd.feed",
];
const DEFAULT_FILE: &str = "aura.toml";

/// Loads and validates the configuration; `explicit` is `--config` or `$AURA_CONFIG`.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, Problems> {
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AURA__"))
        .collect();
    load_from(explicit, env)
}

/// Like [`load`], with the environment given (for tests).
pub fn load_from(explicit: Option<&Path>, env: Vec<(String, String)>) -> Result<Loaded, Problems> {
    let file = match explicit {
        Some(p) if !p.is_file() => {
            return Err(Problems(vec![format!(
                "config file {} does not exist",
                p.display()
            )]));
        }
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
    };
    let mut builder = config::Config::builder();
    if let Some(f) = &file {
        builder =
            builder.add_source(config::File::from(f.as_path()).format(config::FileFormat::Toml));
    }
    let mut env_source = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .list_separator(",");
    for key in LIST_KEYS {
        env_source = env_source.with_list_parse_key(key);
    }
    let env_source = env_source.source(Some(env.into_iter().collect()));
    let raw = builder
        .add_source(env_source)
        .build()
        .map_err(|e| Problems(vec![format!("cannot read the configuration: {e}")]))?;

    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let de = serde_ignored::Deserializer::new(raw, &mut on_unknown);
    let parsed: Result<Config, _> = serde_path_to_error::deserialize(de);
    for key in unknown {
        problems.push(format!(
            "unknown key `{key}` (check the spelling; every key is listed in aura.example.toml)"
        ));
    }
    let config = match parsed {
        Ok(c) => c,
        Err(e) => {
            problems.push(format!("`{}`: {}", e.path(), e.inner()));
            return Err(Problems(problems));
        }
    };
    problems.extend(config.validate());
    if problems.is_empty() {
        Ok(Loaded { config, file })
    } else {
        Err(Problems(problems))
    }
}

impl Config {
    /// Every cross-field and semantic problem, all at once.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = Backend::from_url(&self.database.url) {
            problems.push(format!(
                "database.url: {e} (got {:?})",
                redact_url(&self.database.url)
            ));
        }
        if self.database.max_connections == 0 {
            problems.push("database.max_connections must be at least 1".into());
        }
        for (key, secret) in self.secret_fields() {
            if secret.is_some_and(|s| secrecy::ExposeSecret::expose_secret(s).trim().is_empty()) {
                problems.push(format!(
                    "{key} is set but empty; remove it or give it a value"
                ));
            }
        }
        match self.http.listen_addr() {
            Err(e) => problems.push(e),
            Ok(addr) if !addr.ip().is_loopback() && self.http.api_token.is_none() => problems.push(format!(
                "http.listen = {addr} is reachable from other machines but http.api_token is not set: \
                 set a token (e.g. AURA__HTTP__API_TOKEN) or listen on 127.0.0.1"
            )),
            Ok(_) => {}
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            problems.push(format!(
                "log.format = {:?}: use \"text\" or \"json\"",
                self.log.format
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            problems.push(format!("log.level = {:?}: {e}", self.log.level));
        }
        if self.http.stream_heartbeat_secs == 0 {
            problems.push("http.stream_heartbeat_secs must be at least 1".into());
        }
        problems.extend(self.telegram_problems());
        problems.extend(self.matrix.problems());
        problems.extend(self.discord.problems());
        problems.extend(self.agent_problems());
        problems.extend(self.approval_problems());
        problems.extend(self.investigate.problems());
        for (name, addresses) in &self.channels {
            for a in addresses {
                if let Err(e) = a.parse::<ChatAddress>() {
                    problems.push(format!("channels.{name}: {e}"));
                }
            }
        }
        check_dir("bots.dir", self.bots.dir.as_deref(), "bots", &mut problems);
        if self.bots_dir().is_some_and(|d| d.is_dir()) {
            problems.extend(crate::bots::problems(self));
        }
        check_dir(
            "prompts.dir",
            self.prompts.dir.as_deref(),
            "prompts",
            &mut problems,
        );
        match self.prompts_dir() {
            Some(dir) if dir.is_dir() => {
                if let Err(p) = crate::agent::Prompts::load(&dir) {
                    problems.extend(p);
                }
            }
            _ if self.llm.is_on() => problems
                .push("llm is configured but there is no prompts directory (prompts.dir)".into()),
            _ => {}
        }
        problems
    }

    fn telegram_problems(&self) -> Vec<String> {
        let t = &self.telegram;
        let mut problems = Vec::new();
        if t.enabled == Some(true) && t.token.is_none() {
            problems.push("telegram.enabled is true but telegram.token is not set (e.g. AURA__TELEGRAM__TOKEN)".into());
        }
        if !t.is_on() {
            return problems;
        }
        match url::Url::parse(&t.api_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => problems.push(format!(
                "telegram.api_url = {:?} is not an http(s) URL",
                t.api_url
            )),
        }
        match t.mode.as_str() {
            "polling" => {}
            "webhook" => {
                let secret_ok = t.webhook_secret.as_ref().is_some_and(|s| {
                    let s = secrecy::ExposeSecret::expose_secret(s);
                    (1..=256).contains(&s.len())
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                });
                if !secret_ok {
                    problems.push("telegram.webhook_secret must be set in webhook mode: 1-256 characters of A-Z, a-z, 0-9, _ and -".into());
                }
                if let Some(u) = &t.webhook_url
                    && url::Url::parse(u).is_err()
                {
                    problems.push(format!("telegram.webhook_url = {u:?} is not a URL"));
                }
            }
            other => problems.push(format!(
                "telegram.mode = {other:?}: use \"polling\" or \"webhook\""
            )),
        }
        if t.poll_timeout_secs > 50 {
            problems.push("telegram.poll_timeout_secs must be at most 50".into());
        }
        problems
    }

    fn approval_problems(&self) -> Vec<String> {
        let a = &self.approvals;
        let mut problems: Vec<String> = a
            .approvers
            .iter()
            .filter_map(|x| x.parse::<UserRef>().err())
            .map(|e| format!("approvals.approvers: {e}"))
            .collect();
        if let Err(e) = parse_duration(&a.ttl) {
            problems.push(format!("approvals.ttl: {e}"));
        }
        problems
    }

    fn secret_fields(&self) -> Vec<(&'static str, Option<&SecretString>)> {
        vec![
            ("http.api_token", self.http.api_token.as_ref()),
            ("telegram.token", self.telegram.token.as_ref()),
            (
                "telegram.webhook_secret",
                self.telegram.webhook_secret.as_ref(),
            ),
            ("matrix.password", self.matrix.password.as_ref()),
            ("matrix.access_token", self.matrix.access_token.as_ref()),
            (
                "matrix.store_passphrase",
                self.matrix.store_passphrase.as_ref(),
            ),
            ("discord.token", self.discord.token.as_ref()),
            ("llm.api_key", self.llm.api_key.as_ref()),
            ("github.token", self.github.token.as_ref()),
            ("kubernetes.token", self.kubernetes.token.as_ref()),
        ]
    }

    /// Every configured secret in clear, for masking in logs (never log or store the result).
    pub fn secret_values(&self) -> Vec<String> {
        let mut values: Vec<String> = self
            .secret_fields()
            .into_iter()
            .filter_map(|(_, s)| s)
            .map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned())
            .collect();
        if let Some(password) = url::Url::parse(&self.database.url)
            .ok()
            .and_then(|u| u.password().map(str::to_owned))
        {
            values.push(password);
        }
        values
    }

    /// Every problem of the `[argocd]` feed settings: durations, routes, and channels that resolve to nothing.
    fn feed_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let a = &self.argocd;
        for (key, value) in [
            ("confirm_after", &a.confirm_after),
            ("revert_window", &a.revert_window),
        ] {
            if let Err(e) = parse_duration(value) {
                problems.push(format!("argocd.{key}: {e}"));
            }
        }
        let mut check = |key: String, names: &[String]| {
            for name in names {
                if self.targets(std::slice::from_ref(name)).is_empty() {
                    problems.push(format!(
                        "{key}: {name:?} is neither a [channels] entry nor an address like telegram:-1001234"
                    ));
                }
            }
        };
        check("argocd.feed".into(), &a.feed);
        for (i, route) in a.routes.iter().enumerate() {
            check(format!("argocd.routes[{i}].channels"), &route.channels);
        }
        for (i, route) in a.routes.iter().enumerate() {
            if route.apps.is_none() && route.labels.is_none() {
                problems.push(format!(
                    "argocd.routes[{i}]: set apps (a name pattern) or labels (key=value), or both"
                ));
            }
            if route.channels.is_empty() {
                problems.push(format!("argocd.routes[{i}].channels is empty"));
            }
            if let Some(l) = &route.labels
                && crate::domain::feed::parse_labels(l).is_err()
            {
                problems.push(format!(
                    "argocd.routes[{i}].labels = {l:?}: use key=value[,key=value]"
                ));
            }
        }
        if a.selector.as_deref().is_some_and(|s| s.trim().is_empty()) {
            problems.push(
                "argocd.selector is set but empty; remove it to watch every application".into(),
            );
        }
        problems
    }

    /// Conversations named by a list of `[channels]` entries or literal addresses, deduplicated, in order.
    pub fn targets(&self, names: &[String]) -> Vec<ChatAddress> {
        let mut out: Vec<ChatAddress> = Vec::new();
        for name in names {
            let found = match self.channels.contains_key(name) {
                true => self.channel(name),
                false => name.parse().ok().into_iter().collect(),
            };
            for a in found {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }

    /// Conversations of a named channel set (invalid entries are reported by `validate`).
    pub fn channel(&self, name: &str) -> Vec<ChatAddress> {
        self.channels
            .get(name)
            .map(|list| list.iter().filter_map(|a| a.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// The bots directory in effect, if there is one.
    pub fn bots_dir(&self) -> Option<PathBuf> {
        effective_dir(self.bots.dir.as_deref(), "bots")
    }

    /// The prompts directory in effect, if there is one.
    pub fn prompts_dir(&self) -> Option<PathBuf> {
        effective_dir(self.prompts.dir.as_deref(), "prompts")
    }
}

fn effective_dir(configured: Option<&Path>, default: &str) -> Option<PathBuf> {
    match configured {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(default)).filter(|p| p.is_dir()),
    }
}

/// A configured directory must be a readable directory; the default one may be absent.
fn check_dir(key: &str, configured: Option<&Path>, default: &str, problems: &mut Vec<String>) {
    let Some(dir) = effective_dir(configured, default) else {
        return;
    };
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_file() && std::fs::File::open(&path).is_err() {
                    problems.push(format!("{key}: cannot read {}", path.display()));
                }
            }
        }
        Err(e) => problems.push(format!(
            "{key} = {}: cannot read the directory: {e}",
            dir.display()
        )),
    }
}

/// Hides the password in a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn write(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("aura.toml");
        std::fs::write(&p, body).expect("write");
        p
    }

    #[test]
    fn defaults_need_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "");
        let loaded = load_from(Some(&p), vec![]).expect("valid");
        assert_eq!(loaded.config.database.url, "sqlite://data/aura.db");
        assert_eq!(loaded.config.http.listen, "127.0.0.1:8080");
    }

    #[test]
    fn env_overrides_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "[http]\nlisten = \"127.0.0.1:1\"\n");
        let env = vec![
            ("AURA__HTTP__LISTEN".into(), "127.0.0.1:2".into()),
            ("AURA__HTTP__API_TOKEN".into(), "s3cret".into()),
        ];
        let c = load_from(Some(&p), env).expect("valid").config;
        assert_eq!(c.http.listen, "127.0.0.1:2");
        assert_eq!(
            c.http
                .api_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            Some("s3cret".into())
        );
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "Debug must not show secrets"
        );
    }

    #[test]
    fn the_investigate_section_has_defaults_and_is_validated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "");
        let c = load_from(Some(&p), vec![]).expect("valid").config;
        let i = &c.investigate;
        assert!(i.enabled);
        assert_eq!(
            (i.per_user, i.concurrency, i.max_turns, i.max_tokens),
            (5, 4, 4, 20_000)
        );
        assert_eq!(i.window(), chrono::Duration::minutes(10));
        let p = write(
            dir.path(),
            "[investigate]\nper_user = 0\nwindow = \"soon\"\nconcurrency = 0\nmax_turns = 0\nmax_tokens = 0\n",
        );
        let problems = load_from(Some(&p), vec![]).expect_err("invalid").0;
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(
            problems.iter().all(|p| p.starts_with("investigate.")),
            "{problems:?}"
        );
    }

    #[test]
    fn two_mistakes_are_both_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(
            dir.path(),
            "[database]\nurl = \"mysql://db/aura\"\n[http]\nlisne = \"x\"\n",
        );
        let problems = load_from(Some(&p), vec![]).expect_err("invalid").0;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("http.lisne")));
        assert!(problems.iter().any(|p| p.contains("database.url")));
    }

    #[test]
    fn unknown_env_keys_are_reported() {
        let env = vec![("AURA__DATABSE__URL".into(), "sqlite://x.db".into())];
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "");
        let problems = load_from(Some(&p), env).expect_err("invalid").0;
        assert!(problems[0].contains("databse"), "{problems:?}");
    }

    #[test]
    fn a_public_listener_needs_a_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "[http]\nlisten = \"0.0.0.0:8080\"\n");
        let problems = load_from(Some(&p), vec![]).expect_err("invalid").0;
        assert!(problems[0].contains("api_token"), "{problems:?}");
        let ok = load_from(Some(&p), vec![("AURA__HTTP__API_TOKEN".into(), "t".into())]);
        assert!(ok.is_ok());
    }

    #[test]
    fn a_missing_explicit_file_is_a_problem() {
        let problems = load_from(Some(Path::new("/nonexistent/aura.toml")), vec![])
            .expect_err("missing")
            .0;
        assert!(problems[0].contains("does not exist"));
    }

    #[test]
    fn a_configured_bots_dir_must_exist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "[bots]\ndir = \"/nonexistent/bots\"\n");
        let problems = load_from(Some(&p), vec![]).expect_err("invalid").0;
        assert!(problems[0].starts_with("bots.dir"), "{problems:?}");
    }

    #[test]
    fn an_enabled_platform_needs_its_token_and_approvers_need_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(
            dir.path(),
            "[telegram]\nenabled = true\n[approvals]\napprovers = [\"telegram:@alice\", \"telegram:42\"]\nttl = \"soon\"\n[channels]\napprovals = [\"telegram:ops\"]\n",
        );
        let problems = load_from(Some(&p), vec![]).expect_err("invalid").0;
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].contains("telegram.token is not set"),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.contains("telegram:@alice")));
        assert!(problems.iter().any(|p| p.starts_with("approvals.ttl")));
        assert!(problems.iter().any(|p| p.starts_with("channels.approvals")));
    }

    #[test]
    fn webhook_mode_needs_a_well_formed_secret() {
        let env = |secret: &str| {
            vec![
                ("AURA__TELEGRAM__TOKEN".into(), "1:x".into()),
                ("AURA__TELEGRAM__MODE".into(), "webhook".into()),
                ("AURA__TELEGRAM__WEBHOOK_SECRET".into(), secret.into()),
            ]
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "");
        assert!(load_from(Some(&p), env("good_secret-1")).is_ok());
        let problems = load_from(Some(&p), env("bad secret!"))
            .expect_err("invalid")
            .0;
        assert!(problems[0].contains("webhook_secret"), "{problems:?}");
    }

    #[test]
    fn an_empty_secret_is_a_problem_not_an_open_door() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "");
        let env = vec![("AURA__HTTP__API_TOKEN".into(), "".into())];
        let problems = load_from(Some(&p), env).expect_err("invalid").0;
        assert!(
            problems[0].contains("http.api_token is set but empty"),
            "{problems:?}"
        );
    }

    #[test]
    fn approvers_can_be_listed_in_the_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "");
        let env = vec![(
            "AURA__APPROVALS__APPROVERS".into(),
            "telegram:1,matrix:@a:b".into(),
        )];
        let c = load_from(Some(&p), env).expect("valid").config;
        assert_eq!(c.approvals.approvers, ["telegram:1", "matrix:@a:b"]);
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("30m"), Ok(chrono::Duration::minutes(30)));
        assert_eq!(parse_duration("90s"), Ok(chrono::Duration::seconds(90)));
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("5 minutes").is_err());
    }

    #[test]
    fn feed_settings_report_unknown_channels_bad_routes_and_durations() {
        let mut c = Config::default();
        c.channels
            .insert("ops".into(), vec!["telegram:-1001".into()]);
        c.argocd.feed = vec!["ops".into(), "matrix:!room:example.org".into()];
        assert!(c.feed_problems().is_empty(), "{:?}", c.feed_problems());
        assert_eq!(c.targets(&c.argocd.feed).len(), 2);
        c.argocd.feed.push("opps".into());
        c.argocd.confirm_after = "soon".into();
        c.argocd.routes = vec![
            FeedRoute {
                apps: None,
                labels: Some("team".into()),
                channels: vec![],
            },
            FeedRoute {
                apps: None,
                labels: None,
                channels: vec!["ops".into()],
            },
        ];
        let problems = c.feed_problems();
        for needle in [
            "argocd.feed: \"opps\"",
            "argocd.confirm_after",
            "argocd.routes[1]: set apps",
            "argocd.routes[0].channels is empty",
            "argocd.routes[0].labels",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(needle)),
                "{needle}: {problems:?}"
            );
        }
    }

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
    }
}
