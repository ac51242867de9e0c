//! Configuration: one TOML file, every key documented in [`EXAMPLE`].
//!
//! Loading refuses unknown keys and bad values with the file, the key path and
//! the reason, so a typo never silently runs a default.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use signaling::auth::DigestAlgorithm;

/// The commented example printed by `switchboard config example`. It is also
/// the demo configuration (with generated agent passwords), so it always parses.
pub(crate) const EXAMPLE: &str = include_str!("config_example.toml");

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// SIP transports and timers.
    pub(crate) sip: Sip,
    /// Media anchoring.
    #[serde(default)]
    pub(crate) media: Media,
    /// WebRTC media for browser agents.
    #[serde(default)]
    pub(crate) webrtc: crate::webrtc::WebRtcSettings,
    /// Registrar and digest authentication.
    #[serde(default)]
    pub(crate) registrar: Registrar,
    /// HTTP server (health, metrics, API).
    #[serde(default)]
    pub(crate) http: Http,
    /// Agent accounts.
    #[serde(default)]
    pub(crate) agents: Vec<Agent>,
    /// Trusted trunks.
    #[serde(default)]
    pub(crate) trunks: Vec<Trunk>,
    /// How the switch dials call-backs.
    #[serde(default)]
    pub(crate) callbacks: Callbacks,
    /// Numbers answered by IVR flows.
    #[serde(default)]
    pub(crate) routes: Vec<Route>,
    /// Where IVR prompts live.
    #[serde(default)]
    pub(crate) ivr: Ivr,
    /// ACD queues.
    #[serde(default)]
    pub(crate) queues: Vec<queue::acd::QueueConfig>,
    /// How KPIs are defined (service level formula, thresholds...).
    #[serde(default)]
    pub(crate) kpi: queue::kpi::KpiSettings,
    /// Where call records and call-backs are kept.
    #[serde(default)]
    pub(crate) storage: Storage,
    /// The wallboard.
    #[serde(default)]
    pub(crate) wallboard: Wallboard,
    /// Where the centre is.
    #[serde(default)]
    pub(crate) site: Site,
    /// Call recording.
    #[serde(default)]
    pub(crate) recording: crate::recording::RecordingConfig,
    /// Quality evaluation of recordings.
    #[serde(default)]
    pub(crate) qa: crate::recording::QaConfig,
    /// Event subscriptions, overflow decision hooks, the service-level watch.
    #[serde(default)]
    pub(crate) hooks: crate::hooks::HooksConfig,
    /// Logging.
    #[serde(default)]
    pub(crate) log: Log,
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sip {
    /// UDP listen addresses.
    #[serde(default)]
    pub(crate) listen_udp: Vec<SocketAddr>,
    /// TCP listen addresses.
    #[serde(default)]
    pub(crate) listen_tcp: Vec<SocketAddr>,
    /// Our SIP domain: digest realm and host part of our URIs.
    pub(crate) domain: String,
    /// Largest SIP message accepted, in bytes.
    #[serde(default = "default_max_message_size")]
    pub(crate) max_message_size: usize,
    /// Kernel buffer for each UDP socket, receive and send, in bytes.
    #[serde(default = "default_udp_buffer")]
    pub(crate) udp_socket_buffer_bytes: usize,
    /// Most calls in progress; further INVITEs get 503 with Retry-After.
    #[serde(default = "default_max_calls")]
    pub(crate) max_calls: usize,
    /// RFC 3261 timers.
    #[serde(default)]
    pub(crate) timers: Timers,
}

/// `[sip.timers]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Timers {
    /// T1, the round-trip estimate, in ms.
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
    /// T2, the retransmission cap, in ms.
    #[serde(default = "default_t2")]
    pub t2_ms: u64,
    /// T4, the network lifetime of a message, in ms.
    #[serde(default = "default_t4")]
    pub t4_ms: u64,
    /// Timer C: an INVITE with a provisional answer but no final one is cancelled after this, in s.
    #[serde(default = "default_timer_c")]
    pub(crate) timer_c_secs: u64,
}

