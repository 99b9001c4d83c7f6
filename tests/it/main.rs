//! Integration tests: one binary, modules per area. Each test gets its own database and port.

mod agent;
mod api;
mod bots;
mod cli;
mod common;
mod container;
mod deploy;
mod discord;
mod discord_approvals;
mod discord_endpoint;
mod discord_fake;
mod doctor;
mod feed;
mod github_fake;
mod gitops;
mod gitops_world;
mod investigate;
mod kube_fake;
mod llm_fake;
mod matrix;
mod store;
mod synapse_peer;
mod telegram;
mod telegram_peer;
