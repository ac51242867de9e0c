//! Browser calls through the engine: N calls, each a G.711 (PCMU) phone
//! bridged to a browser-like WebRTC client speaking Opus, so the engine does
//! ICE-lite, DTLS-SRTP and RTCP for every browser leg and transcodes Opus <->
//! PCMU both ways.
//!
//! `cargo run --release -p media --example webrtc_load -- --calls 100 --seconds 10`
//!
//! Options: `--drivers N` (2), `--workers N` (0: one per core), `--opus
//! narrow|full` (narrow: the engine's offer asks for narrowband Opus, as the
//! switch's does when the caller is G.711, and the clients send it, as a
//! browser's encoder does; full: the clients send fullband Opus),
//! `--driver-nice N` (10), `--port-first N`.
//!
//! The phones and the clients are driven by `--drivers` threads
//! (`driver-*`), each with its own 20 ms schedule and a poll over its
//! sockets, at a lower priority than the switch's threads (on a real site
//! the phones and browsers are elsewhere). The clients send one second of
//! pre-encoded speech-like Opus again and again (the phones the same in
//! PCMU) and do not decrypt what they receive: they count it from the clear
//! RTP header, timed by the kernel's receive stamp (loss, lateness). The
//! switch's CPU is read from /proc for its threads alone (`media-*`, the
//! engine workers) and the drivers' separately, over the measured window
//! after every client connected. Also reported: how late the engine's 20 ms
//! ticks ran (its own timekeeping), how late the drivers sent, loss and late
//! packets at the clients and at the phones, and the set-up time of each
//! browser leg (from its answer to ICE + DTLS up, as the engine saw it).
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use media::codec::opus::{OpusConfig, OpusEncoder};
use media::engine::{Direction, EngineConfig, LegConfig, MediaEngine};
use media::rtp::packet::RtpHeader;
use media::webrtc::{BrowserClient, OpusBandwidth, Reception, SessionEvent, WebRtcConfig, WebRtcGateway};
use mio::{Events, Interest, Poll, Token};
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};

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

/// One second of a voiced, noisy signal (a pitch sweeping around 120 Hz
/// with harmonics, plus noise), as in the codec benchmark: the encoders'
/// cost depends on the content, and silence or a constant would flatter
/// them.
fn speech_like(rate: u32) -> Vec<i16> {
    let mut seed = 12_345u32;
    let mut phase = 0.0f64;
    (0..rate)
        .map(|n| {
            let t = f64::from(n) / f64::from(rate);
            let f0 = 120.0 + 40.0 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            phase += 2.0 * std::f64::consts::PI * f0 / f64::from(rate);
            let voiced: f64 = (1..20).map(|h| (f64::from(h) * phase).sin() / f64::from(h)).sum();
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = f64::from(seed >> 16) / 65536.0 - 0.5;
            (4000.0 * voiced + 1500.0 * noise) as i16
        })
        .collect()
}

/// 50 frames of 20 ms each, pre-encoded: Opus (as a browser sends,
/// narrowband or fullband) and PCMU (the phones).
struct Audio {
    opus: Vec<Vec<u8>>,
    pcmu: Vec<Vec<u8>>,
}

struct Call {
    phone: mio::net::UdpSocket,
    phone_to: SocketAddr,
    client: BrowserClient,
    phone_heard: Reception,
}

/// Asks the kernel to stamp each datagram's arrival on `socket`.
fn stamp_arrivals(socket: RawFd) {
    if let Err(e) = setsockopt(socket, sockopt::ReceiveTimestampns, &true) {
        eprintln!("no receive timestamps: {e}");
    }
}

/// Reads one datagram without waiting, with when it reached the socket
/// (the kernel's stamp): a driver sharing the cores with the switch reads
/// late, and timing packets by the read would charge that to the switch.
fn recv_stamped(socket: RawFd, buf: &mut [u8], control: &mut Vec<u8>) -> Option<(usize, SocketAddr, Instant)> {
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let message = recvmsg::<SockaddrStorage>(socket, &mut iov, Some(control), MsgFlags::MSG_DONTWAIT).ok()?;
    let from = message
        .address
        .and_then(|a| a.as_sockaddr_in().map(|v4| SocketAddr::V4((*v4).into())))?;
    let stamp = message.cmsgs().find_map(|c| match c {
        ControlMessageOwned::ScmTimestampns(ts) => Some(ts),
        _ => None,
    });
    let (mono, wall) = (Instant::now(), SystemTime::now());
    let arrival = stamp.map_or(mono, |ts| {
        let at = UNIX_EPOCH + Duration::new(ts.tv_sec().max(0) as u64, ts.tv_nsec().max(0) as u32);
        mono - wall.duration_since(at).unwrap_or_default()
    });
    Some((message.bytes, from, arrival))
}

