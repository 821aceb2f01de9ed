//! Catalog writes wake the outbox relay in process after their commit, so their events go out
//! at once rather than at the relay's next poll.

use std::time::Duration;

use orderflow_events::streams::INVENTORY;
use orderflow_inventory::domain::{Money, NewProduct, ProductPatch, Sku};
use orderflow_inventory::service::CatalogService;
use orderflow_outbox::{Relay, RelaySettings, RelayWaker};
use orderflow_test_support::jetstream::stream_reaches;

use crate::support::{Options, TestApp, spawn_app_with, streams};
use tokio_util::sync::CancellationToken;

/// Whether the stream holds `count` events within 5 s (far below the hour-long poll).
async fn published_soon(stack: &TestApp, count: usize) -> bool {
    stream_reaches(
        &stack.app.jetstream(),
        INVENTORY,
        count,
        Duration::from_secs(5),
    )
    .await
}

#[tokio::test]
async fn catalog_writes_wake_the_relay_without_waiting_for_its_poll() {
    let stack = spawn_app_with(Options::idle()).await;
    let waker = RelayWaker::default();
    let settings = RelaySettings {
        poll_interval: Duration::from_secs(3600),
        ..RelaySettings::default()
    };
    let stop = CancellationToken::new();
    let relay =
        Relay::new(stack.app.pool.clone(), stack.app.jetstream(), settings).woken_by(waker.clone());
    tokio::spawn(relay.run(streams(), stop.clone()));
    // Let its first drain (of nothing) finish; from then on only a wake or the poll starts one.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let catalog = CatalogService::new(stack.app.connections.clone(), waker);
    let sku = Sku::parse("WAKE-1").unwrap();
    catalog
        .create(NewProduct {
            sku: sku.clone(),
            name: "Wake".into(),
            unit_price: Money(100),
            stock_level: 5,
            low_stock_threshold: 1,
        })
        .await
        .unwrap();
    assert!(
        published_soon(&stack, 2).await,
        "create: upserted and level"
    );
    catalog.adjust(&sku, 3, "restock").await.unwrap();
    assert!(published_soon(&stack, 3).await, "adjust");
    let rename = ProductPatch {
        name: Some("Wake up".into()),
        ..ProductPatch::default()
    };
    catalog.update(&sku, rename).await.unwrap();
    assert!(published_soon(&stack, 4).await, "update");

    // The control: a writer whose waker no relay holds is not published before the poll, so
    // the events above went out because they woke the relay.
    let silent = CatalogService::new(stack.app.connections.clone(), RelayWaker::default());
    silent.adjust(&sku, 1, "restock").await.unwrap();
    assert!(
        !published_soon(&stack, 5).await,
        "nothing but a wake or the poll"
    );
    stop.cancel();
}
