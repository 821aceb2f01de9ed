//! The hostile-client test's short run in the default test run (about 30 s): the real debug
//! binaries with `RLIMIT_NOFILE` 512, a 4 s header deadline, and 1,500 slow connections
//! attempted per service from 127.0.0.2 for 10 s; probes, gateway connects and an official
//! SignalR client from 127.0.0.1 must keep working, and every slow connection must be closed
//! by the server within the deadline. The long run: `hostile` (docs/hostile-clients.md).

use std::time::{Duration, Instant};

use orderflow_chaos::hostile::{self, HostileConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_past_the_descriptor_limit_do_not_take_a_service_off_the_air() {
    let started = Instant::now();
    let logs = tempfile::tempdir().unwrap();
    let report = hostile::run(&HostileConfig {
        attack: Duration::from_secs(10),
        header_timeout: Duration::from_secs(4),
        nofile: 512,
        per_service: 1500,
        sources: 1,
        logs: logs.path().to_path_buf(),
    })
    .await
    .expect("setting up the hostile-client run");
    println!("{}", report.table());
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    let failures = report.failures();
    if !failures.is_empty() {
        // Keep the service logs for the post-mortem.
        let kept = logs.keep();
        panic!("{}\nlogs in {}", failures.join("\n"), kept.display());
    }
}
