//! @mention debugging: questions recorded by the dispatcher are answered here, off the dispatcher, a few at a
//! time. Deterministic analyzers first, then (when configured) the LLM with read-only tools; the answer and the
//! question's new status are written in one transaction, so a crash re-runs a question and never posts twice.

pub mod analyze;
mod converse;
mod gather;
mod intake;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::agent::Prompts;
use crate::chat::outbox::{self, Place};
use crate::chat::text::RichText;
use crate::redact::Redactor;
use crate::state::SharedState;
use crate::storage::{Investigation, StoreError};
use analyze::{Finding, Severity};
use converse::Reply;

pub use intake::{ask, escalate};

/// The worker looks for queued questions at least this often even when nobody wakes it.
const POLL: Duration = Duration::from_secs(1);
/// Findings listed in one answer.
const MAX_FINDINGS: usize = 8;

/// The answering side: prompts, the mask and the concurrency cap.
pub struct Investigator {
    prompts: Option<Prompts>,
    redactor: Redactor,
    permits: Arc<Semaphore>,
}

impl Investigator {
    /// The investigator for `state`'s config; `prompts` are needed only when an LLM is configured.
    pub fn new(state: &SharedState, prompts: Option<Prompts>) -> Investigator {
        let concurrency = state.config.investigate.concurrency.max(1) as usize;
        Investigator {
            prompts,
            redactor: Redactor::new(state.config.secret_values()),
            permits: Arc::new(Semaphore::new(concurrency)),
        }
    }
}

/// Answers queued questions until shutdown, at most `[investigate] concurrency` at once. Questions left
/// running by a previous process are queued again first.
pub async fn run(state: SharedState, inv: Arc<Investigator>) -> anyhow::Result<()> {
    let requeued = state.store.requeue_investigations().await?;
    if requeued > 0 {
        tracing::info!(
            requeued,
            "re-running questions a previous run did not finish"
        );
    }
    let mut running = JoinSet::new();
    loop {
        while let Ok(permit) = inv.permits.clone().try_acquire_owned() {
            match state.store.claim_investigation().await {
                Ok(Some(q)) => {
                    let (state, inv) = (state.clone(), inv.clone());
                    let span = tracing::info_span!("investigate", investigation = q.id, conversation = %q.conversation);
                    running.spawn(
                        async move {
                            let _permit = permit;
                            if let Err(e) = answer(&state, &inv, q).await {
                                tracing::warn!(error = %e, "cannot store an answer; it will run again");
                            }
                        }
                        .instrument(span),
                    );
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the question queue; retrying");
                    break;
                }
            }
        }
        tokio::select! {
            () = state.shutdown.cancelled() => {
                // Unfinished questions stay `running` in the database and run again at the next start.
                running.abort_all();
                return Ok(());
            }
            () = state.wakers.investigations.notified() => {},
            Some(_) = running.join_next() => {},
            () = tokio::time::sleep(POLL) => {},
        }
    }
}

/// What an answer is made of.
struct Answer {
    outcome: &'static str,
    findings: String,
    text: RichText,
    tokens: i64,
}

/// Investigates one claimed question and posts the answer in its thread, with its status, in one transaction.
async fn answer(
    state: &SharedState,
    inv: &Investigator,
    q: Investigation,
) -> Result<(), StoreError> {
    let a = investigate(state, inv, &q).await;
    let mut tx = state.store.write().await?;
    let plain = a.text.plain();
    if !tx
        .finish_investigation(q.id, a.outcome, &a.findings, &plain, a.tokens)
        .await?
    {
        return Ok(());
    }
    let place = Place::reply(&q.message_id, q.thread.as_deref());
    outbox::enqueue_message(&mut tx, &q.conversation, None, &a.text, &place, Vec::new()).await?;
    tx.commit().await?;
    state.wakers.wake_senders();
    tracing::info!(outcome = a.outcome, tokens = a.tokens, "question answered");
    Ok(())
}

