//! A read-only check of the Bot API for `aura doctor`: `getMe` with the configured token, nothing else.

use teloxide::prelude::*;
use teloxide::{ApiError, RequestError};

use super::{build_bot, redact};
use crate::config::TelegramConfig;
use crate::error_text::with_causes;

/// How much of an unexpected answer a problem line quotes.
const MAX_CHARS: usize = 200;

/// Why `getMe` did not confirm the bot; no message carries the token.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The configuration cannot make a client (no token, a bad URL).
    #[error("{0}")]
    Config(String),
    /// The Bot API answered that the token is not valid.
    #[error("the Bot API at {api_url} rejected the token")]
    Unauthorized { api_url: String },
    /// Nothing usable answered at the Bot API URL.
    #[error("cannot reach the Bot API at {api_url}: {cause}")]
    Unreachable { api_url: String, cause: String },
    /// The Bot API answered with some other error.
    #[error("getMe failed: {0}")]
    Failed(String),
}

/// Asks the Bot API who the bot is (`getMe`) and returns `@username (id N)`; changes nothing.
pub async fn probe(config: &TelegramConfig) -> Result<String, ProbeError> {
    let (bot, token) = build_bot(config).map_err(|e| ProbeError::Config(format!("{e:#}")))?;
    let api_url = config.api_url.clone();
    match bot.get_me().await {
        Ok(me) => Ok(format!(
            "@{} (id {})",
            me.user.username.as_deref().unwrap_or("?"),
            me.user.id
        )),
        Err(RequestError::Api(ApiError::InvalidToken)) => Err(ProbeError::Unauthorized { api_url }),
        Err(RequestError::Network(e)) => Err(ProbeError::Unreachable {
            api_url,
            cause: redact(&with_causes(&*e), &token),
        }),
        Err(e) => {
            // A wrong URL answers with a whole HTML page, which teloxide quotes in full.
            let text = redact(&with_causes(&e), &token);
            Err(ProbeError::Failed(
                match text.char_indices().nth(MAX_CHARS) {
                    Some((cut, _)) => format!("{}…", &text[..cut]),
                    None => text,
                },
            ))
        }
    }
}
