//! Names, subject filters and republish mappings of the JetStream streams that store
//! OrderFlow events.
//!
//! The outbox crate creates the streams (storage, retention and duplicate window are
//! its settings); this module only fixes what every party must agree on.

use crate::subjects;

/// A stream's republish rule: every stored message whose subject matches `source` is
/// also published to `destination` (with `Nats-Stream` / `Nats-Sequence` headers),
/// where live subscribers pick it up without a JetStream consumer each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Republish {
    /// Subject filter of the messages to republish.
    pub source: &'static str,
    /// Subject transform destination; `>` keeps the remaining tokens.
    pub destination: &'static str,
}

/// What identifies one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSpec {
    /// Stream name.
    pub name: &'static str,
    /// Subjects the stream captures.
    pub subjects: &'static [&'static str],
    /// Where stored messages are republished for live fan-out.
    pub republish: Republish,
}

/// Name of the stream of order events.
pub const ORDERS: &str = "ORDERS";
/// Subjects captured by [`ORDERS`].
pub const ORDERS_SUBJECTS: &[&str] = &[subjects::ALL_ORDER_EVENTS];
/// `orders.v1.>` republished to `live.orders.v1.>`.
pub const ORDERS_REPUBLISH: Republish = Republish {
    source: subjects::ALL_ORDER_EVENTS,
    destination: "live.orders.v1.>",
};

/// Name of the stream of inventory events.
pub const INVENTORY: &str = "INVENTORY";
/// Subjects captured by [`INVENTORY`].
pub const INVENTORY_SUBJECTS: &[&str] = &[subjects::ALL_INVENTORY_EVENTS];
/// `inventory.v1.>` republished to `live.inventory.v1.>`.
pub const INVENTORY_REPUBLISH: Republish = Republish {
    source: subjects::ALL_INVENTORY_EVENTS,
    destination: "live.inventory.v1.>",
};

/// The [`ORDERS`] stream.
pub const ORDERS_STREAM: StreamSpec = StreamSpec {
    name: ORDERS,
    subjects: ORDERS_SUBJECTS,
    republish: ORDERS_REPUBLISH,
};

/// The [`INVENTORY`] stream.
pub const INVENTORY_STREAM: StreamSpec = StreamSpec {
    name: INVENTORY,
    subjects: INVENTORY_SUBJECTS,
    republish: INVENTORY_REPUBLISH,
};

/// Every stream, for code that creates or checks them all.
pub const ALL: [StreamSpec; 2] = [ORDERS_STREAM, INVENTORY_STREAM];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn republish_destinations_are_the_live_space_of_the_sources() {
        for stream in ALL {
            assert_eq!(stream.subjects, [stream.republish.source]);
            assert_eq!(
                stream.republish.destination,
                subjects::live(stream.republish.source)
            );
        }
    }

    #[test]
    fn live_space_does_not_overlap_the_stored_subjects() {
        // JetStream rejects a republish destination that a stream itself captures
        // (it would loop); the `live.` prefix keeps them apart.
        for stream in ALL {
            for other in ALL {
                for subject in other.subjects {
                    assert!(
                        !stream
                            .republish
                            .destination
                            .starts_with(subject.trim_end_matches('>'))
                    );
                }
            }
        }
        assert_ne!(ORDERS, INVENTORY);
    }
}
