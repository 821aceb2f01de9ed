//! Every endpoint of the inventory API and each error status, against the real service on real
//! PostgreSQL and NATS; the events they produce are read back from JetStream.

use crate::support::{
    Options, admin, customer, eventually, problem, read_stream, spawn_app, spawn_app_with,
};
use orderflow_events::AnyEvent;
use orderflow_events::streams::INVENTORY;
use orderflow_test_support::service::operational_endpoints;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn create_read_update_adjust_and_their_events() {
    let stack = spawn_app().await;
    let ops = admin();
    let alice = customer("Alice");

    let response = stack
        .post(
            &ops.token,
            "/api/products",
            json!({ "sku": "kb-001", "name": " Keyboard ", "unitPrice": "49.9", "initialStock": 5 }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["location"], "/api/products/KB-001");
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["sku"], "KB-001");
    assert_eq!(created["name"], "Keyboard");
    assert_eq!(created["unitPrice"], "49.90");
    assert_eq!(created["currency"], "USD");
    assert_eq!(created["stockLevel"], 5);
    assert_eq!(created["reserved"], 0);
    assert_eq!(created["lowStockThreshold"], 10, "default threshold");
    assert_eq!(created["lowStock"], true);
    assert_eq!(created["version"], 2, "upserted + initial stock");

    let fetched = stack.get_json(&alice.token, "/api/products/kb-001").await;
    assert_eq!(fetched["id"], created["id"]);

    let patched = stack
        .patch(
            &ops.token,
            "/api/products/KB-001",
            json!({ "unitPrice": "59.00", "lowStockThreshold": 3 }),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["unitPrice"], "59.00");
    assert_eq!(patched["lowStock"], false);
    assert_eq!(patched["version"], 3);
    let same = stack
        .patch(
            &ops.token,
            "/api/products/KB-001",
            json!({ "unitPrice": "59" }),
        )
        .await;
    assert_eq!(
        same.json::<Value>().await.unwrap()["version"],
        3,
        "no change, no event"
    );

    let adjusted = stack
        .post(
            &ops.token,
            "/api/products/KB-001/stock-adjustments",
            json!({ "delta": -4, "reason": "cycle count" }),
        )
        .await;
    assert_eq!(adjusted.status(), StatusCode::OK);
    let adjusted: Value = adjusted.json().await.unwrap();
    assert_eq!(adjusted["oldLevel"], 5);
    assert_eq!(adjusted["newLevel"], 1);
    assert_eq!(adjusted["reason"], "cycle count");
    assert_eq!(stack.level("KB-001").await, 1);

    let js = stack.app.jetstream();
    let events = eventually("four product events", || async {
        let events = read_stream(&js, INVENTORY).await;
        (events.len() == 4).then_some(events)
    })
    .await;
    let versions: Vec<u64> = events
        .iter()
        .map(|s| s.event.metadata().unwrap().aggregate_version)
        .collect();
    assert_eq!(versions, [1, 2, 3, 4], "one gapless version per product");
    match (&events[0].event, &events[2].event, &events[3].event) {
        (
            AnyEvent::ProductUpserted(a),
            AnyEvent::ProductUpserted(b),
            AnyEvent::StockLevelChanged(c),
        ) => {
            assert_eq!(a.unit_price_minor, 4_990);
            assert_eq!(a.currency, "USD");
            assert_eq!(b.unit_price_minor, 5_900);
            assert_eq!(b.low_stock_threshold, 3);
            assert_eq!((c.old_level, c.new_level, c.threshold), (5, 1, 3));
            assert_eq!(c.reason, "cycle count");
            assert_eq!(c.order_id, "");
            assert_eq!(
                events[3].subject,
                "inventory.v1.products.KB-001.stock_level_changed"
            );
        }
        other => panic!("unexpected events {other:?}"),
    }
}

#[tokio::test]
async fn listing_pages_in_sku_order() {
    let stack = spawn_app_with(Options::idle()).await;
    for sku in ["C-3", "A-1", "E-5", "B-2", "D-4"] {
        stack.create_product(sku, "1.00", 1).await;
    }
    let user = customer("Bob");
    let mut seen = Vec::new();
    let mut path = "/api/products?limit=2".to_owned();
    loop {
        let page = stack.get_json(&user.token, &path).await;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["sku"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/products?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["A-1", "B-2", "C-3", "D-4", "E-5"]);
    for bad in ["limit=0", "limit=101", "limit=x", "cursor=a.b", "color=red"] {
        let r = stack
            .get(&user.token, &format!("/api/products?{bad}"))
            .await;
        let code = if bad.starts_with("cursor") {
            "invalid_cursor"
        } else {
            "invalid_query"
        };
        problem(r, StatusCode::BAD_REQUEST, code).await;
    }
}

#[tokio::test]
async fn authentication_and_roles_are_enforced() {
    let stack = spawn_app_with(Options::idle()).await;
    stack.create_product("KB-001", "1.00", 5).await;
    let anonymous = stack.get_anonymous("/api/products").await;
    problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    let forged = format!("{}x", admin().token);
    problem(
        stack.get(&forged, "/api/products/KB-001").await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;

    let alice = customer("Alice");
    for (method, path, body) in [
        (
            Method::POST,
            "/api/products",
            json!({ "sku": "X-1", "name": "X", "unitPrice": "1.00" }),
        ),
        (
            Method::PATCH,
            "/api/products/KB-001",
            json!({ "name": "Mine" }),
        ),
        (
            Method::POST,
            "/api/products/KB-001/stock-adjustments",
            json!({ "delta": -5, "reason": "theft" }),
        ),
    ] {
        let response = stack.send(method, &alice.token, path, Some(body)).await;
        problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(stack.level("KB-001").await, 5, "nothing changed");
    let product = stack.get_json(&alice.token, "/api/products/KB-001").await;
    assert_eq!(product["name"], "Product KB-001");
}

#[tokio::test]
async fn operational_endpoints_openapi_and_demo_catalog() {
    let stack = spawn_app_with(Options::idle()).await;
    let (_, doc) = operational_endpoints(&stack).await;
    for path in [
        "/api/products",
        "/api/products/{sku}",
        "/api/products/{sku}/stock-adjustments",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }

    let catalog = stack.app.catalog();
    let first = orderflow_inventory::demo::seed(&catalog).await.unwrap();
    assert_eq!((first.created, first.existing), (12, 0));
    let again = orderflow_inventory::demo::seed(&catalog).await.unwrap();
    assert_eq!(
        (again.created, again.existing),
        (0, 12),
        "seeding is idempotent"
    );
    let page = stack
        .get_json(&admin().token, "/api/products?limit=100")
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 12);
    let near = items
        .iter()
        .filter(|p| {
            let (level, threshold) = (
                p["stockLevel"].as_i64().unwrap(),
                p["lowStockThreshold"].as_i64().unwrap(),
            );
            level >= threshold && level - threshold <= 2
        })
        .count();
    assert!(near >= 3, "a few products sit just above their threshold");
}
