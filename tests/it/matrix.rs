//! Matrix end to end against a real Synapse homeserver, as users see it.

use std::time::Duration;

use aura::config::Config;
use aura::domain::{Status, TicketId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, TestDb, spawn_app, test_config, timed};
use crate::synapse_peer::{MatrixUser, Synapse};

struct World {
    db: TestDb,
    bot: String,
    hs_url: String,
    alice: MatrixUser,
    bob: MatrixUser,
    carol: MatrixUser,
}

impl World {
    async fn new(hs: &Synapse) -> World {
        let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
        let bot = hs
            .register(&format!("aura{}", rand::random::<u32>()), "botpw", false)
            .await;
        World {
            db,
            bot,
            hs_url: hs.url.clone(),
            alice: hs.user("alice").await,
            bob: hs.user("bob").await,
            carol: hs.user("carol").await,
        }
    }

    /// Alice requests; Alice and Bob approve (four eyes); Carol is a stranger.
    fn config(&self) -> Config {
        let mut c = test_config(&self.db);
        c.matrix.homeserver = Some(self.hs_url.clone());
        c.matrix.user_id = Some(self.bot.clone());
        c.matrix.password = Some("botpw".to_owned().into());
        c.matrix.store_path = self.db.dir.path().join("matrix");
        c.matrix.sync_timeout_secs = 1;
        c.approvals.approvers = vec![self.alice.address(), self.bob.address()];
        c
    }

