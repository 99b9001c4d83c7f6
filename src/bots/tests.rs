use std::path::Path;

use super::*;

fn config(bots: &Path, prompts: &Path) -> Config {
    let mut c = Config::default();
    c.bots.dir = Some(bots.to_path_buf());
    c.prompts.dir = Some(prompts.to_path_buf());
    c.channels
        .insert("ops".into(), vec!["telegram:-100500".into()]);
    c
}

fn repo(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
}

#[test]
fn the_shipped_bots_are_valid_even_before_their_channel_is_defined() {
    let mut c = config(&repo("bots"), &repo("prompts"));
    c.channels.clear();
    let bots = load(&c).expect("shipped bots are valid");
    let names: Vec<&str> = bots.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["herald", "watchman"]);
    assert!(bots.iter().all(|b| !b.enabled));
    let herald = &bots[0];
    assert_eq!(herald.kind, Kind::Briefing);
    assert!(herald.allows(Tool::KubeEvents) && !herald.allows(Tool::Http));
    assert!(
        herald
            .prompt
            .as_deref()
            .is_some_and(|p| p.contains("{{facts}}"))
    );
    assert_eq!(bots[1].endpoints[0].expect_status, 200);
}

#[test]
fn channels_are_names_or_addresses() {
    let bots = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        bots.path().join("w.toml"),
        "name = \"w\"\nkind = \"watchman\"\nschedule = \"*/5 * * * *\"\nchannels = [\"ops\", \"matrix:!room:example.org\"]\n",
    )
    .expect("write");
    let c = config(bots.path(), &repo("prompts"));
    let loaded = load(&c).expect("valid");
    let to: Vec<String> = loaded[0].channels.iter().map(ToString::to_string).collect();
    assert_eq!(to, ["telegram:-100500", "matrix:!room:example.org"]);
    assert_eq!(
        loaded[0].catch_up,
        chrono::Duration::hours(2),
        "the default grace"
    );
}

#[test]
fn every_problem_in_every_bot_file_is_reported() {
    let bots = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        bots.path().join("a.toml"),
        r#"name = "daily"
kind = "briefing"
schedule = "0 25 * * *"
timezone = "Europe/Atlantis"
channels = ["nowhere", "telegram:abc"]
prompt = "missing.md"
tools = ["argo", "shell", "http"]
colour = "blue"
"#,
    )
    .expect("write");
    std::fs::write(
        bots.path().join("b.toml"),
        "name = \"daily\"\nkind = \"watchman\"\nschedule = \"* * * * *\"\nchannels = [\"ops\"]\n\
         [[endpoints]]\nname = \"api\"\nurl = \"http://127.0.0.1:8080/healthz\"\n",
    )
    .expect("write");
    std::fs::write(
        bots.path().join("c.toml"),
        "name = \"c\"\nkind = \"poet\"\n",
    )
    .expect("write");
    std::fs::write(bots.path().join("README.md"), "not a bot").expect("write");
    let c = config(bots.path(), &repo("prompts"));
    let problems = load(&c).expect_err("invalid");
    let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
    for needle in [
        "unknown key `colour`",
        "0 25 * * *",
        "Europe/Atlantis",
        "\"nowhere\" is not a [channels] entry",
        "telegram:abc",
        "missing.md",
        "\"shell\" is unknown",
        "\"http\" is not a tool of this kind",
        "another bot file is already named \"daily\"",
        "c.toml: missing field `schedule`",
        "tools does not allow \"http\"",
    ] {
        assert!(has(needle), "no problem mentions {needle:?}: {problems:#?}");
    }
    assert!(problems.iter().all(|p| !p.contains("README.md:")));
    assert_eq!(
        problems.len(),
        11,
        "one line per problem, nothing twice: {problems:#?}"
    );
    let mut full = c.clone();
    full.channels.clear();
    assert!(
        full.validate()
            .iter()
            .any(|p| p.contains("Europe/Atlantis")),
        "aura check sees them"
    );
}

#[test]
fn a_briefing_prompt_with_an_unknown_placeholder_is_reported() {
    let bots = tempfile::tempdir().expect("tempdir");
    let prompts = tempfile::tempdir().expect("tempdir");
    std::fs::write(prompts.path().join("mine.md"), "Summarise {{fact}}").expect("write");
    std::fs::write(
        bots.path().join("h.toml"),
        "name = \"h\"\nkind = \"briefing\"\nschedule = \"0 8 * * *\"\nchannels = [\"ops\"]\nprompt = \"mine.md\"\ntools = [\"tickets\"]\n",
    )
    .expect("write");
    let problems = load(&config(bots.path(), prompts.path())).expect_err("invalid");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("unknown placeholder {{fact}}")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("missing placeholder {{facts}}")),
        "{problems:?}"
    );
}
