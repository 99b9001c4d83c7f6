//! Tickets: ids humans can type, statuses, priorities, and the one function that decides every transition.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Plan, UserRef};

/// A ticket number as people type it in chat: `42` or `#42`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(pub i64);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Why a string is not a ticket id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a ticket id; use a number like 42 or #42")]
pub struct BadTicketId(pub String);

impl FromStr for TicketId {
    type Err = BadTicketId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.trim().trim_start_matches('#');
        match digits.parse::<i64>() {
            Ok(n) if n > 0 && !digits.starts_with('+') => Ok(TicketId(n)),
            _ => Err(BadTicketId(s.chars().take(40).collect())),
        }
    }
}

/// Where a ticket is in its life; see DESIGN.md "Ticket states".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Planning,
    PendingPlanApproval,
    Executing,
    PendingApproval,
    PendingInput,
    Observing,
    Paused,
    Resolved,
    Failed,
    Cancelled,
}

impl Status {
    /// Every status, in life-cycle order.
    pub const ALL: [Status; 11] = [
        Status::Draft,
        Status::Planning,
        Status::PendingPlanApproval,
        Status::Executing,
        Status::PendingApproval,
        Status::PendingInput,
        Status::Observing,
        Status::Paused,
        Status::Resolved,
        Status::Failed,
        Status::Cancelled,
    ];

    /// The snake_case name used in the API, the database and chat.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Planning => "planning",
            Status::PendingPlanApproval => "pending_plan_approval",
            Status::Executing => "executing",
            Status::PendingApproval => "pending_approval",
            Status::PendingInput => "pending_input",
            Status::Observing => "observing",
            Status::Paused => "paused",
            Status::Resolved => "resolved",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    /// True when nothing can happen to the ticket any more.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Resolved | Status::Failed | Status::Cancelled)
    }

    /// The statuses this one may move to.
    pub fn successors(self) -> &'static [Status] {
        use Status::*;
        match self {
            Draft => &[Planning, PendingPlanApproval, Cancelled],
            Planning => &[PendingPlanApproval, PendingInput, Paused, Failed, Cancelled],
            PendingPlanApproval => &[Planning, PendingPlanApproval, Executing, Cancelled],
            // Back to pending_plan_approval: the approval was withdrawn before execution began.
            Executing => &[
                PendingPlanApproval,
                PendingApproval,
                PendingInput,
                Observing,
                Paused,
                Resolved,
                Failed,
                Cancelled,
            ],
            PendingApproval => &[Executing, Planning, Cancelled],
            PendingInput => &[Planning, Executing, Cancelled],
            Observing => &[Executing, Resolved, Failed, Cancelled],
            Paused => &[Planning, Executing, Cancelled],
            Resolved | Failed | Cancelled => &[],
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a ticket status; one of: {list}", list = Status::ALL.map(Status::as_str).join(", "))]
pub struct BadStatus(pub String);

impl FromStr for Status {
    type Err = BadStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| BadStatus(s.chars().take(40).collect()))
    }
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe_illegal(*.ticket, *.from, *.to))]
pub struct IllegalTransition {
    pub ticket: TicketId,
    pub from: Status,
    pub to: Status,
}

fn describe_illegal(ticket: TicketId, from: Status, to: Status) -> String {
    if from.is_final() {
        format!("ticket {ticket} is {from}, which is final; it cannot move to {to}")
    } else {
        let allowed: Vec<&str> = from.successors().iter().map(|s| s.as_str()).collect();
        format!(
            "ticket {ticket} is {from}; it cannot move to {to} (allowed: {})",
            allowed.join(", ")
        )
    }
}

/// Decides whether a ticket may move from `from` to `to`; the only place that knows.
pub fn check_transition(
    ticket: TicketId,
    from: Status,
    to: Status,
) -> Result<(), IllegalTransition> {
    if from.successors().contains(&to) {
        Ok(())
    } else {
        Err(IllegalTransition { ticket, from, to })
    }
}

/// How urgent a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    /// The snake_case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

impl FromStr for Priority {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Priority::Low),
            "normal" => Ok(Priority::Normal),
            "high" => Ok(Priority::High),
            "urgent" => Ok(Priority::Urgent),
            other => Err(format!(
                "'{other}' is not a priority; one of: low, normal, high, urgent"
            )),
        }
    }
}

