//! `aura doctor` as an operator runs it, against real peers: all ok, then the broken dependency named.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Distinctive, so the leak check cannot match it by chance inside a temporary path.
const BOT_PASSWORD: &str = "correct-horse-battery-7q";

use aura::clock::Clock;
use matrix_sdk::authentication::matrix::MatrixSession;

use crate::common::{Backend, TestDb, aura_bin, on_both_backends, spawn_app, test_config, timed};
use crate::github_fake::GitHubFake;
use crate::gitops_world::git;
use crate::kube_fake::KubeFake;
use crate::llm_fake::LlmFake;
use crate::synapse_peer::Synapse;
use crate::telegram_peer::{BOT, TOKEN, TelegramPeer};

/// Runs `aura doctor` in `dir` with `env` as its only configuration; returns the exit code and stdout lines.
async fn doctor(dir: &Path, env: &[(&str, &str)]) -> (Option<i32>, Vec<String>) {
    let out = tokio::process::Command::new(aura_bin())
        .arg("doctor")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run aura doctor");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the bot token leaked:\n{stdout}\n{stderr}"
    );
    for (key, value) in env {
        let secret = ["TOKEN", "KEY", "PASSWORD"]
            .iter()
            .any(|s| key.ends_with(s));
        assert!(
            !secret || value.is_empty() || (!stdout.contains(value) && !stderr.contains(value)),
            "{key} leaked:\n{stdout}\n{stderr}"
        );
    }
    (
        out.status.code(),
        stdout.lines().map(str::to_owned).collect(),
    )
}

/// The line about `name`.
fn line<'a>(lines: &'a [String], name: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.split(':').next().is_some_and(|head| head.ends_with(name)))
        .unwrap_or_else(|| panic!("no line about {name}: {lines:#?}"))
}

on_both_backends! {
    async fn doctor_reports_every_configured_dependency_ok(db: TestDb) {
        db.store(Clock::system()).await.close().await;
        let peer = TelegramPeer::start().await;
        let (code, lines) = doctor(
            db.dir.path(),
            &[
                ("AURA__DATABASE__URL", &db.url),
                ("AURA__TELEGRAM__TOKEN", TOKEN),
                ("AURA__TELEGRAM__API_URL", &peer.url),
                ("AURA__HTTP__LISTEN", "127.0.0.1:0"),
            ],
        )
        .await;
        assert_eq!(code, Some(0), "{lines:#?}");
        assert_eq!(lines.len(), 3, "one line per dependency: {lines:#?}");
        for (l, name) in lines.iter().zip(["database", "telegram", "http"]) {
            assert!(l.starts_with(&format!("ok      {name}: ")), "{l}");
        }
        assert!(line(&lines, "database").contains("every migration is applied"), "{lines:#?}");
        assert!(line(&lines, "telegram").contains(&format!("@{BOT}")), "{lines:#?}");
    }
}