/// `[media]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Media {
    /// First port of the RTP range.
    #[serde(default = "default_rtp_first")]
    pub(crate) rtp_port_first: u16,
    /// Last port of the RTP range.
    #[serde(default = "default_rtp_last")]
    pub(crate) rtp_port_last: u16,
    /// Address RTP binds to and SDP advertises.
    #[serde(default = "default_rtp_address")]
    pub(crate) rtp_address: IpAddr,
    /// Seconds without RTP before a call is hung up.
    #[serde(default = "default_inactivity")]
    pub(crate) inactivity_secs: u64,
    /// Worker threads, 0 for one per core.
    #[serde(default)]
    pub(crate) workers: usize,
}

impl Default for Media {
    fn default() -> Self {
        Media {
            rtp_port_first: default_rtp_first(),
            rtp_port_last: default_rtp_last(),
            rtp_address: default_rtp_address(),
            inactivity_secs: default_inactivity(),
            workers: 0,
        }
    }
}

fn default_rtp_first() -> u16 {
    20_000
}
fn default_rtp_last() -> u16 {
    29_999
}
fn default_rtp_address() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_inactivity() -> u64 {
    30
}

/// `[registrar]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Registrar {
    /// Shortest registration accepted (shorter ones get 423 with Min-Expires), in s.
    #[serde(default = "default_min_expires")]
    pub(crate) min_expires: u32,
    /// Longest registration granted, in s.
    #[serde(default = "default_max_expires")]
    pub(crate) max_expires: u32,
    /// Registration length when the phone does not ask, in s.
    #[serde(default = "default_expires")]
    pub(crate) default_expires: u32,
    /// How long a digest nonce is valid before `stale=true`, in s.
    #[serde(default = "default_nonce_lifetime")]
    pub(crate) nonce_lifetime_secs: u64,
    /// Digest algorithms offered, in order of preference.
    #[serde(default = "default_algorithms")]
    pub(crate) algorithms: Vec<AlgorithmName>,
}

/// A digest algorithm name in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum AlgorithmName {
    /// RFC 7616 / RFC 8760 SHA-256.
    #[serde(rename = "SHA-256")]
    Sha256,
    /// RFC 2617 MD5, for phones that know nothing else.
    #[serde(rename = "MD5")]
    Md5,
}

impl From<AlgorithmName> for DigestAlgorithm {
    fn from(a: AlgorithmName) -> Self {
        match a {
            AlgorithmName::Sha256 => DigestAlgorithm::Sha256,
            AlgorithmName::Md5 => DigestAlgorithm::Md5,
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Http {
    /// Listen address of the HTTP server.
    #[serde(default = "default_http_listen")]
    pub(crate) listen: SocketAddr,
    /// Bearer tokens for the API (`[[http.tokens]]`); without any, every
    /// request under /api is refused.
    #[serde(default)]
    pub(crate) tokens: Vec<ApiToken>,
    /// PEM certificate chain: with `tls_key`, the port serves HTTPS (and
    /// SIP over WebSocket as WSS) instead of plain HTTP.
    #[serde(default)]
    pub(crate) tls_certificate: Option<std::path::PathBuf>,
    /// PEM private key of `tls_certificate`.
    #[serde(default)]
    pub(crate) tls_key: Option<std::path::PathBuf>,
}

/// `[[http.tokens]]`: one bearer token of the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiToken {
    /// Who holds it (a wallboard, the CRM, a QA tool); written in audit logs.
    pub(crate) name: String,
    /// The secret. Absent: one is generated at start-up and printed.
    pub(crate) token: Option<String>,
    /// What it may do.
    pub(crate) scope: crate::http_auth::Scope,
}

/// `[[agents]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Agent {
    /// Extension: the SIP user name and the number that rings this agent.
    pub(crate) extension: String,
    /// Display name.
    #[serde(default)]
    pub(crate) name: String,
    /// Digest password. Absent: one is generated at start-up and printed.
    pub(crate) password: Option<String>,
    /// Skills with a level 0-10 for skills-based queues: `"language:es=9"`.
    #[serde(default)]
    pub(crate) skills: Vec<String>,
    /// After an offer rings out: `pause` (default) or `free`.
    #[serde(default)]
    pub(crate) no_answer: queue::acd::NoAnswerAction,
    /// Logged in when the switch starts (default true); the phone must still
    /// be registered before calls are offered.
    #[serde(default = "yes")]
    pub(crate) logged_in_at_start: bool,
    /// The agent works in a browser: calls offer WebRTC media
    /// (UDP/TLS/RTP/SAVPF) even when its phone registered over UDP or TCP
    /// (agents registered over /ws get WebRTC media anyway).
    #[serde(default)]
    pub(crate) webrtc: bool,
}

fn yes() -> bool {
    true
}

/// `[site]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Site {
    /// The IANA time zone the centre's days are counted in ("today", report
    /// dates), e.g. `Europe/Madrid`.
    #[serde(default = "default_timezone")]
    pub(crate) timezone: String,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            timezone: default_timezone(),
        }
    }
}

