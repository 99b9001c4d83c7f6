//! Discord end to end through the fake (REST + gateway), as users see it.

use std::time::Duration;

use aura::config::Config;
use aura::domain::{Status, TicketId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, TestDb, spawn_app, test_config, timed};
use crate::discord_fake::{ALICE, BOB, DM, DiscordFake, Msg, OPS, TOKEN};

pub fn discord_config(db: &TestDb, fake: &DiscordFake) -> Config {
    let mut c = test_config(db);
    c.discord.token = Some(TOKEN.to_owned().into());
    c.discord.api_url = fake.url.clone();
    // Alice requests; Alice and Bob approve (four eyes: Alice cannot approve her own ticket).
    c.approvals.approvers = vec![ALICE.address(), BOB.address()];
    c
}

pub async fn setup() -> (TestDb, DiscordFake, TestApp) {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let fake = DiscordFake::start().await;
    let app = spawn_app(discord_config(&db, &fake)).await;
    fake.wait_ready().await;
    (db, fake, app)
}

pub async fn tickets(app: &TestApp) -> Vec<Value> {
    let list: Value = app.get_json("/api/tickets").await;
    list["tickets"].as_array().cloned().unwrap_or_default()
}

pub async fn audit_events(app: &TestApp, id: i64) -> Vec<Value> {
    let url = app.url(&format!("/api/tickets/{id}/audit"));
    let audit: Value = app
        .http
        .get(url)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    audit.as_array().cloned().unwrap_or_default()
}

pub async fn status(app: &TestApp) -> Status {
    app.state
        .store
        .ticket(TicketId(1))
        .await
        .expect("ticket")
        .status
}

