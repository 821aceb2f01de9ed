//! The gateway's part of a trace (docs/operations.md, "Tracing"): pushing an event to the
//! browsers that want it is a `gateway.push` span, a child of the span that wrote the event to
//! the outbox (the relay put its `traceparent` on the message), so one trace runs from the HTTP
//! request to the browser push.
//!
//! Made only while spans are exported: this is the delivery path, and a span that would be
//! dropped costs as much to make as one that is sent.

use orderflow_runtime::telemetry;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::protocol::Position;
use crate::translate::StoredHeaders;

/// The span of fanning out the event at `position`, continuing the trace its `headers` carry;
/// `None` when spans are not exported.
pub(crate) fn push_span(headers: &StoredHeaders<'_>, position: Position) -> Option<tracing::Span> {
    if !telemetry::exporting() {
        return None;
    }
    let span = tracing::info_span!(
        "gateway.push",
        stream = position.stream.as_str(),
        sequence = position.sequence
    );
    // Fails only without the OpenTelemetry layer installed: then there is nothing to join.
    let _ = span.set_parent(telemetry::trace_context(
        headers.traceparent,
        headers.tracestate,
    ));
    Some(span)
}
