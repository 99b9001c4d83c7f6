//! Discord approvals through the fake: message-component buttons under the approval policy.

use std::time::Duration;

use aura::domain::Status;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Backend, TestApp, TestDb, spawn_app, timed};
use crate::discord::{assert_no_mentions, audit_events, discord_config, setup, status};
use crate::discord_fake::{ALICE, BOB, DiscordFake, MALLORY, Msg, OPS, OTHER};

/// Opens ticket #1 as Alice in #ops and proposes a plan through the API; returns the thread and the approval message.
async fn pending_approval(app: &TestApp, fake: &DiscordFake) -> (u64, Msg) {
    let thread = fake.says(OPS, ALICE, "/ticket scale podinfo to 3 replicas");
    fake.wait_messages(thread, "the ticket reply", |m| !m.is_empty())
        .await;
    let plan = json!({"summary": "Scale podinfo to 3", "steps": ["set replicas: 3 in apps/podinfo/values.yaml"]});
    let resp = app
        .http
        .post(app.url("/api/tickets/1/plan"))
        .json(&plan)
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    let msgs = fake
        .wait_messages(thread, "the approval message", |m| {
            m.iter().any(|m| m.components != json!([]))
        })
        .await;
    (
        thread,
        msgs.into_iter()
            .find(|m| m.components != json!([]))
            .expect("approval"),
    )
}

fn nonces(approval: &Msg) -> (String, String) {
    let row = &approval.components[0];
    assert_eq!(row["type"], 1, "an action row");
    let button = |i: usize| {
        assert_eq!(
            row["components"][i]["style"],
            [3, 4][i],
            "success, then danger"
        );
        row["components"][i]["custom_id"]
            .as_str()
            .expect("custom_id")
            .to_owned()
    };
    (button(0), button(1))
}

async fn refusals(app: &TestApp) -> Vec<String> {
    audit_events(app, 1)
        .await
        .into_iter()
        .filter(|e| e["event"] == "approval_refused")
        .map(|e| {
            e["details"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_approver_other_than_the_requester_in_the_origin_channel_can_approve() {
    timed(async {
        let (_db, fake, app) = setup().await;
        let (thread, approval) = pending_approval(&app, &fake).await;
        assert!(
            approval.content.contains("Plan for #1")
                && approval.content.contains("set replicas: 3"),
            "{}",
            approval.content
        );
        let (approve, reject) = nonces(&approval);
        assert_eq!(approve.len(), 32, "a 128-bit nonce and nothing else");
        let cases = [
            (
                thread,
                MALLORY,
                approve.clone(),
                "Refused: you are not an approver.",
            ),
            (
                thread,
                ALICE,
                approve.clone(),
                "Refused: you requested this ticket; another approver must decide.",
            ),
            (
                OTHER,
                BOB,
                approve.clone(),
                "Refused: this approval belongs to another conversation.",
            ),
            (
                thread,
                BOB,
                "f".repeat(32),
                "This button is not valid (unknown or forged).",
            ),
        ];
        for (channel, who, nonce, expected) in cases {
            let click = fake.click(channel, who, approval.id, &nonce);
            assert_eq!(fake.ephemeral_answer(click).await, expected);
            let (kind, delay) = fake.state().interactions[&click].ack.expect("acknowledged");
            assert!(
                kind == 6 && delay < Duration::from_secs(3),
                "type {kind} after {delay:?}"
            );
            assert_eq!(
                status(&app).await,
                Status::PendingPlanApproval,
                "{expected}"
            );
        }
        assert_eq!(
            refusals(&app).await,
            ["not_approver", "own_ticket", "wrong_conversation"]
        );

        let click = fake.click(thread, BOB, approval.id, &approve);
        assert_eq!(
            fake.ephemeral_answer(click).await,
            "Approved: #1 is executing."
        );
        assert_eq!(status(&app).await, Status::Executing);
        let edited = fake
            .wait_for("the decision edit", |f| {
                f.messages
                    .get(&approval.id)
                    .filter(|m| m.edits > 0)
                    .cloned()
            })
            .await;
        assert_eq!(edited.components, json!([]), "the buttons are gone");
        assert!(
            edited.content.contains("Approved by") && edited.content.contains("discord:1002"),
            "{}",
            edited.content
        );

        let click = fake.click(thread, BOB, approval.id, &reject);
        assert_eq!(
            fake.ephemeral_answer(click).await,
            "Refused: this approval was already decided (approved)."
        );
        assert_eq!(status(&app).await, Status::Executing);
        let decided = audit_events(&app, 1)
            .await
            .into_iter()
            .filter(|e| e["event"] == "approval_decided")
            .count();
        assert_eq!(decided, 1);
        assert_no_mentions(&fake);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_approval_is_refused_and_the_text_fallback_follows_the_same_policy() {
    timed(async {
        let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
        let fake = DiscordFake::start().await;
        let mut config = discord_config(&db, &fake);
        config.approvals.ttl = "3s".into();
        let app = spawn_app(config).await;
        fake.wait_ready().await;
        let (thread, approval) = pending_approval(&app, &fake).await;
        let (approve, _) = nonces(&approval);
        let before = fake.state().bot_messages(thread).len();
        let cmd = fake.says(thread, MALLORY, "/approve 1");
        let msgs = fake
            .wait_messages(thread, "the refusal", |m| m.len() > before)
            .await;
        assert_eq!(msgs[before].content, "Refused: you are not an approver.");
        assert_eq!(msgs[before].reply_to, Some(cmd));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let click = fake.click(thread, BOB, approval.id, &approve);
        assert_eq!(
            fake.ephemeral_answer(click).await,
            "Refused: this approval expired; propose the plan again for a new one."
        );
        assert_eq!(status(&app).await, Status::PendingPlanApproval);
        assert_eq!(refusals(&app).await, ["not_approver", "expired"]);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_character_plan_arrives_in_parts_with_the_buttons_on_the_last() {
    timed(async {
        let (_db, fake, app) = setup().await;
        let thread = fake.says(OPS, ALICE, "/ticket bump every replica");
        fake.wait_messages(thread, "the ticket reply", |m| !m.is_empty())
            .await;
        let diff: String = (0..250)
            .map(|i| format!("+  replicas_{i:03}: {}\n", "x".repeat(26)))
            .collect();
        let plan = json!({"summary": "Bump", "steps": ["bump"], "diff": diff});
        let resp = app
            .http
            .post(app.url("/api/tickets/1/plan"))
            .json(&plan)
            .send()
            .await
            .expect("POST");
        assert_eq!(resp.status(), StatusCode::OK);
        let msgs = fake
            .wait_messages(thread, "every part", |m| {
                m.iter().any(|m| m.components != json!([]))
            })
            .await;
        let parts = &msgs[1..];
        assert!(parts.len() >= 6, "{} parts", parts.len());
        let (last, rest) = parts.split_last().expect("parts");
        assert_ne!(
            last.components,
            json!([]),
            "the buttons ride on the last part"
        );
        assert!(rest.iter().all(|m| m.components == json!([])));
        let mut joined = String::new();
        for p in parts {
            assert!(p.content.encode_utf16().count() <= 2000);
            assert_eq!(
                p.content.matches("```").count() % 2,
                0,
                "code blocks closed per part"
            );
            joined.push_str(&p.content);
        }
        for i in [0, 124, 249] {
            assert!(
                joined.contains(&format!("replicas_{i:03}")),
                "line {i} arrived"
            );
        }
        assert_no_mentions(&fake);
        app.stop().await;
    })
    .await;
}
