//! The planning agent: an LLM (any OpenAI-compatible endpoint) reads the repository with typed, read-only
//! tools and proposes an exact change, within the ticket's stored budget of turns and tokens.

pub mod prompts;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::approvals;
use crate::argo::Argo;
use crate::chat::outbox;
use crate::chat::text::RichText;
use crate::config::LlmConfig;
use crate::domain::{Actor, AuditEvent, Status, Ticket, TicketId};
use crate::gitops::{GitOps, PrepareError};
use crate::llm::Llm;
use crate::state::SharedState;
use crate::storage::TicketFilter;
use crate::tools::{self, Mode, ToolCall};

pub use prompts::Prompts;

/// Exchanges kept besides the opening messages, so the prompt stays flat however long planning runs.
const KEPT_EXCHANGES: usize = 6;
const POLL: Duration = Duration::from_secs(2);

/// The planner and what it talks to.
pub struct Agent {
    llm: Arc<Llm>,
    config: LlmConfig,
    prompts: Prompts,
    gitops: Arc<GitOps>,
    /// The cluster (read-only) and Argo CD, when configured.
    kube: Option<kube::Client>,
    argo: Option<Arc<Argo>>,
}

/// How a planning run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Proposed,
    Asked,
    Paused(String),
}

impl Agent {
    /// The agent for `[llm]`, with prompts from `dir`.
    pub fn new(
        llm: Arc<Llm>,
        prompts: Prompts,
        gitops: Arc<GitOps>,
        kube: Option<kube::Client>,
        argo: Option<Arc<Argo>>,
    ) -> anyhow::Result<Agent> {
        Ok(Agent {
            config: llm.config().clone(),
            llm,
            prompts,
            gitops,
            kube,
            argo,
        })
    }
}

/// Plans tickets that wait for a plan (new ones, rejected ones, answered ones) until shutdown.
pub async fn run(state: SharedState, agent: Arc<Agent>) -> anyhow::Result<()> {
    loop {
        for status in [Status::Draft, Status::Planning] {
            let filter = TicketFilter {
                status: Some(status),
                before: None,
                limit: 10,
            };
            let tickets = state.store.tickets(&filter).await.unwrap_or_default();
            for ticket in tickets.into_iter().rev() {
                let span = tracing::info_span!("plan", ticket = %ticket.id);
                let _enter = span.enter();
                if let Err(e) = plan(&state, &agent, ticket.id).await {
                    tracing::warn!(error = %format!("{e:#}"), "planning failed; will retry");
                }
            }
        }
        tokio::select! {
            () = state.shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(POLL) => {},
        }
    }
}

