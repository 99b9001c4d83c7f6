//! Turns the feed rules' announcements into stored incidents and deploys and into channel messages (new, or
//! edits of the incident's message), all in one transaction with the application's new record.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::revert;
use crate::chat::outbox::{self, Place};
use crate::chat::text::{RichText, human_duration as human};
use crate::domain::ChatAddress;
use crate::domain::feed::{self, Announcement, Observed, OpenIncident, Record};
use crate::gitops::short;
use crate::state::SharedState;
use crate::storage::{IncidentMessage, WriteTx};

/// Stores `record` and everything `announcements` say; returns the record as stored.
pub(super) async fn apply(
    state: &SharedState,
    app: &str,
    labels: &BTreeMap<String, String>,
    seen: &Observed,
    mut record: Record,
    announcements: Vec<Announcement>,
) -> anyhow::Result<Record> {
    // Git work happens before the transaction: the commit subject, and the revert plan when one is due.
    let subject = match (&state.gitops, &seen.revision, announcements.is_empty()) {
        (Some(g), Some(rev), false) => g.subject(rev).await,
        _ => None,
    };
    let mut revert_plan = None;
    for a in &announcements {
        if let Announcement::Incident {
            revert: Some(rev), ..
        } = a
        {
            revert_plan = Some(revert::prepare(state, app, rev).await);
        }
    }
    let channels = channels_for(state, app, labels);
    let what = What {
        app,
        seen,
        subject: subject.as_deref(),
    };
    let recovered = announcements
        .iter()
        .any(|a| matches!(a, Announcement::Recovered { .. }));
    let mut tx = state.store.write().await?;
    for a in &announcements {
        let kind = match a {
            Announcement::Incident { health, .. } => {
                let details = seen.unhealthy.join("; ");
                let revision = seen.revision.as_deref();
                let id = tx.open_incident(app, health, revision, &details).await?;
                let opened_at = tx.now();
                record.incident = Some(OpenIncident {
                    id,
                    health: health.clone(),
                    details: details.clone(),
                    opened_at,
                });
                let mut note = None;
                match revert_plan.take() {
                    Some(Ok(plan)) => {
                        let ticket = revert::propose(state, &mut tx, plan).await?;
                        tx.set_incident_ticket(id, ticket.0).await?;
                        note = Some(Note::Ticket(ticket.0));
                        state
                            .metrics
                            .argo_announcements
                            .with_label_values(&["revert_proposed"])
                            .inc();
                    }
                    Some(Err(why)) => note = Some(Note::NoRevert(why)),
                    None => {}
                }
                let text = what.incident(opened_at, opened_at, note.as_ref());
                let mut messages = Vec::new();
                for to in &channels {
                    let outbox = post(&mut tx, to, &text).await?;
                    messages.push(IncidentMessage {
                        to: to.clone(),
                        outbox,
                    });
                }
                tx.set_incident_messages(id, &messages).await?;
                "incident"
            }
            Announcement::IncidentChanged { incident, .. } => {
                let details = seen.unhealthy.join("; ");
                tx.update_incident(*incident, &seen.health, &details, false)
                    .await?;
                let row = tx.incident(*incident).await?;
                let opened_at = crate::storage::from_ms(row.opened_at)?;
                let note = row.ticket_id.map(Note::Ticket);
                let text = what.incident(opened_at, tx.now(), note.as_ref());
                edit_all(&mut tx, *incident, &text).await?;
                "incident_changed"
            }
            Announcement::Recovered {
                incident, lasted, ..
            } => {
                let row = tx.incident(*incident).await?;
                tx.update_incident(*incident, "Healthy", "", true).await?;
                let closed = RichText::new()
                    .bold(format!("✅ {app} recovered"))
                    .text(format!(" — was {} for {}", row.health, human(*lasted)));
                edit_all(&mut tx, *incident, &closed).await?;
                let text = what.recovered(*lasted);
                for to in &channels {
                    post(&mut tx, to, &text).await?;
                }
                "recovered"
            }
            Announcement::Deployed { revision, previous } => {
                // A recovery already says which revision is Healthy now.
                if !tx.record_deploy(app, revision).await? || recovered {
                    continue;
                }
                let text = what.deployed(revision, previous.as_deref());
                for to in &channels {
                    post(&mut tx, to, &text).await?;
                }
                "deployed"
            }
        };
        state
            .metrics
            .argo_announcements
            .with_label_values(&[kind])
            .inc();
    }
    tx.save_argo_record(app, &record).await?;
    tx.commit().await?;
    state.wakers.wake_senders();
    Ok(record)
}

