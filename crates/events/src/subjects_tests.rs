//! Tests of subject shapes, filters and parsing.

use super::*;

const CUSTOMER: Uuid = Uuid::from_u128(0x0193_6b2e_7c4a_7d2e_9f41_3c8f_5a1b_2c3d);
const ORDER: Uuid = Uuid::from_u128(0x0193_6b2e_7c4b_7000_8000_0000_0000_0001);
const OTHER: Uuid = Uuid::from_u128(0x0193_6b2e_7c4b_7000_8000_0000_0000_0002);

/// NATS subject matching as documented by NATS: `*` matches exactly one token, `>`
/// one or more trailing tokens. Used to prove the filters select what they claim.
fn matches(filter: &str, subject: &str) -> bool {
    let filter: Vec<&str> = filter.split('.').collect();
    let subject: Vec<&str> = subject.split('.').collect();
    for (i, token) in filter.iter().enumerate() {
        match *token {
            ">" => return subject.len() > i,
            "*" if i < subject.len() => {}
            literal if subject.get(i) == Some(&literal) => {}
            _ => return false,
        }
    }
    filter.len() == subject.len()
}

#[test]
fn order_subjects_have_the_documented_shape() {
    assert_eq!(
        order_event(CUSTOMER, ORDER, OrderEventKind::StatusChanged),
        "orders.v1.01936b2e-7c4a-7d2e-9f41-3c8f5a1b2c3d.01936b2e-7c4b-7000-8000-000000000001.status_changed"
    );
    let tokens: Vec<_> = OrderEventKind::ALL.iter().map(|k| k.token()).collect();
    assert_eq!(
        tokens,
        ["created", "confirmed", "status_changed", "cancelled"]
    );
}

#[test]
fn inventory_subjects_have_the_documented_shape() {
    assert_eq!(
        product_event("KB-001", ProductEventKind::StockLevelChanged).unwrap(),
        "inventory.v1.products.KB-001.stock_level_changed"
    );
    assert_eq!(
        product_event("KB-001", ProductEventKind::Upserted).unwrap(),
        "inventory.v1.products.KB-001.upserted"
    );
    assert_eq!(
        reservation_rejected(CUSTOMER, ORDER),
        "inventory.v1.reservations.01936b2e-7c4a-7d2e-9f41-3c8f5a1b2c3d.01936b2e-7c4b-7000-8000-000000000001.rejected"
    );
}

#[test]
fn skus_that_would_break_the_subject_are_rejected() {
    for bad in [
        "",
        "KB.001",
        "KB*",
        "KB>",
        "KB 001",
        "KB\t1",
        &"x".repeat(257),
    ] {
        assert!(
            matches!(
                product_event(bad, ProductEventKind::Upserted),
                Err(Error::InvalidSubjectToken { .. })
            ),
            "{bad:?} accepted"
        );
        assert!(product_events(bad).is_err());
    }
    assert!(check_token("KB-001_x").is_ok());
}

#[test]
fn customer_filter_selects_exactly_that_customers_orders() {
    let filter = customer_orders(CUSTOMER);
    assert_eq!(filter, "orders.v1.01936b2e-7c4a-7d2e-9f41-3c8f5a1b2c3d.>");
    for kind in OrderEventKind::ALL {
        assert!(matches(&filter, &order_event(CUSTOMER, ORDER, kind)));
        assert!(!matches(&filter, &order_event(OTHER, ORDER, kind)));
        assert!(matches(ALL_ORDER_EVENTS, &order_event(OTHER, ORDER, kind)));
        assert!(matches(
            &order_events(CUSTOMER, ORDER),
            &order_event(CUSTOMER, ORDER, kind)
        ));
        assert!(!matches(
            &order_events(CUSTOMER, ORDER),
            &order_event(CUSTOMER, OTHER, kind)
        ));
        assert!(!matches(
            ALL_INVENTORY_EVENTS,
            &order_event(CUSTOMER, ORDER, kind)
        ));
    }
    let rejection = reservation_rejected(CUSTOMER, ORDER);
    assert!(matches(
        &customer_reservation_rejections(CUSTOMER),
        &rejection
    ));
    assert!(!matches(
        &customer_reservation_rejections(OTHER),
        &rejection
    ));
}

