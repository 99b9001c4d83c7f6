//! A scripted OpenAI-compatible chat completions endpoint: answers with the next scripted assistant message
//! (tool calls or text), with usage counts, and records every request.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Default)]
struct Inner {
    script: Vec<Value>,
    next: usize,
    requests: Vec<Value>,
    /// What `GET /v1/models` lists; `None` lists [`DEFAULT_MODELS`].
    models: Option<Vec<String>>,
    /// The API key `GET /v1/models` requires, if any.
    key: Option<String>,
    /// How long each completion takes (a slow model).
    delay: Option<std::time::Duration>,
}

/// The models the fake serves unless told otherwise.
pub const DEFAULT_MODELS: [&str; 2] = ["fake-model", "gpt-4o-mini"];

/// A running fake; the last scripted message repeats once the script is used up.
#[derive(Clone)]
pub struct LlmFake {
    inner: Arc<Mutex<Inner>>,
    /// The base URL to configure as `llm.base_url`.
    pub base_url: String,
}

/// An assistant message calling one tool.
pub fn tool_call(name: &str, arguments: Value) -> Value {
    let id = format!("call_{}", rand::random::<u32>());
    json!({"role": "assistant", "content": null,
           "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}}]})
}

async fn complete(State(fake): State<LlmFake>, Json(request): Json<Value>) -> Json<Value> {
    let (message, n, delay) = {
        let mut inner = fake.inner.lock().expect("lock");
        inner.requests.push(request);
        let i = inner.next.min(inner.script.len().saturating_sub(1));
        inner.next += 1;
        let message = inner
            .script
            .get(i)
            .cloned()
            .unwrap_or_else(|| json!({"role": "assistant", "content": "…"}));
        (message, inner.next, inner.delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let finish = if message["tool_calls"].is_array() {
        "tool_calls"
    } else {
        "stop"
    };
    Json(json!({
        "id": format!("chatcmpl-{n}"), "object": "chat.completion", "created": 1_800_000_000,
        "model": "fake-model", "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    }))
}

/// `GET /v1/models` in the OpenAI list shape; a wrong key is answered 401 as OpenAI does.
async fn models(State(fake): State<LlmFake>, headers: HeaderMap) -> Response {
    let inner = fake.inner.lock().expect("lock");
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(key) = &inner.key
        && given != Some(key.as_str())
    {
        let body = json!({"error": {"message": "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let ids: Vec<String> = match &inner.models {
        Some(m) => m.clone(),
        None => DEFAULT_MODELS.iter().map(|m| (*m).to_owned()).collect(),
    };
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "system"}))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

impl LlmFake {
    pub async fn start(script: Vec<Value>) -> LlmFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fake = LlmFake {
            inner: Arc::new(Mutex::new(Inner {
                script,
                ..Inner::default()
            })),
            base_url: format!("http://{addr}/v1"),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .route("/v1/models", get(models))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        fake
    }

    /// `GET /v1/models` lists exactly `ids`.
    pub fn serve_models(&self, ids: &[&str]) {
        self.inner.lock().expect("lock").models =
            Some(ids.iter().map(|m| (*m).to_owned()).collect());
    }

    /// `GET /v1/models` answers 401 unless the request carries `Authorization: Bearer <key>`.
    pub fn require_key(&self, key: &str) {
        self.inner.lock().expect("lock").key = Some(key.to_owned());
    }

    /// Makes every completion take `delay` (recorded on arrival, answered after it).
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.inner.lock().expect("lock").delay = Some(delay);
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.inner.lock().expect("lock").requests.clone()
    }
}