    async fn wait_joined(&self, user: &MatrixUser, room: &str) {
        for _ in 0..200 {
            let joined = user.events_from(room, &self.bot, "m.room.member").await;
            if joined.iter().any(|e| e["content"]["membership"] == "join") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the bot did not join {room}");
    }
}

async fn tickets(app: &TestApp) -> Vec<Value> {
    let list: Value = app.get_json("/api/tickets").await;
    list["tickets"].as_array().cloned().unwrap_or_default()
}

async fn audit(app: &TestApp, id: i64) -> Vec<Value> {
    let a: Value = app.get_json(&format!("/api/tickets/{id}/audit")).await;
    a.as_array().cloned().unwrap_or_default()
}

async fn wait_audit(
    app: &TestApp,
    id: i64,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..200 {
        let a = audit(app, id).await;
        if check(&a) {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}: {:?}", audit(app, id).await);
}

fn in_thread_of(e: &Value, root: &str) -> bool {
    e["content"]["m.relates_to"]["rel_type"] == "m.thread"
        && e["content"]["m.relates_to"]["event_id"] == root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_command_opens_one_ticket_in_a_thread_and_a_restart_replays_nothing() {
    timed(async {
        let hs = Synapse::shared().await;
        let w = World::new(hs).await;
        let app = spawn_app(w.config()).await;
        // Written before the bot is in the room: history, never a command.
        let room = w.alice.create_room(&[]).await;
        w.alice
            .say(&room, "!ticket from before the bot came", None)
            .await;
        w.alice.invite(&room, &w.bot).await;
        w.wait_joined(&w.alice, &room).await;

        let root = w
            .alice
            .say(&room, "!ticket disk pressure on node sam", None)
            .await;
        let replies = w
            .alice
            .wait_for(&room, &w.bot, "the ticket reply", |e| {
                e.iter().any(|m| in_thread_of(m, &root))
            })
            .await;
        let reply = &replies[0];
        assert_eq!(reply["content"]["msgtype"], "m.notice");
        assert!(
            reply["content"]["body"].as_str().is_some_and(
                |b| b.contains("Ticket #1 opened") && b.contains("disk pressure on node sam")
            ),
            "{reply}"
        );
        assert!(
            reply["content"]["formatted_body"]
                .as_str()
                .is_some_and(|h| h.contains("<b>"))
        );
        assert_eq!(reply["content"]["m.mentions"], json!({}));
        let t = tickets(&app).await;
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(t[0]["requester"], w.alice.address());

        // A message in the thread joins the ticket.
        w.alice
            .say(&room, "it is /var/log again", Some(&root))
            .await;
        let a = wait_audit(&app, 1, "the thread message", |a| {
            a.iter().any(|e| e["event"] == "conversation_message")
        })
        .await;
        assert!(
            a.iter()
                .any(|e| e["details"]["text"] == "it is /var/log again")
        );

        app.stop().await;
        let app = spawn_app(w.config()).await;
        w.alice.say(&room, "!tickets", None).await;
        let after = w
            .alice
            .wait_for(&room, &w.bot, "the tickets list", |e| e.len() >= 2)
            .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after_settle = w.alice.events_from(&room, &w.bot, "m.room.message").await;
        assert_eq!(
            after_settle.len(),
            2,
            "no old command re-ran and no reply was repeated: {after:?}"
        );
        assert!(
            after_settle[1]["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("#1"))
        );
        assert_eq!(tickets(&app).await.len(), 1);
        app.stop().await;
    })
    .await;
}

/// Alice opens ticket #1 in `room` and a plan is proposed; returns (root event, approval event).
async fn pending_approval(w: &World, app: &TestApp, room: &str) -> (String, String) {
    let root = w.alice.say(room, "!ticket scale podinfo to 3", None).await;
    w.alice
        .wait_for(room, &w.bot, "the ticket reply", |e| !e.is_empty())
        .await;
    let resp = app
        .http
        .post(app.url("/api/tickets/1/plan"))
        .json(&json!({"summary": "Scale podinfo to 3", "steps": ["set replicas: 3"]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::OK);
    let approval = w.alice.wait_for_text(room, &w.bot, "React with ✅").await;
    assert!(
        in_thread_of(&approval, &root),
        "the request is in the ticket's thread: {approval}"
    );
    (root, approval["event_id"].as_str().expect("id").to_owned())
}

async fn status(app: &TestApp) -> Status {
    app.state
        .store
        .ticket(TicketId(1))
        .await
        .expect("ticket")
        .status
}

fn refusals(a: &[Value]) -> Vec<String> {
    a.iter()
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
async fn reactions_decide_under_the_policy_and_a_redacted_approval_withdraws() {
    timed(async {
        let hs = Synapse::shared().await;
        let w = World::new(hs).await;
        let app = spawn_app(w.config()).await;
        let room = w
            .alice
            .create_room(&[&w.bot, &w.bob.user_id, &w.carol.user_id])
            .await;
        w.bob.join(&room).await;
        w.carol.join(&room).await;
        w.wait_joined(&w.alice, &room).await;
        let (_root, approval) = pending_approval(&w, &app, &room).await;

        w.carol.react(&room, &approval, "✅").await;
        wait_audit(&app, 1, "carol's refusal", |a| {
            refusals(a) == ["not_approver"]
        })
        .await;
        w.alice.react(&room, &approval, "✅").await;
        wait_audit(&app, 1, "alice's refusal", |a| {
            refusals(a) == ["not_approver", "own_ticket"]
        })
        .await;
        // Synapse refuses relations across rooms, so from another room an approver can only type the command.
        let other = w.bob.create_room(&[&w.bot]).await;
        w.wait_joined(&w.bob, &other).await;
        w.bob.say(&other, "!approve 1", None).await;
        wait_audit(&app, 1, "the other room's refusal", |a| {
            refusals(a).len() == 3
        })
        .await;
        assert_eq!(refusals(&audit(&app, 1).await)[2], "wrong_conversation");
        assert_eq!(status(&app).await, Status::PendingPlanApproval);
        let answer = w
            .bob
            .wait_for(&other, &w.bot, "the other room's answer", |e| !e.is_empty())
            .await;
        assert_eq!(
            answer[0]["content"]["body"],
            "Refused: this approval belongs to another conversation."
        );
        w.carol.say(&room, "!approve 1", None).await;
        w.alice
            .wait_for(&room, &w.bot, "the text refusal", |e| {
                e.iter()
                    .any(|m| m["content"]["body"] == "Refused: you are not an approver.")
            })
            .await;
        let bot_said: Vec<String> = w
            .alice
            .events_from(&room, &w.bot, "m.room.message")
            .await
            .iter()
            .filter_map(|m| m["content"]["body"].as_str().map(str::to_owned))
            .collect();
        assert!(
            bot_said
                .iter()
                .any(|b| b.contains("you requested this ticket")),
            "the approver is told: {bot_said:?}"
        );
        assert_eq!(
            bot_said
                .iter()
                .filter(|b| b.starts_with("Refused: you are not an approver"))
                .count(),
            1,
            "a stranger's reaction gets no reply"
        );

        let reaction = w.bob.react(&room, &approval, "✅").await;
        wait_audit(&app, 1, "bob's approval", |a| {
            a.iter().any(|e| e["event"] == "approval_decided")
        })
        .await;
        assert_eq!(status(&app).await, Status::Executing);
        let edits = w
            .alice
            .wait_for(&room, &w.bot, "the decision edit", |e| {
                e.iter()
                    .any(|m| m["content"]["m.relates_to"]["rel_type"] == "m.replace")
            })
            .await;
        let edit = edits
            .iter()
            .rfind(|m| m["content"]["m.relates_to"]["rel_type"] == "m.replace")
            .expect("edit");
        assert_eq!(
            edit["content"]["m.relates_to"]["event_id"],
            approval.as_str()
        );
        assert!(
            edit["content"]["m.new_content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("Approved by") && b.contains(&w.bob.user_id))
        );

        w.bob.redact(&room, &reaction).await;
        wait_audit(&app, 1, "the withdrawal", |a| {
            a.iter().any(|e| e["event"] == "approval_withdrawn")
        })
        .await;
        assert_eq!(status(&app).await, Status::PendingPlanApproval);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_after_expiry_is_refused() {
    timed(async {
        let hs = Synapse::shared().await;
        let w = World::new(hs).await;
        let mut config = w.config();
        config.approvals.ttl = "2s".into();
        let app = spawn_app(config).await;
        let room = w.alice.create_room(&[&w.bot, &w.bob.user_id]).await;
        w.bob.join(&room).await;
        w.wait_joined(&w.alice, &room).await;
        let (_, approval) = pending_approval(&w, &app, &room).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        w.bob.react(&room, &approval, "✅").await;
        wait_audit(&app, 1, "the expiry refusal", |a| {
            refusals(a) == ["expired"]
        })
        .await;
        assert_eq!(status(&app).await, Status::PendingPlanApproval);
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_from_the_homeserver_is_waited_out_and_each_reply_appears_once() {
    timed(async {
        // A homeserver of its own whose message rate limit (0.5/s, burst 2) the bot will hit.
        let hs = Synapse::start(true).await;
        let w = World::new(&hs).await;
        let app = spawn_app(w.config()).await;
        // Alice is exempt (the admin API), so her burst arrives at once and only the bot's replies are limited.
        hs.exempt_from_rate_limits(&w.alice.user_id).await;
        let room = w.alice.create_room(&[&w.bot]).await;
        w.wait_joined(&w.alice, &room).await;
        let mut roots = Vec::new();
        for i in 0..4 {
            roots.push(
                w.alice
                    .say(&room, &format!("!ticket burst {i}"), None)
                    .await,
            );
        }
        let replies = w
            .alice
            .wait_for(&room, &w.bot, "four replies", |e| e.len() >= 4)
            .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let replies_after = w.alice.events_from(&room, &w.bot, "m.room.message").await;
        assert_eq!(
            replies_after.len(),
            4,
            "each reply exactly once: {replies:?}"
        );
        for (reply, root) in replies_after.iter().zip(&roots) {
            assert!(in_thread_of(reply, root), "in order, each in its thread");
        }
        let rate_limited = app
            .http
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("text");
        assert!(
            rate_limited
                .contains("aura_chat_sends_total{outcome=\"rate_limited\",platform=\"matrix\"}"),
            "the homeserver did rate-limit the bot: {rate_limited}"
        );
        app.stop().await;
    })
    .await;
}

/// A human on an end-to-end encrypting client (a second matrix-sdk client with its own store).
struct E2eeUser {
    client: matrix_sdk::Client,
    user_id: String,
    _dir: tempfile::TempDir,
}

impl E2eeUser {
    async fn new(hs: &Synapse, prefix: &str) -> E2eeUser {
        let localpart = format!("{prefix}{}", rand::random::<u32>());
        let user_id = hs.register(&localpart, "pw", false).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let client = matrix_sdk::Client::builder()
            .homeserver_url(&hs.url)
            .sqlite_store(dir.path(), None)
            .build()
            .await
            .expect("client");
        client
            .matrix_auth()
            .login_username(&localpart, "pw")
            .send()
            .await
            .expect("login");
        client
            .sync_once(matrix_sdk::config::SyncSettings::default())
            .await
            .expect("first sync uploads keys");
        E2eeUser {
            client,
            user_id,
            _dir: dir,
        }
    }

    /// An encrypted room with `invite` in it.
    async fn encrypted_room(&self, invite: &str) -> matrix_sdk::Room {
        use matrix_sdk::ruma::api::client::room::create_room::v3::Request;
        let mut request = Request::new();
        request.invite = vec![invite.try_into().expect("mxid")];
        let room = self.client.create_room(request).await.expect("room");
        room.enable_encryption().await.expect("encryption");
        room
    }

    /// Syncs until a decrypted message from `sender` satisfies `check`; returns its body.
    async fn wait_for_text(
        &self,
        room: &str,
        sender: &str,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let settings =
            matrix_sdk::config::SyncSettings::default().timeout(Duration::from_millis(500));
        for _ in 0..120 {
            let response = self.client.sync_once(settings.clone()).await.expect("sync");
            for (room_id, update) in &response.rooms.joined {
                if room_id.as_str() != room {
                    continue;
                }
                for event in &update.timeline.events {
                    let json: Value = serde_json::from_str(event.raw().json().get()).expect("json");
                    if json["sender"] == sender
                        && json["type"] == "m.room.message"
                        && let Some(body) = json["content"]["body"].as_str()
                        && check(body)
                    {
                        return body.to_owned();
                    }
                }
            }
        }
        panic!("no decrypted message from {sender} arrived");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_room_round_trip_works_also_after_a_restart() {
    timed(async {
        use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
        let hs = Synapse::shared().await;
        let w = World::new(hs).await;
        let erin = E2eeUser::new(hs, "erin").await;
        let mut config = w.config();
        config.matrix.invite_from = vec![format!("matrix:{}", erin.user_id)];
        let app = spawn_app(config.clone()).await;
        let room = erin.encrypted_room(&w.bot).await;
        let room_id = room.room_id().to_string();
        let token = erin.client.access_token().expect("token");
        let http = reqwest::Client::new();
        let members_url = format!(
            "{}/_matrix/client/v3/rooms/{}/joined_members",
            hs.url,
            crate::synapse_peer::enc(&room_id)
        );
        let mut joined = false;
        for _ in 0..100 {
            let members: Value = http
                .get(&members_url)
                .bearer_auth(&token)
                .send()
                .await
                .expect("GET")
                .json()
                .await
                .expect("json");
            if members["joined"].get(&w.bot).is_some() {
                joined = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(joined, "the bot joined the encrypted room");
        erin.client
            .sync_once(matrix_sdk::config::SyncSettings::default())
            .await
            .expect("sync");
        room.send(RoomMessageEventContent::text_plain(
            "!ticket secret disk pressure",
        ))
        .await
        .expect("send");
        let body = erin
            .wait_for_text(&room_id, &w.bot, |b| b.contains("Ticket #1 opened"))
            .await;
        assert!(body.contains("secret disk pressure"), "{body}");

        // On the wire the reply was encrypted: the homeserver only ever saw m.room.encrypted from the bot.
        let wire: Value = http
            .get(format!(
                "{}/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
                hs.url,
                crate::synapse_peer::enc(&room_id)
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("json");
        let from_bot: Vec<&Value> = wire["chunk"]
            .as_array()
            .expect("chunk")
            .iter()
            .filter(|e| e["sender"] == w.bot.as_str())
            .collect();
        assert!(
            from_bot.iter().any(|e| e["type"] == "m.room.encrypted"),
            "{from_bot:?}"
        );
        assert!(
            !from_bot.iter().any(|e| e["type"] == "m.room.message"),
            "nothing in clear text"
        );
        assert_eq!(tickets(&app).await[0]["title"], "secret disk pressure");

        app.stop().await;
        let app = spawn_app(config).await;
        room.send(RoomMessageEventContent::text_plain("!tickets"))
            .await
            .expect("send");
        let list = erin
            .wait_for_text(&room_id, &w.bot, |b| b.contains("Open tickets"))
            .await;
        assert!(list.contains("#1"), "{list}");
        app.stop().await;
    })
    .await;
}
