//! Property: for any stream of order confirmations and cancellations, applied in batches of any
//! size (one transaction each), with duplicate deliveries (the same event stored twice under
//! different message ids) and redeliveries after a crash between a batch's commit and its acks,
//! the final stock equals that of a simple in-memory model that applies each distinct event
//! once, in order. Real JetStream and PostgreSQL; one stack for all cases, fresh skus per case.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{
    Options, cancelled, confirmed, event_id, publish, publish_as, raw_consumer, spawn_app_with,
};
use async_nats::jetstream::AckKind;
use orderflow_inbox::Outcome;
use orderflow_inventory::domain::{Money, NewProduct, Sku};
use orderflow_test_support::jetstream::fetch;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use uuid::Uuid;

const SKUS: usize = 3;

#[derive(Debug, Clone)]
struct Case {
    stock: Vec<i64>,
    /// Lines of each order: (sku index, quantity); a sku may repeat.
    orders: Vec<Vec<(usize, u32)>>,
    /// (order index, confirm?, also deliver a duplicate?)
    ops: Vec<(usize, bool, bool)>,
    /// Whether each successive batch "crashes" after its commit, cycled.
    crashes: Vec<bool>,
    /// Most messages fetched and applied together.
    batch: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(0i64..6, SKUS),
        proptest::collection::vec(proptest::collection::vec((0..SKUS, 1u32..4), 1..3), 1..6),
    )
        .prop_flat_map(|(stock, orders)| {
            let n = orders.len();
            (
                Just(stock),
                Just(orders),
                proptest::collection::vec((0..n, any::<bool>(), any::<bool>()), 1..14),
                proptest::collection::vec(any::<bool>(), 1..6),
                1..6usize,
            )
        })
        .prop_map(|(stock, orders, ops, crashes, batch)| Case {
            stock,
            orders,
            ops,
            crashes,
            batch,
        })
}

#[derive(Debug, Clone, PartialEq)]
enum ModelOrder {
    Reserved(Vec<(usize, i64)>),
    Done,
}

/// The reference: levels and reserved units per sku after applying `ops` once each.
fn model(case: &Case) -> (Vec<i64>, Vec<i64>) {
    let mut level = case.stock.clone();
    let mut reserved = vec![0; SKUS];
    let mut orders: HashMap<usize, ModelOrder> = HashMap::new();
    for &(o, confirm, _) in &case.ops {
        let mut wanted = [0i64; SKUS];
        for &(sku, q) in &case.orders[o] {
            wanted[sku] += i64::from(q);
        }
        match (orders.get(&o).cloned(), confirm) {
            (None, true) => {
                if (0..SKUS).all(|s| level[s] >= wanted[s]) {
                    let held: Vec<(usize, i64)> = (0..SKUS)
                        .filter(|&s| wanted[s] > 0)
                        .map(|s| (s, wanted[s]))
                        .collect();
                    for &(s, q) in &held {
                        level[s] -= q;
                        reserved[s] += q;
                    }
                    orders.insert(o, ModelOrder::Reserved(held));
                } else {
                    orders.insert(o, ModelOrder::Done);
                }
            }
            (None, false) => {
                orders.insert(o, ModelOrder::Done);
            }
            (Some(ModelOrder::Reserved(held)), false) => {
                for (s, q) in held {
                    level[s] += q;
                    reserved[s] -= q;
                }
                orders.insert(o, ModelOrder::Done);
            }
            _ => {}
        }
    }
    (level, reserved)
}

/// Publishes `event`, and once more under another message id if `duplicate` (JetStream then
/// stores it twice); its event id.
async fn publish_maybe_twice<E: orderflow_events::Event>(
    js: &async_nats::jetstream::Context,
    event: &E,
    duplicate: bool,
) -> String {
    publish(js, event).await;
    if duplicate {
        publish_as(js, event, &format!("{}-again", event_id(event))).await;
    }
    event_id(event)
}

#[test]
fn final_stock_matches_the_model_under_duplicates_and_redeliveries() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _runtime = rt.enter();
    let stack = rt.block_on(spawn_app_with(Options::idle()));
    let consumer = rt.block_on(stack.app.bind_consumer()).unwrap();
    let js = stack.app.jetstream();
    let raw = rt.block_on(raw_consumer(&js));
    let counter = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let skus: Vec<String> = (0..SKUS).map(|s| format!("P{n}-{s}")).collect();
        let (levels, reserved) = rt.block_on(async {
            for (sku, &stock) in skus.iter().zip(&case.stock) {
                stack
                    .app
                    .catalog()
                    .create(NewProduct {
                        sku: Sku::parse(sku).unwrap(),
                        name: sku.clone(),
                        unit_price: Money(100),
                        stock_level: stock,
                        low_stock_threshold: 1,
                    })
                    .await
                    .unwrap();
            }
            let customer = Uuid::new_v4();
            let ids: Vec<Uuid> = case.orders.iter().map(|_| Uuid::now_v7()).collect();
            let mut published = 0;
            for &(o, confirm, duplicate) in &case.ops {
                let lines: Vec<(&str, u32)> = case.orders[o]
                    .iter()
                    .map(|&(s, q)| (skus[s].as_str(), q))
                    .collect();
                let id = if confirm {
                    let e = confirmed(customer, ids[o], &lines);
                    publish_maybe_twice(&js, &e, duplicate).await
                } else {
                    let e = cancelled(customer, ids[o], &lines);
                    publish_maybe_twice(&js, &e, duplicate).await
                };
                assert!(!id.is_empty());
                published += 1 + usize::from(duplicate);
            }
            // Consume every stored message in batches; some batches crash after their commit
            // and are redelivered.
            let (mut acked, mut delivery) = (0, 0);
            while acked < published {
                let messages = fetch(&raw, case.batch, Duration::from_secs(2)).await;
                assert!(!messages.is_empty(), "every published message is delivered");
                let outcomes = consumer.apply_batch(&messages).await;
                assert!(
                    outcomes
                        .iter()
                        .all(|o| matches!(o, Outcome::Applied | Outcome::Duplicate)),
                    "{outcomes:?}"
                );
                let crash = case.crashes[delivery % case.crashes.len()];
                delivery += 1;
                let redelivered = messages.iter().any(|m| m.info().unwrap().delivered > 1);
                for message in &messages {
                    if crash && !redelivered {
                        message.ack_with(AckKind::Nak(None)).await.unwrap();
                    } else {
                        message.double_ack().await.unwrap();
                        acked += 1;
                    }
                }
            }
            let mut levels = Vec::new();
            let mut reserved = Vec::new();
            for sku in &skus {
                let p = stack
                    .app
                    .catalog()
                    .get(&Sku::parse(sku).unwrap())
                    .await
                    .unwrap();
                levels.push(p.stock_level);
                reserved.push(p.reserved);
            }
            (levels, reserved)
        });
        let (want_levels, want_reserved) = model(&case);
        prop_assert_eq!(levels, want_levels);
        prop_assert_eq!(reserved, want_reserved);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
