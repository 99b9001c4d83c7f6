//! Send pacing: per-conversation spacing, a per-group window and a global window, with times passed in.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

/// The limits one platform enforces on a bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Least time between two messages to one conversation.
    pub per_conversation: Duration,
    /// At most this many messages per minute to one group conversation.
    pub group_per_minute: Option<usize>,
    /// At most this many messages per second overall.
    pub global_per_second: usize,
}

impl Limits {
    /// Telegram's documented limits: ≤1 msg/s per chat, ≤20/min per group, ≤30/s overall.
    pub const TELEGRAM: Limits = Limits {
        per_conversation: Duration::seconds(1),
        group_per_minute: Some(20),
        global_per_second: 30,
    };
}

/// Remembers recent sends and says when the next one may go.
#[derive(Debug, Clone)]
pub struct Pacer {
    limits: Limits,
    last: HashMap<String, DateTime<Utc>>,
    group: HashMap<String, VecDeque<DateTime<Utc>>>,
    global: VecDeque<DateTime<Utc>>,
}

impl Pacer {
    /// A pacer with no history.
    pub fn new(limits: Limits) -> Self {
        Pacer {
            limits,
            last: HashMap::new(),
            group: HashMap::new(),
            global: VecDeque::new(),
        }
    }

    /// The earliest time a message to `conversation` may be sent.
    pub fn ready_at(
        &self,
        conversation: &str,
        is_group: bool,
        now: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let mut at = now;
        if let Some(last) = self.last.get(conversation) {
            at = at.max(*last + self.limits.per_conversation);
        }
        if let (true, Some(max)) = (is_group, self.limits.group_per_minute)
            && let Some(window) = self.group.get(conversation)
            && window.len() >= max
        {
            at = at.max(window[window.len() - max] + Duration::minutes(1));
        }
        let max = self.limits.global_per_second;
        if self.global.len() >= max {
            at = at.max(self.global[self.global.len() - max] + Duration::seconds(1));
        }
        at
    }

    /// Records a send at `now`.
    pub fn record(&mut self, conversation: &str, is_group: bool, now: DateTime<Utc>) {
        self.last.insert(conversation.to_owned(), now);
        if is_group && self.limits.group_per_minute.is_some() {
            let window = self.group.entry(conversation.to_owned()).or_default();
            window.push_back(now);
            while window
                .front()
                .is_some_and(|t| *t + Duration::minutes(1) <= now)
            {
                window.pop_front();
            }
        }
        self.global.push_back(now);
        while self
            .global
            .front()
            .is_some_and(|t| *t + Duration::seconds(1) <= now)
        {
            self.global.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("valid")
    }

    #[test]
    fn one_conversation_gets_one_message_per_second() {
        let mut p = Pacer::new(Limits::TELEGRAM);
        assert_eq!(p.ready_at("a", false, t0()), t0());
        p.record("a", false, t0());
        assert_eq!(p.ready_at("a", false, t0()), t0() + Duration::seconds(1));
        assert_eq!(
            p.ready_at("b", false, t0()),
            t0(),
            "other chats are not held back"
        );
    }

    #[test]
    fn a_group_gets_twenty_messages_a_minute() {
        let mut p = Pacer::new(Limits::TELEGRAM);
        for i in 0..20 {
            let at = t0() + Duration::seconds(i);
            assert_eq!(p.ready_at("g", true, at), at);
            p.record("g", true, at);
        }
        let now = t0() + Duration::seconds(20);
        assert_eq!(p.ready_at("g", true, now), t0() + Duration::minutes(1));
    }

    #[test]
    fn all_chats_together_get_thirty_a_second() {
        let mut p = Pacer::new(Limits::TELEGRAM);
        for i in 0..30 {
            p.record(&format!("c{i}"), false, t0());
        }
        assert_eq!(p.ready_at("new", false, t0()), t0() + Duration::seconds(1));
    }
}
