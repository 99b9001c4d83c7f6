//! The Discord gateway: one WebSocket session (HELLO → IDENTIFY or RESUME → dispatches), heartbeats, and
//! reconnecting with RESUME so missed events are replayed.
//!
//! The session id, resume URL and sequence number are stored as a cursor in the same transaction as the events
//! they follow, and the sequence number Aura heartbeats and resumes with is that of the last event it handled. So
//! an event Aura could not record is replayed by Discord after the reconnect, also across a restart (Aura closes
//! with a resumable code on shutdown); the unique event ids make a replay of a recorded event a no-op.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::Discord;
use super::channels::ChannelInfo;
use super::intake::commit;
use super::rest::Route;
use crate::chat::backoff::{Backoff, pause as pause_or_stop};
use crate::state::SharedState;

/// The cursor holding the gateway session (`{"session_id", "resume_url", "seq"}`).
pub const SESSION_CURSOR: &str = "discord:session";

/// GUILDS (thread events), GUILD_MESSAGES, DIRECT_MESSAGES and MESSAGE_CONTENT (privileged: enable it in the
/// Developer Portal).
const INTENTS: u64 = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A close code other than 1000/1001, so Discord keeps the session for a resume after a restart.
const RESUMABLE_CLOSE: u16 = 4000;
/// Resuming a stored session is given up after this many attempts that did not get through.
const RESUME_ATTEMPTS: u32 = 3;

/// A resumable gateway session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// READY's `session_id`.
    pub session_id: String,
    /// READY's `resume_gateway_url`, where a RESUME must go.
    pub resume_url: String,
    /// The last event handled.
    pub seq: u64,
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// Shutdown was requested.
    Stopped,
    /// Reconnect and resume the session.
    Resume,
    /// The session is gone: identify anew.
    Invalid,
}

/// What one connection did.
struct Outcome {
    end: anyhow::Result<End>,
    /// READY or RESUMED arrived: the connection got through.
    established: bool,
}

/// Close codes after which reconnecting cannot help.
fn fatal(code: u16) -> Option<&'static str> {
    Some(match code {
        4004 => "Discord rejected the bot token (check discord.token)",
        4010 | 4011 => "Discord wants the bot sharded, which Aura does not do (too many guilds)",
        4012 => "Discord no longer speaks gateway v10",
        4013 => "Discord rejected the gateway intents",
        4014 => {
            "Discord refused the Message Content intent: enable it in the Developer Portal (Bot → \
                 Privileged Gateway Intents), or use discord.mode = \"interactions\""
        }
        _ => return None,
    })
}

/// Runs the gateway until shutdown; fails only when reconnecting cannot help (bad token, refused intents).
pub async fn run(state: SharedState, dc: Arc<Discord>) -> anyhow::Result<()> {
    let mut session = load(&state).await;
    let mut backoff = Backoff::default();
    let mut failed_resumes = 0;
    loop {
        let url = match &session {
            Some(s) => s.resume_url.clone(),
            None => match dc.gateway_url().await {
                Ok(url) => url,
                Err(e) if e.is_auth() => {
                    anyhow::bail!("Discord rejected the bot token (check discord.token): {e}")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot ask Discord for the gateway; retrying");
                    if !pause_or_stop(&state.shutdown, backoff.failed()).await {
                        return Ok(());
                    }
                    continue;
                }
            },
        };
        let outcome = connection(&state, &dc, &url, &mut session).await;
        let pause = if outcome.established {
            backoff.succeeded();
            failed_resumes = 0;
            Duration::from_millis(500)
        } else {
            failed_resumes += u32::from(session.is_some());
            backoff.failed()
        };
        match outcome.end {
            Ok(End::Stopped) => return Ok(()),
            Ok(End::Resume) if failed_resumes < RESUME_ATTEMPTS => {}
            Ok(End::Resume) | Ok(End::Invalid) => {
                tracing::info!("starting a new Discord gateway session");
                session = None;
                failed_resumes = 0;
            }
            Err(e) => {
                if let Some(code) = e.downcast_ref::<FatalClose>() {
                    anyhow::bail!("{}", code.0);
                }
                tracing::warn!(error = %format!("{e:#}"), "Discord gateway connection failed; reconnecting");
            }
        }
        if !pause_or_stop(&state.shutdown, pause).await {
            return Ok(());
        }
    }
}

