//! Discord events (serenity's models) → inbound events (pure); where they happened is resolved beforehand.

use serenity::model::application::{
    CommandDataOptionValue, CommandInteraction, ComponentInteraction, ComponentInteractionDataKind,
};
use serenity::model::channel::{Message, MessageReferenceKind, MessageType};
use serenity::model::user::User;

use super::channels::Location;
use super::payload;
use crate::chat::{ButtonPress, InboundMessage};
use crate::domain::UserRef;
use crate::domain::command::CommandName;
use crate::domain::principal::Namespace;

/// Whether Aura reads a message at all: a person's (not a bot's or webhook's) new text message.
pub fn wanted(m: &Message) -> bool {
    !m.author.bot
        && m.webhook_id.is_none()
        && matches!(m.kind, MessageType::Regular | MessageType::InlineReply)
        && !m.content.trim().is_empty()
}

/// The inbound message a MESSAGE_CREATE carries, or None for what Aura does not read.
pub fn message(m: &Message, at: &Location, bot: u64) -> Option<InboundMessage> {
    if !wanted(m) {
        return None;
    }
    let (text, leading) = strip_mention(&m.content, bot);
    let mentioned = leading || m.mentions.iter().any(|u| u.id.get() == bot);
    let replied_to_bot = m
        .referenced_message
        .as_ref()
        .is_some_and(|r| r.author.id.get() == bot);
    let reply = m
        .message_reference
        .as_ref()
        .filter(|r| r.kind == MessageReferenceKind::Default)
        .and_then(|r| r.message_id);
    Some(InboundMessage {
        conversation: at.conversation.clone(),
        direct: at.direct,
        message_id: m.id.to_string(),
        thread: at.thread.clone(),
        // A message in a thread answers the thread's starter message (a thread has its starter's id).
        reply_to: reply.map(|id| id.to_string()).or_else(|| at.thread.clone()),
        sender: user(&m.author)?,
        sender_name: name(&m.author),
        text,
        mentions_bot: mentioned || replied_to_bot,
        bot_username: None,
    })
}

/// The text without a leading `<@bot>` (or `<@!bot>`) mention, and whether there was one.
fn strip_mention(content: &str, bot: u64) -> (String, bool) {
    let trimmed = content.trim_start();
    for mention in [format!("<@{bot}>"), format!("<@!{bot}>")] {
        if let Some(rest) = trimmed.strip_prefix(&mention) {
            let rest = rest
                .trim_start()
                .trim_start_matches([':', ','])
                .trim_start();
            return (rest.to_owned(), true);
        }
    }
    (content.to_owned(), false)
}

fn user(u: &User) -> Option<UserRef> {
    UserRef::new(Namespace::Discord, &u.id.to_string()).ok()
}

/// A display name for messages (never for decisions): the global display name, else `@username`.
fn name(u: &User) -> String {
    u.global_name
        .clone()
        .unwrap_or_else(|| format!("@{}", u.name))
}

/// A slash command as the text command it stands for (`/reject 42 too risky`), answered like one.
pub fn command(c: &CommandInteraction, at: &Location) -> Option<InboundMessage> {
    let cmd = CommandName::from_word(&c.data.name)?;
    let mut text = format!("/{}", cmd.word());
    for (arg, _) in payload::options(cmd) {
        let value = c
            .data
            .options
            .iter()
            .find(|o| o.name == arg)
            .map(|o| &o.value);
        let value = match value {
            Some(CommandDataOptionValue::String(s)) => s.clone(),
            Some(CommandDataOptionValue::Integer(n)) => n.to_string(),
            Some(CommandDataOptionValue::Number(n)) => n.to_string(),
            _ => continue,
        };
        text.push(' ');
        text.push_str(&value);
    }
    Some(InboundMessage {
        conversation: at.conversation.clone(),
        direct: at.direct,
        // The interaction stands in for the message: replies to it answer the interaction.
        message_id: c.id.to_string(),
        thread: at.thread.clone(),
        reply_to: None,
        sender: user(&c.user)?,
        sender_name: name(&c.user),
        text,
        mentions_bot: false,
        bot_username: None,
    })
}

