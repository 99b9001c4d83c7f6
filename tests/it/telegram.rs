//! Telegram end to end through the Bot API emulator, as users see it.

use std::time::Duration;

use aura::config::Config;
use aura::domain::{Status, TicketId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, TestDb, spawn_app, test_config, timed};
use crate::telegram_peer::{BOT, Chat, TOKEN, TelegramPeer, User};

const OPS: Chat = Chat {
    id: -100500,
    group: true,
};
const OTHER: Chat = Chat {
    id: -100600,
    group: true,
};
const ALICE: User = User {
    id: 1001,
    name: "Alice",
};
const BOB: User = User {
    id: 1002,
    name: "Bob",
};
const MALLORY: User = User {
    id: 1003,
    name: "Mallory",
};

fn telegram_config(db: &TestDb, peer: &TelegramPeer) -> Config {
    let mut c = test_config(db);
    c.telegram.token = Some(TOKEN.to_owned().into());
    c.telegram.api_url = peer.url.clone();
    c.telegram.poll_timeout_secs = 1;
    // Alice requests; Alice and Bob approve (four eyes: Alice cannot approve her own ticket).
    c.approvals.approvers = vec![ALICE.address(), BOB.address()];
    c
}

async fn setup() -> (TestDb, TelegramPeer) {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    (db, TelegramPeer::start().await)
}

async fn ticket_count(app: &TestApp) -> usize {
    let list: Value = app.get_json("/api/tickets").await;
    list["tickets"].as_array().map_or(0, Vec::len)
}

