//! The one wiring place: builds the store, state and servers from the config, runs them, and shuts them down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use axum::Router;

use crate::agent::{Agent, Prompts};
use crate::argo::{self, Argo};
use crate::chat::discord::{self, Discord};
use crate::chat::matrix::{self, Matrix};
use crate::chat::outbox;
use crate::chat::telegram::{self, Telegram};
use crate::clock::Clock;
use crate::config::{Config, redact_url};
use crate::dispatch;
use crate::gitops::{GitOps, executor, observer};
use crate::investigate::{self, Investigator};
use crate::llm::Llm;
use crate::metrics::Metrics;
use crate::state::{SharedState, State, Wakers};
use crate::storage::Store;

/// How long in-flight work gets to finish after a shutdown signal.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(8);

/// A built, not yet running, Aura.
pub struct App {
    state: SharedState,
    listener: TcpListener,
    telegram: Option<Arc<Telegram>>,
    matrix: Option<Arc<Matrix>>,
    discord: Option<Arc<Discord>>,
    bots: Vec<crate::bots::Bot>,
}

type TaskResult = (&'static str, anyhow::Result<()>);

impl App {
    /// Connects and migrates the database and binds the HTTP listener.
    pub async fn build(config: Config, clock: Clock) -> anyhow::Result<App> {
        let store = connect_store(&config, clock.clone()).await?;
        let telegram = match config.telegram.is_on() {
            true => Some(Arc::new(Telegram::connect(&config.telegram).await?)),
            false => None,
        };
        // kube and octocrab link rustls with different crypto back ends: pick one for the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let gitops = match config.gitops_on() {
            true => Some(Arc::new(GitOps::connect(&config).await?)),
            false => None,
        };
        let kube = match config.kubernetes.is_on() {
            true => Some(argo::client(&config.kubernetes).await?),
            false => None,
        };
        let argo = kube
            .clone()
            .map(|c| Arc::new(Argo::new(c, &config.argocd.namespace)));
        let matrix = match config.matrix.is_on() {
            true => Some(Arc::new(Matrix::connect(&config.matrix).await?)),
            false => None,
        };
        let discord = match config.discord.is_on() {
            true => Some(Arc::new(Discord::connect(&config.discord).await?)),
            false => None,
        };
        let llm = match config.llm.is_on() {
            true => Some(Arc::new(Llm::new(&config.llm)?)),
            false => None,
        };
        let bots = crate::bots::load(&config)
            .map_err(|p| anyhow::anyhow!("bot files: {}", p.join("; ")))?;
        let addr = config.http.listen_addr().map_err(anyhow::Error::msg)?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let state = Arc::new(State {
            config,
            store,
            metrics: Metrics::new(),
            clock,
            shutdown: CancellationToken::new(),
            wakers: Wakers::default(),
            gitops,
            llm,
            kube,
            argo,
        });
        Ok(App {
            state,
            listener,
            telegram,
            matrix,
            discord,
            bots,
        })
    }

    /// The address the HTTP server listens on (useful with port 0).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listener
            .local_addr()
            .context("cannot read the listen address")
    }

    /// The shared state (tests reach the store through it).
    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    /// Runs every component until shutdown is requested or one of them stops, then drains.
    pub async fn run(self) -> anyhow::Result<()> {
        let App {
            state,
            listener,
            telegram,
            matrix,
            discord,
            bots,
        } = self;
        let shutdown = state.shutdown.clone();
        tracing::info!(
            listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            database = state.store.backend().as_str(),
            "aura is serving /healthz, /readyz, /metrics and /api"
        );
        let mut tasks: JoinSet<TaskResult> = JoinSet::new();
        let mut routes = Router::new();
        if let Some(tg) = telegram {
            spawn(
                &mut tasks,
                "telegram sender",
                outbox::run(state.clone(), tg.clone()),
            );
            if state.config.telegram.webhook_mode() {
                tg.register_webhook().await?;
                routes = routes.merge(telegram::webhook_router(state.clone(), tg));
            } else {
                spawn(
                    &mut tasks,
                    "telegram poller",
                    telegram::poll(state.clone(), tg),
                );
            }
        }
        if let Some(mx) = matrix {
            spawn(
                &mut tasks,
                "matrix sender",
                outbox::run(state.clone(), mx.clone()),
            );
            spawn(&mut tasks, "matrix sync", matrix::sync(state.clone(), mx));
        }
        if let Some(dc) = discord {
            spawn(
                &mut tasks,
                "discord sender",
                outbox::run(state.clone(), dc.clone()),
            );
            if state.config.discord.public_key.is_some() {
                routes = routes.merge(discord::webhook_router(state.clone(), dc.clone()));
            }
            if state.config.discord.gateway_mode() {
                spawn(
                    &mut tasks,
                    "discord gateway",
                    discord::run(state.clone(), dc),
                );
            }
        }
        if !state.config.telegram.is_on()
            && !state.config.matrix.is_on()
            && !state.config.discord.is_on()
        {
            tracing::warn!(
                "no chat platform is configured: only health, metrics and the ticket API are served \
                 (see the [telegram], [matrix] and [discord] sections of aura.example.toml)"
            );
        }
        if let Some(gitops) = state.gitops.clone() {
            spawn(
                &mut tasks,
                "executor",
                executor::run(state.clone(), gitops.clone()),
            );
            spawn(
                &mut tasks,
                "observer",
                observer::run(state.clone(), gitops.clone(), state.argo.clone()),
            );
            if let Some(agent) = agent(&state, gitops)? {
                spawn(
                    &mut tasks,
                    "planner",
                    crate::agent::run(state.clone(), agent),
                );
            }
        }
        if state.kube.is_some() {
            spawn(&mut tasks, "argo cd feed", crate::feed::run(state.clone()));
        }
        spawn(&mut tasks, "dispatcher", dispatch::run(state.clone()));
        spawn(
            &mut tasks,
            "scheduler",
            crate::bots::scheduler::run(state.clone(), bots),
        );
        spawn(
            &mut tasks,
            "investigator",
            investigate::run(state.clone(), investigator(&state)?),
        );
        spawn(
            &mut tasks,
            "http server",
            crate::http::serve(listener, state.clone(), routes),
        );

        let early = tokio::select! {
            biased;
            () = shutdown.cancelled() => None,
            Some(done) = tasks.join_next() => Some(done),
        };
        // A task that ends because shutdown was requested ended on time, not early.
        let early = early.filter(|_| !shutdown.is_cancelled());
        shutdown.cancel();
        let drained = tokio::time::timeout(DRAIN_DEADLINE, async {
            while let Some(done) = tasks.join_next().await {
                if let Ok((name, Err(e))) = done {
                    tracing::warn!(task = name, error = %format!("{e:#}"), "task failed while stopping");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("some tasks did not stop within {DRAIN_DEADLINE:?}; aborting them");
            tasks.abort_all();
        }
        state.store.close().await;
        match early {
            None => {
                tracing::info!("aura stopped");
                Ok(())
            }
            Some(Ok((name, Ok(())))) => anyhow::bail!("the {name} stopped unexpectedly"),
            Some(Ok((name, Err(e)))) => Err(e.context(format!("the {name} failed"))),
            Some(Err(join)) => anyhow::bail!("a task panicked: {join}"),
        }
    }
}

/// The planning agent, when `[llm]` is configured (it needs the repository, so `[git]` too).
fn agent(state: &State, gitops: Arc<GitOps>) -> anyhow::Result<Option<Arc<Agent>>> {
    let Some(llm) = state.llm.clone() else {
        tracing::info!("no [llm] configured: tickets wait for plans from the API");
        return Ok(None);
    };
    let dir = state
        .config
        .prompts_dir()
        .unwrap_or_else(|| "prompts".into());
    let prompts =
        Prompts::load(&dir).map_err(|p| anyhow::anyhow!("prompt templates: {}", p.join("; ")))?;
    Ok(Some(Arc::new(Agent::new(
        llm,
        prompts,
        gitops,
        state.kube.clone(),
        state.argo.clone(),
    )?)))
}

/// The @mention investigator; with `[llm]` it needs the prompts (checked by `aura check`).
fn investigator(state: &SharedState) -> anyhow::Result<Arc<Investigator>> {
    let prompts = match &state.llm {
        Some(_) => {
            let dir = state
                .config
                .prompts_dir()
                .unwrap_or_else(|| "prompts".into());
            Some(
                Prompts::load(&dir)
                    .map_err(|p| anyhow::anyhow!("prompt templates: {}", p.join("; ")))?,
            )
        }
        None => None,
    };
    Ok(Arc::new(Investigator::new(state, prompts)))
}

fn spawn(
    tasks: &mut JoinSet<TaskResult>,
    name: &'static str,
    fut: impl Future<Output = anyhow::Result<()>> + Send + 'static,
) {
    tasks.spawn(async move { (name, fut.await) });
}

/// Opens the configured database and applies migrations.
pub async fn connect_store(config: &Config, clock: Clock) -> anyhow::Result<Store> {
    let url = &config.database.url;
    let store = Store::connect(url, config.database.max_connections, clock)
        .await
        .with_context(|| format!("database {}", redact_url(url)))?;
    store.migrate().await?;
    Ok(store)
}

/// Cancels `token` on SIGINT or SIGTERM; the handlers are installed before this returns.
pub fn cancel_on_signal(token: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutdown requested; finishing in-flight work");
        token.cancel();
    });
    Ok(())
}

impl App {
    /// The root cancellation token; cancel it to stop `run`.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }
}
