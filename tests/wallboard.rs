//! The wallboard in a real browser: headless Chromium (Debian's `chromium`)
//! opens the page at `/` and is driven over the DevTools protocol on a pipe.
//!
//! - Live figures: a SIPp agent answers one caller of the demo IVR while a
//!   second caller waits in `support`; the figures the page shows for the
//!   queue (read from its DOM: `data-queue`, `data-field`, `data-value`)
//!   match GET /api/queues fetched right before and after, exactly for
//!   counts and within the two fetches for figures that move (longest wait);
//!   the human text is the value formatted; a 1920x1080 screenshot is made.
//! - A board served by the test itself: queue names are text, never markup;
//!   missing figures read "—"; service level is coloured against 80%; a
//!   stream that goes quiet shows "disconnected" and the page reconnects.
//!
//! The browser only ever talks to 127.0.0.1: host names resolve to nothing
//! and its background services are off.
#![allow(clippy::unwrap_used)]

mod browser_cdp;
mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use browser_cdp::{chromium, Browser};
use common::{poll_until, register_sipp_agent, Sipp, Switch, SwitchConfig, Transport};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// what the wallboard tests read off the browser
// ---------------------------------------------------------------------------

/// The page's DOM as markup, as `--dump-dom` prints it.
fn page_dom(browser: &mut Browser) -> Dom {
    let html = browser.eval("document.documentElement ? document.documentElement.outerHTML : ''");
    Dom::parse(html.as_str().unwrap_or_default())
}

