//! Discord's REST API: JSON over HTTPS with the bot token, per-route and global rate limits, errors sorted for
//! retrying.
//!
//! serenity's own rate limiter cannot be used with a configurable base URL (it ignores the proxy, serenity#2479),
//! so pacing is done here: a route whose bucket is empty (`X-RateLimit-Remaining: 0`) or that answered 429 is held
//! until its reset, and a global 429 holds every route; a held request is not sent but answered `RateLimited`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::chat::ChatError;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Sent when Discord gives no usable wait with a 429.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);

/// Discord error codes Aura branches on.
pub mod code {
    /// Unknown channel.
    pub const UNKNOWN_CHANNEL: i64 = 10003;
    /// Unknown message.
    pub const UNKNOWN_MESSAGE: i64 = 10008;
    /// Unknown webhook (an interaction token that expired or was never acknowledged).
    pub const UNKNOWN_WEBHOOK: i64 = 10015;
    /// Unknown interaction (acknowledged too late).
    pub const UNKNOWN_INTERACTION: i64 = 10062;
    /// Interaction has already been acknowledged.
    pub const ALREADY_ACKNOWLEDGED: i64 = 40060;
    /// Cannot execute action on this channel type (e.g. a thread in a DM).
    pub const WRONG_CHANNEL_TYPE: i64 = 50024;
    /// A thread has already been created for this message.
    pub const THREAD_EXISTS: i64 = 160004;
}

/// One endpoint call: method, path below `/api/v10`, and the rate-limit bucket it counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    method: Method,
    path: String,
    bucket: String,
    /// Counts against shared buckets; interaction callbacks and follow-ups have limits of their own per interaction.
    shared: bool,
}

impl Route {
    fn new(method: Method, path: String, bucket: impl Into<String>) -> Route {
        Route {
            method,
            path,
            bucket: bucket.into(),
            shared: true,
        }
    }

    /// A route limited per interaction only: never held back by (or holding) other calls.
    fn per_interaction(self) -> Route {
        Route {
            shared: false,
            ..self
        }
    }

    /// `GET /users/@me`: the bot's own user.
    pub fn current_user() -> Route {
        Route::new(Method::GET, "/users/@me".into(), "users/@me")
    }

    /// `GET /applications/@me`: the bot's application.
    pub fn current_application() -> Route {
        Route::new(Method::GET, "/applications/@me".into(), "applications/@me")
    }

    /// `GET /gateway/bot`: where to open the gateway.
    pub fn gateway_bot() -> Route {
        Route::new(Method::GET, "/gateway/bot".into(), "gateway/bot")
    }

    /// `PUT /applications/{app}/commands`: replaces the global application commands.
    pub fn overwrite_commands(app: u64) -> Route {
        let path = format!("/applications/{app}/commands");
        Route::new(Method::PUT, path, "applications/commands")
    }

    /// `GET /channels/{channel}`.
    pub fn channel(channel: u64) -> Route {
        Route::new(
            Method::GET,
            format!("/channels/{channel}"),
            format!("channels/{channel}"),
        )
    }

    /// `POST /channels/{channel}/messages`.
    pub fn create_message(channel: u64) -> Route {
        let path = format!("/channels/{channel}/messages");
        Route::new(Method::POST, path, format!("channels/{channel}/messages"))
    }

    /// `PATCH /channels/{channel}/messages/{message}`.
    pub fn edit_message(channel: u64, message: u64) -> Route {
        let path = format!("/channels/{channel}/messages/{message}");
        Route::new(
            Method::PATCH,
            path,
            format!("channels/{channel}/messages/:id"),
        )
    }

    /// `POST /channels/{channel}/messages/{message}/threads`: a thread started from a message.
    pub fn start_thread(channel: u64, message: u64) -> Route {
        let path = format!("/channels/{channel}/messages/{message}/threads");
        Route::new(
            Method::POST,
            path,
            format!("channels/{channel}/messages/:id/threads"),
        )
    }

    /// `POST /interactions/{id}/{token}/callback`: the first answer to an interaction.
    pub fn interaction_callback(id: u64, token: &str) -> Route {
        let path = format!("/interactions/{id}/{token}/callback");
        Route::new(Method::POST, path, "interactions/:id/:token/callback").per_interaction()
    }

    /// `PATCH /webhooks/{app}/{token}/messages/@original`: edits an interaction's first answer.
    pub fn edit_original(app: u64, token: &str) -> Route {
        let path = format!("/webhooks/{app}/{token}/messages/@original");
        Route::new(
            Method::PATCH,
            path,
            "webhooks/:app/:token/messages/@original",
        )
        .per_interaction()
    }