/// Waits for an audit row of ticket 1 with `event`.
async fn wait_audit(app: &TestApp, event: &str) -> Value {
    for _ in 0..100 {
        if let Some(row) = audit_events(app, 1)
            .await
            .into_iter()
            .find(|e| e["event"] == event)
        {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {event} audit row");
}

/// Every message body Aura sent pings nobody.
pub fn assert_no_mentions(fake: &DiscordFake) {
    let f = fake.state();
    let sent: Vec<&Msg> = f
        .messages
        .values()
        .filter(|m| m.author == crate::discord_fake::BOT_ID)
        .collect();
    assert!(!sent.is_empty());
    for m in sent.into_iter().filter(|m| m.flags & 128 == 0) {
        assert_eq!(
            m.body["allowed_mentions"]["parse"],
            json!([]),
            "{:?}",
            m.body
        );
        assert_eq!(
            m.body["allowed_mentions"]["users"],
            json!([]),
            "{:?}",
            m.body
        );
        assert_eq!(
            m.body["allowed_mentions"]["roles"],
            json!([]),
            "{:?}",
            m.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_command_in_a_channel_opens_one_ticket_and_answers_in_its_thread() {
    timed(async {
        let (_db, fake, app) = setup().await;
        {
            let f = fake.state();
            let names: Vec<&str> = f
                .commands
                .iter()
                .filter_map(|c| c["name"].as_str())
                .collect();
            assert_eq!(
                names,
                [
                    "ticket", "tickets", "status", "approve", "reject", "cancel", "resume",
                    "escalate", "help"
                ]
            );
            assert_eq!(f.gateway.intents, Some(1 | 1 << 9 | 1 << 12 | 1 << 15));
            assert!(
                f.gateway.queries[0].contains("v=10")
                    && f.gateway.queries[0].contains("encoding=json")
            );
        }
        let cmd = fake.says(OPS, ALICE, "/ticket disk pressure on node sam");
        let replies = fake
            .wait_messages(cmd, "the reply in the ticket's thread", |m| !m.is_empty())
            .await;
        assert!(
            replies[0].content.contains("Ticket #1 opened")
                && replies[0].content.contains("disk pressure on node sam"),
            "{}",
            replies[0].content
        );
        {
            let f = fake.state();
            assert_eq!(
                f.threads_started,
                [(OPS, cmd)],
                "a thread started from the command"
            );
            assert_eq!(
                f.channels[&cmd].name,
                "🎫 Ticket #1 opened: disk pressure on node sam"
            );
            assert!(
                f.bot_messages(OPS).is_empty(),
                "nothing about the ticket in the channel itself"
            );
        }
        let t = app.state.store.ticket(TicketId(1)).await.expect("ticket");
        assert_eq!(
            (t.title.as_str(), t.requester.to_string(), t.status),
            (
                "disk pressure on node sam",
                "discord:1001".into(),
                Status::Draft
            )
        );

        fake.says(cmd, BOB, "it is /var/log filling up");
        let joined = wait_audit(&app, "conversation_message").await;
        assert_eq!(joined["actor"], "discord:1002");
        assert_eq!(joined["details"]["text"], "it is /var/log filling up");
        fake.says(OPS, BOB, "unrelated chatter in the channel");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            tickets(&app).await.len(),
            1,
            "neither the thread reply nor chatter opens a ticket"
        );
        assert_no_mentions(&fake);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_command_and_a_direct_message_work_too() {
    timed(async {
        let (_db, fake, app) = setup().await;
        let help = fake.says(OPS, BOB, "<@4242> help");
        let answer = fake
            .wait_messages(OPS, "the help answer", |m| !m.is_empty())
            .await;
        assert!(
            answer[0].content.contains("/ticket") && answer[0].content.contains("/approve"),
            "{}",
            answer[0].content
        );
        assert_eq!(answer[0].reply_to, Some(help), "answered as a reply");
        let dm = fake.says(DM, ALICE, "payments are slow since noon");
        let reply = fake
            .wait_messages(DM, "the DM answer", |m| !m.is_empty())
            .await;
        assert!(
            reply[0].content.contains("Ticket #1 opened"),
            "{}",
            reply[0].content
        );
        assert_eq!(
            reply[0].reply_to,
            Some(dm),
            "no threads in DMs: a reply instead"
        );
        fake.replies(DM, ALICE, "it started at noon", reply[0].id);
        let joined = wait_audit(&app, "conversation_message").await;
        assert_eq!(
            joined["details"]["text"], "it started at noon",
            "a reply to Aura joins the ticket"
        );
        assert_eq!(tickets(&app).await.len(), 1);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_reconnect_resumes_without_losing_or_duplicating_events() {
    timed(async {
        let (_db, fake, app) = setup().await;
        let first = fake.says(OPS, ALICE, "/ticket job 0");
        fake.wait_messages(first, "the first reply", |m| m.len() == 1)
            .await;
        fake.drop_connection();
        let later: Vec<u64> = (1..3)
            .map(|i| fake.says(OPS, ALICE, &format!("/ticket job {i}")))
            .collect();
        fake.redeliver(first);
        for m in &later {
            fake.wait_messages(*m, "a reply after the resume", |m| m.len() == 1)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut titles: Vec<String> = tickets(&app)
            .await
            .iter()
            .map(|t| t["title"].as_str().expect("title").to_owned())
            .collect();
        titles.sort();
        assert_eq!(
            titles,
            ["job 0", "job 1", "job 2"],
            "each command made exactly one ticket"
        );
        for m in [first].iter().chain(&later) {
            assert_eq!(
                fake.state().bot_messages(*m).len(),
                1,
                "one reply per command"
            );
        }
        let sessions = {
            let f = fake.state();
            (f.gateway.identifies, f.gateway.resumes)
        };
        assert_eq!(sessions, (1, 1), "resumed, not identified again");
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_the_stored_session_and_gets_what_was_missed() {
    timed(async {
        let (db, fake, app) = setup().await;
        let first = fake.says(OPS, ALICE, "/ticket before the crash");
        fake.wait_messages(first, "the first reply", |m| m.len() == 1)
            .await;
        app.crash();
        fake.wait_for("the connection to drop", |f| {
            f.gateway.conn.is_none().then_some(())
        })
        .await;
        let missed = fake.says(OPS, ALICE, "/ticket while aura was down");
        let app = spawn_app(discord_config(&db, &fake)).await;
        fake.wait_messages(missed, "the reply to the missed command", |m| m.len() == 1)
            .await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(tickets(&app).await.len(), 2);
        assert_eq!(
            fake.state().bot_messages(first).len(),
            1,
            "nothing answered twice"
        );
        let sessions = {
            let f = fake.state();
            (f.gateway.identifies, f.gateway.resumes)
        };
        assert_eq!(sessions, (1, 1), "the stored session was resumed");
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_command_is_acknowledged_in_time_and_answered_in_a_thread() {
    timed(async {
        let (_db, fake, app) = setup().await;
        let text = json!([{"name": "text", "type": 3, "value": "payments are slow"}]);
        let i = fake.slash(OPS, ALICE, "ticket", text);
        let original = fake
            .wait_for("the answer", |f| {
                let i = &f.interactions[&i];
                let m = f.messages.get(&i.original?)?;
                m.content
                    .contains("Ticket #1 opened")
                    .then_some((i.ack, m.id))
            })
            .await;
        let (ack, original) = original;
        let (kind, delay) = ack.expect("acknowledged");
        assert_eq!(kind, 5, "deferred");
        assert!(
            delay < Duration::from_secs(3),
            "acknowledged after {delay:?}"
        );
        assert_eq!(
            fake.state().threads_started,
            [(OPS, original)],
            "the ticket's thread starts at the answer"
        );
        let t = app.state.store.ticket(TicketId(1)).await.expect("ticket");
        assert_eq!(t.title, "payments are slow");

        fake.says(original, BOB, "p99 is 2 s");
        assert_eq!(
            wait_audit(&app, "conversation_message").await["actor"],
            "discord:1002"
        );
        let plan = json!({"summary": "Add a replica", "steps": ["replicas: 3"]});
        let resp = app
            .http
            .post(app.url("/api/tickets/1/plan"))
            .json(&plan)
            .send()
            .await
            .expect("POST");
        assert_eq!(resp.status(), StatusCode::OK);
        let in_thread = fake
            .wait_messages(original, "the plan in the ticket's thread", |m| {
                m.iter().any(|m| m.components != json!([]))
            })
            .await;
        assert!(in_thread.iter().any(|m| m.content.contains("Plan for #1")));
        let followups = fake
            .state()
            .messages
            .values()
            .filter(|m| m.interaction == Some(i) && m.id != original)
            .count();
        assert_eq!(
            followups, 0,
            "the plan is not a follow-up to the slash command"
        );

        let s = fake.slash(
            original,
            BOB,
            "status",
            json!([{"name": "id", "type": 4, "value": 1}]),
        );
        let answer = fake
            .wait_for("the status answer", |f| {
                let m = f.messages.get(&f.interactions[&s].original?)?;
                (!m.content.is_empty()).then(|| m.content.clone())
            })
            .await;
        assert!(
            answer.contains("Status:") && answer.contains("pending_plan_approval"),
            "{answer}"
        );
        assert_eq!(tickets(&app).await.len(), 1);
        assert_no_mentions(&fake);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_text_is_escaped_and_no_message_can_mention_anyone() {
    timed(async {
        let (_db, fake, app) = setup().await;
        let cmd = fake.says(
            OPS,
            ALICE,
            "/ticket **boom** @everyone <@&77> [x](https://evil.example)",
        );
        let reply = fake
            .wait_messages(cmd, "the reply", |m| !m.is_empty())
            .await;
        let content = &reply[0].content;
        assert!(
            content.contains(
                "\\*\\*boom\\*\\* @\u{200B}everyone <\u{200B}@&77> \\[x\\]\\(https://evil.example\\)"
            ),
            "{content:?}"
        );
        assert!(
            content.starts_with("**🎫 Ticket #1 opened**: "),
            "Aura's own markup stays: {content:?}"
        );
        assert_no_mentions(&fake);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_a_fractional_retry_after_delays_and_loses_nothing() {
    timed(async {
        let (_db, fake, app) = setup().await;
        fake.rate_limit("POST", "/messages", 1, 1.5, false);
        let first = fake.says(OPS, ALICE, "/ticket first");
        let second = fake.says(OPS, ALICE, "/ticket second");
        for m in [first, second] {
            fake.wait_messages(m, "a reply", |m| !m.is_empty()).await;
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        for m in [first, second] {
            assert_eq!(
                fake.state().bot_messages(m).len(),
                1,
                "each reply exactly once"
            );
        }
        let calls = fake.state().calls.clone();
        let limited = calls
            .iter()
            .find(|c| c.status == 429 && c.method == "POST")
            .expect("a 429");
        let retried = calls
            .iter()
            .find(|c| c.path == limited.path && c.status < 300 && c.at > limited.at)
            .expect("the retry");
        let waited = retried.at.duration_since(limited.at);
        assert!(
            waited >= Duration::from_millis(1500),
            "retry_after honoured: {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(4),
            "and not much longer: {waited:?}"
        );
        assert_eq!(
            calls.iter().filter(|c| c.status == 429).count(),
            1,
            "no retry storm"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_discord_token() {
    timed(async {
        let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
        let fake = DiscordFake::start().await;
        let mut config = discord_config(&db, &fake);
        let checks = aura::doctor::run(&config).await;
        let discord = checks
            .iter()
            .find(|c| c.name == "discord")
            .expect("a discord check");
        assert!(
            discord
                .to_string()
                .starts_with("ok      discord: @aura (id 4242)"),
            "{discord}"
        );
        config.discord.token = Some("wrong".to_owned().into());
        let checks = aura::doctor::run(&config).await;
        let discord = checks
            .iter()
            .find(|c| c.name == "discord")
            .expect("a discord check");
        assert!(
            discord.to_string().contains("rejected the token"),
            "{discord}"
        );
        assert!(
            !discord.to_string().contains("wrong"),
            "the token is never shown"
        );
    })
    .await;
}