/// Runs the agent on one ticket until it proposes a plan, asks a question, or runs out of budget.
pub async fn plan(state: &SharedState, agent: &Agent, id: TicketId) -> anyhow::Result<Outcome> {
    let mut ticket = state.store.ticket(id).await?;
    if ticket.status == Status::Draft {
        ticket = state
            .store
            .transition(id, Status::Planning, &Actor::Aura, Some("planning started"))
            .await?;
    }
    let mut messages = opening(state, agent, &ticket).await?;
    loop {
        ticket = state.store.ticket(id).await?;
        if ticket.status != Status::Planning {
            return Ok(Outcome::Paused(format!("the ticket is {}", ticket.status)));
        }
        if let Some(reason) = over_budget(&agent.config, &ticket) {
            pause(state, &ticket, &reason).await?;
            return Ok(Outcome::Paused(reason));
        }
        let mut request = pruned(&messages);
        if ticket.turns + 1 >= ticket.max_turns {
            request.push(json!({"role": "system", "content": "This is your last turn: do not gather more. Report with propose_plan, or ask_question with what you found and what you need."}));
        }
        let reply = call(state, agent, &ticket, request).await?;
        let message = reply["choices"][0]["message"].clone();
        let calls = message["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        messages.push(message.clone());
        if calls.is_empty() {
            // Text without a tool call is what the model wants to tell the requester.
            let text = message["content"]
                .as_str()
                .unwrap_or("I need more information.")
                .to_owned();
            ask(state, &ticket, &text).await?;
            return Ok(Outcome::Asked);
        }
        for call in calls {
            let (result, outcome) = run_tool(state, agent, &ticket, &call).await?;
            messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": result}));
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
    }
}

fn over_budget(config: &LlmConfig, t: &Ticket) -> Option<String> {
    if t.turns >= t.max_turns {
        return Some(format!("it used its {} turns", t.max_turns));
    }
    if t.tokens_used >= config.max_tokens_per_ticket {
        return Some(format!(
            "it used its {} tokens",
            config.max_tokens_per_ticket
        ));
    }
    None
}

async fn opening(
    state: &SharedState,
    agent: &Agent,
    ticket: &Ticket,
) -> anyhow::Result<Vec<Value>> {
    let agents_md = agent
        .gitops
        .read("AGENTS.md")
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| "(none)".into());
    let said: Vec<_> = state
        .store
        .ticket_audit(ticket.id)
        .await?
        .into_iter()
        .filter(|e| e.event == AuditEvent::ConversationMessage.as_str())
        .collect();
    let conversation: Vec<String> = said[said.len().saturating_sub(20)..]
        .iter()
        .map(|e| {
            let text = serde_json::from_str::<Value>(&e.details)
                .ok()
                .and_then(|d| d["text"].as_str().map(str::to_owned));
            format!("{}: {}", e.actor, text.unwrap_or_default())
        })
        .collect();
    let tools: Vec<&str> = tools::allowed(Mode::Planning).to_vec();
    let ticket_text = format!("{} {}\n{}", ticket.id, ticket.title, ticket.description);
    let planner = agent.prompts.render(
        "planner.md",
        &[
            ("ticket", &tools::fence("ticket", &ticket_text)),
            ("agents_md", &tools::fence("repo_read", &agents_md)),
            (
                "conversation",
                &tools::fence("chat", &conversation.join("\n")),
            ),
            ("tools", &tools.join(", ")),
        ],
    );
    Ok(vec![
        json!({"role": "system", "content": agent.prompts.render("system.md", &[])}),
        json!({"role": "user", "content": planner}),
    ])
}

/// The opening messages and the last exchanges (an assistant message with its tool results).
fn pruned(messages: &[Value]) -> Vec<Value> {
    let head = messages.len().min(2);
    let starts: Vec<usize> = (head..messages.len())
        .filter(|&i| messages[i]["role"] == "assistant")
        .collect();
    let from = starts.len().saturating_sub(KEPT_EXCHANGES);
    let cut = starts.get(from).copied().unwrap_or(messages.len());
    messages[..head]
        .iter()
        .chain(&messages[cut..])
        .cloned()
        .collect()
}

async fn call(
    state: &SharedState,
    agent: &Agent,
    ticket: &Ticket,
    messages: Vec<Value>,
) -> anyhow::Result<Value> {
    let request = json!({
        "model": agent.config.model_for("standard"),
        "messages": messages,
        "tools": tools::schemas(Mode::Planning),
        "tool_choice": "auto",
        "stream": false,
    });
    let (reply, usage) = agent.llm.chat(&state.metrics, request).await?;
    state
        .store
        .record_turn(ticket.id, usage.prompt, usage.completion, usage.cost_micros)
        .await?;
    Ok(reply)
}

/// Runs one tool call; returns the (fenced) result for the model and, for a final tool, how the run ended.
async fn run_tool(
    state: &SharedState,
    agent: &Agent,
    ticket: &Ticket,
    call: &Value,
) -> anyhow::Result<(String, Option<Outcome>)> {
    let name = call["function"]["name"].as_str().unwrap_or_default();
    let args = call["function"]["arguments"].as_str().unwrap_or("{}");
    let parsed = match ToolCall::parse(Mode::Planning, name, args) {
        Ok(c) => c,
        Err(refusal) => {
            audit(
                state,
                ticket.id,
                AuditEvent::ToolRefused,
                json!({"tool": name, "reason": refusal.to_string()}),
            )
            .await?;
            state
                .metrics
                .tool_calls
                .with_label_values(&[tools::label(name), "refused"])
                .inc();
            return Ok((format!("Refused: {refusal}"), None));
        }
    };
    audit(
        state,
        ticket.id,
        AuditEvent::ToolCalled,
        json!({"tool": parsed.name()}),
    )
    .await?;
    state
        .metrics
        .tool_calls
        .with_label_values(&[parsed.name(), "called"])
        .inc();
    let g = &agent.gitops;
    let out = match parsed {
        ToolCall::RepoList { prefix } => {
            tools::fence("repo_list", &g.list(&prefix).await?.join("\n"))
        }
        ToolCall::RepoRead { path } => match g.read(&path).await? {
            Some(text) => tools::fence("repo_read", &text),
            None => format!("{path} does not exist"),
        },
        ToolCall::RepoSearch { text } => {
            tools::fence("repo_search", &g.search(&text).await?.join("\n"))
        }
        call @ (ToolCall::KubeList { .. }
        | ToolCall::KubeLogs { .. }
        | ToolCall::ArgoApp { .. }) => {
            let name = call.name();
            let out = tools::read_cluster(agent.kube.as_ref(), agent.argo.as_deref(), &call)
                .await
                .unwrap_or_default();
            tools::fence(name, &out)
        }
        ToolCall::AskQuestion { question } => {
            ask(state, ticket, &question).await?;
            return Ok((
                "Asked; waiting for the answer.".into(),
                Some(Outcome::Asked),
            ));
        }
        ToolCall::ProposePlan {
            summary,
            steps,
            changes,
        } => return propose(state, agent, ticket, &summary, &steps, changes).await,
    };
    Ok((out, None))
}

async fn propose(
    state: &SharedState,
    agent: &Agent,
    ticket: &Ticket,
    summary: &str,
    steps: &[String],
    changes: Vec<crate::domain::plan::FileChange>,
) -> anyhow::Result<(String, Option<Outcome>)> {
    let plan = match agent.gitops.prepare(ticket, summary, steps, changes).await {
        Ok(plan) => plan,
        Err(PrepareError::Refused(v)) => {
            let rules: Vec<&str> = v.iter().map(|v| v.rule.name()).collect();
            let details = json!({"rules": rules, "violations": v.iter().map(ToString::to_string).collect::<Vec<_>>()});
            audit(state, ticket.id, AuditEvent::PlanRefused, details).await?;
            return Ok((PrepareError::Refused(v).to_string(), None));
        }
        Err(e @ (PrepareError::NoChanges | PrepareError::BadChange(_))) => {
            return Ok((e.to_string(), None));
        }
        Err(PrepareError::Git(e)) => return Err(e),
    };
    if let Err(e) = plan.validate() {
        return Ok((e.to_string(), None));
    }
    let mut tx = state.store.write().await?;
    let ticket = tx.propose_plan(ticket.id, &plan, &Actor::Aura).await?;
    if let Err(e) = approvals::request(state, &mut tx, &ticket, &Actor::Aura).await {
        return Err(anyhow::anyhow!("{e}"));
    }
    tx.commit().await?;
    state.wakers.wake_senders();
    Ok((
        "Proposed; waiting for approval.".into(),
        Some(Outcome::Proposed),
    ))
}

async fn ask(state: &SharedState, ticket: &Ticket, question: &str) -> anyhow::Result<()> {
    let mut tx = state.store.write().await?;
    tx.transition(
        ticket.id,
        Status::PendingInput,
        &Actor::Aura,
        Some("question asked"),
    )
    .await?;
    if let Some((to, place)) = approvals::ticket_place(state, &mut tx, ticket.id).await? {
        let text = RichText::new()
            .bold(format!("Question on {}: ", ticket.id))
            .text(question)
            .newline()
            .italic("Reply in this thread.");
        outbox::enqueue_message(&mut tx, &to, Some(ticket.id), &text, &place, Vec::new()).await?;
    }
    tx.commit().await?;
    state.wakers.wake_senders();
    Ok(())
}

async fn pause(state: &SharedState, ticket: &Ticket, reason: &str) -> anyhow::Result<()> {
    let mut tx = state.store.write().await?;
    tx.transition(ticket.id, Status::Paused, &Actor::Aura, Some(reason))
        .await?;
    if let Some((to, place)) = approvals::ticket_place(state, &mut tx, ticket.id).await? {
        let prefix = to.platform().command_prefix();
        let text = RichText::new()
            .bold(format!("{} paused", ticket.id))
            .text(format!(
                ": {reason} without reaching a plan. {prefix}resume {} [turns] continues.",
                ticket.id.0
            ));
        outbox::enqueue_message(&mut tx, &to, Some(ticket.id), &text, &place, Vec::new()).await?;
    }
    tx.commit().await?;
    state.wakers.wake_senders();
    Ok(())
}

async fn audit(
    state: &SharedState,
    ticket: TicketId,
    event: AuditEvent,
    details: Value,
) -> anyhow::Result<()> {
    let mut tx = state.store.write().await?;
    tx.audit(Some(ticket), &Actor::Aura, event, details).await?;
    tx.commit().await?;
    Ok(())
}
