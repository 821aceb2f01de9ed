//! `inventory seed-demo`, the documented way to load the demo catalog without the API: run the
//! real binary twice against a fresh database and check it is idempotent.

use std::process::Command;

use orderflow_test_support::{NatsServer, fresh_database};

#[tokio::test]
async fn seed_demo_loads_twelve_products_once() {
    let nats = NatsServer::start().await;
    let db = fresh_database().await;
    for _ in 0..2 {
        let output = Command::new(env!("CARGO_BIN_EXE_inventory"))
            .args(["--database-url", &db.url, "--nats-url", &nats.url()])
            .args([
                "--jwt-issuer",
                "orderflow-dev",
                "--jwt-audience",
                "orderflow",
            ])
            .args([
                "--jwt-hs256-secret",
                orderflow_auth::dev::SECRET,
                "seed-demo",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let pool = db.pool().await;
    let products: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(products, 12);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 24, "each product: upserted + initial stock, once");
}
