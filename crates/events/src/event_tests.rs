//! Tests of the `Event` implementations, `AnyEvent` and `decode_by_schema`.

use prost::Name;
use time::macros::datetime;

use super::*;
use crate::headers;
use crate::inventory::v1::{
    ProductUpserted, ReservationRejected, StockLevelChanged, reservation_rejected::Shortage,
};
use crate::orders::v1::{
    OrderCancelled, OrderConfirmed, OrderCreated, OrderLine, OrderStatus, OrderStatusChanged,
};

const CUSTOMER: &str = "01936b2e-7c4a-7d2e-9f41-3c8f5a1b2c3d";
const ORDER: &str = "01936b2e-7c4b-7000-8000-000000000001";
const PRODUCT: &str = "01936b2e-7c4b-7000-8000-0000000000aa";

fn metadata(aggregate: &str, version: u64) -> Option<EventMetadata> {
    Some(EventMetadata::new(
        aggregate.parse().unwrap(),
        version,
        datetime!(2026-11-25 14:10:07.5 UTC),
    ))
}

fn lines() -> Vec<OrderLine> {
    vec![OrderLine {
        sku: "KB-001".into(),
        product_name: "Keyboard".into(),
        quantity: 2,
        unit_price_minor: 4_999,
        line_total_minor: 9_998,
    }]
}

/// One fully populated instance of every event, with the subject it must get.
/// An `OrderCreated` or `OrderConfirmed` of the sample order at aggregate version `$version`,
/// with the event's own time stamp field set to `$at`.
macro_rules! placed_order {
    ($event:ident, $version:expr, $at_field:ident: $at:expr) => {
        $event {
            metadata: metadata(ORDER, $version),
            order_id: ORDER.into(),
            order_number: "ORD-2026-000123".into(),
            customer_id: CUSTOMER.into(),
            customer_name: "Ada Lovelace".into(),
            lines: lines(),
            total_minor: 9_998,
            currency: "EUR".into(),
            $at_field: $at,
        }
    };
}

fn samples() -> Vec<(AnyEvent, String)> {
    let order_subject = |token: &str| format!("orders.v1.{CUSTOMER}.{ORDER}.{token}");
    let at = Some(timestamp::to_timestamp(datetime!(2026-11-25 14:10:07 UTC)));
    vec![
        (
            placed_order!(OrderCreated, 1, created_at: at).into(),
            order_subject("created"),
        ),
        (
            placed_order!(OrderConfirmed, 2, confirmed_at: at).into(),
            order_subject("confirmed"),
        ),
        (
            OrderStatusChanged {
                metadata: metadata(ORDER, 2),
                order_id: ORDER.into(),
                order_number: "ORD-2026-000123".into(),
                customer_id: CUSTOMER.into(),
                old_status: OrderStatus::Draft.into(),
                new_status: OrderStatus::Confirmed.into(),
                updated_at: at,
                reason: "confirmed by customer".into(),
            }
            .into(),
            order_subject("status_changed"),
        ),
        (
            OrderCancelled {
                metadata: metadata(ORDER, 3),
                order_id: ORDER.into(),
                order_number: "ORD-2026-000123".into(),
                customer_id: CUSTOMER.into(),
                lines: lines(),
                reason: "changed my mind".into(),
                cancelled_at: at,
            }
            .into(),
            order_subject("cancelled"),
        ),
        (
            ProductUpserted {
                metadata: metadata(PRODUCT, 1),
                product_id: PRODUCT.into(),
                sku: "KB-001".into(),
                name: "Keyboard".into(),
                unit_price_minor: 4_999,
                currency: "EUR".into(),
                low_stock_threshold: 5,
            }
            .into(),
            "inventory.v1.products.KB-001.upserted".into(),
        ),
        (
            StockLevelChanged {
                metadata: metadata(PRODUCT, 2),
                product_id: PRODUCT.into(),
                sku: "KB-001".into(),
                old_level: 6,
                new_level: 4,
                threshold: 5,
                reason: "reserved".into(),
                order_id: ORDER.into(),
            }
            .into(),
            "inventory.v1.products.KB-001.stock_level_changed".into(),
        ),
        (
            ReservationRejected {
                metadata: metadata(ORDER, 2),
                order_id: ORDER.into(),
                customer_id: CUSTOMER.into(),
                reason: "insufficient stock".into(),
                shortages: vec![Shortage {
                    sku: "KB-001".into(),
                    requested: 2,
                    available: 1,
                }],
            }
            .into(),
            format!("inventory.v1.reservations.{CUSTOMER}.{ORDER}.rejected"),
        ),
    ]
}

