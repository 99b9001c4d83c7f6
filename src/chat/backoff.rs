//! Retry pacing for the platform intake loops: exponential backoff and a shutdown-aware pause.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

const FIRST: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(30);

/// Doubles from 1 s to 30 s on consecutive failures; a success resets it.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// The pause before the next attempt, doubling the one after.
    pub fn failed(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(MAX);
        now
    }

    /// Back to the shortest pause.
    pub fn succeeded(&mut self) {
        self.next = FIRST;
    }
}

/// Sleeps for `pause` unless shutdown comes first; false means "stop now".
pub async fn pause(shutdown: &CancellationToken, pause: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(pause) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::default();
        let pauses: Vec<u64> = (0..7).map(|_| b.failed().as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_secs(1));
    }
}
