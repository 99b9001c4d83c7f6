//! Platform-neutral chat: inbound events, outbound sends, the `ChatPlatform` trait, rich text and the outbox.

pub mod backoff;
pub mod discord;
pub mod markdown;
pub mod matrix;
pub mod outbox;
pub mod pacing;
pub mod telegram;
pub mod text;

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::{ChatAddress, Platform, UserRef};

/// An event from a chat platform, as stored in the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Inbound {
    Message(InboundMessage),
    Button(ButtonPress),
    Reaction(Reaction),
    Redaction(Redaction),
}

/// A text message someone wrote where Aura can read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub conversation: ChatAddress,
    /// A one-to-one conversation with the bot.
    pub direct: bool,
    pub message_id: String,
    /// The platform thread the message is in (Telegram forum topic, Matrix thread root, Discord thread).
    pub thread: Option<String>,
    /// The message this one replies to.
    pub reply_to: Option<String>,
    pub sender: UserRef,
    /// Display name, for messages only — never for decisions.
    pub sender_name: String,
    /// The text, with a leading mention of the bot removed.
    pub text: String,
    /// The bot was mentioned (or replied to).
    pub mentions_bot: bool,
    /// The bot's username on this platform, for `/cmd@bot` in Telegram groups.
    pub bot_username: Option<String>,
}

/// Someone pressed a button Aura sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonPress {
    pub conversation: ChatAddress,
    /// The message carrying the button.
    pub message_id: String,
    pub presser: UserRef,
    pub presser_name: String,
    /// The opaque value the button carried.
    pub nonce: String,
    /// The platform's id for answering the press (Telegram callback query id, Discord `interaction id:token`).
    pub callback_id: String,
}

/// Someone reacted to a message (Matrix approvals are ✅ / ❌ reactions on the approval message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub conversation: ChatAddress,
    /// The platform id of the reaction itself (a later redaction names it).
    pub reaction_id: String,
    /// The message reacted to.
    pub target: String,
    pub key: String,
    pub reactor: UserRef,
    pub reactor_name: String,
}

/// Someone removed an earlier event (a reaction, typically).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    pub conversation: ChatAddress,
    /// The platform id of the removed event.
    pub redacts: String,
    pub by: UserRef,
}

/// How a button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonStyle {
    Success,
    Danger,
}

/// A button carrying an opaque nonce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub nonce: String,
    pub style: ButtonStyle,
}

/// One send, as stored in the outbox (text already rendered for the platform).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outbound {
    Message {
        text: String,
        reply_to: Option<String>,
        thread: Option<String>,
        buttons: Vec<Button>,
    },
    /// Replaces the text (and buttons; none removes them) of an earlier send, named by its outbox id.
    Edit {
        of: i64,
        text: String,
        buttons: Vec<Button>,
        /// The thread the edited message is in, where the platform needs it to address the message (Discord).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<String>,
    },
    /// Answers a button press (stops the client's spinner) with a short notice.
    Answer { callback_id: String, text: String },
}

/// What the platform said about a delivered send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// The platform's id of the message (for edits and reply links).
    pub remote_id: Option<String>,
    pub thread: Option<String>,
}

/// Why a send failed, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("rate limited; retry after {0:?}")]
    RetryAfter(Duration),
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("rejected: {0}")]
    Permanent(String),
}

/// A chat platform's sending side; each adapter implements it.
pub trait ChatPlatform: Send + Sync + 'static {
    /// Which platform this is.
    fn platform(&self) -> Platform;

    /// Pacing limits the platform enforces.
    fn limits(&self) -> pacing::Limits;

    /// Whether a conversation is a group (group pacing applies); platforms without group limits keep the default.
    fn is_group(&self, _conversation: &ChatAddress) -> bool {
        false
    }

    /// Delivers one send; `key` is stable across retries of the same send (an idempotency key where the
    /// platform has one), `edit_target` the platform id of the message an `Edit` replaces.
    fn send(
        &self,
        conversation: &ChatAddress,
        out: &Outbound,
        key: &str,
        edit_target: Option<&str>,
    ) -> impl Future<Output = Result<Delivered, ChatError>> + Send;
}