    /// `POST /webhooks/{app}/{token}`: a follow-up message to an interaction.
    pub fn followup(app: u64, token: &str) -> Route {
        Route::new(
            Method::POST,
            format!("/webhooks/{app}/{token}"),
            "webhooks/:app/:token",
        )
        .per_interaction()
    }
}

impl std::fmt::Display for Route {
    // The bucket names the route without ids or interaction tokens, so it is safe for logs and errors.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} /{}", self.method, self.bucket)
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestError {
    /// Held back by a rate limit (ours or Discord's 429) for this long.
    #[error("rate limited; retry after {0:?}")]
    RateLimited(Duration),
    /// Discord refused the request (4xx); retrying the same request will not help.
    #[error("{route}: HTTP {status}, Discord error {code}: {message}")]
    Rejected {
        route: String,
        status: u16,
        code: i64,
        message: String,
    },
    /// Discord could not be reached or failed (network, 5xx, unreadable answer); worth retrying.
    #[error("{route}: {reason}")]
    Unavailable { route: String, reason: String },
}

impl RestError {
    /// Discord's JSON error code, for rejections.
    pub fn code(&self) -> Option<i64> {
        match self {
            RestError::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the token itself was refused (401) or lacks access (403).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            RestError::Rejected {
                status: 401 | 403,
                ..
            }
        )
    }
}

impl From<RestError> for ChatError {
    fn from(e: RestError) -> ChatError {
        match e {
            RestError::RateLimited(wait) => ChatError::RetryAfter(wait),
            RestError::Rejected { .. } => ChatError::Permanent(e.to_string()),
            RestError::Unavailable { .. } => ChatError::Transient(e.to_string()),
        }
    }
}

/// Until when routes (by bucket) and everything (global) are held.
#[derive(Debug, Default)]
struct Holds {
    routes: HashMap<String, Instant>,
    global: Option<Instant>,
}

/// A Discord REST client for one bot token.
#[derive(Debug)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
    auth: SecretString,
    holds: Mutex<Holds>,
}

/// The body of a 429.
#[derive(Debug, serde::Deserialize)]
struct Limited {
    retry_after: Option<f64>,
    #[serde(default)]
    global: bool,
}

/// The body of any other error.
#[derive(Debug, Default, serde::Deserialize)]
struct Failure {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

impl Rest {
    /// A client for `api_url` (e.g. `https://discord.com`); requests go to `{api_url}/api/v10/…`.
    pub fn new(api_url: &str, token: &SecretString) -> anyhow::Result<Rest> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!(
                "DiscordBot (https://github.com/aura, ",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .build()?;
        let auth = format!("Bot {}", token.expose_secret().trim_start_matches("Bot "));
        Ok(Rest {
            http,
            base: format!("{}/api/v10", api_url.trim_end_matches('/')),
            auth: auth.into(),
            holds: Mutex::new(Holds::default()),
        })
    }

    /// Calls `route` with an optional JSON body and reads the JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        route: &Route,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<T, RestError> {
        let response = self.execute(route, body).await?;
        response.json().await.map_err(|e| RestError::Unavailable {
            route: route.to_string(),
            reason: format!("unreadable answer: {}", e.without_url()),
        })
    }

