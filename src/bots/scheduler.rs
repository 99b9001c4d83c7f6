//! The scheduler: fires each enabled bot at its scheduled times, does a run missed while Aura was down once at
//! start (within the bot's `catch_up` window), and records every run in the same transaction as its messages, so
//! a restart never posts a run twice.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use super::{Bot, Kind, herald, watchman};
use crate::chat::outbox::{Place, enqueue_message};
use crate::chat::text::RichText;
use crate::llm::Llm;
use crate::metrics::Metrics;
use crate::state::{SharedState, State, Wakers};
use crate::storage::{BotRun, Store, StoreError};

/// How often the loop looks at the clock.
pub const POLL: StdDuration = StdDuration::from_millis(250);
/// How far back the first tick looks for a missed run (older ones are not worth a log line).
const LOOKBACK: Duration = Duration::days(2);

/// What a run needs, borrowed from the daemon's state or built by the command line.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    pub store: &'a Store,
    pub metrics: &'a Metrics,
    pub llm: Option<&'a Llm>,
    pub kube: Option<&'a kube::Client>,
    /// The outbox senders to nudge (none from the command line: the running daemon sends).
    pub wakers: Option<&'a Wakers>,
}

impl<'a> Deps<'a> {
    /// The daemon's.
    pub fn of(state: &'a State) -> Deps<'a> {
        Deps {
            store: &state.store,
            metrics: &state.metrics,
            llm: state.llm.as_deref(),
            kube: state.kube.as_ref(),
            wakers: Some(&state.wakers),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Messages were queued.
    Posted,
    /// The run had nothing to say (a watchman with no change).
    Quiet,
    /// The bot had already run for that time.
    AlreadyDone,
    /// A missed run older than the bot's catch-up window.
    Skipped,
    Failed,
}

impl Outcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Posted => "posted",
            Outcome::Quiet => "quiet",
            Outcome::AlreadyDone => "already_done",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

/// The last fire each bot has dealt with; empty at start.
#[derive(Debug, Default)]
pub struct Cursor {
    last: HashMap<String, DateTime<Utc>>,
}

/// Runs the enabled bots until shutdown.
pub async fn run(state: SharedState, bots: Vec<Bot>) -> anyhow::Result<()> {
    let bots: Vec<Bot> = bots.into_iter().filter(|b| b.enabled).collect();
    let names: Vec<&str> = bots.iter().map(|b| b.name.as_str()).collect();
    tracing::info!(bots = ?names, "scheduler started");
    let mut cursor = Cursor::default();
    let deps = Deps::of(&state);
    loop {
        // A run cut short by shutdown has written nothing (its one transaction never committed): the catch-up at
        // the next start does it.
        tokio::select! {
            () = state.shutdown.cancelled() => return Ok(()),
            () = tick(&deps, &bots, &mut cursor, state.clock.now()) => {}
        }
        tokio::select! {
            () = state.shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One look at the clock: runs every bot whose next fire has come, each at most once.
pub async fn tick(deps: &Deps<'_>, bots: &[Bot], cursor: &mut Cursor, now: DateTime<Utc>) {
    let mut due = Vec::new();
    for bot in bots {
        let last = cursor.last.get(&bot.name).copied();
        let from = last.unwrap_or(now - LOOKBACK);
        let fire = bot.schedule.latest_between(from, now);
        cursor
            .last
            .insert(bot.name.clone(), fire.or(last).unwrap_or(now));
        if let Some(fire) = fire {
            due.push((bot, fire));
        }
    }
    let runs = due.into_iter().map(|(bot, fire)| async move {
        let span = tracing::info_span!("bot run", bot = %bot.name, scheduled_for = %fire);
        let _ = tracing::Instrument::instrument(fire_once(deps, bot, fire, now), span).await;
    });
    futures::future::join_all(runs).await;
}

/// Runs `bot` for the fire at `fire` unless it already ran for it or the fire is too old.
async fn fire_once(deps: &Deps<'_>, bot: &Bot, fire: DateTime<Utc>, now: DateTime<Utc>) -> Outcome {
    let outcome = if now - fire > bot.catch_up {
        tracing::info!(late = %crate::chat::text::human_duration(now - fire), "missed run is older than catch_up; skipped");
        Outcome::Skipped
    } else {
        match deps.store.bot_run_exists(&bot.name, fire).await {
            Ok(true) => Outcome::AlreadyDone,
            Ok(false) => run_at(deps, bot, fire, now).await,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the bot's runs");
                Outcome::Failed
            }
        }
    };
    deps.metrics
        .bot_runs
        .with_label_values(&[bot.name.as_str(), outcome.as_str()])
        .inc();
    outcome
}

/// Does one run for `scheduled_for` and records it with its messages.
pub async fn run_at(
    deps: &Deps<'_>,
    bot: &Bot,
    scheduled_for: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Outcome {
    let result = match bot.kind {
        Kind::Briefing => briefing(deps, bot, scheduled_for, now).await,
        Kind::Watchman => watch(deps, bot, scheduled_for, now).await,
    };
    match result {
        Ok(o) => {
            tracing::info!(outcome = o.as_str(), "bot ran");
            if o == Outcome::Posted
                && let Some(w) = deps.wakers
            {
                w.wake_senders();
            }
            o
        }
        Err(e) => {
            tracing::warn!(error = %e, "bot run failed");
            Outcome::Failed
        }
    }
}

async fn briefing(
    deps: &Deps<'_>,
    bot: &Bot,
    scheduled_for: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    let b = herald::write(deps, bot, now).await?;
    let run = BotRun {
        bot: bot.name.clone(),
        scheduled_for,
        status: "posted".into(),
        tokens: b.tokens,
        output: b.message.plain(),
        error: None,
    };
    record(
        deps,
        bot,
        &run,
        Some(&b.message),
        &watchman::Outcome::default(),
    )
    .await
}

async fn watch(
    deps: &Deps<'_>,
    bot: &Bot,
    scheduled_for: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    let (checks, found, message) = watch_once(deps, bot, now).await?;
    let run = BotRun {
        bot: bot.name.clone(),
        scheduled_for,
        status: if message.is_some() { "posted" } else { "quiet" }.into(),
        tokens: 0,
        output: watchman::summary(&checks),
        error: None,
    };
    record(deps, bot, &run, message.as_ref(), &found).await
}

/// Checks every endpoint and compares with the stored states: the checks, what changed, and what to post.
async fn watch_once(
    deps: &Deps<'_>,
    bot: &Bot,
    now: DateTime<Utc>,
) -> Result<(Vec<watchman::Check>, watchman::Outcome, Option<RichText>), StoreError> {
    let checks = watchman::check_all(bot).await;
    let previous = deps.store.watch_targets(&bot.name).await?;
    let found = watchman::compare(&bot.name, &previous, &checks, now);
    let message = watchman::message(&bot.name, &found.findings, bot.schedule.tz());
    Ok((checks, found, message))
}

/// Writes the run row, watchman's states and findings, and the messages in one transaction; nothing when the run
/// exists.
async fn record(
    deps: &Deps<'_>,
    bot: &Bot,
    run: &BotRun,
    message: Option<&RichText>,
    found: &watchman::Outcome,
) -> Result<Outcome, StoreError> {
    let mut tx = deps.store.write().await?;
    if !tx.record_bot_run(run).await? {
        return Ok(Outcome::AlreadyDone);
    }
    for s in &found.states {
        tx.set_watch_target(s).await?;
    }
    for f in &found.findings {
        tx.add_finding(f).await?;
    }
    if let Some(m) = message {
        for to in &bot.channels {
            enqueue_message(&mut tx, to, None, m, &Place::default(), vec![]).await?;
        }
    }
    tx.commit().await?;
    Ok(if message.is_some() {
        Outcome::Posted
    } else {
        Outcome::Quiet
    })
}

/// `aura briefing run NAME [--dry-run]`: runs `bot` now. A dry run returns what it would post and records
/// nothing; otherwise the run is recorded at `now` and its messages queued for the running daemon to send.
pub async fn run_now(
    deps: &Deps<'_>,
    bot: &Bot,
    dry_run: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    if dry_run {
        return Ok(match bot.kind {
            Kind::Briefing => herald::write(deps, bot, now).await?.message.plain(),
            Kind::Watchman => {
                let (checks, _, message) = watch_once(deps, bot, now).await?;
                let said = message.map_or_else(
                    || "(no change: nothing would be posted)".to_owned(),
                    |m| m.plain(),
                );
                format!("{said}\n\nchecks: {}", watchman::summary(&checks))
            }
        });
    }
    let outcome = run_at(deps, bot, now, now).await;
    deps.metrics
        .bot_runs
        .with_label_values(&[bot.name.as_str(), outcome.as_str()])
        .inc();
    let channels: Vec<String> = bot.channels.iter().map(ToString::to_string).collect();
    Ok(match outcome {
        Outcome::Posted if channels.is_empty() => format!(
            "{}: run recorded at {now}; the bot has no channels, so nothing was queued",
            bot.name
        ),
        Outcome::Posted => format!(
            "{}: run recorded at {now}; queued in the outbox for {} — the running daemon (aura serve) sends it",
            bot.name,
            channels.join(", ")
        ),
        Outcome::Quiet => format!(
            "{}: run recorded at {now}; nothing changed, nothing to post",
            bot.name
        ),
        Outcome::AlreadyDone | Outcome::Skipped => {
            format!("{}: a run at {now} already exists", bot.name)
        }
        Outcome::Failed => anyhow::bail!("{}: the run failed (see the log above)", bot.name),
    })
}
