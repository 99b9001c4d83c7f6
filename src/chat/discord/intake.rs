//! Discord intake shared by the gateway and the interactions endpoint: an event is committed to the inbox (with the
//! gateway position, when there is one) before it counts as received, and an interaction is acknowledged right
//! after its commit.

use serenity::model::application::Interaction;
use serenity::model::channel::Message;

use super::Discord;
use super::convert;
use super::payload::{self, Ack};
use super::rest::{RestError, Route, code};
use crate::chat::Inbound;
use crate::domain::Platform;
use crate::state::SharedState;
use crate::storage::StoreError;

/// A stream position to store with the events it follows: `(cursor name, value)`.
pub type Position<'a> = Option<(&'a str, &'a str)>;

/// Why an event could not be taken in; it was not recorded and must be delivered again.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Discord could not tell where the event happened.
    #[error("cannot look up the channel: {0}")]
    Lookup(#[from] RestError),
    /// The inbox could not be written.
    #[error("cannot record the event: {0}")]
    Store(#[from] StoreError),
}

/// Commits events (by Discord id) and the position after them in one transaction; returns how many were new.
pub async fn commit(
    state: &SharedState,
    events: &[(u64, Inbound)],
    position: Position<'_>,
) -> Result<usize, StoreError> {
    let encoded = events
        .iter()
        .map(|(id, inbound)| {
            serde_json::to_string(inbound)
                .map(|json| (id.to_string(), json))
                .map_err(|e| StoreError::Corrupt(format!("cannot encode an event: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    state
        .store
        .inbox_receive(Platform::Discord, &encoded, position)
        .await
}

/// What became of an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Recorded; acknowledged like this.
    Recorded(Ack),
    /// Recorded before (a replay): nothing to do.
    Again,
    /// Not one Aura handles (an old command, another kind of component); it was told so.
    Unhandled,
}

/// The id and token of a command or component interaction.
fn id_and_token(interaction: &Interaction) -> Option<(u64, &str)> {
    match interaction {
        Interaction::Command(c) => Some((c.id.get(), c.token.as_str())),
        Interaction::Component(c) => Some((c.id.get(), c.token.as_str())),
        _ => None,
    }
}

impl Discord {
    /// Records a MESSAGE_CREATE Aura reads, with `position`.
    pub(super) async fn take_message(
        &self,
        state: &SharedState,
        m: &Message,
        position: Position<'_>,
    ) -> Result<(), IntakeError> {
        let inbound = match convert::wanted(m) {
            true => self
                .locate(m.channel_id.get(), m.guild_id.is_some())
                .await?
                .and_then(|at| convert::message(m, &at, self.me.id)),
            false => None,
        };
        let events: Vec<(u64, Inbound)> = inbound
            .map(|i| (m.id.get(), Inbound::Message(i)))
            .into_iter()
            .collect();
        // Ignored events only move the in-memory position on; it is stored with the next recorded event.
        if events.is_empty() {
            return Ok(());
        }
        if commit(state, &events, position).await? > 0 {
            state.wakers.inbox.notify_one();
        }
        Ok(())
    }

    /// Records a slash command or button click, then acknowledges it: through the REST callback when `respond` is
    /// true (gateway), else by returning the acknowledgement for the caller to answer with (interactions endpoint).
    pub(super) async fn take_interaction(
        &self,
        state: &SharedState,
        interaction: &Interaction,
        position: Position<'_>,
        respond: bool,
    ) -> Result<Taken, IntakeError> {
        let Some((id, token, inbound, ack)) = self.read_interaction(interaction).await? else {
            if respond && let Some((id, token)) = id_and_token(interaction) {
                let route = Route::interaction_callback(id, token);
                if let Err(e) = self
                    .rest
                    .call_empty(&route, Some(&payload::unhandled()))
                    .await
                {
                    tracing::debug!(error = %e, "cannot answer an interaction Aura does not handle");
                }
            }
            return Ok(Taken::Unhandled);
        };
        self.pending.insert(id, token, ack == Ack::Defer);
        if commit(state, &[(id, inbound)], position).await? == 0 {
            tracing::debug!(
                interaction = id,
                "a Discord interaction was delivered again; already recorded"
            );
            return Ok(Taken::Again);
        }
        if respond {
            let ok = self.acknowledge(id, token, ack).await;
            self.pending.acked(id, ok);
        } else {
            // The endpoint's HTTP answer is the acknowledgement; Discord has it a moment after this returns.
            self.pending.acked(id, true);
        }
        state.wakers.inbox.notify_one();
        Ok(Taken::Recorded(ack))
    }

    async fn read_interaction<'a>(
        &self,
        interaction: &'a Interaction,
    ) -> Result<Option<(u64, &'a str, Inbound, Ack)>, RestError> {
        Ok(match interaction {
            Interaction::Command(c) => {
                if let Some(channel) = &c.channel {
                    self.channels.remember_partial(channel);
                }
                let at = self
                    .locate(c.channel_id.get(), c.guild_id.is_some())
                    .await?;
                at.and_then(|at| convert::command(c, &at)).map(|m| {
                    (
                        c.id.get(),
                        c.token.as_str(),
                        Inbound::Message(m),
                        Ack::Defer,
                    )
                })
            }
            Interaction::Component(c) => {
                if let Some(channel) = &c.channel {
                    self.channels.remember_partial(channel);
                }
                let at = self
                    .locate(c.channel_id.get(), c.guild_id.is_some())
                    .await?;
                at.and_then(|at| convert::press(c, &at)).map(|p| {
                    (
                        c.id.get(),
                        c.token.as_str(),
                        Inbound::Button(p),
                        Ack::Update,
                    )
                })
            }
            _ => None,
        })
    }

    /// Sends the acknowledgement; false when Discord did not take it (the token is then unusable).
    async fn acknowledge(&self, id: u64, token: &str, ack: Ack) -> bool {
        let route = Route::interaction_callback(id, token);
        match self.rest.call_empty(&route, Some(&payload::ack(ack))).await {
            Ok(()) => true,
            Err(e) if e.code() == Some(code::ALREADY_ACKNOWLEDGED) => true,
            Err(e) => {
                tracing::warn!(interaction = id, error = %e, "cannot acknowledge a Discord interaction");
                false
            }
        }
    }
}
