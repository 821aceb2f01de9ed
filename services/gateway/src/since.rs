//! The pure parts of `ReplaySince(timestamp)`, the admin dashboard's time-based replay: reading
//! the timestamp argument, deciding which sequences of a stream to replay within the bound, and
//! the Completion's result. Kept apart from the session so they are unit tested (and fuzzable)
//! without NATS; the method itself is in `replay_since`.

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why a `ReplaySince` argument was refused; the text is the Completion's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SinceError {
    /// Not exactly one argument, not a string, or not an RFC 3339 date-time.
    #[error(
        "Invalid timestamp: expected one RFC 3339 date-time string such as \"2026-12-07T09:00:00Z\"."
    )]
    Malformed,
    /// Later than the gateway's clock: nothing can have been stored then yet.
    #[error("Invalid timestamp: it is in the future.")]
    Future,
}

/// The one argument of `ReplaySince`: an RFC 3339 date-time with an offset (`Z` or `+01:00`),
/// not after `now`. A MessagePack client's timestamp extension arrives here as that string
/// (`protocol::msgpack_value`).
pub fn parse_since(arguments: &[Value], now: OffsetDateTime) -> Result<OffsetDateTime, SinceError> {
    let [Value::String(text)] = arguments else {
        return Err(SinceError::Malformed);
    };
    // RFC 3339 date-times are short; a bound keeps a huge string from being parsed at all.
    if text.len() > 64 {
        return Err(SinceError::Malformed);
    }
    let since = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| SinceError::Malformed)?;
    if since > now {
        return Err(SinceError::Future);
    }
    Ok(since)
}

/// Which part of one stream a since-replay sends: the sequences in `(after, upto]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Replay what comes after this sequence.
    pub after: u64,
    /// The replay starts later than the timestamp asked for: the bound cut the oldest part off,
    /// or retention may have removed some of it already.
    pub truncated: bool,
}

/// The plan for one stream. `first_since` is the first sequence stored at or after the
/// timestamp (`None`: nothing since), `held_first` the oldest sequence the stream still holds,
/// `upto` where the connection's live delivery starts (everything after it comes live), and
/// `cap` the most stream messages one replay may read: beyond it, only the latest `cap` are
/// replayed, so the replay still ends where live delivery begins and leaves no gap.
pub fn plan(first_since: Option<u64>, held_first: u64, upto: u64, cap: usize) -> Plan {
    let Some(first) = first_since else {
        return Plan {
            after: upto,
            truncated: false,
        };
    };
    let after = first.saturating_sub(1);
    if after >= upto {
        return Plan {
            after: upto,
            truncated: false,
        };
    }
    // The stream's first message is at or after the timestamp and older ones were removed:
    // some of those may have been at or after it too.
    let retention = first <= held_first && held_first > 1;
    let cap = cap as u64;
    if upto - after > cap {
        return Plan {
            after: upto - cap,
            truncated: true,
        };
    }
    Plan {
        after,
        truncated: retention,
    }
}

/// The Completion's result: `{"status":"ok","replayed":n}`; `"truncated"` with the streams in
/// `truncated` when a stream's replay starts later than asked; `"reload"` with the streams in
/// `streams` (as in `Resumed`) when a stream could not be replayed on this connection without
/// reordering, so its state should be reloaded from the REST APIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SinceResult {
    /// `ok`, `truncated` or `reload` (the worst of the streams').
    pub status: &'static str,
    /// Events sent before the Completion.
    pub replayed: u64,
    /// Streams whose replay starts later than the timestamp.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<&'static str>,
    /// Streams not replayed: reload their state.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<&'static str>,
}

