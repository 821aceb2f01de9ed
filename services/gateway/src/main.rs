//! The `gateway` binary: reads settings, starts telemetry, runs the hub until SIGTERM.

fn main() {}
