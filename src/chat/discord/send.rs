//! Sending to Discord: messages (in a ticket's thread, started on first use), answers to slash commands, edits,
//! and ephemeral answers to button clicks.

use std::time::Duration;

use serde::Deserialize;

use super::channels::Kind;
use super::pending::{Acked, Interaction};
use super::rest::{RestError, Route, code};
use super::{Discord, payload, snowflake};
use crate::chat::pacing::Limits;
use crate::chat::{Button, ChatError, ChatPlatform, Delivered, Outbound};
use crate::domain::{ChatAddress, Platform};

/// Discord allows about 5 messages per 5 s in a channel and 50 requests a second overall.
const DISCORD_LIMITS: Limits = Limits {
    per_conversation: chrono::Duration::seconds(1),
    group_per_minute: None,
    global_per_second: 50,
};
/// How long an answer waits for its interaction's acknowledgement before trying again.
const ACK_WAIT: Duration = Duration::from_millis(200);
/// Until this age, an interaction token Discord does not know yet is still being acknowledged.
const ACK_GRACE: Duration = Duration::from_secs(5);

/// What Discord answers when a message is created.
#[derive(Debug, Deserialize)]
struct Created {
    #[serde(deserialize_with = "snowflake")]
    id: u64,
}

fn id(raw: &str) -> Result<u64, ChatError> {
    raw.parse()
        .map_err(|_| ChatError::Permanent(format!("'{raw}' is not a Discord id")))
}

/// One message to deliver.
struct Post<'a> {
    channel: u64,
    text: &'a str,
    reply_to: Option<u64>,
    thread: Option<u64>,
    buttons: &'a [Button],
    nonce: &'a str,
}

impl ChatPlatform for Discord {
    fn platform(&self) -> Platform {
        Platform::Discord
    }

    fn limits(&self) -> Limits {
        DISCORD_LIMITS
    }

    async fn send(
        &self,
        conversation: &ChatAddress,
        out: &Outbound,
        key: &str,
        edit_target: Option<&str>,
    ) -> Result<Delivered, ChatError> {
        let channel = id(conversation.id())?;
        match out {
            Outbound::Message {
                text,
                reply_to,
                thread,
                buttons,
            } => {
                let post = Post {
                    channel,
                    text,
                    reply_to: reply_to.as_deref().map(id).transpose()?,
                    thread: thread.as_deref().map(id).transpose()?,
                    buttons,
                    nonce: key,
                };
                self.post(post).await
            }
            Outbound::Edit {
                text,
                buttons,
                thread,
                ..
            } => {
                let target =
                    edit_target.ok_or_else(|| ChatError::Permanent("nothing to edit".into()))?;
                let at = thread.as_deref().map(id).transpose()?.unwrap_or(channel);
                self.edit(channel, at, id(target)?, text, buttons).await
            }
            Outbound::Answer { callback_id, text } => self.answer(callback_id, text).await,
        }
    }
}

