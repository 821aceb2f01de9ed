//! Whether a connection's socket is alive: when the server last wrote (a keep-alive ping is due
//! `keep_alive` after that) and when the client last sent anything (once the client has pinged
//! it is expected to keep doing so, and is dropped `client_timeout` after its last message).

use std::time::{Duration, Instant};

/// The times a connection's keep-alive and client timeout run from.
pub struct Liveness {
    last_sent: Instant,
    last_received: Instant,
    /// The client pings: only then does its silence mean it is gone.
    client_pinged: bool,
}

impl Liveness {
    /// A socket that has just been opened.
    pub(crate) fn new(now: Instant) -> Liveness {
        Liveness {
            last_sent: now,
            last_received: now,
            client_pinged: false,
        }
    }

    /// Something was written to the client.
    pub(crate) fn sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// Something arrived from the client (a re-attach counts: its timeout starts afresh).
    pub(crate) fn received(&mut self, now: Instant) {
        self.last_received = now;
    }

    /// The client sent a hub Ping: from now on its silence times it out.
    pub(crate) fn client_pinged(&mut self) {
        self.client_pinged = true;
    }

    /// The earliest of the next keep-alive ping and the client's timeout.
    pub(crate) fn deadline(&self, keep_alive: Duration, client_timeout: Duration) -> Instant {
        let ping = self.last_sent + keep_alive;
        if self.client_pinged {
            ping.min(self.last_received + client_timeout)
        } else {
            ping
        }
    }

    /// Whether a pinging client has been silent for `client_timeout`.
    pub(crate) fn client_timed_out(&self, now: Instant, client_timeout: Duration) -> bool {
        self.client_pinged && now.duration_since(self.last_received) >= client_timeout
    }

    /// Whether nothing was written for `keep_alive`: a ping is due.
    pub(crate) fn ping_due(&self, now: Instant, keep_alive: Duration) -> bool {
        now.duration_since(self.last_sent) >= keep_alive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP_ALIVE: Duration = Duration::from_secs(15);
    const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

    #[test]
    fn a_silent_client_times_out_only_once_it_pings() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start);
        let late = start + CLIENT_TIMEOUT * 2;
        assert!(
            !liveness.client_timed_out(late, CLIENT_TIMEOUT),
            "never pinged"
        );
        assert_eq!(
            liveness.deadline(KEEP_ALIVE, CLIENT_TIMEOUT),
            start + KEEP_ALIVE
        );
        liveness.client_pinged();
        liveness.sent(start + CLIENT_TIMEOUT);
        assert_eq!(
            liveness.deadline(KEEP_ALIVE, CLIENT_TIMEOUT),
            start + CLIENT_TIMEOUT,
            "the client's timeout comes before the next ping"
        );
        assert!(liveness.client_timed_out(start + CLIENT_TIMEOUT, CLIENT_TIMEOUT));
        liveness.received(start + CLIENT_TIMEOUT);
        assert!(!liveness.client_timed_out(start + CLIENT_TIMEOUT, CLIENT_TIMEOUT));
    }

    #[test]
    fn a_ping_is_due_a_keep_alive_after_the_last_write() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start);
        assert!(!liveness.ping_due(start + KEEP_ALIVE / 2, KEEP_ALIVE));
        assert!(liveness.ping_due(start + KEEP_ALIVE, KEEP_ALIVE));
        liveness.sent(start + KEEP_ALIVE);
        assert!(!liveness.ping_due(start + KEEP_ALIVE, KEEP_ALIVE));
    }
}
