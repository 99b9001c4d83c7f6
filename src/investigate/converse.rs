//! The LLM part of an answer: the findings and the question go to the model with the read-only tools of
//! `Mode::Investigating`, within a turn and token budget. Every request is masked; every tool call is audited.

use serde_json::{Value, json};

use super::Investigator;
use crate::agent::Prompts;
use crate::domain::{Actor, AuditEvent};
use crate::llm::Llm;
use crate::state::SharedState;
use crate::storage::Investigation;
use crate::tools::{self, Mode, ToolCall};

/// How the model part ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The model's answer (masked).
    Answer(String),
    /// No answer within the turns or tokens.
    OverBudget,
    /// The endpoint failed.
    Failed(String),
}

/// Asks the model; returns how it ended and the tokens used.
pub async fn converse(
    state: &SharedState,
    inv: &Investigator,
    llm: &Llm,
    prompts: &Prompts,
    q: &Investigation,
    findings: &str,
    mut seen: Vec<String>,
) -> (Reply, i64) {
    let cfg = &state.config.investigate;
    let tool_names = tools::allowed(Mode::Investigating).join(", ");
    let system = prompts.render(
        "investigate.md",
        &[
            ("question", &tools::fence("chat", &q.question)),
            ("findings", &tools::fence("analyzers", findings)),
            ("tools", &tool_names),
            ("max_turns", &cfg.max_turns.to_string()),
        ],
    );
    let mut messages = vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": "Answer the question above: cause, evidence, next step."}),
    ];
    let mut tokens = 0;
    for turn in 1..=cfg.max_turns {
        if tokens >= cfg.max_tokens {
            return (Reply::OverBudget, tokens);
        }
        let last = turn == cfg.max_turns;
        let mut sent = messages.clone();
        if last {
            sent.push(json!({"role": "system", "content": "This is your last turn: answer now with what you have."}));
        }
        let mut request = json!({
            "model": llm.config().model_for("standard"),
            "messages": sent,
            "tools": tools::schemas(Mode::Investigating),
            "tool_choice": if last { "none" } else { "auto" },
            "stream": false,
        });
        inv.redactor.redact_json(&mut request);
        let (reply, usage) = match llm.chat(&state.metrics, request).await {
            Ok(r) => r,
            Err(e) => return (Reply::Failed(format!("{e:#}")), tokens),
        };
        tokens += usage.total();
        let message = reply["choices"][0]["message"].clone();
        let calls = message["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if calls.is_empty() {
            let text = message["content"].as_str().unwrap_or_default().trim();
            if text.is_empty() {
                return (Reply::OverBudget, tokens);
            }
            seen.extend(inv.redactor.learned(text));
            let answer = inv.redactor.redact_with(text, &seen).into_owned();
            return (Reply::Answer(answer), tokens);
        }
        messages.push(message);
        for call in calls {
            let result = run_tool(state, inv, q, &call, &mut seen).await;
            messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": result}));
        }
    }
    (Reply::OverBudget, tokens)
}

/// Runs one call if the mode allows it, audited either way; returns what the model sees (fenced, masked).
async fn run_tool(
    state: &SharedState,
    inv: &Investigator,
    q: &Investigation,
    call: &Value,
    seen: &mut Vec<String>,
) -> String {
    let name = call["function"]["name"].as_str().unwrap_or_default();
    let args = call["function"]["arguments"].as_str().unwrap_or("{}");
    let parsed = match ToolCall::parse(Mode::Investigating, name, args) {
        Ok(c) => c,
        Err(refusal) => {
            let details = json!({"investigation": q.id, "tool": name.chars().take(64).collect::<String>(), "reason": refusal.to_string()});
            audit(state, inv, AuditEvent::ToolRefused, details).await;
            state
                .metrics
                .tool_calls
                .with_label_values(&[tools::label(name), "refused"])
                .inc();
            return format!("Refused: {refusal}");
        }
    };
    audit(
        state,
        inv,
        AuditEvent::ToolCalled,
        json!({"investigation": q.id, "tool": parsed.name()}),
    )
    .await;
    state
        .metrics
        .tool_calls
        .with_label_values(&[parsed.name(), "called"])
        .inc();
    let name = parsed.name();
    let out = read(state, parsed).await;
    seen.extend(inv.redactor.learned(&out));
    tools::fence(name, &inv.redactor.redact_with(&out, seen))
}

async fn read(state: &SharedState, call: ToolCall) -> String {
    // Parsing in Mode::Investigating never yields another tool; refuse rather than trust that here too.
    tools::read_cluster(state.kube.as_ref(), state.argo.as_deref(), &call)
        .await
        .unwrap_or_else(|| format!("Refused: '{}' is not allowed in this mode", call.name()))
}

/// Writes one audit row (masked); a failure is logged, not fatal to the answer.
async fn audit(state: &SharedState, inv: &Investigator, event: AuditEvent, mut details: Value) {
    inv.redactor.redact_json(&mut details);
    let result = async {
        let mut tx = state.store.write().await?;
        tx.audit(None, &Actor::Aura, event, details).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot audit a tool call");
    }
}
