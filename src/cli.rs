//! The `aura` command line: parses arguments and runs one command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{self, App};
use crate::clock::Clock;
use crate::config::{self, Config, LogConfig};
use crate::doctor;
use crate::domain::{Status, Ticket};
use crate::storage::TicketFilter;
use crate::telemetry;

/// Aura: chat-ops for Kubernetes on Telegram, Discord and Matrix.
#[derive(Debug, Parser)]
#[command(name = "aura", version, about)]
pub struct Cli {
    /// Config file (TOML). Default: ./aura.toml if present, else built-in defaults.
    #[arg(long, short, global = true, env = "AURA_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Serve,
    /// Validate the configuration, bots/ and prompts/; print every problem.
    Check,
    /// Apply database migrations and exit.
    Migrate,
    /// Read tickets from the database.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Try every configured connection; print a verdict per line; exit 1 on any problem.
    Doctor,
    /// Run monitoring agents (bots/) by hand.
    #[command(subcommand)]
    Briefing(BriefingCommand),
    /// Measure the hot paths on synthetic data and print the figures (touches no configured service).
    Bench {
        /// Pods in the synthetic cluster the @mention analyzers read.
        #[arg(long, default_value_t = 2000)]
        pods: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum BriefingCommand {
    /// Run one bot now: record the run and queue its messages for the running daemon to send.
    Run {
        /// The bot's name (its `name` in bots/).
        name: String,
        /// Print what it would post instead; record and queue nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// List tickets, newest first.
    List {
        /// Only tickets in this status (e.g. pending_plan_approval).
        #[arg(long)]
        status: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one ticket and its audit trail.
    Show {
        /// Ticket id, e.g. 42 or #42.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain; names the first broken row.
    Verify,
}

/// Runs the parsed command; the process exit code says whether it worked.
pub async fn run(cli: Cli) -> ExitCode {
    let loaded = match config::load(cli.config.as_deref()) {
        Ok(l) => l,
        Err(problems) => {
            let n = problems.0.len();
            eprintln!(
                "aura: the configuration has {n} problem{}:\n{problems}",
                if n == 1 { "" } else { "s" }
            );
            return ExitCode::FAILURE;
        }
    };
    // One-shot commands print their own verdicts; kube's per-request error lines would only repeat them.
    let quiet = LogConfig {
        level: "warn,kube_client=off".into(),
        ..loaded.config.log.clone()
    };
    let log = if matches!(cli.command, Command::Serve) {
        &loaded.config.log
    } else {
        &quiet
    };
    telemetry::init(log, loaded.config.secret_values());
    let result = match cli.command {
        Command::Serve => serve(loaded.config).await,
        Command::Check => check(&loaded),
        Command::Migrate => migrate(&loaded.config).await,
        Command::Tickets(cmd) => tickets(&loaded.config, cmd).await,
        Command::Audit(AuditCommand::Verify) => verify(&loaded.config).await,
        Command::Doctor => doctor(&loaded.config).await,
        Command::Briefing(BriefingCommand::Run { name, dry_run }) => {
            briefing(&loaded.config, &name, dry_run).await
        }
        Command::Bench { pods } => crate::bench::run(pods).await.map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("aura: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let app = App::build(config, Clock::system()).await?;
    app::cancel_on_signal(app.shutdown_token())?;
    app.run().await?;
    Ok(ExitCode::SUCCESS)
}

fn check(loaded: &config::Loaded) -> anyhow::Result<ExitCode> {
    let c = &loaded.config;
    let source = loaded.file.as_ref().map_or_else(
        || "built-in defaults".to_owned(),
        |f| f.display().to_string(),
    );
    let count = |dir: Option<PathBuf>| {
        dir.and_then(|d| std::fs::read_dir(d).ok()).map_or(0, |it| {
            it.flatten()
                .filter(|e| e.path().is_file() && e.file_name() != "README.md")
                .count()
        })
    };
    println!(
        "config ok ({source}): database {}, http {}, {} bot file(s), {} prompt file(s)",
        config::redact_url(&c.database.url),
        c.http.listen,
        count(c.bots_dir()),
        count(c.prompts_dir()),
    );
    Ok(ExitCode::SUCCESS)
}

async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let store = app::connect_store(config, Clock::system()).await?;
    println!(
        "migrations applied ({})",
        config::redact_url(&config.database.url)
    );
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn tickets(config: &Config, cmd: TicketsCommand) -> anyhow::Result<ExitCode> {
    let store = app::connect_store(config, Clock::system()).await?;
    match cmd {
        TicketsCommand::List { status, limit } => {
            let status = status.map(|s| s.parse::<Status>()).transpose()?;
            let list = store
                .tickets(&TicketFilter {
                    status,
                    before: None,
                    limit: limit.max(1),
                })
                .await?;
            if list.is_empty() {
                println!("no tickets");
            }
            for t in &list {
                println!("{}", ticket_line(t));
            }
        }
        TicketsCommand::Show { id } => {
            let t = store.ticket(id.parse()?).await?;
            println!("{}", ticket_line(&t));
            println!(
                "  requester: {}   priority: {}",
                t.requester,
                t.priority.as_str()
            );
            println!(
                "  created:   {}   updated: {}",
                t.created_at.to_rfc3339(),
                t.updated_at.to_rfc3339()
            );
            println!(
                "  turns:     {}/{}   tokens: {}",
                t.turns, t.max_turns, t.tokens_used
            );
            if !t.description.is_empty() {
                println!(
                    "  description:\n    {}",
                    t.description.replace('\n', "\n    ")
                );
            }
            if let Some(plan) = &t.plan {
                println!(
                    "  plan: {} ({} steps, digest {})",
                    plan.summary,
                    plan.steps.len(),
                    &plan.digest()[..12]
                );
            }
            println!("  audit:");
            for e in store.ticket_audit(t.id).await? {
                println!(
                    "    {:>5}  {}  {:<24} {:<16} {}",
                    e.id,
                    e.created_at.to_rfc3339(),
                    e.actor,
                    e.event,
                    e.details
                );
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn ticket_line(t: &Ticket) -> String {
    format!(
        "{:<6} {:<22} {:<7} {}  {}",
        t.id.to_string(),
        t.status.as_str(),
        t.priority.as_str(),
        t.created_at.format("%Y-%m-%d %H:%M"),
        t.title
    )
}

async fn verify(config: &Config) -> anyhow::Result<ExitCode> {
    let store = app::connect_store(config, Clock::system()).await?;
    let result = store.verify_audit().await?;
    store.close().await;
    match result {
        Ok(n) => {
            println!("audit chain ok: {n} rows verified");
            Ok(ExitCode::SUCCESS)
        }
        Err(brk) => {
            println!("{brk}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn doctor(config: &Config) -> anyhow::Result<ExitCode> {
    let checks = doctor::run(config).await;
    for check in &checks {
        println!("{check}");
    }
    Ok(if checks.iter().all(|c| c.result.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn briefing(config: &Config, name: &str, dry_run: bool) -> anyhow::Result<ExitCode> {
    use crate::bots::scheduler::{self, Deps};
    let bots =
        crate::bots::load(config).map_err(|p| anyhow::anyhow!("bot files: {}", p.join("; ")))?;
    let Some(bot) = bots.iter().find(|b| b.name == name) else {
        let names: Vec<&str> = bots.iter().map(|b| b.name.as_str()).collect();
        anyhow::bail!("no bot is named {name:?}; bots: {}", names.join(", "));
    };
    let clock = Clock::system();
    let store = app::connect_store(config, clock.clone()).await?;
    let llm = match config.llm.is_on() {
        true => Some(crate::llm::Llm::new(&config.llm)?),
        false => None,
    };
    let kube = match config.kubernetes.is_on() {
        true => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            crate::argo::client(&config.kubernetes).await.ok()
        }
        false => None,
    };
    let metrics = crate::metrics::Metrics::new();
    let deps = Deps {
        store: &store,
        metrics: &metrics,
        llm: llm.as_ref(),
        kube: kube.as_ref(),
        wakers: None,
    };
    let out = scheduler::run_now(&deps, bot, dry_run, clock.now()).await;
    store.close().await;
    println!("{}", out?);
    Ok(ExitCode::SUCCESS)
}