/// A PNG of the viewport.
fn screenshot(browser: &mut Browser) -> Vec<u8> {
    let shot = browser.call("Page.captureScreenshot", json!({ "format": "png" }));
    base64_decode(shot["data"].as_str().unwrap_or_default())
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// reading the dumped DOM
// ---------------------------------------------------------------------------

/// An element of the markup: its tag, attributes, and the text right after
/// its start tag (all the text of the leaf elements the page writes).
#[derive(Debug)]
struct Element {
    tag: String,
    attrs: Vec<(String, String)>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Dom {
    elements: Vec<Element>,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

impl Dom {
    /// Start tags with their attributes and following text; the contents of
    /// `<script>` and `<style>` are skipped.
    fn parse(html: &str) -> Dom {
        let mut elements = Vec::new();
        let mut rest = html;
        while let Some(open) = rest.find('<') {
            rest = &rest[open + 1..];
            if let Some(comment) = rest.strip_prefix("!--") {
                rest = comment.find("-->").map_or("", |e| &comment[e + 3..]);
                continue;
            }
            if rest.starts_with('/') || rest.starts_with('!') {
                rest = rest.find('>').map_or("", |e| &rest[e + 1..]);
                continue;
            }
            let name_end = rest
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(rest.len());
            let tag = rest[..name_end].to_ascii_lowercase();
            rest = &rest[name_end..];
            let mut attrs = Vec::new();
            loop {
                rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
                if rest.is_empty() || rest.starts_with('>') {
                    rest = rest.get(1..).unwrap_or("");
                    break;
                }
                let key_end = rest
                    .find(|c: char| c.is_whitespace() || c == '=' || c == '>')
                    .unwrap_or(rest.len());
                let key = rest[..key_end].to_ascii_lowercase();
                rest = &rest[key_end..];
                let mut value = String::new();
                if let Some(after) = rest.strip_prefix('=') {
                    if let Some(quoted) = after.strip_prefix('"') {
                        let end = quoted.find('"').unwrap_or(quoted.len());
                        value = unescape(&quoted[..end]);
                        rest = quoted.get(end + 1..).unwrap_or("");
                    } else {
                        let end = after
                            .find(|c: char| c.is_whitespace() || c == '>')
                            .unwrap_or(after.len());
                        value = unescape(&after[..end]);
                        rest = &after[end..];
                    }
                }
                attrs.push((key, value));
            }
            if tag == "script" || tag == "style" {
                let close = format!("</{tag}");
                rest = rest.find(&close).map_or("", |e| &rest[e..]);
                elements.push(Element {
                    tag,
                    attrs,
                    text: String::new(),
                });
                continue;
            }
            let text_end = rest.find('<').unwrap_or(rest.len());
            elements.push(Element {
                tag,
                attrs,
                text: unescape(&rest[..text_end]),
            });
        }
        Dom { elements }
    }

    fn find(&self, pred: impl Fn(&Element) -> bool) -> Option<&Element> {
        self.elements.iter().find(|e| pred(e))
    }

    /// An attribute of `<body>` (the page's connection state and the time
    /// of the board it shows).
    fn body_attr(&self, name: &str) -> Option<&str> {
        self.find(|e| e.tag == "body").and_then(|b| b.attr(name))
    }

    fn field(&self, queue: &str, field: &str) -> Option<&Element> {
        self.find(|e| e.attr("data-queue") == Some(queue) && e.attr("data-field") == Some(field))
    }

    /// The raw value of a field (`data-value`, JSON) and its text.
    fn value(&self, queue: &str, field: &str) -> (Value, String) {
        let e = self
            .field(queue, field)
            .unwrap_or_else(|| panic!("no data-field={field} for queue {queue:?}"));
        let raw = e.attr("data-value").unwrap_or_else(|| panic!("{field}: no data-value"));
        let value = serde_json::from_str(raw).unwrap_or_else(|_| panic!("{field}: data-value {raw:?} is not JSON"));
        (value, e.text.clone())
    }
}

// ---------------------------------------------------------------------------
// what the page should show
// ---------------------------------------------------------------------------

/// m:ss (h:mm:ss from an hour), whole seconds down; "—" for null.
fn duration_text(v: &Value) -> String {
    match v.as_f64() {
        None => "—".into(),
        Some(secs) => {
            let s = secs.max(0.0).floor() as u64;
            let (h, m, s) = (s / 3600, s % 3600 / 60, s % 60);
            if h > 0 {
                format!("{h}:{m:02}:{s:02}")
            } else {
                format!("{m}:{s:02}")
            }
        }
    }
}

/// Service level in whole percent, rounded down.
fn sl_text(v: &Value) -> String {
    v.as_f64()
        .map_or("—".into(), |v| format!("{}%", (v * 100.0 + 1e-9).floor() as i64))
}

fn sl_level(v: &Value) -> &'static str {
    match v.as_f64() {
        None => "none",
        Some(v) if v * 100.0 >= 80.0 => "green",
        Some(v) if v * 100.0 >= 75.0 => "amber",
        Some(_) => "red",
    }
}

/// Percent with one decimal, halves up.
fn percent_text(v: &Value) -> String {
    v.as_f64()
        .map_or("—".into(), |v| format!("{:.1}%", (v * 1000.0).round() / 10.0))
}

fn count_text(v: &Value) -> String {
    v.as_f64().map_or("—".into(), |v| format!("{v}"))
}

const AGENT_FIELDS: [&str; 6] = ["available", "ringing", "on_call", "wrap_up", "paused", "logged_out"];

/// The raw value behind each field of the page, from a queue of the board.
fn board_fields(q: &Value) -> Vec<(&'static str, Value)> {
    let stats = &q["stats"];
    let mut fields = vec![
        ("waiting", q["waiting"].clone()),
        ("longest_wait", q["longest_wait_secs"].clone()),
        ("estimated_wait", q["estimated_wait_secs"].clone()),
        ("service_level", stats["service_level"][0]["value"].clone()),
        ("asa", stats["asa_secs"].clone()),
        ("abandon_rate", stats["abandon_rate"].clone()),
        ("offered", stats["offered"].clone()),
        ("answered", stats["answered"].clone()),
        ("abandoned", stats["abandoned"].clone()),
        ("aht", stats["aht_secs"].clone()),
    ];
    for a in AGENT_FIELDS {
        fields.push((a, q["agents"][a].clone()));
    }
    fields
}

/// The text the page should show for a field's raw value.
fn expected_text(field: &str, v: &Value) -> String {
    match field {
        "longest_wait" | "estimated_wait" | "asa" | "aht" => duration_text(v),
        "service_level" => sl_text(v),
        "abandon_rate" => percent_text(v),
        _ => count_text(v),
    }
}

/// Checks every field of `queue` in the DOM against the board's `q`.
fn assert_shows(dom: &Dom, queue: &str, q: &Value) {
    for (field, want) in board_fields(q) {
        let (value, text) = dom.value(queue, field);
        assert_eq!(value.as_f64(), want.as_f64(), "{queue}/{field}: data-value");
        assert_eq!(text, expected_text(field, &value), "{queue}/{field}: text");
    }
    let sl = dom.field(queue, "service_level").unwrap();
    assert_eq!(
        sl.attr("data-level"),
        Some(sl_level(&q["stats"]["service_level"][0]["value"]))
    );
}

// ---------------------------------------------------------------------------
// the live board of a running switch
// ---------------------------------------------------------------------------

fn demo_switch() -> Switch {
    let root = env!("CARGO_MANIFEST_DIR");
    let extra = format!(
        "\n[[routes]]\nnumber = \"100\"\nflow = \"{root}/flows/demo.yaml\"\n\n[ivr]\nprompts = \"{root}/prompts\"\n\n\
         [[queues]]\nname = \"support\"\nagents = [\"1001\"]\n"
    );
    Switch::start(SwitchConfig {
        extra_toml: extra,
        log_level: "info".into(),
        ..SwitchConfig::for_sipp()
    })
}

fn board(switch: &Switch) -> Value {
    let r = switch.http_get("/api/queues");
    assert_eq!(r.status, 200, "GET /api/queues: {}", r.body);
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("/api/queues is not JSON ({e}): {}", r.body))
}

fn queue<'a>(board: &'a Value, name: &str) -> Option<&'a Value> {
    board["queues"].as_array()?.iter().find(|q| q["name"] == name)
}

