//! The Argo CD feed's rules, with no I/O: when an Application's observed state becomes an announcement (a
//! confirmed incident, its edits, its recovery, a deploy), and which routes an application matches.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

/// What the watcher saw of one Application.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// Healthy, Progressing, Degraded, Suspended, Missing, Unknown.
    pub health: String,
    /// Synced, OutOfSync, Unknown.
    pub sync: String,
    pub revision: Option<String>,
    /// Resources that are not healthy, `Kind/name: status — message`.
    pub unhealthy: Vec<String>,
}

/// The incident announced on an application and not yet recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIncident {
    pub id: i64,
    pub health: String,
    /// What the last announcement said about the resources (to tell when an edit is due).
    pub details: String,
    pub opened_at: DateTime<Utc>,
}

/// What is known (and was announced) about one application; stored, so a restart announces nothing twice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub health: String,
    pub sync: String,
    pub revision: Option<String>,
    /// Since when a bad health has been seen without being confirmed yet.
    pub pending_since: Option<DateTime<Utc>>,
    pub incident: Option<OpenIncident>,
    /// The last revision that was synced and Healthy (announced as deployed, or known at first sight).
    pub deployed_revision: Option<String>,
    /// When the synced revision last changed.
    pub revision_changed_at: Option<DateTime<Utc>>,
}

/// Something the channels are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// A bad health persisted past the flap filter: a new incident message.
    Incident {
        health: String,
        revision: Option<String>,
        unhealthy: Vec<String>,
        /// The revision whose sync it followed, when that sync is the likely cause (propose its revert).
        revert: Option<String>,
    },
    /// The open incident changed (health or resources): its message is edited in place.
    IncidentChanged {
        incident: i64,
        health: String,
        revision: Option<String>,
        unhealthy: Vec<String>,
    },
    /// Healthy again: the incident closes with how long it lasted.
    Recovered {
        incident: i64,
        lasted: Duration,
        revision: Option<String>,
    },
    /// A new revision is synced and Healthy.
    Deployed {
        revision: String,
        previous: Option<String>,
    },
}

/// The feed's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// How long a bad health must persist before it is announced.
    pub confirm_after: Duration,
    /// A Degraded that starts within this long of a revision change proposes reverting that revision.
    pub revert_window: Duration,
}

/// Health states that open an incident once confirmed.
pub fn is_bad(health: &str) -> bool {
    matches!(health, "Degraded" | "Missing" | "Unknown")
}

/// Applies one observation at `now` to what was known (None: first sight); returns the new record and what to
/// announce. The first sight of an application announces nothing: its state is taken as known (a bad one still
/// has to persist past the flap filter before it is announced).
pub fn step(
    prev: Option<&Record>,
    seen: &Observed,
    now: DateTime<Utc>,
    rules: Rules,
) -> (Record, Vec<Announcement>) {
    let first = prev.is_none();
    let mut r = prev.cloned().unwrap_or_default();
    let mut out = Vec::new();
    if first {
        if seen.health == "Healthy" && seen.sync == "Synced" {
            r.deployed_revision = seen.revision.clone();
        }
    } else if seen.revision.is_some() && seen.revision != r.revision {
        r.revision_changed_at = Some(now);
    }
    r.health = seen.health.clone();
    r.sync = seen.sync.clone();
    r.revision = seen.revision.clone();
    let details = seen.unhealthy.join("; ");

    if is_bad(&seen.health) {
        if let Some(incident) = &mut r.incident {
            r.pending_since = None;
            if incident.health != seen.health || incident.details != details {
                out.push(changed(incident, seen, details));
            }
            return (r, out);
        }
        let since = *r.pending_since.get_or_insert(now);
        if now - since >= rules.confirm_after {
            let after_sync = r
                .revision_changed_at
                .is_some_and(|changed| since - changed <= rules.revert_window && since >= changed);
            let revert = (seen.health == "Degraded"
                && after_sync
                && r.deployed_revision.is_some()
                && r.deployed_revision != seen.revision)
                .then(|| seen.revision.clone())
                .flatten();
            r.pending_since = None;
            out.push(Announcement::Incident {
                health: seen.health.clone(),
                revision: seen.revision.clone(),
                unhealthy: seen.unhealthy.clone(),
                revert,
            });
        }
        return (r, out);
    }

    // Not bad: whatever was pending was a flap.
    r.pending_since = None;
    if seen.health != "Healthy" {
        if let Some(incident) = &mut r.incident
            && incident.health != seen.health
        {
            out.push(changed(incident, seen, details));
        }
        return (r, out);
    }
    if let Some(incident) = r.incident.take() {
        out.push(Announcement::Recovered {
            incident: incident.id,
            lasted: now - incident.opened_at,
            revision: seen.revision.clone(),
        });
    }
    if !first
        && seen.sync == "Synced"
        && let Some(revision) = &seen.revision
        && r.deployed_revision.as_ref() != Some(revision)
    {
        out.push(Announcement::Deployed {
            revision: revision.clone(),
            previous: r.deployed_revision.replace(revision.clone()),
        });
    }
    (r, out)
}

