//! The `aura` binary as an operator runs it: check, audit verify, serve and SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aura::clock::Clock;
use aura::domain::ticket::NewTicket;
use aura::domain::{Priority, UserRef};

use crate::common::{Backend, TestDb, aura_bin, timed};

fn aura(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(aura_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("AURA_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .expect("run aura")
}

#[test]
fn check_reports_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("aura.toml"),
        "[database]\nurl = \"mysql://db/aura\"\n\n[http]\nlisten = \"0.0.0.0:8080\"\napi_tokn = \"x\"\n",
    )
    .expect("write");
    let out = aura(dir.path(), &["check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("3 problems"), "{stderr}");
    assert!(stderr.contains("http.api_tokn"), "{stderr}");
    assert!(stderr.contains("database.url"), "{stderr}");
    assert!(stderr.contains("http.api_token is not set"), "{stderr}");
}

#[test]
fn check_on_a_clean_config_prints_one_summary_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = aura(dir.path(), &["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("config ok (built-in defaults)"),
        "{stdout}"
    );
}

#[test]
fn bench_prints_a_figure_for_every_hot_path_and_touches_no_configured_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = aura(dir.path(), &["bench", "--pods", "200"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for figure in [
        "@mention analyzers, 200 pods",
        "Argo CD feed rules",
        "secret masking of pod logs",
        "tickets created on SQLite",
        "audit chain verified, 300 rows",
    ] {
        assert!(stdout.contains(figure), "{figure}: {stdout}");
    }
    assert!(stdout.contains("(intact)"), "{stdout}");
    assert!(
        !dir.path().join("data").exists(),
        "the configured database is not touched"
    );
}

#[tokio::test]
async fn audit_verify_passes_then_names_the_row_edited_by_hand() {
    timed(async {
        let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
        let store = db.store(Clock::system()).await;
        let who: UserRef = "api:ops".parse().expect("valid");
        for title in ["a", "b"] {
            store
                .create_ticket(
                    &NewTicket::new(title, "", Priority::Low, who.clone()).expect("valid"),
                    20,
                )
                .await
                .expect("create");
        }
        store.close().await;
        let dir = db.dir.path();
        let env_url = [("AURA__DATABASE__URL", db.url.as_str())];
        let run = |args: &[&str]| {
            Command::new(aura_bin())
                .args(args)
                .current_dir(dir)
                .envs(env_url)
                .output()
                .expect("run aura")
        };
        let ok = run(&["audit", "verify"]);
        assert_eq!(ok.status.code(), Some(0));
        assert_eq!(
            String::from_utf8_lossy(&ok.stdout).trim(),
            "audit chain ok: 2 rows verified"
        );

        db.execute("UPDATE audit_log SET details = '{\"title\":\"evil\"}' WHERE id = 2")
            .await;
        let bad = run(&["audit", "verify"]);
        assert_eq!(bad.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&bad.stdout);
        assert!(
            stdout.starts_with("audit chain broken at row 2:"),
            "{stdout}"
        );

        let list = run(&["tickets", "list"]);
        let stdout = String::from_utf8_lossy(&list.stdout);
        assert!(
            stdout
                .lines()
                .next()
                .is_some_and(|l| l.starts_with("#2") && l.ends_with(" b")),
            "{stdout}"
        );
    })
    .await;
}

#[tokio::test]
async fn sigterm_stops_serve_with_exit_0() {
    timed(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = tokio::process::Command::new(aura_bin())
            .arg("serve")
            .current_dir(dir.path())
            .env_remove("AURA_CONFIG")
            .env("AURA__HTTP__LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
        while let Some(line) = lines.next_line().await.expect("read") {
            if line.contains("aura is serving") {
                break;
            }
        }
        // Keep reading the log so the daemon never writes into a closed pipe.
        let rest = tokio::spawn(async move {
            let mut log = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                log.push(line);
            }
            log.join("\n")
        });
        assert!(
            dir.path().join("data/aura.db").is_file(),
            "the default SQLite database is created"
        );
        let pid = child.id().expect("pid").to_string();
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("exits within 10 s")
            .expect("wait");
        let log = rest.await.expect("log reader");
        assert_eq!(
            status.code(),
            Some(0),
            "after {:?}: {log}",
            started.elapsed()
        );
        assert!(log.contains("aura stopped"), "{log}");
    })
    .await;
}

#[test]
fn serve_refuses_a_public_listener_without_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(aura_bin())
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("AURA_CONFIG")
        .env("AURA__HTTP__LISTEN", "0.0.0.0:0")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http.api_token is not set"));
    assert!(!dir.path().join("data").exists(), "nothing was created");
}
