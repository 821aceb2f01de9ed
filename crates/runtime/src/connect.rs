//! Connecting to NATS, the same way in every service. (PostgreSQL, which only the REST services
//! use, is connected by `orderflow_service::postgres`.)

/// A NATS client named `name`. `urls` is one server or a comma-separated cluster list; the client
/// fails over between them. NATS being down does not fail start-up: the client keeps retrying.
pub async fn nats(urls: &str, name: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    with_url_credentials(async_nats::ConnectOptions::new(), urls)
        .name(name)
        .retry_on_initial_connect()
        .connect(urls.split(',').map(str::trim).collect::<Vec<_>>())
        .await
}

/// What a NATS URL says about logging in: a user and password (`nats://user:pass@host`) or a
/// token (`nats://token@host`), percent-decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum UrlCredentials {
    /// `user:password@`.
    UserPassword(String, String),
    /// `token@`.
    Token(String),
}

/// The credentials of the first of `urls` (comma separated) that has any.
pub fn url_credentials(urls: &str) -> Option<UrlCredentials> {
    let server = urls
        .split(',')
        .filter_map(|url| url.trim().parse::<async_nats::ServerAddr>().ok())
        .find(|server| server.username().is_some())?;
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(server.username()?);
    Some(match server.password() {
        Some(password) => UrlCredentials::UserPassword(user, decode(password)),
        None => UrlCredentials::Token(user),
    })
}

/// `options` with the credentials of `urls`: async-nats (0.52) ignores credentials written in
/// a URL, so a server that requires them would refuse every service.
pub fn with_url_credentials(
    options: async_nats::ConnectOptions,
    urls: &str,
) -> async_nats::ConnectOptions {
    match url_credentials(urls) {
        Some(UrlCredentials::UserPassword(user, password)) => {
            options.user_and_password(user, password)
        }
        Some(UrlCredentials::Token(token)) => options.token(token),
        None => options,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_first_url_that_has_them_decoded() {
        assert_eq!(url_credentials("nats://127.0.0.1:4222"), None);
        assert_eq!(
            url_credentials("nats://127.0.0.1:4222, nats://gw:p%40ss@10.0.0.2:4222"),
            Some(UrlCredentials::UserPassword("gw".into(), "p@ss".into()))
        );
        assert_eq!(
            url_credentials("nats://s3cret@127.0.0.1:4222"),
            Some(UrlCredentials::Token("s3cret".into()))
        );
    }
}