/// A close that ends the gateway for good.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct FatalClose(&'static str);

/// The stored session, if any (an empty value means none).
async fn load(state: &SharedState) -> Option<Session> {
    match state.store.cursor(SESSION_CURSOR).await {
        Ok(Some(v)) if !v.is_empty() => serde_json::from_str(&v).ok(),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the stored Discord session; starting a new one");
            None
        }
    }
}

impl Discord {
    async fn gateway_url(&self) -> Result<String, super::RestError> {
        #[derive(Deserialize)]
        struct Gateway {
            url: String,
        }
        let g: Gateway = self.rest.call(&Route::gateway_bot(), None::<&()>).await?;
        Ok(g.url)
    }
}

/// Incoming gateway frame.
#[derive(Debug, Deserialize)]
struct Payload {
    op: u8,
    #[serde(default)]
    d: Value,
    s: Option<u64>,
    t: Option<String>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One connection: handshake, then events until it ends.
async fn connection(
    state: &SharedState,
    dc: &Discord,
    url: &str,
    session: &mut Option<Session>,
) -> Outcome {
    let mut established = false;
    let end = async {
        let address = format!("{}?v=10&encoding=json", url.trim_end_matches('/'));
        let (mut ws, _) = timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(address))
            .await
            .map_err(|_| anyhow::anyhow!("no gateway connection within {CONNECT_TIMEOUT:?}"))??;
        let interval = hello(&mut ws).await?;
        let token = dc
            .token
            .expose_secret()
            .trim_start_matches("Bot ")
            .to_owned();
        let greeting = match session.as_ref() {
            Some(s) => {
                json!({"op": 6, "d": {"token": token, "session_id": s.session_id, "seq": s.seq}})
            }
            None => json!({"op": 2, "d": {"token": token, "intents": INTENTS,
                "properties": {"os": std::env::consts::OS, "browser": "aura", "device": "aura"}}}),
        };
        ws.send(Frame::Text(greeting.to_string())).await?;
        events(state, dc, &mut ws, interval, session, &mut established).await
    }
    .await;
    Outcome { end, established }
}

/// Waits for HELLO and returns the heartbeat interval.
async fn hello(ws: &mut Socket) -> anyhow::Result<Duration> {
    let frame = timeout(CONNECT_TIMEOUT, ws.next())
        .await
        .map_err(|_| anyhow::anyhow!("no HELLO from the gateway"))?;
    let Some(Ok(Frame::Text(text))) = frame else {
        anyhow::bail!("the gateway closed before HELLO");
    };
    let p: Payload = serde_json::from_str(&text)?;
    let ms = p.d["heartbeat_interval"].as_u64().filter(|_| p.op == 10);
    ms.map(Duration::from_millis)
        .ok_or_else(|| anyhow::anyhow!("expected HELLO, got op {}", p.op))
}

/// Handles frames until the connection ends.
async fn events(
    state: &SharedState,
    dc: &Discord,
    ws: &mut Socket,
    interval: Duration,
    session: &mut Option<Session>,
    established: &mut bool,
) -> anyhow::Result<End> {
    let mut next_beat = Instant::now() + interval.mul_f64(rand::random::<f64>());
    let mut acked = true;
    loop {
        let frame = tokio::select! {
            () = state.shutdown.cancelled() => {
                let close = CloseFrame { code: CloseCode::from(RESUMABLE_CLOSE), reason: "restarting".into() };
                let _ = timeout(Duration::from_secs(2), ws.close(Some(close))).await;
                return Ok(End::Stopped);
            }
            () = sleep_until(next_beat) => {
                if !acked {
                    tracing::info!("Discord missed a heartbeat acknowledgement; reconnecting");
                    return Ok(End::Resume);
                }
                heartbeat(ws, session).await?;
                acked = false;
                next_beat = Instant::now() + interval;
                continue;
            }
            frame = ws.next() => frame,
        };
        let text = match frame {
            Some(Ok(Frame::Text(text))) => text,
            Some(Ok(Frame::Close(close))) => return closed(close.map(|c| u16::from(c.code))),
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                tracing::info!(error = %e, "the Discord gateway connection broke; resuming");
                return Ok(End::Resume);
            }
            None => return Ok(End::Resume),
        };
        let p: Payload = serde_json::from_str(&text)?;
        match p.op {
            0 => dispatch(state, dc, p, session, established).await?,
            1 => heartbeat(ws, session).await?,
            7 => return Ok(End::Resume),
            9 if p.d == Value::Bool(true) => return Ok(End::Resume),
            9 => return Ok(End::Invalid),
            11 => acked = true,
            _ => {}
        }
    }
}

