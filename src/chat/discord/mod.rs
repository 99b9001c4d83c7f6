//! The Discord adapter: a gateway connection (and the signed interactions endpoint) feeding the inbox, slash
//! commands, message-component approvals, and sending through the REST API with serenity's models and builders.
//!
//! The gateway loop is Aura's own rather than serenity's `Client`: serenity hands each event to its own task (so
//! order is lost) and heartbeats the newest sequence number before Aura has stored the event. Here events are read
//! one at a time, committed to the inbox together with the session and sequence number, and only then counted as
//! received — so a reconnect or a restart resumes from what is stored and Discord replays the rest.

mod channels;
mod convert;
mod gateway;
mod intake;
mod payload;
mod pending;
mod rest;
mod send;
mod webhook;

use anyhow::Context;
use secrecy::SecretString;
use serde::Deserialize;

use crate::config::DiscordConfig;

pub use gateway::{SESSION_CURSOR, run};
pub use rest::{Rest, RestError, Route};
pub use webhook::router as webhook_router;

/// A connected Discord bot.
#[derive(Debug)]
pub struct Discord {
    rest: Rest,
    token: SecretString,
    me: Me,
    application: u64,
    signatures: Option<webhook::Signatures>,
    channels: channels::Channels,
    pending: pending::Pending,
}

/// Who the bot is.
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    /// The bot user's id (a snowflake).
    #[serde(deserialize_with = "snowflake")]
    pub id: u64,
    /// The bot user's name.
    pub username: String,
}

#[derive(Debug, Deserialize)]
struct Application {
    #[serde(deserialize_with = "snowflake")]
    id: u64,
}

impl Discord {
    /// Checks the token (`GET /users/@me`), finds the application and registers the slash commands.
    pub async fn connect(config: &DiscordConfig) -> anyhow::Result<Discord> {
        let token = config.token.clone().context("discord.token is not set")?;
        let rest = Rest::new(&config.api_url, &token)?;
        let me: Me = rest
            .call(&Route::current_user(), None::<&()>)
            .await
            .map_err(|e| match e.is_auth() {
                true => {
                    anyhow::anyhow!("Discord rejected the bot token (check discord.token): {e}")
                }
                false => anyhow::anyhow!("cannot reach Discord at {}: {e}", config.api_url),
            })?;
        let application = match &config.application_id {
            Some(id) => id
                .parse()
                .context("discord.application_id is not a number")?,
            None => {
                let app: Application = rest
                    .call(&Route::current_application(), None::<&()>)
                    .await
                    .context("cannot read the Discord application (set discord.application_id)")?;
                app.id
            }
        };
        let signatures = match &config.public_key {
            Some(key) => Some(webhook::Signatures::new(key)?),
            None => None,
        };
        let discord = Discord {
            rest,
            token,
            me,
            application,
            signatures,
            channels: channels::Channels::default(),
            pending: pending::Pending::default(),
        };
        if config.register_commands {
            discord.register_commands().await;
        }
        tracing::info!(bot = %discord.me.username, id = discord.me.id, application, "connected to Discord");
        Ok(discord)
    }

    /// The bot user.
    pub fn me(&self) -> &Me {
        &self.me
    }

    /// Replaces the application's global commands with Aura's command set (a failure is logged, not fatal).
    async fn register_commands(&self) {
        let route = Route::overwrite_commands(self.application);
        let commands = payload::commands();
        if let Err(e) = self
            .rest
            .call::<serde_json::Value>(&route, Some(&commands))
            .await
        {
            tracing::warn!(error = %e, "cannot register the Discord slash commands");
        }
    }
}

/// Reads a snowflake, which Discord writes as a string (numbers are accepted too).
fn snowflake<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    match Id::deserialize(d)? {
        Id::Text(s) => s.parse().map_err(serde::de::Error::custom),
        Id::Number(n) => Ok(n),
    }
}

/// Why `GET /users/@me` did not confirm the bot; no message carries the token.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The configuration cannot make a client (no token).
    #[error("{0}")]
    Config(String),
    /// Discord answered that the token is not valid.
    #[error("Discord at {api_url} rejected the token")]
    Unauthorized {
        /// The REST base asked.
        api_url: String,
    },
    /// Nothing usable answered.
    #[error("cannot reach Discord at {api_url}: {cause}")]
    Unreachable {
        /// The REST base asked.
        api_url: String,
        /// What failed (without the token).
        cause: String,
    },
}

/// Asks Discord who the bot is (`GET /users/@me`) and returns `@name (id N)`; changes nothing.
pub async fn probe(config: &DiscordConfig) -> Result<String, ProbeError> {
    let token = config
        .token
        .clone()
        .ok_or_else(|| ProbeError::Config("discord.token is not set".into()))?;
    let rest = Rest::new(&config.api_url, &token).map_err(|e| ProbeError::Config(e.to_string()))?;
    let api_url = config.api_url.clone();
    match rest.call::<Me>(&Route::current_user(), None::<&()>).await {
        Ok(me) => Ok(format!("@{} (id {})", me.username, me.id)),
        Err(e) if e.is_auth() => Err(ProbeError::Unauthorized { api_url }),
        Err(e) => Err(ProbeError::Unreachable {
            api_url,
            cause: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn discord_problems(c: &Config) -> Vec<String> {
        c.validate()
            .into_iter()
            .filter(|p| p.starts_with("discord"))
            .collect()
    }

    #[test]
    fn every_discord_setting_is_checked_and_the_token_is_a_secret() {
        let mut c = Config::default();
        assert!(!c.discord.is_on(), "off without a token");
        c.discord.enabled = Some(true);
        assert_eq!(discord_problems(&c).len(), 1, "{:?}", discord_problems(&c));
        c.discord.token = Some("sekrit".to_owned().into());
        c.discord.api_url = "discord.com".into();
        c.discord.application_id = Some("aura".into());
        c.discord.public_key = Some("abc".into());
        c.discord.mode = "webhook".into();
        let problems = discord_problems(&c);
        assert_eq!(problems.len(), 4, "{problems:?}");
        c = Config::default();
        c.discord.token = Some("sekrit".to_owned().into());
        c.discord.mode = "interactions".into();
        assert!(discord_problems(&c)[0].contains("public_key"));
        assert!(c.secret_values().contains(&"sekrit".to_owned()));
        assert!(!format!("{c:?}").contains("sekrit"));
    }
}