/// A button click; `callback_id` is `interaction id:token`, what answering it needs.
pub fn press(c: &ComponentInteraction, at: &Location) -> Option<ButtonPress> {
    if !matches!(c.data.kind, ComponentInteractionDataKind::Button) {
        return None;
    }
    Some(ButtonPress {
        conversation: at.conversation.clone(),
        message_id: c.message.id.to_string(),
        presser: user(&c.user)?,
        presser_name: name(&c.user),
        nonce: c.data.custom_id.clone(),
        callback_id: format!("{}:{}", c.id, c.token),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use serenity::model::application::Interaction;

    use super::*;
    use crate::chat::discord::channels::Kind;

    const BOT: u64 = 4242;

    fn user_json(id: u64, name: &str) -> Value {
        json!({"id": id.to_string(), "username": name, "discriminator": "0", "global_name": null,
               "avatar": null, "bot": false, "public_flags": 0})
    }

    fn message_json(content: &str) -> Value {
        json!({"id": "900", "channel_id": "5", "guild_id": "1", "author": user_json(1001, "alice"),
               "content": content, "timestamp": "2026-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
               "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [],
               "embeds": [], "pinned": false, "type": 0, "flags": 0, "components": []})
    }

    fn parse(v: Value) -> Message {
        serde_json::from_value(v).expect("a Discord message")
    }

    fn in_channel() -> Location {
        Location::new(5, Kind::Guild).expect("location")
    }

    #[test]
    fn a_leading_bot_mention_is_stripped_and_flagged() {
        let mut v = message_json("<@4242> ticket disk full");
        v["mentions"] = json!([user_json(BOT, "aura")]);
        let m = message(&parse(v), &in_channel(), BOT).expect("read");
        assert_eq!(m.text, "ticket disk full");
        assert!(m.mentions_bot);
        assert_eq!(m.sender.to_string(), "discord:1001");
        assert_eq!(m.sender_name, "@alice");
        assert_eq!(m.conversation.to_string(), "discord:5");
        assert_eq!((m.thread, m.reply_to), (None, None));
    }

    #[test]
    fn a_message_in_a_thread_belongs_to_the_parent_and_answers_the_starter() {
        let at = Location::new(77, Kind::Thread { parent: 5 }).expect("location");
        let m = message(&parse(message_json("it is /var/log")), &at, BOT).expect("read");
        assert_eq!(m.conversation.to_string(), "discord:5");
        assert_eq!(m.thread.as_deref(), Some("77"));
        assert_eq!(m.reply_to.as_deref(), Some("77"));
        assert!(!m.mentions_bot);
    }

    #[test]
    fn bots_webhooks_and_system_messages_are_ignored() {
        let mut bot = message_json("/ticket x");
        bot["author"]["bot"] = json!(true);
        assert!(message(&parse(bot), &in_channel(), BOT).is_none());
        let mut hook = message_json("/ticket x");
        hook["webhook_id"] = json!("77");
        assert!(message(&parse(hook), &in_channel(), BOT).is_none());
        let mut pin = message_json("x");
        pin["type"] = json!(6);
        assert!(message(&parse(pin), &in_channel(), BOT).is_none());
    }

    fn interaction(v: Value) -> Interaction {
        serde_json::from_value(v).expect("an interaction")
    }

    fn interaction_json(kind: u8, data: Value) -> Value {
        json!({"id": "700", "application_id": "4242", "type": kind, "data": data, "guild_id": "1",
               "channel": {"id": "5", "type": 0}, "channel_id": "5",
               "member": {"user": user_json(1002, "bob"), "roles": [], "joined_at": "2026-01-01T00:00:00.000000+00:00",
                          "deaf": false, "mute": false, "flags": 0, "permissions": "0"},
               "token": "tok", "version": 1, "locale": "en-US", "guild_locale": "en-US",
               "entitlements": [], "authorizing_integration_owners": {}, "context": 0,
               "app_permissions": "0", "attachment_size_limit": 8388608})
    }

    #[test]
    fn a_slash_command_reads_as_its_text_command() {
        let data = json!({"id": "1", "name": "reject", "type": 1, "options": [
            {"name": "comment", "type": 3, "value": "too risky"}, {"name": "id", "type": 4, "value": 42}]});
        let Interaction::Command(c) = interaction(interaction_json(2, data)) else {
            panic!("a command")
        };
        let m = command(&c, &in_channel()).expect("read");
        assert_eq!(m.text, "/reject 42 too risky");
        assert_eq!(m.message_id, "700");
        assert_eq!(m.sender.to_string(), "discord:1002");
    }

    #[test]
    fn a_button_click_carries_the_nonce_and_how_to_answer_it() {
        let mut v = interaction_json(3, json!({"custom_id": "ab12", "component_type": 2}));
        let mut msg = message_json("plan");
        msg["author"] = user_json(BOT, "aura");
        v["message"] = msg;
        let Interaction::Component(c) = interaction(v) else {
            panic!("a click")
        };
        let p = press(&c, &in_channel()).expect("read");
        assert_eq!(
            (
                p.nonce.as_str(),
                p.callback_id.as_str(),
                p.message_id.as_str()
            ),
            ("ab12", "700:tok", "900")
        );
        assert_eq!(p.presser.to_string(), "discord:1002");
    }
}
