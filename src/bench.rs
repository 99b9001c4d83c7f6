//! `aura bench`: measures the hot paths on synthetic data and prints the figures — the @mention analyzers on a
//! cluster of a given size, the Argo CD feed rules, secret masking, and ticket writes (with their audit rows) on a
//! throwaway SQLite database — with the process's resident memory. Figures, never pass/fail.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Event, Pod};
use serde_json::json;

use crate::clock::Clock;
use crate::domain::feed::{self, Observed, Rules};
use crate::domain::ticket::NewTicket;
use crate::domain::{Priority, UserRef};
use crate::investigate::analyze::{self, Snapshot};
use crate::redact::Redactor;
use crate::storage::Store;

/// One measured figure.
struct Figure {
    what: String,
    value: String,
}

/// Runs every benchmark on a synthetic cluster of `pods` pods and prints the figures.
pub async fn run(pods: usize) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let rss_start = rss_kib();
    out.push(analyzers(pods));
    out.push(feed_rules());
    out.push(masking());
    out.extend(store_writes().await?);
    if let (Some(start), Some(end)) = (rss_start, rss_kib()) {
        out.push(Figure {
            what: "resident memory (start → end)".into(),
            value: format!("{:.1} MiB → {:.1} MiB", mib(start), mib(end)),
        });
    }
    let profile = if cfg!(debug_assertions) {
        "debug build: expect release figures several times better"
    } else {
        "release build"
    };
    println!("aura bench ({profile})");
    let width = out.iter().map(|f| f.what.len()).max().unwrap_or(0);
    for f in out {
        println!("  {:width$}  {}", f.what, f.value);
    }
    Ok(())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The process's resident set size, from /proc (Linux).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Repeats `f` for about `budget`; returns the mean time per call.
fn per_call(budget: Duration, mut f: impl FnMut()) -> (Duration, u32) {
    let start = Instant::now();
    let mut n = 0u32;
    while n < 3 || start.elapsed() < budget {
        f();
        n += 1;
    }
    (start.elapsed() / n, n)
}

/// A cluster of `pods` pods in 50 namespaces; one in ten crashlooping, with an event each.
fn cluster(pods: usize) -> Snapshot {
    let mut s = Snapshot::default();
    for ns in 0..50 {
        s.namespaces.push(format!("team-{ns}"));
    }
    s.namespaces.push("payments".into());
    for i in 0..pods {
        let ns = if i % 97 == 0 {
            "payments".to_owned()
        } else {
            format!("team-{}", i % 50)
        };
        let crashing = i % 10 == 0;
        let state = if crashing {
            json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}})
        } else {
            json!({"running": {"startedAt": "2026-11-21T09:00:00Z"}})
        };
        let name = if ns == "payments" {
            format!("payments-api-{i}")
        } else {
            format!("svc-{i}")
        };
        let pod = json!({
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": "ghcr.io/acme/app:1.0"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "app", "ready": !crashing, "restartCount": if crashing { 7 } else { 0 },
                "image": "ghcr.io/acme/app:1.0", "imageID": "", "state": state,
                "lastState": if crashing { json!({"terminated": {"exitCode": 1, "reason": "Error"}}) } else { json!({}) }}]}
        });
        if let Ok(p) = serde_json::from_value::<Pod>(pod) {
            s.pods.push(p);
        }
        if crashing {
            let event = json!({
                "metadata": {"name": format!("{name}.1"), "namespace": ns},
                "involvedObject": {"kind": "Pod", "name": name, "namespace": ns},
                "type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container", "count": 12
            });
            if let Ok(e) = serde_json::from_value::<Event>(event) {
                s.events.push(e);
            }
            s.logs.insert(
                format!("{ns}/{name}/app"),
                "starting\nFATAL cannot connect to database: connection refused\n".into(),
            );
        }
    }
    s
}

fn analyzers(pods: usize) -> Figure {
    let snapshot = cluster(pods);
    let question = "why is payments crashlooping?";
    let mut findings = 0;
    let (mean, _) = per_call(Duration::from_millis(500), || {
        let scope = analyze::scope(question, &snapshot);
        findings = analyze::analyze(&snapshot, &scope).len();
    });
    Figure {
        what: format!("@mention analyzers, {pods} pods"),
        value: format!("{:.2} ms per question ({findings} findings)", ms(mean)),
    }
}

fn feed_rules() -> Figure {
    let rules = Rules {
        confirm_after: chrono::Duration::seconds(30),
        revert_window: chrono::Duration::minutes(15),
    };
    let start: DateTime<Utc> = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    let healthy = Observed {
        health: "Healthy".into(),
        sync: "Synced".into(),
        revision: Some("a1b2c3d4".into()),
        unhealthy: vec![],
    };
    let degraded = Observed {
        health: "Degraded".into(),
        unhealthy: vec!["Deployment/payments: Degraded — progress deadline exceeded".into()],
        ..healthy.clone()
    };
    let mut record = None;
    let mut t = 0i64;
    let (mean, _) = per_call(Duration::from_millis(300), || {
        t += 10;
        let seen = if (t / 60) % 2 == 0 {
            &healthy
        } else {
            &degraded
        };
        let (r, _) = feed::step(
            record.as_ref(),
            seen,
            start + chrono::Duration::seconds(t),
            rules,
        );
        record = Some(r);
    });
    Figure {
        what: "Argo CD feed rules".into(),
        value: format!("{:.2} µs per observation", mean.as_secs_f64() * 1e6),
    }
}

fn masking() -> Figure {
    let line = "2026-11-21T09:58:02Z INFO connecting to postgres://app:s3cretpw@db:5432/app token=ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 ok\n";
    let text = line.repeat(1024 * 1024 / line.len());
    let redactor = Redactor::new(vec!["platform-token-value".into()]);
    let (mean, _) = per_call(Duration::from_millis(500), || {
        let _ = redactor.redact(&text);
    });
    let mb = text.len() as f64 / 1e6;
    Figure {
        what: "secret masking of pod logs".into(),
        value: format!("{:.1} MB/s", mb / mean.as_secs_f64()),
    }
}

async fn store_writes() -> anyhow::Result<Vec<Figure>> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url, 4, Clock::system()).await?;
    store.migrate().await?;
    let requester = UserRef::api("bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    let n = 300;
    let start = Instant::now();
    for i in 0..n {
        let new = NewTicket::new(
            &format!("scale podinfo to {i}"),
            "from aura bench",
            Priority::Normal,
            requester.clone(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        store.create_ticket(&new, 20).await?;
    }
    let elapsed = start.elapsed();
    let verify = Instant::now();
    let chain = store.verify_audit().await?;
    let verified = verify.elapsed();
    store.close().await;
    Ok(vec![
        Figure {
            what: "tickets created on SQLite (row + audit)".into(),
            value: format!(
                "{:.0} per second ({:.2} ms each, each its own transaction)",
                f64::from(n) / elapsed.as_secs_f64(),
                ms(elapsed / n)
            ),
        },
        Figure {
            what: format!("audit chain verified, {n} rows"),
            value: format!(
                "{:.1} ms ({})",
                ms(verified),
                match chain {
                    Ok(_) => "intact",
                    Err(_) => "BROKEN",
                }
            ),
        },
    ])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
