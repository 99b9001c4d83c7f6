//! The audit log's rows and its hash chain: each row's hash covers its content and the previous row's hash.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::TicketId;

/// The hash the first row of the chain points back to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened; the closed set of audited events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    TicketCreated,
    StatusChanged,
    PlanProposed,
    TurnsGranted,
    /// A message in the ticket's thread joined its conversation.
    ConversationMessage,
    ApprovalRequested,
    ApprovalDecided,
    ApprovalRefused,
    ApprovalWithdrawn,
    /// A plan was refused by the data-protection linter (never offered for approval).
    PlanRefused,
    /// The approved change was pushed and a pull request opened or adopted.
    ChangeProposed,
    ToolCalled,
    /// A tool call the mode does not allow (or that does not exist) was refused, never executed.
    ToolRefused,
}

impl AuditEvent {
    /// The snake_case name stored in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::TicketCreated => "ticket_created",
            AuditEvent::StatusChanged => "status_changed",
            AuditEvent::PlanProposed => "plan_proposed",
            AuditEvent::TurnsGranted => "turns_granted",
            AuditEvent::ConversationMessage => "conversation_message",
            AuditEvent::ApprovalRequested => "approval_requested",
            AuditEvent::ApprovalDecided => "approval_decided",
            AuditEvent::ApprovalRefused => "approval_refused",
            AuditEvent::ApprovalWithdrawn => "approval_withdrawn",
            AuditEvent::PlanRefused => "plan_refused",
            AuditEvent::ChangeProposed => "change_proposed",
            AuditEvent::ToolCalled => "tool_called",
            AuditEvent::ToolRefused => "tool_refused",
        }
    }
}

/// One row of the audit log as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub ticket: Option<TicketId>,
    pub actor: String,
    pub event: String,
    /// Event details as the JSON text that was hashed.
    #[serde(serialize_with = "raw_json")]
    pub details: String,
    pub created_at: DateTime<Utc>,
    pub prev_hash: String,
    pub hash: String,
}

fn raw_json<S: serde::Serializer>(details: &str, s: S) -> Result<S::Ok, S::Error> {
    let value: serde_json::Value = serde_json::from_str(details)
        .unwrap_or_else(|_| serde_json::Value::String(details.to_owned()));
    value.serialize(s)
}

/// The fields a row's hash is computed over.
#[derive(Debug, Clone, Copy)]
pub struct HashInput<'a> {
    pub id: i64,
    pub ticket: Option<TicketId>,
    pub actor: &'a str,
    pub event: &'a str,
    pub details: &'a str,
    pub created_at_ms: i64,
    pub prev_hash: &'a str,
}

/// SHA-256 over the length-prefixed fields of a row and the previous hash.
pub fn chain_hash(input: HashInput<'_>) -> String {
    let mut h = Sha256::new();
    let ticket = input.ticket.map(|t| t.0.to_string()).unwrap_or_default();
    let id = input.id.to_string();
    let at = input.created_at_ms.to_string();
    for field in [
        input.prev_hash,
        &id,
        &ticket,
        input.actor,
        input.event,
        input.details,
        &at,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The first row where the chain does not hold, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at row {id}: {reason}")]
pub struct ChainBreak {
    pub id: i64,
    pub reason: String,
}

/// Walks rows in id order, carrying the previous row's hash; call `check` for each row.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    prev_hash: String,
    last_id: i64,
    checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            prev_hash: GENESIS_HASH.to_owned(),
            last_id: 0,
            checked: 0,
        }
    }
}

impl ChainVerifier {
    /// Checks the next row; the first failure names the row.
    pub fn check(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        let brk = |reason: String| ChainBreak { id: e.id, reason };
        if e.id <= self.last_id {
            return Err(brk(format!(
                "id is not after the previous row {}",
                self.last_id
            )));
        }
        if e.prev_hash != self.prev_hash {
            return Err(brk(format!(
                "it does not point at the previous row {} (a row before it was removed or changed)",
                self.last_id
            )));
        }
        let expected = chain_hash(HashInput {
            id: e.id,
            ticket: e.ticket,
            actor: &e.actor,
            event: &e.event,
            details: &e.details,
            created_at_ms: e.created_at.timestamp_millis(),
            prev_hash: &e.prev_hash,
        });
        if expected != e.hash {
            return Err(brk(
                "its content does not match its hash (the row was edited)".into(),
            ));
        }
        self.prev_hash = e.hash.clone();
        self.last_id = e.id;
        self.checked += 1;
        Ok(())
    }

    /// How many rows passed.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The hash of the last row that passed.
    pub fn head(&self) -> &str {
        &self.prev_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|id| {
                let created_at =
                    DateTime::from_timestamp_millis(1_700_000_000_000 + id).expect("valid");
                let details = format!("{{\"n\":{id}}}");
                let hash = chain_hash(HashInput {
                    id,
                    ticket: Some(TicketId(1)),
                    actor: "api:t",
                    event: "status_changed",
                    details: &details,
                    created_at_ms: created_at.timestamp_millis(),
                    prev_hash: &prev,
                });
                let e = AuditEntry {
                    id,
                    ticket: Some(TicketId(1)),
                    actor: "api:t".into(),
                    event: "status_changed".into(),
                    details,
                    created_at,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(rows: &[AuditEntry]) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for r in rows {
            v.check(r)?;
        }
        Ok(v.checked())
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn an_edited_row_is_named() {
        let mut rows = chain(5);
        rows[2].actor = "telegram:666".into();
        assert_eq!(verify(&rows).expect_err("edited").id, 3);
    }

    #[test]
    fn a_removed_row_breaks_the_next_one() {
        let mut rows = chain(5);
        rows.remove(1);
        let brk = verify(&rows).expect_err("removed");
        assert_eq!(brk.id, 3);
        assert!(brk.reason.contains("previous row 1"));
    }

    #[test]
    fn details_are_served_as_json() {
        let rows = chain(1);
        let v = serde_json::to_value(&rows[0]).expect("json");
        assert_eq!(v["details"]["n"], 1);
    }
}