fn default_timezone() -> String {
    "UTC".into()
}

/// `[wallboard]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Wallboard {
    /// The service-level target of the contract, in percent of the first
    /// threshold's SL: the board shows it green from here, amber within 5
    /// points below, red under that.
    #[serde(default = "default_sl_target")]
    pub(crate) service_level_target_percent: u8,
}

impl Default for Wallboard {
    fn default() -> Self {
        Wallboard {
            service_level_target_percent: default_sl_target(),
        }
    }
}

fn default_sl_target() -> u8 {
    80
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Storage {
    /// The SQLite file of call records, the agent log and call-backs.
    #[serde(default = "default_db")]
    pub(crate) path: std::path::PathBuf,
}

impl Default for Storage {
    fn default() -> Self {
        Storage { path: default_db() }
    }
}

fn default_db() -> std::path::PathBuf {
    "switchboard.db".into()
}

/// `[[trunks]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Trunk {
    /// Name, for logs and call records.
    pub(crate) name: String,
    /// Source addresses trusted to send calls without digest authentication.
    pub(crate) addresses: Vec<IpAddr>,
    /// How to reach a number through this trunk: a SIP URI with `{number}`
    /// in its user part and an IP address host, e.g.
    /// `sip:{number}@192.0.2.10:5060;transport=tcp`.
    #[serde(default)]
    pub(crate) dial: Option<String>,
}

impl Trunk {
    /// The URI that dials `number` through this trunk; `None` without a
    /// `dial` template, or for a number that is not safe in a URI user part
    /// (digits, letters, `+ * - . _`, at most 32).
    pub(crate) fn dial_uri(&self, number: &str) -> Option<String> {
        let safe = !number.is_empty()
            && number.len() <= 32
            && number
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'*' | b'-' | b'.' | b'_'));
        let template = self.dial.as_deref()?;
        safe.then(|| template.replace("{number}", number))
    }
}

/// Checks a trunk's `dial` template: a `sip:` URI with `{number}` in the user
/// part, an IP address host (names are not resolved yet) and no transport
/// but UDP or TCP.
fn check_dial_template(template: &str) -> Result<(), String> {
    let user = template.split_once('@').map(|(user, _)| user).unwrap_or_default();
    if !user.contains("{number}") {
        return Err("needs `{number}` in the user part, e.g. \"sip:{number}@192.0.2.10:5060\"".into());
    }
    let sample = template.replace("{number}", "15550100");
    if !sample.starts_with("sip:") {
        return Err("must be a sip: URI".into());
    }
    if rsip::Uri::try_from(sample.as_str()).is_err() {
        return Err("is not a SIP URI".into());
    }
    if signaling::headers::socket_addr_of(&sample).is_none() {
        return Err("the host must be an IP address (names are not resolved yet)".into());
    }
    let transport = sample.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("transport")
            .then(|| value.trim().to_owned())
    });
    if transport.is_some() && signaling::headers::transport_of(&sample).is_none() {
        return Err("transport must be udp or tcp".into());
    }
    Ok(())
}

/// `[callbacks]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Callbacks {
    /// The trunk (by name, with a `dial` template) call-backs are dialled
    /// through; none: call-backs are kept but every attempt fails.
    #[serde(default)]
    pub(crate) trunk: Option<String>,
    /// The user part of our From in the customer's INVITE: the number the
    /// customer sees.
    #[serde(default = "default_callback_caller_id")]
    pub(crate) caller_id: String,
    /// How long the customer's phone rings before the attempt counts as
    /// unanswered (kept below the queue's `dial_timeout_secs`).
    #[serde(default = "default_callback_ring")]
    pub(crate) ring_timeout_secs: u64,
}

impl Default for Callbacks {
    fn default() -> Self {
        Callbacks {
            trunk: None,
            caller_id: default_callback_caller_id(),
            ring_timeout_secs: default_callback_ring(),
        }
    }
}