/// Records what the open incident now says and announces the change (an edit of its message).
fn changed(incident: &mut OpenIncident, seen: &Observed, details: String) -> Announcement {
    incident.health = seen.health.clone();
    incident.details = details;
    Announcement::IncidentChanged {
        incident: incident.id,
        health: seen.health.clone(),
        revision: seen.revision.clone(),
        unhealthy: seen.unhealthy.clone(),
    }
}

/// Parses `key=value[,key=value]`.
pub fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(format!("{pair:?} is not key=value")),
        })
        .collect()
}

/// Whether `name` matches a pattern where `*` stands for any run of characters.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether an application (by name and labels) matches a route's name pattern and labels (both, when both
/// are given). A route with unparsable labels matches nothing (`aura check` reports it).
pub fn route_matches(
    apps: Option<&str>,
    labels: Option<&str>,
    name: &str,
    app_labels: &BTreeMap<String, String>,
) -> bool {
    if apps.is_none() && labels.is_none() {
        return false;
    }
    if let Some(pattern) = apps
        && !glob_matches(pattern, name)
    {
        return false;
    }
    match labels.map(parse_labels) {
        None => true,
        Some(Ok(wanted)) => wanted
            .iter()
            .all(|(k, v)| app_labels.get(k).is_some_and(|have| have == v)),
        Some(Err(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            confirm_after: Duration::seconds(30),
            revert_window: Duration::minutes(15),
        }
    }

    fn seen(health: &str, revision: &str) -> Observed {
        Observed {
            health: health.into(),
            sync: "Synced".into(),
            revision: Some(revision.into()),
            unhealthy: match health {
                "Healthy" => vec![],
                _ => vec![format!(
                    "Deployment/payments: {health} — progress deadline exceeded"
                )],
            },
        }
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time")
    }

    /// Runs observations at the given seconds; returns the final record and every announcement.
    fn run(start: Option<Record>, script: &[(i64, Observed)]) -> (Record, Vec<Announcement>) {
        let mut record = start;
        let mut all = Vec::new();
        for (at, o) in script {
            let (r, out) = step(record.as_ref(), o, t(*at), rules());
            // The caller stores an opened incident and records it on the app.
            let mut r = r;
            for a in &out {
                if let Announcement::Incident {
                    health, unhealthy, ..
                } = a
                {
                    r.incident = Some(OpenIncident {
                        id: 7,
                        health: health.clone(),
                        details: unhealthy.join("; "),
                        opened_at: t(*at),
                    });
                }
            }
            record = Some(r);
            all.extend(out);
        }
        (record.expect("record"), all)
    }

    #[test]
    fn a_flap_shorter_than_the_filter_announces_nothing() {
        let (r, out) = run(
            None,
            &[
                (0, seen("Healthy", "a")),
                (10, seen("Degraded", "a")),
                (20, seen("Degraded", "a")),
                (30, seen("Healthy", "a")),
            ],
        );
        assert_eq!(out, []);
        assert_eq!((r.pending_since, r.incident), (None, None));
    }

    #[test]
    fn a_persisting_degraded_opens_one_incident_edits_it_and_recovers() {
        let (_, out) = run(
            None,
            &[
                (0, seen("Healthy", "a")),
                (10, seen("Degraded", "a")),
                (25, seen("Degraded", "a")),
                (40, seen("Degraded", "a")),
                (50, seen("Degraded", "a")),
                (60, seen("Missing", "a")),
                (70, seen("Progressing", "a")),
                (730, seen("Healthy", "a")),
            ],
        );
        assert_eq!(out.len(), 4, "{out:?}");
        assert!(
            matches!(&out[0], Announcement::Incident { health, revert: None, .. } if health == "Degraded")
        );
        assert!(
            matches!(&out[1], Announcement::IncidentChanged { health, .. } if health == "Missing")
        );
        assert!(
            matches!(&out[2], Announcement::IncidentChanged { health, .. } if health == "Progressing")
        );
        assert_eq!(
            out[3],
            Announcement::Recovered {
                incident: 7,
                lasted: Duration::seconds(690),
                revision: Some("a".into())
            }
        );
    }

    #[test]
    fn a_known_incident_is_not_announced_again() {
        let (r, _) = run(
            None,
            &[(0, seen("Degraded", "a")), (40, seen("Degraded", "a"))],
        );
        assert!(r.incident.is_some());
        let (_, out) = run(Some(r), &[(100, seen("Degraded", "a"))]);
        assert_eq!(out, []);
    }

    #[test]
    fn a_deploy_is_announced_once_when_the_new_revision_is_synced_and_healthy() {
        let mut progressing = seen("Progressing", "b");
        progressing.sync = "OutOfSync".into();
        let (r, out) = run(
            None,
            &[
                (0, seen("Healthy", "a")),
                (10, progressing),
                (20, seen("Progressing", "b")),
                (30, seen("Healthy", "b")),
                (40, seen("Healthy", "b")),
            ],
        );
        assert_eq!(
            out,
            [Announcement::Deployed {
                revision: "b".into(),
                previous: Some("a".into())
            }]
        );
        assert_eq!(r.deployed_revision.as_deref(), Some("b"));
    }

    #[test]
    fn degraded_right_after_a_sync_proposes_reverting_that_revision() {
        let (_, out) = run(
            None,
            &[
                (0, seen("Healthy", "a")),
                (100, seen("Progressing", "b")),
                (160, seen("Degraded", "b")),
                (200, seen("Degraded", "b")),
            ],
        );
        assert!(
            matches!(&out[..], [Announcement::Incident { revert: Some(r), .. }] if r == "b"),
            "{out:?}"
        );
        // Long after the sync it is an incident, not the sync's fault.
        let (_, out) = run(
            None,
            &[
                (0, seen("Healthy", "a")),
                (100, seen("Healthy", "b")),
                (5000, seen("Degraded", "b")),
                (5040, seen("Degraded", "b")),
            ],
        );
        assert!(
            matches!(
                &out[..],
                [
                    Announcement::Deployed { .. },
                    Announcement::Incident { revert: None, .. }
                ]
            ),
            "{out:?}"
        );
    }

    #[test]
    fn routes_match_by_name_pattern_and_labels() {
        let labels = BTreeMap::from([("team".to_owned(), "payments".to_owned())]);
        assert!(route_matches(Some("pay*"), None, "payments", &labels));
        assert!(route_matches(None, Some("team=payments"), "x", &labels));
        assert!(!route_matches(
            Some("pay*"),
            Some("team=search"),
            "payments",
            &labels
        ));
        assert!(!route_matches(None, None, "payments", &labels));
        assert!(glob_matches("*-api", "payments-api"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxc"));
        assert!(glob_matches("payments", "payments"));
        assert!(parse_labels("a=b, c=d").is_ok());
        assert!(parse_labels("nope").is_err());
    }
}
