//! Monitoring agents: the bot files in `bots/` (one TOML file per agent), read and checked all at once.
//!
//! `schedule` says when a bot fires, `scheduler` runs due bots and records each run, `herald` writes briefings and
//! `watchman` checks HTTP endpoints.

pub mod herald;
pub mod schedule;
pub mod scheduler;
pub mod watchman;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use serde::Deserialize;

use crate::agent::prompts;
use crate::config::{Config, parse_duration};
use crate::domain::ChatAddress;
pub use schedule::Schedule;

/// What a bot does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Gathers facts and posts a briefing (summarised by the LLM when one is configured).
    Briefing,
    /// Checks HTTP endpoints and posts when one goes down or comes back.
    Watchman,
}

/// The facts and actions a bot may use; each kind allows its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Argo CD applications, deploys and incidents (from the feed's tables).
    Argo,
    /// Open tickets.
    Tickets,
    /// Approval requests waiting for a decision.
    Approvals,
    /// Warning events in the cluster.
    KubeEvents,
    /// What the watchmen found.
    Findings,
    /// HTTP requests to the configured endpoints.
    Http,
}

impl Tool {
    const ALL: [(&'static str, Tool, Kind); 6] = [
        ("argo", Tool::Argo, Kind::Briefing),
        ("tickets", Tool::Tickets, Kind::Briefing),
        ("approvals", Tool::Approvals, Kind::Briefing),
        ("kube_events", Tool::KubeEvents, Kind::Briefing),
        ("findings", Tool::Findings, Kind::Briefing),
        ("http", Tool::Http, Kind::Watchman),
    ];
}

/// One endpoint a watchman checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub url: String,
    pub expect_status: u16,
    pub timeout: StdDuration,
}

/// A checked bot definition.
#[derive(Debug, Clone)]
pub struct Bot {
    pub name: String,
    pub kind: Kind,
    /// A disabled bot is checked (except its channels) but never runs.
    pub enabled: bool,
    pub schedule: Schedule,
    pub channels: Vec<ChatAddress>,
    /// The prompt template's text (briefings).
    pub prompt: Option<String>,
    pub tools: Vec<Tool>,
    /// Tokens the one LLM call of a briefing may use, prompt and reply together.
    pub max_tokens: i64,
    /// How late a missed run is still done at start.
    pub catch_up: chrono::Duration,
    pub endpoints: Vec<Endpoint>,
}

impl Bot {
    /// Whether the bot may use `tool`.
    pub fn allows(&self, tool: Tool) -> bool {
        self.tools.contains(&tool)
    }
}

/// A bot file as written.
#[derive(Debug, Deserialize)]
struct BotFile {
    name: String,
    kind: String,
    #[serde(default = "yes")]
    enabled: bool,
    schedule: String,
    #[serde(default = "utc")]
    timezone: String,
    channels: Vec<String>,
    prompt: Option<String>,
    #[serde(default)]
    tools: Vec<String>,
    #[serde(default = "default_max_tokens")]
    max_tokens: i64,
    #[serde(default = "default_catch_up")]
    catch_up: String,
    #[serde(default)]
    endpoints: Vec<EndpointFile>,
}

#[derive(Debug, Deserialize)]
struct EndpointFile {
    name: String,
    url: String,
    #[serde(default = "default_status")]
    expect_status: u16,
    #[serde(default = "default_timeout")]
    timeout: String,
}

fn yes() -> bool {
    true
}
fn utc() -> String {
    "UTC".into()
}
fn default_max_tokens() -> i64 {
    4000
}
fn default_catch_up() -> String {
    "2h".into()
}
fn default_status() -> u16 {
    200
}
fn default_timeout() -> String {
    "10s".into()
}

/// Loads every `*.toml` in the bots directory (none when there is no directory); the error lists every problem.
pub fn load(config: &Config) -> Result<Vec<Bot>, Vec<String>> {
    let Some(dir) = config.bots_dir() else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) => return Err(vec![format!("bots: cannot read {}: {e}", dir.display())]),
    };
    files.sort();
    let mut problems = Vec::new();
    let mut bots: Vec<Bot> = Vec::new();
    let mut names = BTreeSet::new();
    for file in files {
        let (name, result) = load_file(config, &file);
        if let Some(name) = name
            && !names.insert(name.clone())
        {
            problems.push(format!(
                "{}: another bot file is already named {name:?}",
                file.display()
            ));
        }
        match result {
            Ok(bot) => bots.push(bot),
            Err(p) => problems.extend(p.into_iter().map(|p| format!("{}: {p}", file.display()))),
        }
    }
    if problems.is_empty() {
        Ok(bots)
    } else {
        Err(problems)
    }
}

/// Every problem with the bot files, for `aura check`.
pub fn problems(config: &Config) -> Vec<String> {
    load(config).err().unwrap_or_default()
}

