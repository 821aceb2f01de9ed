//! What a connection accepts from its client: invocations at a limited rate (a token bucket),
//! and, right after a stateful re-attach, nothing until the client's Sequence message.

use std::time::Instant;

/// The inbound gates of one connection.
pub struct Inbound {
    /// Invocations the client may still make now.
    rate_tokens: f64,
    /// When the bucket was last refilled.
    rate_refilled: Instant,
    /// After a re-attach, inbound frames are discarded until the client's Sequence.
    pub(crate) awaiting_sequence: bool,
}

impl Inbound {
    /// A full bucket of `rate` invocations.
    pub(crate) fn new(rate: u32, now: Instant) -> Inbound {
        Inbound {
            rate_tokens: f64::from(rate),
            rate_refilled: now,
            awaiting_sequence: false,
        }
    }

    /// Token bucket: `rate` invocations per second, same burst. `false`: too many. `now` is
    /// passed in so that the bucket is tested on a clock of the test's own.
    pub(crate) fn take_rate_token(&mut self, rate: u32, now: Instant) -> bool {
        let rate = f64::from(rate);
        let refill = now.duration_since(self.rate_refilled).as_secs_f64() * rate;
        self.rate_tokens = (self.rate_tokens + refill).min(rate);
        self.rate_refilled = now;
        if self.rate_tokens >= 1.0 {
            self.rate_tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_burst_passes_then_tokens_refill_with_time() {
        let start = Instant::now();
        let mut inbound = Inbound::new(2, start);
        assert!(inbound.take_rate_token(2, start));
        assert!(inbound.take_rate_token(2, start));
        assert!(!inbound.take_rate_token(2, start), "only the burst passes");
        let half = start + Duration::from_millis(500);
        assert!(
            inbound.take_rate_token(2, half),
            "one token back per half second"
        );
        assert!(!inbound.take_rate_token(2, half));
        let later = half + Duration::from_secs(10);
        assert!(inbound.take_rate_token(2, later));
        assert!(inbound.take_rate_token(2, later));
        assert!(
            !inbound.take_rate_token(2, later),
            "never more than the burst"
        );
    }
}
