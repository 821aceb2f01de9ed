//! Servers must not outlive a test process that is killed outright (no Drop runs): the
//! watchdog stops them and deletes their scratch directories.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orderflow_test_support::discover::TEST_PG_URL_ENV;

fn accepts(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn servers_die_with_a_sigkilled_parent() {
    let mut holder = Command::new(env!("CARGO_BIN_EXE_hold-servers"))
        .env_remove(TEST_PG_URL_ENV)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 4, "unexpected helper output: {line:?}");
    let nats_port: u16 = fields[0].parse().unwrap();
    let nats_store = PathBuf::from(fields[1]);
    let pg_port: u16 = fields[2].parse().unwrap();
    let pg_data = PathBuf::from(fields[3]);
    assert!(accepts(nats_port) && accepts(pg_port), "servers are up");
    assert!(nats_store.exists() && pg_data.exists());

    holder.kill().unwrap(); // SIGKILL: no destructor, no panic hook, nothing runs
    holder.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let gone =
            !accepts(nats_port) && !accepts(pg_port) && !nats_store.exists() && !pg_data.exists();
        if gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orphans left: nats {} pg {} nats store {} pg data {}",
            accepts(nats_port),
            accepts(pg_port),
            nats_store.exists(),
            pg_data.exists()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
