//! Media soak: N bridged G.711 calls through a [`MediaEngine`] on loopback,
//! with both phones of every call played by a generator in a child process,
//! so the engine's CPU is measured on its own.
//!
//! `cargo run --release -p media --example soak -- --calls 1000 --seconds 20`
//!
//! Options: `--calls N` (100), `--seconds S` measured (10), `--warmup W` (3),
//! `--workers K` engine workers (0: one per core), `--gen-threads T` (2),
//! `--port-first P` (20000; the engine uses 4 ports per call from there),
//! `--direct` (no engine: the phones talk to each other, the harness' floor),
//! `--inband` (negotiate no telephone-event, so the engine decodes every
//! packet for in-band DTMF; by default both legs have telephone-event 101),
//! `--record` (record every call in stereo, 8 kHz, into a temporary
//! directory that is removed at the end; `--keep` keeps it; its size and the
//! frames the writer could not take are reported).
//!
//! The generator binds the phones on 127.0.0.2 (ports from 10000, four per
//! call so the engine's RTCP to port + 1 hits no phone), each sending one 172-byte PCMU packet every 20 ms to its leg, the
//! calls spread across the tick. The payload carries the send time (ns from
//! the generator's base instant), a sequence number and an in-window flag;
//! the other phone records loss and latency (receive - send) for packets
//! sent inside the measured window, after a 0.5 s drain.
//!
//! Parent and child talk over pipes: the parent writes `caller_port agent_port`
//! per call on the child's stdin; the child prints `start` and `end` around
//! the measured window (the parent samples /proc there) and `result k=v ...`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use media::engine::{
    CallRecordingEvent, CallRecordingSpec, Direction, EngineConfig, LegConfig, MediaEngine, MediaEvent,
};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

const TICK: Duration = Duration::from_millis(20);
const PACKET: usize = 172;
const ENGINE_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const PHONE_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const PHONE_PORT_BASE: u16 = 10_000;

#[derive(Debug, Clone)]
struct Args {
    calls: usize,
    seconds: u64,
    warmup: u64,
    workers: usize,
    gen_threads: usize,
    port_first: u16,
    direct: bool,
    inband: bool,
    record: bool,
    keep: bool,
    generator: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        calls: 100,
        seconds: 10,
        warmup: 3,
        workers: 0,
        gen_threads: 2,
        port_first: 20_000,
        direct: false,
        inband: false,
        record: false,
        keep: false,
        generator: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse::<u64>().ok()).expect("numeric value");
        match flag.as_str() {
            "--calls" => a.calls = value() as usize,
            "--seconds" => a.seconds = value(),
            "--warmup" => a.warmup = value(),
            "--workers" => a.workers = value() as usize,
            "--gen-threads" => a.gen_threads = (value() as usize).max(1),
            "--port-first" => a.port_first = value() as u16,
            "--direct" => a.direct = true,
            "--inband" => a.inband = true,
            "--record" => a.record = true,
            "--keep" => a.keep = true,
            "--generator" => a.generator = true,
            other => panic!("unknown option {other}"),
        }
    }
    assert!(a.calls <= 13_000, "phone ports (4 per call from 10000) would run out");
    a
}

fn main() {
    let args = parse_args();
    if args.generator {
        generator(&args);
    } else {
        engine(&args);
    }
}

// ---------------------------------------------------------------- /proc

/// (user + system CPU in clock ticks, RSS in KiB) of a process.
fn proc_sample(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // rest[0] is field 3 (state): utime is field 14, stime 15, rss (pages) 24.
    let cpu = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    let rss_kib = f.get(21).copied().unwrap_or(0) * 4;
    (cpu, rss_kib)
}

/// System-wide UDP counters from /proc/net/snmp (InErrors, RcvbufErrors, SndbufErrors).
fn udp_errors() -> [u64; 3] {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return [0; 3];
    };
    let map: HashMap<&str, u64> = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .map(|(n, v)| (n, v.parse().unwrap_or(0)))
        .collect();
    ["InErrors", "RcvbufErrors", "SndbufErrors"].map(|k| map.get(k).copied().unwrap_or(0))
}

/// CPU ticks (user + system) of every process but these two, by pid; the
/// difference of two samples is what the rest of the machine ran meanwhile
/// (processes that exited in between are missed, so it is a lower bound).
fn others_cpu(skip: [u32; 2]) -> HashMap<u32, u64> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !skip.contains(pid))
        .map(|pid| (pid, proc_sample(pid).0))
        .collect()
}

const TICKS_PER_SEC: f64 = 100.0; // USER_HZ on Linux

