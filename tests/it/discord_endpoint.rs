//! The signed Discord interactions endpoint `/webhooks/discord`, as Discord calls it.

use std::time::Duration;

use aura::domain::TicketId;
use ed25519_dalek::{Signer, SigningKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, TestDb, spawn_app, timed};
use crate::discord::{assert_no_mentions, discord_config, tickets};
use crate::discord_fake::{ALICE, DiscordFake, OPS};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// POSTs `body` signed over `signed_ts` + `signed_body` by `key`, with `ts` in the timestamp header.
async fn post(app: &TestApp, ts: i64, body: &[u8], signature: &str) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(app.url("/webhooks/discord"))
        .header("content-type", "application/json")
        .header("x-signature-ed25519", signature)
        .header("x-signature-timestamp", ts.to_string())
        .body(body.to_vec())
        .send()
        .await
        .expect("POST");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn sign(key: &SigningKey, ts: i64, body: &[u8]) -> String {
    let message = [ts.to_string().as_bytes(), body].concat();
    hex::encode(key.sign(&message).to_bytes())
}

async fn setup() -> (TestDb, DiscordFake, TestApp) {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let fake = DiscordFake::start().await;
    let mut config = discord_config(&db, &fake);
    config.discord.mode = "interactions".into();
    config.discord.public_key = Some(hex::encode(key().verifying_key().to_bytes()));
    let app = spawn_app(config).await;
    (db, fake, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_rejects_bad_signatures_flipped_bytes_and_old_timestamps_and_answers_ping() {
    timed(async {
        let (_db, fake, app) = setup().await;
        let ping =
            json!({"id": "1", "application_id": "4343", "type": 1, "token": "t", "version": 1})
                .to_string();
        let ping = ping.as_bytes();
        let ts = now();

        let other = SigningKey::from_bytes(&[9u8; 32]);
        assert_eq!(
            post(&app, ts, ping, &sign(&other, ts, ping)).await.0,
            StatusCode::UNAUTHORIZED,
            "another key"
        );
        assert_eq!(
            post(&app, ts, ping, "zz").await.0,
            StatusCode::UNAUTHORIZED,
            "not even hex"
        );
        let mut flipped = ping.to_vec();
        flipped[10] ^= 0x01;
        assert_eq!(
            post(&app, ts, &flipped, &sign(&key(), ts, ping)).await.0,
            StatusCode::UNAUTHORIZED,
            "a flipped byte"
        );
        let old = ts - 6 * 60;
        assert_eq!(
            post(&app, old, ping, &sign(&key(), old, ping)).await.0,
            StatusCode::UNAUTHORIZED,
            "six minutes old"
        );
        assert_eq!(
            post(&app, ts + 1, ping, &sign(&key(), ts, ping)).await.0,
            StatusCode::UNAUTHORIZED,
            "another timestamp"
        );

        let (status, body) = post(&app, ts, ping, &sign(&key(), ts, ping)).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"type": 1})), "PONG");
        assert!(tickets(&app).await.is_empty());
        assert_eq!(
            fake.state().gateway.connections,
            0,
            "interactions mode opens no gateway"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_command_through_the_endpoint_is_recorded_before_it_is_acknowledged() {
    timed(async {
        let (_db, fake, app) = setup().await;
        let interaction = fake.slash_json(
            OPS,
            ALICE,
            "ticket",
            json!([{"name": "text", "type": 3, "value": "disk full"}]),
        );
        let id: u64 = interaction["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id");
        let body = interaction.to_string();
        let ts = now();
        let (status, ack) = post(
            &app,
            ts,
            body.as_bytes(),
            &sign(&key(), ts, body.as_bytes()),
        )
        .await;
        assert_eq!(
            (status, ack.clone()),
            (StatusCode::OK, json!({"type": 5})),
            "deferred"
        );
        let mut ticket = None;
        for _ in 0..50 {
            ticket = app.state.store.ticket(TicketId(1)).await.ok();
            if ticket.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(ticket.expect("a ticket").title, "disk full");
        fake.answered_over_http(id, &ack);
        let answer = fake
            .wait_for("the answer", |f| {
                let m = f.messages.get(&f.interactions[&id].original?)?;
                m.content.contains("Ticket #1 opened").then_some(m.id)
            })
            .await;
        assert_eq!(fake.state().threads_started, [(OPS, answer)]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(tickets(&app).await.len(), 1);
        assert_no_mentions(&fake);
        app.stop().await;
    })
    .await;
}
