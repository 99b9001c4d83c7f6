//! Chat platforms and conversation addresses (`telegram:-1001234`, `discord:1122…`, `matrix:!room:server`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::principal::Namespace;

/// A chat platform Aura speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Telegram,
    Discord,
    Matrix,
}

impl Platform {
    /// The lowercase name used in addresses, the database and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Telegram => "telegram",
            Platform::Discord => "discord",
            Platform::Matrix => "matrix",
        }
    }

    /// The user-address namespace of this platform.
    pub fn namespace(self) -> Namespace {
        match self {
            Platform::Telegram => Namespace::Telegram,
            Platform::Discord => Namespace::Discord,
            Platform::Matrix => Namespace::Matrix,
        }
    }

    /// The command prefix users type on this platform.
    pub fn command_prefix(self) -> &'static str {
        match self {
            Platform::Telegram | Platform::Discord => "/",
            Platform::Matrix => "!",
        }
    }
}

impl FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "telegram" => Ok(Platform::Telegram),
            "discord" => Ok(Platform::Discord),
            "matrix" => Ok(Platform::Matrix),
            other => Err(format!(
                "'{other}' is not a chat platform; use telegram, discord or matrix"
            )),
        }
    }
}

/// A conversation: a chat, channel or room, by its platform's immutable id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChatAddress {
    platform: Platform,
    id: String,
}

/// Why a string is not a conversation address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a conversation address: {reason}")]
pub struct BadChatAddress {
    pub input: String,
    pub reason: &'static str,
}

impl ChatAddress {
    /// Builds an address, checking the id's form for its platform.
    pub fn new(platform: Platform, id: &str) -> Result<Self, BadChatAddress> {
        let ok = match platform {
            Platform::Telegram => id.parse::<i64>().is_ok_and(|n| n != 0),
            Platform::Discord => {
                !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
            }
            // Room ids are opaque (room version 12 has no ":server" part): only the sigil is checked.
            Platform::Matrix => {
                id.len() > 1 && id.starts_with('!') && !id.contains(char::is_whitespace)
            }
        };
        if !ok {
            return Err(BadChatAddress {
                input: format!("{}:{id}", platform.as_str()),
                reason: match platform {
                    Platform::Telegram => {
                        "a Telegram chat is its numeric id, e.g. telegram:-1001234567890"
                    }
                    Platform::Discord => {
                        "a Discord channel is its numeric id, e.g. discord:112233445566778899"
                    }
                    Platform::Matrix => {
                        "a Matrix room is its room id, e.g. matrix:!abc123:example.org"
                    }
                },
            });
        }
        Ok(ChatAddress {
            platform,
            id: id.to_owned(),
        })
    }

    /// The platform of the conversation.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The platform's id of the conversation.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl FromStr for ChatAddress {
    type Err = BadChatAddress;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (p, id) = s.split_once(':').ok_or_else(|| BadChatAddress {
            input: s.chars().take(80).collect(),
            reason: "expected <platform>:<id>, e.g. telegram:-1001234567890",
        })?;
        let platform = p.parse::<Platform>().map_err(|_| BadChatAddress {
            input: s.chars().take(80).collect(),
            reason: "the prefix must be telegram, discord or matrix",
        })?;
        ChatAddress::new(platform, id)
    }
}

impl TryFrom<String> for ChatAddress {
    type Error = BadChatAddress;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ChatAddress> for String {
    fn from(value: ChatAddress) -> Self {
        value.to_string()
    }
}

impl fmt::Display for ChatAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform.as_str(), self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_addresses_parse_per_platform() {
        for ok in [
            "telegram:-1001234",
            "telegram:42",
            "discord:112233445566",
            "matrix:!abc:example.org",
            "matrix:!opaqueV12",
        ] {
            assert_eq!(ok.parse::<ChatAddress>().expect(ok).to_string(), ok);
        }
        for bad in [
            "telegram:general",
            "discord:#ops",
            "matrix:#ops:example.org",
            "irc:#ops",
            "telegram",
        ] {
            assert!(bad.parse::<ChatAddress>().is_err(), "{bad}");
        }
    }
}
