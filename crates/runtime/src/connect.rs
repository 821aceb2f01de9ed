//! Connecting to NATS, the same way in every service. (PostgreSQL, which only the REST services
//! use, is connected by `orderflow_service::postgres`.)

/// A NATS client named `name`. `urls` is one server or a comma-separated cluster list; the client
/// fails over between them. NATS being down does not fail start-up: the client keeps retrying.
pub async fn nats(urls: &str, name: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connect(urls.split(',').map(str::trim).collect::<Vec<_>>())
        .await
}
