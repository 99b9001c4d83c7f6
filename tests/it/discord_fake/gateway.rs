//! The fake's gateway WebSocket: HELLO, IDENTIFY → READY, RESUME → replay of missed dispatches + RESUMED,
//! heartbeat → ACK, INVALID_SESSION for a session it does not know; dispatches carry increasing `s`.

use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use super::state::{Fake, Out};
use super::{BOT_ID, BOT_NAME, TOKEN, payloads};

const HEARTBEAT_MS: u64 = 41_250;

/// Accepts gateway connections until the fake is dropped.
pub async fn serve(listener: TcpListener, fake: Arc<Mutex<Fake>>, resume_url: String) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, fake.clone(), resume_url.clone()));
    }
}

// tungstenite's handshake callback type has a large error variant; it is not ours to shrink.
#[allow(clippy::result_large_err)]
async fn connection(stream: TcpStream, fake: Arc<Mutex<Fake>>, resume_url: String) {
    let mut query = String::new();
    let callback = |req: &Request, resp: Response| {
        query = req.uri().query().unwrap_or_default().to_owned();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let me = {
        let mut f = fake.lock().expect("fake");
        f.gateway.connections += 1;
        f.gateway.queries.push(query);
        let me = u64::from(f.gateway.connections);
        // A new connection replaces the old one, as when a client reconnects.
        f.gateway.conn = Some((me, tx));
        f.gateway.live = false;
        me
    };
    let hello = json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_MS}}).to_string();
    if sink.send(Message::Text(hello)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            incoming = source.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let Ok(frame) = serde_json::from_str::<Value>(&text) else { break };
                    handle(&fake, &frame, &resume_url);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            out = rx.recv() => match out {
                Some(Out::Text(text)) => if sink.send(Message::Text(text)).await.is_err() { break },
                Some(Out::Drop) | None => break,
            },
        }
    }
    let mut f = fake.lock().expect("fake");
    if f.gateway.conn.as_ref().is_some_and(|(id, _)| *id == me) {
        f.gateway.conn = None;
        f.gateway.live = false;
    }
}

/// Answers one client frame (under the lock, so replies and dispatches keep their order).
fn handle(fake: &Arc<Mutex<Fake>>, frame: &Value, resume_url: &str) {
    let mut f = fake.lock().expect("fake");
    let d = &frame["d"];
    match frame["op"].as_u64() {
        Some(1) => {
            f.gateway.heartbeats.push(d.clone());
            f.gateway.send(json!({"op": 11}).to_string());
        }
        Some(2) => {
            if d["token"] != TOKEN {
                f.gateway.send(json!({"op": 9, "d": false}).to_string());
                return;
            }
            f.gateway.identifies += 1;
            f.gateway.intents = d["intents"].as_u64();
            let session = format!("fake-session-{}", rand::random::<u32>());
            f.gateway.session = Some(session.clone());
            f.gateway.seq = 0;
            f.gateway.log.clear();
            f.gateway.live = true;
            let ready =
                payloads::ready(&session, resume_url, payloads::user(BOT_ID, BOT_NAME, true));
            f.gateway.dispatch("READY", ready);
        }
        Some(6) => {
            let known =
                f.gateway.session.as_deref() == d["session_id"].as_str() && d["token"] == TOKEN;
            if !known {
                f.gateway.send(json!({"op": 9, "d": false}).to_string());
                return;
            }
            f.gateway.resumes += 1;
            f.gateway.live = true;
            let from = d["seq"].as_u64().unwrap_or_default();
            let missed: Vec<String> = f
                .gateway
                .log
                .iter()
                .filter(|(s, _)| *s > from)
                .map(|(_, t)| t.clone())
                .collect();
            for frame in missed {
                f.gateway.send(frame);
            }
            f.gateway.dispatch("RESUMED", json!({"_trace": ["fake"]}));
        }
        _ => {}
    }
}