// ---------------------------------------------------------------- engine side

fn engine(args: &Args) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pid = std::process::id();
    let mut legs = Vec::new();
    let (engine, mut events) = if args.direct {
        (None, None)
    } else {
        let config = EngineConfig {
            bind: IpAddr::V4(ENGINE_IP),
            port_first: args.port_first,
            port_last: (usize::from(args.port_first) + args.calls * 4 + 64).min(65_535) as u16,
            workers: args.workers,
            inactivity: Duration::from_secs(3600),
        };
        let (e, rx) = MediaEngine::start(&config).expect("engine starts");
        (Some(e), Some(rx))
    };
    std::thread::sleep(Duration::from_millis(100));
    let (_, rss_before) = proc_sample(pid);
    let mut ports = Vec::new();
    let record_dir = std::env::temp_dir().join(format!("switchboard-soak-{pid}"));
    let setup_start = Instant::now();
    for call in 0..args.calls {
        let phone = |side: usize| SocketAddr::new(IpAddr::V4(PHONE_IP), PHONE_PORT_BASE + (call * 4 + side * 2) as u16);
        let Some(engine) = &engine else {
            ports.push((phone(1).port(), phone(0).port()));
            continue;
        };
        let group = call as u64 + 1;
        let a = engine.allocate(group).expect("caller leg");
        let b = engine.allocate(group).expect("agent leg");
        for (leg, side) in [(a, 0), (b, 1)] {
            let config = LegConfig {
                remote_rtp: Some(phone(side)),
                remote_rtcp: None,
                rtcp_mux: false,
                payload_type: 0,
                clock_rate: 8000,
                codec: "PCMU".into(),
                telephone_event: (!args.inband).then_some(101),
                direction: Direction::SENDRECV,
            };
            engine.configure(leg.id, config);
        }
        engine.bridge(a.id, b.id);
        if args.record {
            engine.record_call(a.id, Some(b.id), recording_spec(&record_dir, call));
        }
        legs.push((a.id, b.id));
        ports.push((a.local.port(), b.local.port()));
    }
    let setup = setup_start.elapsed();

    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .args(["--generator", "--calls", &args.calls.to_string()])
        .args([
            "--seconds",
            &args.seconds.to_string(),
            "--warmup",
            &args.warmup.to_string(),
        ])
        .args(["--gen-threads", &args.gen_threads.to_string()])
        .args(args.direct.then_some("--direct"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("generator starts");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for (a, b) in &ports {
            writeln!(stdin, "{a} {b}").expect("to generator");
        }
    }
    let child_pid = child.id();
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut start = None;
    let mut end = None;
    let mut result = HashMap::new();
    for line in stdout.lines() {
        let line = line.expect("from generator");
        let sample = || {
            (
                Instant::now(),
                proc_sample(pid),
                proc_sample(child_pid),
                udp_errors(),
                others_cpu([pid, child_pid]),
            )
        };
        match line.as_str() {
            "start" => start = Some(sample()),
            "end" => end = Some(sample()),
            l if l.starts_with("result ") => {
                for kv in l["result ".len()..].split_whitespace() {
                    if let Some((k, v)) = kv.split_once('=') {
                        result.insert(k.to_string(), v.to_string());
                    }
                }
            }
            other => eprintln!("generator: {other}"),
        }
    }
    let status = child.wait().expect("generator exits");
    let (Some(start), Some((t1, (cpu1, rss_after), (gcpu1, _), err1, busy1))) = (start, end) else {
        panic!("generator ended early: {status}");
    };
    let (t0, (cpu0, _), (gcpu0, _), err0, busy0) = start;
    let wall = t1.duration_since(t0).as_secs_f64();
    let cpu_pct = (cpu1 - cpu0) as f64 / TICKS_PER_SEC / wall * 100.0;
    let gen_pct = (gcpu1 - gcpu0) as f64 / TICKS_PER_SEC / wall * 100.0;
    // Everything else the machine ran meanwhile (other builds, tests).
    let others: u64 = busy1
        .iter()
        .map(|(p, t)| t - busy0.get(p).copied().unwrap_or(0).min(*t))
        .sum();
    let others_pct = others as f64 / TICKS_PER_SEC / wall * 100.0;

    // Release every leg and collect the engine's own counters.
    let mut totals = [0u64; 4];
    let mut recorded = Recorded::default();
    if let Some(engine) = engine {
        for (a, b) in &legs {
            if args.record {
                engine.stop_call_recording(*a);
            }
            engine.release(*a);
            engine.release(*b);
        }
        // Wait for every Closed event before dropping the engine: a worker
        // that finds Shutdown in the same batch as Remove returns without
        // flushing the Closed events (see the performance notes).
        let rx = events.as_mut().expect("events");
        let (mut closed, deadline) = (0, Instant::now() + Duration::from_secs(5));
        let deadline = deadline + Duration::from_secs(if args.record { 60 } else { 0 });
        let recordings = if args.record { legs.len() } else { 0 };
        while (closed < legs.len() * 2 || recorded.files < recordings) && Instant::now() < deadline {
            match rx.try_recv() {
                Ok(MediaEvent::CallRecording(e)) => recorded.add(&e),
                Ok(MediaEvent::Closed { stats, .. }) => {
                    closed += 1;
                    totals[0] += stats.received;
                    totals[1] += stats.sent;
                    totals[2] += stats.rejected_source;
                    totals[3] += stats.malformed + stats.unknown_payload_type;
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        drop(engine);
    }

    let get = |k: &str| result.get(k).map_or("?", String::as_str).to_string();
    let sent: f64 = get("sent").parse().unwrap_or(0.0);
    let received: f64 = get("received").parse().unwrap_or(0.0);
    let loss = if sent > 0.0 {
        (sent - received) / sent * 100.0
    } else {
        0.0
    };
    let per_call = (rss_after.saturating_sub(rss_before)) as f64 / args.calls.max(1) as f64;
    let mode = if args.direct { "direct (no engine)" } else { "engine" };
    println!("mode                {mode}, workers {} on {cores} cores", args.workers);
    println!("calls               {} (setup {setup:?})", args.calls);
    println!("measured            {wall:.2} s after {} s warm-up", args.warmup);
    println!("packets sent        {sent} (in window, both directions)");
    println!(
        "packets received    {received} (reordered/duplicate {})",
        get("reordered")
    );
    println!("loss                {loss:.4} %");
    println!(
        "latency us          p50 {} p99 {} p99.9 {} max {}",
        get("p50_us"),
        get("p99_us"),
        get("p999_us"),
        get("max_us")
    );
    println!(
        "generator           late sends >2 ms {} (max {} us), CPU {gen_pct:.1} % of one core",
        get("late"),
        get("max_late_us")
    );
    println!(
        "engine CPU          {cpu_pct:.1} % of one core ({:.1} % of {cores})",
        cpu_pct / cores as f64
    );
    println!("other processes     {others_pct:.1} % of one core (other processes alive at the end)");
    println!("engine RSS          before {rss_before} KiB, after {rss_after} KiB, {per_call:.1} KiB per call");
    if args.record {
        let secs = recorded.ms as f64 / 1000.0;
        println!(
            "recordings          {} files ({} failed), {:.1} MB of audio, {:.0} s recorded, {:.2} MB/s over the run, \
             frames dropped {} (writer behind) late {}",
            recorded.files,
            recorded.failed,
            recorded.bytes as f64 / 1e6,
            secs,
            recorded.bytes as f64 / 1e6 / (secs / args.calls.max(1) as f64).max(1e-9),
            recorded.dropped,
            recorded.late
        );
        if !args.keep {
            let _ = std::fs::remove_dir_all(&record_dir);
        }
    }
    println!(
        "UDP errors (system) InErrors +{} RcvbufErrors +{} SndbufErrors +{}",
        err1[0] - err0[0],
        err1[1] - err0[1],
        err1[2] - err0[2]
    );
    println!(
        "engine counters     received {} sent {} rejected-source {} bad {}",
        totals[0], totals[1], totals[2], totals[3]
    );
    println!(
        "SUMMARY mode={} calls={} secs={wall:.1} sent={sent} received={received} loss_pct={loss:.4} p50_us={} \
         p99_us={} p999_us={} max_us={} cpu_pct={cpu_pct:.1} gen_cpu_pct={gen_pct:.1} rss_kib={rss_after} \
         kib_per_call={per_call:.1} late={} others_pct={others_pct:.0} record={} rec_dropped={} rec_bytes={}",
        if args.direct { "direct" } else { "engine" },
        args.calls,
        get("p50_us"),
        get("p99_us"),
        get("p999_us"),
        get("max_us"),
        get("late"),
        args.record,
        recorded.dropped,
        recorded.bytes
    );
}

/// Where call `n`'s recording goes, and how.
fn recording_spec(dir: &std::path::Path, n: usize) -> CallRecordingSpec {
    let id = format!("soak-{n}");
    CallRecordingSpec {
        spec: recordings::RecorderSpec {
            wav: recordings::recording_path(dir, recordings::Date::from_unix_ms(0), "soak", &id),
            mono_mix: None,
            sample_rate: 8000,
            layout: recordings::ChannelLayout::CallerLeftAgentRight,
        },
        sidecar: recordings::Sidecar::new(&id, 0),
    }
}

/// What the recordings' final sidecars say, summed.
#[derive(Default)]
struct Recorded {
    files: usize,
    failed: usize,
    bytes: u64,
    ms: u64,
    dropped: u64,
    late: u64,
}

impl Recorded {
    fn add(&mut self, e: &CallRecordingEvent) {
        let sidecar = match e {
            CallRecordingEvent::Stopped { sidecar, .. } => sidecar,
            CallRecordingEvent::Failed { sidecar, reason, .. } => {
                self.failed += 1;
                eprintln!("recording failed: {reason}");
                match sidecar {
                    Some(s) => s,
                    None => {
                        self.files += 1;
                        return;
                    }
                }
            }
            CallRecordingEvent::Started { .. } => return,
        };
        self.files += 1;
        self.bytes += sidecar.bytes;
        self.ms += sidecar.duration_ms;
        self.dropped += sidecar.quality.left.dropped_frames + sidecar.quality.right.dropped_frames;
        self.late += sidecar.quality.left.late_frames + sidecar.quality.right.late_frames;
    }
}

// ---------------------------------------------------------------- generator side

/// Log-linear histogram of nanoseconds: exact below 128, then 64 buckets per
/// power of two (under 1.6 % error).
struct Histogram {
    counts: Vec<u64>,
    max: u64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: vec![0; 128 + 57 * 64],
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < 128 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros() as usize; // >= 7
        128 + (e - 7) * 64 + ((v >> (e - 6)) as usize - 64)
    }

    /// Upper bound of a bucket.
    fn value(i: usize) -> u64 {
        if i < 128 {
            return i as u64;
        }
        let (e, m) = ((i - 128) / 64 + 7, (i - 128) % 64 + 64);
        ((m as u64 + 1) << (e - 6)) - 1
    }

    fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.max = self.max.max(v);
    }

    fn merge(&mut self, o: &Histogram) {
        self.counts.iter_mut().zip(&o.counts).for_each(|(a, b)| *a += b);
        self.max = self.max.max(o.max);
    }

    fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.counts.iter().sum();
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
}

struct Phone {
    socket: UdpSocket,
    offset: Duration,
    seq: u32,
    last_received: Option<u32>,
    buf: [u8; PACKET],
}

#[derive(Default)]
struct Counts {
    sent: u64,
    received: u64,
    reordered: u64,
    late: u64,
    max_late: Duration,
}

fn generator(args: &Args) {
    let lines: Vec<(u16, u16)> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    assert_eq!(lines.len(), args.calls, "one line per call");
    let base = Instant::now();
    let t0 = base + Duration::from_millis(300);
    let window = (t0 + Duration::from_secs(args.warmup), Duration::from_secs(args.seconds));
    let threads: Vec<_> = (0..args.gen_threads)
        .map(|t| {
            let mine: Vec<(usize, u16, u16)> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| i % args.gen_threads == t)
                .map(|(i, &(a, b))| (i, a, b))
                .collect();
            let (calls, direct) = (args.calls, args.direct);
            std::thread::spawn(move || phones(base, t0, window, (calls, direct), &mine))
        })
        .collect();
    let out = std::io::stdout();
    std::thread::sleep(window.0.saturating_duration_since(Instant::now()));
    writeln!(out.lock(), "start").expect("stdout");
    std::thread::sleep((window.0 + window.1).saturating_duration_since(Instant::now()));
    writeln!(out.lock(), "end").expect("stdout");
    let mut hist = Histogram::new();
    let mut c = Counts::default();
    for t in threads {
        let (h, n) = t.join().expect("generator thread");
        hist.merge(&h);
        c.sent += n.sent;
        c.received += n.received;
        c.reordered += n.reordered;
        c.late += n.late;
        c.max_late = c.max_late.max(n.max_late);
    }
    let us = |q: f64| format!("{:.1}", hist.quantile(q) as f64 / 1000.0);
    writeln!(
        out.lock(),
        "result sent={} received={} reordered={} p50_us={} p99_us={} p999_us={} max_us={:.1} late={} max_late_us={}",
        c.sent,
        c.received,
        c.reordered,
        us(0.5),
        us(0.99),
        us(0.999),
        hist.max as f64 / 1000.0,
        c.late,
        c.max_late.as_micros()
    )
    .expect("stdout");
}

