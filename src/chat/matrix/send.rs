//! Sending to Matrix: `m.notice` with HTML, threads, edits (`m.replace`), idempotent transaction ids.

use matrix_sdk::ruma::api::error::{ErrorKind, RetryAfter};
use matrix_sdk::ruma::{OwnedTransactionId, RoomId};
use serde_json::{Value, json};

use super::Matrix;
use crate::chat::pacing::Limits;
use crate::chat::{ChatError, ChatPlatform, Delivered, Outbound};
use crate::domain::{ChatAddress, Platform};

/// Matrix has no buttons: approval requests invite reactions instead.
const REACTION_HINT: &str = "React with ✅ to approve or ❌ to reject.";

/// Synapse's default is generous; pacing per room keeps a burst from tripping `M_LIMIT_EXCEEDED`.
const MATRIX_LIMITS: Limits = Limits {
    per_conversation: chrono::Duration::milliseconds(200),
    group_per_minute: None,
    global_per_second: 10,
};

/// Text without markup, for the `body` clients without HTML show.
fn plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// HTML where line breaks are `<br>` (newlines are only whitespace in HTML), except inside `<pre>`.
fn html(rendered: &str) -> String {
    let mut out = String::with_capacity(rendered.len() + 32);
    let mut rest = rendered;
    while let Some(start) = rest.find("<pre>") {
        let end = rest[start..]
            .find("</pre>")
            .map_or(rest.len(), |e| start + e + "</pre>".len());
        out.push_str(&rest[..start].replace('\n', "<br>"));
        out.push_str(&rest[start..end]);
        rest = &rest[end..];
    }
    out.push_str(&rest.replace('\n', "<br>"));
    out
}

fn notice(rendered: &str, with_hint: bool) -> Value {
    let mut rendered = rendered.to_owned();
    if with_hint {
        rendered.push('\n');
        rendered.push_str(REACTION_HINT);
    }
    // Empty m.mentions: nothing Aura sends can ping anyone (intentional mentions, MSC3952).
    json!({"msgtype": "m.notice", "body": plain(&rendered), "format": "org.matrix.custom.html",
           "formatted_body": html(&rendered), "m.mentions": {}})
}

fn content(out: &Outbound, edit_target: Option<&str>) -> Result<Value, ChatError> {
    match out {
        Outbound::Message {
            text,
            reply_to,
            thread,
            buttons,
        } => {
            let mut c = notice(text, !buttons.is_empty());
            // Everything answers in a thread: on the ticket's root, or on the message answered.
            if let Some(root) = thread.as_ref().or(reply_to.as_ref()) {
                let in_reply_to = reply_to.as_ref().unwrap_or(root);
                c["m.relates_to"] = json!({"rel_type": "m.thread", "event_id": root, "is_falling_back": true,
                                            "m.in_reply_to": {"event_id": in_reply_to}});
            }
            Ok(c)
        }
        Outbound::Edit { text, buttons, .. } => {
            let target =
                edit_target.ok_or_else(|| ChatError::Permanent("nothing to edit".into()))?;
            let new = notice(text, !buttons.is_empty());
            let mut c = notice(&format!("* {text}"), !buttons.is_empty());
            c["m.new_content"] = new;
            c["m.relates_to"] = json!({"rel_type": "m.replace", "event_id": target});
            Ok(c)
        }
        Outbound::Answer { .. } => Err(ChatError::Permanent("Matrix has no button answers".into())),
    }
}

fn classify(e: &matrix_sdk::Error) -> ChatError {
    if let Some(ErrorKind::LimitExceeded(data)) = e.client_api_error_kind() {
        let wait = match &data.retry_after {
            Some(RetryAfter::Delay(d)) => *d,
            Some(RetryAfter::DateTime(at)) => at
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default(),
            None => std::time::Duration::from_secs(1),
        };
        return ChatError::RetryAfter(wait);
    }
    match e.as_client_api_error() {
        Some(api) if api.status_code.is_client_error() => ChatError::Permanent(e.to_string()),
        _ => ChatError::Transient(e.to_string()),
    }
}

impl ChatPlatform for Matrix {
    fn platform(&self) -> Platform {
        Platform::Matrix
    }

    fn limits(&self) -> Limits {
        MATRIX_LIMITS
    }

    async fn send(
        &self,
        conversation: &ChatAddress,
        out: &Outbound,
        key: &str,
        edit_target: Option<&str>,
    ) -> Result<Delivered, ChatError> {
        if let Outbound::Answer { .. } = out {
            return Ok(Delivered::default());
        }
        let room_id =
            RoomId::parse(conversation.id()).map_err(|e| ChatError::Permanent(e.to_string()))?;
        let room = self
            .client
            .get_room(&room_id)
            .ok_or_else(|| ChatError::Permanent(format!("Aura is not in {conversation}")))?;
        let content = content(out, edit_target)?;
        // The same transaction id on every retry: the homeserver returns the first event instead of a second.
        let txn: OwnedTransactionId = key.into();
        let sent = room
            .send_raw("m.room.message", content)
            .with_transaction_id(&txn)
            .await
            .map_err(|e| classify(&e))?;
        let thread = match out {
            Outbound::Message {
                thread, reply_to, ..
            } => thread.clone().or_else(|| reply_to.clone()),
            _ => None,
        };
        Ok(Delivered {
            remote_id: Some(sent.response.event_id.to_string()),
            thread,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_lose_markup_and_html_keeps_line_breaks_outside_pre() {
        assert_eq!(
            plain("<b>Ticket #1</b> &lt;x&gt; &amp; y"),
            "Ticket #1 <x> & y"
        );
        assert_eq!(
            html("a\nb<pre>c\nd</pre>e\nf"),
            "a<br>b<pre>c\nd</pre>e<br>f"
        );
    }

    #[test]
    fn a_reply_goes_into_a_thread_on_the_root_and_mentions_nobody() {
        let out = Outbound::Message {
            text: "hi".into(),
            reply_to: Some("$cmd".into()),
            thread: None,
            buttons: vec![],
        };
        let c = content(&out, None).expect("content");
        assert_eq!(c["m.relates_to"]["rel_type"], "m.thread");
        assert_eq!(c["m.relates_to"]["event_id"], "$cmd");
        assert_eq!(c["m.mentions"], json!({}));
        assert_eq!(c["msgtype"], "m.notice");
    }

    #[test]
    fn an_edit_replaces_the_target() {
        let out = Outbound::Edit {
            of: 1,
            text: "<b>done</b>".into(),
            buttons: vec![],
            thread: None,
        };
        let c = content(&out, Some("$plan")).expect("content");
        assert_eq!(
            c["m.relates_to"],
            json!({"rel_type": "m.replace", "event_id": "$plan"})
        );
        assert_eq!(c["m.new_content"]["body"], "done");
        assert_eq!(c["body"], "* done");
    }
}
