//! Aura: a self-hosted chat-ops daemon. Chat messages become tickets, an agent plans, approvers approve,
//! changes ship through GitOps, and Argo CD health flows back into chat.

// matrix-sdk's sync future is deeply nested; spawning it needs a higher limit.
#![recursion_limit = "256"]

pub mod agent;
pub mod app;
pub mod approvals;
pub mod argo;
pub mod bench;
pub mod bots;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dispatch;
pub mod doctor;
pub mod domain;
pub mod error_text;
pub mod feed;
pub mod gitops;
pub mod http;
pub mod investigate;
pub mod llm;
pub mod metrics;
pub mod redact;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod tools;
