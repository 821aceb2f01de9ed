//! The storm's printed report: the set-up, a table per round, and the median of the paired
//! per-round ratios (gateway/nats-ws, gateway/floor), which is what survives a noisy machine:
//! every round runs all systems within the same minute.

use std::time::Duration;

use super::{Env, StormConfig, StormReport, System, TurnFigures};

/// What was started, where.
pub(crate) fn print_setup(cfg: &StormConfig, env: &Env) {
    println!(
        "{} clients per turn from {} source address(es), {} events/s, {} round(s) of {}; \
         warm-up {} s, away {} ms, open concurrency {}",
        cfg.clients,
        env.sources.len(),
        cfg.rate,
        cfg.rounds,
        cfg.systems
            .iter()
            .map(System::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        cfg.warm_up.as_secs_f64(),
        cfg.away.as_millis(),
        cfg.open_concurrency
    );
    let nats_pid = env.backend.pid().unwrap_or_default();
    print!("nats-server pid {nats_pid} at {}", env.backend.url());
    if let Some(ws) = env.backend.websocket_addr() {
        print!(", WebSocket ws://{ws}");
    }
    println!();
    if let Some(g) = &env.gateway {
        println!(
            "gateway pid {} on {} (log: {})",
            g.pid(),
            g.addr(),
            g.log.display()
        );
    }
    if let Some(f) = &env.floor {
        println!("floor pid {} on {}", f.pid(), f.addr());
    }
}

/// The table of `round` (the turns of that round in `report`).
pub(crate) fn print_round(round: usize, rounds: usize, report: &StormReport) {
    println!("\nround {round} of {rounds}");
    println!(
        "{:<8} {:>8} {:>9} {:>9} {:>9} {:>7} {:>20} {:>7} {:>6} {:>5} {:>5}  CPU s during the storm",
        "system",
        "clients",
        "all back",
        "p50",
        "p99",
        "retries",
        "resume ok/reload/err",
        "events",
        "lost",
        "dup",
        "ooo"
    );
    let turns = report
        .turns
        .iter()
        .filter(|t| t.round == round)
        .map(|t| (t.system, &t.figures));
    print_turns(turns, 8, row, notes);
}

/// The table rows of a round's turns (`failed: …` for a turn that could not be measured, the
/// system's name padded to `width`), then the notes on the measured ones.
pub(crate) fn print_turns<'a, F: 'a>(
    turns: impl Iterator<Item = (System, &'a Result<F, String>)> + Clone,
    width: usize,
    row: impl Fn(System, &F) -> String,
    notes: impl Fn(System, &F) -> Vec<String>,
) {
    for (system, figures) in turns.clone() {
        match figures {
            Ok(f) => println!("{}", row(system, f)),
            Err(e) => println!("{:<width$} failed: {e}", system.to_string()),
        }
    }
    for (system, figures) in turns {
        if let Ok(f) = figures {
            for note in notes(system, f) {
                println!("  {system}: {note}");
            }
        }
    }
}

/// What the table has no column for, only when it happened.
fn notes(system: System, f: &TurnFigures) -> Vec<String> {
    let mut notes = vec![format!(
        "first connect of all clients took {}",
        ms(f.connect_time)
    )];
    if system == System::Nats && f.ledger.is_some_and(|t| t.lost > 0) {
        notes.push(
            "lost = published while the clients were away; core NATS does not keep it (expected)"
                .into(),
        );
    }
    let (open, resume) = &f.phases;
    if !open.is_empty() {
        let p = |v: &[Duration], q| percentile(v, q).map_or("-".into(), ms);
        notes.push(format!(
            "reconnect p50/p99: negotiate + socket + handshake {} / {}, handshake → Resumed {} / {} \
             (waiting for an open slot comes on top)",
            p(open, 0.5),
            p(open, 0.99),
            p(resume, 0.5),
            p(resume, 0.99)
        ));
    }
    let first = f.first;
    if first.failed + first.reload + first.unexpected > 0 {
        notes.push(format!(
            "first connects: {} failed attempts, resume reload {}, other {}",
            first.failed, first.reload, first.unexpected
        ));
    }
    if let Some(t) = f.ledger.filter(|t| t.clients_affected > 0) {
        let mut note = format!("{} clients with a discrepancy", t.clients_affected);
        if t.unexpected > 0 {
            note.push_str(&format!(
                "; {} events not expected (another customer's or before the start)",
                t.unexpected
            ));
        }
        notes.push(note);
    }
    if f.unplanned_closes > 0 {
        notes.push(format!(
            "{} connections closed by the server",
            f.unplanned_closes
        ));
    }
    notes
}

fn row(system: System, f: &TurnFigures) -> String {
    let all_back = match f.all_back {
        Some(d) => ms(d),
        None => format!("{} out", f.clients - f.back.len()),
    };
    let resume = if system.hub_protocol().is_some() {
        format!(
            "{}/{}/{}",
            f.storm.ok,
            f.storm.reload,
            f.storm.unexpected + f.storm.failed
        )
    } else {
        "-".into()
    };
    let (lost, dup, ooo) = match &f.ledger {
        Some(t) => (
            t.lost.to_string(),
            t.duplicated.to_string(),
            t.out_of_order.to_string(),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    let cpu: Vec<String> = f
        .cpu
        .iter()
        .map(|(name, s)| format!("{name} {s:.2}"))
        .collect();
    format!(
        "{:<8} {:>8} {:>9} {:>9} {:>9} {:>7} {:>20} {:>7} {:>6} {:>5} {:>5}  {}",
        system.to_string(),
        f.clients,
        all_back,
        percentile(&f.back, 0.50).map_or("-".into(), ms),
        percentile(&f.back, 0.99).map_or("-".into(), ms),
        f.storm.failed,
        resume,
        f.published,
        lost,
        dup,
        ooo,
        cpu.join(", ")
    )
}

/// Medians of the per-round ratios.
pub(crate) fn print_summary(report: &StormReport) {
    let mut header = Some("\nmedian of the per-round ratios (rounds where both turns completed):");
    for other in [System::Nats, System::Floor] {
        let figures = |r: &[(&TurnFigures, &TurnFigures)],
                       f: &dyn Fn(&TurnFigures) -> Option<f64>| {
            let ratios: Vec<f64> = r.iter().filter_map(|(g, o)| Some(f(g)? / f(o)?)).collect();
            median(&ratios).map_or("-".into(), |m| {
                let all: Vec<String> = ratios.iter().map(|x| format!("{x:.2}")).collect();
                format!("{m:.2}x ({})", all.join(" "))
            })
        };
        let pairs = pairs(report, other);
        if pairs.is_empty() {
            continue;
        }
        if let Some(h) = header.take() {
            println!("{h}");
        }
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let server_cpu = |f: &TurnFigures| {
            Some(
                f.cpu
                    .iter()
                    .filter(|(n, _)| *n != "loadgen")
                    .map(|(_, s)| s)
                    .sum(),
            )
        };
        println!("  gateway/{other}:");
        println!("    all back    {}", figures(&pairs, &|f| secs(f.all_back)));
        println!(
            "    p50         {}",
            figures(&pairs, &|f| secs(percentile(&f.back, 0.5)))
        );
        println!(
            "    p99         {}",
            figures(&pairs, &|f| secs(percentile(&f.back, 0.99)))
        );
        println!("    server CPU  {}", figures(&pairs, &server_cpu));
    }
}

/// (gateway, other) figures of every round where both turns completed.
fn pairs(report: &StormReport, other: System) -> Vec<(&TurnFigures, &TurnFigures)> {
    let of = |round: usize, system: System| {
        report
            .turns
            .iter()
            .find(|t| t.round == round && t.system == system)
            .and_then(|t| t.figures.as_ref().ok())
    };
    let rounds = report.turns.iter().map(|t| t.round).max().unwrap_or(0);
    (1..=rounds)
        .filter_map(|r| Some((of(r, System::Gateway)?, of(r, other)?)))
        .collect()
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Median (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 0.5), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&d, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&d, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::INFINITY]), None);
    }
}
