//! The planning agent end to end: Telegram, the scripted LLM, real git and the GitHub fake.

use std::time::Duration;

use aura::domain::{Status, TicketId};
use serde_json::{Value, json};

use crate::common::{TestApp, spawn_app, timed};
use crate::gitops_world::{ALICE, BOB, OPS, World};
use crate::llm_fake::{LlmFake, tool_call};

async fn wait_status(app: &TestApp, want: Status) {
    app.wait_status(TicketId(1), want).await;
}

fn scale_plan(app: &str, n: u32) -> Value {
    tool_call(
        "propose_plan",
        json!({"summary": format!("Scale {app} to {n}"), "steps": [format!("set replicas: {n} in apps/{app}/values.yaml")],
               "changes": [{"path": format!("apps/{app}/values.yaml"), "content": format!("image: ghcr.io/stefanprodan/podinfo:6.7.0\nreplicas: {n}\n")}]}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_ticket_is_planned_approved_opened_as_one_pull_request_and_resolved_when_healthy() {
    timed(async {
        let llm = LlmFake::start(vec![
            tool_call("repo_read", json!({"path": "apps/podinfo/values.yaml"})),
            scale_plan("podinfo", 3),
        ])
        .await;
        let w = World::new().await;
        let mut config = w.config();
        config.llm.base_url = Some(llm.base_url.clone());
        let app = spawn_app(config).await;
        w.peer
            .says(OPS, ALICE, 10, "/ticket scale podinfo to 3 replicas", None)
            .await;
        let approval = w.approve(BOB).await;
        assert!(
            approval["text"]
                .as_str()
                .is_some_and(|t| t.contains("+replicas: 3")),
            "{approval}"
        );
        wait_status(&app, Status::Observing).await;
        assert!(
            w.bare_git(&["diff", "main", "aura/ticket-1"])
                .contains("-replicas: 1\n+replicas: 3")
        );
        assert_eq!(w.github.pulls().len(), 1);

        let requests = llm.requests();
        assert_eq!(requests.len(), 2);
        let tool_result = requests[1]["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .rfind(|m| m["role"] == "tool")
            .expect("tool message");
        let content = tool_result["content"].as_str().expect("content");
        assert!(
            content.starts_with("<untrusted-data tool=\"repo_read\">")
                && content.contains("replicas: 1"),
            "{content}"
        );
        let t = app.state.store.ticket(TicketId(1)).await.expect("ticket");
        assert_eq!(
            (t.turns, t.tokens_used),
            (2, 300),
            "usage is recorded per ticket"
        );
        let metrics = app
            .http
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains("aura_llm_tokens_total{kind=\"prompt\"} 240")
                && metrics.contains("aura_llm_cost_micros_total 72"),
            "{metrics}"
        );

        // The pull request is merged and Argo CD rolls it out: the ticket resolves in its thread.
        let merge = "9e1d0ffee9e1d0ffee9e1d0ffee9e1d0ffee9e1d";
        w.github.merge(1, merge);
        w.kube.set("podinfo", "Synced", "Healthy", merge);
        wait_status(&app, Status::Resolved).await;
        let resolved = w.peer.wait_for_text(OPS, "#1 resolved").await;
        assert_eq!(
            resolved["reply_to_message_id"], 10,
            "in the ticket's thread"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repo_file_telling_the_agent_to_change_another_app_is_stopped_by_the_linter() {
    timed(async {
        // The model "obeys" the injected instruction in the README and proposes a change to payments.
        let llm = LlmFake::start(vec![
            tool_call("repo_read", json!({"path": "apps/podinfo/README.md"})),
            scale_plan("payments", 0),
            tool_call(
                "ask_question",
                json!({"question": "Which replica count do you want for podinfo?"}),
            ),
        ])
        .await;
        let w = World::new().await;
        let mut config = w.config();
        config.llm.base_url = Some(llm.base_url.clone());
        let app = spawn_app(config).await;
        w.peer
            .says(OPS, ALICE, 10, "/ticket scale podinfo to 3 replicas", None)
            .await;
        wait_status(&app, Status::PendingInput).await;
        w.peer.wait_for_text(OPS, "Which replica count").await;
        assert!(
            w.peer
                .sent(OPS)
                .await
                .iter()
                .all(|m| m["reply_markup"].is_null()),
            "no plan was offered for approval"
        );
        let audit = app
            .state
            .store
            .ticket_audit(TicketId(1))
            .await
            .expect("audit");
        let refused = audit
            .iter()
            .find(|e| e.event == "plan_refused")
            .expect("refused");
        assert!(
            refused.details.contains("allowed-paths-only"),
            "{}",
            refused.details
        );
        let requests = llm.requests();
        let after_refusal = requests[2]["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .rfind(|m| m["role"] == "tool")
            .expect("tool");
        assert!(
            after_refusal["content"]
                .as_str()
                .is_some_and(|c| c.contains("refused by the data-protection linter"))
        );
        assert_eq!(w.github.pulls().len(), 0);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_converging_model_pauses_at_max_turns_and_the_budget_survives_a_restart() {
    timed(async {
        let llm = LlmFake::start(vec![tool_call("repo_list", json!({"prefix": "apps/"}))]).await;
        let w = World::new().await;
        let mut config = w.config();
        config.llm.base_url = Some(llm.base_url.clone());
        config.llm.max_turns = 3;
        let app = spawn_app(config.clone()).await;
        w.peer
            .says(OPS, ALICE, 10, "/ticket scale podinfo to 3 replicas", None)
            .await;
        wait_status(&app, Status::Paused).await;
        let paused = w.peer.wait_for_text(OPS, "paused").await;
        assert!(
            paused["text"]
                .as_str()
                .is_some_and(|t| t.contains("/resume 1")),
            "{paused}"
        );
        assert_eq!(llm.requests().len(), 3);
        let last = llm.requests()[2]["messages"].to_string();
        assert!(
            last.contains("This is your last turn"),
            "the last turn asks for a report"
        );
        app.stop().await;

        let app = spawn_app(config).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let t = app.state.store.ticket(TicketId(1)).await.expect("ticket");
        assert_eq!(
            (t.status, t.turns, t.max_turns),
            (Status::Paused, 3, 3),
            "the budget survived the restart"
        );
        assert_eq!(llm.requests().len(), 3, "no turn beyond the budget");

        w.peer.says(OPS, ALICE, 11, "/resume 1 2", None).await;
        for _ in 0..100 {
            let t = app.state.store.ticket(TicketId(1)).await.expect("ticket");
            if t.status == Status::Paused && t.turns == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let t = app.state.store.ticket(TicketId(1)).await.expect("ticket");
        assert_eq!((t.status, t.turns, t.max_turns), (Status::Paused, 5, 5));
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planner_reads_the_cluster_read_only_and_a_write_tool_is_refused() {
    timed(async {
        let llm = LlmFake::start(vec![
            tool_call("kube_list", json!({"kind": "pods", "namespace": "podinfo"})),
            tool_call(
                "kube_logs",
                json!({"namespace": "podinfo", "pod": "podinfo-7d9c8b5f6-x2v9q", "previous": true}),
            ),
            tool_call("argo_app", json!({"name": "podinfo"})),
            tool_call(
                "kube_delete",
                json!({"kind": "namespace", "name": "podinfo"}),
            ),
            tool_call(
                "kube_list",
                json!({"kind": "secrets", "namespace": "podinfo"}),
            ),
            tool_call(
                "ask_question",
                json!({"question": "The pod crashes on a port clash; may I change the port?"}),
            ),
        ])
        .await;
        let w = World::new().await;
        w.kube.set(
            "podinfo",
            "Synced",
            "Degraded",
            "0ld0000000000000000000000000000000000000",
        );
        let mut config = w.config();
        config.llm.base_url = Some(llm.base_url.clone());
        let app = spawn_app(config).await;
        w.peer
            .says(OPS, ALICE, 10, "/ticket podinfo keeps crashing", None)
            .await;
        wait_status(&app, Status::PendingInput).await;

        let requests = llm.requests();
        let tool_results: Vec<String> = requests.last().expect("requests")["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
            .collect();
        let all = tool_results.join("\n");
        assert!(
            all.contains("CrashLoopBackOff") && all.contains("\"restartCount\": 7"),
            "pods were read: {all}"
        );
        assert!(
            all.contains("FATAL cannot bind :9898"),
            "the previous container's log was read"
        );
        assert!(
            all.contains("health: Degraded"),
            "the Argo CD application was read"
        );
        assert!(
            all.contains("Refused: there is no tool named 'kube_delete'"),
            "{all}"
        );
        assert!(
            all.contains("bad arguments for kube_list"),
            "secrets are not a kind: {all}"
        );
        assert!(
            !all.contains("canary-s3cret-value"),
            "env values never reach the model"
        );
        assert!(!all.contains("managedFields"));
        let audit = app
            .state
            .store
            .ticket_audit(TicketId(1))
            .await
            .expect("audit");
        let refused: Vec<_> = audit.iter().filter(|e| e.event == "tool_refused").collect();
        assert_eq!(refused.len(), 2, "both refusals are audited");
        app.stop().await;
    })
    .await;
}
