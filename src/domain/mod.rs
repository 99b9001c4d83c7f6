//! The rules of Aura with no I/O: tickets and their state machine, plans, principals and the audit chain.

pub mod address;
pub mod approval;
pub mod audit;
pub mod command;
pub mod feed;
pub mod lint;
pub mod plan;
pub mod principal;
pub mod ticket;

pub use address::{ChatAddress, Platform};
pub use audit::{AuditEntry, AuditEvent, ChainBreak};
pub use plan::Plan;
pub use principal::{Actor, UserRef};
pub use ticket::{IllegalTransition, Priority, Status, Ticket, TicketId};
