//! The Telegram adapter (teloxide): long polling or webhook intake into the inbox, and sending for the outbox.

mod convert;
mod probe;
mod receive;
mod send;

use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use teloxide::prelude::*;
use teloxide::types::{BotCommand, Me};

use crate::config::TelegramConfig;
use crate::domain::command::CommandName;

pub use convert::to_inbound;
pub use probe::{ProbeError, probe};
pub use receive::{poll, webhook_router};

/// The cursor holding the next `getUpdates` offset.
pub const OFFSET_CURSOR: &str = "telegram:offset";

/// A connected Telegram bot.
#[derive(Debug, Clone)]
pub struct Telegram {
    bot: Bot,
    me: Me,
    token: SecretString,
    config: TelegramConfig,
}

impl Telegram {
    /// Checks the token with `getMe` and registers the command list.
    pub async fn connect(config: &TelegramConfig) -> anyhow::Result<Telegram> {
        let (bot, token) = build_bot(config)?;
        let me = bot.get_me().await.map_err(|e| {
            anyhow::anyhow!("Telegram getMe failed: {}", redact(&e.to_string(), &token))
        })?;
        let commands: Vec<BotCommand> = CommandName::ALL
            .into_iter()
            .map(|c| BotCommand::new(c.word(), c.summary()))
            .collect();
        if let Err(e) = bot.set_my_commands(commands).await {
            tracing::warn!(error = %redact(&e.to_string(), &token), "cannot register the Telegram command list");
        }
        tracing::info!(bot = %me.username(), "connected to Telegram");
        Ok(Telegram {
            bot,
            me,
            token,
            config: config.clone(),
        })
    }

    /// The bot's username (without '@').
    pub fn username(&self) -> &str {
        self.me.username()
    }

    fn redact(&self, text: &str) -> String {
        redact(text, &self.token)
    }
}

/// The bot client for `config`, and its token (to redact it from errors).
fn build_bot(config: &TelegramConfig) -> anyhow::Result<(Bot, SecretString)> {
    let token = config.token.clone().context("telegram.token is not set")?;
    let api_url = url::Url::parse(&config.api_url).context("telegram.api_url is not a URL")?;
    // Long polls hold the request for poll_timeout_secs; the client must wait longer than that.
    let client = teloxide::net::default_reqwest_settings()
        .timeout(Duration::from_secs(
            u64::from(config.poll_timeout_secs) + 15,
        ))
        .build()
        .context("cannot build the Telegram HTTP client")?;
    let bot = Bot::with_client(token.expose_secret(), client).set_api_url(api_url);
    Ok((bot, token))
}

/// Removes the bot token from a message (Bot API URLs carry it, and so do network errors).
fn redact(text: &str, token: &SecretString) -> String {
    let token = token.expose_secret();
    if token.is_empty() {
        text.to_owned()
    } else {
        text.replace(token, "<token>")
    }
}
