//! The Argo CD health feed against the Kubernetes fake's watch, with the Telegram emulator as the channel and a
//! clock moved by hand (nothing sleeps to let time pass).

use std::time::Duration;

use aura::clock::Clock;
use aura::config::Config;
use aura::domain::{Status, TicketId};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::common::{TestApp, TestDb, on_both_backends, spawn_app_with_clock, test_config};
use crate::gitops_world::{OPS, World};
use crate::kube_fake::KubeFake;
use crate::telegram_peer::{TOKEN, TelegramPeer};

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn feed_config(db: &TestDb, peer: &TelegramPeer, kube: &KubeFake) -> Config {
    let mut c = test_config(db);
    c.telegram.token = Some(TOKEN.to_owned().into());
    c.telegram.api_url = peer.url.clone();
    c.telegram.poll_timeout_secs = 1;
    c.kubernetes.api_url = Some(kube.url.clone());
    c.channels
        .insert("ops".into(), vec![format!("telegram:{}", OPS.id)]);
    c.argocd.feed = vec!["ops".into()];
    c
}

/// Waits until the feed's stored record of `app` satisfies `check`.
async fn wait_record(
    app: &TestApp,
    name: &str,
    what: &str,
    check: impl Fn(&aura::domain::feed::Record) -> bool,
) {
    for _ in 0..300 {
        let records = app.state.store.argo_records().await.expect("records");
        if records.iter().any(|(n, r)| n == name && check(r)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{name} never reached: {what}; {:?}",
        app.state.store.argo_records().await
    );
}

/// Waits until the feed evaluated at least `n` observations since this app started.
async fn wait_observations(app: &TestApp, n: u64) {
    for _ in 0..300 {
        if app.state.metrics.argo_observations.get() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the feed observed nothing");
}

/// Waits until `check` holds for the messages in `chat`, moving the clock a second per look: the outbox paces
/// a group chat by the clock (one message per 3 s), and this clock only moves by hand.
async fn wait_paced(
    peer: &TelegramPeer,
    clock: &Clock,
    what: &str,
    check: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    for _ in 0..300 {
        let sent = texts(&peer.sent(OPS).await);
        if check(&sent) {
            return sent;
        }
        clock.advance(chrono::Duration::seconds(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "timed out waiting for {what}: {:?}",
        texts(&peer.sent(OPS).await)
    );
}

fn has(sent: &[String], needle: &str) -> bool {
    sent.iter().any(|t| t.contains(needle))
}

fn texts(sent: &[Value]) -> Vec<String> {
    sent.iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

on_both_backends! {
    async fn a_flap_posts_nothing_an_incident_is_one_edited_message_and_a_restart_repeats_nothing(db: TestDb) {
        let peer = TelegramPeer::start().await;
        let kube = KubeFake::start().await;
        let clock = Clock::manual(start_time());
        kube.set("payments", "Synced", "Healthy", "a1b2c3d4e5f6");
        let app = spawn_app_with_clock(feed_config(db, &peer, &kube), clock.clone()).await;
        kube.wait_for_watch().await;
        wait_record(&app, "payments", "known Healthy", |r| r.health == "Healthy").await;

        // A flap: Degraded for 10 s, then Healthy. Nothing is announced.
        kube.set("payments", "Synced", "Degraded", "a1b2c3d4e5f6");
        wait_record(&app, "payments", "pending", |r| r.pending_since.is_some()).await;
        clock.advance(chrono::Duration::seconds(10));
        let seen = app.state.metrics.argo_observations.get();
        wait_observations(&app, seen + 2).await;
        kube.set("payments", "Synced", "Healthy", "a1b2c3d4e5f6");
        wait_record(&app, "payments", "flap forgotten", |r| {
            r.health == "Healthy" && r.pending_since.is_none()
        })
        .await;

        // A real incident: Degraded past the 30 s filter → one message.
        kube.set_with_message("payments", "Degraded", "a1b2c3d4e5f6", "Back-off restarting failed container payments");
        wait_record(&app, "payments", "pending", |r| r.pending_since.is_some()).await;
        clock.advance(chrono::Duration::seconds(31));
        let incident = peer.wait_for_text(OPS, "payments is Degraded").await;
        let text = incident["text"].as_str().expect("text");
        assert!(
            text.contains("a1b2c3d4") && text.contains("Back-off restarting failed container") && text.contains("sync Synced"),
            "the message says what changed: {text}"
        );

        // It evolves: the message is edited in place, no new message.
        kube.set_with_message("payments", "Degraded", "a1b2c3d4e5f6", "OOMKilled: container payments exceeded its memory limit");
        wait_paced(&peer, &clock, "the incident message edited", |s| has(s, "OOMKilled")).await;
        assert_eq!(peer.sent(OPS).await.len(), 1, "{:?}", texts(&peer.sent(OPS).await));

        // A restart in the middle of the incident announces nothing again.
        app.stop().await;
        let edits = peer.calls("editMessageText").await.len();
        let app = spawn_app_with_clock(feed_config(db, &peer, &kube), clock.clone()).await;
        kube.wait_for_watch().await;
        wait_observations(&app, 1).await;
        clock.advance(chrono::Duration::seconds(60));
        // The same state once more (a resync): still nothing new.
        kube.set_with_message(
            "payments",
            "Degraded",
            "a1b2c3d4e5f6",
            "OOMKilled: container payments exceeded its memory limit",
        );
        wait_observations(&app, 2).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(peer.sent(OPS).await.len(), 1, "{:?}", texts(&peer.sent(OPS).await));
        assert_eq!(peer.calls("editMessageText").await.len(), edits);

        // Recovery closes it: the incident message says so, and one recovery message says for how long.
        clock.advance(chrono::Duration::minutes(11));
        kube.set("payments", "Synced", "Healthy", "a1b2c3d4e5f6");
        let sent = wait_paced(&peer, &clock, "the recovery", |s| {
            has(s, "payments Healthy again") && has(s, "payments recovered")
        })
        .await;
        assert_eq!(sent.len(), 2, "incident + recovery: {sent:?}");
        assert!(has(&sent, "Healthy again</b> after 12 min"), "{sent:?}");
        let incidents = app.state.store.argo_incidents("payments").await.expect("incidents");
        assert_eq!(incidents.len(), 1);
        assert!(incidents[0].closed_at.is_some());
        app.stop().await;
    }
}

on_both_backends! {
    async fn a_new_revision_is_announced_deployed_once_when_synced_and_healthy(db: TestDb) {
        let peer = TelegramPeer::start().await;
        let kube = KubeFake::start().await;
        let clock = Clock::manual(start_time());
        kube.set("search", "Synced", "Healthy", "1111111111aa");
        let app = spawn_app_with_clock(feed_config(db, &peer, &kube), clock.clone()).await;
        kube.wait_for_watch().await;
        wait_record(&app, "search", "known", |r| r.health == "Healthy").await;
        kube.set("search", "OutOfSync", "Healthy", "1111111111aa");
        kube.set("search", "Synced", "Progressing", "2222222222bb");
        kube.set("search", "Synced", "Healthy", "2222222222bb");
        let deployed = peer.wait_for_text(OPS, "search deployed").await;
        let text = deployed["text"].as_str().expect("text");
        assert!(text.contains("22222222") && text.contains("was 11111111"), "{text}");
        // Another event at the same revision, and a restart: still one announcement.
        kube.set("search", "Synced", "Healthy", "2222222222bb");
        app.stop().await;
        let app = spawn_app_with_clock(feed_config(db, &peer, &kube), clock.clone()).await;
        kube.wait_for_watch().await;
        wait_observations(&app, 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(peer.sent(OPS).await.len(), 1, "{:?}", texts(&peer.sent(OPS).await));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_right_after_a_sync_proposes_reverting_that_commit_for_approval() {
    crate::common::timed(async {
        let w = World::new().await;
        let clock = Clock::manual(start_time());
        let good = w.bare_git(&["rev-parse", "main"]).trim().to_owned();
        w.advance_main("apps/payments/values.yaml", "replicas: 0\n");
        let bad = w.bare_git(&["rev-parse", "main"]).trim().to_owned();
        w.kube.set("payments", "Synced", "Healthy", &good);
        let mut config = w.config();
        config
            .channels
            .insert("ops".into(), vec![format!("telegram:{}", OPS.id)]);
        config
            .channels
            .insert("approvals".into(), vec![format!("telegram:{}", OPS.id)]);
        config.argocd.feed = vec!["ops".into()];
        let app = spawn_app_with_clock(config, clock.clone()).await;
        w.kube.wait_for_watch().await;
        wait_record(&app, "payments", "known", |r| r.health == "Healthy").await;

        w.kube.set("payments", "Synced", "Progressing", &bad);
        clock.advance(chrono::Duration::seconds(40));
        w.kube.set("payments", "Synced", "Degraded", &bad);
        wait_record(&app, "payments", "pending", |r| r.pending_since.is_some()).await;
        clock.advance(chrono::Duration::seconds(31));
        let sent = wait_paced(&w.peer, &clock, "the incident", |s| {
            has(s, "payments is Degraded")
        })
        .await;
        assert!(
            has(&sent, "Ticket 1 proposes reverting") && has(&sent, "someone else"),
            "the incident names the revert ticket and the commit: {sent:?}"
        );
        app.wait_status(TicketId(1), Status::PendingPlanApproval)
            .await;
        let ticket = app.state.store.ticket(TicketId(1)).await.expect("ticket");
        let plan = ticket.plan.expect("plan");
        let diff = plan.diff.expect("diff");
        assert!(diff.contains("-replicas: 0\n+replicas: 2"), "{diff}");
        // Offered for approval like any plan; nothing was merged or pushed.
        let request = w
            .peer
            .wait_until(OPS, "the approval request", |s| {
                s.iter().any(|m| !m["reply_markup"].is_null())
            })
            .await;
        assert!(texts(&request).iter().any(|t| t.contains("Revert")));
        assert!(w.github.pulls().is_empty());
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_application_closes_its_incident_and_is_forgotten() {
    crate::common::timed(async {
        let db = TestDb::new(crate::common::Backend::Sqlite)
            .await
            .expect("sqlite");
        let peer = TelegramPeer::start().await;
        let kube = KubeFake::start().await;
        let clock = Clock::manual(start_time());
        kube.set("legacy", "Synced", "Degraded", "3333333333cc");
        let app = spawn_app_with_clock(feed_config(&db, &peer, &kube), clock.clone()).await;
        kube.wait_for_watch().await;
        wait_record(&app, "legacy", "pending", |r| r.pending_since.is_some()).await;
        clock.advance(chrono::Duration::seconds(31));
        wait_paced(&peer, &clock, "the incident", |s| {
            has(s, "legacy is Degraded")
        })
        .await;

        kube.delete_app("legacy");
        let sent = wait_paced(&peer, &clock, "the incident closed", |s| {
            has(s, "legacy was deleted")
        })
        .await;
        assert_eq!(sent.len(), 1, "closed in place, nothing new: {sent:?}");
        for _ in 0..100 {
            if app
                .state
                .store
                .argo_records()
                .await
                .expect("records")
                .is_empty()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            app.state
                .store
                .argo_records()
                .await
                .expect("records")
                .is_empty()
        );
        let incidents = app
            .state
            .store
            .argo_incidents("legacy")
            .await
            .expect("incidents");
        assert!(incidents[0].closed_at.is_some(), "{incidents:?}");
        app.stop().await;
    })
    .await;
}