    /// Calls `route` and ignores the answer's body (e.g. 204 No Content).
    pub async fn call_empty(
        &self,
        route: &Route,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<(), RestError> {
        self.execute(route, body).await.map(drop)
    }

    async fn execute(
        &self,
        route: &Route,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<reqwest::Response, RestError> {
        if let Some(wait) = self.held(route) {
            return Err(RestError::RateLimited(wait));
        }
        let mut request = self
            .http
            .request(route.method.clone(), format!("{}{}", self.base, route.path))
            .header("authorization", self.auth.expose_secret());
        request = match body {
            Some(body) => request.json(body),
            None => request.header("content-length", "0"),
        };
        let response = request.send().await.map_err(|e| RestError::Unavailable {
            route: route.to_string(),
            reason: e.without_url().to_string(),
        })?;
        if route.shared {
            self.note_bucket(&route.bucket, response.headers());
        }
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(RestError::RateLimited(self.limited(route, response).await));
        }
        let failure: Failure = response.json().await.unwrap_or_default();
        let route = route.to_string();
        if status.is_client_error() {
            Err(RestError::Rejected {
                route,
                status: status.as_u16(),
                code: failure.code,
                message: failure.message,
            })
        } else {
            Err(RestError::Unavailable {
                route,
                reason: format!("HTTP {status} {}", failure.message),
            })
        }
    }

    /// How long `route` is still held, if at all (interaction routes never are).
    fn held(&self, route: &Route) -> Option<Duration> {
        if !route.shared {
            return None;
        }
        let now = Instant::now();
        let holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        let until = [holds.global, holds.routes.get(&route.bucket).copied()]
            .into_iter()
            .flatten()
            .max()?;
        (until > now).then(|| until - now)
    }

    /// Holds the bucket until its reset when this response used its last request.
    fn note_bucket(&self, bucket: &str, headers: &HeaderMap) {
        let remaining = header_f64(headers, "x-ratelimit-remaining");
        let reset_after = header_f64(headers, "x-ratelimit-reset-after");
        if let (Some(r), Some(after)) = (remaining, reset_after)
            && r < 1.0
        {
            let until = Instant::now() + seconds(after);
            let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
            holds.routes.insert(bucket.to_owned(), until);
        }
    }

    /// Reads a 429: how long to wait, and whether it holds every route.
    async fn limited(&self, route: &Route, response: reqwest::Response) -> Duration {
        let headers = response.headers().clone();
        let body: Option<Limited> = response.json().await.ok();
        let global = body.as_ref().is_some_and(|b| b.global)
            || headers.get("x-ratelimit-global").is_some()
            || headers
                .get("x-ratelimit-scope")
                .is_some_and(|s| s.as_bytes() == b"global");
        let wait = body
            .and_then(|b| b.retry_after)
            .or_else(|| header_f64(&headers, "retry-after"))
            .map_or(DEFAULT_RETRY, seconds);
        let until = Instant::now() + wait;
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        match (global, route.shared) {
            (true, _) => holds.global = Some(until),
            (false, true) => drop(holds.routes.insert(route.bucket.clone(), until)),
            (false, false) => {}
        }
        tracing::info!(route = %route, ?wait, global, "Discord rate limit");
        wait
    }
}

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Seconds as Discord writes them (floats, possibly nonsense) as a duration of at most an hour.
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.clamp(0.0, 3600.0)).unwrap_or(DEFAULT_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_never_show_interaction_tokens() {
        let r = Route::followup(1, "secret-token");
        assert_eq!(r.to_string(), "POST /webhooks/:app/:token");
        assert!(
            !Route::edit_original(1, "secret-token")
                .to_string()
                .contains("secret")
        );
        assert!(
            !Route::interaction_callback(2, "secret-token")
                .to_string()
                .contains("secret")
        );
    }

    #[test]
    fn errors_sort_into_chat_errors() {
        let rejected = RestError::Rejected {
            route: "r".into(),
            status: 403,
            code: 50001,
            message: "Missing Access".into(),
        };
        assert!(rejected.is_auth());
        assert!(matches!(ChatError::from(rejected), ChatError::Permanent(_)));
        let wait = Duration::from_millis(1500);
        assert_eq!(
            ChatError::from(RestError::RateLimited(wait)),
            ChatError::RetryAfter(wait)
        );
        let down = RestError::Unavailable {
            route: "r".into(),
            reason: "HTTP 502".into(),
        };
        assert!(matches!(ChatError::from(down), ChatError::Transient(_)));
    }

    #[test]
    fn discord_seconds_become_bounded_durations() {
        assert_eq!(seconds(1.5), Duration::from_millis(1500));
        assert_eq!(seconds(-3.0), Duration::ZERO);
        assert_eq!(seconds(f64::NAN), DEFAULT_RETRY);
        assert_eq!(seconds(1e9), Duration::from_secs(3600));
    }

    #[tokio::test]
    async fn an_empty_bucket_holds_its_route_only() {
        let rest = Rest::new("http://127.0.0.1:9", &"t".to_owned().into()).expect("client");
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().expect("value"));
        headers.insert("x-ratelimit-reset-after", "2.5".parse().expect("value"));
        let route = Route::create_message(1);
        rest.note_bucket(&route.bucket, &headers);
        let held = rest.held(&route).expect("held");
        assert!(held > Duration::from_secs(2) && held <= Duration::from_millis(2500));
        assert_eq!(
            rest.held(&Route::create_message(2)),
            None,
            "other channels go on"
        );
        assert_eq!(
            rest.held(&Route::interaction_callback(3, "t")),
            None,
            "acknowledgements are never held"
        );
        rest.holds.lock().expect("holds").global = Some(Instant::now() + Duration::from_secs(1));
        assert!(
            rest.held(&Route::create_message(2)).is_some(),
            "a global limit holds every route"
        );
    }
}