/// A caller of the demo IVR who presses 1 (English, the `support` queue)
/// and holds; its media goes to a socket of the test.
fn queued_caller(switch: &Switch) -> (common::SippRunning, UdpSocket) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let caller = Sipp::new("caller_ivr_english_holds")
        .remote(switch.sip_addr())
        .service("100")
        .key("sink_port", &sink.local_addr().unwrap().port().to_string())
        .timeout_secs(40)
        .spawn();
    (caller, sink)
}

/// Figures that move while nothing happens: the DOM's value must lie between
/// the fetch before and the fetch after.
const MOVING: [&str; 2] = ["longest_wait", "estimated_wait"];

/// Compares the page with the board fetched right before and after reading
/// it; `Err` when the board changed in a way that makes the reading
/// ambiguous (try again), panics when the page is wrong.
fn compare(dom: &Dom, before: &Value, after: &Value) -> Result<(), String> {
    assert_eq!(dom.body_attr("data-connection"), Some("live"), "the page is connected");
    let at = dom.body_attr("data-board-at").unwrap_or_default();
    let (b_at, a_at) = (before["at"].as_str().unwrap(), after["at"].as_str().unwrap());
    // RFC 3339 in UTC with milliseconds: the text sorts as the time.
    if !(b_at <= at && at <= a_at) {
        return Err(format!(
            "the page shows the board of {at}, not between {b_at} and {a_at}"
        ));
    }
    let (b, a) = (queue(before, "support").unwrap(), queue(after, "support").unwrap());
    for ((field, bv), (_, av)) in board_fields(b).into_iter().zip(board_fields(a)) {
        let (value, text) = dom.value("support", field);
        assert_eq!(text, expected_text(field, &value), "support/{field}: text");
        if MOVING.contains(&field) {
            match (bv.as_f64(), av.as_f64(), value.as_f64()) {
                (Some(b), Some(a), Some(v)) => assert!(
                    b.min(a) <= v && v <= b.max(a),
                    "support/{field}: the page shows {v}, the board {b} before and {a} after"
                ),
                (None, None, v) => assert_eq!(v, None, "support/{field}"),
                _ => return Err(format!("{field} appeared or went between the fetches")),
            }
        } else if bv != av {
            return Err(format!("{field} changed between the fetches: {bv} then {av}"));
        } else {
            assert_eq!(value.as_f64(), bv.as_f64(), "support/{field}: data-value");
        }
    }
    let sl = dom.field("support", "service_level").unwrap();
    assert_eq!(
        sl.attr("data-level"),
        Some(sl_level(&b["stats"]["service_level"][0]["value"]))
    );
    assert_eq!(
        sl.attr("data-threshold").and_then(|t| t.parse::<f64>().ok()),
        b["stats"]["service_level"][0]["threshold_secs"].as_f64(),
        "the SL label's threshold"
    );
    Ok(())
}