/// What one driver thread saw in the measured window.
#[derive(Default)]
struct DriverReport {
    clients: Reception,
    phones: Reception,
    /// How late each 20 ms send round started, sorted.
    send_lag: Vec<Duration>,
}

/// How often a driver reads what arrived.
const READ_EVERY: Duration = Duration::from_millis(2);

/// Shared flags: start of the measured window, end of the run.
struct Flags {
    measuring: AtomicBool,
    stop: AtomicBool,
    connected: AtomicUsize,
}

fn drive(mut calls: Vec<Call>, audio: Arc<Audio>, flags: Arc<Flags>, nice: i32) -> DriverReport {
    // The switch's threads come first on the shared cores: on a real site
    // the phones and browsers are elsewhere. (On Linux, with no process
    // named, this sets the calling thread's nice value alone.)
    if let Err(e) = rustix::process::setpriority_process(None, nice) {
        eprintln!("cannot lower the driver's priority: {e}");
    }
    let mut poll = Poll::new().unwrap();
    for (i, call) in calls.iter_mut().enumerate() {
        poll.registry()
            .register(&mut call.phone, Token(i), Interest::READABLE)
            .unwrap();
    }
    // The clients' sockets are polled through a second handle on each.
    let mut watched = Vec::with_capacity(calls.len());
    for (i, call) in calls.iter().enumerate() {
        let mut handle = mio::net::UdpSocket::from_std(call.client.raw_socket().try_clone().unwrap());
        poll.registry()
            .register(&mut handle, Token(calls.len() + i), Interest::READABLE)
            .unwrap();
        watched.push(handle);
    }
    let mut report = DriverReport::default();
    let mut measuring = false;
    let mut connected_here = 0;
    let count = calls.len();
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 2048];
    let mut control = nix::cmsg_space!(nix::sys::time::TimeSpec);
    for call in &calls {
        stamp_arrivals(call.phone.as_raw_fd());
        stamp_arrivals(call.client.raw_socket().as_raw_fd());
    }
    let mut packet = Vec::with_capacity(200);
    let mut seq: u64 = 0;
    let mut tick = Instant::now();
    let mut last_poll = Instant::now();
    while !flags.stop.load(Ordering::Relaxed) {
        // Reads at most every READ_EVERY: a wake-up per arriving packet
        // would cost the driver (on the switch's cores) more than the
        // packets; arrival times are as exact as that.
        if let Some(rest) = (last_poll + READ_EVERY).checked_duration_since(Instant::now()) {
            std::thread::sleep(rest);
        }
        last_poll = Instant::now();
        let wait = tick.saturating_duration_since(Instant::now());
        let wait = if connected_here < calls.len() {
            wait.min(Duration::from_millis(5))
        } else {
            wait
        };
        poll.poll(&mut events, Some(wait)).unwrap();
        let now = Instant::now();
        for event in events.iter() {
            let i = event.token().0;
            if let Some(call) = calls.get_mut(i) {
                while let Some((n, _, arrival)) = recv_stamped(call.phone.as_raw_fd(), &mut buf, &mut control) {
                    if let Ok(rtp) = media::rtp::packet::RtpPacket::new_checked(&buf[..n]) {
                        call.phone_heard
                            .rtp_packet(rtp.sequence(), rtp.timestamp(), 8000, arrival);
                    }
                }
            } else if let Some(call) = calls.get_mut(i - count) {
                let socket = call.client.raw_socket().as_raw_fd();
                while let Some((n, from, arrival)) = recv_stamped(socket, &mut buf, &mut control) {
                    call.client.receive(now, arrival, from, &buf[..n]).unwrap();
                }
            }
        }
        if !measuring && flags.measuring.load(Ordering::Relaxed) {
            measuring = true;
            for call in &mut calls {
                call.client.reset_reception();
                call.phone_heard = Reception::default();
            }
        }
        if connected_here < calls.len() {
            for call in &mut calls {
                if !call.client.is_connected() {
                    call.client.step(now).unwrap();
                }
            }
            let n = calls.iter().filter(|c| c.client.is_connected()).count();
            flags.connected.fetch_add(n - connected_here, Ordering::Relaxed);
            connected_here = n;
        }
        if now < tick {
            continue;
        }
        if measuring {
            report.send_lag.push(now - tick);
        }
        let frame = seq as usize % audio.opus.len();
        let (opus, pcmu) = (&audio.opus[frame], &audio.pcmu[frame % audio.pcmu.len()]);
        for call in &mut calls {
            if call.client.is_connected() {
                call.client.send_rtp(now, 111, seq, (seq * 960) as u32, opus);
            }
            // Sends it, and runs the client's timers (what arrives is read
            // as the poll reports it).
            call.client.poll(now).unwrap();
            packet.clear();
            RtpHeader {
                pt: 0,
                marker: false,
                seq: seq as u16,
                ts: (seq * 160) as u32,
                ssrc: 0x5151,
            }
            .emit(pcmu, &mut packet);
            let _ = call.phone.send_to(&packet, call.phone_to);
        }
        seq += 1;
        tick += Duration::from_millis(20);
    }
    for call in &calls {
        report.clients.add(call.client.reception());
        report.phones.add(&call.phone_heard);
    }
    report
}

