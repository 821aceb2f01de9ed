//! Property test: random command sequences against a reference model of the order life cycle.
//! Illegal transitions are rejected and change nothing; each accepted command writes exactly the
//! model's events to the real outbox, one status-changed row per transition, with the next
//! versions.

use crate::support::{Options, spawn_app_with};
use orderflow_orders::domain::{Command, CustomerId, OrderStatus, Quantity, Sku};
use orderflow_orders::service::{Actor, LineRequest, OrderError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use uuid::Uuid;

/// The reference model: which status a command leads to, and which event schemas it raises.
fn model(status: OrderStatus, command: &Command) -> Option<(OrderStatus, Vec<&'static str>)> {
    use OrderStatus::*;
    const CHANGED: &str = "orderflow.orders.v1.OrderStatusChanged";
    match (command, status) {
        (Command::Confirm, Draft) => Some((
            Confirmed,
            vec!["orderflow.orders.v1.OrderConfirmed", CHANGED],
        )),
        (Command::StartProcessing, Confirmed) => Some((Processing, vec![CHANGED])),
        (Command::Ship, Processing) => Some((Shipped, vec![CHANGED])),
        (Command::Deliver, Shipped) => Some((Delivered, vec![CHANGED])),
        (Command::Cancel { .. }, Draft | Confirmed | Processing) => Some((
            Cancelled,
            vec!["orderflow.orders.v1.OrderCancelled", CHANGED],
        )),
        _ => None,
    }
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Confirm),
        Just(Command::StartProcessing),
        Just(Command::Ship),
        Just(Command::Deliver),
        "[a-z ]{1,20}".prop_map(|reason| Command::Cancel { reason }),
    ]
}

async fn outbox_rows(pool: &sqlx::PgPool, order: Uuid) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT schema_name, aggregate_version FROM outbox WHERE aggregate_id = $1 ORDER BY id",
    )
    .bind(order.to_string())
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn random_command_sequences_follow_the_model() {
    let stack = spawn_app_with(Options::idle()).await;
    stack.seed_product("KB-001", 100).await;
    let service = stack.app.orders();
    let pool = stack.app.pool.clone();
    let actor = Actor {
        customer_id: CustomerId(Uuid::new_v4()),
        name: "Model".into(),
        is_admin: true,
    };
    let handle = tokio::runtime::Handle::current();

    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(command(), 1..12), |commands| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let line = [LineRequest {
                    sku: Sku::parse("KB-001").unwrap(),
                    quantity: Quantity::new(2).unwrap(),
                }];
                let (order, _) = service.create(&actor, &line, None).await.unwrap();
                let mut status = OrderStatus::Draft;
                let mut expected = vec![("orderflow.orders.v1.OrderCreated".to_owned(), 1_i64)];
                for command in &commands {
                    let before = outbox_rows(&pool, order.id.0).await.len();
                    let outcome = service.transition(&actor, order.id, command, None).await;
                    match (model(status, command), outcome) {
                        (Some((next, schemas)), Ok(updated)) => {
                            status = next;
                            prop_assert_eq!(updated.status, next);
                            for schema in schemas {
                                let version = expected.len() as i64 + 1;
                                expected.push((schema.to_owned(), version));
                            }
                            prop_assert_eq!(updated.version as usize, expected.len());
                        }
                        (None, Err(OrderError::Transition(_))) => {
                            let after = outbox_rows(&pool, order.id.0).await.len();
                            prop_assert_eq!(before, after, "a rejected command writes nothing");
                        }
                        (model_says, got) => {
                            prop_assert!(
                                false,
                                "model {:?} but service {:?} for {:?} in {:?}",
                                model_says,
                                got.map(|o| o.status),
                                command,
                                status
                            );
                        }
                    }
                }
                prop_assert_eq!(outbox_rows(&pool, order.id.0).await, expected);
                let stored = service.get(&actor, order.id).await.unwrap();
                prop_assert_eq!(stored.status, status);
                Ok(())
            })
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Transitions read without a lock and write only if the order is unchanged; a writer that loses
/// that race must decide again on the new state, not fail. Three confirms and three cancels race
/// on each order: exactly one cancel wins (a cancel that lost to a confirm retries and cancels
/// the confirmed order), at most one confirm does, every loser is told why (409, never an
/// error), and the outbox holds each winner's events once with consecutive versions.
#[tokio::test(flavor = "multi_thread")]
async fn racing_commands_are_each_applied_once_or_rejected() {
    let stack = spawn_app_with(Options::idle()).await;
    let (actor, line) = stack.seed_admin_order("Racer").await;
    let service = stack.app.orders();
    for _ in 0..20 {
        let (order, _) = service.create(&actor, &line, None).await.unwrap();
        let racers = (0..6).map(|i| {
            let (service, actor) = (service.clone(), actor.clone());
            let command = if i % 2 == 0 {
                Command::Confirm
            } else {
                Command::Cancel {
                    reason: "race".into(),
                }
            };
            tokio::spawn(async move {
                let outcome = service.transition(&actor, order.id, &command, None).await;
                (command, outcome)
            })
        });
        let (mut confirmed, mut cancelled) = (0, 0);
        for racer in futures::future::join_all(racers).await {
            match racer.unwrap() {
                (Command::Confirm, Ok(_)) => confirmed += 1,
                (_, Ok(_)) => cancelled += 1,
                (_, Err(OrderError::Transition(_))) => {}
                (command, Err(e)) => panic!("{command:?} failed instead of deciding again: {e}"),
            }
        }
        assert_eq!(cancelled, 1, "exactly one cancel wins");
        assert!(confirmed <= 1, "{confirmed} confirms won");

        let rows = outbox_rows(&stack.app.pool, order.id.0).await;
        let versions: Vec<i64> = rows.iter().map(|(_, v)| *v).collect();
        let expected: Vec<i64> = (1..=1 + 2 * (confirmed + cancelled)).collect();
        assert_eq!(versions, expected, "{rows:?}");
        let stored = service.get(&actor, order.id).await.unwrap();
        assert_eq!(stored.status, OrderStatus::Cancelled);
        assert_eq!(stored.version, *expected.last().unwrap() as u64);
    }
}
