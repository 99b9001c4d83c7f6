//! Matrix timeline events (raw JSON) → inbound events (pure).

use serde_json::Value;

use crate::chat::{Inbound, InboundMessage, Reaction, Redaction};
use crate::domain::principal::Namespace;
use crate::domain::{ChatAddress, Platform, UserRef};

/// Who the bot is, for ignoring its own events and spotting mentions.
#[derive(Debug, Clone)]
pub struct Me<'a> {
    pub user_id: &'a str,
    pub display_name: Option<&'a str>,
}

/// The inbound event a timeline event carries, or None for what Aura does not act on
/// (its own events, edits, notices, state, undecryptable events, …).
pub fn to_inbound(room_id: &str, event: &Value, me: &Me<'_>, direct: bool) -> Option<Inbound> {
    let sender = event["sender"].as_str()?;
    if sender == me.user_id {
        return None;
    }
    let conversation = ChatAddress::new(Platform::Matrix, room_id).ok()?;
    let user = UserRef::new(Namespace::Matrix, sender).ok()?;
    let event_id = event["event_id"].as_str()?.to_owned();
    let content = &event["content"];
    match event["type"].as_str()? {
        "m.room.message" => {
            message(conversation, user, event_id, content, me, direct).map(Inbound::Message)
        }
        "m.reaction" => {
            let rel = &content["m.relates_to"];
            (rel["rel_type"] == "m.annotation").then_some(())?;
            Some(Inbound::Reaction(Reaction {
                conversation,
                reaction_id: event_id,
                target: rel["event_id"].as_str()?.to_owned(),
                key: rel["key"].as_str()?.to_owned(),
                reactor_name: sender.to_owned(),
                reactor: user,
            }))
        }
        // Room versions up to 10 carry `redacts` at the top level, 11 and later in the content.
        "m.room.redaction" => Some(Inbound::Redaction(Redaction {
            conversation,
            redacts: event["redacts"]
                .as_str()
                .or_else(|| content["redacts"].as_str())?
                .to_owned(),
            by: user,
        })),
        _ => None,
    }
}

fn message(
    conversation: ChatAddress,
    sender: UserRef,
    event_id: String,
    content: &Value,
    me: &Me<'_>,
    direct: bool,
) -> Option<InboundMessage> {
    let rel = &content["m.relates_to"];
    // An edit must never turn an old message into a command; notices are what bots send.
    if rel["rel_type"] == "m.replace" || content["msgtype"] != "m.text" {
        return None;
    }
    let thread = (rel["rel_type"] == "m.thread")
        .then(|| rel["event_id"].as_str().map(str::to_owned))
        .flatten();
    // In a thread, `m.in_reply_to` with is_falling_back is only a fallback for clients without threads.
    let reply_to = (rel["is_falling_back"] != true)
        .then(|| rel["m.in_reply_to"]["event_id"].as_str().map(str::to_owned))
        .flatten();
    let body = strip_reply_fallback(content["body"].as_str()?, reply_to.is_some());
    let (text, mentioned) = strip_mention(&body, content, me);
    Some(InboundMessage {
        conversation,
        direct,
        message_id: event_id,
        thread,
        reply_to,
        sender_name: sender.id().to_owned(),
        sender,
        text,
        mentions_bot: mentioned,
        bot_username: None,
    })
}

/// Old clients quote the replied-to message as leading "> " lines and a blank line.
fn strip_reply_fallback(body: &str, is_reply: bool) -> String {
    if !is_reply || !body.starts_with("> ") {
        return body.to_owned();
    }
    match body.split_once("\n\n") {
        Some((quote, rest)) if quote.lines().all(|l| l.starts_with('>')) => rest.to_owned(),
        _ => body.to_owned(),
    }
}

