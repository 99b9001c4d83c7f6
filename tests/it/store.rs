//! The `Store` contract, run on SQLite and PostgreSQL alike.

use aura::clock::Clock;
use aura::domain::ticket::NewTicket;
use aura::domain::{Actor, Plan, Priority, Status, UserRef};
use aura::storage::StoreError;

use crate::common::on_both_backends;

fn new_ticket(title: &str) -> NewTicket {
    let who: UserRef = "telegram:1001".parse().expect("valid");
    NewTicket::new(title, "", Priority::High, who).expect("valid")
}

fn operator() -> Actor {
    Actor::User("api:ops".parse().expect("valid"))
}

on_both_backends! {
    async fn a_transition_and_its_audit_row_commit_together(db: TestDb) {
        let store = db.store(Clock::system()).await;
        let t = store.create_ticket(&new_ticket("scale podinfo"), 20).await.expect("create");
        assert_eq!(t.status, Status::Draft);
        assert_eq!(t.requester.to_string(), "telegram:1001");
        let t = store.transition(t.id, Status::Planning, &operator(), None).await.expect("legal");
        assert_eq!(t.status, Status::Planning);
        let audit = store.ticket_audit(t.id).await.expect("audit");
        assert_eq!(audit.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["ticket_created", "status_changed"]);
        assert_eq!(audit[1].actor, "api:ops");

        let err = store.transition(t.id, Status::Resolved, &operator(), None).await.expect_err("illegal");
        assert!(matches!(err, StoreError::Illegal(_)), "{err}");
        assert_eq!(store.ticket(t.id).await.expect("get").status, Status::Planning);
        assert_eq!(store.ticket_audit(t.id).await.expect("audit").len(), 2);
        let missing = store.transition(aura::domain::TicketId(404), Status::Planning, &operator(), None).await;
        assert!(matches!(missing, Err(StoreError::NotFound(_))));
        store.close().await;
    }
}

on_both_backends! {
    async fn a_proposed_plan_waits_for_approval_with_its_digest(db: TestDb) {
        let store = db.store(Clock::system()).await;
        let t = store.create_ticket(&new_ticket("scale podinfo"), 20).await.expect("create");
        let plan = Plan {
            summary: "scale podinfo to 3".into(),
            steps: vec!["set replicas: 3".into()],
            diff: None,
            base_sha: None,
            changes: vec![],
        };
        let t = store.propose_plan(t.id, &plan, &Actor::Aura).await.expect("plan");
        assert_eq!(t.status, Status::PendingPlanApproval);
        assert_eq!(t.plan.as_ref(), Some(&plan));
        let events: Vec<String> = store.ticket_audit(t.id).await.expect("audit").into_iter().map(|e| e.event).collect();
        assert_eq!(events, ["ticket_created", "status_changed", "plan_proposed", "status_changed"]);
        store.close().await;
    }
}

on_both_backends! {
    async fn concurrent_writers_keep_one_unbroken_chain(db: TestDb) {
        let store = db.store(Clock::system()).await;
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..12 {
            let store = store.clone();
            tasks.spawn(async move {
                let t = store.create_ticket(&new_ticket(&format!("t{n}")), 20).await.expect("create");
                store.transition(t.id, Status::Cancelled, &operator(), Some("test")).await.expect("cancel");
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("task");
        }
        assert_eq!(store.verify_audit().await.expect("read"), Ok(24));
        store.close().await;
    }
}

on_both_backends! {
    async fn an_edited_or_removed_audit_row_is_found(db: TestDb) {
        let store = db.store(Clock::system()).await;
        for n in 0..3 {
            let t = store.create_ticket(&new_ticket(&format!("t{n}")), 20).await.expect("create");
            store.transition(t.id, Status::Planning, &operator(), None).await.expect("legal");
        }
        assert_eq!(store.verify_audit().await.expect("read"), Ok(6));

        assert_eq!(db.execute("UPDATE audit_log SET actor = 'telegram:666' WHERE id = 4").await, 1);
        let brk = store.verify_audit().await.expect("read").expect_err("tampered");
        assert_eq!(brk.id, 4);
        assert!(brk.to_string().contains("audit chain broken at row 4"), "{brk}");

        assert_eq!(db.execute("UPDATE audit_log SET actor = 'api:ops' WHERE id = 4").await, 1);
        assert_eq!(store.verify_audit().await.expect("read"), Ok(6), "restoring the row heals it");
        assert_eq!(db.execute("DELETE FROM audit_log WHERE id = 6").await, 1);
        let brk = store.verify_audit().await.expect("read").expect_err("truncated");
        assert!(brk.reason.contains("newest rows were removed"), "{brk}");
        store.close().await;
    }
}
