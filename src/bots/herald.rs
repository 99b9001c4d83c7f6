//! Briefings: gather the facts deterministically, then at most one LLM call within the bot's token budget writes
//! the summary. Without an LLM (or when it fails, or the budget is too small) the facts go out as they are.

use std::fmt::Write as _;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::json;

use super::scheduler::Deps;
use super::{Bot, Tool};
use crate::agent::prompts;
use crate::chat::text::{RichText, human_duration as human};
use crate::storage::StoreError;

/// How far back "recent" reaches.
const WINDOW: Duration = Duration::hours(24);
/// Fewer reply tokens than this left in the budget: no summary.
const MIN_REPLY_TOKENS: i64 = 64;
/// The longest the one LLM call may take.
const LLM_TIMEOUT: StdDuration = StdDuration::from_secs(90);
/// The longest the cluster may take to list events.
const KUBE_TIMEOUT: StdDuration = StdDuration::from_secs(15);
/// Open tickets listed by name (the rest are counted).
const TICKETS_LISTED: i64 = 10;

/// A written briefing.
#[derive(Debug, Clone)]
pub struct Briefing {
    pub message: RichText,
    /// LLM tokens used (0 without a summary).
    pub tokens: i64,
}

/// Gathers the facts and writes the briefing for `bot` at `now`.
pub async fn write(deps: &Deps<'_>, bot: &Bot, now: DateTime<Utc>) -> Result<Briefing, StoreError> {
    let tz = bot.schedule.tz();
    let facts = gather(deps, bot, now, tz).await?;
    let local = now.with_timezone(&tz);
    let date = local.format("%A %Y-%m-%d %H:%M").to_string();
    let (summary, tokens) = match summarise(deps, bot, &facts, &date, tz).await {
        Ok((text, tokens)) => (Ok(text), tokens),
        Err(note) => (Err(note), 0),
    };
    let mut message = RichText::new()
        .bold(format!("Briefing from {} — {date} {}", bot.name, tz.name()))
        .newline();
    message = match summary {
        Ok(text) => message
            .text(text.trim())
            .newline()
            .newline()
            .bold("Facts")
            .newline(),
        Err(note) => message.italic(note).newline().newline(),
    };
    Ok(Briefing {
        message: message.text(facts.trim_end()),
        tokens,
    })
}

