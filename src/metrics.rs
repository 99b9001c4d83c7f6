//! Prometheus metrics: in-process counters, plus ticket figures read from the database at scrape time.

use std::fmt::Write as _;

use prometheus::{Encoder, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::storage::{Store, StoreError};

/// The process's metric registry and the counters other components bump.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by matched route, method and status code.
    pub http_requests: IntCounterVec,
    /// Inbound chat events by platform and kind.
    pub chat_events: IntCounterVec,
    /// Send attempts by platform and outcome (sent, rate_limited, retry, failed).
    pub chat_sends: IntCounterVec,
    /// Approval attempts by outcome (approved, rejected, or the refusal code).
    pub approvals: IntCounterVec,
    /// LLM tokens by kind (prompt, completion).
    pub llm_tokens: IntCounterVec,
    /// Agent tool calls by tool and outcome (called, refused).
    pub tool_calls: IntCounterVec,
    /// Estimated LLM cost in millionths of a dollar.
    pub llm_cost_micros: prometheus::IntCounter,
    /// Argo CD Application states the feed evaluated (watch events and re-checks).
    pub argo_observations: prometheus::IntCounter,
    /// Feed announcements by kind (incident, incident_changed, recovered, deployed, revert_proposed).
    pub argo_announcements: IntCounterVec,
    /// Monitoring agent runs by bot and outcome (posted, quiet, already_done, skipped, failed).
    pub bot_runs: IntCounterVec,
}

impl Metrics {
    /// Registers every in-process metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = counter(
            "aura_http_requests_total",
            "HTTP requests by route, method and status code",
            &["route", "method", "code"],
        );
        let chat_events = counter(
            "aura_chat_events_total",
            "Inbound chat events handled, by platform and kind",
            &["platform", "kind"],
        );
        let chat_sends = counter(
            "aura_chat_sends_total",
            "Chat send attempts by platform and outcome",
            &["platform", "outcome"],
        );
        let approvals = counter(
            "aura_approvals_total",
            "Approval attempts by outcome (approved, rejected, or the refusal reason)",
            &["outcome"],
        );
        let llm_tokens = counter(
            "aura_llm_tokens_total",
            "LLM tokens used, by kind",
            &["kind"],
        );
        let tool_calls = counter(
            "aura_tool_calls_total",
            "Agent tool calls by tool and outcome",
            &["tool", "outcome"],
        );
        let llm_cost_micros = prometheus::IntCounter::new(
            "aura_llm_cost_micros_total",
            "Estimated LLM cost in millionths of a US dollar",
        )
        .expect("static metric definition is valid");
        let argo_observations = prometheus::IntCounter::new(
            "aura_argo_observations_total",
            "Argo CD Application states evaluated by the health feed",
        )
        .expect("static metric definition is valid");
        let argo_announcements = counter(
            "aura_argo_announcements_total",
            "Argo CD feed announcements by kind",
            &["kind"],
        );
        let bot_runs = counter(
            "aura_bot_runs_total",
            "Monitoring agent runs by bot and outcome",
            &["bot", "outcome"],
        );
        let build_info = IntGaugeVec::new(
            Opts::new("aura_build_info", "Build information; always 1"),
            &["version"],
        )
        .expect("static metric definition is valid");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(chat_events.clone()),
            Box::new(chat_sends.clone()),
            Box::new(approvals.clone()),
            Box::new(llm_tokens.clone()),
            Box::new(tool_calls.clone()),
            Box::new(llm_cost_micros.clone()),
            Box::new(argo_observations.clone()),
            Box::new(argo_announcements.clone()),
            Box::new(build_info),
            Box::new(bot_runs.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Metrics {
            registry,
            http_requests,
            chat_events,
            chat_sends,
            approvals,
            llm_tokens,
            tool_calls,
            llm_cost_micros,
            argo_observations,
            argo_announcements,
            bot_runs,
        }
    }

    /// Every metric family Aura exports: the registered ones and those rendered from the database.
    pub fn exported_names() -> &'static [&'static str] {
        &[
            "aura_http_requests_total",
            "aura_chat_events_total",
            "aura_chat_sends_total",
            "aura_approvals_total",
            "aura_llm_tokens_total",
            "aura_tool_calls_total",
            "aura_llm_cost_micros_total",
            "aura_argo_observations_total",
            "aura_argo_announcements_total",
            "aura_build_info",
            "aura_tickets",
            "aura_tickets_created_total",
            "aura_ticket_transitions_total",
            "aura_bot_runs_total",
            "aura_investigations_total",
            "aura_investigation_tokens_total",
        ]
    }

    /// The Prometheus text exposition of every metric.
    pub async fn render(&self, store: &Store) -> Result<String, StoreError> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode metrics: {e}")))?;
        let mut text = String::from_utf8_lossy(&out).into_owned();
        let by_status = store.count_by_status().await?;
        let created: i64 = by_status.iter().map(|(_, n)| n).sum();
        family(
            &mut text,
            "aura_tickets",
            "gauge",
            "Tickets by current status",
        );
        for (status, n) in &by_status {
            let _ = writeln!(text, "aura_tickets{{status=\"{status}\"}} {n}");
        }
        family(
            &mut text,
            "aura_tickets_created_total",
            "counter",
            "Tickets ever created",
        );
        let _ = writeln!(text, "aura_tickets_created_total {created}");
        family(
            &mut text,
            "aura_ticket_transitions_total",
            "counter",
            "Audited status transitions by target status",
        );
        for (to, n) in store.transitions_by_status().await? {
            let _ = writeln!(text, "aura_ticket_transitions_total{{to=\"{to}\"}} {n}");
        }
        let (by_outcome, tokens) = store.investigation_figures().await?;
        family(
            &mut text,
            "aura_investigations_total",
            "counter",
            "Answered or refused @mention questions by outcome",
        );
        for (outcome, n) in by_outcome {
            let _ = writeln!(
                text,
                "aura_investigations_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        family(
            &mut text,
            "aura_investigation_tokens_total",
            "counter",
            "LLM tokens used answering @mention questions",
        );
        let _ = writeln!(text, "aura_investigation_tokens_total {tokens}");
        Ok(text)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition is valid")
}

fn family(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    #[tokio::test]
    async fn every_rendered_family_is_listed_as_exported_and_every_listed_one_is_rendered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let store = Store::connect(&url, 1, Clock::system())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let m = Metrics::new();
        // A labelled family is rendered only once it has a child.
        m.http_requests
            .with_label_values(&["/x", "GET", "200"])
            .inc();
        m.chat_events
            .with_label_values(&["telegram", "message"])
            .inc();
        m.chat_sends.with_label_values(&["telegram", "sent"]).inc();
        m.approvals.with_label_values(&["approved"]).inc();
        m.llm_tokens.with_label_values(&["prompt"]).inc();
        m.tool_calls
            .with_label_values(&["repo_read", "called"])
            .inc();
        m.argo_announcements.with_label_values(&["incident"]).inc();
        m.bot_runs.with_label_values(&["herald", "posted"]).inc();
        let text = m.render(&store).await.expect("render");
        store.close().await;
        let mut rendered: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        rendered.sort_unstable();
        let mut listed = Metrics::exported_names().to_vec();
        listed.sort_unstable();
        assert_eq!(rendered, listed);
    }
}