#[test]
fn every_event_round_trips_through_its_schema_name() {
    let samples = samples();
    assert_eq!(samples.len(), SCHEMA_NAMES.len());
    for (event, _) in samples {
        let bytes = event.encode_to_vec();
        let decoded = decode_by_schema(event.schema_name(), &bytes).unwrap();
        assert_eq!(decoded, event);
    }
}

#[test]
fn every_event_gets_its_documented_subject() {
    for (event, subject) in samples() {
        assert_eq!(event.subject().unwrap(), subject, "{}", event.schema_name());
    }
}

#[test]
fn schema_names_are_the_protobuf_full_names() {
    fn check<E: Event>() {
        assert_eq!(E::SCHEMA_NAME, E::full_name());
        assert_eq!(E::default().schema_name(), E::SCHEMA_NAME);
    }
    check::<OrderCreated>();
    check::<OrderConfirmed>();
    check::<OrderStatusChanged>();
    check::<OrderCancelled>();
    check::<ProductUpserted>();
    check::<StockLevelChanged>();
    check::<ReservationRejected>();
    assert_eq!(EventMetadata::SCHEMA, EventMetadata::full_name());
    let mut unique = SCHEMA_NAMES.to_vec();
    unique.dedup();
    assert_eq!(unique.len(), SCHEMA_NAMES.len());
}

#[test]
fn unknown_schema_is_an_error_naming_it() {
    let error = decode_by_schema("orderflow.orders.v9.OrderCreated", &[]).unwrap_err();
    assert!(
        matches!(&error, Error::UnknownSchema(name) if name == "orderflow.orders.v9.OrderCreated")
    );
    assert_eq!(
        error.to_string(),
        "unknown event schema `orderflow.orders.v9.OrderCreated`"
    );
}

#[test]
fn garbage_bytes_are_a_decode_error() {
    // Field 1 declared as a length-delimited value of 100 bytes, but only 1 follows.
    let error = decode_by_schema(OrderCreated::SCHEMA_NAME, &[0x0a, 100, 1]).unwrap_err();
    assert!(matches!(error, Error::Decode { schema, .. } if schema == OrderCreated::SCHEMA_NAME));
}

#[test]
fn new_metadata_has_a_v7_event_id_and_the_commit_time() {
    let meta = metadata(ORDER, 7).unwrap();
    let id = meta.event_uuid().unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(meta.event_id, id.hyphenated().to_string());
    assert_eq!(meta.aggregate_uuid().unwrap().to_string(), ORDER);
    assert_eq!(meta.aggregate_version, 7);
    assert_eq!(
        meta.committed_at_utc().unwrap(),
        Some(datetime!(2026-11-25 14:10:07.5 UTC))
    );
    assert_ne!(metadata(ORDER, 7).unwrap().event_id, meta.event_id);
}

#[test]
fn invalid_ids_and_skus_fail_subject_building() {
    let event = OrderCreated {
        customer_id: "not-a-uuid".into(),
        order_id: ORDER.into(),
        ..Default::default()
    };
    let rejection = ReservationRejected {
        customer_id: CUSTOMER.into(),
        order_id: String::new(),
        ..Default::default()
    };
    for (subject, bad_field) in [
        (event.subject(), "customer_id"),
        (rejection.subject(), "order_id"),
    ] {
        assert!(
            matches!(subject, Err(Error::InvalidUuid { field, .. }) if field == bad_field),
            "{subject:?}"
        );
    }
    let stock = StockLevelChanged {
        sku: "KB.001".into(),
        ..Default::default()
    };
    assert!(matches!(
        stock.subject(),
        Err(Error::InvalidSubjectToken { .. })
    ));
}

#[test]
fn headers_carry_id_schema_and_version() {
    let event = OrderStatusChanged {
        metadata: metadata(ORDER, 4),
        ..Default::default()
    };
    let meta = event.metadata.clone().unwrap();
    assert_eq!(
        headers::for_event(&event).unwrap(),
        [
            ("Nats-Msg-Id", meta.event_id),
            ("Content-Type", "application/protobuf".to_owned()),
            (
                "Orderflow-Schema",
                "orderflow.orders.v1.OrderStatusChanged".to_owned()
            ),
            ("Orderflow-Aggregate-Version", "4".to_owned()),
        ]
    );
    assert!(matches!(
        headers::for_event(&OrderStatusChanged::default()),
        Err(Error::MissingMetadata { .. })
    ));
}

#[test]
fn status_enum_values_are_stable() {
    // The numbers are on the wire; this catches an accidental renumbering early.
    let numbers: Vec<i32> = [
        OrderStatus::Unspecified,
        OrderStatus::Draft,
        OrderStatus::Confirmed,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ]
    .into_iter()
    .map(i32::from)
    .collect();
    assert_eq!(numbers, [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(OrderStatus::Shipped.as_str_name(), "ORDER_STATUS_SHIPPED");
}