impl Discord {
    /// A message: the answer to a slash command it replies to, or a post in its thread or channel.
    async fn post(&self, mut post: Post<'_>) -> Result<Delivered, ChatError> {
        let interaction = post
            .reply_to
            .and_then(|r| self.pending.get(r).map(|i| (r, i)));
        if let Some((id, i)) = &interaction {
            // A ticket's later messages go to its thread (started at the command's answer), not to the command.
            let to_thread =
                i.thread.is_some() && (post.thread == Some(*id) || post.thread == i.thread);
            if i.command && !to_thread {
                match self.answer_command(&post, *id, i).await? {
                    Some(delivered) => return Ok(delivered),
                    // The interaction cannot be answered any more: say it in the channel instead.
                    None => post.thread = post.thread.filter(|t| t != id),
                }
            }
            if let Some(alias) = i.thread.filter(|_| post.thread == Some(*id)) {
                post.thread = Some(alias);
            }
            // An interaction is not a message one can reply to.
            post.reply_to = None;
        }
        let (at, thread) = self.destination(&post).await?;
        let reply_to = post
            .reply_to
            .filter(|r| Some(*r) != thread)
            .map(|r| (at, r));
        let body = payload::message(post.text, post.buttons, reply_to, post.nonce);
        let created: Result<Created, RestError> = self
            .rest
            .call(&Route::create_message(at), Some(&body))
            .await;
        match created {
            Ok(m) => Ok(Delivered {
                remote_id: Some(m.id.to_string()),
                thread: thread.map(|t| t.to_string()),
            }),
            // A thread that is gone (deleted, or never there): the parent channel still reaches people.
            Err(RestError::Rejected {
                code: code::UNKNOWN_CHANNEL,
                ..
            }) if at != post.channel => {
                let body = payload::message(post.text, post.buttons, None, post.nonce);
                let m: Created = self
                    .rest
                    .call(&Route::create_message(post.channel), Some(&body))
                    .await?;
                Ok(Delivered {
                    remote_id: Some(m.id.to_string()),
                    thread: None,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The channel to post in, and the thread it is (starting the thread from its root message if needed).
    async fn destination(&self, post: &Post<'_>) -> Result<(u64, Option<u64>), ChatError> {
        let Some(thread) = post.thread.filter(|t| *t != post.channel) else {
            return Ok((post.channel, None));
        };
        match self.channels.get(thread) {
            Some(Kind::Thread { .. }) => return Ok((thread, Some(thread))),
            _ if self.channels.get(post.channel) == Some(Kind::Direct) => {
                return Ok((post.channel, None));
            }
            // A thread Aura did not name after a root message it answers: it exists already.
            _ if post.reply_to != Some(thread) => return Ok((thread, Some(thread))),
            _ => {}
        }
        match self.start_thread(post.channel, thread, post.text).await {
            Ok(true) => Ok((thread, Some(thread))),
            Ok(false) => Ok((post.channel, None)),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts a thread from message `root` in `channel`; false when it cannot have one (a DM, a message that is
    /// not there, missing permission), in which case the message goes to the channel.
    async fn start_thread(&self, channel: u64, root: u64, text: &str) -> Result<bool, RestError> {
        let route = Route::start_thread(channel, root);
        match self
            .rest
            .call::<serde_json::Value>(&route, Some(&payload::thread(text)))
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some(code::THREAD_EXISTS) => {}
            Err(e @ RestError::Rejected { .. }) => {
                if e.code() == Some(code::WRONG_CHANNEL_TYPE) {
                    self.channels.remember(channel, Kind::Direct);
                }
                tracing::info!(error = %e, channel, "no thread for this message; answering in the channel");
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        self.channels
            .remember(root, Kind::Thread { parent: channel });
        Ok(true)
    }

    /// Answers the slash command `interaction`: the first answer fills its deferred response (and starts the
    /// ticket's thread there), later ones are follow-ups. None when the interaction cannot be answered any more.
    async fn answer_command(
        &self,
        post: &Post<'_>,
        interaction: u64,
        i: &Interaction,
    ) -> Result<Option<Delivered>, ChatError> {
        use secrecy::ExposeSecret;
        let token = i.token.expose_secret();
        let result = match (i.acked, i.original) {
            (Acked::Waiting, _) => return Err(ChatError::RetryAfter(ACK_WAIT)),
            (Acked::Failed, _) => return Ok(None),
            (Acked::Yes, None) => {
                let route = Route::edit_original(self.application, token);
                let body = payload::original(post.text, post.buttons);
                self.rest.call::<Created>(&route, Some(&body)).await
            }
            (Acked::Yes, Some(_)) => {
                let route = Route::followup(self.application, token);
                let body = payload::followup(post.text, post.buttons, false);
                self.rest.call::<Created>(&route, Some(&body)).await
            }
        };
        let created = match result {
            Ok(m) => m,
            Err(e) if unknown_token(&e) && i.at.elapsed() < ACK_GRACE => {
                return Err(ChatError::RetryAfter(ACK_WAIT));
            }
            Err(e @ RestError::Rejected { .. }) => {
                tracing::info!(error = %e, interaction, "cannot answer a Discord interaction; answering in the channel");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let mut thread = None;
        if i.original.is_none() {
            // A ticket's messages go into a thread; for a slash command its root is this first answer.
            let wants_thread = post.thread == Some(interaction)
                && self.channels.get(post.channel) != Some(Kind::Direct);
            if wants_thread
                && self
                    .start_thread(post.channel, created.id, post.text)
                    .await?
            {
                thread = Some(created.id);
            }
            self.pending.answered(interaction, created.id, thread);
        }
        Ok(Some(Delivered {
            remote_id: Some(created.id.to_string()),
            thread: thread.map(|t| t.to_string()),
        }))
    }

    /// Replaces the text and buttons of message `message` in channel `at` (a thread, or the conversation).
    async fn edit(
        &self,
        channel: u64,
        at: u64,
        message: u64,
        text: &str,
        buttons: &[Button],
    ) -> Result<Delivered, ChatError> {
        let body = payload::edit(text, buttons);
        let mut result = self
            .rest
            .call::<Created>(&Route::edit_message(at, message), Some(&body))
            .await;
        if at != channel
            && matches!(
                result.as_ref().err().and_then(RestError::code),
                Some(code::UNKNOWN_MESSAGE | code::UNKNOWN_CHANNEL)
            )
        {
            // The message went to the channel after all (no thread could be started for it).
            result = self
                .rest
                .call(&Route::edit_message(channel, message), Some(&body))
                .await;
        }
        result?;
        Ok(Delivered {
            remote_id: Some(message.to_string()),
            thread: None,
        })
    }

    /// Answers a button click with a notice only the clicker sees.
    async fn answer(&self, callback_id: &str, text: &str) -> Result<Delivered, ChatError> {
        let (interaction, token) = callback_id
            .split_once(':')
            .ok_or_else(|| ChatError::Permanent("not a Discord interaction".into()))?;
        let interaction = id(interaction)?;
        let known = self.pending.get(interaction);
        if known.as_ref().is_some_and(|i| i.acked == Acked::Waiting) {
            return Err(ChatError::RetryAfter(ACK_WAIT));
        }
        let route = Route::followup(self.application, token);
        let body = payload::followup(text, &[], true);
        match self
            .rest
            .call::<serde_json::Value>(&route, Some(&body))
            .await
        {
            Ok(_) => Ok(Delivered::default()),
            Err(e) if unknown_token(&e) && known.is_some_and(|i| i.at.elapsed() < ACK_GRACE) => {
                Err(ChatError::RetryAfter(ACK_WAIT))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Discord does not know the interaction token (yet, or any more).
fn unknown_token(e: &RestError) -> bool {
    matches!(
        e.code(),
        Some(code::UNKNOWN_WEBHOOK | code::UNKNOWN_INTERACTION)
    )
}
