//! The delivery benchmark's printed report: the set-up, a table per round and mode, the median
//! of the per-round paired ratios (gateway/nats-ws, gateway/floor), which is what survives a
//! noisy machine since each round runs all systems within a minute or two, and the targets of
//! issue 18 against those medians.

use super::{DeliveryConfig, DeliveryReport, Mode, System, TurnFigures};
use crate::storm::report::{median, print_turns};

/// What runs, and how.
pub(crate) fn print_setup(cfg: &DeliveryConfig, sources: usize) {
    let list = |v: Vec<String>| v.join(", ");
    println!(
        "{} connections per turn ({} per customer in per-customer mode) from {sources} source \
         address(es); paced phase {} deliveries/s for {} s, then saturation for {} s; \
         {} round(s) of [{}] x [{}]; open concurrency {}",
        cfg.connections,
        cfg.per_customer.max(1),
        cfg.rate,
        cfg.duration.as_secs_f64(),
        cfg.saturation.as_secs_f64(),
        cfg.rounds,
        list(cfg.modes.iter().map(Mode::to_string).collect()),
        list(cfg.systems.iter().map(System::to_string).collect()),
        cfg.open_concurrency
    );
    println!(
        "every turn starts its own nats-server (real streams, WebSocket listener) and the \
         gateway ({}) or the floor on it",
        cfg.gateway_bin.display()
    );
}

/// The table of one round and mode.
pub(crate) fn print_round(cfg: &DeliveryConfig, round: usize, mode: Mode, report: &DeliveryReport) {
    println!(
        "\nround {round} of {}, {mode}: {} connections, {} deliveries/s paced",
        cfg.rounds, cfg.connections, cfg.rate
    );
    println!(
        "{:<10} {:>6} {:>13} {:>8} {:>7} {:>14} {:>7} {:>7} {:>7} {:>7} {:>11} {:>12} {:>8} {:>6} {:>6}",
        "system",
        "opened",
        "RSS/conn KiB",
        "deliv/s",
        "B/deliv",
        "CPU/100k own",
        "total",
        "p50 ms",
        "p99 ms",
        "max ms",
        "sat deliv/s",
        "sat CPU/100k",
        "missing",
        "extra",
        "closed"
    );
    let turns = report
        .turns
        .iter()
        .filter(|t| t.round == round && t.mode == mode)
        .map(|t| (t.system, &t.figures));
    print_turns(turns, 10, row, |_, f| notes(f));
}

fn row(system: System, f: &TurnFigures) -> String {
    let mut rss = format!("{:.1}", f.rss_per_connection(0));
    if f.processes.len() > 1 {
        rss.push_str(&format!(" (+{:.1})", f.rss_per_connection(1)));
    }
    format!(
        "{:<10} {:>6} {:>13} {:>8.0} {:>7.0} {:>14.2} {:>7.2} {:>7.2} {:>7.2} {:>7.1} {:>11.0} {:>12.2} {:>8} {:>6} {:>6}",
        system.to_string(),
        f.opened,
        rss,
        f.paced.rate(),
        f.bytes_per_delivery,
        f.paced.cpu_per_100k([0]),
        f.paced.cpu_per_100k(f.all()),
        f.latency_ms[0],
        f.latency_ms[1],
        f.latency_ms[2],
        f.saturation.rate(),
        f.saturation.cpu_per_100k(f.all()),
        f.missing,
        f.extra,
        f.closed
    )
}