fn default_callback_caller_id() -> String {
    "switchboard".to_owned()
}
fn default_callback_ring() -> u64 {
    30
}

/// `[[routes]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Route {
    /// The called number (Request-URI user).
    pub(crate) number: String,
    /// Only callers whose number starts with this (the longest match wins
    /// over routes without a prefix).
    #[serde(default)]
    pub(crate) caller_prefix: Option<String>,
    /// The flow file, relative to the working directory.
    pub(crate) flow: std::path::PathBuf,
}

/// `[ivr]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ivr {
    /// Prompts root: `<prompts>/<language>/<name>.wav`.
    #[serde(default = "default_prompts")]
    pub(crate) prompts: std::path::PathBuf,
    /// Where `record`/`voicemail` nodes put messages: `<dir>/<mailbox>/<time>-<leg>.wav`.
    #[serde(default = "default_voicemail")]
    pub(crate) voicemail: std::path::PathBuf,
}

impl Default for Ivr {
    fn default() -> Self {
        Ivr {
            prompts: default_prompts(),
            voicemail: default_voicemail(),
        }
    }
}

fn default_voicemail() -> std::path::PathBuf {
    "voicemail".into()
}

fn default_prompts() -> std::path::PathBuf {
    "prompts".into()
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Log {
    /// A tracing filter, e.g. `info` or `signaling=debug,info`.
    #[serde(default = "default_log_level")]
    pub(crate) level: String,
}

fn default_max_message_size() -> usize {
    65_535
}
fn default_udp_buffer() -> usize {
    4 << 20
}
fn default_max_calls() -> usize {
    10_000
}
fn default_t1() -> u64 {
    500
}
fn default_t2() -> u64 {
    4_000
}
fn default_t4() -> u64 {
    5_000
}
fn default_timer_c() -> u64 {
    180
}
fn default_min_expires() -> u32 {
    60
}
fn default_max_expires() -> u32 {
    7_200
}
fn default_expires() -> u32 {
    3_600
}
fn default_nonce_lifetime() -> u64 {
    300
}
fn default_algorithms() -> Vec<AlgorithmName> {
    vec![AlgorithmName::Md5]
}
fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_log_level() -> String {
    "info".to_owned()
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1_ms: default_t1(),
            t2_ms: default_t2(),
            t4_ms: default_t4(),
            timer_c_secs: default_timer_c(),
        }
    }
}

impl Default for Registrar {
    fn default() -> Self {
        Registrar {
            min_expires: default_min_expires(),
            max_expires: default_max_expires(),
            default_expires: default_expires(),
            nonce_lifetime_secs: default_nonce_lifetime(),
            algorithms: default_algorithms(),
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            listen: default_http_listen(),
            tokens: Vec::new(),
            tls_certificate: None,
            tls_key: None,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: default_log_level(),
        }
    }
}

