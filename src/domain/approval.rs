//! The approval policy: who may decide a plan, from where, until when, and for which plan digest.

use chrono::{DateTime, Utc};

use super::{ChatAddress, Status, TicketId, UserRef};

/// What an approver decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    /// The snake_case name stored in the database and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approved",
            Decision::Reject => "rejected",
        }
    }
}

/// The configured policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Users allowed to decide, by immutable id. Empty = the write path is disabled.
    pub approvers: Vec<UserRef>,
    /// Whether a ticket's requester may approve their own ticket.
    pub allow_self_approval: bool,
}

/// A pending request for a decision, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub id: i64,
    pub ticket: TicketId,
    pub plan_digest: String,
    pub requested_by: UserRef,
    pub origin: ChatAddress,
    pub expires_at: DateTime<Utc>,
    /// Set once decided (or superseded).
    pub decided: Option<String>,
}

/// Someone pressing a button or typing approve/reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt<'a> {
    pub by: &'a UserRef,
    pub from: &'a ChatAddress,
    pub decision: Decision,
    pub at: DateTime<Utc>,
}

/// The ticket as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketNow<'a> {
    pub status: Status,
    pub plan_digest: Option<&'a str>,
}

/// Why an attempt is refused; `Display` is the short answer shown to the presser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "approvals are disabled: no approvers are configured (set approvals.approvers, e.g. [\"telegram:123456\"])"
    )]
    NoApprovers,
    #[error("you are not an approver")]
    NotApprover,
    #[error("you requested this ticket; another approver must decide")]
    OwnTicket,
    #[error("this approval belongs to another conversation")]
    WrongConversation,
    #[error("this approval expired; propose the plan again for a new one")]
    Expired,
    #[error("this approval was already decided ({0})")]
    AlreadyDecided(String),
    #[error("the plan changed since this approval was requested; use the newer approval message")]
    PlanChanged,
    #[error("the ticket is no longer waiting for a plan approval")]
    NotWaiting,
}

impl Refusal {
    /// A stable name for the audit log and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoApprovers => "no_approvers",
            Refusal::NotApprover => "not_approver",
            Refusal::OwnTicket => "own_ticket",
            Refusal::WrongConversation => "wrong_conversation",
            Refusal::Expired => "expired",
            Refusal::AlreadyDecided(_) => "already_decided",
            Refusal::PlanChanged => "plan_changed",
            Refusal::NotWaiting => "not_waiting",
        }
    }
}

/// Decides whether `attempt` may decide `request`; the only place that knows.
pub fn check(
    policy: &Policy,
    request: &ApprovalRequest,
    ticket: TicketNow<'_>,
    attempt: &Attempt<'_>,
) -> Result<Decision, Refusal> {
    if policy.approvers.is_empty() {
        return Err(Refusal::NoApprovers);
    }
    if !policy.approvers.contains(attempt.by) {
        return Err(Refusal::NotApprover);
    }
    if let Some(d) = &request.decided {
        return Err(Refusal::AlreadyDecided(d.clone()));
    }
    if attempt.by == &request.requested_by && !policy.allow_self_approval {
        return Err(Refusal::OwnTicket);
    }
    if attempt.from != &request.origin {
        return Err(Refusal::WrongConversation);
    }
    if attempt.at >= request.expires_at {
        return Err(Refusal::Expired);
    }
    if ticket.status != Status::PendingPlanApproval {
        return Err(Refusal::NotWaiting);
    }
    if ticket.plan_digest != Some(request.plan_digest.as_str()) {
        return Err(Refusal::PlanChanged);
    }
    Ok(attempt.decision)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn user(s: &str) -> UserRef {
        s.parse().expect("valid")
    }

    fn chat() -> ChatAddress {
        "telegram:-100".parse().expect("valid")
    }

    fn setup() -> (Policy, ApprovalRequest, DateTime<Utc>) {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let policy = Policy {
            approvers: vec![user("telegram:1"), user("telegram:2")],
            allow_self_approval: false,
        };
        let request = ApprovalRequest {
            id: 1,
            ticket: TicketId(7),
            plan_digest: "d1".into(),
            requested_by: user("telegram:2"),
            origin: chat(),
            expires_at: now + Duration::minutes(30),
            decided: None,
        };
        (policy, request, now)
    }

    const WAITING: TicketNow<'static> = TicketNow {
        status: Status::PendingPlanApproval,
        plan_digest: Some("d1"),
    };

    #[test]
    fn an_approver_from_the_origin_chat_decides() {
        let (policy, req, now) = setup();
        let by = user("telegram:1");
        let from = chat();
        let attempt = Attempt {
            by: &by,
            from: &from,
            decision: Decision::Reject,
            at: now,
        };
        assert_eq!(
            check(&policy, &req, WAITING, &attempt),
            Ok(Decision::Reject)
        );
    }

    #[test]
    fn every_refusal_has_its_reason() {
        let (policy, req, now) = setup();
        let from = chat();
        let other_chat: ChatAddress = "telegram:-200".parse().expect("valid");
        let (stranger, approver, requester) =
            (user("telegram:9"), user("telegram:1"), user("telegram:2"));
        let at = |by, from, at| Attempt {
            by,
            from,
            decision: Decision::Approve,
            at,
        };
        let cases: Vec<(Attempt<'_>, TicketNow<'_>, &str)> = vec![
            (at(&stranger, &from, now), WAITING, "not_approver"),
            (at(&requester, &from, now), WAITING, "own_ticket"),
            (
                at(&approver, &other_chat, now),
                WAITING,
                "wrong_conversation",
            ),
            (
                at(&approver, &from, now + Duration::minutes(30)),
                WAITING,
                "expired",
            ),
            (
                at(&approver, &from, now),
                TicketNow {
                    status: Status::Executing,
                    plan_digest: Some("d1"),
                },
                "not_waiting",
            ),
            (
                at(&approver, &from, now),
                TicketNow {
                    status: Status::PendingPlanApproval,
                    plan_digest: Some("d2"),
                },
                "plan_changed",
            ),
        ];
        for (attempt, ticket, code) in cases {
            assert_eq!(
                check(&policy, &req, ticket, &attempt).map_err(|r| r.code()),
                Err(code)
            );
        }
        let mut decided = req.clone();
        decided.decided = Some("approved".into());
        let r = check(&policy, &decided, WAITING, &at(&approver, &from, now));
        assert_eq!(r, Err(Refusal::AlreadyDecided("approved".into())));
    }

    #[test]
    fn self_approval_needs_the_flag() {
        let (mut policy, req, now) = setup();
        policy.allow_self_approval = true;
        let (by, from) = (user("telegram:2"), chat());
        let attempt = Attempt {
            by: &by,
            from: &from,
            decision: Decision::Approve,
            at: now,
        };
        assert_eq!(
            check(&policy, &req, WAITING, &attempt),
            Ok(Decision::Approve)
        );
    }

    #[test]
    fn no_approvers_fails_closed_with_how_to_fix() {
        let (_, req, now) = setup();
        let (by, from) = (user("telegram:1"), chat());
        let attempt = Attempt {
            by: &by,
            from: &from,
            decision: Decision::Approve,
            at: now,
        };
        let err = check(&Policy::default(), &req, WAITING, &attempt).expect_err("closed");
        assert!(err.to_string().contains("approvals.approvers"));
    }
}