fn main() {
    let calls = arg("--calls", 100) as usize;
    let seconds = arg("--seconds", 10);
    let drivers = arg("--drivers", 2).max(1) as usize;
    let nice = arg("--driver-nice", 10) as i32;
    let port_first = arg("--port-first", 30_000) as u16;
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let bandwidth = match std::env::args().skip_while(|a| a != "--opus").nth(1).as_deref() {
        Some("full") => OpusBandwidth::Full,
        _ => OpusBandwidth::Narrow,
    };
    let (engine, _engine_events) = MediaEngine::start(&EngineConfig {
        bind: loopback,
        port_first,
        port_last: port_first + (calls as u16) * 4 + 16,
        workers: arg("--workers", 0) as usize,
        inactivity: Duration::from_secs(60),
    })
    .unwrap();
    let engine = Arc::new(engine);
    let (gateway, mut events) = WebRtcGateway::new(WebRtcConfig::default(), engine.clone());

    // One second of speech-like audio, encoded once and sent again and
    // again (a browser's encoder is the browser's cost, not ours). Asked
    // for narrowband, a browser's encoder sends SILK narrowband: encoding
    // 8 kHz audio gives the same packets.
    let opus_rate = match bandwidth {
        OpusBandwidth::Narrow => 8000,
        OpusBandwidth::Full => 48_000,
    };
    let mut encoder = OpusEncoder::new(OpusConfig {
        sample_rate: opus_rate,
        bitrate: 32_000,
        ..Default::default()
    })
    .unwrap();
    let opus_frames = speech_like(opus_rate)
        .chunks_exact(opus_rate as usize / 50)
        .map(|f| {
            let mut p = Vec::new();
            encoder.encode(f, &mut p).unwrap();
            p
        })
        .collect();
    let pcmu_frames = speech_like(8000)
        .chunks_exact(160)
        .map(|f| {
            let mut p = Vec::new();
            media::codec::g711::ulaw_encode_frame(f, &mut p);
            p
        })
        .collect();
    let audio = Arc::new(Audio {
        opus: opus_frames,
        pcmu: pcmu_frames,
    });

    let flags = Arc::new(Flags {
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        connected: AtomicUsize::new(0),
    });
    let mut groups: Vec<Vec<Call>> = (0..drivers).map(|_| Vec::new()).collect();
    let mut answered = std::collections::HashMap::new();
    let start = Instant::now();
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
                // As SIP trunks and phones do; without it the engine would
                // also listen for in-band key tones in the phone's audio.
                telephone_event: Some(101),
                direction: Direction::SENDRECV,
            },
        );
        let offer = gateway.offer(&browser_leg, bandwidth).unwrap();
        let (mut client, answer) = BrowserClient::answer(&offer.sdp, loopback, Instant::now()).unwrap();
        answered.insert(browser_leg.id, Instant::now());
        let n = gateway.accept_answer(browser_leg.id, &answer).unwrap();
        engine.configure(browser_leg.id, media::webrtc::engine_leg_config(&n, &browser_leg));
        engine.bridge(phone_leg.id, browser_leg.id);
        client.count_only();
        groups[i % drivers].push(Call {
            phone: mio::net::UdpSocket::from_std(phone),
            phone_to: phone_leg.local,
            client,
            phone_heard: Reception::default(),
        });
    }
    let threads: Vec<_> = groups
        .into_iter()
        .enumerate()
        .map(|(i, group)| {
            let (audio, flags) = (audio.clone(), flags.clone());
            std::thread::Builder::new()
                .name(format!("driver-{i}"))
                .spawn(move || drive(group, audio, flags, nice))
                .unwrap()
        })
        .collect();

    let mut set_up = Vec::new();
    while flags.connected.load(Ordering::Relaxed) < calls {
        if start.elapsed() > Duration::from_secs(60) {
            eprintln!("only {} of {calls} connected", flags.connected.load(Ordering::Relaxed));
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("{calls} browser legs connected in {:?}", start.elapsed());
    // Let the jitter buffers and the RTCP timers settle before measuring.
    std::thread::sleep(Duration::from_secs(1));
    let switch = ["media-"];
    let (switch0, driver0, from) = (thread_cpu(&switch), thread_cpu(&["driver-"]), Instant::now());
    let ticks0 = engine.tick_lateness();
    flags.measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(seconds));
    let (switch1, driver1) = (thread_cpu(&switch), thread_cpu(&["driver-"]));
    let ticks = engine.tick_lateness().since(&ticks0);
    let wall = from.elapsed().as_secs_f64();
    flags.stop.store(true, Ordering::Relaxed);
    let mut clients = Reception::default();
    let mut phones = Reception::default();
    let mut lag = Vec::new();
    for t in threads {
        let r = t.join().unwrap();
        clients.add(&r.clients);
        phones.add(&r.phones);
        lag.extend(r.send_lag);
    }
    while let Ok(e) = events.try_recv() {
        if e.event == SessionEvent::Connected {
            if let Some(at) = answered.get(&e.session) {
                set_up.push(e.at.saturating_duration_since(*at));
            }
        }
    }
    set_up.sort();
    lag.sort();
    let pct = |v: &[Duration], p: usize| v.get(v.len() * p / 100).copied().unwrap_or_default();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let cpu = switch1 - switch0;
    println!(
        "calls={calls} seconds={wall:.1} switch_cpu_cores={:.3} per_call_pct_of_core={:.3} \
         driver_cpu_cores={:.3} send_lag_p99_ms={:.1} send_lag_max_ms={:.1}",
        cpu / wall,
        100.0 * cpu / wall / calls as f64,
        (driver1 - driver0) / wall,
        ms(pct(&lag, 99)),
        ms(lag.last().copied().unwrap_or_default()),
    );
    // The engine's own timekeeping: its 20 ms ticks (each sends a
    // transcoded frame) and how late they ran, whatever the drivers did.
    let share = |n: u64| 100.0 * n as f64 / ticks.total().max(1) as f64;
    println!(
        "  engine ticks={} late_over_5ms_pct={:.3} late_over_20ms_pct={:.3} late_over_40ms_pct={:.4}",
        ticks.total(),
        share(ticks.at_least(5)),
        share(ticks.at_least(20)),
        share(ticks.at_least(40)),
    );
    // Packets sent to each side in the window less those received: what
    // was lost or is still queued (a switch that keeps up holds about one
    // jitter buffer's worth).
    let sent = (wall * 50.0) as u64 * calls as u64;
    for (side, r) in [("clients", &clients), ("phones", &phones)] {
        println!(
            "  {side}: received={} of_sent={sent} missing_pct={:.2} late_over_40ms={} max_delay_ms={:.1}",
            r.packets,
            100.0 * sent.saturating_sub(r.packets) as f64 / sent as f64,
            r.late,
            ms(r.max_delay)
        );
    }
    println!(
        "  setup_p50_ms={:.1} setup_p99_ms={:.1} (includes the driver's own delay: every call is set up before any client steps)",
        ms(pct(&set_up, 50)),
        ms(pct(&set_up, 99))
    );
}
