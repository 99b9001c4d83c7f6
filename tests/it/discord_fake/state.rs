//! The fake's world: channels, messages, interactions, the gateway session with its event log, and every REST call.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::payloads::{self, InteractionSpec, MessageSpec};
use super::{BOT_ID, BOT_NAME};

/// Discord's window for acknowledging an interaction.
pub const ACK_WINDOW: Duration = Duration::from_secs(3);

/// A channel the fake knows.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: u64,
    pub kind: u8,
    pub guild: Option<u64>,
    pub parent: Option<u64>,
    pub name: String,
}

impl Channel {
    pub fn json(&self) -> Value {
        payloads::channel(self.id, self.kind, self.guild, self.parent, &self.name)
    }
}

/// A message, as it stands now.
#[derive(Debug, Clone)]
pub struct Msg {
    pub id: u64,
    pub channel: u64,
    pub author: u64,
    pub content: String,
    pub components: Value,
    /// The message it replies to.
    pub reply_to: Option<u64>,
    /// 64 = ephemeral (shown only to `for_user`).
    pub flags: u64,
    pub for_user: Option<u64>,
    /// The interaction it answers, for interaction responses and follow-ups.
    pub interaction: Option<u64>,
    pub edits: u32,
    /// The last JSON body the bot sent for it (for a person's message: its MESSAGE_CREATE).
    pub body: Value,
}

/// An interaction the fake delivered.
#[derive(Debug, Clone)]
pub struct Interaction {
    pub id: u64,
    pub token: String,
    pub kind: u8,
    pub channel: u64,
    pub user: u64,
    pub created: Instant,
    /// The callback type and how long after delivery it came.
    pub ack: Option<(u64, Duration)>,
    /// The message the deferred response became.
    pub original: Option<u64>,
}

/// One REST call the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub at: Instant,
}

/// A 429 to answer on demand.
#[derive(Debug, Clone)]
pub struct Failure {
    pub method: String,
    pub path_contains: String,
    pub remaining: u32,
    pub retry_after: f64,
    pub global: bool,
}

/// What the gateway connection is sent.
#[derive(Debug)]
pub enum Out {
    Text(String),
    /// Close the connection without a close frame, like a network failure.
    Drop,
}

/// The gateway session and its event log (for RESUME replays).
#[derive(Debug, Default)]
pub struct Gateway {
    pub session: Option<String>,
    pub seq: u64,
    pub log: Vec<(u64, String)>,
    pub conn: Option<(u64, UnboundedSender<Out>)>,
    /// IDENTIFY or RESUME succeeded on the current connection.
    pub live: bool,
    pub identifies: u32,
    pub resumes: u32,
    pub connections: u32,
    /// The query string of every connection (`v=10&encoding=json`).
    pub queries: Vec<String>,
    pub intents: Option<u64>,
    /// The `d` of every heartbeat.
    pub heartbeats: Vec<Value>,
}

impl Gateway {
    /// Sends a dispatch now (when connected) and logs it for replays.
    pub fn dispatch(&mut self, kind: &str, d: Value) {
        if self.session.is_none() {
            return;
        }
        self.seq += 1;
        let frame = payloads::dispatch(self.seq, kind, d).to_string();
        self.log.push((self.seq, frame.clone()));
        if self.live {
            self.send(frame);
        }
    }

    pub fn send(&self, frame: String) {
        if let Some((_, tx)) = &self.conn {
            let _ = tx.send(Out::Text(frame));
        }
    }
}

/// Everything the fake holds.
#[derive(Debug, Default)]
pub struct Fake {
    next_id: u64,
    pub channels: HashMap<u64, Channel>,
    pub messages: BTreeMap<u64, Msg>,
    pub interactions: HashMap<u64, Interaction>,
    pub threads_started: Vec<(u64, u64)>,
    pub commands: Vec<Value>,
    pub calls: Vec<Call>,
    pub failures: Vec<Failure>,
    pub windows: HashMap<String, VecDeque<Instant>>,
    pub nonces: HashMap<(u64, String), u64>,
    pub gateway: Gateway,
    /// User display names by id.
    pub users: HashMap<u64, String>,
}

impl Fake {
    /// A fresh snowflake, larger than every earlier one.
    pub fn snowflake(&mut self) -> u64 {
        self.next_id = self.next_id.max(1_300_000_000_000_000_000) + 1;
        self.next_id
    }

