//! Anchored media end to end: a SIPp caller (trunk) calls agent 1001 (SIPp,
//! digest registered) through the switch and plays SIPp's g711a.pcap (PCMA)
//! and the RFC 4733 digits 1, 5 and # to the switch's caller leg; the agent's
//! SDP answer names a UDP socket of this test, which records every packet the
//! switch relays from its agent leg.
//!
//! - `audio_and_dtmf_are_relayed_unchanged`: every packet arrives, from the
//!   agent leg's port, PCMA as PT 8 and events as PT 101, payloads byte for
//!   byte as in the pcaps, one SSRC and one continuous sequence, digits 1 5 #
//!   with their end packets.
//! - `agent_leg_latches_on_the_agents_first_packet`: the agent's SDP names a
//!   port nobody reads from; the test's socket sends RTP to the agent leg
//!   first, and the caller's media then goes there, not to the SDP port.
//! - `packets_from_a_third_address_are_not_relayed`: garbage and RTP with
//!   another SSRC sent to the caller leg from another socket while the
//!   caller's stream flows are dropped; the call completes and /health is OK.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{register_sipp_agent, Sipp, SippOutcome, SippRunning, Switch, SwitchConfig, Transport};

const PCAP_DIR: &str = "/usr/share/sip-tester";
/// What caller_plays_media.xml plays, in order.
const PLAYED: [&str; 4] = [
    "g711a.pcap",
    "dtmf_2833_1.pcap",
    "dtmf_2833_5.pcap",
    "dtmf_2833_pound.pcap",
];
const PCMA: u8 = 8;
const EVENT: u8 = 101;

// ---------------------------------------------------------------------------
// RTP and pcap
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rtp {
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

impl Rtp {
    /// A version 2 packet (CSRCs, extension and padding handled).
    fn parse(b: &[u8]) -> Option<Rtp> {
        if b.len() < 12 || b[0] >> 6 != 2 {
            return None;
        }
        let mut start = 12 + 4 * usize::from(b[0] & 0x0f);
        if b[0] & 0x10 != 0 {
            let ext = b.get(start + 2..start + 4)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
        }
        let mut end = b.len();
        if b[0] & 0x20 != 0 {
            end = end.checked_sub(usize::from(*b.last()?))?;
        }
        Some(Rtp {
            marker: b[1] & 0x80 != 0,
            pt: b[1] & 0x7f,
            seq: u16::from_be_bytes([b[2], b[3]]),
            ts: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            payload: b.get(start..end)?.to_vec(),
        })
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0x80, (u8::from(self.marker) << 7) | self.pt];
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.ts.to_be_bytes());
        b.extend_from_slice(&self.ssrc.to_be_bytes());
        b.extend_from_slice(&self.payload);
        b
    }

    /// RFC 4733 section 2.3: (event, end, volume, duration).
    fn event(&self) -> Option<(u8, bool, u8, u16)> {
        let p = self.payload.get(..4)?;
        Some((p[0], p[1] & 0x80 != 0, p[1] & 0x3f, u16::from_be_bytes([p[2], p[3]])))
    }

    fn summary(&self) -> String {
        format!(
            "pt={} m={} seq={} ts={} ssrc={:08x} len={} {}",
            self.pt,
            u8::from(self.marker),
            self.seq,
            self.ts,
            self.ssrc,
            self.payload.len(),
            self.payload
                .iter()
                .take(4)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    }
}