/// Whether the bot is mentioned (intentional mentions, a pill, or its id in the text) and the text without a
/// leading mention.
fn strip_mention(body: &str, content: &Value, me: &Me<'_>) -> (String, bool) {
    let in_mentions = content["m.mentions"]["user_ids"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|u| u == me.user_id));
    let pill = content["formatted_body"].as_str().is_some_and(|html| {
        html.contains(&format!("matrix.to/#/{}", me.user_id))
            || html.contains(&format!(
                "matrix.to/#/{}",
                me.user_id.replace('@', "%40").replace(':', "%3A")
            ))
    });
    let localpart = me
        .user_id
        .trim_start_matches('@')
        .split(':')
        .next()
        .unwrap_or_default();
    let mut names = vec![
        me.user_id.to_owned(),
        format!("@{localpart}"),
        localpart.to_owned(),
    ];
    names.extend(me.display_name.map(str::to_owned));
    let trimmed = body.trim_start();
    for name in names.iter().filter(|n| !n.is_empty()) {
        let Some(head) = trimmed.get(..name.len()) else {
            continue;
        };
        let rest = &trimmed[name.len()..];
        if head.eq_ignore_ascii_case(name)
            && (rest.is_empty() || rest.starts_with([':', ',', ' ', '\n']))
        {
            let rest = rest.trim_start_matches([':', ',']).trim_start();
            return (rest.to_owned(), true);
        }
    }
    (
        body.to_owned(),
        in_mentions || pill || body.contains(me.user_id),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ME: Me<'static> = Me {
        user_id: "@aura:localhost",
        display_name: Some("Aura"),
    };

    fn text_event(content: Value) -> Value {
        json!({"type": "m.room.message", "sender": "@alice:localhost", "event_id": "$e1", "room_id": "!r", "content": content})
    }

    fn message_of(event: &Value) -> InboundMessage {
        match to_inbound("!room:localhost", event, &ME, false) {
            Some(Inbound::Message(m)) => m,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn a_pill_mention_is_stripped_and_flagged() {
        let e = text_event(
            json!({"msgtype": "m.text", "body": "Aura: ticket disk full",
            "format": "org.matrix.custom.html",
            "formatted_body": "<a href=\"https://matrix.to/#/@aura:localhost\">Aura</a>: ticket disk full",
            "m.mentions": {"user_ids": ["@aura:localhost"]}}),
        );
        let m = message_of(&e);
        assert!(m.mentions_bot);
        assert_eq!(m.text, "ticket disk full");
        assert_eq!(m.sender.to_string(), "matrix:@alice:localhost");
        assert_eq!(m.conversation.to_string(), "matrix:!room:localhost");
    }

    #[test]
    fn thread_messages_carry_their_root_and_fallback_replies_are_not_replies() {
        let e = text_event(json!({"msgtype": "m.text", "body": "more detail",
            "m.relates_to": {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": true,
                             "m.in_reply_to": {"event_id": "$latest"}}}));
        let m = message_of(&e);
        assert_eq!(m.thread.as_deref(), Some("$root"));
        assert_eq!(m.reply_to, None);
        assert!(!m.mentions_bot);
    }

    #[test]
    fn edits_notices_and_own_events_are_ignored() {
        let edit = text_event(json!({"msgtype": "m.text", "body": "* !ticket x",
            "m.new_content": {"msgtype": "m.text", "body": "!ticket x"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$old"}}));
        assert_eq!(to_inbound("!r:l", &edit, &ME, false), None);
        let notice = text_event(json!({"msgtype": "m.notice", "body": "!ticket x"}));
        assert_eq!(to_inbound("!r:l", &notice, &ME, false), None);
        let mut own = text_event(json!({"msgtype": "m.text", "body": "!ticket x"}));
        own["sender"] = json!("@aura:localhost");
        assert_eq!(to_inbound("!r:l", &own, &ME, false), None);
    }

    #[test]
    fn reactions_and_redactions_are_read_in_both_room_version_shapes() {
        let r = json!({"type": "m.reaction", "sender": "@bob:localhost", "event_id": "$re",
            "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$plan", "key": "✅"}}});
        let Some(Inbound::Reaction(r)) = to_inbound("!r:l", &r, &ME, false) else {
            panic!("reaction")
        };
        assert_eq!(
            (r.target.as_str(), r.key.as_str(), r.reaction_id.as_str()),
            ("$plan", "✅", "$re")
        );
        for red in [
            json!({"type": "m.room.redaction", "sender": "@bob:localhost", "event_id": "$x", "redacts": "$re", "content": {}}),
            json!({"type": "m.room.redaction", "sender": "@bob:localhost", "event_id": "$x", "content": {"redacts": "$re"}}),
        ] {
            let Some(Inbound::Redaction(d)) = to_inbound("!r:l", &red, &ME, false) else {
                panic!("redaction")
            };
            assert_eq!(d.redacts, "$re");
        }
    }

    #[test]
    fn a_quoted_reply_fallback_is_removed() {
        let e = text_event(
            json!({"msgtype": "m.text", "body": "> <@aura:localhost> Ticket #1 opened\n\nit is the logs",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$bot"}}}),
        );
        let m = message_of(&e);
        assert_eq!(m.reply_to.as_deref(), Some("$bot"));
        assert_eq!(m.text, "it is the logs");
    }
}
