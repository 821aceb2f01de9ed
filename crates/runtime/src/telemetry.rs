//! Structured logging and tracing set-up. `RUST_LOG` picks the filter; `ORDERFLOW_LOG_FORMAT=json`
//! switches to one JSON object per line for log shippers. Services never log tokens or secrets:
//! request tracing records the path only, never the query string.
//!
//! Tracing (docs/operations.md, "Tracing") follows W3C Trace Context: a request span continues
//! an incoming `traceparent`, the outbox carries the context to NATS headers, and consumers
//! continue it from there. The `tracing-opentelemetry` layer that gives spans their trace and
//! span ids is always installed, so propagation works whether or not spans are exported; spans
//! are exported over OTLP/HTTP (protobuf) only when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set. With export off the layer sees spans only (log
//! events are not turned into span events) and nothing is buffered or sent, which keeps its
//! cost to a few small allocations per span.

use std::io::IsTerminal as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, fmt};

/// The standard OTLP endpoint variable: a base URL, traces go to `<base>/v1/traces`.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard traces-only OTLP endpoint variable: the full URL, used as is.
pub const OTLP_TRACES_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The standard variable naming the service in exported spans.
pub const SERVICE_NAME_ENV: &str = "OTEL_SERVICE_NAME";

/// Whether spans are exported ([`exporting`]).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Kept for [`shutdown`], which flushes the spans still buffered.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Where and as whom spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracing {
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// The full OTLP/HTTP traces URL (`.../v1/traces`); `None` turns export off.
    pub otlp_traces_endpoint: Option<String>,
    /// How often buffered spans are sent; `None` keeps the SDK's default (`OTEL_BSP_SCHEDULE_DELAY`,
    /// else 5 s). Tests shorten it so they need not wait.
    pub export_interval: Option<Duration>,
}

impl Tracing {
    /// The settings from the standard `OTEL_*` variables; `default_service` names the service
    /// unless `OTEL_SERVICE_NAME` does.
    pub fn from_env(default_service: &str) -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        let otlp_traces_endpoint = var(OTLP_TRACES_ENDPOINT_ENV).or_else(|| {
            var(OTLP_ENDPOINT_ENV).map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        });
        Self {
            service_name: var(SERVICE_NAME_ENV).unwrap_or_else(|| default_service.to_owned()),
            otlp_traces_endpoint,
            export_interval: None,
        }
    }
}

/// Installs the global tracing subscriber, naming the service after the executable. Call once
/// from `main`; a second call is a no-op. Prefer [`init_service`], which names the service.
pub fn init(default_filter: &str, json: bool) {
    let exe = std::env::current_exe().ok();
    let name = exe
        .as_deref()
        .and_then(|p| p.file_stem())
        .and_then(|s| s.to_str())
        .unwrap_or("orderflow");
    init_service(name, default_filter, json);
}

/// Installs the global tracing subscriber for the service `name` (the default
/// `OTEL_SERVICE_NAME`), exporting spans if the `OTEL_*` variables ask for it. Call once from
/// `main`, inside the Tokio runtime (the exporter runs on it); a second call is a no-op.
pub fn init_service(name: &str, default_filter: &str, json: bool) {
    init_with(default_filter, json, Tracing::from_env(name));
}