/// The bot's name when the file parsed, and the bot or every problem with it.
fn load_file(config: &Config, path: &Path) -> (Option<String>, Result<Bot, Vec<String>>) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return (None, Err(vec![format!("cannot read: {e}")])),
    };
    let table: toml::Table = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => return (None, Err(vec![one_line(&e.to_string())])),
    };
    let mut unknown = Vec::new();
    let parsed: Result<BotFile, _> =
        serde_ignored::deserialize(toml::Value::Table(table), |p| unknown.push(p.to_string()));
    let mut problems: Vec<String> = unknown
        .into_iter()
        .map(|k| format!("unknown key `{k}` (see bots/README.md)"))
        .collect();
    let file = match parsed {
        Ok(f) => f,
        Err(e) => {
            problems.push(one_line(&e.to_string()));
            return (None, Err(problems));
        }
    };
    let name = file.name.clone();
    let result = match check(config, file, &mut problems) {
        Some(bot) if problems.is_empty() => Ok(bot),
        _ => Err(problems),
    };
    (Some(name), result)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn check(config: &Config, f: BotFile, problems: &mut Vec<String>) -> Option<Bot> {
    if f.name.is_empty()
        || !f
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        problems.push(format!("name {:?}: use letters, digits, - and _", f.name));
    }
    let kind = match f.kind.as_str() {
        "briefing" => Some(Kind::Briefing),
        "watchman" => Some(Kind::Watchman),
        other => {
            problems.push(format!("kind {other:?}: use \"briefing\" or \"watchman\""));
            None
        }
    };
    // The expression and the zone are checked apart, so a file with both wrong reports both.
    let cron_ok = Schedule::parse(&f.schedule, "UTC").map_err(|e| problems.push(e));
    let tz_ok = schedule::parse_tz(&f.timezone).map_err(|e| problems.push(e));
    let schedule = match (cron_ok, tz_ok) {
        (Ok(_), Ok(_)) => Schedule::parse(&f.schedule, &f.timezone).ok(),
        _ => None,
    };
    let channels = channels(config, &f, problems);
    let tools = tools(&f.tools, kind, problems);
    let prompt = prompt(config, kind, f.prompt.as_deref(), problems);
    if f.max_tokens < 1 {
        problems.push("max_tokens must be at least 1".into());
    }
    let catch_up = parse_duration(&f.catch_up)
        .map_err(|e| problems.push(format!("catch_up: {e}")))
        .ok();
    let endpoints = endpoints(&f.endpoints, kind, problems);
    if !endpoints.is_empty() && !tools.contains(&Tool::Http) {
        problems.push("endpoints are listed but tools does not allow \"http\"".into());
    }
    Some(Bot {
        name: f.name,
        kind: kind?,
        enabled: f.enabled,
        schedule: schedule?,
        channels,
        prompt,
        tools,
        max_tokens: f.max_tokens,
        catch_up: catch_up?,
        endpoints,
    })
}

fn channels(config: &Config, f: &BotFile, problems: &mut Vec<String>) -> Vec<ChatAddress> {
    if f.channels.is_empty() {
        problems.push("channels is empty: name at least one [channels] entry or address".into());
    }
    let mut out = Vec::new();
    for c in &f.channels {
        if c.contains(':') {
            match c.parse::<ChatAddress>() {
                Ok(a) => out.push(a),
                Err(e) => problems.push(format!("channels: {e}")),
            }
        } else if config.channels.contains_key(c) {
            out.extend(config.channel(c));
        } else if f.enabled {
            // A disabled bot (like the shipped ones) may name a channel the operator has not defined yet.
            problems.push(format!(
                "channels: {c:?} is not a [channels] entry in the configuration (nor an address like telegram:-100123)"
            ));
        }
    }
    out
}

fn tools(names: &[String], kind: Option<Kind>, problems: &mut Vec<String>) -> Vec<Tool> {
    let mut out = Vec::new();
    for name in names {
        match Tool::ALL.iter().find(|(n, _, _)| n == name) {
            Some((_, tool, k)) if kind.is_none_or(|kind| kind == *k) => out.push(*tool),
            Some(_) => problems.push(format!("tools: {name:?} is not a tool of this kind of bot")),
            None => {
                let known: Vec<&str> = Tool::ALL.iter().map(|(n, _, _)| *n).collect();
                problems.push(format!(
                    "tools: {name:?} is unknown; tools are {}",
                    known.join(", ")
                ));
            }
        }
    }
    out
}

fn prompt(
    config: &Config,
    kind: Option<Kind>,
    file: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<String> {
    let file = match (kind, file) {
        (_, Some(f)) => f,
        (Some(Kind::Briefing), None) => {
            problems.push(
                "prompt is not set: a briefing needs a prompt file (e.g. \"briefing.md\")".into(),
            );
            return None;
        }
        _ => return None,
    };
    let Some(dir) = config.prompts_dir() else {
        problems.push(format!(
            "prompt {file:?}: there is no prompts directory (prompts.dir)"
        ));
        return None;
    };
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            problems.extend(prompts::check_as("briefing.md", file, &text));
            Some(text)
        }
        Err(e) => {
            problems.push(format!(
                "prompt {file:?}: cannot read {}: {e}",
                path.display()
            ));
            None
        }
    }
}

fn endpoints(
    list: &[EndpointFile],
    kind: Option<Kind>,
    problems: &mut Vec<String>,
) -> Vec<Endpoint> {
    if kind == Some(Kind::Briefing) && !list.is_empty() {
        problems.push("endpoints: only a watchman checks endpoints".into());
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for e in list {
        if !names.insert(e.name.as_str()) {
            problems.push(format!("endpoints: {:?} is listed twice", e.name));
        }
        if !url::Url::parse(&e.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            problems.push(format!(
                "endpoints.{}: url {:?} is not an http(s) URL",
                e.name, e.url
            ));
        }
        if !(100..=599).contains(&e.expect_status) {
            problems.push(format!(
                "endpoints.{}: expect_status {} is not an HTTP status",
                e.name, e.expect_status
            ));
        }
        let timeout = match parse_duration(&e.timeout) {
            Ok(d) => d.to_std().unwrap_or(StdDuration::from_secs(10)),
            Err(err) => {
                problems.push(format!("endpoints.{}: timeout: {err}", e.name));
                StdDuration::from_secs(10)
            }
        };
        out.push(Endpoint {
            name: e.name.clone(),
            url: e.url.clone(),
            expect_status: e.expect_status,
            timeout,
        });
    }
    out
}

#[cfg(test)]
mod tests;
