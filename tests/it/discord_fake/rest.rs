//! The fake's REST API (`/api/v10/…`): the endpoints Aura uses, with Discord's JSON shapes, error codes,
//! rate-limit headers (5 requests per 5 s per route and major id), real 429s and on-demand ones.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::state::{Channel, Fake};
use super::{APP_ID, BOT_ID, BOT_NAME, TOKEN, payloads};

const WINDOW: Duration = Duration::from_secs(5);
const PER_WINDOW: usize = 5;

/// What every handler can reach.
#[derive(Clone)]
pub struct Ctx {
    pub fake: Arc<Mutex<Fake>>,
    pub gateway_url: Arc<Mutex<String>>,
}

impl Ctx {
    fn lock(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.fake.lock().expect("fake state")
    }
}

pub fn router(ctx: Ctx) -> Router {
    Router::new()
        .route("/api/v10/users/@me", get(current_user))
        .route("/api/v10/applications/@me", get(application))
        .route("/api/v10/gateway", get(gateway))
        .route("/api/v10/gateway/bot", get(gateway))
        .route("/api/v10/applications/{app}/commands", put(commands))
        .route("/api/v10/channels/{channel}", get(channel))
        .route("/api/v10/channels/{channel}/messages", post(create_message))
        .route(
            "/api/v10/channels/{channel}/messages/{message}",
            patch(edit_message),
        )
        .route(
            "/api/v10/channels/{channel}/messages/{message}/threads",
            post(start_thread),
        )
        .route(
            "/api/v10/interactions/{id}/{token}/callback",
            post(callback),
        )
        .route("/api/v10/webhooks/{app}/{token}", post(followup))
        .route(
            "/api/v10/webhooks/{app}/{token}/messages/{message}",
            patch(edit_original),
        )
        .route_layer(middleware::from_fn_with_state(ctx.clone(), limits))
        .with_state(ctx)
}

fn error(status: StatusCode, code: u64, message: &str) -> Response {
    (status, Json(json!({"code": code, "message": message}))).into_response()
}

fn limited(retry_after: f64, global: bool) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": global})),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert("retry-after", HeaderValue::from(retry_after.ceil() as u64));
    h.insert(
        "x-ratelimit-scope",
        HeaderValue::from_static(if global { "global" } else { "user" }),
    );
    if global {
        h.insert("x-ratelimit-global", HeaderValue::from_static("true"));
    }
    r
}

/// The major parameter of a path (the channel or webhook it is about).
fn major(path: &str) -> &str {
    let mut parts = path.split('/');
    while let Some(p) = parts.next() {
        if p == "channels" || p == "webhooks" || p == "interactions" {
            return parts.next().unwrap_or_default();
        }
    }
    ""
}

/// Auth, on-demand 429s, per-bucket windows and rate-limit headers around every call; each call is recorded.
async fn limits(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let interaction = path.contains("/webhooks/") || path.contains("/interactions/");
    let authed = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bot {TOKEN}"));
    let bucket = format!("{method} {matched} {}", major(&path));
    let now = Instant::now();
    let (early, remaining, reset_after) = {
        let mut guard = ctx.lock();
        let f = &mut *guard;
        let injected = f
            .failures
            .iter_mut()
            .find(|x| x.remaining > 0 && x.method == method && path.contains(&x.path_contains));
        let window = f.windows.entry(bucket.clone()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            window.pop_front();
        }
        let reset_after = window
            .front()
            .map_or(WINDOW, |t| WINDOW.saturating_sub(now.duration_since(*t)));
        let early = if !authed && !interaction {
            Some(error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized"))
        } else if let Some(x) = injected {
            x.remaining -= 1;
            Some(limited(x.retry_after, x.global))
        } else if !interaction && window.len() >= PER_WINDOW {
            Some(limited(reset_after.as_secs_f64(), false))
        } else {
            if !interaction {
                window.push_back(now);
            }
            None
        };
        let remaining = PER_WINDOW.saturating_sub(f.windows.get(&bucket).map_or(0, |w| w.len()));
        (early, remaining, reset_after)
    };
    let mut response = match early {
        Some(r) => r,
        None => next.run(req).await,
    };
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(PER_WINDOW as u64));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining as u64));
    if let Ok(v) = HeaderValue::from_str(&format!("{:.3}", reset_after.as_secs_f64())) {
        h.insert("x-ratelimit-reset-after", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{:x}", bucket.len() * 7919 + matched.len())) {
        h.insert("x-ratelimit-bucket", v);
    }
    ctx.lock().calls.push(super::state::Call {
        method,
        path,
        status: response.status().as_u16(),
        at: now,
    });
    response
}

