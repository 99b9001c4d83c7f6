//! What kind each Discord channel is — a DM, a guild channel, or a thread of some parent — learned from events and
//! threads Aura starts, and asked from Discord (`GET /channels/{id}`) when unknown.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;
use serenity::model::channel::PartialChannel;

use super::rest::{RestError, Route};
use super::{Discord, snowflake};
use crate::domain::{ChatAddress, Platform};

/// The longest rate-limit wait a channel lookup sits out (well within a heartbeat interval).
const LOOKUP_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(5);
/// Discord's channel types that are threads (announcement, public and private threads).
const THREAD_TYPES: [u8; 3] = [10, 11, 12];
/// Discord's channel types that are direct messages (one-to-one and group DMs).
const DIRECT_TYPES: [u8; 2] = [1, 3];

/// A channel's place in Discord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A one-to-one or group DM with the bot.
    Direct,
    /// A guild channel that is not a thread.
    Guild,
    /// A thread inside the guild channel `parent`.
    Thread { parent: u64 },
}

impl Kind {
    /// The kind of a channel of Discord type `kind` with `parent` (threads only).
    pub fn of(kind: u8, parent: Option<u64>) -> Kind {
        match parent {
            Some(parent) if THREAD_TYPES.contains(&kind) => Kind::Thread { parent },
            _ if DIRECT_TYPES.contains(&kind) => Kind::Direct,
            _ => Kind::Guild,
        }
    }
}

/// The channel fields Aura reads (from `GET /channels/{id}` and THREAD_CREATE).
#[derive(Debug, Clone, Deserialize)]
pub struct ChannelInfo {
    /// The channel's id.
    #[serde(deserialize_with = "snowflake")]
    pub id: u64,
    /// Discord's channel type number.
    #[serde(rename = "type")]
    pub kind: u8,
    /// The parent channel (of a thread) or category (of a guild channel).
    #[serde(default, deserialize_with = "optional_snowflake")]
    pub parent_id: Option<u64>,
}

fn optional_snowflake<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "snowflake")] u64);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

/// Channel kinds seen so far.
#[derive(Debug, Default)]
pub struct Channels {
    known: Mutex<HashMap<u64, Kind>>,
}

impl Channels {
    /// The kind of `channel`, if known.
    pub fn get(&self, channel: u64) -> Option<Kind> {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&channel)
            .copied()
    }

    /// Remembers the kind of `channel`.
    pub fn remember(&self, channel: u64, kind: Kind) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(channel, kind);
    }

    /// Remembers a channel described by Discord.
    pub fn learn(&self, info: &ChannelInfo) {
        self.remember(info.id, Kind::of(info.kind, info.parent_id));
    }

    /// Remembers the channel an interaction names.
    pub fn remember_partial(&self, channel: &PartialChannel) {
        let kind = Kind::of(u8::from(channel.kind), channel.parent_id.map(|p| p.get()));
        self.remember(channel.id.get(), kind);
    }
}

/// Where an event happened, in Aura's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The conversation: the channel, or a thread's parent channel.
    pub conversation: ChatAddress,
    /// The thread (its channel id), when the event happened in one.
    pub thread: Option<String>,
    /// A DM with the bot.
    pub direct: bool,
}

impl Location {
    /// The location of `channel`, given its kind.
    pub fn new(channel: u64, kind: Kind) -> Option<Location> {
        let (conversation, thread) = match kind {
            Kind::Thread { parent } => (parent, Some(channel.to_string())),
            Kind::Direct | Kind::Guild => (channel, None),
        };
        Some(Location {
            conversation: ChatAddress::new(Platform::Discord, &conversation.to_string()).ok()?,
            thread,
            direct: kind == Kind::Direct,
        })
    }
}

impl Discord {
    /// The kind of `channel`: remembered, a DM when the event had no guild, else asked from Discord.
    pub(super) async fn kind_of(&self, channel: u64, in_guild: bool) -> Result<Kind, RestError> {
        if let Some(kind) = self.channels.get(channel) {
            return Ok(kind);
        }
        if !in_guild {
            self.channels.remember(channel, Kind::Direct);
            return Ok(Kind::Direct);
        }
        let route = Route::channel(channel);
        let info: ChannelInfo = match self.rest.call(&route, None::<&()>).await {
            // Waiting here beats dropping the connection to have the event replayed.
            Err(RestError::RateLimited(wait)) if wait <= LOOKUP_WAIT_MAX => {
                tokio::time::sleep(wait).await;
                self.rest.call(&route, None::<&()>).await?
            }
            other => other?,
        };
        self.channels.learn(&info);
        Ok(Kind::of(info.kind, info.parent_id))
    }

    /// Where an event in `channel` happened; None only for an unusable channel id.
    pub(super) async fn locate(
        &self,
        channel: u64,
        in_guild: bool,
    ) -> Result<Option<Location>, RestError> {
        let kind = self.kind_of(channel, in_guild).await?;
        Ok(Location::new(channel, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_belong_to_their_parent_conversation() {
        let loc = Location::new(77, Kind::Thread { parent: 5 }).expect("location");
        assert_eq!(loc.conversation.to_string(), "discord:5");
        assert_eq!(loc.thread.as_deref(), Some("77"));
        assert!(!loc.direct);
        let dm = Location::new(9, Kind::Direct).expect("location");
        assert_eq!(
            (dm.conversation.to_string(), dm.thread, dm.direct),
            ("discord:9".into(), None, true)
        );
    }

    #[test]
    fn channel_types_are_read_from_discord_json() {
        let thread: ChannelInfo =
            serde_json::from_str(r#"{"id": "77", "type": 11, "parent_id": "5", "name": "t"}"#)
                .expect("json");
        assert_eq!(
            Kind::of(thread.kind, thread.parent_id),
            Kind::Thread { parent: 5 }
        );
        let text: ChannelInfo =
            serde_json::from_str(r#"{"id": "5", "type": 0, "parent_id": null}"#).expect("json");
        assert_eq!(Kind::of(text.kind, text.parent_id), Kind::Guild);
        let dm: ChannelInfo = serde_json::from_str(r#"{"id": "9", "type": 1}"#).expect("json");
        assert_eq!(Kind::of(dm.kind, dm.parent_id), Kind::Direct);
    }
}
