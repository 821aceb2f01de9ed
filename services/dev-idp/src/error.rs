//! The one error type of the dev identity provider.

/// Why the dev identity provider could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum DevIdpError {
    /// It was started without the explicit opt-in; it must never run by accident.
    #[error(
        "the dev identity provider is disabled: it issues tokens to anyone who asks, so it only \
         starts with DEV_IDP_ENABLED=true or --enable-insecure-dev-idp (development only)"
    )]
    NotEnabled,
    /// The signing key could not be created or used.
    #[error("signing key: {0}")]
    Key(String),
    /// Binding or serving the HTTP listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}
