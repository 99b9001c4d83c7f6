//! Sending to Telegram: messages (HTML, replies, forum topics, inline keyboards), edits and callback answers.

use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{
    CallbackQueryId, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, MessageId,
    ParseMode, ReplyParameters, ThreadId,
};

use super::Telegram;
use crate::chat::pacing::Limits;
use crate::chat::{Button, ChatError, ChatPlatform, Delivered, Outbound};
use crate::domain::{ChatAddress, Platform};

fn keyboard(buttons: &[Button]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([buttons
        .iter()
        .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.nonce.clone()))
        .collect::<Vec<_>>()])
}

fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

fn message_id(raw: &str) -> Result<MessageId, ChatError> {
    raw.parse()
        .map(MessageId)
        .map_err(|_| ChatError::Permanent(format!("'{raw}' is not a Telegram message id")))
}

impl Telegram {
    fn classify(&self, e: RequestError) -> ChatError {
        match e {
            RequestError::RetryAfter(s) => {
                ChatError::RetryAfter(std::time::Duration::from_secs(u64::from(s.seconds())))
            }
            RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => {
                ChatError::Transient(self.redact(&e.to_string()))
            }
            RequestError::Api(_) | RequestError::MigrateToChatId(_) => {
                ChatError::Permanent(self.redact(&e.to_string()))
            }
        }
    }
}

impl ChatPlatform for Telegram {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn limits(&self) -> Limits {
        Limits::TELEGRAM
    }

    fn is_group(&self, conversation: &ChatAddress) -> bool {
        conversation.id().starts_with('-')
    }

    // The Bot API has no idempotency key, so `_key` is unused: see the README on the one at-least-once case.
    async fn send(
        &self,
        conversation: &ChatAddress,
        out: &Outbound,
        _key: &str,
        edit_target: Option<&str>,
    ) -> Result<Delivered, ChatError> {
        let chat =
            ChatId(conversation.id().parse().map_err(|_| {
                ChatError::Permanent(format!("{conversation} is not a Telegram chat"))
            })?);
        match out {
            Outbound::Message {
                text,
                reply_to,
                thread,
                buttons,
            } => {
                let mut req = self
                    .bot
                    .send_message(chat, text)
                    .parse_mode(ParseMode::Html)
                    .link_preview_options(no_preview());
                if let Some(r) = reply_to {
                    req = req.reply_parameters(
                        ReplyParameters::new(message_id(r)?).allow_sending_without_reply(),
                    );
                }
                if let Some(t) = thread {
                    req = req.message_thread_id(ThreadId(message_id(t)?));
                }
                if !buttons.is_empty() {
                    req = req.reply_markup(keyboard(buttons));
                }
                let sent = req.await.map_err(|e| self.classify(e))?;
                Ok(Delivered {
                    remote_id: Some(sent.id.0.to_string()),
                    thread: thread.clone(),
                })
            }
            Outbound::Edit { text, buttons, .. } => {
                let target =
                    edit_target.ok_or_else(|| ChatError::Permanent("nothing to edit".into()))?;
                let mut req = self
                    .bot
                    .edit_message_text(chat, message_id(target)?, text)
                    .parse_mode(ParseMode::Html);
                if !buttons.is_empty() {
                    req = req.reply_markup(keyboard(buttons));
                }
                match req.await {
                    // Re-sending an edit after a crash finds it already applied.
                    Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(Delivered {
                        remote_id: Some(target.to_owned()),
                        thread: None,
                    }),
                    Err(e) => Err(self.classify(e)),
                }
            }
            Outbound::Answer { callback_id, text } => {
                let req = self
                    .bot
                    .answer_callback_query(CallbackQueryId(callback_id.clone()))
                    .text(text);
                req.await.map_err(|e| self.classify(e))?;
                Ok(Delivered::default())
            }
        }
    }
}
