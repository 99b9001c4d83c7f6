//! Discord objects as the API documents them (discord-api-docs), built as JSON; a unit test reads every one back
//! with serenity's models, because serenity silently drops an event that lacks a field it requires.

use serde_json::{Value, json};

/// The guild the test channels are in.
pub const GUILD: u64 = 1;
/// Another guild, for wrong-place clicks.
pub const OTHER_GUILD: u64 = 2;
const TIMESTAMP: &str = "2026-01-01T12:00:00.000000+00:00";

/// A user object.
pub fn user(id: u64, name: &str, bot: bool) -> Value {
    json!({"id": id.to_string(), "username": name, "discriminator": "0", "global_name": null,
           "avatar": null, "bot": bot, "public_flags": 0, "flags": 0, "banner": null, "accent_color": null})
}

/// A guild member object wrapping `user`.
pub fn member(user: Value) -> Value {
    json!({"user": user, "nick": null, "roles": [], "joined_at": TIMESTAMP, "deaf": false, "mute": false,
           "flags": 0, "pending": false, "permissions": "2248473465835073"})
}

/// A channel object: `kind` 0 text, 1 DM, 11 public thread.
pub fn channel(id: u64, kind: u8, guild: Option<u64>, parent: Option<u64>, name: &str) -> Value {
    let mut c = json!({"id": id.to_string(), "type": kind, "name": name, "flags": 0,
                       "parent_id": parent.map(|p| p.to_string()), "last_message_id": null});
    if let Some(g) = guild {
        c["guild_id"] = json!(g.to_string());
        c["position"] = json!(0);
        c["permission_overwrites"] = json!([]);
        c["nsfw"] = json!(false);
        c["rate_limit_per_user"] = json!(0);
    }
    if kind == 11 {
        c["owner_id"] = json!(crate::discord_fake::BOT_ID.to_string());
        c["message_count"] = json!(0);
        c["member_count"] = json!(1);
        c["thread_metadata"] = json!({"archived": false, "auto_archive_duration": 10080, "locked": false,
                                      "archive_timestamp": TIMESTAMP});
        c["total_message_sent"] = json!(0);
    }
    c
}

/// What a message looks like on the wire.
pub struct MessageSpec<'a> {
    pub id: u64,
    pub channel: u64,
    pub guild: Option<u64>,
    pub author: Value,
    pub content: &'a str,
    pub mentions: Vec<Value>,
    /// `(channel, message)` this one replies to, and the replied-to message object.
    pub reply: Option<(u64, u64, Value)>,
    pub components: Value,
    pub flags: u64,
}

/// A message object (and, with `guild`, the MESSAGE_CREATE extra fields `guild_id` and `member`).
pub fn message(m: MessageSpec<'_>) -> Value {
    let mut v = json!({
        "id": m.id.to_string(), "channel_id": m.channel.to_string(), "author": m.author,
        "content": m.content, "timestamp": TIMESTAMP, "edited_timestamp": null, "tts": false,
        "mention_everyone": false, "mentions": m.mentions, "mention_roles": [], "attachments": [],
        "embeds": [], "pinned": false, "type": if m.reply.is_some() { 19 } else { 0 },
        "flags": m.flags, "components": m.components
    });
    if let Some(g) = m.guild {
        v["guild_id"] = json!(g.to_string());
        let mut partial = member(Value::Null);
        if let Some(o) = partial.as_object_mut() {
            o.remove("user");
        }
        v["member"] = partial;
    }
    if let Some((channel, message, replied)) = m.reply {
        v["message_reference"] = json!({"type": 0, "channel_id": channel.to_string(),
                                        "message_id": message.to_string(), "guild_id": m.guild.map(|g| g.to_string())});
        v["referenced_message"] = replied;
    }
    v
}

/// What an interaction looks like on the wire.
pub struct InteractionSpec<'a> {
    pub id: u64,
    pub token: &'a str,
    /// 2 application command, 3 message component.
    pub kind: u8,
    pub data: Value,
    pub channel: Value,
    pub guild: Option<u64>,
    pub user: Value,
    /// The message a component is on.
    pub message: Option<Value>,
}

/// An interaction object as INTERACTION_CREATE (and the interactions endpoint) deliver it.
pub fn interaction(i: InteractionSpec<'_>) -> Value {
    let mut v = json!({
        "id": i.id.to_string(), "application_id": crate::discord_fake::APP_ID.to_string(), "type": i.kind,
        "data": i.data, "channel": i.channel.clone(), "channel_id": i.channel["id"], "token": i.token,
        "version": 1, "app_permissions": "2248473465835073", "locale": "en-US", "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD.to_string()}, "attachment_size_limit": 26214400,
    });
    match i.guild {
        Some(g) => {
            v["guild_id"] = json!(g.to_string());
            v["guild_locale"] = json!("en-US");
            v["member"] = member(i.user);
            v["context"] = json!(0);
        }
        None => {
            v["user"] = i.user;
            v["context"] = json!(1);
        }
    }
    if let Some(m) = i.message {
        v["message"] = m;
    }
    v
}