/// A configuration that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    /// The file, or `<embedded demo>`.
    pub(crate) file: String,
    /// The key path, e.g. `sip.timers.t1_ms`.
    pub(crate) key: String,
    /// Line and column, when the TOML parser knows them.
    pub(crate) position: Option<(usize, usize)>,
    /// The reason.
    pub(crate) reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": key `{}`: {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and checks a configuration file.
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: String::new(),
            position: None,
            reason: e.to_string(),
        })?;
        Config::parse(&text, &file)
    }

    /// Parses and checks configuration text; `file` names it in errors.
    pub(crate) fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let error = |key: String, position, reason: String| ConfigError {
            file: file.to_owned(),
            key,
            position,
            reason,
        };
        let deserializer = toml::Deserializer::new(text);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let position = inner.span().map(|span| line_col(text, span.start));
            error(
                if key == "." { String::new() } else { key },
                position,
                inner.message().to_owned(),
            )
        })?;
        config.validate().map_err(|(key, reason)| error(key, None, reason))?;
        Ok(config)
    }

    /// The embedded demo configuration.
    pub(crate) fn demo() -> Config {
        // The example is checked by a unit test, so this cannot fail in a build.
        Config::parse(EXAMPLE, "<embedded demo>").unwrap_or_else(|e| panic!("embedded demo configuration: {e}"))
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let t = &self.sip.timers;
        if t.t1_ms == 0 {
            return Err(("sip.timers.t1_ms".into(), "must be above 0".into()));
        }
        if t.t2_ms < t.t1_ms {
            return Err(("sip.timers.t2_ms".into(), "must be at least t1_ms".into()));
        }
        if self.sip.listen_udp.is_empty() && self.sip.listen_tcp.is_empty() {
            return Err((
                "sip.listen_udp".into(),
                "no SIP listen address (listen_udp and listen_tcp are empty)".into(),
            ));
        }
        if !(1024..=1_048_576).contains(&self.sip.max_message_size) {
            return Err(("sip.max_message_size".into(), "must be between 1024 and 1048576".into()));
        }
        if self.sip.domain.trim().is_empty() {
            return Err(("sip.domain".into(), "must not be empty".into()));
        }
        let r = &self.registrar;
        if r.min_expires == 0 || r.min_expires > r.max_expires {
            return Err((
                "registrar.min_expires".into(),
                "must be above 0 and at most max_expires".into(),
            ));
        }
        if !(r.min_expires..=r.max_expires).contains(&r.default_expires) {
            return Err((
                "registrar.default_expires".into(),
                "must be between min_expires and max_expires".into(),
            ));
        }
        let m = &self.media;
        if m.rtp_port_first < 1024 || m.rtp_port_last <= m.rtp_port_first {
            return Err((
                "media.rtp_port_last".into(),
                "the RTP range must be above 1023 and hold at least one port pair".into(),
            ));
        }
        if m.rtp_address.is_unspecified() {
            return Err((
                "media.rtp_address".into(),
                "must be an address peers can reach, not 0.0.0.0 or ::".into(),
            ));
        }
        if m.inactivity_secs == 0 {
            return Err(("media.inactivity_secs".into(), "must be above 0".into()));
        }
        if r.algorithms.is_empty() {
            return Err(("registrar.algorithms".into(), "needs at least one algorithm".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, agent) in self.agents.iter().enumerate() {
            let key = format!("agents[{i}].extension");
            if agent.extension.is_empty()
                || !agent
                    .extension
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
            {
                return Err((key, format!("`{}` is not a valid SIP user name", agent.extension)));
            }
            if !seen.insert(agent.extension.as_str()) {
                return Err((key, format!("extension `{}` is defined twice", agent.extension)));
            }
            if agent.password.as_deref().is_some_and(str::is_empty) {
                return Err((
                    format!("agents[{i}].password"),
                    "must not be empty (leave it out to generate one)".into(),
                ));
            }
        }
        if self.http.tls_certificate.is_some() != self.http.tls_key.is_some() {
            return Err((
                "http.tls_certificate".into(),
                "tls_certificate and tls_key go together (both or neither)".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.http.tokens.iter().enumerate() {
            if t.name.is_empty() || !names.insert(t.name.as_str()) {
                return Err((
                    format!("http.tokens[{i}].name"),
                    "must be set and differ from the other tokens' names".into(),
                ));
            }
            if t.token.as_deref().is_some_and(|s| s.len() < 16) {
                return Err((
                    format!("http.tokens[{i}].token"),
                    "must be at least 16 characters (leave it out to generate one)".into(),
                ));
            }
        }
        for (i, trunk) in self.trunks.iter().enumerate() {
            if let Some(template) = &trunk.dial {
                check_dial_template(template).map_err(|e| (format!("trunks[{i}].dial"), e))?;
            }
        }
        let c = &self.callbacks;
        if let Some(name) = &c.trunk {
            match self.trunks.iter().find(|t| &t.name == name) {
                None => return Err(("callbacks.trunk".into(), format!("no trunk named `{name}`"))),
                Some(t) if t.dial.is_none() => {
                    return Err((
                        "callbacks.trunk".into(),
                        format!("trunk `{name}` has no `dial` template"),
                    ))
                }
                Some(_) => {}
            }
        }
        if c.caller_id.is_empty()
            || !c
                .caller_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_'))
        {
            return Err((
                "callbacks.caller_id".into(),
                format!("`{}` is not a valid SIP user name", c.caller_id),
            ));
        }
        if c.ring_timeout_secs == 0 {
            return Err(("callbacks.ring_timeout_secs".into(), "must be above 0".into()));
        }
        if self.site.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err((
                "site.timezone".into(),
                format!("`{}` is not an IANA time zone (e.g. Europe/Madrid)", self.site.timezone),
            ));
        }
        if !(1..=100).contains(&self.wallboard.service_level_target_percent) {
            return Err((
                "wallboard.service_level_target_percent".into(),
                "must be between 1 and 100".into(),
            ));
        }
        if let Err(e) = self.acd_config().validate() {
            return Err(("queues".into(), e.to_string()));
        }
        let queues: Vec<String> = self.queues.iter().map(|q| q.name.clone()).collect();
        self.recording.validate(&queues)?;
        self.qa.validate()?;
        self.hooks.validate()?;
        Ok(())
    }

    /// Fills in generated passwords for agents without one; returns the
    /// extensions and passwords it generated, to print at start-up.
    pub(crate) fn generate_missing_passwords(&mut self) -> Vec<(String, String)> {
        use rand::distributions::{Alphanumeric, DistString};
        let mut generated = Vec::new();
        for agent in &mut self.agents {
            if agent.password.is_none() {
                let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 12);
                generated.push((agent.extension.clone(), password.clone()));
                agent.password = Some(password);
            }
        }
        generated
    }

    /// Fills in generated secrets for API tokens without one; returns the
    /// tokens' names, scopes and secrets it generated, to print at start-up.
    pub(crate) fn generate_missing_tokens(&mut self) -> Vec<(String, crate::http_auth::Scope, String)> {
        use rand::distributions::{Alphanumeric, DistString};
        let mut generated = Vec::new();
        for t in &mut self.http.tokens {
            if t.token.is_none() {
                let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
                generated.push((t.name.clone(), t.scope, secret.clone()));
                t.token = Some(secret);
            }
        }
        generated
    }

    /// The site's time zone (checked when the file was loaded).
    pub(crate) fn timezone(&self) -> chrono_tz::Tz {
        self.site.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The ACD's configuration: the queues, and every agent account as an agent.
    pub(crate) fn acd_config(&self) -> queue::acd::AcdConfig {
        queue::acd::AcdConfig {
            queues: self.queues.clone(),
            agents: self
                .agents
                .iter()
                .map(|a| queue::acd::AgentConfig {
                    id: a.extension.clone(),
                    skills: a.skills.clone(),
                    no_answer: a.no_answer,
                    logged_in_at_start: a.logged_in_at_start,
                })
                .collect(),
            ..queue::acd::AcdConfig::default()
        }
    }

    /// The trunk call-backs are dialled through, if one is set.
    pub(crate) fn callback_trunk(&self) -> Option<&Trunk> {
        let name = self.callbacks.trunk.as_deref()?;
        self.trunks.iter().find(|t| t.name == name)
    }

    /// Transaction timer values.
    pub(crate) fn timer_config(&self) -> signaling::transaction::TimerConfig {
        let t = &self.sip.timers;
        signaling::transaction::TimerConfig {
            t1: Duration::from_millis(t.t1_ms),
            t2: Duration::from_millis(t.t2_ms),
            t4: Duration::from_millis(t.t4_ms),
            timer_c: Duration::from_secs(t.timer_c_secs),
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_the_demo_and_parses() {
        let config = Config::demo();
        assert_eq!(config.sip.listen_udp, ["127.0.0.1:5060".parse().unwrap()]);
        assert_eq!(config.sip.listen_tcp, ["127.0.0.1:5060".parse().unwrap()]);
        assert_eq!(config.http.listen, "127.0.0.1:8080".parse().unwrap());
        assert!(config.agents.len() >= 2);
        assert!(
            config.agents.iter().all(|a| a.password.is_none()),
            "demo passwords are generated"
        );
    }

    #[test]
    fn an_older_file_with_webrtc_bind_still_loads() {
        let text = EXAMPLE.replace("[webrtc]", "[webrtc]\nbind = \"127.0.0.1\"");
        let config = Config::parse(&text, "switchboard.toml").unwrap();
        assert_eq!(config.webrtc.bind, Some("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn unknown_keys_are_refused_with_file_key_and_position() {
        let text = EXAMPLE.replace("[sip.timers]", "[sip.timers]\nt9_ms = 3");
        let err = Config::parse(&text, "switchboard.toml").unwrap_err();
        assert_eq!(err.key, "sip.timers.t9_ms");
        assert!(err.reason.contains("unknown field `t9_ms`"), "{err}");
        assert!(err.to_string().starts_with("switchboard.toml:"), "{err}");
        assert!(err.position.is_some());
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let text = EXAMPLE.replace("t1_ms = 500", "t1_ms = \"fast\"");
        let err = Config::parse(&text, "f.toml").unwrap_err();
        assert_eq!(err.key, "sip.timers.t1_ms", "{err}");
        let text = EXAMPLE.replace("t2_ms = 4000", "t2_ms = 100");
        let err = Config::parse(&text, "f.toml").unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.reason.as_str()),
            ("sip.timers.t2_ms", "must be at least t1_ms")
        );
        let text = EXAMPLE.replace("listen_udp = [\"127.0.0.1:5060\"]", "listen_udp = [\"localhost\"]");
        let err = Config::parse(&text, "f.toml").unwrap_err();
        assert_eq!(err.key, "sip.listen_udp[0]", "{err}");
        let text = EXAMPLE.replace("algorithms = [\"MD5\"]", "algorithms = [\"SHA-1\"]");
        let err = Config::parse(&text, "f.toml").unwrap_err();
        assert_eq!(err.key, "registrar.algorithms[0]", "{err}");
    }

    #[test]
    fn the_site_time_zone_must_be_known() {
        let text = EXAMPLE.replace("timezone = \"UTC\"", "timezone = \"Europe/Madrid\"");
        let config = Config::parse(&text, "f.toml").unwrap();
        assert_eq!(config.timezone(), chrono_tz::Europe::Madrid);
        let text = EXAMPLE.replace("timezone = \"UTC\"", "timezone = \"Mars/Olympus\"");
        let err = Config::parse(&text, "f.toml").unwrap_err();
        assert_eq!(err.key, "site.timezone", "{err}");
    }

    #[test]
    fn duplicate_extensions_are_refused() {
        let text = format!("{EXAMPLE}\n[[agents]]\nextension = \"1001\"\n");
        let err = Config::parse(&text, "f.toml").unwrap_err();
        assert!(err.key.starts_with("agents["), "{err}");
        assert!(err.reason.contains("defined twice"));
    }

    #[test]
    fn dial_templates_and_the_callback_trunk_are_checked() {
        let with = |dial: &str, callbacks: &str| {
            let text = EXAMPLE.replace(
                "addresses = [\"127.0.0.1\"]",
                &format!("addresses = [\"127.0.0.1\"]\ndial = {dial:?}"),
            );
            let text = text.replace("[callbacks]\n", &format!("[callbacks]\n{callbacks}\n"));
            Config::parse(&text, "f.toml")
        };
        let config = with("sip:{number}@127.0.0.1:5070;transport=tcp", "trunk = \"loopback\"").unwrap();
        let trunk = config.callback_trunk().unwrap();
        assert_eq!(
            trunk.dial_uri("+34600111222").as_deref(),
            Some("sip:+34600111222@127.0.0.1:5070;transport=tcp")
        );
        assert_eq!(trunk.dial_uri("1@evil.example;x="), None, "not a number");
        assert_eq!(trunk.dial_uri(""), None);
        for (dial, reason) in [
            ("sip:127.0.0.1:5070", "{number}"),
            ("sip:{number}@carrier.example", "IP address"),
            ("sips:{number}@127.0.0.1", "sip: URI"),
            ("sip:{number}@127.0.0.1;transport=tls", "udp or tcp"),
        ] {
            let err = with(dial, "").unwrap_err();
            assert_eq!(err.key, "trunks[0].dial", "{dial}: {err}");
            assert!(err.reason.contains(reason), "{dial}: {err}");
        }
        let err = with("sip:{number}@127.0.0.1", "trunk = \"nope\"").unwrap_err();
        assert_eq!(err.key, "callbacks.trunk", "{err}");
        let text = EXAMPLE.replace("[callbacks]\n", "[callbacks]\ntrunk = \"loopback\"\n");
        let err = Config::parse(&text, "f.toml").unwrap_err();
        assert!(err.reason.contains("no `dial`"), "{err}");
        let err = with("sip:{number}@127.0.0.1", "ring_secs = 3").unwrap_err();
        assert_eq!(err.key, "callbacks.ring_secs", "unknown keys are refused: {err}");
    }

    #[test]
    fn missing_passwords_are_generated() {
        let mut config = Config::demo();
        let generated = config.generate_missing_passwords();
        assert_eq!(generated.len(), config.agents.len());
        assert!(generated.iter().all(|(_, p)| p.len() == 12));
        assert!(config.agents.iter().all(|a| a.password.is_some()));
    }
}
