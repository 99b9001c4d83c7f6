//! The Matrix adapter (matrix-sdk): login with a persistent session and crypto store, /sync intake into the
//! inbox, and sending notices (threads, edits) with idempotent transaction ids.

mod convert;
mod send;
mod sync;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use matrix_sdk::Client;
use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::RequestConfig;
use secrecy::ExposeSecret;

use crate::config::MatrixConfig;

pub use convert::to_inbound;
pub use sync::{SYNC_CURSOR, sync};

/// A logged-in Matrix bot account.
#[derive(Debug, Clone)]
pub struct Matrix {
    client: Client,
    config: MatrixConfig,
}

const SESSION_FILE: &str = "session.json";

impl Matrix {
    /// Restores the saved session (same device and keys) or logs in and saves it.
    pub async fn connect(config: &MatrixConfig) -> anyhow::Result<Matrix> {
        let homeserver = config
            .homeserver
            .as_deref()
            .context("matrix.homeserver is not set")?;
        let user_id = config
            .user_id
            .as_deref()
            .context("matrix.user_id is not set")?;
        std::fs::create_dir_all(&config.store_path).with_context(|| {
            format!(
                "cannot create matrix.store_path {}",
                config.store_path.display()
            )
        })?;
        let passphrase = config
            .store_passphrase
            .as_ref()
            .map(|p| p.expose_secret().to_owned());
        // Retries are the outbox's job (with the same transaction id), so the SDK reports errors at once.
        let requests = RequestConfig::new()
            .disable_retry()
            .timeout(Duration::from_secs(30));
        let client = Client::builder()
            .homeserver_url(homeserver)
            .sqlite_store(config.store_path.join("sdk"), passphrase.as_deref())
            .request_config(requests)
            .build()
            .await
            .context("cannot open the Matrix store")?;
        let session_file = config.store_path.join(SESSION_FILE);
        if session_file.is_file() {
            restore(&client, &session_file).await?;
        } else {
            login(&client, config, user_id).await?;
            save_session(&client, &session_file)?;
        }
        tracing::info!(user = %user_id, device = ?client.device_id(), "connected to Matrix");
        Ok(Matrix {
            client,
            config: config.clone(),
        })
    }

    /// The bot's MXID.
    pub fn user_id(&self) -> String {
        self.client
            .user_id()
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

async fn restore(client: &Client, file: &Path) -> anyhow::Result<()> {
    let json =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let session: MatrixSession =
        serde_json::from_str(&json).context("the saved Matrix session is unreadable")?;
    client
        .restore_session(session)
        .await
        .context("cannot restore the Matrix session")?;
    client.whoami().await.map_err(|e| {
        anyhow::anyhow!(
            "the saved Matrix session was rejected ({e}); delete {} to log in again",
            file.display()
        )
    })?;
    Ok(())
}

async fn login(client: &Client, config: &MatrixConfig, user_id: &str) -> anyhow::Result<()> {
    if let Some(password) = &config.password {
        client
            .matrix_auth()
            .login_username(user_id, password.expose_secret())
            .initial_device_display_name("Aura")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("Matrix login as {user_id} failed: {e}"))?;
        return Ok(());
    }
    let token = config
        .access_token
        .as_ref()
        .context("set matrix.password or matrix.access_token")?;
    let device = device_of_token(config, token.expose_secret()).await?;
    let session = MatrixSession {
        meta: matrix_sdk::SessionMeta {
            user_id: user_id
                .try_into()
                .context("matrix.user_id is not an MXID")?,
            device_id: device.into(),
        },
        tokens: matrix_sdk::SessionTokens {
            access_token: token.expose_secret().to_owned(),
            refresh_token: None,
        },
    };
    client
        .restore_session(session)
        .await
        .context("cannot use matrix.access_token")?;
    Ok(())
}

/// Asks the homeserver which device an access token belongs to (a store-less client, so nothing is persisted).
async fn device_of_token(config: &MatrixConfig, token: &str) -> anyhow::Result<String> {
    let homeserver = config.homeserver.as_deref().unwrap_or_default();
    let probe = Client::builder().homeserver_url(homeserver).build().await?;
    let session = MatrixSession {
        meta: matrix_sdk::SessionMeta {
            user_id: config.user_id.as_deref().unwrap_or_default().try_into()?,
            device_id: "AURAPROBE".into(),
        },
        tokens: matrix_sdk::SessionTokens {
            access_token: token.to_owned(),
            refresh_token: None,
        },
    };
    probe
        .matrix_auth()
        .restore_session(session, matrix_sdk::store::RoomLoadSettings::default())
        .await?;
    let me = probe
        .whoami()
        .await
        .map_err(|e| anyhow::anyhow!("matrix.access_token was rejected: {e}"))?;
    me.device_id
        .map(|d| d.to_string())
        .context("the access token has no device; log in with a password instead")
}

fn save_session(client: &Client, file: &Path) -> anyhow::Result<()> {
    let session = client
        .matrix_auth()
        .session()
        .context("no Matrix session after login")?;
    let json = serde_json::to_string(&session)?;
    write_private(file, &json)
        .with_context(|| format!("cannot save the Matrix session to {}", file.display()))
}

#[cfg(unix)]
fn write_private(file: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(file: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(file, contents)
}
