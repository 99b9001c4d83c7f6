//! `/api/stream`: audit events as server-sent events, resumable with `Last-Event-ID`.
//!
//! The database is the source: the broadcast from the store only wakes the stream, which then reads every row
//! after the last one it sent. A lagging or reconnecting client therefore never misses or repeats an event.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State as AxState};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::ApiError;
use crate::domain::{AuditEntry, TicketId};
use crate::state::SharedState;
use crate::storage::Store;

const PAGE: i64 = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// Only this ticket's events.
    ticket: Option<String>,
    /// Same as the `Last-Event-ID` header, for clients that cannot set headers.
    last_event_id: Option<i64>,
}

struct Cursor {
    store: Store,
    wake: broadcast::Receiver<AuditEntry>,
    shutdown: CancellationToken,
    last: i64,
    ticket: Option<TicketId>,
    pending: VecDeque<AuditEntry>,
}

pub async fn stream(
    AxState(state): AxState<SharedState>,
    headers: HeaderMap,
    params: Result<Query<StreamParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let ticket = match params.ticket {
        Some(t) => Some(t.parse().map_err(|e: crate::domain::ticket::BadTicketId| {
            ApiError::BadRequest(e.to_string())
        })?),
        None => None,
    };
    let header_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let last = match header_id {
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map_err(|_| ApiError::BadRequest(format!("Last-Event-ID {v:?} is not an event id")))?,
        None => params.last_event_id.unwrap_or(0),
    };
    // Subscribe before the first read so nothing committed in between is missed.
    let cursor = Cursor {
        wake: state.store.subscribe(),
        store: state.store.clone(),
        shutdown: state.shutdown.clone(),
        last,
        ticket,
        pending: VecDeque::new(),
    };
    let heartbeat = Duration::from_secs(state.config.http.stream_heartbeat_secs);
    Ok(Sse::new(futures::stream::unfold(cursor, next_event))
        .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat")))
}

async fn next_event(mut c: Cursor) -> Option<(Result<Event, Infallible>, Cursor)> {
    loop {
        if let Some(e) = c.pending.pop_front() {
            c.last = e.id;
            if c.ticket.is_some() && c.ticket != e.ticket {
                continue;
            }
            return Some((Ok(to_event(&e)), c));
        }
        match c.store.audit_after(c.last, PAGE).await {
            Ok(rows) if !rows.is_empty() => {
                c.pending.extend(rows);
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "event stream cannot read the audit log; waiting"),
        }
        tokio::select! {
            () = c.shutdown.cancelled() => return None,
            r = c.wake.recv() => match r {
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            },
        }
    }
}

fn to_event(e: &AuditEntry) -> Event {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    Event::default()
        .id(e.id.to_string())
        .event(e.event.as_str())
        .data(data)
}