/// The facts, one topic per paragraph, as plain text (also what the LLM reads).
pub async fn gather(
    deps: &Deps<'_>,
    bot: &Bot,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<String, StoreError> {
    let since = now - WINDOW;
    let at = |t: DateTime<Utc>| t.with_timezone(&tz).format("%a %H:%M").to_string();
    let mut out = String::new();
    if bot.allows(Tool::Argo) {
        argo_facts(deps, since, &at, &mut out).await?;
    }
    if bot.allows(Tool::Tickets) {
        let open = deps.store.open_tickets(TICKETS_LISTED + 1).await?;
        let _ = writeln!(out, "Open tickets: {}", count(open.len(), TICKETS_LISTED));
        for t in open
            .iter()
            .take(usize::try_from(TICKETS_LISTED).unwrap_or(10))
        {
            let _ = writeln!(out, "- #{} {} ({})", t.id, t.title, t.status);
        }
    }
    if bot.allows(Tool::Approvals) {
        let n = deps.store.pending_approvals(now).await?;
        let _ = writeln!(out, "Pending approvals: {n}");
    }
    if bot.allows(Tool::Findings) {
        let found = deps.store.findings_since(since).await?;
        let _ = writeln!(out, "Watchman findings in the last 24 h: {}", found.len());
        for f in &found {
            let after = f
                .down_for
                .map(|d| format!(" after {} down", human(d)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "- {} {} at {}{after} {}",
                f.target,
                f.state,
                at(f.observed_at),
                f.detail
            );
        }
        let down = deps.store.targets_down().await?;
        let names: Vec<String> = down
            .iter()
            .map(|t| format!("{} (since {})", t.name, at(t.since)))
            .collect();
        let _ = writeln!(out, "Endpoints down now: {}", list_or_none(&names));
    }
    if bot.allows(Tool::KubeEvents) {
        let _ = writeln!(
            out,
            "Warning events in the cluster: {}",
            warning_events(deps).await
        );
    }
    Ok(out)
}

async fn argo_facts(
    deps: &Deps<'_>,
    since: DateTime<Utc>,
    at: &(dyn Fn(DateTime<Utc>) -> String + Sync),
    out: &mut String,
) -> Result<(), StoreError> {
    let apps = deps.store.argo_records().await?;
    let _ = writeln!(out, "Argo CD applications: {}", apps.len());
    let mut healths: Vec<&str> = apps.iter().map(|(_, a)| a.health.as_str()).collect();
    healths.sort_unstable();
    healths.dedup();
    for h in healths {
        let names: Vec<String> = apps
            .iter()
            .filter(|(_, a)| a.health == h)
            .map(|(name, a)| match a.sync.as_str() {
                "Synced" => name.clone(),
                sync => format!("{name} ({sync})"),
            })
            .collect();
        let _ = writeln!(out, "- {h} {}: {}", names.len(), names.join(", "));
    }
    let deploys = deps.store.deploys_since(since).await?;
    let _ = writeln!(out, "Deploys in the last 24 h: {}", deploys.len());
    for d in &deploys {
        let rev: String = d.revision.chars().take(12).collect();
        let _ = writeln!(out, "- {} {rev} at {}", d.app, at(d.at));
    }
    let incidents = deps.store.incidents_since(since).await?;
    let _ = writeln!(out, "Incidents in the last 24 h: {}", incidents.len());
    for i in &incidents {
        let state = match i.closed_at {
            Some(c) => format!("recovered at {} after {}", at(c), human(c - i.opened_at)),
            None => "still open".into(),
        };
        let _ = writeln!(
            out,
            "- {} {} at {}, {state}",
            i.app,
            i.health,
            at(i.opened_at)
        );
    }
    Ok(())
}

/// Kubernetes keeps events for a while only (an hour by default): say what the count covers.
const KEPT: &str = "(those the cluster still keeps, by default the last hour)";

/// The count of Warning events, or why there is none.
async fn warning_events(deps: &Deps<'_>) -> String {
    let Some(client) = deps.kube else {
        return "not configured (no [kubernetes])".into();
    };
    let api: Api<Event> = Api::all(client.clone());
    let params = ListParams::default().fields("type=Warning").limit(500);
    match tokio::time::timeout(KUBE_TIMEOUT, api.list(&params)).await {
        Ok(Ok(list))
            if list
                .metadata
                .continue_
                .as_deref()
                .is_some_and(|c| !c.is_empty()) =>
        {
            format!("more than {} {KEPT}", list.items.len())
        }
        Ok(Ok(list)) => format!("{} {KEPT}", list.items.len()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "briefing: cannot list warning events");
            "unavailable (the cluster did not answer the list)".into()
        }
        Err(_) => "unavailable (the cluster did not answer in time)".into(),
    }
}

/// The LLM's summary and its tokens, or the one-line note saying why there is none.
async fn summarise(
    deps: &Deps<'_>,
    bot: &Bot,
    facts: &str,
    date: &str,
    tz: Tz,
) -> Result<(String, i64), String> {
    let Some(llm) = deps.llm else {
        return Err("No summary: no LLM is configured; the facts as gathered.".into());
    };
    let template = bot.prompt.as_deref().unwrap_or("{{facts}}");
    let prompt = prompts::render_text(
        template,
        &[
            ("facts", facts),
            ("bot", &bot.name),
            ("date", date),
            ("time_zone", tz.name()),
        ],
    );
    let reply_budget = bot.max_tokens - estimate_tokens(&prompt);
    if reply_budget < MIN_REPLY_TOKENS {
        return Err(format!(
            "No summary: the facts exceed the token budget ({} tokens); the facts as gathered.",
            bot.max_tokens
        ));
    }
    let request = json!({
        "model": llm.config().model_for("fast"),
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": reply_budget,
    });
    let unreachable = "No summary: the LLM could not be reached; the facts as gathered.";
    match tokio::time::timeout(LLM_TIMEOUT, llm.chat(deps.metrics, request)).await {
        Ok(Ok((reply, usage))) => match reply["choices"][0]["message"]["content"].as_str() {
            Some(text) if !text.trim().is_empty() => Ok((text.to_owned(), usage.total())),
            _ => Err("No summary: the LLM answered without text; the facts as gathered.".into()),
        },
        Ok(Err(e)) => {
            tracing::warn!(bot = %bot.name, error = %format!("{e:#}"), "briefing: the LLM call failed");
            Err(unreachable.into())
        }
        Err(_) => Err(unreachable.into()),
    }
}

/// A cautious token estimate: one token per 3 characters (real text averages about 4), plus message overhead.
pub fn estimate_tokens(text: &str) -> i64 {
    i64::try_from(text.chars().count().div_ceil(3)).unwrap_or(i64::MAX) + 16
}

fn count(n: usize, limit: i64) -> String {
    if i64::try_from(n).unwrap_or(i64::MAX) > limit {
        format!("more than {limit}")
    } else {
        n.to_string()
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
