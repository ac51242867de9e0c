//! Shared end-to-end harness: free ports, a switch process with a temporary
//! config, a hand-written HTTP GET, and SIPp / baresip runners.
//!
//! Everything listens on 127.0.0.1 and on ports picked here (never 5060/8080);
//! every process started here is killed on drop, also when a test panics, and
//! the switch's log is printed when the test fails.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

pub mod json;

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use json::Json;

pub const LOCALHOST: &str = "127.0.0.1";

// ---------------------------------------------------------------------------
// tools
// ---------------------------------------------------------------------------

/// Path of an external tool, or a test failure that says how to get it.
/// Tests never skip silently when a peer is missing.
pub fn require_tool(tool: &str, debian_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{tool}` is not on PATH: run scripts/test.sh (it installs the test peers) \
         or apt-get install {debian_package}"
    );
}

pub fn sipp_bin() -> PathBuf {
    require_tool("sipp", "sip-tester")
}

pub fn baresip_bin() -> PathBuf {
    require_tool("baresip", "baresip")
}

/// Directory of the SIPp scenarios, tests/sipp.
pub fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("sipp")
}

/// Directory of the raw message corpora, tests/corpus.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("corpus")
}

// ---------------------------------------------------------------------------
// ports
// ---------------------------------------------------------------------------

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn random_u64() -> u64 {
    // RandomState is seeded randomly per process; mix in a counter and the clock.
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

fn port_is_free(port: u16) -> bool {
    // Free for both UDP and TCP on 127.0.0.1 (SIP listens on both).
    let udp = UdpSocket::bind((LOCALHOST, port));
    let tcp = TcpListener::bind((LOCALHOST, port));
    udp.is_ok() && tcp.is_ok()
}

/// `n` consecutive ports, each free for UDP and TCP on 127.0.0.1.
///
/// Ports come from 20000..32000, below Linux's ephemeral range (32768+), so
/// outgoing connections of other processes do not take them in the meantime;
/// the start is random, so test processes running in parallel rarely collide,
/// and a port is never handed out twice within one process.
pub fn free_ports(n: u16) -> u16 {
    for _ in 0..2000 {
        let base = 20000 + (random_u64() % (12000 - u64::from(n))) as u16;
        let base = base & !1; // even, as RTP likes
        let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        let set = guard.get_or_insert_with(HashSet::new);
        if (base..base + n).any(|p| set.contains(&p)) {
            continue;
        }
        if (base..base + n).all(port_is_free) {
            set.extend(base..base + n);
            return base;
        }
    }
    panic!("no free port block of {n} found on 127.0.0.1");
}

/// One port free for both UDP and TCP on 127.0.0.1.
pub fn free_port() -> u16 {
    free_ports(1)
}

/// Whether some socket is bound to `port` on 127.0.0.1 or 0.0.0.0 (TCP: listening),
/// read from /proc/net so that checking never steals the port from its owner.
pub fn port_is_bound(port: u16, tcp: bool) -> bool {
    let file = if tcp { "/proc/net/tcp" } else { "/proc/net/udp" };
    let table = std::fs::read_to_string(file).unwrap_or_default();
    let want = [format!("0100007F:{port:04X}"), format!("00000000:{port:04X}")];
    table.lines().skip(1).any(|l| {
        let mut cols = l.split_whitespace();
        let local = cols.nth(1).unwrap_or_default();
        let state = cols.nth(1).unwrap_or_default();
        want.iter().any(|w| w == local) && (!tcp || state == "0A")
    })
}

/// Waits until some process has bound `port`.
pub fn wait_until_bound(port: u16, tcp: bool, timeout: Duration) -> bool {
    poll_until(timeout, || port_is_bound(port, tcp).then_some(())).is_some()
}

/// Polls `f` until it returns Some or the timeout passes.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// the switch
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Agent {
    pub extension: String,
    pub name: String,
    pub password: String,
}

/// What a test wants in the switch's config; ports are filled in by [`Switch::start`].
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    pub agents: Vec<Agent>,
    /// Source addresses whose INVITEs need no digest auth.
    pub trunk_addresses: Vec<String>,
    /// Digest algorithms, in challenge order.
    pub algorithms: Vec<String>,
    pub t1_ms: u64,
    pub t2_ms: u64,
    pub t4_ms: u64,
    pub max_message_size: usize,
    pub min_expires: u32,
    pub log_level: String,
    /// `[media]` RTP port range (first, last); the switch's default when None.
    pub media_ports: Option<(u16, u16)>,
    /// More TOML appended as it is (routes, queues...).
    pub extra_toml: String,
    /// `[http]` certificate and key (PEM files): HTTPS and WSS.
    pub http_tls: Option<(PathBuf, PathBuf)>,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            agents: vec![
                Agent {
                    extension: "1001".into(),
                    name: "Agent 1001".into(),
                    password: "secret1001".into(),
                },
                Agent {
                    extension: "1002".into(),
                    name: "Agent 1002".into(),
                    password: "secret1002".into(),
                },
            ],
            trunk_addresses: vec![LOCALHOST.into()],
            algorithms: vec!["MD5".into()],
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            max_message_size: 65535,
            min_expires: 60,
            log_level: "debug".into(),
            media_ports: None,
            extra_toml: String::new(),
            http_tls: None,
        }
    }
}

impl SwitchConfig {
    /// Config for SIPp peers, MD5 alone whatever the default: SIPp 3.6.1
    /// computes only MD5 digests (its [authentication] refuses any other
    /// algorithm, and it reads all WWW-Authenticate headers as one).
    pub fn for_sipp() -> Self {
        SwitchConfig {
            algorithms: vec!["MD5".into()],
            ..SwitchConfig::default()
        }
    }

    pub fn password_of(&self, ext: &str) -> &str {
        &self
            .agents
            .iter()
            .find(|a| a.extension == ext)
            .unwrap_or_else(|| panic!("no agent {ext} in config"))
            .password
    }

    pub fn to_toml(&self, sip_port: u16, http_port: u16) -> String {
        let q = |s: &str| format!("{s:?}");
        let list = |v: &[String]| v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ");
        let mut t = String::new();
        let _ = writeln!(t, "# written by the switchboard end-to-end tests");
        let _ = writeln!(t, "[sip]");
        let _ = writeln!(t, "listen_udp = [\"{LOCALHOST}:{sip_port}\"]");
        let _ = writeln!(t, "listen_tcp = [\"{LOCALHOST}:{sip_port}\"]");
        let _ = writeln!(t, "domain = \"{LOCALHOST}\"");
        let _ = writeln!(t, "max_message_size = {}", self.max_message_size);
        let _ = writeln!(t, "\n[sip.timers]");
        let _ = writeln!(
            t,
            "t1_ms = {}\nt2_ms = {}\nt4_ms = {}",
            self.t1_ms, self.t2_ms, self.t4_ms
        );
        let _ = writeln!(t, "\n[registrar]");
        let _ = writeln!(
            t,
            "min_expires = {}\nmax_expires = 7200\ndefault_expires = 3600",
            self.min_expires
        );
        let _ = writeln!(t, "nonce_lifetime_secs = 300");
        let _ = writeln!(t, "algorithms = [{}]", list(&self.algorithms));
        let _ = writeln!(t, "\n[http]\nlisten = \"{LOCALHOST}:{http_port}\"");
        if let Some((certificate, key)) = &self.http_tls {
            let _ = writeln!(
                t,
                "tls_certificate = {}\ntls_key = {}",
                q(&certificate.display().to_string()),
                q(&key.display().to_string())
            );
        }
        let _ = writeln!(
            t,
            "[[http.tokens]]\nname = \"test-reader\"\nscope = \"read\"\ntoken = \"{READ_TOKEN}\""
        );
        let _ = writeln!(
            t,
            "[[http.tokens]]\nname = \"test-controller\"\nscope = \"control\"\ntoken = \"{CONTROL_TOKEN}\""
        );
        for a in &self.agents {
            let _ = writeln!(t, "\n[[agents]]");
            let _ = writeln!(
                t,
                "extension = {}\nname = {}\npassword = {}",
                q(&a.extension),
                q(&a.name),
                q(&a.password)
            );
        }
        if !self.trunk_addresses.is_empty() {
            let _ = writeln!(
                t,
                "\n[[trunks]]\nname = \"carrier\"\naddresses = [{}]",
                list(&self.trunk_addresses)
            );
        }
        if let Some((first, last)) = self.media_ports {
            let _ = writeln!(
                t,
                "\n[media]\nrtp_port_first = {first}\nrtp_port_last = {last}\nrtp_address = \"{LOCALHOST}\""
            );
        }
        t.push_str(&self.extra_toml);
        let _ = writeln!(t, "\n[log]\nlevel = {}", q(&self.log_level));
        t
    }
}

/// A running `switchboard serve` with its own config and ports.
pub struct Switch {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub sip_port: u16,
    pub http_port: u16,
    pub config: SwitchConfig,
    log_path: PathBuf,
    config_path: PathBuf,
}

impl Switch {
    /// Starts the switch and waits until GET /health answers 200.
    pub fn start(config: SwitchConfig) -> Switch {
        // A port can be taken between our check and the switch's bind; retry then.
        let mut last_log = String::new();
        for _attempt in 0..3 {
            match Switch::try_start(config.clone()) {
                Ok(s) => return s,
                Err(log) => last_log = log,
            }
        }
        panic!("switchboard did not come up (3 attempts); last log:\n{last_log}");
    }

    fn try_start(mut config: SwitchConfig) -> Result<Switch, String> {
        if config.media_ports.is_none() {
            // Its own RTP ports, handed out like the test's other ports, so
            // that switches and SIPp running in parallel never share them.
            let first = free_ports(64);
            config.media_ports = Some((first, first + 63));
        }
        let dir = tempfile::Builder::new()
            .prefix("switchboard-e2e-")
            .tempdir()
            .expect("temp dir");
        let sip_port = free_port();
        let http_port = free_port();
        let config_path = dir.path().join("switchboard.toml");
        std::fs::write(&config_path, config.to_toml(sip_port, http_port)).expect("write config");
        let log_path = dir.path().join("switchboard.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let log2 = log.try_clone().expect("log file clone");
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .current_dir(dir.path())
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("spawn switchboard");
        let mut s = Switch {
            child: Some(child),
            dir,
            sip_port,
            http_port,
            config,
            log_path,
            config_path,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = s.exit_status() {
                let log = format!(
                    "switchboard exited early with {status}\n--- config ---\n{}\n--- log ---\n{}",
                    std::fs::read_to_string(&s.config_path).unwrap_or_default(),
                    s.log()
                );
                s.child = None;
                return Err(log);
            }
            if s.config.http_tls.is_some() {
                // Over TLS the port's accepting is as far as plain HTTP can see.
                if std::net::TcpStream::connect(s.http_addr()).is_ok() {
                    return Ok(s);
                }
            } else if let Ok(r) = s.try_http_get("/health") {
                if r.status == 200 {
                    return Ok(s);
                }
            }
            if Instant::now() > deadline {
                let log = format!("no 200 from /health within 15 s\n--- log ---\n{}", s.log());
                return Err(log);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the switch as an operator would (SIGTERM, waiting for it to
    /// exit) and starts it again on the same configuration, ports and
    /// database; the log goes on in the same file.
    #[allow(dead_code)]
    pub fn restart(&mut self) {
        self.restart_after("-TERM");
    }

    /// As [`Switch::restart`], but the switch is killed (SIGKILL): a crash.
    #[allow(dead_code)]
    pub fn crash_and_restart(&mut self) {
        self.restart_after("-KILL");
    }

    fn restart_after(&mut self, signal: &str) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(signal).arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .expect("log file");
        let log2 = log.try_clone().expect("log file clone");
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(self.dir.path())
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("spawn switchboard");
        self.child = Some(child);
        let up = poll_until(Duration::from_secs(15), || {
            self.try_http_get("/health").ok().filter(|r| r.status == 200)
        });
        assert!(
            up.is_some(),
            "switchboard did not come back after a restart:\n{}",
            self.log()
        );
    }

    pub fn sip_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.sip_port))
    }

    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.http_port))
    }

    /// Scratch directory that lives as long as the switch.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.exit_status() {
            panic!("switchboard exited unexpectedly: {status}");
        }
    }

    pub fn try_http_get(&self, path: &str) -> std::io::Result<HttpResponse> {
        http_get(self.http_addr(), path)
    }

    pub fn http_get(&self, path: &str) -> HttpResponse {
        self.try_http_get(path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GET /api/registrations, parsed.
    pub fn registrations(&self) -> Vec<Registration> {
        let r = self.http_get("/api/registrations");
        assert_eq!(r.status, 200, "GET /api/registrations: {} {}", r.status, r.body);
        let v = Json::parse(&r.body).unwrap_or_else(|e| panic!("/api/registrations is not JSON ({e}): {}", r.body));
        let arr = v
            .as_array()
            .unwrap_or_else(|| panic!("/api/registrations is not a JSON array: {}", r.body));
        arr.iter()
            .map(|o| Registration {
                aor: o.get("aor").and_then(Json::as_str).unwrap_or_default().to_string(),
                contact: o.get("contact").and_then(Json::as_str).unwrap_or_default().to_string(),
                expires: o.get("expires").and_then(Json::as_f64),
                source: o.get("source").and_then(Json::as_str).unwrap_or_default().to_string(),
                raw: o.clone(),
            })
            .collect()
    }

    /// Polls /api/registrations until a binding for `aor` satisfies `pred`.
    pub fn wait_for_registration(
        &self,
        aor: &str,
        timeout: Duration,
        pred: impl Fn(&Registration) -> bool,
    ) -> Option<Registration> {
        poll_until(timeout, || {
            self.registrations().into_iter().find(|r| r.aor == aor && pred(r))
        })
    }

    /// GET `path`, which must answer 200 with JSON.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let response = self.http_get(path);
        assert_eq!(response.status, 200, "GET {path}: {}", response.body);
        serde_json::from_str(&response.body).unwrap()
    }

    /// GET /metrics as text.
    pub fn metrics(&self) -> String {
        let r = self.http_get("/metrics");
        assert_eq!(r.status, 200, "GET /metrics: {} {}", r.status, r.body);
        r.body
    }

    /// Sum of all series of a Prometheus metric (any labels); 0 if absent.
    pub fn metric_sum(&self, name: &str) -> f64 {
        metric_sum(&self.metrics(), name)
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "\n===== switchboard config ({}) =====\n{}\n===== switchboard log =====\n{}\n===== end of switchboard log =====",
                self.config_path.display(),
                std::fs::read_to_string(&self.config_path).unwrap_or_default(),
                self.log()
            );
        }
    }
}

#[derive(Debug, Clone)]
pub struct Registration {
    pub aor: String,
    pub contact: String,
    pub expires: Option<f64>,
    pub source: String,
    pub raw: Json,
}

/// Sum of the samples of `name` (with or without labels) in Prometheus text.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let rest = if rest.starts_with('{') {
                &rest[rest.find('}')? + 1..]
            } else {
                rest
            };
            if !rest.starts_with(' ') {
                return None; // a longer metric name
            }
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum()
}

// ---------------------------------------------------------------------------
// HTTP by hand
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The API token of scope "read" that test switches accept.
#[allow(dead_code)]
pub const READ_TOKEN: &str = "test-read-token-0123456789";
/// The API token of scope "control" that test switches accept, and that
/// [`http_get`] and [`http_post`] send.
pub const CONTROL_TOKEN: &str = "test-control-token-0123456789";

/// A minimal HTTP/1.1 GET with `Connection: close`.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<HttpResponse> {
    http_request(addr, "GET", path, None)
}

/// A minimal HTTP/1.1 POST of a JSON body with `Connection: close`.
#[allow(dead_code)]
pub fn http_post(addr: SocketAddr, path: &str, json: &str) -> std::io::Result<HttpResponse> {
    http_request(addr, "POST", path, Some(json))
}

fn http_request(addr: SocketAddr, method: &str, path: &str, json: Option<&str>) -> std::io::Result<HttpResponse> {
    http_request_as(addr, method, path, json, Some(CONTROL_TOKEN))
}

/// A minimal HTTP/1.1 request with `Connection: close`, with `token` as the
/// bearer token, or none.
pub fn http_request_as(
    addr: SocketAddr,
    method: &str,
    path: &str,
    json: Option<&str>,
    token: Option<&str>,
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let body = json.unwrap_or_default();
    let mut content = match json {
        Some(_) => format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()),
        None => String::new(),
    };
    if let Some(token) = token {
        content.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n{content}Connection: close\r\n\r\n{body}"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of HTTP headers"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut body = raw[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad(status_line))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| bad("bad chunk"))?;
            let size_text = String::from_utf8_lossy(&rest[..nl]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            rest = &rest[nl + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size).ok_or_else(|| bad("short chunk"))?);
            rest = rest.get(size + 2..).unwrap_or_default();
        }
        body = out;
    }
    Ok(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

// ---------------------------------------------------------------------------
// SIPp
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn sipp_flag(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// One SIPp run, built up with the setters, then [`Sipp::run`] or [`Sipp::spawn`].
pub struct Sipp {
    scenario: String,
    remote: Option<SocketAddr>,
    transport: Transport,
    local_port: u16,
    calls: u32,
    timeout_secs: u32,
    service: Option<String>,
    keys: Vec<(String, String)>,
    auth: Option<(String, String)>,
    extra: Vec<String>,
}

impl Sipp {
    /// `scenario` is a file name in tests/sipp without `.xml`.
    pub fn new(scenario: &str) -> Sipp {
        Sipp {
            scenario: scenario.to_string(),
            remote: None,
            transport: Transport::Udp,
            local_port: 0,
            calls: 1,
            timeout_secs: 10,
            service: None,
            keys: vec![("domain".into(), LOCALHOST.into())],
            auth: None,
            extra: Vec::new(),
        }
    }

    /// The switch to send to (client scenarios).
    pub fn remote(mut self, addr: SocketAddr) -> Sipp {
        self.remote = Some(addr);
        self
    }
    pub fn transport(mut self, t: Transport) -> Sipp {
        self.transport = t;
        self
    }
    /// Local SIP port (-p); a free one is chosen when not set.
    pub fn local_port(mut self, port: u16) -> Sipp {
        self.local_port = port;
        self
    }
    /// Number of calls (-m); SIPp exits after that many.
    pub fn calls(mut self, n: u32) -> Sipp {
        self.calls = n;
        self
    }
    /// Global timeout (-timeout, -timeout_error): SIPp fails when reached.
    pub fn timeout_secs(mut self, s: u32) -> Sipp {
        self.timeout_secs = s;
        self
    }
    /// Request-URI user (-s).
    pub fn service(mut self, s: &str) -> Sipp {
        self.service = Some(s.to_string());
        self
    }
    /// A scenario keyword `[name]` (-key name value).
    pub fn key(mut self, name: &str, value: &str) -> Sipp {
        self.keys.push((name.to_string(), value.to_string()));
        self
    }
    /// Digest credentials for `[authentication]` (-au, -ap).
    pub fn auth(mut self, user: &str, password: &str) -> Sipp {
        self.auth = Some((user.to_string(), password.to_string()));
        self
    }
    pub fn arg(mut self, a: &str) -> Sipp {
        self.extra.push(a.to_string());
        self
    }

    fn command(&mut self, dir: &Path) -> Command {
        if self.local_port == 0 {
            self.local_port = free_port();
        }
        let media = free_ports(4);
        let control = free_port();
        let scenario = scenario_dir().join(format!("{}.xml", self.scenario));
        assert!(scenario.is_file(), "no scenario {}", scenario.display());
        let mut c = Command::new(sipp_bin());
        if let Some(r) = self.remote {
            c.arg(r.to_string());
        }
        c.arg("-sf").arg(&scenario);
        c.args(["-i", LOCALHOST, "-mi", LOCALHOST]);
        c.arg("-p").arg(self.local_port.to_string());
        c.arg("-t").arg(self.transport.sipp_flag());
        c.arg("-mp").arg(media.to_string());
        c.arg("-cp").arg(control.to_string());
        c.arg("-m").arg(self.calls.to_string());
        c.arg("-l").arg("10");
        c.arg("-r").arg("10");
        c.arg("-timeout").arg(format!("{}s", self.timeout_secs));
        c.arg("-timeout_error");
        c.arg("-nostdin");
        c.args(["-trace_err", "-error_file"]).arg(dir.join("errors.log"));
        c.args(["-trace_msg", "-message_file"]).arg(dir.join("messages.log"));
        c.args(["-trace_logs", "-log_file"]).arg(dir.join("logs.log"));
        c.args(["-trace_screen", "-screen_file"]).arg(dir.join("screen.log"));
        c.args(["-trace_stat", "-stf"])
            .arg(dir.join("stat.csv"))
            .args(["-fd", "1"]);
        if let Some(s) = &self.service {
            c.arg("-s").arg(s);
        }
        for (k, v) in &self.keys {
            c.arg("-key").arg(k).arg(v);
        }
        if let Some((u, p)) = &self.auth {
            c.arg("-au").arg(u).arg("-ap").arg(p);
        }
        c.args(&self.extra);
        c.current_dir(dir);
        c.stdin(Stdio::null());
        c
    }

    /// Starts SIPp in the background (for agents that must be ready before
    /// the call); waits until it has bound its SIP port.
    pub fn spawn(mut self) -> SippRunning {
        let dir = tempfile::Builder::new().prefix("sipp-").tempdir().expect("temp dir");
        let mut cmd = self.command(dir.path());
        let out = std::fs::File::create(dir.path().join("stdout.log")).expect("stdout file");
        let err = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr file");
        let cmdline = format!("{cmd:?}");
        let child = cmd.stdout(out).stderr(err).spawn().expect("spawn sipp");
        let mut running = SippRunning {
            child: Some(child),
            dir,
            scenario: self.scenario.clone(),
            cmdline,
            local_port: self.local_port,
            hard_deadline: Instant::now() + Duration::from_secs(u64::from(self.timeout_secs) + 10),
        };
        // Wait until SIPp has bound its port (or has already finished).
        let tcp = self.transport == Transport::Tcp;
        let port = self.local_port;
        let ready = poll_until(Duration::from_secs(5), || {
            let exited = running.child.as_mut().is_none_or(|c| !matches!(c.try_wait(), Ok(None)));
            let bound = port_is_bound(port, tcp);
            (exited || bound).then_some(())
        });
        if ready.is_none() {
            let outcome = running.finish(None);
            panic!(
                "SIPp {} did not bind port {}:\n{}",
                self.scenario,
                self.local_port,
                outcome.report()
            );
        }
        running
    }

    /// Runs SIPp to completion and returns what happened.
    pub fn run(self) -> SippOutcome {
        self.spawn().wait()
    }
}

/// A SIPp process; killed on drop.
pub struct SippRunning {
    child: Option<Child>,
    dir: tempfile::TempDir,
    scenario: String,
    cmdline: String,
    pub local_port: u16,
    hard_deadline: Instant,
}

impl SippRunning {
    /// A file in SIPp's working directory as it is now (e.g. written by an
    /// `<exec command="echo ... > name"/>` action while SIPp runs).
    pub fn file(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join(name)).ok()
    }

    /// Waits for SIPp to exit (it has its own -timeout; this is a backstop).
    pub fn wait(mut self) -> SippOutcome {
        let status = loop {
            let Some(child) = self.child.as_mut() else { break None };
            match child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() > self.hard_deadline => break None,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break None,
            }
        };
        self.finish(status)
    }

    fn finish(&mut self, status: Option<ExitStatus>) -> SippOutcome {
        if let Some(mut child) = self.child.take() {
            if status.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let read =
            |n: &str| String::from_utf8_lossy(&std::fs::read(self.dir.path().join(n)).unwrap_or_default()).into_owned();
        let stats = read("stat.csv");
        let (successful, failed) = parse_sipp_stats(&stats);
        SippOutcome {
            scenario: self.scenario.clone(),
            cmdline: self.cmdline.clone(),
            exit_code: status.and_then(|s| s.code()),
            killed: status.is_none(),
            successful,
            failed,
            errors: read("errors.log"),
            messages: read("messages.log"),
            logs: read("logs.log"),
            screen: read("screen.log"),
            stdout: read("stdout.log"),
            stderr: read("stderr.log"),
        }
    }
}

impl Drop for SippRunning {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// SuccessfulCall(C) and FailedCall(C) from the last line of SIPp's -trace_stat CSV.
fn parse_sipp_stats(csv: &str) -> (Option<u64>, Option<u64>) {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return (None, None);
    };
    let Some(last) = lines.next_back() else {
        return (None, None);
    };
    let cols: Vec<&str> = header.split(';').collect();
    let vals: Vec<&str> = last.split(';').collect();
    let get = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .and_then(|i| vals.get(i))
            .and_then(|v| v.trim().parse().ok())
    };
    (get("SuccessfulCall(C)"), get("FailedCall(C)"))
}

/// The result of a SIPp run, with its traces for failure messages.
#[derive(Debug)]
pub struct SippOutcome {
    pub scenario: String,
    pub cmdline: String,
    /// 0: all calls succeeded; 1: some failed; 97/99/255...: other (see sipp -h).
    pub exit_code: Option<i32>,
    /// true if the harness had to kill SIPp.
    pub killed: bool,
    pub successful: Option<u64>,
    pub failed: Option<u64>,
    pub errors: String,
    pub messages: String,
    pub logs: String,
    pub screen: String,
    pub stdout: String,
    pub stderr: String,
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        s
    } else {
        let mut start = s.len() - max;
        while !s.is_char_boundary(start) {
            start += 1;
        }
        &s[start..]
    }
}

impl SippOutcome {
    /// Everything useful to diagnose a failed run.
    pub fn report(&self) -> String {
        format!(
            "SIPp scenario {}: exit code {:?}{}, successful calls {:?}, failed calls {:?}\n\
             command: {}\n--- SIPp error log ---\n{}\n--- SIPp stderr ---\n{}\n--- SIPp log actions ---\n{}\n\
             --- SIPp final screen ---\n{}\n--- SIPp message trace (tail) ---\n{}",
            self.scenario,
            self.exit_code,
            if self.killed {
                " (killed by the harness after its deadline)"
            } else {
                ""
            },
            self.successful,
            self.failed,
            self.cmdline,
            tail(&self.errors, 6000),
            tail(&self.stderr, 2000),
            tail(&self.logs, 2000),
            tail(&self.screen, 4000),
            tail(&self.messages, 8000),
        )
    }

    /// SIPp exit code 0 and exactly `calls` successful, 0 failed calls.
    pub fn assert_success(&self, calls: u64) {
        assert!(
            self.exit_code == Some(0) && self.successful == Some(calls) && self.failed == Some(0),
            "expected SIPp exit code 0 with {calls} successful and 0 failed calls\n{}",
            self.report()
        );
    }

    /// Received messages in the trace whose text satisfies `pred`.
    pub fn received(&self, pred: impl Fn(&str) -> bool) -> Vec<String> {
        self.trace_messages()
            .into_iter()
            .filter(|(dir, _)| dir == "received")
            .map(|(_, m)| m)
            .filter(|m| pred(m))
            .collect()
    }

    /// Sent messages in the trace whose text satisfies `pred`.
    pub fn sent(&self, pred: impl Fn(&str) -> bool) -> Vec<String> {
        self.trace_messages()
            .into_iter()
            .filter(|(dir, _)| dir == "sent")
            .map(|(_, m)| m)
            .filter(|m| pred(m))
            .collect()
    }

    /// The -trace_msg file split into ("sent" | "received", message text).
    pub fn trace_messages(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for block in self.messages.split("----------------------------------------------- ") {
            let mut lines = block.splitn(3, '\n');
            let _stamp = lines.next();
            let Some(what) = lines.next() else { continue };
            let body = lines
                .next()
                .unwrap_or_default()
                .trim_start_matches(['\r', '\n'])
                .to_string();
            let dir = if what.contains("message received") {
                "received"
            } else if what.contains("message sent") {
                "sent"
            } else {
                continue;
            };
            out.push((dir.to_string(), body));
        }
        out
    }

    /// Values of `<log message="PREFIX ...">` lines, e.g. "AGENT call_id=".
    pub fn log_values(&self, prefix: &str) -> Vec<String> {
        self.logs
            .lines()
            .filter_map(|l| l.find(prefix).map(|i| l[i + prefix.len()..].trim().to_string()))
            .collect()
    }
}

/// Value of a SIP header in a message text (first occurrence, case-insensitive name).
pub fn sip_header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines()
        .map(|l| l.trim_end_matches('\r'))
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

/// Registers `ext` from SIPp on `port` (digest, MD5) and asserts success, so
/// that a SIPp agent scenario started on the same port can then be called.
impl SippOutcome {
    /// The message trace: `(Unix seconds, entry)` per message sent or
    /// received (SIPp writes local time; its screen gives the offset).
    pub fn trace(&self) -> Vec<(f64, String)> {
        let offset = sipp_utc_offset(self);
        let mut entries = Vec::new();
        for chunk in self
            .messages
            .split("----------------------------------------------- ")
            .skip(1)
        {
            let (stamp, rest) = chunk.split_once('\n').unwrap_or((chunk, ""));
            let mut parts = stamp.split_whitespace();
            let (Some(date), Some(time)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Some(local) = local_secs(date, time) else { continue };
            entries.push((local - offset, rest.to_owned()));
        }
        entries
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// "2026-11-23" and "14:05:01.123456" (SIPp's local time) as seconds since
/// 1970 on the local clock.
fn local_secs(date: &str, time: &str) -> Option<f64> {
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, dd) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min, s) = (
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    Some(days_from_civil(y, m, dd) as f64 * 86400.0 + h * 3600.0 + min * 60.0 + s)
}

/// Local time minus Unix time in seconds, from SIPp's statistics screen:
/// "Start Time | 2026-11-23<TAB>13:25:44.823903<TAB>1795440344.823903".
fn sipp_utc_offset(outcome: &SippOutcome) -> f64 {
    let line = outcome
        .screen
        .lines()
        .find(|l| l.trim_start().starts_with("Start Time"))
        .unwrap_or_else(|| panic!("no start time on SIPp's screen:\n{}", outcome.screen));
    let fields: Vec<&str> = line.split('|').nth(1).unwrap_or("").split_whitespace().collect();
    let (Some(local), Some(unix)) = (
        fields.first().zip(fields.get(1)).and_then(|(d, t)| local_secs(d, t)),
        fields.get(2).and_then(|u| u.parse::<f64>().ok()),
    ) else {
        panic!("unreadable start time on SIPp's screen: {line:?}");
    };
    // Zones are whole minutes off UTC; both fields are the same instant.
    ((local - unix) / 60.0).round() * 60.0
}

/// The user part of a message's From header: the caller's number.
pub fn sip_from_user(message: &str) -> Option<String> {
    let from = message
        .lines()
        .find(|l| l.starts_with("From:") || l.starts_with("f:"))?;
    let start = from.find("sip:")? + 4;
    let end = from[start..].find('@')? + start;
    Some(from[start..end].to_owned())
}

pub fn register_sipp_agent(switch: &Switch, ext: &str, port: u16, transport: Transport) -> SippOutcome {
    let outcome = Sipp::new("register")
        .remote(switch.sip_addr())
        .transport(transport)
        .local_port(port)
        .key("ext", ext)
        .key("expires", "300")
        .auth(ext, switch.config.password_of(ext))
        .timeout_secs(8)
        .run();
    outcome.assert_success(1);
    outcome
}

/// A SIPp agent registered as `ext` and then waiting on the same port with
/// `agent_scenario`; and the result of a caller scenario run through the switch.
pub struct BridgedCall {
    pub agent: SippOutcome,
    pub caller: SippOutcome,
    pub agent_port: u16,
}

/// Registers a SIPp agent for `ext`, starts `agent_scenario` on its port, then
/// runs `caller_scenario` (-s ext) against the switch and waits for both.
pub fn bridged_call(
    switch: &Switch,
    ext: &str,
    transport: Transport,
    agent_scenario: &str,
    caller_scenario: &str,
) -> BridgedCall {
    let agent_port = free_port();
    register_sipp_agent(switch, ext, agent_port, transport);
    let agent = Sipp::new(agent_scenario)
        .transport(transport)
        .local_port(agent_port)
        .key("ext", ext)
        .calls(1)
        .timeout_secs(12)
        .spawn();
    let caller = Sipp::new(caller_scenario)
        .remote(switch.sip_addr())
        .transport(transport)
        .service(ext)
        .calls(1)
        .timeout_secs(10)
        .run();
    let agent = agent.wait();
    BridgedCall {
        agent,
        caller,
        agent_port,
    }
}

impl BridgedCall {
    pub fn report(&self) -> String {
        format!(
            "===== CALLER =====\n{}\n===== AGENT =====\n{}",
            self.caller.report(),
            self.agent.report()
        )
    }

    /// Both SIPp sides exit 0 with one successful call each.
    pub fn assert_both_succeeded(&self) {
        let ok = |o: &SippOutcome| o.exit_code == Some(0) && o.successful == Some(1) && o.failed == Some(0);
        assert!(
            ok(&self.caller) && ok(&self.agent),
            "expected caller and agent SIPp to exit 0 with 1 successful call each\n{}",
            self.report()
        );
    }

    /// The B2BUA uses a new Call-ID on the agent leg.
    pub fn assert_new_call_id(&self) {
        let caller_ids = self.caller.log_values("CALLER call_id=");
        let agent_ids = self.agent.log_values("AGENT call_id=");
        assert!(
            !caller_ids.is_empty() && !agent_ids.is_empty(),
            "missing call-id logs\n{}",
            self.report()
        );
        let c = caller_ids[0].split_whitespace().next().unwrap_or_default();
        let a = agent_ids[0].split_whitespace().next().unwrap_or_default();
        assert_ne!(c, a, "agent leg reuses the caller's Call-ID (not a B2BUA)");
    }
}

/// True if `msg` is a response with status `code` whose CSeq method is `method`.
pub fn is_response(msg: &str, code: u16, method: &str) -> bool {
    msg.starts_with(&format!("SIP/2.0 {code} "))
        && sip_header(msg, "CSeq")
            .or_else(|| sip_header(msg, "cseq"))
            .and_then(|c| c.split_whitespace().nth(1))
            .is_some_and(|m| m.eq_ignore_ascii_case(method))
}

// ---------------------------------------------------------------------------
// a UDP tap: a relay that timestamps what passes
// ---------------------------------------------------------------------------

/// A datagram that passed a [`UdpTap`], with the moment the tap read it.
#[derive(Debug, Clone)]
pub struct TapPacket {
    pub at: std::time::SystemTime,
    /// true: from the upstream side (e.g. the switch) to the peer behind the tap.
    pub from_upstream: bool,
    pub text: String,
}

/// A UDP relay on a free 127.0.0.1 port between `upstream` and one peer (the
/// first other address that sends to it): each datagram is timestamped on
/// arrival, then passed on from the tap's own socket. A SIP peer that
/// registers through it is then called through it, so the test sees the
/// moment each of its requests and responses went on the wire.
pub struct UdpTap {
    pub port: u16,
    packets: std::sync::Arc<Mutex<Vec<TapPacket>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UdpTap {
    pub fn start(upstream: SocketAddr) -> UdpTap {
        let socket = UdpSocket::bind((LOCALHOST, 0)).expect("bind the UDP tap");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("tap read timeout");
        let port = socket.local_addr().expect("tap address").port();
        let packets = std::sync::Arc::new(Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (log, stopped) = (packets.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut peer: Option<SocketAddr> = None;
            let mut buf = vec![0u8; 65536];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let at = std::time::SystemTime::now();
                let from_upstream = from == upstream;
                let to = if from_upstream {
                    peer
                } else {
                    peer = Some(from);
                    Some(upstream)
                };
                if let Some(to) = to {
                    let _ = socket.send_to(&buf[..n], to);
                }
                log.lock().unwrap_or_else(|e| e.into_inner()).push(TapPacket {
                    at,
                    from_upstream,
                    text: String::from_utf8_lossy(&buf[..n]).into_owned(),
                });
            }
        });
        UdpTap {
            port,
            packets,
            stop,
            thread: Some(thread),
        }
    }

    /// Everything that passed so far.
    pub fn packets(&self) -> Vec<TapPacket> {
        self.packets.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for UdpTap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// baresip as an agent's phone, driven over ctrl_tcp
// ---------------------------------------------------------------------------

/// A message from baresip's `ctrl_tcp` module (an event or a command's
/// response), with the moment the test read it.
#[derive(Debug, Clone)]
pub struct BaresipMessage {
    pub at: std::time::SystemTime,
    pub instant: Instant,
    pub json: serde_json::Value,
}

impl BaresipMessage {
    /// The event type (`CALL_INCOMING`, `CALL_ESTABLISHED`...), "" for a response.
    pub fn kind(&self) -> &str {
        self.json["type"].as_str().unwrap_or_default()
    }

    /// The peer's user part, e.g. the caller's number of an incoming call.
    pub fn peer_user(&self) -> Option<&str> {
        let uri = self.json["peeruri"].as_str()?;
        let user = uri.strip_prefix("sip:").unwrap_or(uri);
        user.split('@').next()
    }
}

/// A `ctrl_tcp` command and baresip's response: whatever the command did
/// (e.g. `accept` sending the 200 OK) happened between `sent` and `replied`,
/// as baresip executes a command before it responds.
#[derive(Debug, Clone)]
pub struct BaresipReply {
    pub sent: std::time::SystemTime,
    pub replied: std::time::SystemTime,
    pub json: serde_json::Value,
}

impl BaresipReply {
    pub fn ok(&self) -> bool {
        self.json["ok"] == true
    }
}

/// baresip registered as an agent, listening on 127.0.0.1 only, with its
/// `ctrl_tcp` control socket on a free 127.0.0.1 port: calls ring until the
/// test sends `accept` (manual answer mode). Its microphone is the `ausine`
/// tone generator and it has no player, so no sound card is needed.
///
/// It registers through a [`UdpTap`], so the switch calls it through the tap
/// too (it sends to the binding's source address) and baresip answers there
/// (to the request's source): `tap` has its SIP with the moment of each
/// message. Requests baresip sends within a call (its BYE) go straight to
/// the switch. Killed on drop; its log and control messages are printed if
/// the test fails.
pub struct BaresipPhone {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub tap: UdpTap,
    pub ext: String,
    pub sip_port: u16,
    pub ctrl_port: u16,
    ctrl: TcpStream,
    messages: std::sync::mpsc::Receiver<BaresipMessage>,
    unread: std::collections::VecDeque<BaresipMessage>,
    /// Every message read so far, for failure reports.
    pub seen: Vec<BaresipMessage>,
    next_token: u64,
}

impl BaresipPhone {
    /// Starts baresip for `ext` (UDP) and waits until the switch has its
    /// registration.
    pub fn start(switch: &Switch, ext: &str) -> BaresipPhone {
        let mut last = String::new();
        for _attempt in 0..3 {
            match BaresipPhone::try_start(switch, ext) {
                Ok(phone) => return phone,
                Err(why) => last = why,
            }
        }
        panic!("baresip did not come up as {ext} (3 attempts): {last}");
    }

    fn try_start(switch: &Switch, ext: &str) -> Result<BaresipPhone, String> {
        let bin = baresip_bin();
        let dir = tempfile::Builder::new()
            .prefix("baresip-agent-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let sip_port = free_port();
        let ctrl_port = free_port();
        let rtp = free_ports(16);
        let tap = UdpTap::start(switch.sip_addr());
        // ausine only produces 48 kHz stereo; baresip resamples for G.711.
        // menu.so provides the `accept` and `hangup` commands.
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t{LOCALHOST}:{sip_port}\n\
             call_local_timeout\t120\n\
             call_max_calls\t\t4\n\
             audio_source\t\tausine,440\n\
             ausrc_srate\t\t48000\n\
             ausrc_channels\t\t2\n\
             rtp_ports\t\t{rtp}-{rtp_last}\n\
             statmode_default\toff\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\tausine.so\n\
             module_tmp\t\tuuid.so\n\
             module_tmp\t\taccount.so\n\
             module_app\t\tmenu.so\n\
             module_app\t\tctrl_tcp.so\n\
             ctrl_tcp_listen\t\t{LOCALHOST}:{ctrl_port}\n",
            rtp_last = rtp + 15
        );
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).map_err(|e| e.to_string());
        write("config", &config)?;
        write(
            "accounts",
            &format!(
                "<sip:{ext}@{LOCALHOST}:{port};transport=udp>;auth_pass={pass};regint=60;answermode=manual\n",
                port = tap.port,
                pass = switch.config.password_of(ext),
            ),
        )?;
        write("contacts", "")?;
        let out = std::fs::File::create(dir.path().join("baresip.log")).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .arg("-f")
            .arg(dir.path())
            .arg("-s") // SIP trace into the log, for failures
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("spawn baresip: {e}"))?;
        let mut child = Some(child);
        let log =
            || String::from_utf8_lossy(&std::fs::read(dir.path().join("baresip.log")).unwrap_or_default()).into_owned();
        let stop = |child: &mut Option<Child>| {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        };
        let listening = poll_until(Duration::from_secs(10), || {
            let exited = child.as_mut().is_none_or(|c| !matches!(c.try_wait(), Ok(None)));
            (exited || port_is_bound(ctrl_port, true)).then_some(())
        });
        if listening.is_none() || !port_is_bound(ctrl_port, true) {
            stop(&mut child);
            return Err(format!("no ctrl_tcp socket on {ctrl_port}:\n{}", log()));
        }
        let ctrl = match TcpStream::connect((LOCALHOST, ctrl_port)) {
            Ok(s) => s,
            Err(e) => {
                stop(&mut child);
                return Err(format!("connect to ctrl_tcp on {ctrl_port}: {e}\n{}", log()));
            }
        };
        let _ = ctrl.set_nodelay(true);
        let reader = ctrl.try_clone().map_err(|e| e.to_string())?;
        let (tx, messages) = std::sync::mpsc::channel();
        std::thread::spawn(move || read_netstrings(reader, &tx));
        let phone = BaresipPhone {
            child,
            dir,
            tap,
            ext: ext.to_string(),
            sip_port,
            ctrl_port,
            ctrl,
            messages,
            unread: std::collections::VecDeque::new(),
            seen: Vec::new(),
            next_token: 0,
        };
        let contact = format!("{LOCALHOST}:{sip_port}");
        if switch
            .wait_for_registration(ext, Duration::from_secs(10), |r| r.contact.contains(&contact))
            .is_none()
        {
            // Dropping the phone kills baresip.
            return Err(format!(
                "{ext} (baresip on {contact}) never appeared in /api/registrations: {:?}\n{}",
                switch.registrations(),
                phone.log()
            ));
        }
        Ok(phone)
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.path().join("baresip.log")).unwrap_or_default()).into_owned()
    }

    /// When baresip's first 200 OK to each INVITE passed the tap, by the user
    /// part of From (the caller's number on calls from the switch).
    pub fn invites_answered(&self) -> std::collections::BTreeMap<String, std::time::SystemTime> {
        let mut first = std::collections::BTreeMap::new();
        for p in self.tap.packets() {
            if p.from_upstream || !is_response(&p.text, 200, "INVITE") {
                continue;
            }
            let from = sip_header(&p.text, "From").or_else(|| sip_header(&p.text, "f"));
            if let Some(user) = from.and_then(|f| f.split("sip:").nth(1)?.split('@').next()) {
                first.entry(user.to_string()).or_insert(p.at);
            }
        }
        first
    }

    fn receive(&mut self, timeout: Duration) -> Option<BaresipMessage> {
        let m = self.messages.recv_timeout(timeout).ok()?;
        self.seen.push(m.clone());
        Some(m)
    }

    /// Waits for the next event of type `kind`, passing over other events.
    pub fn event(&mut self, kind: &str, timeout: Duration) -> Option<BaresipMessage> {
        if let Some(i) = self.unread.iter().position(|m| m.kind() == kind) {
            let m = self.unread.remove(i);
            self.unread.drain(..i);
            return m;
        }
        self.unread.clear();
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let m = self.receive(left)?;
            if m.kind() == kind {
                return Some(m);
            }
        }
    }

    /// Sends a command (`accept`, `hangup`, ...) and waits for its response;
    /// events that arrive meanwhile stay for [`BaresipPhone::event`].
    pub fn command(&mut self, command: &str, params: &str) -> BaresipReply {
        self.next_token += 1;
        let token = format!("t{}", self.next_token);
        let body = serde_json::json!({"command": command, "params": params, "token": token}).to_string();
        let sent = std::time::SystemTime::now();
        self.ctrl
            .write_all(format!("{}:{body},", body.len()).as_bytes())
            .unwrap_or_else(|e| panic!("ctrl_tcp write of {command}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(m) = self.receive(left) else {
                panic!("baresip did not respond to `{command}` within 5 s:\n{}", self.log());
            };
            if m.json["response"] == true && m.json["token"] == token.as_str() {
                return BaresipReply {
                    sent,
                    replied: m.at,
                    json: m.json,
                };
            }
            self.unread.push_back(m);
        }
    }
}

/// Reads `len:payload,` netstrings of JSON from baresip until the socket closes.
fn read_netstrings(mut stream: TcpStream, tx: &std::sync::mpsc::Sender<BaresipMessage>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let (at, instant) = (std::time::SystemTime::now(), Instant::now());
        buf.extend_from_slice(&chunk[..n]);
        while let Some(colon) = buf.iter().position(|&b| b == b':') {
            let Some(len) = std::str::from_utf8(&buf[..colon])
                .ok()
                .and_then(|l| l.parse::<usize>().ok())
            else {
                return; // not a netstring: stop reading
            };
            let end = colon + 1 + len;
            if buf.len() <= end {
                break;
            }
            let json = serde_json::from_slice(&buf[colon + 1..end]).unwrap_or(serde_json::Value::Null);
            buf.drain(..=end);
            if tx.send(BaresipMessage { at, instant, json }).is_err() {
                return;
            }
        }
    }
}

impl Drop for BaresipPhone {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let seen: Vec<String> = self.seen.iter().map(|m| m.json.to_string()).collect();
            eprintln!(
                "\n===== baresip {} ctrl_tcp messages =====\n{}\n===== baresip {} log =====\n{}\n===== end of baresip log =====",
                self.ext,
                seen.join("\n"),
                self.ext,
                self.log()
            );
        }
    }
}
