//! HTTPS through `orderflow_runtime::http`: reqwest on rustls with ring's provider completes a
//! handshake and checks the server's chain, as the JWKS fetch and the OTLP exporter need in
//! production. The server is rustls's own on a thread, with a test CA and a certificate for
//! `localhost` and 127.0.0.1 from `tests/fixtures/` (made with openssl, valid until 2126; the
//! CA's key was not kept).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const TEST_CA: &[u8] = include_bytes!("fixtures/test-ca.pem");
const CERT: &[u8] = include_bytes!("fixtures/localhost.pem");
const KEY: &[u8] = include_bytes!("fixtures/localhost.key");

/// Answers one HTTPS request on 127.0.0.1 with `ok`, on a thread; returns the port. A client
/// that gives up during the handshake just ends the thread.
fn serve_once() -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(CERT).unwrap()],
            PrivateKeyDer::from_pem_slice(KEY).unwrap(),
        )
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let connection = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        let mut request = Vec::new();
        let mut buf = [0; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
        let _ = tls.write_all(response);
        tls.conn.send_close_notify();
        let _ = tls.flush();
    });
    port
}

#[tokio::test]
async fn a_client_fetches_over_https_from_a_server_its_roots_vouch_for() {
    let port = serve_once();
    let client = orderflow_runtime::http::client_builder()
        .tls_certs_only([reqwest::Certificate::from_pem(TEST_CA).unwrap()])
        .build()
        .unwrap();
    let response = client
        .get(format!("https://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn a_server_no_trusted_root_vouches_for_is_refused() {
    let port = serve_once();
    // The platform's roots only: the test CA is not among them.
    let error = orderflow_runtime::http::client()
        .get(format!("https://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err();
    // Refused for the certificate, not for want of a server.
    assert!(format!("{error:?}").contains("UnknownIssuer"), "{error:?}");
}
