//! Browser calls through the WebRTC gateway and the engine: N calls, each a
//! G.711 (PCMU) phone bridged to a browser-like WebRTC client speaking Opus,
//! so the engine transcodes Opus <-> PCMU both ways and the gateway does
//! ICE-lite, DTLS-SRTP and RTCP for every browser leg.
//!
//! `cargo run --release -p media --example webrtc_load -- --calls 100 --seconds 10`
//!
//! The phones and the clients run on this process's main thread; the CPU of
//! the switch's side is read from /proc for its threads alone (`media-*`,
//! the engine workers, and `webrtc`, the gateway), over the measured window
//! after every client connected. Also reported: the set-up time of each
//! browser leg (from its answer to ICE + DTLS up, as the gateway saw it) and
//! the packets the clients and phones received.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use media::codec::{Codec, Encoder};
use media::engine::{Direction, EngineConfig, LegConfig, MediaEngine};
use media::rtp::packet::RtpHeader;
use media::webrtc::{BrowserClient, SessionEvent, WebRtcConfig, WebRtcGateway};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) of this process's threads whose name starts
/// with one of `prefixes`.
fn thread_cpu(prefixes: &[&str]) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if !prefixes.iter().any(|p| comm.trim().starts_with(p)) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // Fields after the command name, which is in parentheses.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let stime: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        total += (utime + stime) / tick;
    }
    total
}

struct Call {
    phone: UdpSocket,
    phone_to: std::net::SocketAddr,
    client: BrowserClient,
    phone_received: u64,
}

fn main() {
    let calls = arg("--calls", 100) as usize;
    let seconds = arg("--seconds", 10);
    let port_first = arg("--port-first", 30_000) as u16;
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let (engine, _engine_events) = MediaEngine::start(&EngineConfig {
        bind: loopback,
        port_first,
        port_last: port_first + (calls as u16) * 4 + 16,
        workers: arg("--workers", 0) as usize,
        inactivity: Duration::from_secs(60),
    })
    .unwrap();
    let (gateway, mut events) = WebRtcGateway::start(WebRtcConfig {
        bind: loopback,
        public: None,
    })
    .unwrap();

    let mut all = Vec::with_capacity(calls);
    let mut answered = std::collections::HashMap::new();
    for i in 0..calls {
        let phone_leg = engine.allocate(i as u64).unwrap();
        let browser_leg = engine.allocate(i as u64).unwrap();
        let phone = UdpSocket::bind((loopback, 0)).unwrap();
        phone.set_nonblocking(true).unwrap();
        engine.configure(
            phone_leg.id,
            LegConfig {
                remote_rtp: Some(phone.local_addr().unwrap()),
                remote_rtcp: None,
                rtcp_mux: false,
                payload_type: 0,
                clock_rate: 8000,
                codec: "PCMU".into(),
                telephone_event: None,
                direction: Direction::SENDRECV,
            },
        );
        let offer = gateway.offer(browser_leg.id, browser_leg.local).unwrap();
        let (client, answer) = BrowserClient::answer(&offer.sdp, loopback, Instant::now()).unwrap();
        answered.insert(browser_leg.id, Instant::now());
        let n = gateway.accept_answer(browser_leg.id, &answer).unwrap();
        engine.configure(
            browser_leg.id,
            LegConfig {
                remote_rtp: Some(offer.engine_side),
                remote_rtcp: Some(offer.engine_side),
                rtcp_mux: true,
                payload_type: n.payload_type,
                clock_rate: n.clock_rate,
                codec: n.codec.clone(),
                telephone_event: n.telephone_event,
                direction: Direction::SENDRECV,
            },
        );
        engine.bridge(phone_leg.id, browser_leg.id);
        let mut client = client;
        client.count_only();
        all.push(Call {
            phone,
            phone_to: phone_leg.local,
            client,
            phone_received: 0,
        });
    }

    // One 20 ms frame of a tone in each codec, sent again and again.
    let pcm48: Vec<i16> = (0..960)
        .map(|i| (6000.0 * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 48_000.0).sin()) as i16)
        .collect();
    let mut opus = Vec::new();
    Encoder::new(Codec::Opus).unwrap().encode(&pcm48, &mut opus).unwrap();
    let pcmu = vec![0x55u8; 160];

    let mut set_up = Vec::new();
    let mut connected = 0;
    let start = Instant::now();
    let mut measuring: Option<(Instant, f64)> = None;
    let mut tick = Instant::now();
    let mut seq: u64 = 0;
    let mut buf = [0u8; 2048];
    let mut packet = Vec::with_capacity(200);
    loop {
        let now = Instant::now();
        while let Ok(e) = events.try_recv() {
            if e.event == SessionEvent::Connected {
                connected += 1;
                if let Some(at) = answered.get(&e.session) {
                    set_up.push(e.at.saturating_duration_since(*at));
                }
            }
        }
        if measuring.is_none() && connected == calls {
            eprintln!("{calls} browser legs connected in {:?}", start.elapsed());
            measuring = Some((now, thread_cpu(&["media-", "webrtc"])));
        }
        if now >= tick {
            for call in &mut all {
                if call.client.is_connected() {
                    call.client.send_rtp(now, 111, seq, (seq * 960) as u32, &opus);
                }
                packet.clear();
                RtpHeader {
                    pt: 0,
                    marker: false,
                    seq: seq as u16,
                    ts: (seq * 160) as u32,
                    ssrc: 0x5151,
                }
                .emit(&pcmu, &mut packet);
                let _ = call.phone.send_to(&packet, call.phone_to);
            }
            seq += 1;
            tick += Duration::from_millis(20);
        }
        for call in &mut all {
            call.client.step(now).unwrap();
            while call.phone.recv_from(&mut buf).is_ok() {
                call.phone_received += 1;
            }
        }
        if let Some((from, cpu0)) = measuring {
            if now.duration_since(from) >= Duration::from_secs(seconds) {
                let cpu = thread_cpu(&["media-", "webrtc"]) - cpu0;
                let wall = now.duration_since(from).as_secs_f64();
                let driver = thread_cpu(&["webrtc_load"]);
                set_up.sort();
                let pct = |p: usize| set_up.get(set_up.len() * p / 100).copied().unwrap_or_default();
                let received: u64 = all.iter().map(|c| c.client.received_count()).sum();
                let phones: u64 = all.iter().map(|c| c.phone_received).sum();
                println!(
                    "calls={calls} seconds={wall:.1} switch_cpu_cores={:.3} per_call_pct_of_core={:.3} \
                     setup_p50_ms={:.1} setup_p99_ms={:.1} client_packets={received} phone_packets={phones} \
                     driver_cpu_s={driver:.1}",
                    cpu / wall,
                    100.0 * cpu / wall / calls as f64,
                    pct(50).as_secs_f64() * 1e3,
                    pct(99).as_secs_f64() * 1e3,
                );
                return;
            }
        }
        if start.elapsed() > Duration::from_secs(60 + seconds) {
            eprintln!("only {connected} of {calls} connected");
            std::process::exit(1);
        }
        let sleep = tick
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(2));
        std::thread::sleep(sleep);
    }
}
