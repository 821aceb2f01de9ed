//! Continuing the producer's trace (docs/operations.md, "Tracing"): the span that applies a
//! batch takes its parent from the W3C `traceparent`/`tracestate` headers the outbox relay puts
//! on each message, so the handler's work, and the events it writes to its own outbox in the
//! same transaction, belong to the trace of the request that caused them.
//!
//! A batch applies several events in one transaction, but a span has one parent. When every
//! traced message of the batch belongs to one trace (always so for a batch of one) the span
//! continues it; when they belong to several, the span starts its own trace and links each
//! message's context instead, which is how OpenTelemetry's messaging conventions model batch
//! processing. Either way every message's context is reachable from the span.

use async_nats::jetstream;
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The span applying `messages` for `consumer`, continuing or linking their traces.
pub(crate) fn batch_span(consumer: &str, messages: &[jetstream::Message]) -> tracing::Span {
    let span = tracing::info_span!("inbox.apply", consumer, messages = messages.len());
    if span.is_disabled() {
        return span;
    }
    let contexts: Vec<opentelemetry::Context> = messages
        .iter()
        .filter_map(|m| m.headers.as_ref())
        .map(orderflow_runtime::telemetry::nats_context)
        .filter(|cx| cx.span().span_context().is_valid())
        .collect();
    let Some(first) = contexts.first() else {
        return span;
    };
    let trace_id = first.span().span_context().trace_id();
    let one_trace = contexts
        .iter()
        .all(|cx| cx.span().span_context().trace_id() == trace_id);
    if one_trace {
        // Fails only without the OpenTelemetry layer installed: then there is nothing to join.
        let _ = span.set_parent(first.clone());
    } else {
        for cx in &contexts {
            let linked: SpanContext = cx.span().span_context().clone();
            span.add_link(linked);
        }
    }
    span
}