/// [`init_service`] with explicit tracing settings (tests export to their own receiver).
pub fn init_with(default_filter: &str, json: bool, tracing: Tracing) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // The log filter applies to the log lines only: a `RUST_LOG=warn` must not disable the
    // spans that carry the trace context on.
    // Colour only on a terminal: `cargo xtask up` and container runtimes send stdout to files,
    // where escape codes are noise for grep and for log shippers.
    let ansi = std::io::stdout().is_terminal();
    let fmt_layer = if json {
        fmt::layer()
            .with_ansi(false)
            .with_target(true)
            .json()
            .flatten_event(true)
            .with_filter(filter)
            .boxed()
    } else {
        fmt::layer()
            .with_ansi(ansi)
            .with_target(true)
            .compact()
            .with_filter(filter)
            .boxed()
    };
    let exporting = tracing.otlp_traces_endpoint.is_some();
    let provider = provider(&tracing);
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("orderflow"));
    // INFO and up: our spans, never the chatty internals of dependencies. Without export, log
    // events would be built into span events only to be dropped: let spans alone through, and
    // skip activating an OpenTelemetry context on every poll, which only other OpenTelemetry
    // instrumentation (none here) would read. The filter depends on the callsite only, so
    // its verdict is cached per callsite.
    let otel_layer = if exporting {
        otel_layer.with_filter(LevelFilter::INFO).boxed()
    } else {
        otel_layer
            .with_location(false)
            .with_threads(false)
            .with_context_activation(false)
            // The hint matters as much as the function: without it the layer could want any
            // level, so every `debug!` and `trace!` on a hot path would be checked at run time
            // (it took a gateway delivery from 127,000 to 200,000 instructions).
            .with_filter(
                filter_fn(|meta| meta.is_span() && *meta.level() <= Level::INFO)
                    .with_max_level_hint(LevelFilter::INFO),
            )
            .boxed()
    };
    let result = tracing_subscriber::registry()
        .with(fmt_layer)
        .with(otel_layer)
        .try_init();
    if result.is_ok() {
        EXPORTING.store(exporting, Ordering::Relaxed);
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        // Already set only if a second init got this far, which try_init rules out.
        let _ = PROVIDER.set(provider);
    }
    // Otherwise already initialised (tests start several apps in one process): keep the first
    // subscriber.
}

/// The tracer provider: a batch exporter over OTLP/HTTP when export is on, none otherwise (the
/// spans still get ids, for propagation, and are dropped when they end).
fn provider(tracing: &Tracing) -> SdkTracerProvider {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(tracing.service_name.clone())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(endpoint) = &tracing.otlp_traces_endpoint else {
        return builder.build();
    };
    // The async reqwest client shares the workspace's reqwest; it needs the processor that runs
    // on Tokio rather than the SDK's own thread, and rustls's provider installed.
    crate::http::install_crypto_provider();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint.clone())
        .with_timeout(Duration::from_secs(10))
        .build();
    let exporter = match exporter {
        Ok(exporter) => exporter,
        Err(e) => {
            // Tracing must never stop a service from starting; say why nothing is exported.
            eprintln!("span export disabled: cannot build the OTLP exporter: {e}");
            return builder.build();
        }
    };
    let mut config = opentelemetry_sdk::trace::BatchConfigBuilder::default();
    if let Some(interval) = tracing.export_interval {
        config = config.with_scheduled_delay(interval);
    }
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .with_batch_config(config.build())
        .build();
    builder.with_span_processor(processor).build()
}

/// Sends the spans still buffered and stops exporting. Call at the end of `main`.
pub async fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let provider = provider.clone();
        // The SDK blocks this thread until the processor (a task on this runtime) is done.
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
}

/// A request span that records method and path but never the query string, which may carry an
/// `access_token`. It continues the W3C trace context of the request's `traceparent` header, if
/// valid; otherwise it starts a trace.
pub fn span_without_query<B>(request: &http::Request<B>) -> tracing::Span {
    let span =
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path());
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    if parent.span().span_context().is_valid() {
        // Fails only without the OpenTelemetry layer (no subscriber installed): nothing to join.
        let _ = span.set_parent(parent);
    }
    span
}

/// Reads W3C trace context headers from HTTP headers.
struct HeaderExtractor<'h>(&'h http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Whether this process exports spans. Hot paths (the gateway's fan-out) make their spans only
/// then: one they would drop costs the same to make.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The W3C trace context a NATS message carries in its `traceparent`/`tracestate` headers
/// (put there by the outbox relay); an invalid or missing one gives an empty context.
pub fn nats_context(headers: &async_nats::HeaderMap) -> opentelemetry::Context {
    let value = |name| headers.get(name).map(async_nats::HeaderValue::as_str);
    trace_context(value("traceparent"), value("tracestate"))
}

/// The W3C trace context of a `traceparent` and `tracestate` already read from a message;
/// an invalid or missing one gives an empty context.
pub fn trace_context(
    traceparent: Option<&str>,
    tracestate: Option<&str>,
) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&TraceHeaders {
        traceparent,
        tracestate,
    })
}

/// Two trace headers read beforehand.
struct TraceHeaders<'h> {
    traceparent: Option<&'h str>,
    tracestate: Option<&'h str>,
}

impl Extractor for TraceHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent,
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}
