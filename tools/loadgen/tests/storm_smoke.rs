//! The reconnect storm in small (300 clients, 200 events/s, one round of gateway, nats-server
//! WebSocket and floor), as a CI check of both the benchmark and the gateway's resume contract:
//! every gateway client must be back with `Resumed {"status":"ok"}` after its first connect and
//! after the storm, and must have received every event of its customer published after it
//! first connected, exactly once and in stream order.
//!
//! Which `gateway` binary: see `orderflow_loadgen::gateway::test_binary` (alone:
//! `cargo build -p orderflow-gateway && cargo test -p orderflow-loadgen --test storm_smoke`).

use std::time::Duration;

use orderflow_loadgen::storm::{self, StormConfig, System, TurnFigures};

const CLIENTS: usize = 300;

fn figures(report: &storm::StormReport, system: System) -> &TurnFigures {
    let turn = report.turns.iter().find(|t| t.system == system).unwrap();
    match &turn.figures {
        Ok(f) => f,
        Err(e) => panic!("{system} turn failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_takes_every_gateway_client_back_without_losing_an_event() {
    let config = StormConfig {
        clients: CLIENTS,
        rate: 200,
        rounds: 1,
        systems: vec![System::Gateway, System::Nats, System::Floor],
        away: Duration::ZERO,
        open_concurrency: 1024,
        source_addrs: 8,
        warm_up: Duration::from_secs(2),
        settle: Duration::from_secs(2),
        back_timeout: Duration::from_secs(20),
        gateway_bin: orderflow_loadgen::gateway::test_binary(),
        loadgen_bin: env!("CARGO_BIN_EXE_orderflow-loadgen").into(),
    };
    let report = storm::run(&config).await.unwrap();

    let gateway = figures(&report, System::Gateway);
    assert!(
        gateway.all_back.is_some(),
        "{} of {CLIENTS} gateway clients not back",
        CLIENTS - gateway.back.len()
    );
    for (when, attempts) in [("first connect", gateway.first), ("storm", gateway.storm)] {
        assert_eq!(
            (attempts.reload, attempts.unexpected),
            (0, 0),
            "{when}: every Resumed must say ok: {attempts:?}"
        );
        assert!(attempts.ok >= CLIENTS as u64, "{when}: {attempts:?}");
    }
    assert!(gateway.published > 0, "no events were published");
    let tally = gateway.ledger.unwrap();
    assert!(tally.is_clean(), "gateway deliveries: {tally:?}");

    // The other systems only need to have been measured: core NATS loses what was published
    // while its clients were away, by design.
    for system in [System::Nats, System::Floor] {
        assert!(figures(&report, system).all_back.is_some(), "{system}");
    }
}
