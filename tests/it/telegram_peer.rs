//! The Telegram Bot API emulator (npm telegram-test-api + our layer) as a test peer, and a simulated user.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Bot token the tests use; the emulator makes 123456 the bot's user id.
pub const TOKEN: &str = "123456:TEST";
/// The emulator's default bot username.
pub const BOT: &str = "aura_test_bot";

/// A running emulator on a random port; killed when dropped.
pub struct TelegramPeer {
    _child: tokio::process::Child,
    pub url: String,
    http: reqwest::Client,
}

/// A Telegram chat as the emulator knows it.
#[derive(Debug, Clone, Copy)]
pub struct Chat {
    pub id: i64,
    pub group: bool,
}

impl Chat {
    pub fn json(&self) -> Value {
        if self.group {
            json!({"id": self.id, "type": "supergroup", "title": format!("ops {}", self.id)})
        } else {
            json!({"id": self.id, "type": "private", "first_name": "Someone"})
        }
    }
}

/// A Telegram user.
#[derive(Debug, Clone, Copy)]
pub struct User {
    pub id: i64,
    pub name: &'static str,
}

impl User {
    pub fn json(&self) -> Value {
        json!({"id": self.id, "is_bot": false, "first_name": self.name, "username": self.name.to_lowercase()})
    }

    pub fn address(&self) -> String {
        format!("telegram:{}", self.id)
    }
}

impl TelegramPeer {
    /// Starts the emulator (installed by scripts/test.sh with `npm ci`).
    pub async fn start() -> TelegramPeer {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/telegram");
        assert!(
            std::path::Path::new(dir)
                .join("node_modules/telegram-test-api")
                .is_dir(),
            "the Telegram emulator is not installed: run ./scripts/test.sh (or npm ci in {dir})"
        );
        let mut child = tokio::process::Command::new("node")
            .arg("server.js")
            .current_dir(dir)
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("emulator starts within 20 s")
            .expect("read")
            .expect("ready line");
        let ready: Value = serde_json::from_str(&ready).expect("ready json");
        let port = ready["port"].as_u64().expect("port");
        TelegramPeer {
            _child: child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("json")
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("POST")
            .json()
            .await
            .expect("json")
    }

    /// Delivers a raw update (without update_id) to the bot; returns its update_id.
    pub async fn deliver(&self, update: Value) -> i64 {
        self.post("/_aura/update", update).await["update_id"]
            .as_i64()
            .expect("update_id")
    }

    /// A user writes `text` in `chat` as message `message_id`, optionally replying to `reply_to`.
    pub async fn says(
        &self,
        chat: Chat,
        from: User,
        message_id: i64,
        text: &str,
        reply_to: Option<i64>,
    ) -> i64 {
        self.deliver(json!({"message": message(chat, from, message_id, text, reply_to)}))
            .await
    }

    /// A user presses a button carrying `data` on the bot's message `message_id` in `chat`.
    pub async fn presses(&self, chat: Chat, from: User, message_id: i64, data: &str) -> String {
        let id = format!("cb{}", rand::random::<u32>());
        self.deliver(json!({"callback_query": {
            "id": id, "from": from.json(), "chat_instance": format!("ci{}", chat.id), "data": data,
            "message": {"message_id": message_id, "date": 1_800_000_000, "chat": chat.json(), "text": "…",
                        "from": {"id": 123456, "is_bot": true, "first_name": "Aura"}}
        }}))
        .await;
        id
    }

    /// The bot's messages to a chat, with current text after edits.
    pub async fn sent(&self, chat: Chat) -> Vec<Value> {
        self.get(&format!("/_aura/sent?chat_id={}", chat.id))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until the bot sent at least `n` messages to `chat`.
    pub async fn wait_sent(&self, chat: Chat, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            let sent = self.sent(chat).await;
            if sent.len() >= n {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the bot did not send {n} messages to {}: {:?}",
            chat.id,
            self.sent(chat).await
        );
    }

    /// Waits until `check` holds for the bot's messages to `chat`.
    pub async fn wait_until(
        &self,
        chat: Chat,
        what: &str,
        check: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        for _ in 0..300 {
            let sent = self.sent(chat).await;
            if check(&sent) {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}: {:?}", self.sent(chat).await);
    }

    /// Waits for a bot message to `chat` whose text contains `needle`; returns the latest such message.
    pub async fn wait_for_text(&self, chat: Chat, needle: &str) -> Value {
        let has = |m: &Value| m["text"].as_str().is_some_and(|t| t.contains(needle));
        let sent = self.wait_until(chat, needle, |s| s.iter().any(has)).await;
        sent.into_iter().rfind(has).expect("a message that matched")
    }

    /// Every answerCallbackQuery, in order.
    pub async fn answers(&self) -> Vec<Value> {
        self.get("/_aura/callback_answers")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits for the answer to callback `id` and returns its text.
    pub async fn answer_to(&self, id: &str) -> String {
        for _ in 0..300 {
            if let Some(a) = self
                .answers()
                .await
                .into_iter()
                .find(|a| a["callback_query_id"] == id)
            {
                return a["text"].as_str().unwrap_or_default().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "callback {id} was never answered: {:?}",
            self.answers().await
        );
    }

    /// Makes the next `count` calls of `method` (to `chat`) answer 429 with `retry_after`.
    pub async fn rate_limit(&self, method: &str, chat: Chat, count: u32, retry_after: u32) {
        self.post("/_aura/fail", json!({"method": method, "chat_id": chat.id, "count": count, "retry_after": retry_after}))
            .await;
    }

    /// Bot API calls of `method`, in arrival order.
    pub async fn calls(&self, method: &str) -> Vec<Value> {
        self.get(&format!("/_aura/calls?method={method}"))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// A Telegram message object.
pub fn message(
    chat: Chat,
    from: User,
    message_id: i64,
    text: &str,
    reply_to: Option<i64>,
) -> Value {
    let mut m = json!({
        "message_id": message_id, "date": 1_800_000_000, "chat": chat.json(), "from": from.json(), "text": text
    });
    if text.starts_with('/') {
        let len = text
            .split_whitespace()
            .next()
            .map_or(0, |w| w.encode_utf16().count());
        m["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
    }
    if let Some(r) = reply_to {
        m["reply_to_message"] = json!({"message_id": r, "date": 1_800_000_000, "chat": chat.json(),
                                        "from": {"id": 123456, "is_bot": true, "first_name": "Aura"}, "text": "…"});
    }
    m
}
