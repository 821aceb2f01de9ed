//! Conversions between `time::OffsetDateTime` (what services use) and
//! `prost_types::Timestamp` (what the events carry).
//!
//! Free functions rather than `From` impls because both types are foreign to this
//! crate.

use prost_types::Timestamp;
use time::OffsetDateTime;

use crate::Error;

/// The protobuf timestamp of an instant. Exact to the nanosecond; the offset is
/// dropped because a timestamp is always UTC.
pub fn to_timestamp(at: OffsetDateTime) -> Timestamp {
    let nanos = at.unix_timestamp_nanos();
    // OffsetDateTime spans years -9999..=9999, so both parts fit their types.
    Timestamp {
        seconds: nanos.div_euclid(1_000_000_000) as i64,
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

/// The instant a protobuf timestamp denotes, in UTC.
///
/// Fails for timestamps outside `OffsetDateTime`'s range and for nanoseconds
/// outside `0..1_000_000_000` (which the protobuf spec forbids).
pub fn to_offset_date_time(timestamp: &Timestamp) -> Result<OffsetDateTime, Error> {
    let out_of_range = || Error::TimestampOutOfRange {
        seconds: timestamp.seconds,
        nanos: timestamp.nanos,
    };
    if !(0..1_000_000_000).contains(&timestamp.nanos) {
        return Err(out_of_range());
    }
    let nanos = i128::from(timestamp.seconds) * 1_000_000_000 + i128::from(timestamp.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| out_of_range())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn round_trips_to_the_nanosecond() {
        for at in [
            datetime!(2026-11-25 14:10:07.123456789 UTC),
            datetime!(1970-01-01 00:00:00 UTC),
            // Before the epoch: seconds go negative, nanos stay positive.
            datetime!(1969-12-31 23:59:59.5 UTC),
            datetime!(2026-11-25 16:10:07.000000001 +02:00),
        ] {
            let timestamp = to_timestamp(at);
            assert!((0..1_000_000_000).contains(&timestamp.nanos));
            assert_eq!(to_offset_date_time(&timestamp).unwrap(), at);
        }
    }

    #[test]
    fn pre_epoch_instants_use_negative_seconds_and_positive_nanos() {
        let timestamp = to_timestamp(datetime!(1969-12-31 23:59:59.25 UTC));
        assert_eq!(
            timestamp,
            Timestamp {
                seconds: -1,
                nanos: 250_000_000
            }
        );
    }

    #[test]
    fn converted_timestamps_are_utc() {
        let at = to_offset_date_time(&Timestamp {
            seconds: 1_764_079_807,
            nanos: 0,
        })
        .unwrap();
        assert_eq!(at.offset(), time::UtcOffset::UTC);
        assert_eq!(at, datetime!(2025-11-25 14:10:07 UTC));
    }

    #[test]
    fn rejects_invalid_timestamps() {
        for bad in [
            Timestamp {
                seconds: 0,
                nanos: -1,
            },
            Timestamp {
                seconds: 0,
                nanos: 1_000_000_000,
            },
            Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            },
        ] {
            assert!(matches!(
                to_offset_date_time(&bad),
                Err(Error::TimestampOutOfRange { .. })
            ));
        }
    }
}