impl SinceResult {
    /// The result for what was sent, cut short and not replayed.
    pub fn new(replayed: u64, truncated: Vec<&'static str>, reload: Vec<&'static str>) -> Self {
        let status = if !reload.is_empty() {
            "reload"
        } else if !truncated.is_empty() {
            "truncated"
        } else {
            "ok"
        };
        SinceResult {
            status,
            replayed,
            truncated,
            streams: reload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-07 12:00 UTC);

    #[test]
    fn accepts_rfc3339_with_any_offset_up_to_now() {
        let nine = parse_since(&[json!("2026-12-07T09:00:00Z")], NOW).unwrap();
        assert_eq!(nine, datetime!(2026-12-07 09:00 UTC));
        let paris = parse_since(&[json!("2026-12-07T10:00:00.5+01:00")], NOW).unwrap();
        assert_eq!(paris, datetime!(2026-12-07 09:00:00.5 UTC));
        assert_eq!(parse_since(&[json!("2026-12-07T12:00:00Z")], NOW), Ok(NOW));
    }

    #[test]
    fn refuses_malformed_and_future_timestamps() {
        for bad in [
            vec![],
            vec![json!("2026-12-07T09:00:00Z"), json!("x")],
            vec![json!(1_765_098_000)],
            vec![json!(null)],
            vec![json!(["2026-12-07T09:00:00Z"])],
            vec![json!("09:00")],
            vec![json!("2026-12-07")],
            vec![json!("2026-12-07T09:00:00")], // no offset: whose 09:00?
            vec![json!("2026-12-07 09:00:00Z junk")],
            vec![json!(format!("2026-12-07T09:00:00.{}Z", "1".repeat(100)))],
        ] {
            assert_eq!(
                parse_since(&bad, NOW),
                Err(SinceError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_since(&[json!("2026-12-07T12:00:01Z")], NOW),
            Err(SinceError::Future)
        );
        assert!(SinceError::Future.to_string().contains("future"));
    }

    #[test]
    fn plans_from_the_first_event_since_up_to_live_delivery() {
        // Events 5..=9 since the timestamp, live from 9 on: replay 5..=9.
        let p = plan(Some(5), 1, 9, 100);
        assert_eq!((p.after, p.truncated), (4, false));
        // Nothing stored since, or only what comes live anyway: nothing to replay.
        assert_eq!(plan(None, 1, 9, 100).after, 9);
        assert_eq!(plan(Some(10), 1, 9, 100).after, 9);
        assert!(!plan(Some(10), 1, 9, 100).truncated);
    }

    #[test]
    fn beyond_the_cap_replays_the_latest_and_says_truncated() {
        let p = plan(Some(1), 1, 1_000, 100);
        assert_eq!((p.after, p.truncated), (900, true));
        // Exactly the cap fits.
        let p = plan(Some(901), 1, 1_000, 100);
        assert_eq!((p.after, p.truncated), (900, false));
    }

    #[test]
    fn a_start_at_the_oldest_held_event_after_removals_may_be_truncated() {
        // The stream starts at 40 (1..=39 removed) and its first event is after the timestamp.
        assert!(plan(Some(40), 40, 50, 100).truncated);
        // Nothing was ever removed: complete.
        assert!(!plan(Some(1), 1, 50, 100).truncated);
        // A start after the oldest held event: complete.
        assert!(!plan(Some(41), 40, 50, 100).truncated);
    }

    #[test]
    fn the_result_names_the_worst_outcome() {
        let ok = serde_json::to_value(SinceResult::new(3, vec![], vec![])).unwrap();
        assert_eq!(ok, json!({"status": "ok", "replayed": 3}));
        let cut = serde_json::to_value(SinceResult::new(5, vec!["ORDERS"], vec![])).unwrap();
        assert_eq!(
            cut,
            json!({"status": "truncated", "replayed": 5, "truncated": ["ORDERS"]})
        );
        let both = serde_json::to_value(SinceResult::new(0, vec!["ORDERS"], vec!["INVENTORY"]));
        assert_eq!(
            both.unwrap(),
            json!({"status": "reload", "replayed": 0, "truncated": ["ORDERS"], "streams": ["INVENTORY"]})
        );
    }
}
