//! A real Synapse homeserver as the Matrix test peer, and test users speaking the Client-Server API.

use std::process::Stdio;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

const SHARED_SECRET: &str = "aura-test-shared-secret";

/// A running Synapse; stopped when the test process exits (its start script watches its parent).
pub struct Synapse {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
    pub url: String,
    http: reqwest::Client,
}

/// An HTTP client that keeps no idle connections. The shared homeserver outlives the runtime of the test that
/// started it, and a pooled connection belongs to the runtime that opened it: reusing one from a finished test
/// fails with "runtime dropped the dispatch task".
fn unpooled_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("http client")
}

static SHARED: OnceCell<Synapse> = OnceCell::const_new();

impl Synapse {
    /// The homeserver shared by this test binary (relaxed rate limits); tests use their own users and rooms.
    pub async fn shared() -> &'static Synapse {
        SHARED.get_or_init(|| Synapse::start(false)).await
    }

    /// A homeserver of its own; `strict` keeps the message rate limit low.
    pub async fn start(strict: bool) -> Synapse {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/synapse/run.sh");
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg(script).arg(dir.path()).arg(port.to_string());
        if strict {
            cmd.arg("strict");
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start synapse");
        let url = format!("http://127.0.0.1:{port}");
        let http = unpooled_client();
        for _ in 0..240 {
            if http
                .get(format!("{url}/health"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Synapse {
                    _child: child,
                    _dir: dir,
                    url,
                    http,
                };
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let log = std::fs::read_to_string(dir.path().join("stdout.log")).unwrap_or_default();
        panic!("synapse did not become healthy in 60 s: {log}");
    }

    /// Registers a user through the shared-secret admin API; returns the MXID.
    pub async fn register(&self, localpart: &str, password: &str, admin: bool) -> String {
        let url = format!("{}/_synapse/admin/v1/register", self.url);
        let nonce: Value = self
            .http
            .get(&url)
            .send()
            .await
            .expect("nonce")
            .json()
            .await
            .expect("json");
        let nonce = nonce["nonce"].as_str().expect("nonce");
        let mut mac =
            Hmac::<sha1::Sha1>::new_from_slice(SHARED_SECRET.as_bytes()).expect("hmac key");
        let kind = if admin { "admin" } else { "notadmin" };
        mac.update(format!("{nonce}\0{localpart}\0{password}\0{kind}").as_bytes());
        let digest = hex::encode(mac.finalize().into_bytes());
        let resp = self
            .http
            .post(&url)
            .json(&json!({"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": digest}))
            .send()
            .await
            .expect("register");
        assert!(
            resp.status().is_success(),
            "register {localpart}: {}",
            resp.text().await.unwrap_or_default()
        );
        format!("@{localpart}:localhost")
    }

    /// A registered, logged-in test user speaking the Client-Server API.
    pub async fn user(&self, prefix: &str) -> MatrixUser {
        let localpart = format!("{prefix}{}", rand::random::<u32>());
        let user_id = self.register(&localpart, "pw", false).await;
        let token = self.login(&localpart, "pw").await;
        MatrixUser {
            user_id,
            token,
            url: self.url.clone(),
            // A user lives inside one test, so its own pooled client is safe.
            http: reqwest::Client::new(),
        }
    }

    /// Lifts the message rate limit for one user (through a throwaway admin account).
    pub async fn exempt_from_rate_limits(&self, user_id: &str) {
        let admin = format!("admin{}", rand::random::<u32>());
        self.register(&admin, "pw", true).await;
        let token = self.login(&admin, "pw").await;
        let url = format!(
            "{}/_synapse/admin/v1/users/{}/override_ratelimit",
            self.url,
            enc(user_id)
        );
        let resp = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(&json!({"messages_per_second": 0, "burst_count": 0}))
            .send()
            .await
            .expect("override");
        assert!(
            resp.status().is_success(),
            "override_ratelimit: {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// Logs a user in; returns the access token.
    pub async fn login(&self, localpart: &str, password: &str) -> String {
        let resp: Value = self
            .http
            .post(format!("{}/_matrix/client/v3/login", self.url))
            .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart}, "password": password}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        resp["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}

/// A human in the tests, driving Synapse with plain Client-Server API calls.
#[derive(Clone)]
pub struct MatrixUser {
    pub user_id: String,
    token: String,
    url: String,
    http: reqwest::Client,
}

impl MatrixUser {
    pub fn address(&self) -> String {
        format!("matrix:{}", self.user_id)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        for _ in 0..20 {
            let mut req = self
                .http
                .request(
                    method.clone(),
                    format!("{}/_matrix/client/v3{path}", self.url),
                )
                .bearer_auth(&self.token);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            if status.as_u16() == 429 {
                let ms = v["retry_after_ms"].as_u64().unwrap_or(500);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                continue;
            }
            assert!(status.is_success(), "{method} {path}: {status} {v}");
            return v;
        }
        panic!("{method} {path}: still rate limited");
    }

    /// Creates a room inviting `invite`; returns its id.
    pub async fn create_room(&self, invite: &[&str]) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/createRoom",
                Some(json!({"invite": invite, "preset": "private_chat"})),
            )
            .await;
        v["room_id"].as_str().expect("room_id").to_owned()
    }

    /// Invites a user to a room.
    pub async fn invite(&self, room: &str, user: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/rooms/{}/invite", enc(room)),
            Some(json!({"user_id": user})),
        )
        .await;
    }

    /// Joins a room.
    pub async fn join(&self, room: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/rooms/{}/join", enc(room)),
            Some(json!({})),
        )
        .await;
    }

    /// Sends an event; returns its id.
    pub async fn send(&self, room: &str, event_type: &str, content: Value) -> String {
        let txn = format!("t{}", rand::random::<u64>());
        let v = self
            .call(
                reqwest::Method::PUT,
                &format!("/rooms/{}/send/{event_type}/{txn}", enc(room)),
                Some(content),
            )
            .await;
        v["event_id"].as_str().expect("event_id").to_owned()
    }

    /// Sends a plain text message, optionally in a thread.
    pub async fn say(&self, room: &str, body: &str, thread: Option<&str>) -> String {
        let mut content = json!({"msgtype": "m.text", "body": body});
        if let Some(root) = thread {
            content["m.relates_to"] = json!({"rel_type": "m.thread", "event_id": root, "is_falling_back": true, "m.in_reply_to": {"event_id": root}});
        }
        self.send(room, "m.room.message", content).await
    }

    /// Reacts to an event.
    pub async fn react(&self, room: &str, target: &str, key: &str) -> String {
        let content =
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}});
        self.send(room, "m.reaction", content).await
    }

    /// Redacts an event.
    pub async fn redact(&self, room: &str, event: &str) {
        let txn = format!("r{}", rand::random::<u64>());
        self.call(
            reqwest::Method::PUT,
            &format!("/rooms/{}/redact/{}/{txn}", enc(room), enc(event)),
            Some(json!({})),
        )
        .await;
    }

    /// The room's message events, oldest first.
    pub async fn messages(&self, room: &str) -> Vec<Value> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/rooms/{}/messages?dir=b&limit=200", enc(room)),
                None,
            )
            .await;
        let mut events: Vec<Value> = v["chunk"].as_array().cloned().unwrap_or_default();
        events.reverse();
        events
    }

    /// Events sent by `sender` of `event_type`, oldest first.
    pub async fn events_from(&self, room: &str, sender: &str, event_type: &str) -> Vec<Value> {
        self.messages(room)
            .await
            .into_iter()
            .filter(|e| e["sender"] == sender && e["type"] == event_type)
            .collect()
    }

    /// Waits for a message from `sender` whose body contains `needle`; returns the latest such event.
    pub async fn wait_for_text(&self, room: &str, sender: &str, needle: &str) -> Value {
        let has = |e: &Value| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains(needle))
        };
        let events = self
            .wait_for(room, sender, needle, |events| events.iter().any(has))
            .await;
        events
            .into_iter()
            .rfind(has)
            .expect("a message that matched")
    }

    /// Waits until `check` holds for the events from `sender`.
    pub async fn wait_for(
        &self,
        room: &str,
        sender: &str,
        what: &str,
        check: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        for _ in 0..300 {
            let events = self.events_from(room, sender, "m.room.message").await;
            if check(&events) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "timed out waiting for {what}: {:?}",
            self.events_from(room, sender, "m.room.message").await
        );
    }
}

/// Percent-encodes an id for a URL path.
pub fn enc(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
