//! A faithful fake of Discord (no open-source server exists): REST under `/api/v10` and a gateway WebSocket on a
//! port of its own, stateful, speaking the documented payloads, driven by the test like users would, recording
//! everything the bot sent.

mod gateway;
pub mod payloads;
mod rest;
pub mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use state::{Fake, Msg};

/// The bot token the fake accepts.
pub const TOKEN: &str = "FAKE-bot-token.aura";
/// The bot user's id.
pub const BOT_ID: u64 = 4242;
pub const BOT_NAME: &str = "aura";
/// The application's id.
pub const APP_ID: u64 = 4343;
/// `#ops` in the test guild.
pub const OPS: u64 = 5;
/// `#elsewhere` in another guild.
pub const OTHER: u64 = 6;
/// Alice's DM with the bot.
pub const DM: u64 = 9;

/// Someone on the fake Discord.
#[derive(Debug, Clone, Copy)]
pub struct Person {
    pub id: u64,
    pub name: &'static str,
}

impl Person {
    /// The user address Aura knows them by.
    pub fn address(&self) -> String {
        format!("discord:{}", self.id)
    }
}

pub const ALICE: Person = Person {
    id: 1001,
    name: "alice",
};
pub const BOB: Person = Person {
    id: 1002,
    name: "bob",
};
pub const MALLORY: Person = Person {
    id: 1003,
    name: "mallory",
};