/// The `data` of a slash command with `options` (`[{name, type, value}]`).
pub fn command_data(id: u64, name: &str, options: Value) -> Value {
    json!({"id": id.to_string(), "name": name, "type": 1, "options": options})
}

/// The `data` of a button click.
pub fn button_data(custom_id: &str) -> Value {
    json!({"custom_id": custom_id, "component_type": 2})
}

/// READY.
pub fn ready(session_id: &str, resume_url: &str, bot: Value) -> Value {
    json!({"v": 10, "user": bot, "guilds": [{"id": GUILD.to_string(), "unavailable": true}],
           "session_id": session_id, "resume_gateway_url": resume_url, "shard": [0, 1],
           "application": {"id": crate::discord_fake::APP_ID.to_string(), "flags": 8953856},
           "user_settings": {}, "relationships": [], "private_channels": [], "presences": [],
           "guild_join_requests": [], "geo_ordered_rtc_regions": [], "_trace": ["fake"]})
}

/// A dispatch frame.
pub fn dispatch(seq: u64, kind: &str, d: Value) -> Value {
    json!({"op": 0, "s": seq, "t": kind, "d": d})
}

#[cfg(test)]
mod tests {
    use serenity::model::channel::{GuildChannel, Message};
    use serenity::model::event::{Event, GatewayEvent};
    use serenity::model::user::CurrentUser;

    use super::*;
    use crate::discord_fake::{BOT_ID, Fake};

    fn frame(kind: &str, d: Value) -> GatewayEvent {
        serde_json::from_value(dispatch(7, kind, d)).expect("a gateway event")
    }

    /// Every payload shape the fake sends, read with serenity's own models: a field serenity needs and the
    /// fake forgot would make it drop the event without a word.
    #[test]
    fn every_fake_payload_reads_as_serenity_models() {
        let bot = user(BOT_ID, "aura", true);
        let alice = user(1001, "alice", false);
        let plain =
            Fake::user_message_json(10, 5, Some(GUILD), 1001, "alice", "/ticket x", &[], None);
        let reply = Fake::user_message_json(
            11,
            5,
            Some(GUILD),
            1001,
            "alice",
            "more",
            &[],
            Some((5, 10, plain.clone())),
        );
        let dm = Fake::user_message_json(12, 9, None, 1001, "alice", "help", &[], None);
        for m in [&plain, &reply, &dm] {
            assert!(
                matches!(
                    frame("MESSAGE_CREATE", m.clone()),
                    GatewayEvent::Dispatch(7, Event::MessageCreate(_))
                ),
                "{m}"
            );
        }
        let bot_msg = message(MessageSpec {
            id: 20,
            channel: 5,
            guild: None,
            author: bot.clone(),
            content: "plan",
            mentions: vec![],
            reply: None,
            flags: 0,
            components: json!([{"type": 1, "components": [
                {"type": 2, "style": 3, "label": "Approve", "custom_id": "n1"}]}]),
        });
        serde_json::from_value::<Message>(bot_msg.clone()).expect("a REST message");
        let click = interaction(InteractionSpec {
            id: 30,
            token: "t",
            kind: 3,
            data: button_data("n1"),
            channel: channel(5, 0, Some(GUILD), None, "ops"),
            guild: Some(GUILD),
            user: alice.clone(),
            message: Some(bot_msg),
        });
        let slash = interaction(InteractionSpec {
            id: 31,
            token: "t",
            kind: 2,
            data: command_data(
                40,
                "ticket",
                json!([{"name": "text", "type": 3, "value": "x"}]),
            ),
            channel: channel(9, 1, None, None, "dm"),
            guild: None,
            user: alice,
            message: None,
        });
        for i in [click, slash] {
            assert!(
                matches!(
                    frame("INTERACTION_CREATE", i.clone()),
                    GatewayEvent::Dispatch(_, Event::InteractionCreate(_))
                ),
                "{i}"
            );
        }
        let thread = channel(10, 11, Some(GUILD), Some(5), "Ticket #1");
        assert!(matches!(
            frame("THREAD_CREATE", thread.clone()),
            GatewayEvent::Dispatch(_, Event::ThreadCreate(_))
        ));
        serde_json::from_value::<GuildChannel>(thread).expect("a thread");
        serde_json::from_value::<GuildChannel>(channel(5, 0, Some(GUILD), Some(3), "ops"))
            .expect("a text channel");
        assert!(matches!(
            frame("READY", ready("s1", "ws://r", bot.clone())),
            GatewayEvent::Dispatch(_, Event::Ready(_))
        ));
        assert!(matches!(
            frame("RESUMED", json!({"_trace": []})),
            GatewayEvent::Dispatch(_, Event::Resumed(_))
        ));
        serde_json::from_value::<CurrentUser>(bot).expect("GET /users/@me");
        let hello: GatewayEvent =
            serde_json::from_value(json!({"op": 10, "d": {"heartbeat_interval": 41250}}))
                .expect("hello");
        assert!(matches!(hello, GatewayEvent::Hello(41250)));
    }
}
