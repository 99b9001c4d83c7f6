//! Watchman: checks HTTP endpoints and decides what changed since the last check. It speaks only on a change —
//! down, or up again after being down — and keeps each change as a finding for the briefing.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Bot, Endpoint};
use crate::chat::text::{RichText, human_duration as human};
use crate::storage::{Finding, WatchTarget};

/// One endpoint's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub url: String,
    pub up: bool,
    /// Why it is down (`HTTP 503, expected 200`), or the status it answered.
    pub detail: String,
}

/// What a run found: the states to keep and the changes to announce.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub states: Vec<WatchTarget>,
    pub findings: Vec<Finding>,
}

/// Checks every endpoint of `bot` at once.
pub async fn check_all(bot: &Bot) -> Vec<Check> {
    let client = reqwest::Client::new();
    futures::future::join_all(bot.endpoints.iter().map(|e| check(&client, e))).await
}

async fn check(client: &reqwest::Client, e: &Endpoint) -> Check {
    let result = client.get(&e.url).timeout(e.timeout).send().await;
    let (up, detail) = match result {
        Ok(resp) if resp.status().as_u16() == e.expect_status => {
            (true, format!("HTTP {}", resp.status().as_u16()))
        }
        Ok(resp) => (
            false,
            format!(
                "HTTP {}, expected {}",
                resp.status().as_u16(),
                e.expect_status
            ),
        ),
        // The error's text can carry the URL (and credentials in it): say what kind of failure it was.
        Err(err) if err.is_timeout() => {
            (false, format!("no answer within {}", human_std(e.timeout)))
        }
        Err(err) if err.is_connect() => (false, "cannot connect".into()),
        Err(_) => (false, "the request failed".into()),
    };
    Check {
        name: e.name.clone(),
        url: e.url.clone(),
        up,
        detail,
    }
}

fn human_std(d: std::time::Duration) -> String {
    human(chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero()))
}

/// Compares `checks` with the `previous` states: a first "up" is quiet, a first "down" and every change are
/// findings.
pub fn compare(
    bot: &str,
    previous: &[WatchTarget],
    checks: &[Check],
    now: DateTime<Utc>,
) -> Outcome {
    let mut out = Outcome::default();
    for c in checks {
        let state = if c.up { "up" } else { "down" };
        let before = previous.iter().find(|p| p.name == c.name);
        let changed = match before {
            None => !c.up,
            Some(p) => p.state != state,
        };
        let since = match before {
            Some(p) if !changed => p.since,
            _ => now,
        };
        if changed {
            out.findings.push(Finding {
                bot: bot.to_owned(),
                target: c.name.clone(),
                state: state.to_owned(),
                detail: c.detail.clone(),
                down_for: before.filter(|_| c.up).map(|p| now - p.since),
                observed_at: now,
            });
        }
        out.states.push(WatchTarget {
            bot: bot.to_owned(),
            name: c.name.clone(),
            url: c.url.clone(),
            state: state.to_owned(),
            since,
            detail: c.detail.clone(),
        });
    }
    out
}

/// The message announcing `findings`, or `None` when nothing changed.
pub fn message(bot: &str, findings: &[Finding], tz: Tz) -> Option<RichText> {
    if findings.is_empty() {
        return None;
    }
    let mut m = RichText::new();
    for (i, f) in findings.iter().enumerate() {
        if i > 0 {
            m = m.newline();
        }
        let at = f.observed_at.with_timezone(&tz).format("%H:%M %Z");
        m = match f.down_for {
            Some(d) => m.text("✅ ").bold(&f.target).text(format!(
                " is up again ({}) after {} down — {bot}, {at}",
                f.detail,
                human(d)
            )),
            None => m
                .text("🔴 ")
                .bold(&f.target)
                .text(format!(" is down: {} — {bot}, {at}", f.detail)),
        };
    }
    Some(m)
}

/// A one-line account of the checks, for `--dry-run` and the run's recorded output.
pub fn summary(checks: &[Check]) -> String {
    if checks.is_empty() {
        return "no endpoints configured".into();
    }
    let parts: Vec<String> = checks
        .iter()
        .map(|c| {
            format!(
                "{} {} ({})",
                c.name,
                if c.up { "up" } else { "down" },
                c.detail
            )
        })
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(up: bool) -> Check {
        Check {
            name: "api".into(),
            url: "http://127.0.0.1:1/".into(),
            up,
            detail: if up {
                "HTTP 200".into()
            } else {
                "HTTP 503, expected 200".into()
            },
        }
    }

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + min * 60, 0).expect("time")
    }

    #[test]
    fn a_first_up_is_quiet_and_a_first_down_is_announced() {
        let quiet = compare("watchman", &[], &[check(true)], at(0));
        assert!(quiet.findings.is_empty());
        assert_eq!(quiet.states[0].state, "up");
        let loud = compare("watchman", &[], &[check(false)], at(0));
        assert_eq!(loud.findings.len(), 1);
        assert_eq!(loud.findings[0].down_for, None);
    }

    #[test]
    fn only_changes_are_findings_and_up_again_says_how_long_it_was_down() {
        let down = compare("watchman", &[], &[check(false)], at(0)).states;
        let still = compare("watchman", &down, &[check(false)], at(5));
        assert!(still.findings.is_empty());
        assert_eq!(still.states[0].since, at(0), "down since the first failure");
        let back = compare("watchman", &still.states, &[check(true)], at(15));
        assert_eq!(back.findings.len(), 1);
        assert_eq!(
            back.findings[0].down_for,
            Some(chrono::Duration::minutes(15))
        );
        let text = message("watchman", &back.findings, chrono_tz::UTC)
            .expect("message")
            .plain();
        assert!(
            text.contains("api is up again (HTTP 200) after 15 min down"),
            "{text}"
        );
    }
}