/// A running fake; its servers stop when it is dropped.
pub struct DiscordFake {
    pub url: String,
    fake: Arc<Mutex<Fake>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DiscordFake {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl DiscordFake {
    /// Starts REST and gateway on free loopback ports, with `#ops`, `#elsewhere` and Alice's DM.
    pub async fn start() -> DiscordFake {
        let rest_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind rest");
        let gw_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let url = format!("http://{}", rest_listener.local_addr().expect("addr"));
        let gw = gw_listener.local_addr().expect("addr");
        let mut world = Fake::default().with_users(&[
            (ALICE.id, ALICE.name),
            (BOB.id, BOB.name),
            (MALLORY.id, MALLORY.name),
        ]);
        for (id, kind, guild, name) in [
            (OPS, 0, Some(payloads::GUILD), "ops"),
            (OTHER, 0, Some(payloads::OTHER_GUILD), "elsewhere"),
            (DM, 1, None, "alice"),
        ] {
            let channel = state::Channel {
                id,
                kind,
                guild,
                parent: None,
                name: name.into(),
            };
            world.channels.insert(id, channel);
        }
        let fake = Arc::new(Mutex::new(world));
        let ctx = rest::Ctx {
            fake: fake.clone(),
            gateway_url: Arc::new(Mutex::new(format!("ws://{gw}/gateway"))),
        };
        let app = rest::router(ctx);
        let rest_task = tokio::spawn(async move {
            let _ = axum::serve(rest_listener, app).await;
        });
        let gw_task = tokio::spawn(gateway::serve(
            gw_listener,
            fake.clone(),
            format!("ws://{gw}/resume"),
        ));
        DiscordFake {
            url,
            fake,
            tasks: vec![rest_task, gw_task],
        }
    }

    /// The fake's state, for assertions.
    pub fn state(&self) -> MutexGuard<'_, Fake> {
        self.fake.lock().expect("fake state")
    }

    /// Polls `check` until it gives a value (20 s at most).
    pub async fn wait_for<T>(&self, what: &str, check: impl Fn(&Fake) -> Option<T>) -> T {
        for _ in 0..400 {
            if let Some(v) = check(&self.state()) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Waits until a bot session is live on the gateway.
    pub async fn wait_ready(&self) {
        self.wait_for("the bot's gateway session", |f| {
            f.gateway.live.then_some(())
        })
        .await;
    }

    /// `who` writes `text` in `channel` (a thread is a channel too); returns the message id.
    pub fn says(&self, channel: u64, who: Person, text: &str) -> u64 {
        self.state().user_says(channel, who.id, text, None)
    }

    /// `who` replies to message `to`.
    pub fn replies(&self, channel: u64, who: Person, text: &str, to: u64) -> u64 {
        self.state().user_says(channel, who.id, text, Some(to))
    }

    /// The same MESSAGE_CREATE once more, with a new sequence number (Discord may deliver an event twice).
    pub fn redeliver(&self, message: u64) {
        let mut f = self.state();
        let body = f
            .messages
            .get(&message)
            .map(|m| m.body.clone())
            .expect("a delivered message");
        f.gateway.dispatch("MESSAGE_CREATE", body);
    }

    /// `who` runs slash command `name` with `options` (`[{name, type, value}]`); returns the interaction id.
    pub fn slash(&self, channel: u64, who: Person, name: &str, options: Value) -> u64 {
        let d = self.slash_json(channel, who, name, options);
        self.state()
            .gateway
            .dispatch("INTERACTION_CREATE", d.clone());
        id_of(&d)
    }

    /// A slash command interaction, registered with the fake but not delivered (for the interactions endpoint).
    pub fn slash_json(&self, channel: u64, who: Person, name: &str, options: Value) -> Value {
        let mut f = self.state();
        let command = f
            .commands
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["id"].as_str())
            .and_then(|s| s.parse().ok());
        let command = command.unwrap_or_else(|| f.snowflake());
        f.interact(
            2,
            channel,
            who.id,
            payloads::command_data(command, name, options),
            None,
        )
    }

    /// `who` clicks the button `custom_id` on message `message`, seen in `channel`; returns the interaction id.
    pub fn click(&self, channel: u64, who: Person, message: u64, custom_id: &str) -> u64 {
        let mut f = self.state();
        let d = f.interact(
            3,
            channel,
            who.id,
            payloads::button_data(custom_id),
            Some(message),
        );
        f.gateway.dispatch("INTERACTION_CREATE", d.clone());
        id_of(&d)
    }

    /// Discord received Aura's HTTP answer `body` to interaction `id` (interactions endpoint mode).
    pub fn answered_over_http(&self, id: u64, body: &Value) {
        let mut f = self.state();
        let token = f
            .interactions
            .get(&id)
            .map(|i| i.token.clone())
            .expect("a delivered interaction");
        f.acknowledge(id, &token, body)
            .expect("a timely, first answer");
    }

    /// Breaks the gateway connection without a close frame, like a network failure.
    pub fn drop_connection(&self) {
        let mut f = self.state();
        if let Some((_, tx)) = f.gateway.conn.take() {
            let _ = tx.send(state::Out::Drop);
        }
        f.gateway.live = false;
    }

    /// The next `count` calls of `method` on paths containing `path` answer 429 with `retry_after` seconds.
    pub fn rate_limit(&self, method: &str, path: &str, count: u32, retry_after: f64, global: bool) {
        self.state().failures.push(state::Failure {
            method: method.into(),
            path_contains: path.into(),
            remaining: count,
            retry_after,
            global,
        });
    }

    /// Waits for the bot's visible messages in `channel` to satisfy `check`; returns them.
    pub async fn wait_messages(
        &self,
        channel: u64,
        what: &str,
        check: impl Fn(&[Msg]) -> bool,
    ) -> Vec<Msg> {
        self.wait_for(what, |f| {
            let msgs = f.bot_messages(channel);
            check(&msgs).then_some(msgs)
        })
        .await
    }

    /// The text of the ephemeral answer to interaction `id`, checked to be shown only to its user.
    pub async fn ephemeral_answer(&self, id: u64) -> String {
        self.wait_for("an ephemeral answer", |f| {
            let user = f.interactions.get(&id)?.user;
            let m = f
                .messages
                .values()
                .find(|m| m.interaction == Some(id) && m.flags & 64 != 0)?;
            assert_eq!(m.for_user, Some(user), "shown to the clicker only");
            Some(m.content.clone())
        })
        .await
    }
}

fn id_of(d: &Value) -> u64 {
    d["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id")
}