/// Waits until nothing accepts connections at `url`'s address any more.
async fn wait_closed(url: &str) {
    let addr = url.trim_start_matches("http://").to_owned();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} still accepts connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_a_stopped_telegram_peer_and_exits_1() {
    timed(async {
        let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
        db.store(Clock::system()).await.close().await;
        let peer = TelegramPeer::start().await;
        let url = peer.url.clone();
        drop(peer);
        wait_closed(&url).await;
        let (code, lines) = doctor(
            db.dir.path(),
            &[
                ("AURA__DATABASE__URL", &db.url),
                ("AURA__TELEGRAM__TOKEN", TOKEN),
                ("AURA__TELEGRAM__API_URL", &url),
                ("AURA__HTTP__LISTEN", "127.0.0.1:0"),
            ],
        )
        .await;
        assert_eq!(code, Some(1), "{lines:#?}");
        assert!(
            line(&lines, "database").starts_with("ok      database: "),
            "{lines:#?}"
        );
        assert!(
            line(&lines, "http").starts_with("ok      http: "),
            "{lines:#?}"
        );
        let telegram = line(&lines, "telegram");
        assert!(
            telegram.starts_with(&format!(
                "PROBLEM telegram: cannot reach the Bot API at {url}"
            )),
            "{telegram}"
        );
        assert!(telegram.contains(" — check telegram.api_url"), "{telegram}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_how_to_fix_a_missing_or_unmigrated_database_and_a_taken_port() {
    timed(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.db");
        let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let taken = holder.local_addr().expect("addr").to_string();
        let missing_url = format!("sqlite://{}", missing.display());
        let (code, lines) = doctor(
            dir.path(),
            &[("AURA__DATABASE__URL", &missing_url), ("AURA__HTTP__LISTEN", &taken)],
        )
        .await;
        assert_eq!(code, Some(1), "{lines:#?}");
        let database = line(&lines, "database");
        assert!(database.starts_with("PROBLEM database: "), "{database}");
        assert!(database.contains("does not exist — run `aura migrate`"), "{database}");
        assert!(!missing.exists(), "doctor creates nothing");
        assert_eq!(
            line(&lines, "http"),
            format!(
                "PROBLEM http: {taken} is taken by another process — stop that process, or set http.listen to a free address"
            )
        );

        // An empty file is an SQLite database without Aura's schema.
        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").expect("create");
        let empty_url = format!("sqlite://{}", empty.display());
        let env = [("AURA__DATABASE__URL", empty_url.as_str()), ("AURA__HTTP__LISTEN", "127.0.0.1:0")];
        let (code, lines) = doctor(dir.path(), &env).await;
        assert_eq!(code, Some(1), "{lines:#?}");
        let database = line(&lines, "database");
        assert!(database.contains("lacks migration(s) 1 foundation"), "{database}");
        assert!(database.ends_with("— run `aura migrate` (`aura serve` also applies them at start)"), "{database}");

        let migrated = std::process::Command::new(aura_bin())
            .arg("migrate")
            .current_dir(dir.path())
            .env_remove("AURA_CONFIG")
            .env("AURA__DATABASE__URL", &empty_url)
            .output()
            .expect("aura migrate");
        assert!(migrated.status.success(), "{migrated:?}");
        let (code, lines) = doctor(dir.path(), &env).await;
        assert_eq!(code, Some(0), "{lines:#?}");
        drop(holder);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_recognises_the_running_aura_on_its_own_port() {
    timed(async {
        let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
        let app = spawn_app(test_config(&db)).await;
        let listen = app.addr.to_string();
        let (code, lines) = doctor(
            db.dir.path(),
            &[
                ("AURA__DATABASE__URL", &db.url),
                ("AURA__HTTP__LISTEN", &listen),
            ],
        )
        .await;
        assert_eq!(code, Some(0), "{lines:#?}");
        assert_eq!(
            line(&lines, "http"),
            format!("ok      http: {listen} is served by a running Aura (/healthz answers)")
        );
        app.stop().await;
    })
    .await;
}

const LLM_KEY: &str = "sk-doctor-test-key";
const PUSH_TOKEN: &str = "ghp_doctor_can_push";
const READ_TOKEN: &str = "ghp_doctor_read_only";

/// A broken dependency: the line it breaks, the environment changes that break it, how the line starts.
type Broken = (&'static str, Vec<(&'static str, Option<String>)>, String);

/// A bare repository with one commit on `main`.
fn bare_repo(root: &Path) -> PathBuf {
    let work = root.join("infra-work");
    std::fs::create_dir_all(work.join("apps/podinfo")).expect("mkdir");
    std::fs::write(work.join("apps/podinfo/values.yaml"), "replicas: 1\n").expect("write");
    git(&work, &["init", "--quiet", "-b", "main"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "--quiet", "-m", "initial"]);
    git(
        root,
        &["clone", "--quiet", "--bare", "infra-work", "infra.git"],
    );
    root.join("infra.git")
}

/// `base` with the `changes` applied: `Some` sets a variable, `None` removes it.
fn changed(base: &[(&str, String)], changes: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = base
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    for (k, v) in changes {
        if let Some(v) = v {
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
    }
    env
}

/// A saved session as `aura serve` writes it to `matrix.store_path`.
fn save_session(store: &Path, user_id: &str, token: &str) {
    let session = MatrixSession {
        meta: matrix_sdk::SessionMeta {
            user_id: user_id.try_into().expect("mxid"),
            device_id: "DOCTORTEST".into(),
        },
        tokens: matrix_sdk::SessionTokens {
            access_token: token.to_owned(),
            refresh_token: None,
        },
    };
    std::fs::create_dir_all(store).expect("mkdir");
    let json = serde_json::to_string(&session).expect("json");
    std::fs::write(store.join("session.json"), json).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_matrix_the_llm_github_and_the_git_remote_and_names_the_broken_one() {
    timed(async {
        let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
        db.store(Clock::system()).await.close().await;
        let root = db.dir.path();
        let hs = Synapse::shared().await;
        let localpart = format!("doctor{}", rand::random::<u32>());
        let bot = hs.register(&localpart, BOT_PASSWORD, false).await;
        let matrix_token = hs.login(&localpart, BOT_PASSWORD).await;
        let llm = LlmFake::start(Vec::new()).await;
        llm.require_key(LLM_KEY);
        let llm_without = LlmFake::start(Vec::new()).await;
        llm_without.serve_models(&["fake-model", "text-embedding-3-small"]);
        let github = GitHubFake::start().await;
        github.grant(PUSH_TOKEN, true, Some("repo, workflow"));
        github.grant(READ_TOKEN, false, Some("repo"));
        github.only_repos(&["acme/infra"]);
        let bare = bare_repo(root);
        let bare_url = bare.display().to_string();

        let base: Vec<(&str, String)> = vec![
            ("AURA__DATABASE__URL", db.url.clone()),
            ("AURA__HTTP__LISTEN", "127.0.0.1:0".into()),
            ("AURA__MATRIX__HOMESERVER", hs.url.clone()),
            ("AURA__MATRIX__USER_ID", bot.clone()),
            ("AURA__MATRIX__ACCESS_TOKEN", matrix_token.clone()),
            ("AURA__MATRIX__STORE_PATH", root.join("matrix").display().to_string()),
            ("AURA__LLM__BASE_URL", llm.base_url.clone()),
            ("AURA__LLM__API_KEY", LLM_KEY.into()),
            (
                "AURA__PROMPTS__DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/prompts").into(),
            ),
            ("AURA__GITHUB__API_URL", github.url.clone()),
            ("AURA__GITHUB__TOKEN", PUSH_TOKEN.into()),
            ("AURA__GITHUB__OWNER", "acme".into()),
            ("AURA__GITHUB__REPO", "infra".into()),
            ("AURA__GIT__REPO_URL", bare_url.clone()),
        ];
        let names = ["database", "matrix", "llm", "github", "git", "http"];
        let run = |changes: Vec<(&'static str, Option<String>)>| {
            let changes: Vec<(&str, Option<&str>)> =
                changes.iter().map(|(k, v)| (*k, v.as_deref())).collect();
            let env = changed(&base, &changes);
            async move {
                let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                doctor(root, &env).await
            }
        };

        let (code, lines) = run(Vec::new()).await;
        assert_eq!(code, Some(0), "{lines:#?}");
        assert_eq!(lines.len(), names.len(), "one line per dependency: {lines:#?}");
        for (l, name) in lines.iter().zip(names) {
            assert!(l.starts_with(&format!("ok      {name}: ")), "{lines:#?}");
        }
        let matrix = line(&lines, "matrix");
        assert!(matrix.starts_with(&format!("ok      matrix: {bot} (device ")), "{matrix}");
        assert!(matrix.ends_with(&format!(") at {}, with matrix.access_token", hs.url)), "{matrix}");
        assert_eq!(
            line(&lines, "llm"),
            format!("ok      llm: {} accepts the API key and serves gpt-4o-mini", llm.base_url)
        );
        assert_eq!(
            line(&lines, "github"),
            format!("ok      github: acme/infra at {}: the token can push (scopes: repo, workflow)", github.url)
        );
        assert!(line(&lines, "git").starts_with(&format!("ok      git: {bare_url}: main is at ")), "{lines:#?}");

        // Each broken dependency alone: its line is the problem, every other line stays ok.
        let store_bad = root.join("matrix-bad-session");
        save_session(&store_bad, &bot, "syt_revoked_session_token");
        let bad_session = store_bad.join("session.json").display().to_string();
        let creds = "http://aura:s3cr3t-pass@127.0.0.1:9/infra.git";
        let missing = root.join("nowhere/infra.git").display().to_string();
        let broken: Vec<Broken> = vec![
            (
                "matrix",
                vec![("AURA__MATRIX__ACCESS_TOKEN", Some("syt_not_a_valid_token".into()))],
                format!(
                    "PROBLEM matrix: {} rejected matrix.access_token (401 Unauthorized, M_UNKNOWN_TOKEN) — set matrix.access_token",
                    hs.url
                ),
            ),
            (
                "matrix",
                vec![("AURA__MATRIX__USER_ID", Some("@someone:localhost".into()))],
                format!("PROBLEM matrix: matrix.access_token belongs to \"{bot}\", not to matrix.user_id @someone:localhost — set matrix.user_id to {bot}"),
            ),
            (
                "matrix",
                vec![
                    ("AURA__MATRIX__STORE_PATH", Some(store_bad.display().to_string())),
                    ("AURA__MATRIX__ACCESS_TOKEN", None),
                    ("AURA__MATRIX__PASSWORD", Some(BOT_PASSWORD.into())),
                ],
                format!(
                    "PROBLEM matrix: {} rejected the saved session {bad_session} (401 Unauthorized, M_UNKNOWN_TOKEN) — delete {bad_session} so that `aura serve` logs in again with matrix.password",
                    hs.url
                ),
            ),
            (
                "llm",
                vec![("AURA__LLM__BASE_URL", Some(llm_without.base_url.clone()))],
                format!(
                    "PROBLEM llm: {} does not serve model gpt-4o-mini (llm.model) — set llm.model to a model it serves: fake-model, text-embedding-3-small",
                    llm_without.base_url
                ),
            ),
            (
                "llm",
                vec![("AURA__LLM__API_KEY", Some("sk-wrong-key".into()))],
                format!("PROBLEM llm: {} answered 401: the API key was rejected — set llm.api_key", llm.base_url),
            ),
            (
                "github",
                vec![("AURA__GITHUB__TOKEN", Some(READ_TOKEN.into()))],
                "PROBLEM github: the token cannot push to acme/infra — give the token's account write access".into(),
            ),
            (
                "github",
                vec![("AURA__GITHUB__TOKEN", Some("ghp_doctor_revoked".into()))],
                format!("PROBLEM github: GitHub at {} rejected github.token (401 Bad credentials) — set github.token", github.url),
            ),
            (
                "github",
                vec![("AURA__GITHUB__REPO", Some("nope".into()))],
                "PROBLEM github: acme/nope is not found with this token (404) — check github.owner and github.repo".into(),
            ),
            (
                "git",
                vec![("AURA__GIT__REPO_URL", Some(missing.clone()))],
                format!("PROBLEM git: git ls-remote {missing} failed: fatal: '{missing}' does not appear to be a git repository"),
            ),
            (
                "git",
                vec![("AURA__GIT__BASE_BRANCH", Some("production".into()))],
                format!("PROBLEM git: {bare_url} has no branch production — set git.base_branch"),
            ),
            (
                "git",
                vec![("AURA__GIT__REPO_URL", Some(creds.into()))],
                "PROBLEM git: git ls-remote http://***@127.0.0.1:9/infra.git failed: ".into(),
            ),
        ];
        let runs = broken.iter().map(|(_, changes, _)| run(changes.clone()));
        let results = futures::future::join_all(runs).await;
        for ((name, changes, expected), (code, lines)) in broken.iter().zip(results) {
            assert_eq!(code, Some(1), "{changes:?}: {lines:#?}");
            assert_eq!(lines.len(), names.len(), "{changes:?}: {lines:#?}");
            for l in &lines {
                if l.starts_with(&format!("PROBLEM {name}: ")) {
                    assert!(l.starts_with(expected.as_str()), "{changes:?}:\n{l}\nexpected:\n{expected}");
                } else {
                    assert!(l.starts_with("ok      "), "{changes:?}: only {name} is broken: {lines:#?}");
                }
            }
            assert!(line(&lines, name).starts_with("PROBLEM "), "{changes:?}: {lines:#?}");
            assert!(lines.iter().all(|l| !l.contains("s3cr3t-pass")), "{lines:#?}");
        }

        // A password and no saved session: doctor does not log in (that would make a device).
        let (code, lines) = run(vec![
            ("AURA__MATRIX__ACCESS_TOKEN", None),
            ("AURA__MATRIX__PASSWORD", Some(BOT_PASSWORD.into())),
        ])
        .await;
        assert_eq!(code, Some(0), "{lines:#?}");
        assert_eq!(
            line(&lines, "matrix"),
            format!("ok      matrix: {} reachable; will log in with the password on first start", hs.url)
        );
        // A good saved session is what `aura serve` uses, whatever else is configured.
        let store_good = root.join("matrix-good-session");
        save_session(&store_good, &bot, &matrix_token);
        let (code, lines) = run(vec![
            ("AURA__MATRIX__STORE_PATH", Some(store_good.display().to_string())),
            ("AURA__MATRIX__ACCESS_TOKEN", None),
            ("AURA__MATRIX__PASSWORD", Some(BOT_PASSWORD.into())),
        ])
        .await;
        assert_eq!(code, Some(0), "{lines:#?}");
        assert!(
            line(&lines, "matrix").ends_with(&format!("with the saved session {}", store_good.join("session.json").display())),
            "{lines:#?}"
        );
        assert!(!store_good.join("sdk").exists() && !root.join("matrix").exists(), "doctor opens no Matrix store");
    })
    .await;
}

const KUBE_TOKEN: &str = "kube-doctor-sa-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_kubernetes_rbac_and_argo_cd_applications() {
    timed(async {
        let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
        db.store(Clock::system()).await.close().await;
        let kube = KubeFake::start().await;
        kube.set("podinfo", "Synced", "Healthy", "abc123");
        let run = |api_url: String| {
            let (db_url, dir) = (db.url.clone(), db.dir.path().to_owned());
            async move {
                let env = [
                    ("AURA__DATABASE__URL", db_url.as_str()),
                    ("AURA__HTTP__LISTEN", "127.0.0.1:0"),
                    ("AURA__KUBERNETES__API_URL", api_url.as_str()),
                    ("AURA__KUBERNETES__TOKEN", KUBE_TOKEN),
                ];
                doctor(&dir, &env).await
            }
        };

        let (code, lines) = run(kube.url.clone()).await;
        assert_eq!(code, Some(0), "{lines:#?}");
        let names = ["database", "kubernetes", "argocd", "http"];
        assert_eq!(lines.len(), names.len(), "one line per dependency: {lines:#?}");
        for (l, name) in lines.iter().zip(names) {
            assert!(l.starts_with(&format!("ok      {name}: ")), "{lines:#?}");
        }
        assert_eq!(
            line(&lines, "kubernetes"),
            format!(
                "ok      kubernetes: {}: the identity may list pods, get pods/log, list events, list deployments.apps, watch applications.argoproj.io in argocd, and may not read Secrets",
                kube.url
            )
        );
        assert_eq!(
            line(&lines, "argocd"),
            format!("ok      argocd: {}: Applications in namespace argocd are readable (e.g. podinfo)", kube.url)
        );

        // A missing permission is named, with the manifest that grants it.
        kube.deny("list", "pods");
        let (code, lines) = run(kube.url.clone()).await;
        assert_eq!(code, Some(1), "{lines:#?}");
        assert_eq!(
            line(&lines, "kubernetes"),
            format!(
                "PROBLEM kubernetes: {}: the identity may not list pods — apply deploy/kubernetes/clusterrole.yaml (or grant list pods)",
                kube.url
            )
        );
        assert!(line(&lines, "argocd").starts_with("ok      argocd: "), "{lines:#?}");
        kube.allow("list", "pods");

        // Least privilege is part of the contract: reading Secrets is a problem too.
        kube.allow("get", "secrets");
        let (code, lines) = run(kube.url.clone()).await;
        assert_eq!(code, Some(1), "{lines:#?}");
        let k8s = line(&lines, "kubernetes");
        assert!(
            k8s.starts_with(&format!(
                "PROBLEM kubernetes: {}: the identity can read Secrets (get secrets, get secrets in argocd); Aura needs no such access — use the read-only ClusterRole",
                kube.url
            )),
            "{k8s}"
        );
        kube.deny("get", "secrets");

        // Applications that may not be listed.
        kube.deny("list", "applications.argoproj.io");
        let (code, lines) = run(kube.url.clone()).await;
        assert_eq!(code, Some(1), "{lines:#?}");
        assert!(line(&lines, "kubernetes").starts_with("ok      kubernetes: "), "{lines:#?}");
        assert!(
            line(&lines, "argocd").starts_with(&format!(
                "PROBLEM argocd: {}: the identity may not list Applications in namespace argocd (403) — apply deploy/kubernetes/clusterrole.yaml",
                kube.url
            )),
            "{lines:#?}"
        );
        kube.allow("list", "applications.argoproj.io");

        // Nothing listens at the API address: both lines say so.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let closed_url = format!("http://{}", closed.local_addr().expect("addr"));
        drop(closed);
        wait_closed(&closed_url).await;
        let (code, lines) = run(closed_url.clone()).await;
        assert_eq!(code, Some(1), "{lines:#?}");
        assert!(line(&lines, "database").starts_with("ok      database: "), "{lines:#?}");
        for name in ["kubernetes", "argocd"] {
            let l = line(&lines, name);
            assert!(
                l.starts_with(&format!("PROBLEM {name}: cannot reach the Kubernetes API at {closed_url}: ")),
                "{l}"
            );
            assert!(l.contains(" — check kubernetes.api_url"), "{l}");
        }
    })
    .await;
}
