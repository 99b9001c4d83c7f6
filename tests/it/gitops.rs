//! Approved plans executed the GitOps way, against real git (a bare repository) and the GitHub fake.

use std::time::Duration;

use aura::domain::{Status, TicketId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, spawn_app, timed};
use crate::gitops_world::{ALICE, BOB, OPS, World};

fn scale_to(n: u32) -> Value {
    json!([{"path": "apps/podinfo/values.yaml", "content": format!("image: ghcr.io/stefanprodan/podinfo:6.7.0\nreplicas: {n}\n")}])
}

async fn propose(app: &TestApp, changes: Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/tickets/1/plan"))
        .json(&json!({"summary": "Scale podinfo to 3", "steps": ["set replicas: 3"], "changes": changes}))
        .send()
        .await
        .expect("POST")
}

async fn open_ticket(w: &World) {
    w.peer
        .says(OPS, ALICE, 10, "/ticket scale podinfo to 3 replicas", None)
        .await;
    w.peer.wait_sent(OPS, 1).await;
}

async fn wait_status(app: &TestApp, want: Status) {
    app.wait_status(TicketId(1), want).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_plan_becomes_exactly_one_branch_and_one_pull_request() {
    timed(async {
        let w = World::new().await;
        let app = spawn_app(w.config()).await;
        open_ticket(&w).await;
        let resp = propose(&app, scale_to(3)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
        let approval = w.approve(BOB).await;
        let text = approval["text"].as_str().expect("text");
        assert!(
            text.contains("<pre>")
                && text.contains("+replicas: 3")
                && text.contains("-replicas: 1"),
            "the diff is shown: {text}"
        );

        wait_status(&app, Status::Observing).await;
        let diff = w.bare_git(&["diff", "main", "aura/ticket-1"]);
        assert!(diff.contains("-replicas: 1\n+replicas: 3"), "{diff}");
        assert_eq!(
            w.bare_git(&["diff", "--name-only", "main", "aura/ticket-1"])
                .trim(),
            "apps/podinfo/values.yaml"
        );
        assert_eq!(
            w.bare_git(&["rev-list", "--count", "main..aura/ticket-1"])
                .trim(),
            "1"
        );
        assert_eq!(
            w.bare_git(&["log", "-1", "--format=%an <%ae>", "aura/ticket-1"])
                .trim(),
            "Aura <aura@localhost>"
        );
        let pulls = w.github.pulls();
        assert_eq!(pulls.len(), 1);
        assert_eq!(pulls[0]["head"]["ref"], "aura/ticket-1");
        assert!(pulls[0]["body"].as_str().is_some_and(|b| b.contains("#1")));
        let opened = w.peer.wait_for_text(OPS, "Pull request #1 opened").await;
        assert_eq!(opened["reply_to_message_id"], 10, "in the ticket's thread");
        assert!(
            opened["text"]
                .as_str()
                .is_some_and(|t| t.contains("pull/1")),
            "{opened}"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_linter_stops_another_app_and_a_pvc_deletion_before_any_approval() {
    timed(async {
        let w = World::new().await;
        let app = spawn_app(w.config()).await;
        open_ticket(&w).await;
        let other_app = json!([{"path": "apps/payments/values.yaml", "content": "replicas: 0\n"}]);
        let resp = propose(&app, other_app).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let err: Value = resp.json().await.expect("json");
        assert!(
            err["error"].as_str().is_some_and(
                |e| e.contains("allowed-paths-only") && e.contains("apps/payments/values.yaml")
            ),
            "{err}"
        );

        let delete_pvc = json!([{"path": "apps/podinfo/pvc.yaml", "content": null}]);
        let resp = propose(&app, delete_pvc).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let err: Value = resp.json().await.expect("json");
        assert!(
            err["error"]
                .as_str()
                .is_some_and(|e| e.contains("no-pvc-deletion")),
            "{err}"
        );

        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            w.peer.sent(OPS).await.len(),
            1,
            "no approval request was ever posted"
        );
        let t = app.state.store.ticket(TicketId(1)).await.expect("ticket");
        assert_eq!((t.status, t.plan.is_none()), (Status::Draft, true));
        let refused = app
            .state
            .store
            .ticket_audit(TicketId(1))
            .await
            .expect("audit");
        assert_eq!(
            refused.iter().filter(|e| e.event == "plan_refused").count(),
            2
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_push_ends_with_one_branch_and_an_adopted_pull_request() {
    timed(async {
        let w = World::new().await;
        // The first create fails after the push (a GitHub outage), and a pull request for the branch already
        // exists (a run that crashed after opening it): the retry must neither push twice nor open a second one.
        w.github.fail_creates(1);
        w.github.open_existing("acme", "infra", "aura/ticket-1");
        let app = spawn_app(w.config()).await;
        open_ticket(&w).await;
        assert_eq!(propose(&app, scale_to(3)).await.status(), StatusCode::OK);
        w.approve(BOB).await;
        wait_status(&app, Status::Observing).await;
        assert_eq!(
            w.github.pulls().len(),
            1,
            "the existing pull request was adopted"
        );
        assert!(
            w.github.creates() >= 2,
            "the first attempt failed and was retried"
        );
        assert_eq!(
            w.bare_git(&["rev-list", "--count", "main..aura/ticket-1"])
                .trim(),
            "1",
            "one commit"
        );
        app.stop().await;
    })
    .await;
}

/// Ticket #1 executed: its pull request #1 is open and the ticket observing.
async fn executed(w: &World, app: &TestApp) {
    open_ticket(w).await;
    assert_eq!(propose(app, scale_to(3)).await.status(), StatusCode::OK);
    w.approve(BOB).await;
    wait_status(app, Status::Observing).await;
}

const MERGE: &str = "5f1c0ffee5f1c0ffee5f1c0ffee5f1c0ffee5f1c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_change_resolves_the_ticket_once_argo_cd_is_synced_at_the_merge_and_healthy() {
    timed(async {
        let w = World::new().await;
        w.kube.set(
            "podinfo",
            "Synced",
            "Healthy",
            "0ld0000000000000000000000000000000000000",
        );
        let app = spawn_app(w.config()).await;
        executed(&w, &app).await;
        w.github.merge(1, MERGE);
        // Argo CD has not picked the merge up yet: synced and Healthy, but at the old revision.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(
            app.state
                .store
                .ticket(TicketId(1))
                .await
                .expect("ticket")
                .status,
            Status::Observing
        );
        w.kube.set("podinfo", "OutOfSync", "Progressing", MERGE);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(
            app.state
                .store
                .ticket(TicketId(1))
                .await
                .expect("ticket")
                .status,
            Status::Observing
        );
        w.kube.set("podinfo", "Synced", "Healthy", MERGE);
        wait_status(&app, Status::Resolved).await;
        let done = w.peer.wait_for_text(OPS, "resolved").await;
        assert!(
            done["text"]
                .as_str()
                .is_some_and(|t| t.contains("podinfo Healthy at 5f1c0ffe")),
            "{done}"
        );
        assert_eq!(done["reply_to_message_id"], 10, "in the ticket's thread");
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_rollout_fails_the_ticket_naming_the_unhealthy_resources() {
    timed(async {
        let w = World::new().await;
        let app = spawn_app(w.config()).await;
        executed(&w, &app).await;
        w.github.merge(1, MERGE);
        w.kube.set("podinfo", "Synced", "Degraded", MERGE);
        wait_status(&app, Status::Failed).await;
        let failed = w.peer.wait_for_text(OPS, "failed").await;
        assert!(
            failed["text"]
                .as_str()
                .is_some_and(|t| t.contains("Deployment/podinfo: Degraded")
                    && t.contains("progress deadline")),
            "{failed}"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_that_moved_under_the_change_needs_a_new_approval() {
    timed(async {
        let w = World::new().await;
        let app = spawn_app(w.config()).await;
        open_ticket(&w).await;
        assert_eq!(propose(&app, scale_to(3)).await.status(), StatusCode::OK);
        // The same lines of the same file change on main before the approver presses the button.
        w.advance_main(
            "apps/podinfo/values.yaml",
            "image: ghcr.io/stefanprodan/podinfo:6.8.0\nreplicas: 1\n",
        );
        w.approve(BOB).await;
        let sent = w
            .peer
            .wait_until(OPS, "a second approval request", |s| {
                s.iter().filter(|m| !m["reply_markup"].is_null()).count() == 1
                    && s.iter().any(|m| {
                        m["text"]
                            .as_str()
                            .is_some_and(|t| t.contains("needs a new approval"))
                    })
            })
            .await;
        let again = sent
            .iter()
            .rfind(|m| !m["reply_markup"].is_null())
            .expect("new request");
        assert!(
            again["text"]
                .as_str()
                .is_some_and(|t| t.contains("-image: ghcr.io/stefanprodan/podinfo:6.8.0")),
            "the rebased diff is shown: {again}"
        );
        wait_status(&app, Status::PendingPlanApproval).await;
        assert_eq!(
            w.github.pulls().len(),
            0,
            "nothing was executed without the new approval"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_that_moved_in_another_app_is_built_on_without_asking_again() {
    timed(async {
        let w = World::new().await;
        let app = spawn_app(w.config()).await;
        open_ticket(&w).await;
        assert_eq!(propose(&app, scale_to(3)).await.status(), StatusCode::OK);
        w.advance_main("apps/payments/values.yaml", "replicas: 4\n");
        w.approve(BOB).await;
        wait_status(&app, Status::Observing).await;
        assert_eq!(
            w.bare_git(&["rev-parse", "aura/ticket-1^"]).trim(),
            w.bare_git(&["rev-parse", "main"]).trim(),
            "built on the new head"
        );
        assert!(
            w.bare_git(&["diff", "main", "aura/ticket-1"])
                .contains("-replicas: 1\n+replicas: 3")
        );
        app.stop().await;
    })
    .await;
}
