//! Telegram updates → inbound events (pure).

use teloxide::types::{
    CallbackQuery, MaybeInaccessibleMessage, Me, Message, MessageEntityKind, Update, UpdateKind,
    User,
};

use crate::chat::{ButtonPress, Inbound, InboundMessage};
use crate::domain::principal::Namespace;
use crate::domain::{ChatAddress, Platform, UserRef};

/// The inbound event an update carries, or None for updates Aura does not act on (edits, bots, media, …).
pub fn to_inbound(update: &Update, me: &Me) -> Option<Inbound> {
    match &update.kind {
        UpdateKind::Message(m) => message(m, me).map(Inbound::Message),
        UpdateKind::CallbackQuery(q) => press(q).map(Inbound::Button),
        // Edited messages are deliberately ignored: an edit must not turn an old message into a command.
        _ => None,
    }
}

fn user(u: &User) -> Option<UserRef> {
    UserRef::new(Namespace::Telegram, &u.id.0.to_string()).ok()
}

fn name(u: &User) -> String {
    u.username
        .as_ref()
        .map_or_else(|| u.full_name(), |n| format!("@{n}"))
}

fn message(m: &Message, me: &Me) -> Option<InboundMessage> {
    let from = m.from.as_ref().filter(|u| !u.is_bot)?;
    let text = m.text()?;
    let conversation = ChatAddress::new(Platform::Telegram, &m.chat.id.0.to_string()).ok()?;
    let (text, mentioned) = strip_mention(m, text, me);
    let replied_to_bot = m
        .reply_to_message()
        .and_then(|r| r.from.as_ref())
        .is_some_and(|u| u.id == me.user.id);
    Some(InboundMessage {
        conversation,
        direct: m.chat.is_private(),
        message_id: m.id.0.to_string(),
        // Only forum topics are threads; reply chains are followed through `reply_to`.
        thread: m
            .is_topic_message
            .then(|| m.thread_id.map(|t| t.0.0.to_string()))
            .flatten(),
        reply_to: m
            .reply_to_message()
            .filter(|r| !(m.is_topic_message && Some(r.id) == m.thread_id.map(|t| t.0)))
            .map(|r| r.id.0.to_string()),
        sender: user(from)?,
        sender_name: name(from),
        text,
        mentions_bot: mentioned || replied_to_bot,
        bot_username: Some(me.username().to_owned()),
    })
}

/// Whether the bot is mentioned, and the text without a leading mention of it.
fn strip_mention(m: &Message, text: &str, me: &Me) -> (String, bool) {
    let handle = format!("@{}", me.username());
    let mut mentioned = false;
    let mut leading = None;
    for e in m.parse_entities().unwrap_or_default() {
        let ours = match e.kind() {
            MessageEntityKind::Mention => e.text().eq_ignore_ascii_case(&handle),
            MessageEntityKind::TextMention { user } => user.id == me.user.id,
            _ => false,
        };
        if ours {
            mentioned = true;
            if text[..e.start()].trim().is_empty() {
                leading = Some(e.end());
            }
        }
    }
    match leading {
        Some(end) => (text[end..].trim_start().to_owned(), mentioned),
        None => (text.to_owned(), mentioned),
    }
}

fn press(q: &CallbackQuery) -> Option<ButtonPress> {
    let msg: &MaybeInaccessibleMessage = q.message.as_ref()?;
    let conversation = ChatAddress::new(Platform::Telegram, &msg.chat().id.0.to_string()).ok()?;
    Some(ButtonPress {
        conversation,
        message_id: msg.id().0.to_string(),
        presser: user(&q.from)?,
        presser_name: name(&q.from),
        nonce: q.data.clone()?,
        callback_id: q.id.0.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn me() -> Me {
        serde_json::from_value(json!({
            "id": 4242, "is_bot": true, "first_name": "Aura", "username": "aura_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false, "has_main_web_app": false
        }))
        .expect("me")
    }

    fn update(message: serde_json::Value) -> Update {
        // From text, as the Bot API delivers it (teloxide's flattened Update does not read well from a Value).
        let u: Update =
            serde_json::from_str(&json!({"update_id": 7, "message": message}).to_string())
                .expect("update");
        assert!(matches!(u.kind, UpdateKind::Message(_)), "{:?}", u.kind);
        u
    }

    fn group_message(text: &str, entities: serde_json::Value) -> serde_json::Value {
        json!({
            "message_id": 10, "date": 1_800_000_000,
            "chat": {"id": -100123, "type": "supergroup", "title": "ops"},
            "from": {"id": 1001, "is_bot": false, "first_name": "Alice", "username": "alice"},
            "text": text, "entities": entities
        })
    }

    #[test]
    fn a_leading_mention_is_stripped_and_flagged() {
        let u = update(group_message(
            "@Aura_Bot why is payments down?",
            json!([{"type": "mention", "offset": 0, "length": 9}]),
        ));
        let Some(Inbound::Message(m)) = to_inbound(&u, &me()) else {
            panic!("a message")
        };
        assert!(m.mentions_bot);
        assert_eq!(m.text, "why is payments down?");
        assert_eq!(m.conversation.to_string(), "telegram:-100123");
        assert_eq!(m.sender.to_string(), "telegram:1001");
        assert_eq!(m.sender_name, "@alice");
        assert!(!m.direct);
    }

    #[test]
    fn another_users_mention_is_not_ours() {
        let u = update(group_message(
            "@bob look",
            json!([{"type": "mention", "offset": 0, "length": 4}]),
        ));
        let Some(Inbound::Message(m)) = to_inbound(&u, &me()) else {
            panic!("a message")
        };
        assert!(!m.mentions_bot);
        assert_eq!(m.text, "@bob look");
    }

    #[test]
    fn bots_and_edits_are_ignored() {
        let mut msg = group_message("/ticket x", json!([]));
        msg["from"]["is_bot"] = json!(true);
        assert_eq!(to_inbound(&update(msg), &me()), None);
        let edit: Update = serde_json::from_value(
            json!({"update_id": 8, "edited_message": group_message("/ticket x", json!([]))}),
        )
        .expect("update");
        assert_eq!(to_inbound(&edit, &me()), None);
    }

    #[test]
    fn a_button_press_carries_its_nonce_and_chat() {
        let u: Update = serde_json::from_str(
            &json!({"update_id": 9, "callback_query": {
                "id": "cb1", "chat_instance": "ci", "data": "00ff",
                "from": {"id": 1002, "is_bot": false, "first_name": "Bob"},
                "message": group_message("plan", json!([]))
            }})
            .to_string(),
        )
        .expect("update");
        let Some(Inbound::Button(b)) = to_inbound(&u, &me()) else {
            panic!("a press")
        };
        assert_eq!(
            (
                b.nonce.as_str(),
                b.callback_id.as_str(),
                b.message_id.as_str()
            ),
            ("00ff", "cb1", "10")
        );
        assert_eq!(b.presser.to_string(), "telegram:1002");
        assert_eq!(b.presser_name, "Bob");
    }
}
