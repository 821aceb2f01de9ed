//! A Prometheus histogram read from a server's `/metrics`: the gateway's own part of the
//! delivery latency, `gateway_delivery_latency_seconds` (from an event translated to its frame
//! written to the client's socket). Read before and after a phase, the difference holds that
//! phase's deliveries. The clients' publish→client latency also holds JetStream's store and
//! republish and the loader's own reading; this says how much of it the gateway adds.

/// The gateway's delivery-latency histogram.
pub const GATEWAY_DELIVERY_LATENCY: &str = "gateway_delivery_latency_seconds";

/// Cumulative bucket counts of one histogram, by upper bound in seconds (`+Inf` last).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets(Vec<(f64, u64)>);

impl Buckets {
    /// The buckets of histogram `name` in the Prometheus text `exposition`; none if absent.
    pub fn parse(exposition: &str, name: &str) -> Buckets {
        let prefix = format!("{name}_bucket{{");
        let mut buckets: Vec<(f64, u64)> = exposition
            .lines()
            .filter_map(|line| {
                let (labels, count) = line.strip_prefix(&prefix)?.split_once("} ")?;
                let le = labels
                    .split(',')
                    .find_map(|label| label.strip_prefix("le=\""))?
                    .strip_suffix('"')?;
                let bound = match le {
                    "+Inf" => f64::INFINITY,
                    le => le.parse().ok()?,
                };
                Some((bound, count.trim().parse().ok()?))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Buckets(buckets)
    }

    /// What was recorded after `before` was read.
    pub fn since(&self, before: &Buckets) -> Buckets {
        let was = |bound: f64| {
            before
                .0
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0, |(_, n)| *n)
        };
        Buckets(
            self.0
                .iter()
                .map(|&(bound, n)| (bound, n.saturating_sub(was(bound))))
                .collect(),
        )
    }

    /// Samples in all (the `+Inf` bucket).
    pub fn count(&self) -> u64 {
        self.0.last().map_or(0, |(_, n)| *n)
    }

    /// The smallest bucket bound, in ms, under which at least the fraction `p` of the samples
    /// lies: an upper bound of the `p` quantile. `None` without samples.
    pub fn bound_ms(&self, p: f64) -> Option<f64> {
        let need = (p * self.count() as f64).ceil() as u64;
        if need == 0 {
            return None;
        }
        self.0
            .iter()
            .find(|(_, n)| *n >= need)
            .map(|(bound, _)| bound * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
# TYPE gateway_delivery_latency_seconds histogram
gateway_delivery_latency_seconds_bucket{le=\"0.0005\"} 10
gateway_delivery_latency_seconds_bucket{le=\"0.001\"} 10
gateway_delivery_latency_seconds_bucket{le=\"+Inf\"} 10
gateway_delivery_latency_seconds_sum 0.001
gateway_delivery_latency_seconds_count 10
other_bucket{le=\"0.001\"} 99
";

    const AFTER: &str = "\
gateway_delivery_latency_seconds_bucket{le=\"+Inf\"} 210
gateway_delivery_latency_seconds_bucket{le=\"0.0005\"} 190
gateway_delivery_latency_seconds_bucket{le=\"0.001\"} 208
gateway_delivery_latency_seconds_count 210
";

    #[test]
    fn a_phase_is_the_difference_and_its_bounds_come_from_the_buckets() {
        let before = Buckets::parse(BEFORE, GATEWAY_DELIVERY_LATENCY);
        let phase = Buckets::parse(AFTER, GATEWAY_DELIVERY_LATENCY).since(&before);
        assert_eq!(phase.count(), 200);
        // 180 of 200 under 0.5 ms, 198 under 1 ms, the rest above.
        assert_eq!(phase.bound_ms(0.5), Some(0.5));
        assert_eq!(phase.bound_ms(0.9), Some(0.5));
        assert_eq!(phase.bound_ms(0.99), Some(1.0));
        assert_eq!(phase.bound_ms(1.0), Some(f64::INFINITY));
    }

    #[test]
    fn no_histogram_or_no_samples_give_no_bound() {
        assert_eq!(
            Buckets::parse("up 1\n", GATEWAY_DELIVERY_LATENCY).bound_ms(0.5),
            None
        );
        let same = Buckets::parse(BEFORE, GATEWAY_DELIVERY_LATENCY);
        assert_eq!(same.since(&same).bound_ms(0.99), None);
    }
}
