//! Inventory and the real orders service together, on one nats-server and their own
//! PostgreSQL databases: the catalog reaches orders through `ProductUpserted`, confirming an
//! order through the orders API reserves stock, cancelling releases it once, and a rejected
//! reservation ends the order Cancelled with a reason the customer sees.

use orderflow_auth::{AuthSettings, dev};
use orderflow_events::AnyEvent;
use orderflow_events::streams::ORDERS;
use orderflow_orders::OrdersApp;
use orderflow_test_support::service::{Served, outbox_drained};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    TestApp, User, customer, eventually, publish_raw, read_stream, spawn_app, stock_events,
};
use tokio_util::sync::CancellationToken;

/// The orders service next to an inventory [`TestApp`], on its NATS.
struct Orders(Served);

impl Orders {
    async fn start(inventory: &TestApp) -> Self {
        let db = orderflow_test_support::fresh_database().await;
        let config = orderflow_orders::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: db.url.clone().into(),
            db_max_connections: 10,
            common: orderflow_service::Settings {
                streams: crate::support::streams(),
                ..orderflow_service::Settings::local(
                    inventory.nats.url(),
                    AuthSettings::hs256(dev::ISSUER, dev::AUDIENCE, dev::SECRET),
                )
            },
        };
        let app = OrdersApp::connect(config).await.unwrap();
        let shutdown = CancellationToken::new();
        app.spawn_background(&shutdown);
        Self(Served::start(app.router(), shutdown).await)
    }

    async fn order(&self, user: &User, id: &str) -> Value {
        self.0
            .get_json(&user.token, &format!("/api/orders/{id}"))
            .await
    }

    /// Places an order once the orders service has the product in its catalog; returns its id.
    async fn place(&self, user: &User, sku: &str, quantity: u32) -> String {
        let body = json!({ "lines": [{ "sku": sku, "quantity": quantity }] });
        eventually("the product to reach the orders catalog", || async {
            let r = self.0.post(&user.token, "/api/orders", body.clone()).await;
            if r.status() != StatusCode::CREATED {
                return None;
            }
            let order: Value = r.json().await.unwrap();
            Some(order["id"].as_str().unwrap().to_owned())
        })
        .await
    }

    async fn act(&self, user: &User, id: &str, action: &str) -> StatusCode {
        let path = format!("/api/orders/{id}/{action}");
        self.0.post(&user.token, &path, json!({})).await.status()
    }
}

/// Stock events of `sku` in the INVENTORY stream: (old, new, reason, order id).
async fn sku_events(stack: &TestApp, sku: &str) -> Vec<(i64, i64, String, String)> {
    stock_events(&stack.app.jetstream(), |e| {
        (e.sku == sku).then_some((e.old_level, e.new_level, e.reason, e.order_id))
    })
    .await
}

/// Waits until the inventory consumer has nothing pending or unacknowledged.
async fn consumer_idle(stack: &TestApp) {
    let js = stack.app.jetstream();
    eventually("the inventory consumer to drain", || async {
        let mut c = crate::support::raw_consumer(&js).await;
        let info = c.info().await.unwrap();
        (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn confirming_lowers_stock_and_cancelling_restores_it_once() {
    let stack = spawn_app().await;
    let orders = Orders::start(&stack).await;
    stack.create_product("KB-001", "49.99", 5).await;
    let alice = customer("Alice");
    let id = orders.place(&alice, "KB-001", 3).await;

    assert_eq!(orders.act(&alice, &id, "confirm").await, StatusCode::OK);
    eventually("stock to be reserved", || async {
        (stack.level("KB-001").await == 2).then_some(())
    })
    .await;
    let reserved = eventually("the reserved stock event", || async {
        let events = sku_events(&stack, "KB-001").await;
        (events.len() == 2).then_some(events)
    })
    .await;
    assert_eq!(reserved[1], (5, 2, "reserved".to_owned(), id.clone()));

    assert_eq!(orders.act(&alice, &id, "cancel").await, StatusCode::OK);
    eventually("stock to be released", || async {
        (stack.level("KB-001").await == 5).then_some(())
    })
    .await;

    // Deliver the cancellation once more, as a duplicate under another message id.
    let js = stack.app.jetstream();
    let cancel = read_stream(&js, ORDERS)
        .await
        .into_iter()
        .find_map(|s| match s.event {
            AnyEvent::OrderCancelled(e) => Some((s.subject, e)),
            _ => None,
        })
        .expect("the cancellation in the ORDERS stream");
    publish_raw(
        &js,
        cancel.0,
        "orderflow.orders.v1.OrderCancelled",
        prost::Message::encode_to_vec(&cancel.1),
        "duplicate-delivery",
    )
    .await;
    consumer_idle(&stack).await;
    // Whatever the duplicate changed is published once the relay has emptied the outbox.
    outbox_drained(&stack.pool).await;
    assert_eq!(stack.level("KB-001").await, 5, "released exactly once");
    let events = sku_events(&stack, "KB-001").await;
    assert_eq!(
        events[1..],
        [
            (5, 2, "reserved".to_owned(), id.clone()),
            (2, 5, "released".to_owned(), id.clone()),
        ]
    );
    assert_eq!(orders.order(&alice, &id).await["status"], "Cancelled");
}

#[tokio::test]
async fn two_orders_racing_for_the_last_unit_one_is_reserved_the_other_cancelled() {
    let stack = spawn_app().await;
    let orders = Orders::start(&stack).await;
    stack.create_product("KB-001", "49.99", 1).await;
    let (alice, bob) = (customer("Alice"), customer("Bob"));
    let a = orders.place(&alice, "KB-001", 1).await;
    let b = orders.place(&bob, "KB-001", 1).await;

    let (ra, rb) = tokio::join!(
        orders.act(&alice, &a, "confirm"),
        orders.act(&bob, &b, "confirm")
    );
    assert_eq!((ra, rb), (StatusCode::OK, StatusCode::OK));

    let statuses = eventually("one order to be cancelled", || async {
        let oa = orders.order(&alice, &a).await;
        let ob = orders.order(&bob, &b).await;
        let pair = [oa["status"].clone(), ob["status"].clone()];
        pair.contains(&json!("Cancelled")).then_some((oa, ob))
    })
    .await;
    let (winner, loser) = if statuses.0["status"] == "Cancelled" {
        (statuses.1, statuses.0)
    } else {
        (statuses.0, statuses.1)
    };
    assert_eq!(winner["status"], "Confirmed");
    assert_eq!(
        loser["cancelReason"],
        "Out of stock: KB-001 (requested 1, available 0)"
    );
    consumer_idle(&stack).await;
    let product = stack
        .get_json(&crate::support::admin().token, "/api/products/KB-001")
        .await;
    assert_eq!(
        (product["stockLevel"].as_i64(), product["reserved"].as_i64()),
        (Some(0), Some(1))
    );
    let events = sku_events(&stack, "KB-001").await;
    assert!(events.iter().all(|(old, new, _, _)| *old >= 0 && *new >= 0));
    assert_eq!(
        events.iter().filter(|e| e.2 == "reserved").count(),
        1,
        "exactly one reservation: {events:?}"
    );
    assert_eq!(events.iter().filter(|e| e.2 == "released").count(), 0);
}
