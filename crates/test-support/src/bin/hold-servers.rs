//! Helper for `tests/orphans.rs`: starts a nats-server and a throwaway PostgreSQL cluster,
//! prints where they live, then waits to be killed. The test SIGKILLs this process and checks
//! that both servers go away with it.

use std::io::Write;

use orderflow_test_support::{NatsServer, PgCluster};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let nats = NatsServer::start().await;
    let pg = tokio::task::spawn_blocking(PgCluster::start_temporary)
        .await
        .expect("start-up task")
        .expect("PostgreSQL starts");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} {} {} {}",
        nats.port(),
        nats.store_dir().display(),
        pg.port(),
        pg.data_dir().display()
    )
    .expect("stdout");
    out.flush().expect("stdout");
    drop(out);
    std::future::pending::<()>().await;
}
