//! Interactions Aura has taken in and may still answer: their tokens (valid for 15 minutes), whether the 3-second
//! acknowledgement went out, and what the first answer to a slash command became.
//!
//! Kept in memory only: a token is useless after 15 minutes, and after a restart the sender falls back to plain
//! channel messages.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

/// How long Discord accepts follow-ups with an interaction token.
const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Whether an interaction was acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acked {
    /// Not yet: answers must wait for it.
    Waiting,
    /// Discord accepted the acknowledgement.
    Yes,
    /// The acknowledgement failed (too late, or refused): the token cannot be used.
    Failed,
}

/// What is known about one interaction.
#[derive(Debug, Clone)]
pub struct Interaction {
    /// The interaction token (a credential for its follow-ups).
    pub token: SecretString,
    /// A slash command (answered by editing the deferred response), not a button click.
    pub command: bool,
    pub acked: Acked,
    /// When Aura received it.
    pub at: Instant,
    /// The message the deferred response became, once the first answer filled it.
    pub original: Option<u64>,
    /// The thread started from that message, for a ticket.
    pub thread: Option<u64>,
}

/// Interactions by id.
#[derive(Debug, Default)]
pub struct Pending {
    map: Mutex<HashMap<u64, Interaction>>,
}

impl Pending {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<u64, Interaction>) -> T) -> T {
        f(&mut self.map.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Records a new interaction (a redelivered one keeps what is known); forgets expired ones.
    pub fn insert(&self, id: u64, token: &str, command: bool) {
        let now = Instant::now();
        self.with(|map| {
            map.retain(|_, i| now.duration_since(i.at) < TOKEN_LIFETIME);
            map.entry(id).or_insert_with(|| Interaction {
                token: token.to_owned().into(),
                command,
                acked: Acked::Waiting,
                at: now,
                original: None,
                thread: None,
            });
        });
    }

    /// Notes how the acknowledgement went.
    pub fn acked(&self, id: u64, ok: bool) {
        self.with(|map| {
            if let Some(i) = map.get_mut(&id) {
                i.acked = if ok { Acked::Yes } else { Acked::Failed };
            }
        });
    }

    /// What is known about interaction `id`, while its token is valid.
    pub fn get(&self, id: u64) -> Option<Interaction> {
        self.with(|map| map.get(&id).cloned())
            .filter(|i| i.at.elapsed() < TOKEN_LIFETIME)
    }

    /// Records the message the first answer became, and the thread started from it.
    pub fn answered(&self, id: u64, original: u64, thread: Option<u64>) {
        self.with(|map| {
            if let Some(i) = map.get_mut(&id) {
                i.original = Some(original);
                i.thread = thread;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redelivered_interaction_keeps_its_state() {
        let p = Pending::default();
        p.insert(1, "tok", true);
        p.acked(1, true);
        p.insert(1, "tok", true);
        assert_eq!(p.get(1).map(|i| i.acked), Some(Acked::Yes));
        p.answered(1, 50, Some(50));
        assert_eq!(p.get(1).and_then(|i| i.thread), Some(50));
        assert!(p.get(2).is_none());
    }
}