/// Closes the open incident of a deleted application (editing its messages) and forgets the application.
pub(super) async fn deleted(state: &SharedState, app: &str, record: &Record) -> anyhow::Result<()> {
    let mut tx = state.store.write().await?;
    if let Some(incident) = &record.incident {
        tx.update_incident(incident.id, &incident.health, &incident.details, true)
            .await?;
        let text = RichText::new()
            .bold(format!("⚪ {app} was deleted"))
            .text(format!(
                " — its {} incident is closed after {}",
                incident.health,
                human(tx.now() - incident.opened_at)
            ));
        edit_all(&mut tx, incident.id, &text).await?;
    }
    tx.delete_argo_record(app).await?;
    tx.commit().await?;
    state.wakers.wake_senders();
    Ok(())
}

/// The channels an application's announcements go to: the first matching route's, else `argocd.feed`.
fn channels_for(
    state: &SharedState,
    app: &str,
    labels: &BTreeMap<String, String>,
) -> Vec<ChatAddress> {
    let argocd = &state.config.argocd;
    let names = argocd
        .routes
        .iter()
        .find(|r| feed::route_matches(r.apps.as_deref(), r.labels.as_deref(), app, labels))
        .map_or(&argocd.feed, |r| &r.channels);
    state.config.targets(names)
}

async fn post(tx: &mut WriteTx, to: &ChatAddress, text: &RichText) -> anyhow::Result<i64> {
    Ok(outbox::enqueue_message(tx, to, None, text, &Place::default(), Vec::new()).await?)
}

/// Edits every message of an incident in place.
async fn edit_all(tx: &mut WriteTx, incident: i64, text: &RichText) -> anyhow::Result<()> {
    for m in tx.incident_messages(incident).await? {
        outbox::enqueue_edit(tx, &m.to, None, m.outbox, text, Vec::new()).await?;
    }
    Ok(())
}

/// What an incident message adds about the revert.
enum Note {
    Ticket(i64),
    NoRevert(String),
}

/// The facts every message names: the application, what was seen, and the revision's commit subject.
struct What<'a> {
    app: &'a str,
    seen: &'a Observed,
    subject: Option<&'a str>,
}

impl What<'_> {
    /// `abc12345 “Bump payments to 1.4.2”`, or `unknown revision`.
    fn revision(&self, text: RichText) -> RichText {
        match &self.seen.revision {
            Some(rev) => {
                let text = text.code(short(rev));
                match self.subject {
                    Some(s) => text.text(format!(" “{s}”")),
                    None => text,
                }
            }
            None => text.text("an unknown revision"),
        }
    }

    fn incident(
        &self,
        opened_at: DateTime<Utc>,
        now: DateTime<Utc>,
        note: Option<&Note>,
    ) -> RichText {
        let health = &self.seen.health;
        let icon = if feed::is_bad(health) { "🔴" } else { "🟠" };
        let mut text = RichText::new().bold(format!("{icon} {} is {health}", self.app));
        if now > opened_at {
            text = text.text(format!(" (incident open for {})", human(now - opened_at)));
        }
        text = self.revision(text.newline().text("Revision "));
        text = text.text(format!(" · sync {}", self.seen.sync));
        for r in &self.seen.unhealthy {
            text = text.newline().text(format!("• {r}"));
        }
        match note {
            Some(Note::Ticket(id)) => text.newline().italic(format!(
                "Ticket {id} proposes reverting this revision; it needs an approval like any change."
            )),
            Some(Note::NoRevert(why)) => text
                .newline()
                .italic(format!("No revert proposed: {why}.")),
            None => text,
        }
    }

    fn recovered(&self, lasted: Duration) -> RichText {
        let text = RichText::new()
            .bold(format!("✅ {} Healthy again", self.app))
            .text(format!(" after {} at ", human(lasted)));
        self.revision(text)
    }

    fn deployed(&self, revision: &str, previous: Option<&str>) -> RichText {
        let mut text = RichText::new()
            .bold(format!("🚀 {} deployed", self.app))
            .text(" ");
        text = self.revision(text);
        if self.seen.revision.as_deref() != Some(revision) {
            text = text.text(format!(" ({})", short(revision)));
        }
        match previous {
            Some(p) => text.text(format!(" — was {}, Synced and Healthy", short(p))),
            None => text.text(" — Synced and Healthy"),
        }
    }
}
