//! HTTP clients. reqwest is built with rustls but without a crypto provider (the workspace's
//! Cargo.toml says why); rustls then needs one installed for the process before a client is
//! built, or reqwest panics. Build clients here and that is taken care of: ring's provider, the
//! one async-nats's TLS already uses.

use std::sync::Once;

/// Installs ring as rustls's provider for the process, once. A provider installed before (by an
/// embedding program) is kept.
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `reqwest::Client::builder()`, with the crypto provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// A client with reqwest's defaults, like `reqwest::Client::new()`, which panics in the same
/// (unreachable) case: no TLS backend could be set up.
pub fn client() -> reqwest::Client {
    client_builder()
        .build()
        .expect("reqwest client with rustls on ring")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_build_with_the_ring_provider() {
        let _client = client();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