/// What the table has no column for.
fn notes(f: &TurnFigures) -> Vec<String> {
    let cpu = |p: &super::PhaseFigures| -> String {
        let servers: Vec<String> = f
            .processes
            .iter()
            .zip(&p.cpu)
            .map(|(n, s)| format!("{n} {s:.2}"))
            .collect();
        format!("{}, loadgen {:.2}", servers.join(", "), p.loadgen_cpu)
    };
    let mut notes = vec![
        format!(
            "opened in {:.1} s; RSS KiB before/idle {}",
            f.open_time.as_secs_f64(),
            f.processes
                .iter()
                .zip(f.rss_before.iter().zip(&f.rss_idle))
                .map(|(n, (b, i))| format!("{n} {b}/{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "paced: {} events, {} of {} deliveries in {:.1} s; CPU s {}",
            f.paced.published,
            f.paced.delivered,
            f.paced.expected,
            f.paced.active_secs,
            cpu(&f.paced)
        ),
        format!(
            "saturation: {} events, {} of {} deliveries in {:.1} s; CPU s {}",
            f.saturation.published,
            f.saturation.delivered,
            f.saturation.expected,
            f.saturation.active_secs,
            cpu(&f.saturation)
        ),
    ];
    if let Some([p50, p99, max]) = f.own_latency_ms {
        notes.push(format!(
            "paced: its own part of the latency (event translated -> written to the socket): \
             p50 <= {p50} ms, p99 <= {p99} ms, max <= {max} ms (bucket bounds of \
             gateway_delivery_latency_seconds)"
        ));
    }
    if let Some(e) = &f.open_error {
        notes.push(format!(
            "{} connections failed to open, first: {e}",
            f.connections - f.opened
        ));
    }
    if f.undated > 0 {
        notes.push(format!(
            "{} deliveries without a readable updatedAt",
            f.undated
        ));
    }
    notes
}

/// A figure of one turn, for ratios and medians.
type Figure = fn(&TurnFigures) -> f64;

const RATIOS: [(&str, Figure); 8] = [
    ("CPU/delivery, with nats-server", |f| {
        f.paced.cpu_per_100k(f.all())
    }),
    ("CPU/delivery, own process", |f| f.paced.cpu_per_100k([0])),
    ("saturation deliveries/s", |f| f.saturation.rate()),
    ("CPU/delivery at saturation", |f| {
        f.saturation.cpu_per_100k(f.all())
    }),
    ("p50", |f| f.latency_ms[0]),
    ("p99", |f| f.latency_ms[1]),
    ("RSS per idle connection", |f| f.rss_per_connection(0)),
    ("bytes per delivery", |f| f.bytes_per_delivery),
];

/// Medians of the per-round ratios, then the targets.
pub(crate) fn print_summary(cfg: &DeliveryConfig, report: &DeliveryReport) {
    println!("\nmedian of the per-round ratios (rounds where both turns completed):");
    for &mode in &cfg.modes {
        // gateway-mp: the same gateway with MessagePack clients, the protocols side by side.
        for other in [System::Nats, System::Floor, System::GatewayMp] {
            if ratios(cfg, report, mode, other, RATIOS[0].1).is_empty() {
                continue;
            }
            println!("  {mode}, gateway/{other}:");
            for (name, figure) in RATIOS {
                let r = ratios(cfg, report, mode, other, figure);
                println!("    {name:<32} {}", summary(&r, "x"));
            }
        }
    }
    print_targets(cfg, report);
}

/// Issue 18's targets against the medians (only those this run measured).
fn print_targets(cfg: &DeliveryConfig, report: &DeliveryReport) {
    let per_customer = Mode::PerCustomer;
    let mut lines = Vec::new();
    let mut check = |what: String, values: Vec<f64>, unit: &str, ok: &dyn Fn(f64) -> bool| {
        if let Some(m) = median(&values) {
            let verdict = if ok(m) { "met" } else { "NOT met" };
            lines.push(format!("  {what}: {} {verdict}", summary(&values, unit)));
        }
    };
    let cpu_total = RATIOS[0].1;
    check(
        "per customer: gateway + its nats-server CPU/delivery <= 1.0x nats-server WS".into(),
        ratios(cfg, report, per_customer, System::Nats, cpu_total),
        "x",
        &|m| m <= 1.0,
    );
    check(
        "per customer (stretch): gateway alone <= 0.5x nats-server WS".into(),
        ratios_with(
            cfg,
            report,
            per_customer,
            System::Nats,
            |f| f.paced.cpu_per_100k([0]),
            cpu_total,
        ),
        "x",
        &|m| m <= 0.5,
    );
    check(
        "per customer: saturation deliveries/s >= 1.0x nats-server WS".into(),
        ratios(cfg, report, per_customer, System::Nats, RATIOS[2].1),
        "x",
        &|m| m >= 1.0,
    );
    check(
        "broadcast: gateway + its nats-server CPU/delivery <= 2x floor + its nats-server".into(),
        ratios(cfg, report, Mode::Broadcast, System::Floor, cpu_total),
        "x",
        &|m| m <= 2.0,
    );
    for &mode in &cfg.modes {
        check(
            format!("{mode}: gateway memory per idle connection <= 8 KiB"),
            values(cfg, report, mode, System::Gateway, RATIOS[6].1),
            " KiB",
            &|m| m <= 8.0,
        );
    }
    check(
        format!(
            "per customer: gateway p99 at {} deliveries/s <= 5 ms",
            cfg.rate
        ),
        values(cfg, report, per_customer, System::Gateway, RATIOS[5].1),
        " ms",
        &|m| m <= 5.0,
    );
    let own_p99 = values(cfg, report, per_customer, System::Gateway, |f| {
        f.own_latency_ms.map_or(f64::NAN, |[_, p99, _]| p99)
    });
    let own_p99: Vec<f64> = own_p99.into_iter().filter(|v| !v.is_nan()).collect();
    if !own_p99.is_empty() {
        // Not a verdict: the target is on the end-to-end figure above; this shows how much of
        // it the gateway adds (the rest is JetStream, nats-server's republish and the loader).
        lines.push(format!(
            "    of which the gateway's own part at p99 (event translated -> written), at most: {}",
            summary(&own_p99, " ms")
        ));
    }
    if !lines.is_empty() {
        println!("\ntargets of issue 18 (median; per round in parentheses):");
        lines.iter().for_each(|l| println!("{l}"));
    }
}

/// `figure` of `system` in `mode`, per round where its turn completed.
fn values(
    cfg: &DeliveryConfig,
    report: &DeliveryReport,
    mode: Mode,
    system: System,
    figure: Figure,
) -> Vec<f64> {
    (1..=cfg.rounds)
        .filter_map(|r| report.figures(r, mode, system).map(figure))
        .collect()
}

/// gateway / `other` of `figure`, per round where both turns completed.
fn ratios(
    cfg: &DeliveryConfig,
    report: &DeliveryReport,
    mode: Mode,
    other: System,
    figure: Figure,
) -> Vec<f64> {
    ratios_with(cfg, report, mode, other, figure, figure)
}

/// `gateway_figure(gateway) / other_figure(other)`, per round where both turns completed.
fn ratios_with(
    cfg: &DeliveryConfig,
    report: &DeliveryReport,
    mode: Mode,
    other: System,
    gateway_figure: Figure,
    other_figure: Figure,
) -> Vec<f64> {
    (1..=cfg.rounds)
        .filter_map(|r| {
            let g = report.figures(r, mode, System::Gateway)?;
            let o = report.figures(r, mode, other)?;
            Some(gateway_figure(g) / other_figure(o))
        })
        .collect()
}

/// `median unit (v1 v2 …)`.
fn summary(values: &[f64], unit: &str) -> String {
    let all: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
    median(values).map_or("-".into(), |m| format!("{m:.2}{unit} ({})", all.join(" ")))
}
