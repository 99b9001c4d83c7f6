//! The container image's runtime contract, without a container engine: the binary serves as uid 10001 with the
//! image's configuration, writing only to its data directory.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{aura_bin, timed};

/// The image's user (deploy/Dockerfile `USER`, the Deployment's `runAsUser`).
const UID: u32 = 10001;

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_as_the_image_user_and_writes_only_its_data_dir() {
    if !running_as_root() {
        eprintln!("note: not root, cannot switch to uid {UID}; skipping");
        return;
    }
    timed(async {
        let data = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::chown(data.path(), Some(UID), Some(UID)).expect("chown");
        let root = env!("CARGO_MANIFEST_DIR");
        let mut cmd = std::process::Command::new(aura_bin());
        // The image: /etc/aura/aura.toml is deploy/aura.toml, bots/ and prompts/ are read-only, HOME is the
        // volume. Here the working directory is `/`, which uid 10001 cannot write.
        cmd.arg("serve")
            .current_dir("/")
            .env_clear()
            .env("HOME", data.path())
            .env("AURA_CONFIG", format!("{root}/deploy/aura.toml"))
            .env("AURA__BOTS__DIR", format!("{root}/bots"))
            .env("AURA__PROMPTS__DIR", format!("{root}/prompts"))
            .env("AURA__HTTP__API_TOKEN", "dummy")
            .env("AURA__HTTP__LISTEN", "127.0.0.1:0")
            .env(
                "AURA__DATABASE__URL",
                format!("sqlite://{}/aura.db", data.path().display()),
            )
            .uid(UID)
            .gid(UID)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut listen = None;
        while let Some(line) = lines.next_line().await.expect("read log") {
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                panic!("the image logs JSON: {line}");
            };
            if let Some(addr) = entry["listen"].as_str() {
                listen = Some(addr.to_owned());
                break;
            }
        }
        let listen = listen.expect("aura said where it listens");
        let http = reqwest::Client::new();
        let ready = http
            .get(format!("http://{listen}/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(ready.status(), 200);
        let created = http
            .post(format!("http://{listen}/api/tickets"))
            .bearer_auth("dummy")
            .json(&serde_json::json!({"title": "written by uid 10001"}))
            .send()
            .await
            .expect("POST");
        assert_eq!(created.status(), 201);

        let pid = child.id().expect("pid").to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("stops within 10 s")
            .expect("wait");
        assert_eq!(status.code(), Some(0));
        for entry in std::fs::read_dir(data.path()).expect("data dir") {
            let meta = entry.expect("entry").metadata().expect("metadata");
            assert_eq!(
                meta.uid(),
                UID,
                "files in the data dir belong to the image user"
            );
        }
        assert!(data.path().join("aura.db").is_file());
    })
    .await;
}
