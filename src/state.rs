//! The shared runtime state handed to every component: config, store, metrics, clock, shutdown.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::argo::Argo;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::Platform;
use crate::gitops::GitOps;
use crate::llm::Llm;
use crate::metrics::Metrics;
use crate::storage::Store;

/// Built once in `app.rs`, shared behind an `Arc`.
pub struct State {
    pub config: Config,
    pub store: Store,
    pub metrics: Metrics,
    pub clock: Clock,
    /// Cancelled on SIGINT/SIGTERM or when a task dies; everything long-running watches it.
    pub shutdown: CancellationToken,
    pub wakers: Wakers,
    /// The infrastructure repository and its pull requests, when `[git]` and `[github]` are configured.
    pub gitops: Option<Arc<GitOps>>,
    /// The OpenAI-compatible endpoint, when `[llm]` is configured.
    pub llm: Option<Arc<Llm>>,
    /// The cluster (read-only) and its Argo CD Applications, when `[kubernetes]` is on.
    pub kube: Option<kube::Client>,
    pub argo: Option<Arc<Argo>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("store", &self.store)
            .field("clock", &self.clock)
            .field("gitops", &self.gitops)
            .field("llm", &self.llm)
            .field("kube", &self.kube.as_ref().map(|_| "kube::Client"))
            .field("argo", &self.argo)
            .finish_non_exhaustive()
    }
}

/// Nudges for the loops that would otherwise wait for their next poll.
#[derive(Debug, Default)]
pub struct Wakers {
    /// An adapter recorded inbound events.
    pub inbox: Notify,
    /// A question was queued for the @mention investigator.
    pub investigations: Notify,
    senders: [Notify; 3],
}

impl Wakers {
    /// The nudge of one platform's outbox sender.
    pub fn sender(&self, platform: Platform) -> &Notify {
        &self.senders[platform as usize]
    }

    /// Nudges every outbox sender (a permit is kept if one is busy).
    pub fn wake_senders(&self) {
        for n in &self.senders {
            n.notify_one();
        }
    }
}

/// The state as components hold it.
pub type SharedState = Arc<State>;
