//! The LLM client shared by the planner, the @mention investigator and the briefings: one OpenAI-compatible
//! chat-completions call at a time, with its token use and estimated cost counted in the metrics.

use anyhow::Context;
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::config::LlmConfig;
use crate::metrics::Metrics;

/// Tokens and estimated cost of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt: i64,
    pub completion: i64,
    /// Millionths of a dollar, from the configured prices.
    pub cost_micros: i64,
}

impl Usage {
    /// Prompt plus completion tokens.
    pub fn total(&self) -> i64 {
        self.prompt + self.completion
    }
}

/// An OpenAI-compatible endpoint from `[llm]`.
pub struct Llm {
    client: Client<OpenAIConfig>,
    config: LlmConfig,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm")
            .field("model", &self.config.model)
            .finish_non_exhaustive()
    }
}

impl Llm {
    /// The client for `[llm]`; fails when `llm.base_url` is not set.
    pub fn new(config: &LlmConfig) -> anyhow::Result<Llm> {
        let base = config
            .base_url
            .as_deref()
            .context("llm.base_url is not set")?;
        let mut oa = OpenAIConfig::new().with_api_base(base.trim_end_matches('/'));
        if let Some(key) = &config.api_key {
            oa = oa.with_api_key(key.expose_secret());
        }
        Ok(Llm {
            client: Client::with_config(oa),
            config: config.clone(),
        })
    }

    /// The `[llm]` settings (model tiers, budgets, prices).
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// One chat completion: `request` is the whole OpenAI request body (model, messages, tools, …). Returns the
    /// reply and its usage, already added to the token and cost metrics.
    pub async fn chat(&self, metrics: &Metrics, request: Value) -> anyhow::Result<(Value, Usage)> {
        let reply: Value = self
            .client
            .chat()
            .create_byot(request)
            .await
            .context("the LLM request failed")?;
        let prompt = reply["usage"]["prompt_tokens"].as_i64().unwrap_or(0);
        let completion = reply["usage"]["completion_tokens"].as_i64().unwrap_or(0);
        let usage = Usage {
            prompt,
            completion,
            cost_micros: (prompt * self.config.price_per_1k_prompt_micros
                + completion * self.config.price_per_1k_completion_micros)
                / 1000,
        };
        metrics
            .llm_cost_micros
            .inc_by(u64::try_from(usage.cost_micros).unwrap_or(0));
        metrics
            .llm_tokens
            .with_label_values(&["prompt"])
            .inc_by(u64::try_from(prompt).unwrap_or(0));
        metrics
            .llm_tokens
            .with_label_values(&["completion"])
            .inc_by(u64::try_from(completion).unwrap_or(0));
        Ok((reply, usage))
    }
}