async fn investigate(state: &SharedState, inv: &Investigator, q: &Investigation) -> Answer {
    let prefix = q.conversation.platform().command_prefix();
    let footer = |text: RichText| {
        text.newline().italic(format!(
            "Read-only answer to question #{}. {prefix}escalate {} turns it into a ticket.",
            q.id, q.id
        ))
    };
    let Some(kube) = &state.kube else {
        let text = RichText::new().text("I cannot look: no cluster is configured ([kubernetes]).");
        return Answer {
            outcome: "no_cluster",
            findings: String::new(),
            text: footer(text),
            tokens: 0,
        };
    };
    let g = gather::gather(kube, &state.config.argocd.namespace, &q.question).await;
    let mut findings = analyze::analyze(&g.snapshot, &g.scope);
    let mut notes = g.notes;
    // A value recognised as a secret anywhere in the evidence is masked everywhere, model's answer included.
    let mut seen = Vec::new();
    for text in findings
        .iter()
        .flat_map(|f| f.evidence.iter().chain([&f.summary]))
        .chain(&notes)
    {
        seen.extend(inv.redactor.learned(text));
    }
    for f in &mut findings {
        mask_finding(&inv.redactor, f, &seen);
    }
    for n in &mut notes {
        *n = inv.redactor.redact_with(n, &seen).into_owned();
    }
    let findings_text = findings_plain(&findings, &notes);
    // Without an LLM the findings are the answer.
    let (outcome, mut text, tokens) = match (&state.llm, &inv.prompts) {
        (Some(llm), Some(prompts)) => {
            match converse::converse(state, inv, llm, prompts, q, &findings_text, seen).await {
                (Reply::Answer(a), t) => ("llm", RichText::new().text(a).newline().newline(), t),
                (Reply::OverBudget, t) => ("over_budget", RichText::new(), t),
                (Reply::Failed(e), t) => {
                    tracing::warn!(error = %inv.redactor.redact(&e), "the LLM failed; answering with the findings");
                    ("llm_failed", RichText::new(), t)
                }
            }
        }
        _ => ("findings", RichText::new(), 0),
    };
    text = findings_rich(text, &findings, &notes, &g.scope);
    Answer {
        outcome,
        findings: findings_text,
        text: footer(text),
        tokens,
    }
}

fn mask_finding(r: &Redactor, f: &mut Finding, seen: &[String]) {
    f.summary = r.redact_with(&f.summary, seen).into_owned();
    for e in &mut f.evidence {
        *e = r.redact_with(e, seen).into_owned();
    }
}

/// The findings as plain lines, for the model and for a ticket's description.
pub fn findings_plain(findings: &[Finding], notes: &[String]) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        out.push_str("No problems found by the analyzers.\n");
    }
    for f in findings.iter().take(MAX_FINDINGS) {
        out.push_str(&format!(
            "- [{}] {}: {}\n",
            label(f.severity),
            f.object,
            f.summary
        ));
        for e in &f.evidence {
            out.push_str(&format!("    {e}\n"));
        }
    }
    for n in notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

fn label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
    }
}

fn findings_rich(
    mut text: RichText,
    findings: &[Finding],
    notes: &[String],
    scope: &analyze::Scope,
) -> RichText {
    if findings.is_empty() {
        let looked = if scope.is_everything() {
            "the whole cluster".to_owned()
        } else {
            scope.terms.join(", ")
        };
        text = text.text(format!("No problems found looking at {looked}."));
    } else {
        text = text.bold("Findings").newline();
    }
    for f in findings.iter().take(MAX_FINDINGS) {
        let icon = match f.severity {
            Severity::Critical => "🔴",
            Severity::Warning => "🟠",
        };
        text = text
            .text(format!("{icon} "))
            .bold(&f.object)
            .text(format!(": {}", f.summary))
            .newline();
        for e in &f.evidence {
            text = text.text("   • ").code(e).newline();
        }
    }
    if findings.len() > MAX_FINDINGS {
        text = text
            .italic(format!("… and {} more.", findings.len() - MAX_FINDINGS))
            .newline();
    }
    for n in notes {
        text = text.italic(format!("({n})")).newline();
    }
    text
}