#[test]
fn inventory_filters_select_their_events_only() {
    let stock = product_event("KB-001", ProductEventKind::StockLevelChanged).unwrap();
    let upsert = product_event("KB-001", ProductEventKind::Upserted).unwrap();
    let rejection = reservation_rejected(CUSTOMER, ORDER);

    assert!(matches(ALL_STOCK_EVENTS, &stock));
    assert!(!matches(ALL_STOCK_EVENTS, &upsert));
    assert!(!matches(ALL_STOCK_EVENTS, &rejection));
    assert!(matches(ALL_PRODUCT_EVENTS, &stock) && matches(ALL_PRODUCT_EVENTS, &upsert));
    assert!(!matches(ALL_PRODUCT_EVENTS, &rejection));
    assert!(matches(ALL_RESERVATION_REJECTIONS, &rejection));
    assert!(!matches(ALL_RESERVATION_REJECTIONS, &stock));
    assert!(matches(&product_events("KB-001").unwrap(), &stock));
    assert!(!matches(&product_events("KB-002").unwrap(), &stock));
    for subject in [&stock, &upsert, &rejection] {
        assert!(matches(ALL_INVENTORY_EVENTS, subject));
        assert!(!matches(ALL_ORDER_EVENTS, subject));
    }
}

#[test]
fn live_subjects_mirror_the_originals() {
    let subject = order_event(CUSTOMER, ORDER, OrderEventKind::Created);
    let live_subject = live(&subject);
    assert_eq!(live_subject, format!("live.{subject}"));
    assert_eq!(strip_live(&live_subject), Some(subject.as_str()));
    assert_eq!(strip_live(&subject), None);
    assert!(matches(&live(&customer_orders(CUSTOMER)), &live_subject));
    assert!(!matches(&customer_orders(CUSTOMER), &live_subject));
    assert_eq!(
        live(ALL_STOCK_EVENTS),
        "live.inventory.v1.products.*.stock_level_changed"
    );
}

#[test]
fn subjects_parse_back_to_what_built_them() {
    let mut built = vec![EventSubject::ReservationRejected {
        customer_id: CUSTOMER,
        order_id: ORDER,
    }];
    built.extend(OrderEventKind::ALL.map(|kind| EventSubject::Order {
        customer_id: CUSTOMER,
        order_id: ORDER,
        kind,
    }));
    built.extend(ProductEventKind::ALL.map(|kind| EventSubject::Product {
        sku: "KB-001".into(),
        kind,
    }));
    for parsed in built {
        let subject = parsed.to_string();
        assert_eq!(subject.parse::<EventSubject>().unwrap(), parsed);
        assert_eq!(live(&subject).parse::<EventSubject>().unwrap(), parsed);
    }
}

#[test]
fn foreign_subjects_do_not_parse() {
    for subject in [
        "orders.v2.01936b2e-7c4a-7d2e-9f41-3c8f5a1b2c3d.01936b2e-7c4b-7000-8000-000000000001.created",
        "orders.v1.not-a-uuid.01936b2e-7c4b-7000-8000-000000000001.created",
        "orders.v1.01936b2e-7c4a-7d2e-9f41-3c8f5a1b2c3d.01936b2e-7c4b-7000-8000-000000000001.shipped",
        "inventory.v1.products.KB-001.deleted",
        "inventory.v1.reservations.01936b2e-7c4b-7000-8000-000000000001.rejected",
        "orders.v1.>",
        "",
    ] {
        assert!(
            matches!(
                subject.parse::<EventSubject>(),
                Err(Error::UnknownSubject(_))
            ),
            "{subject} parsed"
        );
    }
}
