//! The HTTP API as a client sees it, on both database backends.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{on_both_backends, spawn_app, test_config};

async fn create(app: &crate::common::TestApp, title: &str) -> Value {
    let resp = app
        .http
        .post(app.url("/api/tickets"))
        .json(&json!({"title": title, "description": "from a test"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.expect("json")
}

on_both_backends! {
    async fn a_created_ticket_is_listed_survives_a_restart_and_is_counted(db: TestDb) {
        let app = spawn_app(test_config(db)).await;
        let health = app.http.get(app.url("/healthz")).send().await.expect("GET");
        assert_eq!(health.status(), StatusCode::OK);
        let ready = app.http.get(app.url("/readyz")).send().await.expect("GET");
        assert_eq!(ready.status(), StatusCode::OK);

        let ticket = create(&app, "disk pressure on node sam").await;
        assert_eq!(ticket["status"], "draft");
        assert_eq!(ticket["requester"], "api:http");
        let id = ticket["id"].as_i64().expect("id");
        app.stop().await;

        let app = spawn_app(test_config(db)).await;
        let list: Value = app.get_json("/api/tickets").await;
        assert_eq!(list["tickets"][0]["id"], id);
        assert_eq!(list["tickets"][0]["title"], "disk pressure on node sam");
        let one: Value = app.get_json(&format!("/api/tickets/{id}")).await;
        assert_eq!(one["description"], "from a test");

        let metrics = app.http.get(app.url("/metrics")).send().await.expect("GET").text().await.expect("text");
        assert!(metrics.contains("aura_tickets_created_total 1"), "{metrics}");
        assert!(metrics.contains("aura_tickets{status=\"draft\"} 1"), "{metrics}");
        assert!(metrics.contains("aura_build_info{version="), "{metrics}");
        assert!(metrics.contains("aura_http_requests_total{code=\"200\",method=\"GET\",route=\"/api/tickets\"} 1"), "{metrics}");
        app.stop().await;
    }
}

on_both_backends! {
    async fn credentials_pasted_into_a_ticket_are_masked_before_they_are_stored(db: TestDb) {
        let app = spawn_app(test_config(db)).await;
        let resp = app
            .http
            .post(app.url("/api/tickets"))
            .json(&json!({"title": "payments cannot log in with password=hunter2hunter2",
                          "description": "token ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 from the CI"}))
            .send()
            .await
            .expect("POST");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let id = resp.json::<Value>().await.expect("json")["id"].as_i64().expect("id");
        let stored = app.get_json(&format!("/api/tickets/{id}")).await.to_string();
        let audit = app.get_json(&format!("/api/tickets/{id}/audit")).await.to_string();
        for text in [&stored, &audit] {
            assert!(!text.contains("hunter2hunter2") && !text.contains("ghp_AbCd"), "{text}");
        }
        assert!(stored.contains("payments cannot log in with password="), "{stored}");
        app.stop().await;
    }
}

on_both_backends! {
    async fn an_illegal_transition_is_a_409_and_changes_nothing(db: TestDb) {
        let app = spawn_app(test_config(db)).await;
        let id = create(&app, "restart payments").await["id"].as_i64().expect("id");
        let cancel = |reason: &'static str| {
            app.http
                .post(app.url(&format!("/api/tickets/{id}/cancel")))
                .json(&json!({"reason": reason}))
                .send()
        };
        let first = cancel("not needed").await.expect("POST");
        assert_eq!(first.status(), StatusCode::OK);
        let audit_before: Value = app.get_json(&format!("/api/tickets/{id}/audit")).await;
        let ticket_before: Value = app.get_json(&format!("/api/tickets/{id}")).await;

        let second = cancel("again").await.expect("POST");
        assert_eq!(second.status(), StatusCode::CONFLICT);
        let body: Value = second.json().await.expect("json");
        assert_eq!(body["error"], format!("ticket #{id} is cancelled, which is final; it cannot move to cancelled"));

        let audit_after: Value = app.get_json(&format!("/api/tickets/{id}/audit")).await;
        let ticket_after: Value = app.get_json(&format!("/api/tickets/{id}")).await;
        assert_eq!(audit_before, audit_after);
        assert_eq!(ticket_before, ticket_after);
        assert_eq!(audit_after.as_array().map(Vec::len), Some(2));
        assert_eq!(audit_after[1]["details"]["reason"], "not needed");
        app.stop().await;
    }
}

on_both_backends! {
    async fn bad_requests_get_a_reason_and_change_nothing(db: TestDb) {
        let app = spawn_app(test_config(db)).await;
        let post = |body: &'static str| {
            app.http
                .post(app.url("/api/tickets"))
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        for (body, needle) in [
            ("{not json", "JSON"),
            (r#"{"description":"no title"}"#, "title"),
            (r#"{"title":"   "}"#, "needs a title"),
            (r#"{"title":"x","priority":"asap"}"#, "not a priority"),
            (r#"{"title":"x","colour":"red"}"#, "colour"),
        ] {
            let resp = post(body).await.expect("POST");
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
            let err: Value = resp.json().await.expect("json");
            assert!(err["error"].as_str().is_some_and(|e| e.contains(needle)), "{body}: {err}");
        }
        let cases = [
            ("/api/tickets/999", StatusCode::NOT_FOUND, "ticket #999 does not exist"),
            ("/api/tickets/abc", StatusCode::BAD_REQUEST, "'abc' is not a ticket id"),
            ("/api/tickets?status=open", StatusCode::BAD_REQUEST, "not a ticket status"),
            ("/api/tickets?limit=0", StatusCode::BAD_REQUEST, "limit"),
            ("/api/nothing", StatusCode::NOT_FOUND, "no such endpoint"),
        ];
        for (path, code, needle) in cases {
            let resp = app.http.get(app.url(path)).send().await.expect("GET");
            assert_eq!(resp.status(), code, "{path}");
            let err: Value = resp.json().await.expect("json");
            assert!(err["error"].as_str().is_some_and(|e| e.contains(needle)), "{path}: {err}");
        }
        let cancel = app.http.post(app.url("/api/tickets/999/cancel")).send().await.expect("POST");
        assert_eq!(cancel.status(), StatusCode::NOT_FOUND);
        let list: Value = app.get_json("/api/tickets").await;
        assert_eq!(list["tickets"], json!([]));
        app.stop().await;
    }
}

on_both_backends! {
    async fn tickets_page_newest_first_and_filter_by_status(db: TestDb) {
        let app = spawn_app(test_config(db)).await;
        for n in 1..=5 {
            create(&app, &format!("ticket {n}")).await;
        }
        app.http.post(app.url("/api/tickets/2/cancel")).send().await.expect("POST");
        let page: Value = app.get_json("/api/tickets?limit=2").await;
        let ids: Vec<i64> = page["tickets"].as_array().expect("array").iter().map(|t| t["id"].as_i64().expect("id")).collect();
        assert_eq!(ids, vec![5, 4]);
        assert_eq!(page["next_before"], 4);
        let next: Value = app.get_json("/api/tickets?limit=2&before=4").await;
        assert_eq!(next["tickets"][0]["id"], 3);
        let cancelled: Value = app.get_json("/api/tickets?status=cancelled").await;
        assert_eq!(cancelled["tickets"].as_array().map(Vec::len), Some(1));
        assert_eq!(cancelled["tickets"][0]["id"], 2);
        assert_eq!(cancelled["next_before"], Value::Null);
        app.stop().await;
    }
}

on_both_backends! {
    async fn the_api_needs_the_bearer_token_when_one_is_set(db: TestDb) {
        let mut config = test_config(db);
        config.http.api_token = Some("t0ken".to_owned().into());
        let app = spawn_app(config).await;
        let anon = app.http.get(app.url("/api/tickets")).send().await.expect("GET");
        assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
        let wrong = app.http.get(app.url("/api/tickets")).bearer_auth("t0kem").send().await.expect("GET");
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let ok = app.http.get(app.url("/api/tickets")).bearer_auth("t0ken").send().await.expect("GET");
        assert_eq!(ok.status(), StatusCode::OK);
        let health = app.http.get(app.url("/healthz")).send().await.expect("GET");
        assert_eq!(health.status(), StatusCode::OK, "health stays open");
        let named = app
            .http
            .post(app.url("/api/tickets"))
            .bearer_auth("t0ken")
            .header("x-aura-client", "ci-bot")
            .json(&json!({"title": "from ci"}))
            .send()
            .await
            .expect("POST");
        let t: Value = named.json().await.expect("json");
        assert_eq!(t["requester"], "api:ci-bot");
        app.stop().await;
    }
}

/// Reads SSE frames until `n` events (not heartbeats) arrived.
async fn read_events(resp: reqwest::Response, n: usize) -> Vec<(String, String, Value)> {
    use futures::StreamExt;
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let mut events = Vec::new();
    while events.len() < n {
        let chunk = body.next().await.expect("stream open").expect("chunk");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}:")))
                    .map(|v| v.trim().to_owned())
            };
            if let (Some(id), Some(event), Some(data)) =
                (field("id"), field("event"), field("data"))
            {
                events.push((
                    id,
                    event,
                    serde_json::from_str(&data).expect("data is json"),
                ));
            }
        }
    }
    events
}

on_both_backends! {
    async fn the_event_stream_replays_after_last_event_id_and_follows_live(db: TestDb) {
        let app = spawn_app(test_config(db)).await;
        create(&app, "one").await;
        create(&app, "two").await;
        let all = app.http.get(app.url("/api/stream")).send().await.expect("GET");
        assert_eq!(all.headers()["content-type"], "text/event-stream");
        let first_two = read_events(all, 2).await;
        assert_eq!(first_two[0].1, "ticket_created");
        assert_eq!(first_two[1].2["details"]["title"], "two");

        let resumed = app
            .http
            .get(app.url("/api/stream"))
            .header("Last-Event-ID", first_two[0].0.clone())
            .send()
            .await
            .expect("GET");
        let reader = tokio::spawn(read_events(resumed, 2));
        create(&app, "three").await;
        let got = reader.await.expect("reader");
        assert_eq!(got[0].0, first_two[1].0, "resumes right after the given id");
        assert_eq!(got[1].2["details"]["title"], "three", "then follows live");
        app.stop().await;
    }
}
