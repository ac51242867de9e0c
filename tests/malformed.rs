//! Malformed SIP never takes the switch down. Every file of
//! tests/corpus/malformed (written by scripts/gen-malformed-corpus.py) is sent
//! raw over UDP and over TCP; for each, either a `SIP/2.0 400 <reason>` comes
//! back within 1 s (for the size cases `513 Message Too Large`, RFC 3261
//! 21.5.13, is accepted as well), or nothing comes back and
//! `sip_messages_malformed_total` in /metrics has gone up. Afterwards a valid
//! OPTIONS still gets 200 on both transports and the process is alive.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{corpus_dir, Switch, SwitchConfig, Transport};

const METRIC: &str = "sip_messages_malformed_total";
/// The corpus' size cases are built for this limit.
const MAX_MESSAGE_SIZE: usize = 8192;
const SIZE_CASES: &[&str] = &[
    "oversize_header",
    "oversize_body",
    "over_max_message_size",
    "huge_content_length",
];

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir().join("malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "corpus too small in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn replace_all(data: &[u8], from: &str, to: &str) -> Vec<u8> {
    let from = from.as_bytes();
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to.as_bytes());
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fn fill(data: &[u8], local_port: u16, switch_port: u16, transport: Transport) -> Vec<u8> {
    let d = replace_all(data, "{LOCAL_PORT}", &local_port.to_string());
    let d = replace_all(&d, "{SWITCH_PORT}", &switch_port.to_string());
    replace_all(&d, "{TRANSPORT}", &transport.name().to_ascii_uppercase())
}

/// Sends `data` and returns whatever came back within `wait` (empty if nothing).
fn send_raw(switch: &Switch, transport: Transport, template: &[u8], wait: Duration) -> Vec<u8> {
    match transport {
        Transport::Udp => {
            let sock = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
            let port = sock.local_addr().unwrap().port();
            sock.send_to(&fill(template, port, switch.sip_port, transport), switch.sip_addr())
                .unwrap();
            sock.set_read_timeout(Some(wait)).unwrap();
            let mut buf = vec![0u8; 65536];
            match sock.recv_from(&mut buf) {
                Ok((n, _)) => buf[..n].to_vec(),
                Err(_) => Vec::new(),
            }
        }
        Transport::Tcp => {
            let mut s = TcpStream::connect(switch.sip_addr()).unwrap();
            let port = s.local_addr().unwrap().port();
            // The switch may close early on an oversize message: write errors are fine.
            let _ = s.write_all(&fill(template, port, switch.sip_port, transport));
            let got = read_response(&mut s, wait);
            if !got.is_empty() {
                return got;
            }
            // Nothing yet: maybe the switch still waits for the rest of a
            // truncated message. EOF tells it that nothing more is coming.
            let _ = s.shutdown(Shutdown::Write);
            read_response(&mut s, Duration::from_millis(500))
        }
    }
}

/// Reads until a blank line, EOF, an error or `wait`.
fn read_response(s: &mut TcpStream, wait: Duration) -> Vec<u8> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    got
}

fn status_line(resp: &[u8]) -> String {
    let text = String::from_utf8_lossy(resp);
    text.lines().next().unwrap_or_default().trim_end().to_string()
}

fn run_corpus(transport: Transport) {
    let switch = Switch::start(SwitchConfig {
        max_message_size: MAX_MESSAGE_SIZE,
        ..SwitchConfig::default()
    });
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for (name, data) in corpus() {
        let before = switch.metric_sum(METRIC);
        let resp = send_raw(&switch, transport, &data, Duration::from_secs(1));
        let outcome = if resp.is_empty() {
            // Silence is fine only if it was counted.
            let counted = common::poll_until(Duration::from_secs(1), || {
                (switch.metric_sum(METRIC) > before).then_some(())
            });
            if counted.is_some() {
                Ok(format!("dropped, {METRIC} {before} -> {}", switch.metric_sum(METRIC)))
            } else {
                Err(format!("no answer within 1 s and {METRIC} stayed at {before}"))
            }
        } else {
            let line = status_line(&resp);
            let mut parts = line.splitn(3, ' ');
            let (proto, code, reason) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            let code_ok = code == "400" || (code == "513" && SIZE_CASES.contains(&name.as_str()));
            if proto == "SIP/2.0" && code_ok && !reason.trim().is_empty() {
                Ok(format!("answered {line:?}"))
            } else {
                Err(format!(
                    "answered {line:?} (want `SIP/2.0 400 <reason>`)\n{}",
                    String::from_utf8_lossy(&resp)
                ))
            }
        };
        let alive = switch.try_http_get("/health").is_ok_and(|r| r.status == 200);
        let outcome = match (outcome, alive) {
            (o, true) => o,
            (_, false) => Err("switch stopped answering /health after this message".to_string()),
        };
        match &outcome {
            Ok(what) => table.push(format!("  ok    {name:<28} {what}")),
            Err(why) => {
                table.push(format!("  FAIL  {name:<28} {}", why.lines().next().unwrap_or_default()));
                failures.push(format!("{name}: {why}"));
            }
        }
    }
    eprintln!("malformed corpus over {}:\n{}", transport.name(), table.join("\n"));

    // Still serving on both transports, and still the same process.
    let mut switch = switch;
    switch.assert_alive();
    for t in [Transport::Udp, Transport::Tcp] {
        let ok = common::Sipp::new("options")
            .remote(switch.sip_addr())
            .transport(t)
            .calls(1)
            .timeout_secs(5)
            .run();
        if ok.exit_code != Some(0) || ok.successful != Some(1) {
            failures.push(format!(
                "valid OPTIONS over {} after the corpus failed:\n{}",
                t.name(),
                ok.report()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of the malformed corpus over {} failed:\n{}\n\n{}",
        failures.len(),
        transport.name(),
        table.join("\n"),
        failures.join("\n\n")
    );
}

#[test]
fn malformed_corpus_over_udp() {
    run_corpus(Transport::Udp);
}

#[test]
fn malformed_corpus_over_tcp() {
    run_corpus(Transport::Tcp);
}
