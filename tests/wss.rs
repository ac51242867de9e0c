//! HTTPS and SIP over secure WebSocket (WSS, RFC 7118) when `[http]` names
//! a certificate: the agent page comes over HTTPS (browsers give a page the
//! microphone only in a secure context), a WebSocket phone registers with
//! digest authentication over WSS and its binding is on that connection,
//! and plain HTTP on the port gets nothing. In headless Chromium the agent
//! page, served over HTTPS, logs in and its JsSIP registers over WSS.
#![allow(clippy::unwrap_used)]

mod browser_cdp;
mod common;
mod ws_phone;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use browser_cdp::{agent_log_in, agent_page_log, tone_wav, Browser};
use common::{Switch, SwitchConfig, READ_TOKEN};
use tokio_rustls::rustls::{self, ClientConfig, ClientConnection, StreamOwned};
use tungstenite::client::IntoClientRequest;

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn tls(switch: &Switch, config: &Arc<ClientConfig>) -> Tls {
    let name = "127.0.0.1".try_into().unwrap();
    let connection = ClientConnection::new(config.clone(), name).unwrap();
    let tcp = TcpStream::connect(switch.http_addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    StreamOwned::new(connection, tcp)
}

/// An HTTP/1.1 request over `stream`, read until the server closes.
fn request(mut stream: impl Read + Write, head: &str) -> String {
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    // A close without TLS close_notify ends the read with an error; what
    // came before it is the response.
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&response).into_owned()
}

/// A switch serving HTTPS with a new self-signed certificate for
/// 127.0.0.1, and a TLS client configuration that trusts it.
fn switch_with_tls(dir: &std::path::Path) -> (Switch, Arc<ClientConfig>) {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (certificate, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&certificate, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let switch = Switch::start(SwitchConfig {
        http_tls: Some((certificate, key)),
        ..SwitchConfig::for_sipp()
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(generated.cert.der().clone()).unwrap();
    let config = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    (switch, config)
}

/// The registrations the API lists, over TLS.
fn registrations(switch: &Switch, config: &Arc<ClientConfig>) -> String {
    request(
        tls(switch, config),
        &format!(
            "GET /api/registrations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {READ_TOKEN}\r\n\
             Connection: close\r\n\r\n"
        ),
    )
}

#[test]
fn a_websocket_phone_registers_over_wss_and_the_agent_page_comes_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (switch, config) = switch_with_tls(dir.path());

    let page = request(
        tls(&switch, &config),
        "GET /agent HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<title>Switchboard agent</title>"), "{page}");

    let stream = tls(&switch, &config);
    stream.sock.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let mut upgrade = format!("wss://{}/ws", switch.http_addr())
        .into_client_request()
        .unwrap();
    upgrade
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "sip".parse().unwrap());
    let (mut ws, response) = tungstenite::client::client(upgrade, stream).unwrap();
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("sip")
    );
    ws_phone::register_with_digest(&mut ws, "1001");

    let registrations = registrations(&switch, &config);
    assert!(registrations.starts_with("HTTP/1.1 200"), "{registrations}");
    assert!(
        registrations.contains("1001") && registrations.contains("transport=ws"),
        "the binding is the WebSocket phone's: {registrations}"
    );

    let mut plain = TcpStream::connect(switch.http_addr()).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let answer = request(
        &mut plain,
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(!answer.contains("200 OK"), "plain HTTP on the TLS port: {answer}");
}

#[test]
fn the_agent_page_over_https_registers_over_wss_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (switch, config) = switch_with_tls(dir.path());
    let microphone = dir.path().join("microphone.wav");
    tone_wav(&microphone, 5);
    // The certificate is trusted by no authority Chromium knows.
    let mut browser = Browser::open_with(
        &format!("https://{}/agent", switch.http_addr()),
        Some(&microphone),
        &["--ignore-certificate-errors"],
    );
    agent_log_in(&mut browser, "1001", "secret1001");
    assert!(
        browser.wait_for("window.agentPage.registered", Duration::from_secs(10)),
        "the page's phone did not register:\n{}",
        agent_page_log(&mut browser)
    );
    assert_eq!(
        browser.eval("window.isSecureContext && location.protocol"),
        serde_json::json!("https:")
    );
    let registrations = registrations(&switch, &config);
    assert!(
        registrations.contains("1001") && registrations.contains("transport=ws"),
        "the page's binding: {registrations}"
    );
}