async fn current_user() -> Json<Value> {
    let mut me = payloads::user(BOT_ID, BOT_NAME, true);
    me["verified"] = json!(true);
    me["mfa_enabled"] = json!(false);
    Json(me)
}

async fn application() -> Json<Value> {
    Json(
        json!({"id": APP_ID.to_string(), "name": "Aura", "icon": null, "description": "", "bot_public": false,
                "bot_require_code_grant": false, "verify_key": "00", "flags": 8953856,
                "bot": payloads::user(BOT_ID, BOT_NAME, true)}),
    )
}

async fn gateway(State(ctx): State<Ctx>) -> Json<Value> {
    let url = ctx.gateway_url.lock().expect("url").clone();
    Json(json!({"url": url, "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}}))
}

async fn commands(
    State(ctx): State<Ctx>,
    Path(app): Path<u64>,
    Json(body): Json<Value>,
) -> Response {
    if app != APP_ID {
        return error(StatusCode::NOT_FOUND, 10002, "Unknown Application");
    }
    let mut f = ctx.lock();
    let mut out = Vec::new();
    for mut c in body.as_array().cloned().unwrap_or_default() {
        c["id"] = json!(f.snowflake().to_string());
        c["application_id"] = json!(APP_ID.to_string());
        c["version"] = json!("1");
        out.push(c);
    }
    f.commands = out.clone();
    Json(Value::Array(out)).into_response()
}

async fn channel(State(ctx): State<Ctx>, Path(id): Path<u64>) -> Response {
    match ctx.lock().channels.get(&id) {
        Some(c) => Json(c.json()).into_response(),
        None => error(StatusCode::NOT_FOUND, 10003, "Unknown Channel"),
    }
}

async fn create_message(
    State(ctx): State<Ctx>,
    Path(channel): Path<u64>,
    Json(body): Json<Value>,
) -> Response {
    let mut f = ctx.lock();
    if !f.channels.contains_key(&channel) {
        return error(StatusCode::NOT_FOUND, 10003, "Unknown Channel");
    }
    if body["content"]
        .as_str()
        .is_some_and(|c| c.chars().count() > 2000)
    {
        return error(
            StatusCode::BAD_REQUEST,
            50035,
            "Invalid Form Body (content: Must be 2000 or fewer in length.)",
        );
    }
    let nonce = body["nonce"]
        .as_str()
        .filter(|_| body["enforce_nonce"] == true)
        .map(str::to_owned);
    if let Some(existing) = nonce
        .as_ref()
        .and_then(|n| f.nonces.get(&(channel, n.clone())))
        .and_then(|id| f.messages.get(id))
    {
        return Json(f.message_json(existing)).into_response();
    }
    let mut body = body;
    if let Some(r) = body["message_reference"]["message_id"]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        && f.messages.get(&r).is_none_or(|m| m.channel != channel)
    {
        if body["message_reference"]["fail_if_not_exists"] != false {
            return error(
                StatusCode::BAD_REQUEST,
                50035,
                "Invalid Form Body (message_reference: Unknown message)",
            );
        }
        body["message_reference"] = Value::Null;
    }
    let json = f.bot_posts(channel, &body, None, None);
    if let (Some(n), Some(id)) = (nonce, json["id"].as_str().and_then(|s| s.parse().ok())) {
        f.nonces.insert((channel, n), id);
    }
    Json(json).into_response()
}

/// Applies an edit body to a stored message.
fn apply_edit(f: &mut Fake, id: u64, body: &Value) -> Value {
    let Some(m) = f.messages.get_mut(&id) else {
        return Value::Null;
    };
    if let Some(c) = body["content"].as_str() {
        m.content = c.to_owned();
    }
    if let Some(c) = body.get("components").filter(|c| !c.is_null()) {
        m.components = c.clone();
    }
    m.flags &= !128;
    m.edits += 1;
    m.body = body.clone();
    let m = m.clone();
    f.message_json(&m)
}

async fn edit_message(
    State(ctx): State<Ctx>,
    Path((channel, message)): Path<(u64, u64)>,
    Json(body): Json<Value>,
) -> Response {
    let mut f = ctx.lock();
    match f.messages.get(&message) {
        Some(m) if m.channel == channel && m.author == BOT_ID => {}
        Some(m) if m.channel == channel => {
            return error(
                StatusCode::FORBIDDEN,
                50005,
                "Cannot edit a message authored by another user",
            );
        }
        _ => return error(StatusCode::NOT_FOUND, 10008, "Unknown Message"),
    }
    Json(apply_edit(&mut f, message, &body)).into_response()
}

async fn start_thread(
    State(ctx): State<Ctx>,
    Path((channel, message)): Path<(u64, u64)>,
    Json(body): Json<Value>,
) -> Response {
    let mut f = ctx.lock();
    let Some(parent) = f.channels.get(&channel).cloned() else {
        return error(StatusCode::NOT_FOUND, 10003, "Unknown Channel");
    };
    if parent.guild.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            50024,
            "Cannot execute action on this channel type",
        );
    }
    if f.messages
        .get(&message)
        .is_none_or(|m| m.channel != channel)
    {
        return error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
    }
    if f.channels.contains_key(&message) {
        return error(
            StatusCode::BAD_REQUEST,
            160004,
            "A thread has already been created for this message",
        );
    }
    let name: String = body["name"]
        .as_str()
        .unwrap_or("thread")
        .chars()
        .take(100)
        .collect();
    let thread = Channel {
        id: message,
        kind: 11,
        guild: parent.guild,
        parent: Some(channel),
        name,
    };
    let mut json = thread.json();
    f.channels.insert(message, thread);
    f.threads_started.push((channel, message));
    json["newly_created"] = json!(true);
    f.gateway.dispatch("THREAD_CREATE", json.clone());
    (StatusCode::CREATED, Json(json)).into_response()
}

async fn callback(
    State(ctx): State<Ctx>,
    Path((id, token)): Path<(u64, String)>,
    Json(body): Json<Value>,
) -> Response {
    match ctx.lock().acknowledge(id, &token, &body) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err((status, code, message)) => error(status, code, message),
    }
}

/// The acknowledged interaction a webhook token belongs to.
fn by_token(f: &Fake, app: u64, token: &str) -> Option<super::state::Interaction> {
    f.interactions
        .values()
        .find(|i| app == APP_ID && i.token == token && i.ack.is_some())
        .cloned()
}

async fn followup(
    State(ctx): State<Ctx>,
    Path((app, token)): Path<(u64, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut f = ctx.lock();
    let Some(i) = by_token(&f, app, &token) else {
        return error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook");
    };
    let ephemeral = body["flags"].as_u64().is_some_and(|fl| fl & 64 != 0);
    let json = f.bot_posts(i.channel, &body, Some(i.id), ephemeral.then_some(i.user));
    Json(json).into_response()
}

async fn edit_original(
    State(ctx): State<Ctx>,
    Path((app, token, message)): Path<(u64, String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut f = ctx.lock();
    let Some(i) = by_token(&f, app, &token) else {
        return error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook");
    };
    let Some(original) = i.original.filter(|_| message == "@original") else {
        return error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
    };
    Json(apply_edit(&mut f, original, &body)).into_response()
}
