//! The Argo CD health feed: watches `applications.argoproj.io`, runs every observation through the feed rules
//! (`domain::feed`), and turns what they announce into stored state and channel messages.

mod announce;
mod revert;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;
use kube::api::DynamicObject;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use crate::argo::{self, AppState};
use crate::domain::feed::{self, Observed, Record, Rules};
use crate::state::SharedState;

/// How often every application is looked at again without an event, so a bad state that persists gets
/// confirmed on time (the rules decide by the clock, not by this period).
const RECHECK: Duration = Duration::from_secs(1);

/// An application as last seen by the watch.
#[derive(Debug, Clone)]
struct Seen {
    observed: Observed,
    labels: BTreeMap<String, String>,
}

/// Watches Applications and announces transitions until shutdown. Needs `[kubernetes]`.
pub async fn run(state: SharedState) -> anyhow::Result<()> {
    let Some(client) = state.kube.clone() else {
        return Ok(());
    };
    let api = argo::applications(client, &state.config.argocd.namespace);
    let mut config = watcher::Config::default();
    if let Some(selector) = &state.config.argocd.selector {
        config = config.labels(selector);
    }
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut feed = Feed::load(&state).await?;
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return Ok(()),
            event = events.next() => match event {
                Some(Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj))) => {
                    feed.seen(&state, &obj).await;
                }
                Some(Ok(watcher::Event::Delete(obj))) => {
                    if let Some(name) = &obj.metadata.name {
                        feed.deleted(&state, name).await;
                    }
                }
                Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => {}
                Some(Err(e)) => tracing::warn!(error = %e, "watching Argo CD applications failed; retrying"),
                None => anyhow::bail!("the Argo CD application watch ended"),
            },
            _ = recheck.tick() => feed.recheck(&state).await,
        }
    }
}

/// The watcher's memory: the latest observation of every application and what is stored about it.
struct Feed {
    latest: HashMap<String, Seen>,
    records: HashMap<String, Record>,
}

impl Feed {
    async fn load(state: &SharedState) -> anyhow::Result<Feed> {
        let records = state.store.argo_records().await?.into_iter().collect();
        Ok(Feed {
            latest: HashMap::new(),
            records,
        })
    }

    async fn seen(&mut self, state: &SharedState, obj: &DynamicObject) {
        let Some(name) = obj.metadata.name.clone() else {
            return;
        };
        let value = serde_json::to_value(obj).unwrap_or(Value::Null);
        let s = AppState::from_object(&value);
        let seen = Seen {
            observed: Observed {
                health: s.health,
                sync: s.sync,
                revision: s.revision,
                unhealthy: s.unhealthy,
            },
            labels: obj.metadata.labels.clone().unwrap_or_default(),
        };
        self.latest.insert(name.clone(), seen);
        self.evaluate(state, &name).await;
    }

    /// An application was deleted: its open incident is closed (its messages say so) and it is forgotten, so a
    /// new application of that name starts fresh.
    async fn deleted(&mut self, state: &SharedState, name: &str) {
        self.latest.remove(name);
        let Some(record) = self.records.get(name) else {
            return;
        };
        match announce::deleted(state, name, record).await {
            Ok(()) => {
                self.records.remove(name);
            }
            Err(e) => {
                tracing::warn!(app = name, error = %format!("{e:#}"), "cannot record a deleted Argo CD application")
            }
        }
    }

    /// Looks again at the applications whose bad state waits for confirmation.
    async fn recheck(&mut self, state: &SharedState) {
        let waiting: Vec<String> = self
            .records
            .iter()
            .filter(|(name, r)| r.pending_since.is_some() && self.latest.contains_key(*name))
            .map(|(name, _)| name.clone())
            .collect();
        for name in waiting {
            self.evaluate(state, &name).await;
        }
    }

    /// Runs the rules on the latest observation of `name`; stores and announces what they decide. A failure
    /// leaves the memory as it was, so the next observation tries again.
    async fn evaluate(&mut self, state: &SharedState, name: &str) {
        let Some(seen) = self.latest.get(name).cloned() else {
            return;
        };
        state.metrics.argo_observations.inc();
        let rules = Rules {
            confirm_after: state.config.argocd.confirm_after(),
            revert_window: state.config.argocd.revert_window(),
        };
        let prev = self.records.get(name);
        let (record, announcements) = feed::step(prev, &seen.observed, state.clock.now(), rules);
        if prev == Some(&record) && announcements.is_empty() {
            return;
        }
        match announce::apply(
            state,
            name,
            &seen.labels,
            &seen.observed,
            record,
            announcements,
        )
        .await
        {
            Ok(stored) => {
                self.records.insert(name.to_owned(), stored);
            }
            Err(e) => {
                tracing::warn!(app = name, error = %format!("{e:#}"), "cannot record an Argo CD transition")
            }
        }
    }
}