    pub fn user_json(&self, id: u64) -> Value {
        let name = self
            .users
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("user{id}"));
        payloads::user(id, &name, id == BOT_ID)
    }

    /// A person's message as MESSAGE_CREATE carries it.
    #[allow(clippy::too_many_arguments)]
    pub fn user_message_json(
        id: u64,
        channel: u64,
        guild: Option<u64>,
        author: u64,
        name: &str,
        content: &str,
        mentions: &[Value],
        reply: Option<(u64, u64, Value)>,
    ) -> Value {
        payloads::message(MessageSpec {
            id,
            channel,
            guild,
            author: payloads::user(author, name, author == BOT_ID),
            content,
            mentions: mentions.to_vec(),
            reply,
            components: json!([]),
            flags: 0,
        })
    }

    /// A stored message as the API returns it.
    pub fn message_json(&self, m: &Msg) -> Value {
        let guild = self.channels.get(&m.channel).and_then(|c| c.guild);
        let mut v = payloads::message(MessageSpec {
            id: m.id,
            channel: m.channel,
            guild: None,
            author: self.user_json(m.author),
            content: &m.content,
            mentions: vec![],
            reply: None,
            components: m.components.clone(),
            flags: m.flags,
        });
        if let Some(g) = guild {
            v["guild_id"] = json!(g.to_string());
        }
        if let Some(r) = m.reply_to {
            v["message_reference"] = json!({"type": 0, "channel_id": m.channel.to_string(), "message_id": r.to_string()});
        }
        v
    }

    /// The guild of a channel, following a thread to its parent.
    pub fn guild_of(&self, channel: u64) -> Option<u64> {
        self.channels.get(&channel).and_then(|c| c.guild)
    }

    /// A person writes `content` in `channel`; returns the message id.
    pub fn user_says(
        &mut self,
        channel: u64,
        author: u64,
        content: &str,
        reply_to: Option<u64>,
    ) -> u64 {
        let id = self.snowflake();
        let guild = self.guild_of(channel);
        let mentions: Vec<Value> = content
            .split("<@")
            .skip(1)
            .filter_map(|rest| {
                rest.trim_start_matches('!')
                    .split('>')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .map(|u| self.user_json(u))
            .collect();
        let reply = reply_to.and_then(|r| {
            let m = self.messages.get(&r)?;
            Some((m.channel, r, self.message_json(m)))
        });
        let name = self.users.get(&author).cloned().unwrap_or_default();
        let d =
            Fake::user_message_json(id, channel, guild, author, &name, content, &mentions, reply);
        self.messages.insert(
            id,
            Msg {
                id,
                channel,
                author,
                content: content.to_owned(),
                components: json!([]),
                reply_to,
                flags: 0,
                for_user: None,
                interaction: None,
                edits: 0,
                body: d.clone(),
            },
        );
        self.gateway.dispatch("MESSAGE_CREATE", d);
        id
    }

    /// Delivers an interaction (over the gateway) and returns it as sent.
    pub fn interact(
        &mut self,
        kind: u8,
        channel: u64,
        user: u64,
        data: Value,
        message: Option<u64>,
    ) -> Value {
        let id = self.snowflake();
        let token = format!("itok{id}x{}", rand::random::<u32>());
        let message = message
            .and_then(|m| self.messages.get(&m))
            .map(|m| self.message_json(m));
        let channel_json = self
            .channels
            .get(&channel)
            .map(Channel::json)
            .unwrap_or(Value::Null);
        let d = payloads::interaction(InteractionSpec {
            id,
            token: &token,
            kind,
            data,
            channel: channel_json,
            guild: self.guild_of(channel),
            user: self.user_json(user),
            message,
        });
        self.interactions.insert(
            id,
            Interaction {
                id,
                token,
                kind,
                channel,
                user,
                created: Instant::now(),
                ack: None,
                original: None,
            },
        );
        d
    }

    /// Takes an interaction's first answer (the callback, or the HTTP answer in endpoint mode) as Discord does:
    /// only with the right token, once, within 3 s; a deferred answer shows as a loading message.
    pub fn acknowledge(
        &mut self,
        id: u64,
        token: &str,
        body: &Value,
    ) -> Result<(), (StatusCode, u64, &'static str)> {
        let unknown = (StatusCode::NOT_FOUND, 10062, "Unknown interaction");
        let i = self
            .interactions
            .get(&id)
            .filter(|i| i.token == token)
            .cloned()
            .ok_or(unknown)?;
        let elapsed = i.created.elapsed();
        if elapsed > ACK_WINDOW {
            return Err(unknown);
        }
        if i.ack.is_some() {
            return Err((
                StatusCode::BAD_REQUEST,
                40060,
                "Interaction has already been acknowledged.",
            ));
        }
        let kind = body["type"].as_u64().unwrap_or_default();
        if kind == 6 && i.kind != 3 {
            return Err((
                StatusCode::BAD_REQUEST,
                50035,
                "Invalid Form Body (type: only for components)",
            ));
        }
        let original = match kind {
            4 => self.bot_posts(i.channel, &body["data"], Some(id), None),
            5 => self.bot_posts(
                i.channel,
                &json!({"content": "", "flags": 128}),
                Some(id),
                None,
            ),
            6 => Value::Null,
            _ => return Err((StatusCode::BAD_REQUEST, 50035, "Invalid Form Body (type)")),
        };
        if let Some(i) = self.interactions.get_mut(&id) {
            i.ack = Some((kind, elapsed));
            i.original = original["id"].as_str().and_then(|s| s.parse().ok());
        }
        Ok(())
    }

    /// Stores a message the bot posted (or an interaction answer) and returns it as the API does.
    pub fn bot_posts(
        &mut self,
        channel: u64,
        body: &Value,
        interaction: Option<u64>,
        for_user: Option<u64>,
    ) -> Value {
        let id = self.snowflake();
        let msg = Msg {
            id,
            channel,
            author: BOT_ID,
            content: body["content"].as_str().unwrap_or_default().to_owned(),
            components: body.get("components").cloned().unwrap_or(json!([])),
            reply_to: body["message_reference"]["message_id"]
                .as_str()
                .and_then(|s| s.parse().ok()),
            flags: body["flags"].as_u64().unwrap_or(0),
            for_user,
            interaction,
            edits: 0,
            body: body.clone(),
        };
        let json = self.message_json(&msg);
        self.messages.insert(id, msg);
        json
    }

    /// The bot's visible messages in `channel` (threads are channels of their own), oldest first.
    pub fn bot_messages(&self, channel: u64) -> Vec<Msg> {
        self.messages
            .values()
            .filter(|m| m.channel == channel && m.author == BOT_ID && m.flags & 64 == 0)
            .cloned()
            .collect()
    }

    /// Registers the standard bot name.
    pub fn with_users(mut self, users: &[(u64, &str)]) -> Fake {
        self.users.insert(BOT_ID, BOT_NAME.into());
        for (id, name) in users {
            self.users.insert(*id, (*name).to_owned());
        }
        self
    }
}