/// Plays the phones of some calls until the window ends plus a drain.
fn phones(
    base: Instant,
    t0: Instant,
    (window_start, window_len): (Instant, Duration),
    (total_calls, direct): (usize, bool),
    calls: &[(usize, u16, u16)],
) -> (Histogram, Counts) {
    let window_end = window_start + window_len;
    let mut poll = Poll::new().expect("poll");
    let mut phones = Vec::new();
    for &(i, caller_leg, agent_leg) in calls {
        for (side, leg_port) in [(0usize, caller_leg), (1, agent_leg)] {
            let local = SocketAddr::new(IpAddr::V4(PHONE_IP), PHONE_PORT_BASE + (i * 4 + side * 2) as u16);
            // Direct mode passes the other phone's port instead of the leg's.
            let ip = if direct { PHONE_IP } else { ENGINE_IP };
            let socket = UdpSocket::bind(local).expect("bind phone");
            socket
                .connect(SocketAddr::new(IpAddr::V4(ip), leg_port))
                .expect("connect");
            // Spread the calls over the tick; the agent half a tick later.
            let tick_ns = TICK.as_nanos() as u64;
            let offset_ns = (tick_ns * i as u64 / total_calls as u64 + tick_ns / 2 * side as u64) % tick_ns;
            let mut buf = [0xffu8; PACKET];
            buf[..2].copy_from_slice(&[0x80, 0]);
            buf[8..12].copy_from_slice(&((i * 2 + side) as u32).to_be_bytes());
            phones.push(Phone {
                socket,
                offset: Duration::from_nanos(offset_ns),
                seq: 0,
                last_received: None,
                buf,
            });
        }
    }
    phones.sort_by_key(|p| p.offset);
    for (n, p) in phones.iter_mut().enumerate() {
        poll.registry()
            .register(&mut p.socket, Token(n), Interest::READABLE)
            .expect("register");
    }
    let mut events = Events::with_capacity(1024);
    let mut hist = Histogram::new();
    let mut c = Counts::default();
    let mut rbuf = [0u8; 2048];
    let (mut tick, mut next) = (0u32, 0usize);
    let stop = window_end + Duration::from_millis(500);
    loop {
        let now = Instant::now();
        if now >= stop {
            break;
        }
        // Send every phone whose slot has come (at most one tick's worth
        // before the sockets are read again).
        for _ in 0..phones.len() {
            let slot = t0 + TICK * tick + phones[next].offset;
            if now >= window_end || slot > now {
                break;
            }
            let late = now - slot;
            if late > Duration::from_millis(2) {
                c.late += 1;
            }
            c.max_late = c.max_late.max(late);
            let in_window = now >= window_start;
            let p = &mut phones[next];
            p.seq = p.seq.wrapping_add(1);
            let sent_at = Instant::now();
            let b = &mut p.buf;
            b[2..4].copy_from_slice(&(p.seq as u16).to_be_bytes());
            b[4..8].copy_from_slice(&(p.seq.wrapping_mul(160)).to_be_bytes());
            b[12..20].copy_from_slice(&(sent_at.duration_since(base).as_nanos() as u64).to_be_bytes());
            b[20..24].copy_from_slice(&p.seq.to_be_bytes());
            b[24] = u8::from(in_window);
            if p.socket.send(b).is_ok() && in_window {
                c.sent += 1;
            }
            next += 1;
            if next == phones.len() {
                next = 0;
                tick += 1;
            }
        }
        let due = if now < window_end {
            t0 + TICK * tick + phones[next].offset
        } else {
            stop
        };
        let timeout = due.saturating_duration_since(Instant::now());
        if poll.poll(&mut events, Some(timeout)).is_err() {
            continue;
        }
        for event in events.iter() {
            let p = &mut phones[event.token().0];
            while let Ok(len) = p.socket.recv(&mut rbuf) {
                let at = Instant::now().duration_since(base).as_nanos() as u64;
                if len < 25 {
                    continue;
                }
                let field = |r: std::ops::Range<usize>| rbuf[r].iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
                let (sent_ns, seq) = (field(12..20), field(20..24) as u32);
                if p.last_received.is_some_and(|last| seq <= last) {
                    c.reordered += 1;
                }
                p.last_received = Some(p.last_received.map_or(seq, |l| l.max(seq)));
                if rbuf[24] == 1 {
                    c.received += 1;
                    hist.record(at.saturating_sub(sent_ns));
                }
            }
        }
    }
    (hist, c)
}