async fn audit_events(app: &TestApp, id: i64) -> Vec<Value> {
    let audit: Value = app.get_json(&format!("/api/tickets/{id}/audit")).await;
    audit.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_command_opens_one_ticket_and_answers_in_its_thread() {
    timed(async {
        let (db, peer) = setup().await;
        let app = spawn_app(telegram_config(&db, &peer)).await;
        peer.says(
            OPS,
            ALICE,
            10,
            &format!("/ticket@{BOT} disk pressure on node sam"),
            None,
        )
        .await;
        let sent = peer.wait_sent(OPS, 1).await;
        assert_eq!(
            sent[0]["reply_to_message_id"], 10,
            "the reply is threaded on the command"
        );
        assert_eq!(sent[0]["parse_mode"], "HTML");
        let text = sent[0]["text"].as_str().expect("text");
        assert!(
            text.contains("Ticket #1 opened") && text.contains("disk pressure on node sam"),
            "{text}"
        );

        let t = app.state.store.ticket(TicketId(1)).await.expect("ticket");
        assert_eq!(t.title, "disk pressure on node sam");
        assert_eq!(t.requester.to_string(), "telegram:1001");
        assert_eq!(t.status, Status::Draft);
        assert_eq!(ticket_count(&app).await, 1);

        // A plain reply to the bot's message joins the ticket's conversation.
        let bot_msg = sent[0]["message_id"].as_i64().expect("id");
        peer.says(OPS, BOB, 11, "it is /var/log filling up", Some(bot_msg))
            .await;
        for _ in 0..50 {
            if audit_events(&app, 1)
                .await
                .iter()
                .any(|e| e["event"] == "conversation_message")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let joined = audit_events(&app, 1)
            .await
            .into_iter()
            .find(|e| e["event"] == "conversation_message")
            .expect("joined");
        assert_eq!(joined["actor"], "telegram:1002");
        assert_eq!(joined["details"]["text"], "it is /var/log filling up");
        assert_eq!(
            ticket_count(&app).await,
            1,
            "a reply does not open a ticket"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_opens_a_ticket_and_bad_commands_get_usage() {
    timed(async {
        let (db, peer) = setup().await;
        let app = spawn_app(telegram_config(&db, &peer)).await;
        let dm = Chat {
            id: ALICE.id,
            group: false,
        };
        peer.says(
            dm,
            ALICE,
            5,
            "payments is slow since noon\nlatency p99 2s",
            None,
        )
        .await;
        peer.says(dm, ALICE, 6, "/frobnicate", None).await;
        peer.says(dm, ALICE, 7, "/status abc", None).await;
        peer.says(dm, ALICE, 8, "/help", None).await;
        let sent = peer.wait_sent(dm, 4).await;
        assert!(
            sent[0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("Ticket #1 opened")),
            "{sent:?}"
        );
        assert_eq!(
            sent[1]["text"],
            "Unknown command /frobnicate. Send /help for the list."
        );
        assert_eq!(sent[1]["reply_to_message_id"], 6);
        let usage = sent[2]["text"].as_str().expect("text");
        assert!(
            usage.contains("'abc' is not a ticket id")
                && usage.contains("Usage: /status &lt;id&gt;"),
            "{usage}"
        );
        let help = sent[3]["text"].as_str().expect("help");
        for word in [
            "/ticket", "/tickets", "/status", "/approve", "/reject", "/cancel", "/resume", "/help",
        ] {
            assert!(help.contains(word), "{help}");
        }
        let t = app.state.store.ticket(TicketId(1)).await.expect("ticket");
        assert_eq!(
            (t.title.as_str(), t.description.as_str()),
            ("payments is slow since noon", "latency p99 2s")
        );
        assert_eq!(ticket_count(&app).await, 1);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_text_is_escaped_and_cannot_mention_anyone() {
    timed(async {
        let (db, peer) = setup().await;
        let app = spawn_app(telegram_config(&db, &peer)).await;
        peer.says(OPS, ALICE, 10, "/ticket <b>boom</b> & @everyone", None)
            .await;
        let sent = peer.wait_sent(OPS, 1).await;
        let text = sent[0]["text"].as_str().expect("text");
        assert!(
            text.contains("&lt;b&gt;boom&lt;/b&gt; &amp; @\u{2060}everyone"),
            "{text:?}"
        );
        assert!(!text.contains("<b>boom"), "{text:?}");
        app.stop().await;
    })
    .await;
}

/// Opens ticket #1 as Alice and proposes a plan through the API; returns the approval message.
async fn pending_approval(app: &TestApp, peer: &TelegramPeer, diff: Option<&str>) -> Value {
    peer.says(OPS, ALICE, 10, "/ticket scale podinfo to 3 replicas", None)
        .await;
    peer.wait_sent(OPS, 1).await;
    let resp = app
        .http
        .post(app.url("/api/tickets/1/plan"))
        .json(&json!({"summary": "Scale podinfo to 3", "steps": ["set replicas: 3 in apps/podinfo/values.yaml"], "diff": diff}))
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    let sent = peer
        .wait_until(OPS, "the approval message", |s| {
            s.iter().any(|m| !m["reply_markup"].is_null())
        })
        .await;
    sent.into_iter()
        .find(|m| !m["reply_markup"].is_null())
        .expect("approval message")
}

fn nonces(approval: &Value) -> (String, String) {
    let row = &approval["reply_markup"]["inline_keyboard"][0];
    let data = |i: usize| {
        row[i]["callback_data"]
            .as_str()
            .expect("callback_data")
            .to_owned()
    };
    (data(0), data(1))
}

async fn status(app: &TestApp) -> Status {
    app.state
        .store
        .ticket(TicketId(1))
        .await
        .expect("ticket")
        .status
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
async fn only_an_approver_other_than_the_requester_in_the_origin_chat_can_approve() {
    timed(async {
        let (db, peer) = setup().await;
        let app = spawn_app(telegram_config(&db, &peer)).await;
        let approval = pending_approval(&app, &peer, None).await;
        assert_eq!(
            approval["reply_to_message_id"], 10,
            "posted in the ticket's thread"
        );
        let text = approval["text"].as_str().expect("text");
        assert!(
            text.contains("Plan for #1") && text.contains("set replicas: 3"),
            "{text}"
        );
        let (approve, reject) = nonces(&approval);
        assert_eq!(approve.len(), 32, "128-bit nonce, nothing else");
        assert_ne!(approve, reject);
        let msg = approval["message_id"].as_i64().expect("id");

        let cases = [
            (
                OPS,
                MALLORY,
                approve.clone(),
                "Refused: you are not an approver.",
            ),
            (
                OPS,
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
                OPS,
                BOB,
                "f".repeat(32),
                "This button is not valid (unknown or forged).",
            ),
        ];
        for (chat, who, data, expected) in cases {
            let cb = peer.presses(chat, who, msg, &data).await;
            assert_eq!(peer.answer_to(&cb).await, expected);
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

        let cb = peer.presses(OPS, BOB, msg, &approve).await;
        assert_eq!(peer.answer_to(&cb).await, "Approved: #1 is executing.");
        assert_eq!(status(&app).await, Status::Executing);
        let edited = peer
            .wait_until(OPS, "the decision edit", |s| {
                s.iter()
                    .any(|m| m["message_id"] == msg && m["reply_markup"].is_null())
            })
            .await;
        let edited = edited
            .iter()
            .find(|m| m["message_id"] == msg)
            .expect("message");
        assert!(
            edited["text"]
                .as_str()
                .is_some_and(|t| t.contains("Approved by") && t.contains("telegram:1002")),
            "{edited}"
        );

        let cb = peer.presses(OPS, BOB, msg, &reject).await;
        assert_eq!(
            peer.answer_to(&cb).await,
            "Refused: this approval was already decided (approved)."
        );
        assert_eq!(status(&app).await, Status::Executing);
        let decided: Vec<Value> = audit_events(&app, 1)
            .await
            .into_iter()
            .filter(|e| e["event"] == "approval_decided")
            .collect();
        assert_eq!(decided.len(), 1);
        assert_eq!(decided[0]["actor"], "telegram:1002");
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_approval_is_refused_and_the_text_fallback_follows_the_same_policy() {
    timed(async {
        let (db, peer) = setup().await;
        let mut config = telegram_config(&db, &peer);
        config.approvals.ttl = "3s".into();
        let app = spawn_app(config).await;
        let approval = pending_approval(&app, &peer, None).await;
        let (approve, _) = nonces(&approval);
        let before = peer.sent(OPS).await.len();
        peer.says(OPS, MALLORY, 20, "/approve 1", None).await;
        let sent = peer.wait_sent(OPS, before + 1).await;
        assert_eq!(sent[before]["text"], "Refused: you are not an approver.");
        assert_eq!(sent[before]["reply_to_message_id"], 20);

        tokio::time::sleep(Duration::from_secs(3)).await;
        let cb = peer
            .presses(
                OPS,
                BOB,
                approval["message_id"].as_i64().expect("id"),
                &approve,
            )
            .await;
        assert_eq!(
            peer.answer_to(&cb).await,
            "Refused: this approval expired; propose the plan again for a new one."
        );
        assert_eq!(status(&app).await, Status::PendingPlanApproval);
        assert_eq!(refusals(&app).await, ["not_approver", "expired"]);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_approvers_every_approval_is_refused_with_how_to_configure_it() {
    timed(async {
        let (db, peer) = setup().await;
        let mut config = telegram_config(&db, &peer);
        config.approvals.approvers.clear();
        let app = spawn_app(config).await;
        let approval = pending_approval(&app, &peer, None).await;
        assert!(
            approval["text"]
                .as_str()
                .is_some_and(|t| t.contains("No approvers are configured"))
        );
        let (approve, _) = nonces(&approval);
        let cb = peer
            .presses(
                OPS,
                BOB,
                approval["message_id"].as_i64().expect("id"),
                &approve,
            )
            .await;
        let answer = peer.answer_to(&cb).await;
        assert!(answer.contains("approvals.approvers"), "{answer}");
        assert_eq!(status(&app).await, Status::PendingPlanApproval);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_character_plan_arrives_split_with_buttons_on_the_last_part() {
    timed(async {
        let (db, peer) = setup().await;
        let app = spawn_app(telegram_config(&db, &peer)).await;
        let diff: String = (0..250)
            .map(|i| format!("+  replicas_{i:03}: {}\n", "x".repeat(26)))
            .collect();
        assert!(diff.chars().count() >= 10_000);
        let last = pending_approval(&app, &peer, Some(&diff)).await;
        let sent = peer.sent(OPS).await;
        let parts: Vec<&Value> = sent.iter().skip(1).collect();
        assert!(parts.len() >= 3, "{} parts", parts.len());
        assert_eq!(
            parts.last().map(|m| &m["message_id"]),
            Some(&last["message_id"]),
            "buttons ride on the last part"
        );
        let mut joined = String::new();
        for p in &parts {
            let text = p["text"].as_str().expect("text");
            assert!(text.encode_utf16().count() <= 4096);
            assert_eq!(
                text.matches("<pre>").count(),
                text.matches("</pre>").count(),
                "code blocks closed per part"
            );
            assert_eq!(
                p["reply_to_message_id"], 10,
                "every part is in the ticket's thread"
            );
            joined.push_str(text);
        }
        for i in [0, 124, 249] {
            assert!(
                joined.contains(&format!("replicas_{i:03}")),
                "line {i} arrived"
            );
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_delays_the_chat_and_loses_nothing() {
    timed(async {
        let (db, peer) = setup().await;
        let app = spawn_app(telegram_config(&db, &peer)).await;
        peer.rate_limit("sendMessage", OPS, 1, 2).await;
        peer.says(OPS, ALICE, 10, "/ticket first", None).await;
        peer.says(OPS, ALICE, 11, "/ticket second", None).await;
        let sent = peer.wait_sent(OPS, 2).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sent_after = peer.sent(OPS).await;
        assert_eq!(sent_after.len(), 2, "each reply exactly once: {sent:?}");
        assert_eq!(sent_after[0]["reply_to_message_id"], 10, "order kept");
        assert_eq!(sent_after[1]["reply_to_message_id"], 11);
        let calls: Vec<Value> = peer.calls("sendMessage").await;
        assert_eq!(calls[0]["status"], 429);
        let waited =
            calls[1]["at_ms"].as_i64().expect("ms") - calls[0]["at_ms"].as_i64().expect("ms");
        assert!(waited >= 1900, "retry_after was honoured ({waited} ms)");
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_stream_loses_and_duplicates_nothing() {
    timed(async {
        let (db, peer) = setup().await;
        // Hold the chat's sends (one 429) so the crash lands while replies are queued, not on the wire: a send
        // Telegram accepted in the instant before its outbox row commits is the one at-least-once case.
        peer.rate_limit("sendMessage", OPS, 1, 3).await;
        let app = spawn_app(telegram_config(&db, &peer)).await;
        for i in 0..6 {
            peer.says(OPS, ALICE, 100 + i, &format!("/ticket job {i}"), None)
                .await;
        }
        for _ in 0..300 {
            if ticket_count(&app).await >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        app.crash();
        for i in 6..8 {
            peer.says(OPS, ALICE, 100 + i, &format!("/ticket job {i}"), None)
                .await;
        }
        let app = spawn_app(telegram_config(&db, &peer)).await;
        peer.wait_sent(OPS, 8).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let sent = peer.sent(OPS).await;
        let replied_to: Vec<i64> = sent
            .iter()
            .map(|m| m["reply_to_message_id"].as_i64().expect("reply"))
            .collect();
        assert_eq!(
            replied_to,
            (100..108).collect::<Vec<_>>(),
            "one reply per command, in order"
        );
        let delivered = peer
            .calls("sendMessage")
            .await
            .into_iter()
            .filter(|c| c["status"] == 200)
            .count();
        assert_eq!(delivered, 8, "no send was repeated");
        let list: Value = app.get_json("/api/tickets").await;
        let mut titles: Vec<String> = list["tickets"]
            .as_array()
            .expect("array")
            .iter()
            .map(|t| t["title"].as_str().expect("title").to_owned())
            .collect();
        titles.sort();
        let expected: Vec<String> = (0..8).map(|i| format!("job {i}")).collect();
        assert_eq!(titles, expected, "every command made exactly one ticket");
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_rejects_a_missing_secret_before_parsing_and_dedupes_redeliveries() {
    timed(async {
        let (db, peer) = setup().await;
        let mut config = telegram_config(&db, &peer);
        config.telegram.mode = "webhook".into();
        config.telegram.webhook_secret = Some("s3cret-token".to_owned().into());
        let app = spawn_app(config).await;
        let update = json!({"update_id": 777, "message": crate::telegram_peer::message(OPS, ALICE, 10, "/ticket from webhook", None)});
        let post = |secret: Option<&'static str>, body: String| {
            let mut req = app.http.post(app.url("/webhooks/telegram")).header("content-type", "application/json").body(body);
            if let Some(s) = secret {
                req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
            }
            req.send()
        };
        assert_eq!(post(None, "not even json".into()).await.expect("POST").status(), StatusCode::UNAUTHORIZED);
        assert_eq!(post(Some("wrong"), update.to_string()).await.expect("POST").status(), StatusCode::UNAUTHORIZED);
        assert_eq!(ticket_count(&app).await, 0);
        for _ in 0..2 {
            assert_eq!(post(Some("s3cret-token"), update.to_string()).await.expect("POST").status(), StatusCode::OK);
        }
        peer.wait_sent(OPS, 1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(ticket_count(&app).await, 1, "the redelivered update is a no-op");
        assert_eq!(peer.sent(OPS).await.len(), 1);
        app.stop().await;
    })
    .await;
}