/// The RTP packets of a pcap file: classic pcap (either byte order, micro- or
/// nanosecond), Ethernet (with 802.1Q tags), Linux cooked v1/v2 or raw IP,
/// IPv4/UDP.
fn pcap_rtp(path: &Path) -> Vec<Rtp> {
    let d = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e} (SIPp ships it: apt-get install sip-tester)", path.display()));
    assert!(d.len() >= 24, "{}: not a pcap", path.display());
    let le = match &d[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{}: not a classic pcap file", path.display()),
    };
    let u32_at = |o: usize| {
        let b = [d[o], d[o + 1], d[o + 2], d[o + 3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link = u32_at(20);
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= d.len() {
        let incl = u32_at(off + 8) as usize;
        let frame = &d[off + 16..(off + 16 + incl).min(d.len())];
        off += 16 + incl;
        let ip = match link {
            1 => {
                // Ethernet, skipping VLAN tags
                let mut o = 12;
                while frame.get(o..o + 2) == Some(&[0x81, 0x00]) {
                    o += 4;
                }
                (frame.get(o..o + 2) == Some(&[0x08, 0x00])).then(|| &frame[o + 2..])
            }
            113 => (frame.get(14..16) == Some(&[0x08, 0x00])).then(|| &frame[16.min(frame.len())..]),
            276 => (frame.get(0..2) == Some(&[0x08, 0x00])).then(|| &frame[20.min(frame.len())..]),
            101 | 228 => Some(frame),
            _ => panic!("{}: unsupported link type {link}", path.display()),
        };
        let Some(ip) = ip else { continue };
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let udp = &ip[usize::from(ip[0] & 0x0f) * 4..];
        if udp.len() < 8 {
            continue;
        }
        let len = usize::from(u16::from_be_bytes([udp[4], udp[5]])).clamp(8, udp.len());
        if let Some(rtp) = Rtp::parse(&udp[8..len]) {
            out.push(rtp);
        }
    }
    out
}

/// The packets the caller plays, in order.
fn played() -> Vec<Rtp> {
    PLAYED
        .iter()
        .flat_map(|f| pcap_rtp(&Path::new(PCAP_DIR).join(f)))
        .collect()
}

// ---------------------------------------------------------------------------
// the test's media socket
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    from: SocketAddr,
    rtp: Option<Rtp>,
    len: usize,
}

/// Records every datagram a socket receives until stopped.
struct Recorder {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
    thread: Option<JoinHandle<Vec<Received>>>,
}

impl Recorder {
    fn start(socket: &UdpSocket) -> Recorder {
        let socket = socket.try_clone().unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        let thread = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    got.push(Received {
                        at: Instant::now(),
                        from,
                        rtp: Rtp::parse(&buf[..n]),
                        len: n,
                    });
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
            got
        });
        Recorder {
            stop,
            count,
            thread: Some(thread),
        }
    }

    /// Datagrams received so far.
    fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    fn finish(mut self) -> Vec<Received> {
        // Late packets of the call are still taken.
        std::thread::sleep(Duration::from_millis(200));
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn bind_local() -> UdpSocket {
    UdpSocket::bind((common::LOCALHOST, 0)).unwrap()
}

// ---------------------------------------------------------------------------
// the call
// ---------------------------------------------------------------------------

struct MediaCall {
    caller: SippOutcome,
    agent: SippOutcome,
}

impl MediaCall {
    fn report(&self) -> String {
        format!(
            "===== CALLER =====\n{}\n===== AGENT =====\n{}",
            self.caller.report(),
            self.agent.report()
        )
    }

    fn assert_both_succeeded(&self) {
        let ok = |o: &SippOutcome| o.exit_code == Some(0) && o.successful == Some(1) && o.failed == Some(0);
        assert!(
            ok(&self.caller) && ok(&self.agent),
            "expected caller and agent SIPp to exit 0 with 1 successful call each\n{}",
            self.report()
        );
    }

    /// (port, formats) of the `m=audio` line of the first received message matching `pred`.
    fn media_line(o: &SippOutcome, pred: impl Fn(&str) -> bool) -> Option<(u16, String)> {
        let msgs = o.received(pred);
        let line = msgs.first()?.lines().find(|l| l.starts_with("m=audio "))?.to_string();
        let mut f = line.split_whitespace().skip(1);
        let port = f.next()?.parse().ok()?;
        let formats = f.skip(1).collect::<Vec<_>>().join(" ");
        Some((port, formats))
    }

    /// The switch's offer to the agent: (agent leg port, formats).
    fn agent_leg(&self) -> (u16, String) {
        Self::media_line(&self.agent, |m| m.starts_with("INVITE "))
            .unwrap_or_else(|| panic!("no SDP in the agent's INVITE\n{}", self.report()))
    }

    /// The switch's answer to the caller: (caller leg port, formats).
    fn caller_leg(&self) -> (u16, String) {
        Self::media_line(&self.caller, |m| common::is_response(m, 200, "INVITE"))
            .unwrap_or_else(|| panic!("no SDP in the caller's 200\n{}", self.report()))
    }
}

/// The port a scenario wrote to `file` in its working directory.
fn wait_port_file(sipp: &SippRunning, file: &str) -> Option<u16> {
    common::poll_until(Duration::from_secs(8), || {
        sipp.file(file).and_then(|s| s.trim().parse().ok())
    })
}

/// Registers agent 1001, starts agent_answer_media.xml answering with
/// `sdp_port` as its media port and runs caller_plays_media.xml; `during` runs
/// while both SIPp instances do.
fn media_call(switch: &Switch, sdp_port: u16, during: impl FnOnce(&SippRunning, &SippRunning)) -> MediaCall {
    let ext = "1001";
    let agent_port = common::free_port();
    register_sipp_agent(switch, ext, agent_port, Transport::Udp);
    let agent = Sipp::new("agent_answer_media")
        .local_port(agent_port)
        .key("ext", ext)
        .key("sink_port", &sdp_port.to_string())
        .timeout_secs(25)
        .spawn();
    let caller = Sipp::new("caller_plays_media")
        .remote(switch.sip_addr())
        .service(ext)
        .timeout_secs(20)
        .spawn();
    during(&agent, &caller);
    let caller = caller.wait();
    let agent = agent.wait();
    MediaCall { caller, agent }
}

fn switch() -> Switch {
    let first = common::free_ports(8);
    Switch::start(SwitchConfig {
        media_ports: Some((first, first + 7)),
        ..SwitchConfig::for_sipp()
    })
}

// ---------------------------------------------------------------------------
// checks
// ---------------------------------------------------------------------------

fn dump(packets: &[Received], t0: Instant) -> String {
    let mut s = String::new();
    for (i, p) in packets.iter().enumerate() {
        let what = p
            .rtp
            .as_ref()
            .map_or_else(|| format!("not RTP, {} bytes", p.len), Rtp::summary);
        s.push_str(&format!(
            "#{i:3} +{:5}ms from {} {what}\n",
            p.at.saturating_duration_since(t0).as_millis(),
            p.from
        ));
    }
    s
}

/// The relayed stream is exactly `sent`, header rewritten by a translator.
fn check_relayed_stream(got: &[Received], sent: &[Rtp], agent_leg: SocketAddr, report: &str) {
    let t0 = got.first().map_or_else(Instant::now, |p| p.at);
    let context = || format!("received:\n{}\n{report}", dump(got, t0));
    let first_audio = sent.iter().position(|p| p.pt == PCMA).unwrap();
    assert_eq!(
        got.len(),
        sent.len(),
        "the caller played {} RTP packets ({} audio from {}), the agent's socket got {}\n{}",
        sent.len(),
        sent.iter().filter(|p| p.pt == PCMA).count(),
        PLAYED[first_audio],
        got.len(),
        context()
    );
    let rtp: Vec<&Rtp> = got
        .iter()
        .map(|p| p.rtp.as_ref().unwrap_or_else(|| panic!("not RTP\n{}", context())))
        .collect();
    for p in got {
        assert_eq!(
            p.from,
            agent_leg,
            "relayed from another address than the agent leg\n{}",
            context()
        );
    }
    // Payload types mapped to the agent's, payloads untouched, marker kept.
    for (i, (g, s)) in rtp.iter().zip(sent).enumerate() {
        assert_eq!(g.pt, s.pt, "#{i}: payload type (sent {})\n{}", s.summary(), context());
        assert!(
            g.payload == s.payload,
            "#{i}: payload altered: sent {} got {}\n{}",
            s.summary(),
            g.summary(),
            context()
        );
        assert_eq!(
            g.marker,
            s.marker,
            "#{i}: marker bit (sent {})\n{}",
            s.summary(),
            context()
        );
    }
    // One outgoing stream: the switch's SSRC, one sequence across sources.
    let ssrcs: std::collections::BTreeSet<u32> = rtp.iter().map(|p| p.ssrc).collect();
    assert_eq!(ssrcs.len(), 1, "more than one SSRC: {ssrcs:x?}\n{}", context());
    for i in 1..rtp.len() {
        let (g0, g1, s0, s1) = (rtp[i - 1], rtp[i], &sent[i - 1], &sent[i]);
        let step = g1.seq.wrapping_sub(g0.seq);
        let ts_step = g1.ts.wrapping_sub(g0.ts);
        if s1.ssrc != s0.ssrc {
            // A new source continues the stream where the last one stopped.
            assert_eq!(
                step,
                1,
                "#{i}: sequence not continuous at a change of source\n{}",
                context()
            );
            let elapsed = (got[i].at - got[i - 1].at).as_millis() as u64;
            assert!(
                ts_step > 0 && ts_step < 1 << 31 && u64::from(ts_step) <= (elapsed + 200) * 8,
                "#{i}: timestamp step {ts_step} at a change of source after {elapsed} ms\n{}",
                context()
            );
        } else {
            // Within one source, the source's own steps (a repeated end
            // packet of an event keeps its sequence number, RFC 4733 2.5.1.4).
            let src_step = s1.seq.wrapping_sub(s0.seq);
            assert_eq!(
                step,
                src_step,
                "#{i}: sequence step (source step {src_step})\n{}",
                context()
            );
            assert_eq!(
                ts_step,
                s1.ts.wrapping_sub(s0.ts),
                "#{i}: timestamp step\n{}",
                context()
            );
            if s1.pt == PCMA && s0.pt == PCMA {
                assert_eq!(step, 1, "#{i}: audio sequence not continuous\n{}", context());
            }
        }
    }
    // The audio is relayed as it comes, not in a burst: g711a.pcap lasts 7 s.
    let audio: Vec<&Received> = got
        .iter()
        .filter(|p| p.rtp.as_ref().is_some_and(|r| r.pt == PCMA))
        .collect();
    let span = audio.last().unwrap().at - audio[0].at;
    assert!(
        span > Duration::from_secs(6),
        "audio arrived within {span:?}\n{}",
        context()
    );
}

/// RFC 4733 events of a stream: (digit, volume, final duration, end packets), in order.
fn events(packets: &[&Rtp]) -> Vec<(u8, u8, u16, usize)> {
    let mut out: Vec<(u32, u8, u8, u16, usize)> = Vec::new();
    for p in packets.iter().filter(|p| p.pt == EVENT) {
        let (event, end, volume, duration) = p.event().unwrap();
        match out.last_mut() {
            Some(e) if e.0 == p.ts && e.1 == event => {
                assert!(
                    duration >= e.3,
                    "event {event}: duration went back {} -> {duration}",
                    e.3
                );
                e.3 = duration;
                e.4 += usize::from(end);
            }
            _ => out.push((p.ts, event, volume, duration, usize::from(end))),
        }
    }
    out.into_iter().map(|(_, e, v, d, n)| (e, v, d, n)).collect()
}

fn check_digits(got: &[Received], sent: &[Rtp]) {
    let got: Vec<&Rtp> = got.iter().filter_map(|p| p.rtp.as_ref()).collect();
    let digits = events(&got);
    let expected = events(&sent.iter().collect::<Vec<_>>());
    let names: Vec<u8> = digits.iter().map(|d| d.0).collect();
    assert_eq!(names, [1, 5, 11], "digits relayed (11 is #): {digits:?}");
    assert_eq!(digits, expected, "(event, volume, duration, end packets) as played");
    assert!(
        digits.iter().all(|d| d.3 >= 1),
        "every digit has its end packets: {digits:?}"
    );
}

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

#[test]
fn audio_and_dtmf_are_relayed_unchanged() {
    let sent = played();
    let switch = switch();
    let sink = bind_local();
    let recorder = Recorder::start(&sink);
    let call = media_call(&switch, sink.local_addr().unwrap().port(), |_, _| {});
    let got = recorder.finish();
    call.assert_both_succeeded();

    let (agent_leg, offered) = call.agent_leg();
    let (caller_leg, answered) = call.caller_leg();
    assert_eq!(offered, "8 101", "the agent is offered the caller's codecs, in order");
    assert_eq!(answered, "8 101", "the caller is answered with the agent's codec");
    assert_ne!(agent_leg, caller_leg);
    let agent_leg = SocketAddr::from(([127, 0, 0, 1], agent_leg));
    check_relayed_stream(&got, &sent, agent_leg, &call.report());
    check_digits(&got, &sent);
}

#[test]
fn agent_leg_latches_on_the_agents_first_packet() {
    let sent = played();
    let switch = switch();
    // The SDP names `decoy` (a NAT's private side); media must go to `sink`.
    let decoy = bind_local();
    let sink = bind_local();
    let decoy_recorder = Recorder::start(&decoy);
    let recorder = Recorder::start(&sink);
    let mut latch_sent = None;
    let call = media_call(&switch, decoy.local_addr().unwrap().port(), |agent, caller| {
        let Some(port) = wait_port_file(agent, "agent_rtp_port") else {
            return;
        };
        // Before the agent's 200 the leg is not configured and drops
        // packets: keep sending until the caller has the 200 (both legs are
        // configured then), and a little longer; the caller's media starts a
        // second after its ACK.
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut more = 10;
        for i in 0u16.. {
            let p = Rtp {
                marker: i == 0,
                pt: PCMA,
                seq: 1000 + i,
                ts: 160 * u32::from(i),
                ssrc: 0xa6e7_0001,
                payload: vec![0xd5; 160],
            };
            sink.send_to(&p.to_bytes(), to).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            if caller.file("caller_rtp_port").is_some() {
                more -= 1;
            }
            if more == 0 || Instant::now() > deadline {
                break;
            }
        }
        latch_sent = Some(port);
    });
    let got = recorder.finish();
    let decoy_got = decoy_recorder.finish();
    call.assert_both_succeeded();
    let (agent_leg, _) = call.agent_leg();
    assert_eq!(
        latch_sent,
        Some(agent_leg),
        "the agent leg's port from the scenario\n{}",
        call.report()
    );
    assert!(
        decoy_got.is_empty(),
        "{} packets went to the SDP address after the agent's media latched:\n{}",
        decoy_got.len(),
        dump(&decoy_got, decoy_got[0].at)
    );
    let agent_leg = SocketAddr::from(([127, 0, 0, 1], agent_leg));
    check_relayed_stream(&got, &sent, agent_leg, &call.report());
    check_digits(&got, &sent);
}

#[test]
fn packets_from_a_third_address_are_not_relayed() {
    let sent = played();
    let switch = switch();
    let sink = bind_local();
    let recorder = Recorder::start(&sink);
    let intruder = bind_local();
    // A payload no packet of the pcaps has (one g711a packet is all 0x5a).
    let intruder_payload: Vec<u8> = (0..240u8).map(|i| i.wrapping_mul(7) ^ 0xa5).collect();
    assert!(!sent.iter().any(|p| p.payload == intruder_payload));
    let rtp_sent = 60u16;
    let mut garbage_sent = 0u64;
    let call = media_call(&switch, sink.local_addr().unwrap().port(), |_, caller| {
        let Some(port) = wait_port_file(caller, "caller_rtp_port") else {
            return;
        };
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        // Wait until the caller's audio flows (the caller leg has latched).
        common::poll_until(Duration::from_secs(5), || (recorder.count() >= 10).then_some(()));
        let garbage: [&[u8]; 4] = [b"", &[0x80], b"hello, this is not RTP", &[0x00; 172]];
        for g in garbage {
            intruder.send_to(g, to).unwrap();
            garbage_sent += 1;
        }
        for i in 0..rtp_sent {
            let p = Rtp {
                marker: i == 0,
                pt: if i % 10 == 9 { EVENT } else { PCMA },
                seq: 30_000 + i,
                ts: 240 * u32::from(i),
                ssrc: 0x1bad_cafe,
                payload: intruder_payload.clone(),
            };
            intruder.send_to(&p.to_bytes(), to).unwrap();
            std::thread::sleep(Duration::from_millis(15));
        }
    });
    let got = recorder.finish();
    call.assert_both_succeeded();
    assert!(
        garbage_sent > 0,
        "the caller leg's port was not found\n{}",
        call.report()
    );
    assert!(
        !got.iter()
            .any(|p| p.rtp.as_ref().is_some_and(|r| r.payload == intruder_payload)),
        "the intruder's RTP was relayed to the agent"
    );
    let (agent_leg, _) = call.agent_leg();
    check_relayed_stream(
        &got,
        &sent,
        SocketAddr::from(([127, 0, 0, 1], agent_leg)),
        &call.report(),
    );
    check_digits(&got, &sent);
    // The switch saw them (on the caller leg) and dropped them.
    let log = switch.log();
    let closed: Vec<&str> = log.lines().filter(|l| l.contains("media leg closed")).collect();
    let counter = |l: &str, name: &str| -> Option<u64> {
        let rest = &l[l.find(&format!("{name}: "))? + name.len() + 2..];
        rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    assert!(
        closed
            .iter()
            .any(|l| counter(l, "rejected_source") >= Some(u64::from(rtp_sent))
                && counter(l, "malformed") >= Some(garbage_sent - 1)),
        "no leg counted the intruder's {rtp_sent} RTP packets as rejected and its garbage as malformed: {closed:#?}"
    );
    assert_eq!(switch.http_get("/health").status, 200);
}