/// A unit of work opened from chat or the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    pub id: TicketId,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub priority: Priority,
    pub requester: UserRef,
    pub turns: u32,
    pub max_turns: u32,
    pub tokens_used: i64,
    /// Estimated LLM cost in millionths of a US dollar.
    pub cost_micros: i64,
    pub plan: Option<Plan>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What is needed to open a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub requester: UserRef,
}

/// Longest title kept; longer input is cut on a character boundary.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest description kept.
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;

/// Why a ticket cannot be opened as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadTicket {
    #[error("a ticket needs a title")]
    EmptyTitle,
    #[error("the description is longer than {MAX_DESCRIPTION_CHARS} characters")]
    DescriptionTooLong,
}

impl NewTicket {
    /// Builds a ticket request, trimming the title to one line of at most `MAX_TITLE_CHARS`.
    pub fn new(
        title: &str,
        description: &str,
        priority: Priority,
        requester: UserRef,
    ) -> Result<Self, BadTicket> {
        let first_line = title.trim().lines().next().unwrap_or_default().trim();
        if first_line.is_empty() {
            return Err(BadTicket::EmptyTitle);
        }
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(BadTicket::DescriptionTooLong);
        }
        Ok(NewTicket {
            title: first_line.chars().take(MAX_TITLE_CHARS).collect(),
            description: description.trim().to_owned(),
            priority,
            requester,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_ids_parse_with_or_without_hash() {
        assert_eq!("42".parse::<TicketId>(), Ok(TicketId(42)));
        assert_eq!("#7".parse::<TicketId>(), Ok(TicketId(7)));
        assert!("0".parse::<TicketId>().is_err());
        assert!("-3".parse::<TicketId>().is_err());
        assert!("+3".parse::<TicketId>().is_err());
        assert!("abc".parse::<TicketId>().is_err());
        assert_eq!(TicketId(42).to_string(), "#42");
    }

    #[test]
    fn every_status_round_trips_through_its_name() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>(), Ok(st));
            let json = serde_json::to_string(&st).expect("serialize");
            assert_eq!(json, format!("\"{}\"", st.as_str()));
        }
        let err = "open".parse::<Status>().expect_err("not a status");
        assert!(err.to_string().contains("pending_plan_approval"));
    }

    #[test]
    fn final_statuses_have_no_successors_and_others_can_be_cancelled() {
        for st in Status::ALL {
            assert_eq!(st.is_final(), st.successors().is_empty(), "{st}");
            if !st.is_final() {
                assert!(st.successors().contains(&Status::Cancelled), "{st}");
            }
        }
    }

    #[test]
    fn the_happy_path_is_legal() {
        use Status::*;
        let path = [
            Draft,
            Planning,
            PendingPlanApproval,
            Executing,
            Observing,
            Resolved,
        ];
        for pair in path.windows(2) {
            assert_eq!(check_transition(TicketId(1), pair[0], pair[1]), Ok(()));
        }
    }

    #[test]
    fn a_rejected_plan_goes_back_to_planning_and_max_turns_pauses() {
        use Status::*;
        assert!(check_transition(TicketId(1), PendingPlanApproval, Planning).is_ok());
        assert!(check_transition(TicketId(1), Planning, Paused).is_ok());
        assert!(check_transition(TicketId(1), Paused, Planning).is_ok());
    }

    #[test]
    fn a_final_ticket_cannot_move_and_says_why() {
        let err = check_transition(TicketId(9), Status::Resolved, Status::Executing)
            .expect_err("resolved is final");
        assert_eq!(
            err.to_string(),
            "ticket #9 is resolved, which is final; it cannot move to executing"
        );
        let err = check_transition(TicketId(3), Status::Draft, Status::Resolved)
            .expect_err("draft cannot resolve");
        assert!(err.to_string().contains("allowed: planning"));
    }

    #[test]
    fn new_tickets_keep_one_trimmed_title_line() {
        let who = UserRef::api("tests").expect("valid");
        let t = NewTicket::new("  disk pressure\nmore", "", Priority::High, who.clone())
            .expect("valid");
        assert_eq!(t.title, "disk pressure");
        assert_eq!(
            NewTicket::new("  \n ", "x", Priority::Low, who),
            Err(BadTicket::EmptyTitle)
        );
    }
}
