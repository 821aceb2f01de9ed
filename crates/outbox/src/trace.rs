//! The W3C trace context an event is written in (docs/operations.md, "Tracing"). Enqueueing
//! stores the current span's context with the outbox row and the relay sends it as the
//! message's `traceparent` and `tracestate` headers, so the consumer that applies the event
//! continues the trace of the request that caused it. This works whether or not spans are
//! exported: the context comes from the `tracing-opentelemetry` layer that
//! `orderflow_runtime::telemetry` always installs. Without that layer (a test that installs no
//! subscriber) there is no context and the columns stay NULL.

use opentelemetry::propagation::{Injector, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use orderflow_events::headers;

/// The propagation fields of one trace context, as stored in the outbox row.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TraceContext {
    pub(crate) traceparent: Option<String>,
    pub(crate) tracestate: Option<String>,
}

impl TraceContext {
    /// The current span's context; empty outside a (valid) trace.
    pub(crate) fn current() -> Self {
        let cx = tracing::Span::current().context();
        let mut fields = Self::default();
        if cx.span().span_context().is_valid() {
            TraceContextPropagator::new().inject_context(&cx, &mut fields);
        }
        fields
    }
}

impl Injector for TraceContext {
    fn set(&mut self, key: &str, value: String) {
        // The propagator always writes `tracestate`, empty when there is none; an empty header
        // is noise on every message.
        if value.is_empty() {
            return;
        }
        if key.eq_ignore_ascii_case(headers::TRACEPARENT) {
            self.traceparent = Some(value);
        } else if key.eq_ignore_ascii_case(headers::TRACESTATE) {
            self.tracestate = Some(value);
        }
    }
}
