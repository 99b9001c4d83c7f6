//! Monitoring agents end to end: the herald's briefing and the watchman's checks reach a Telegram group through the
//! Bot API emulator, with the scripted LLM and a local HTTP endpoint; time moves only when the test moves it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use aura::bots::scheduler::{Deps, run_now};
use aura::clock::Clock;
use aura::config::Config;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::common::{TestApp, TestDb, on_both_backends, spawn_app_with_clock, test_config, timed};
use crate::llm_fake::LlmFake;
use crate::telegram_peer::{Chat, TOKEN, TelegramPeer};

const OPS: Chat = Chat {
    id: -100500,
    group: true,
};

const HERALD: &str = r#"name = "herald"
kind = "briefing"
schedule = "0 8 * * *"
timezone = "Europe/Berlin"
channels = ["ops"]
prompt = "briefing.md"
tools = ["argo", "tickets", "approvals", "findings", "kube_events"]
max_tokens = 4000
catch_up = "2h"
"#;

/// 07:59 in Berlin (CET) on a Monday: the herald fires a minute later, at 07:00Z.
fn before_eight() -> DateTime<Utc> {
    "2026-11-23T06:59:00Z".parse().expect("time")
}

fn eight() -> DateTime<Utc> {
    "2026-11-23T07:00:00Z".parse().expect("time")
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The test's config: Telegram through the emulator, `[channels] ops`, the bot files given, the shipped prompts.
fn config(db: &TestDb, peer: &TelegramPeer, bots: &[(&str, &str)]) -> Config {
    let mut c = test_config(db);
    c.telegram.token = Some(TOKEN.to_owned().into());
    c.telegram.api_url = peer.url.clone();
    c.telegram.poll_timeout_secs = 1;
    c.channels
        .insert("ops".into(), vec![format!("telegram:{}", OPS.id)]);
    let dir = db.dir.path().join("bots");
    std::fs::create_dir_all(&dir).expect("bots dir");
    for (file, body) in bots {
        std::fs::write(dir.join(file), body).expect("write bot");
    }
    c.bots.dir = Some(dir);
    c.prompts.dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts"));
    c
}

/// What the Argo CD feed would have written: two apps, a deploy and an open incident, plus an old deploy.
async fn seed_argo(db: &TestDb) {
    let now = eight();
    let h = |n: i64| ms(now - chrono::Duration::hours(n));
    db.execute(&format!(
        "INSERT INTO argo_apps (name, health, sync, revision, updated_at) VALUES \
         ('podinfo', 'Healthy', 'Synced', 'abc1234', {a}), ('worker', 'Degraded', 'OutOfSync', 'def5678', {a})",
        a = h(1)
    ))
    .await;
    db.execute(&format!(
        "INSERT INTO argo_deploys (app, revision, deployed_at) VALUES ('podinfo', 'abc1234def', {}), ('podinfo', 'old0000', {})",
        h(3),
        h(30)
    ))
    .await;
    db.execute(&format!(
        "INSERT INTO argo_incidents (app, health, opened_at) VALUES ('worker', 'Degraded', {})",
        h(2)
    ))
    .await;
}

async fn open_ticket(app: &TestApp, title: &str) {
    let resp = app
        .http
        .post(app.url("/api/tickets"))
        .json(&json!({"title": title, "description": "from the test"}))
        .send()
        .await
        .expect("POST");
    assert!(resp.status().is_success(), "{}", resp.status());
}

/// Waits until the scheduler counted a run of `bot` with `outcome`.
async fn wait_outcome(app: &TestApp, bot: &str, outcome: &str, n: u64) {
    let counter = app
        .state
        .metrics
        .bot_runs
        .with_label_values(&[bot, outcome]);
    for _ in 0..300 {
        if counter.get() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{bot} never counted {n} {outcome} run(s)");
}

async fn wait_runs(app: &TestApp, bot: &str, n: usize) {
    for _ in 0..300 {
        if app.state.store.bot_runs(bot).await.expect("runs").len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{bot} never recorded {n} runs");
}

/// A sent message's text without Telegram's HTML tags.
fn text(m: &Value) -> String {
    let mut t = m["text"].as_str().unwrap_or_default().to_owned();
    for tag in ["<b>", "</b>", "<i>", "</i>"] {
        t = t.replace(tag, "");
    }
    t
}

on_both_backends! {
    async fn the_herald_posts_one_briefing_with_the_facts_at_eight_and_not_again_after_a_restart(db: TestDb) {
        let peer = TelegramPeer::start().await;
        let llm = LlmFake::start(vec![json!({"role": "assistant",
            "content": "Needs attention: worker is Degraded since 06:00. podinfo deployed abc1234def."})]).await;
        let mut c = config(db, &peer, &[("herald.toml", HERALD)]);
        c.llm.base_url = Some(llm.base_url.clone());
        c.kubernetes.api_url = Some(cluster_with_two_warnings().await);
        let clock = Clock::manual(before_eight());
        let app = spawn_app_with_clock(c.clone(), clock.clone()).await;
        seed_argo(db).await;
        open_ticket(&app, "Scale podinfo to 3").await;

        clock.advance(chrono::Duration::minutes(1));
        let sent = peer.wait_sent(OPS, 1).await;
        let briefing = &text(&sent[0]);
        for fact in [
            "Briefing from herald — Monday 2026-11-23 08:00 Europe/Berlin",
            "Needs attention: worker is Degraded",
            "Argo CD applications: 2",
            "Degraded 1: worker (OutOfSync)",
            "Healthy 1: podinfo",
            "Deploys in the last 24 h: 1",
            "podinfo abc1234def at Mon 05:00",
            "Incidents in the last 24 h: 1",
            "worker Degraded at Mon 06:00, still open",
            "Open tickets: 1",
            "#1 Scale podinfo to 3",
            "Pending approvals: 0",
            "Watchman findings in the last 24 h: 0",
            "Warning events in the cluster: 2 (those the cluster still keeps",
        ] {
            assert!(briefing.contains(fact), "{fact:?} missing from:\n{briefing}");
        }
        let requests = llm.requests();
        assert_eq!(requests.len(), 1, "one LLM call per briefing");
        let prompt = requests[0]["messages"][0]["content"].as_str().expect("prompt");
        assert!(prompt.contains("worker Degraded at Mon 06:00") && !prompt.contains("{{"), "{prompt}");
        assert!(requests[0]["max_tokens"].as_i64().is_some_and(|t| t > 0 && t < 4000));
        let runs = app.state.store.bot_runs("herald").await.expect("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].scheduled_for, runs[0].status.as_str(), runs[0].tokens), (eight(), "posted", 150));

        app.stop().await;
        let again = spawn_app_with_clock(c, Clock::manual(eight() + chrono::Duration::seconds(30))).await;
        wait_outcome(&again, "herald", "already_done", 1).await;
        again.stop().await;
        assert_eq!(peer.sent(OPS).await.len(), 1, "the restart posted nothing");
        assert_eq!(llm.requests().len(), 1, "and asked the LLM nothing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_llm_down_the_briefing_posts_the_facts_with_a_note() {
    timed(async {
        let db = TestDb::new(crate::common::Backend::Sqlite)
            .await
            .expect("sqlite");
        let peer = TelegramPeer::start().await;
        let mut c = config(&db, &peer, &[("herald.toml", HERALD)]);
        // Nothing listens on port 1: neither the LLM nor the cluster answers.
        c.llm.base_url = Some("http://127.0.0.1:1/v1".into());
        c.kubernetes.api_url = Some("http://127.0.0.1:1".into());
        let clock = Clock::manual(before_eight());
        let app = spawn_app_with_clock(c, clock.clone()).await;
        seed_argo(&db).await;
        clock.advance(chrono::Duration::minutes(1));
        let sent = peer.wait_sent(OPS, 1).await;
        let briefing = &text(&sent[0]);
        assert!(
            briefing.contains("No summary: the LLM could not be reached; the facts as gathered."),
            "{briefing}"
        );
        assert!(
            briefing.contains("Degraded 1: worker (OutOfSync)"),
            "{briefing}"
        );
        assert!(
            briefing.contains("Warning events in the cluster: unavailable"),
            "{briefing}"
        );
        let runs = app.state.store.bot_runs("herald").await.expect("runs");
        assert_eq!((runs.len(), runs[0].tokens), (1, 0));
        app.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_briefing_missed_while_down_is_posted_once_at_start_within_the_grace_window_and_skipped_after_it()
 {
    timed(async {
        let db = TestDb::new(crate::common::Backend::Sqlite)
            .await
            .expect("sqlite");
        let peer = TelegramPeer::start().await;
        let c = config(&db, &peer, &[("herald.toml", HERALD)]);
        // Down at 08:00 Berlin; back at 09:30, within catch_up = 2h.
        let late = eight() + chrono::Duration::minutes(90);
        let app = spawn_app_with_clock(c.clone(), Clock::manual(late)).await;
        let sent = peer.wait_sent(OPS, 1).await;
        let briefing = text(&sent[0]);
        assert!(
            briefing.contains("No summary: no LLM is configured"),
            "{briefing}"
        );
        assert!(
            briefing.contains("Warning events in the cluster: not configured"),
            "{briefing}"
        );
        let runs = app.state.store.bot_runs("herald").await.expect("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!(
            runs[0].scheduled_for,
            eight(),
            "recorded for the time it was due"
        );
        app.stop().await;

        let again = spawn_app_with_clock(
            c.clone(),
            Clock::manual(late + chrono::Duration::minutes(1)),
        )
        .await;
        wait_outcome(&again, "herald", "already_done", 1).await;
        again.stop().await;

        // The next day's briefing missed by three hours is past the window: skipped, not posted late.
        let next_day = eight() + chrono::Duration::hours(27);
        let skipped = spawn_app_with_clock(c, Clock::manual(next_day)).await;
        wait_outcome(&skipped, "herald", "skipped", 1).await;
        skipped.stop().await;
        assert_eq!(peer.sent(OPS).await.len(), 1);
        db.drop_db().await;
    })
    .await;
}

/// A Kubernetes API server that knows two Warning events (and answers an empty list to any other selector).
async fn cluster_with_two_warnings() -> String {
    let app = Router::new().route(
        "/api/v1/events",
        get(|axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
            let warnings = q.is_some_and(|q| q.contains("fieldSelector=type%3DWarning"));
            let event = |name: &str| json!({"metadata": {"name": name, "namespace": "apps"},
                "involvedObject": {"kind": "Pod", "name": "worker-1", "namespace": "apps"},
                "type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container"});
            let items = if warnings { vec![event("e1"), event("e2")] } else { vec![] };
            axum::Json(json!({"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": items}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

/// A local endpoint answering with whatever status the test sets.
async fn endpoint() -> (String, Arc<AtomicU16>) {
    let status = Arc::new(AtomicU16::new(200));
    let s = status.clone();
    let app = Router::new().route(
        "/healthz",
        get(move || {
            let s = s.clone();
            async move { StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (format!("http://{addr}/healthz"), status)
}

on_both_backends! {
    async fn the_watchman_posts_once_when_an_endpoint_goes_down_and_once_when_it_is_back(db: TestDb) {
        let peer = TelegramPeer::start().await;
        let (url, status) = endpoint().await;
        let watchman = format!(
            "name = \"watchman\"\nkind = \"watchman\"\nschedule = \"*/5 * * * *\"\nchannels = [\"ops\"]\n\
             tools = [\"http\"]\ncatch_up = \"5m\"\n\n[[endpoints]]\nname = \"api\"\nurl = \"{url}\"\ntimeout = \"2s\"\n"
        );
        let c = config(db, &peer, &[("watchman.toml", &watchman), ("herald.toml", HERALD)]);
        let start: DateTime<Utc> = "2026-11-23T12:00:30Z".parse().expect("time");
        let clock = Clock::manual(start);
        let app = spawn_app_with_clock(c, clock.clone()).await;
        // The 12:00 check at start finds it up: quiet.
        wait_runs(&app, "watchman", 1).await;
        let five = chrono::Duration::minutes(5);

        status.store(503, Ordering::SeqCst);
        for n in 2..=4 {
            clock.advance(five);
            wait_runs(&app, "watchman", n).await;
        }
        status.store(200, Ordering::SeqCst);
        clock.advance(five);
        wait_runs(&app, "watchman", 5).await;
        clock.advance(five);
        wait_runs(&app, "watchman", 6).await;

        let sent = peer.wait_sent(OPS, 2).await;
        assert!(text(&sent[0]).contains("api is down: HTTP 503, expected 200"), "{}", text(&sent[0]));
        assert!(text(&sent[1]).contains("api is up again (HTTP 200) after 15 min down"), "{}", text(&sent[1]));
        let statuses: Vec<String> = app.state.store.bot_runs("watchman").await.expect("runs")
            .into_iter().map(|r| r.status).collect();
        assert_eq!(statuses, ["quiet", "posted", "quiet", "quiet", "posted", "quiet"]);

        // The findings are kept for the briefing.
        let deps = Deps::of(&app.state);
        let bots = aura::bots::load(&app.state.config).expect("bots");
        let herald = bots.iter().find(|b| b.name == "herald").expect("herald");
        let dry = run_now(&deps, herald, true, clock.now()).await.expect("dry run");
        assert!(dry.contains("Watchman findings in the last 24 h: 2"), "{dry}");
        assert!(dry.contains("api up at Mon 13:20 after 15 min down"), "{dry}");
        assert!(dry.contains("Endpoints down now: none"), "{dry}");
        app.stop().await;
        assert_eq!(peer.sent(OPS).await.len(), 2, "nothing else was posted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn briefing_run_dry_run_prints_the_briefing_and_records_nothing_while_a_real_run_queues_it() {
    timed(async {
        let db = TestDb::new(crate::common::Backend::Sqlite)
            .await
            .expect("sqlite");
        let peer = TelegramPeer::start().await;
        let herald_off = HERALD.replace(
            "kind = \"briefing\"",
            "kind = \"briefing\"\nenabled = false",
        );
        let c = config(&db, &peer, &[("herald.toml", &herald_off)]);
        let clock = Clock::manual(before_eight());
        let app = spawn_app_with_clock(c, clock.clone()).await;
        seed_argo(&db).await;
        let deps = Deps::of(&app.state);
        let bots = aura::bots::load(&app.state.config).expect("bots");
        let herald = &bots[0];

        let printed = run_now(&deps, herald, true, clock.now())
            .await
            .expect("dry run");
        assert!(
            printed.starts_with("Briefing from herald — Monday 2026-11-23 07:59"),
            "{printed}"
        );
        assert!(
            printed.contains("Incidents in the last 24 h: 1"),
            "{printed}"
        );
        assert!(
            app.state
                .store
                .bot_runs("herald")
                .await
                .expect("runs")
                .is_empty(),
            "a dry run records nothing"
        );

        // Facts longer than the budget: no LLM call, the facts with a note.
        let llm = LlmFake::start(vec![json!({"role": "assistant", "content": "summary"})]).await;
        let mut llm_config = app.state.config.llm.clone();
        llm_config.base_url = Some(llm.base_url.clone());
        let client = aura::llm::Llm::new(&llm_config).expect("llm");
        let mut tight = herald.clone();
        tight.max_tokens = 50;
        let with_llm = Deps {
            llm: Some(&client),
            ..deps
        };
        let printed = run_now(&with_llm, &tight, true, clock.now())
            .await
            .expect("dry run");
        assert!(
            printed.contains("No summary: the facts exceed the token budget (50 tokens)"),
            "{printed}"
        );
        assert!(llm.requests().is_empty());
        let printed = run_now(&with_llm, herald, true, clock.now())
            .await
            .expect("dry run");
        assert!(
            printed.contains("summary\n\nFacts\nArgo CD applications: 2"),
            "{printed}"
        );
        assert_eq!(llm.requests().len(), 1);

        let said = run_now(&deps, herald, false, clock.now())
            .await
            .expect("run");
        assert!(
            said.contains("queued in the outbox for telegram:-100500"),
            "{said}"
        );
        assert!(
            said.contains("the running daemon (aura serve) sends it"),
            "{said}"
        );
        let sent = peer.wait_sent(OPS, 1).await;
        assert!(text(&sent[0]).contains("Incidents in the last 24 h: 1"));
        assert_eq!(
            app.state
                .store
                .bot_runs("herald")
                .await
                .expect("runs")
                .len(),
            1
        );
        app.stop().await;
    })
    .await;
}

on_both_backends! {
    async fn a_run_is_recorded_once_per_bot_and_scheduled_time(db: TestDb) {
        let store = db.store(Clock::manual(eight())).await;
        let run = aura::storage::BotRun {
            bot: "herald".into(),
            scheduled_for: eight(),
            status: "posted".into(),
            tokens: 150,
            output: "briefing".into(),
            error: None,
        };
        let mut tx = store.write().await.expect("tx");
        assert!(tx.record_bot_run(&run).await.expect("first"));
        tx.commit().await.expect("commit");
        let mut tx = store.write().await.expect("tx");
        assert!(!tx.record_bot_run(&run).await.expect("second"), "the same bot and time again is refused");
        drop(tx);
        let other = aura::storage::BotRun { bot: "watchman".into(), ..run.clone() };
        let mut tx = store.write().await.expect("tx");
        assert!(tx.record_bot_run(&other).await.expect("other bot"));
        tx.commit().await.expect("commit");
        assert!(store.bot_run_exists("herald", eight()).await.expect("exists"));
        assert!(!store.bot_run_exists("herald", eight() + chrono::Duration::days(1)).await.expect("exists"));
        assert_eq!(store.bot_runs("herald").await.expect("runs"), vec![run]);
        store.close().await;
    }
}