async fn heartbeat(ws: &mut Socket, session: &Option<Session>) -> anyhow::Result<()> {
    let seq = session.as_ref().map(|s| s.seq);
    ws.send(Frame::Text(json!({"op": 1, "d": seq}).to_string()))
        .await?;
    Ok(())
}

fn closed(code: Option<u16>) -> anyhow::Result<End> {
    let code = code.unwrap_or(1005);
    if let Some(reason) = fatal(code) {
        return Err(FatalClose(reason).into());
    }
    tracing::info!(code, "the Discord gateway closed the connection");
    Ok(match code {
        // Invalid sequence, session timed out.
        4007 | 4009 => End::Invalid,
        _ => End::Resume,
    })
}

/// Handles one dispatch; the session's sequence number moves on only once the event is handled.
async fn dispatch(
    state: &SharedState,
    dc: &Discord,
    p: Payload,
    session: &mut Option<Session>,
    established: &mut bool,
) -> anyhow::Result<()> {
    let seq = p.s.unwrap_or_default();
    let next = session.as_ref().map(|s| Session { seq, ..s.clone() });
    let position = next.as_ref().map(serde_json::to_string).transpose()?;
    let position = position.as_deref().map(|v| (SESSION_CURSOR, v));
    match p.t.as_deref().unwrap_or_default() {
        "READY" => {
            let ready: Ready = serde_json::from_value(p.d)?;
            let fresh = Session {
                session_id: ready.session_id,
                resume_url: ready.resume_gateway_url,
                seq,
            };
            commit(
                state,
                &[],
                Some((SESSION_CURSOR, &serde_json::to_string(&fresh)?)),
            )
            .await?;
            tracing::info!(guilds = ready.guilds.len(), "Discord gateway ready");
            *session = Some(fresh);
            *established = true;
            return Ok(());
        }
        "RESUMED" => {
            tracing::info!("Discord gateway session resumed");
            *established = true;
        }
        "MESSAGE_CREATE" => match serde_json::from_value(p.d) {
            Ok(m) => dc.take_message(state, &m, position).await?,
            Err(e) => tracing::warn!(error = %e, "unreadable Discord MESSAGE_CREATE; skipped"),
        },
        "INTERACTION_CREATE" => match serde_json::from_value(p.d) {
            Ok(i) => drop(dc.take_interaction(state, &i, position, true).await?),
            Err(e) => tracing::warn!(error = %e, "unreadable Discord INTERACTION_CREATE; skipped"),
        },
        "THREAD_CREATE" | "THREAD_UPDATE" => {
            if let Ok(info) = serde_json::from_value::<ChannelInfo>(p.d) {
                dc.channels.learn(&info);
            }
        }
        _ => {}
    }
    if let Some(next) = next {
        *session = Some(next);
    }
    Ok(())
}

/// The READY fields Aura uses.
#[derive(Debug, Deserialize)]
struct Ready {
    session_id: String,
    resume_gateway_url: String,
    #[serde(default)]
    guilds: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_sort_into_resume_new_session_or_stop() {
        assert!(matches!(closed(Some(4000)), Ok(End::Resume)));
        assert!(matches!(closed(None), Ok(End::Resume)));
        assert!(matches!(closed(Some(4009)), Ok(End::Invalid)));
        let fatal = closed(Some(4014)).expect_err("fatal");
        assert!(
            fatal.to_string().contains("Message Content intent"),
            "{fatal}"
        );
        assert!(closed(Some(4004)).is_err());
    }

    #[test]
    fn the_session_cursor_round_trips() {
        let s = Session {
            session_id: "abc".into(),
            resume_url: "wss://r".into(),
            seq: 42,
        };
        let json = serde_json::to_string(&s).expect("json");
        assert_eq!(serde_json::from_str::<Session>(&json).expect("back"), s);
    }
}