#[test]
fn the_wallboard_shows_the_live_figures_of_a_queue_with_a_caller_waiting() {
    chromium();
    let switch = demo_switch();
    let url = format!("http://127.0.0.1:{}/#token={}", switch.http_port, common::READ_TOKEN);

    // Agent 1001 answers one of two callers; the other one waits.
    let agent_port = common::free_port();
    register_sipp_agent(&switch, "1001", agent_port, Transport::Udp);
    let _agent = Sipp::new("agent_answer_wait_bye")
        .local_port(agent_port)
        .key("ext", "1001")
        .timeout_secs(40)
        .spawn();
    let _callers = [queued_caller(&switch), queued_caller(&switch)];
    // The browser starts while the callers are in the IVR.
    let mut browser = Browser::open(&url, None);
    let ready = poll_until(Duration::from_secs(15), || {
        let b = board(&switch);
        let q = queue(&b, "support")?;
        (q["agents"]["on_call"].as_u64()? >= 1 && q["waiting"].as_u64()? >= 1).then_some(())
    });
    assert!(
        ready.is_some(),
        "no caller with the agent and one waiting: {}",
        board(&switch)
    );

    let mut outcome = Err(String::from("not read"));
    for _ in 0..20 {
        let before = board(&switch);
        let dom = page_dom(&mut browser);
        let after = board(&switch);
        if dom.body_attr("data-connection") != Some("live") || dom.field("support", "waiting").is_none() {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        outcome = compare(&dom, &before, &after);
        if outcome.is_ok() {
            let q = queue(&before, "support").unwrap();
            // What this test is about: a caller waiting, an agent at work,
            // figures of the last 15 minutes.
            assert!(q["waiting"].as_u64().unwrap() >= 1, "{q}");
            let staffed: u64 = AGENT_FIELDS[..5].iter().map(|a| q["agents"][a].as_u64().unwrap()).sum();
            assert!(staffed >= 1, "an agent not logged out: {q}");
            assert!(q["stats"]["answered"].as_u64().unwrap() >= 1, "{q}");
            let (waiting, _) = dom.value("support", "waiting");
            assert!(waiting.as_f64().unwrap() >= 1.0);
            let (on_call, _) = dom.value("support", "on_call");
            assert!(on_call.as_f64().unwrap() >= 1.0);
            let (sl, sl_text) = dom.value("support", "service_level");
            assert!(
                sl.is_number() && sl_text.ends_with('%'),
                "SL after an answer: {sl} {sl_text}"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    outcome.unwrap_or_else(|e| panic!("no consistent reading of the page: {e}"));
    let title = page_dom(&mut browser);
    assert!(
        title.find(|e| e.tag == "h2" && e.text == "support").is_some(),
        "the queue's card is titled with its name"
    );

    let png = screenshot(&mut browser);
    let path = browser.dir().join("wallboard.png");
    std::fs::write(&path, &png).unwrap();
    assert_png(&path, 1920, 1080);
}

/// A PNG of `width` x `height` with enough in it to be a rendered page.
fn assert_png(path: &Path, width: u32, height: u32) {
    let mut png = Vec::new();
    File::open(path).unwrap().read_to_end(&mut png).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
    assert_eq!(&png[12..16], b"IHDR");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((w, h), (width, height), "screenshot size");
    assert!(
        png.len() > 20_000,
        "the screenshot is nearly empty: {} bytes",
        png.len()
    );
}

// ---------------------------------------------------------------------------
// a board served by the test: rendering rules and a lost stream
// ---------------------------------------------------------------------------

const PAGE: &str = include_str!("../web/wallboard.html");

/// What the test's stream does now.
const LIVE: u8 = 0;
/// Open streams go quiet; new ones are refused with 503.
const QUIET: u8 = 1;

/// A stand-in for the switch's HTTP side: serves the page and a stream of
/// a fixed board, and can go quiet.
struct BoardServer {
    port: u16,
    mode: Arc<AtomicU8>,
    refused: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
}

impl BoardServer {
    fn start(board: Value) -> BoardServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(LIVE));
        let refused = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, r, s) = (mode.clone(), refused.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (m, r, s, board) = (m.clone(), r.clone(), s.clone(), board.clone());
                        std::thread::spawn(move || serve(stream, &board, &m, &r, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        BoardServer {
            port,
            mode,
            refused,
            stop,
        }
    }
}

impl Drop for BoardServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(mut stream: TcpStream, board: &Value, mode: &AtomicU8, refused: &AtomicU32, stop: &AtomicBool) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    match path {
        "/" => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
                PAGE.len()
            );
        }
        "/api/wallboard/stream" if mode.load(Ordering::Relaxed) == LIVE => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            let event = format!("data: {board}\n\n");
            while !stop.load(Ordering::Relaxed) {
                if mode.load(Ordering::Relaxed) == LIVE && stream.write_all(event.as_bytes()).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        "/api/wallboard/stream" => {
            refused.fetch_add(1, Ordering::Relaxed);
            let _ =
                stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
        _ => {
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    }
}

const HOSTILE: &str = "<img src=x onerror=\"document.body.dataset.pwned='yes'\"> & \"sales\" <b>ünï</b>";

fn crafted_board() -> Value {
    let agents = |a: u32, r: u32, c: u32, w: u32, p: u32, o: u32| json!({ "available": a, "ringing": r, "on_call": c, "wrap_up": w, "paused": p, "logged_out": o });
    let sl = |v: Value| json!([{ "threshold_secs": 20, "value": v }, { "threshold_secs": 60, "value": 1.0 }]);
    json!({
        "at": "2026-11-23T13:05:00.000Z",
        "queues": [
            {
                "name": HOSTILE, "waiting": 3, "longest_wait_secs": 754.9, "estimated_wait_secs": 61.0,
                "agents": agents(0, 1, 4, 1, 2, 3),
                "stats": { "offered": 40, "answered": 30, "abandoned": 3, "abandon_rate": 0.075,
                           "service_level": sl(json!(0.7999)), "asa_secs": 3725.2, "aht_secs": 181.5,
                           "csat": null, "something_new": { "ignored": true } },
                "staffed": 8
            },
            {
                "name": "green", "waiting": 0, "longest_wait_secs": null, "estimated_wait_secs": null,
                "agents": agents(5, 0, 0, 0, 0, 0),
                "stats": { "offered": 10, "answered": 10, "abandoned": 0, "abandon_rate": 0.0,
                           "service_level": sl(json!(0.8)), "asa_secs": 4.0, "aht_secs": 60.0 }
            },
            {
                "name": "red", "waiting": 12, "longest_wait_secs": 59.99, "estimated_wait_secs": null,
                "agents": agents(0, 0, 2, 0, 0, 0),
                "stats": { "offered": 2, "answered": 1, "abandoned": 1, "abandon_rate": 0.5,
                           "service_level": sl(json!(0.5)), "asa_secs": 20.0, "aht_secs": null }
            },
            {
                "name": "quiet", "waiting": 0, "longest_wait_secs": null, "estimated_wait_secs": null,
                "agents": agents(0, 0, 0, 0, 0, 1),
                "stats": { "offered": 0, "answered": 0, "abandoned": 0, "abandon_rate": null,
                           "service_level": [], "asa_secs": null, "aht_secs": null }
            }
        ]
    })
}

#[test]
fn names_are_text_figures_are_formatted_and_a_lost_stream_shows_disconnected_until_it_is_back() {
    let board = crafted_board();
    let server = BoardServer::start(board.clone());
    let mut browser = Browser::open(&format!("http://127.0.0.1:{}/", server.port), None);
    let live = poll_until(Duration::from_secs(10), || {
        let dom = page_dom(&mut browser);
        (dom.body_attr("data-connection") == Some("live") && dom.field("quiet", "waiting").is_some()).then_some(dom)
    });
    let dom = live.expect("the page shows the board");

    // Every figure of every queue, raw and as text.
    for q in board["queues"].as_array().unwrap() {
        assert_shows(&dom, q["name"].as_str().unwrap(), q);
    }
    assert_eq!(dom.value(HOSTILE, "longest_wait").1, "12:34");
    assert_eq!(dom.value(HOSTILE, "asa").1, "1:02:05");
    assert_eq!(dom.value(HOSTILE, "abandon_rate").1, "7.5%");
    // 79.99% is not the 80% target: shown as 79%, amber.
    assert_eq!(dom.value(HOSTILE, "service_level").1, "79%");
    assert_eq!(
        dom.field(HOSTILE, "service_level").unwrap().attr("data-level"),
        Some("amber")
    );
    assert_eq!(dom.value("green", "service_level").1, "80%");
    assert_eq!(
        dom.field("green", "service_level").unwrap().attr("data-level"),
        Some("green")
    );
    assert_eq!(
        dom.field("red", "service_level").unwrap().attr("data-level"),
        Some("red")
    );
    assert_eq!(dom.value("red", "longest_wait").1, "0:59");
    assert_eq!(dom.value("quiet", "service_level"), (Value::Null, "—".to_owned()));
    assert_eq!(dom.value("quiet", "abandon_rate"), (Value::Null, "—".to_owned()));
    assert_eq!(dom.value("quiet", "asa"), (Value::Null, "—".to_owned()));

    // The name is text: shown as it is, no element made of it, no script run.
    let titles: Vec<&str> = dom
        .elements
        .iter()
        .filter(|e| e.tag == "h2")
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(titles, [HOSTILE, "green", "red", "quiet"], "cards in the board's order");
    assert!(
        dom.find(|e| e.tag == "img" || e.tag == "b").is_none(),
        "markup from a name"
    );
    assert_eq!(dom.body_attr("data-pwned"), None);
    assert_eq!(
        browser.eval("document.querySelectorAll('section.queue').length"),
        json!(4)
    );

    // The board is readable: a screenshot of it.
    let png = screenshot(&mut browser);
    let path = browser.dir().join("wallboard-crafted.png");
    std::fs::write(&path, &png).unwrap();
    assert_png(&path, 1920, 1080);

    // The stream goes quiet and reconnections are refused: "disconnected".
    let banner_shown = "getComputedStyle(document.getElementById('banner')).display !== 'none'";
    assert_eq!(browser.eval(banner_shown), json!(false));
    server.mode.store(QUIET, Ordering::Relaxed);
    let lost = poll_until(Duration::from_secs(8), || {
        let dom = page_dom(&mut browser);
        (dom.body_attr("data-connection") == Some("disconnected")).then_some(())
    });
    assert!(lost.is_some(), "the page did not notice the quiet stream");
    assert_eq!(
        browser.eval(banner_shown),
        json!(true),
        "the disconnected banner is shown"
    );
    let text = browser.eval("document.getElementById('banner').textContent");
    assert!(text.as_str().unwrap().contains("DISCONNECTED"), "{text}");
    // It keeps trying: a refused attempt, then the stream is back.
    let retried = poll_until(Duration::from_secs(8), || {
        (server.refused.load(Ordering::Relaxed) >= 1).then_some(())
    });
    assert!(retried.is_some(), "the page did not reconnect");
    server.mode.store(LIVE, Ordering::Relaxed);
    let back = poll_until(Duration::from_secs(10), || {
        let dom = page_dom(&mut browser);
        (dom.body_attr("data-connection") == Some("live")).then_some(dom)
    });
    let dom = back.expect("the page is live again once the stream is back");
    assert_eq!(browser.eval(banner_shown), json!(false));
    assert!(dom
        .body_attr("data-reconnects")
        .is_some_and(|n| n.parse::<u32>().unwrap() >= 2));
    assert_shows(&dom, "red", &board["queues"][2]);
}
