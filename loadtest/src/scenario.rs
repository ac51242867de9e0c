//! Scenario files: who calls what, at which rate, what callers press and how
//! long everyone talks. TOML, so test plans live in version control; the
//! format is documented in docs/loadtest.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Why a scenario could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is not a scenario.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
    /// The audio file could not be loaded.
    #[error("audio {path}: {reason}")]
    Audio {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A whole test plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A name for the report.
    #[serde(default = "default_name")]
    pub name: String,
    /// The platform under test.
    pub target: Target,
    /// How calls are started.
    pub load: Load,
    /// What each caller does.
    pub caller: Caller,
    /// The simulated agents (none: calls are answered by whatever the target routes to).
    #[serde(default)]
    pub agents: Option<Agents>,
}

fn default_name() -> String {
    "load test".into()
}

/// The platform under test.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Its SIP address (UDP), e.g. "127.0.0.1:5060".
    pub sip: SocketAddr,
    /// The SIP domain: Request-URI host of calls and the registrar's realm.
    #[serde(default = "default_domain")]
    pub domain: String,
    /// Our own SIP socket ("127.0.0.1:0": any free port).
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
}

fn default_domain() -> String {
    "127.0.0.1".into()
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The call pattern.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// The number dialled.
    pub number: String,
    /// With a numeric `number`: calls go round-robin to this many numbers
    /// from it (`number`, `number`+1, ...), e.g. straight to agents'
    /// extensions for relayed calls without a queue. Absent: always `number`.
    #[serde(default)]
    pub number_range: Option<u64>,
    /// Callers' numbers are this prefix followed by the call's index.
    #[serde(default = "default_prefix")]
    pub caller_prefix: String,
    /// The rate plan, one phase after another.
    pub phases: Vec<Phase>,
    /// Calls in progress at most; a call due above it waits.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// Stop starting calls after this many (all phases together).
    #[serde(default)]
    pub max_calls: Option<u64>,
    /// After the last phase, how long calls in progress may take to end.
    #[serde(default = "default_drain")]
    pub drain_secs: f64,
}

impl Load {
    /// The number call `index` (1, 2, ...) dials.
    pub fn number_for(&self, index: u64) -> String {
        match (self.number_range, self.number.parse::<u64>()) {
            (Some(range), Ok(first)) if range > 0 => {
                let n = first + (index.saturating_sub(1) % range);
                // Keep the leading zeros of the first number.
                format!("{n:0width$}", width = self.number.len())
            }
            _ => self.number.clone(),
        }
    }
}

fn default_prefix() -> String {
    "555".into()
}

fn default_max_concurrent() -> usize {
    1000
}

fn default_drain() -> f64 {
    120.0
}

/// One phase of the rate plan: a constant rate, or a ramp from `rate` to
/// `to_rate` over the phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Calls per second at the start of the phase.
    pub rate: f64,
    /// Calls per second at its end (a linear ramp); the same rate when absent.
    #[serde(default)]
    pub to_rate: Option<f64>,
    /// How long the phase lasts.
    pub secs: f64,
}

impl Load {
    /// The number of calls due by `t` since the start (the integral of the rate).
    pub fn calls_due(&self, t: Duration) -> f64 {
        let mut t = t.as_secs_f64();
        let mut due = 0.0;
        for p in &self.phases {
            let span = t.min(p.secs);
            let to = p.to_rate.unwrap_or(p.rate);
            let slope = if p.secs > 0.0 { (to - p.rate) / p.secs } else { 0.0 };
            due += p.rate * span + slope * span * span / 2.0;
            t -= span;
            if t <= 0.0 {
                break;
            }
        }
        due
    }

    /// How long the plan starts calls.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.phases.iter().map(|p| p.secs).sum::<f64>().max(0.0))
    }
}

/// What a caller does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caller {
    /// The WAV file the caller's microphone plays, in a loop (any rate, mono
    /// or stereo; resampled to 8 kHz); relative to the scenario file.
    pub audio: PathBuf,
    /// "PCMU" or "PCMA".
    #[serde(default = "default_codec")]
    pub codec: String,
    /// The IVR navigation after the answer, in order.
    #[serde(default)]
    pub ivr: Vec<Step>,
    /// What the flow plays between the last digit and the queue (e.g. a
    /// welcome prompt), in ms: the IVR's end is the last digit's first packet
    /// plus this. 0 for a flow that queues on the digit.
    #[serde(default)]
    pub queue_after_ms: u64,
    /// The audio the platform starts playing when the call enters the queue
    /// (its music on hold, or its entry announcement): when set, the IVR's
    /// end is the moment that audio reaches the caller, minus its
    /// `lead_ms`, instead of the last key plus `queue_after_ms`.
    #[serde(default)]
    pub queue_audio: Option<QueueAudio>,
    /// How long the caller talks once an agent answered (seconds).
    pub talk_secs: Dist,
    /// How long the caller waits for an agent after the IVR before hanging up
    /// (seconds); never when absent.
    #[serde(default)]
    pub patience_secs: Option<Dist>,
    /// Without agents: the call is "answered" when the IVR ends, and talk
    /// time counts from there.
    #[serde(default)]
    pub expect_agent: Option<bool>,
    /// Whether a call that heard no RTP at all fails as `no_audio` (a UAS
    /// that sends no media, like SIPp's built-in one, needs false).
    #[serde(default = "yes")]
    pub expect_audio: bool,
}

/// How the caller recognises the queue's start in the audio it receives:
/// by a WAV file's first frame, or by a tone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueAudio {
    /// The WAV file the queue starts with, as the platform plays it;
    /// relative to the scenario file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Or the frequency (Hz) of the tone the queue starts with (a built-in
    /// music or ringback): the first of two packets in a row whose energy is
    /// mostly at this frequency.
    #[serde(default)]
    pub tone_hz: Option<f64>,
    /// How long before its first packet reaches the caller the platform
    /// counts the queue entry (ms). Switchboard starts the queue's audio on
    /// the leg's running 20 ms packet clock, 0-20 ms after the entry: 10.
    #[serde(default)]
    pub lead_ms: u64,
}

fn yes() -> bool {
    true
}

fn default_codec() -> String {
    "PCMU".into()
}

/// One step of IVR navigation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Wait this long first (ms), e.g. while a menu prompt plays.
    #[serde(default)]
    pub wait_ms: u64,
    /// Then press these keys (RFC 4733), if any.
    #[serde(default)]
    pub digits: String,
    /// How long each key is held (ms).
    #[serde(default = "default_digit_ms")]
    pub digit_ms: u64,
    /// Pause between keys (ms).
    #[serde(default = "default_gap_ms")]
    pub gap_ms: u64,
}

fn default_digit_ms() -> u64 {
    100
}

fn default_gap_ms() -> u64 {
    100
}

/// The simulated agents.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agents {
    /// Extensions, listed.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Or a range: `first`, `first + 1`, ... (`count` of them).
    #[serde(default)]
    pub first: Option<u64>,
    /// How many in the range.
    #[serde(default)]
    pub count: Option<u64>,
    /// The digest password; `{ext}` is replaced by the extension.
    pub password: String,
    /// The WAV file the agents' microphones play.
    pub audio: PathBuf,
    /// Time from the offer (INVITE) to the answer (seconds).
    pub ring_secs: Dist,
    /// Talk time, after which the agent hangs up (seconds).
    pub handle_secs: Dist,
    /// After-call work: offers in this time after a call are refused with 486.
    #[serde(default)]
    pub wrap_up_secs: f64,
    /// Registration lifetime asked for.
    #[serde(default = "default_expires")]
    pub expires_secs: u32,
    /// Agents as browsers: SIP over WebSocket and WebRTC media (ICE,
    /// DTLS-SRTP, Opus) instead of SIP over UDP with G.711.
    #[serde(default)]
    pub webrtc: Option<WebRtcAgents>,
}

fn default_expires() -> u32 {
    3600
}

/// Browser agents: where their WebSocket goes and what they say.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebRtcAgents {
    /// The platform's SIP over WebSocket URL, e.g. "ws://127.0.0.1:8080/ws"
    /// (subprotocol `sip`).
    pub ws: String,
    /// The tone the agents send (Opus): the platform transcodes it for a
    /// G.711 caller, so the payload stamp is lost, and the caller hears the
    /// agent's answer as the first two packets of this tone (Hz).
    #[serde(default = "default_agent_tone")]
    pub tone_hz: f64,
}

fn default_agent_tone() -> f64 {
    1000.0
}

impl Agents {
    /// Every extension with its password.
    pub fn accounts(&self) -> Vec<(String, String)> {
        let mut out: Vec<String> = self.extensions.clone();
        if let (Some(first), Some(count)) = (self.first, self.count) {
            out.extend((first..first + count).map(|n| n.to_string()));
        }
        out.into_iter()
            .map(|ext| {
                let password = self.password.replace("{ext}", &ext);
                (ext, password)
            })
            .collect()
    }
}

/// A random duration, in seconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Dist {
    /// Always this.
    Fixed(f64),
    /// One of the shapes.
    Shaped(Shape),
}

/// The shapes of [`Dist`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Shape {
    /// Uniform in [min, max].
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// Exponential with this mean (Erlang's classic holding time).
    Exponential {
        /// The mean.
        mean: f64,
    },
    /// Normal, cut at 0.
    Normal {
        /// The mean.
        mean: f64,
        /// The standard deviation.
        sd: f64,
    },
}

impl Dist {
    /// A draw.
    pub fn draw(&self, rng: &mut impl Rng) -> Duration {
        let secs = match *self {
            Dist::Fixed(s) => s,
            Dist::Shaped(Shape::Uniform { min, max }) => {
                if max > min {
                    rng.gen_range(min..=max)
                } else {
                    min
                }
            }
            Dist::Shaped(Shape::Exponential { mean }) => {
                let u: f64 = rng.gen_range(f64::EPSILON..1.0);
                -u.ln() * mean
            }
            Dist::Shaped(Shape::Normal { mean, sd }) => {
                // Box-Muller.
                let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
                let u2: f64 = rng.gen_range(0.0..1.0);
                mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
            }
        };
        Duration::from_secs_f64(secs.clamp(0.0, 86_400.0))
    }
}

impl Scenario {
    /// Reads a scenario file; relative audio paths are made relative to it.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut s: Scenario = toml::from_str(&text).map_err(|source| ScenarioError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        s.caller.audio = dir.join(&s.caller.audio);
        if let Some(file) = s.caller.queue_audio.as_mut().and_then(|q| q.file.as_mut()) {
            *file = dir.join(&*file);
        }
        if let Some(a) = s.agents.as_mut() {
            a.audio = dir.join(&a.audio);
        }
        s.validate()?;
        Ok(s)
    }

    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |m: &str| Err(ScenarioError::Invalid(m.to_string()));
        if self.load.phases.is_empty() {
            return bad("load.phases: at least one phase");
        }
        for p in &self.load.phases {
            if !(p.rate >= 0.0 && p.to_rate.unwrap_or(0.0) >= 0.0 && p.secs >= 0.0) {
                return bad("load.phases: rates and secs must be 0 or more");
            }
        }
        if self.load.number_range.is_some() && self.load.number.parse::<u64>().is_err() {
            return bad("load.number_range needs a numeric load.number");
        }
        if self.load.max_concurrent == 0 {
            return bad("load.max_concurrent must be above 0");
        }
        if !matches!(self.caller.codec.as_str(), "PCMU" | "PCMA") {
            return bad("caller.codec: PCMU or PCMA");
        }
        for step in &self.caller.ivr {
            if let Some(c) = step
                .digits
                .chars()
                .find(|c| media::dtmf::Digit::from_char(*c).is_none())
            {
                return Err(ScenarioError::Invalid(format!("caller.ivr: {c:?} is not a DTMF key")));
            }
        }
        if let Some(q) = &self.caller.queue_audio {
            match (&q.file, q.tone_hz) {
                (Some(_), None) => {}
                (None, Some(hz)) if hz > 50.0 && hz < 3900.0 => {}
                (None, Some(_)) => return bad("caller.queue_audio.tone_hz: between 50 and 3900 Hz"),
                _ => return bad("caller.queue_audio: either file or tone_hz"),
            }
        }
        if let Some(a) = &self.agents {
            if a.accounts().is_empty() {
                return bad("agents: no extensions (extensions, or first and count)");
            }
        }
        Ok(())
    }

    /// The payload type of the callers' codec.
    pub fn codec_pt(&self) -> u8 {
        if self.caller.codec == "PCMA" {
            8
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn load(number: &str, range: Option<u64>) -> Load {
        Load {
            number: number.into(),
            number_range: range,
            caller_prefix: default_prefix(),
            phases: vec![],
            max_concurrent: 1,
            max_calls: None,
            drain_secs: 0.0,
        }
    }

    #[test]
    fn a_number_range_goes_round_robin_from_the_first_number() {
        let l = load("2000", Some(3));
        let dialled: Vec<String> = (1..=4).map(|i| l.number_for(i)).collect();
        assert_eq!(dialled, ["2000", "2001", "2002", "2000"]);
        assert_eq!(load("0100", Some(2)).number_for(2), "0101");
        assert_eq!(load("100", None).number_for(7), "100");
    }

    #[test]
    fn every_bundled_scenario_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            // The TOML files that are switch configurations, not scenarios.
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.extension().is_some_and(|e| e == "toml") && !name.ends_with("_switch.toml") {
                let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(s.caller.audio.exists(), "{name}: audio");
                n += 1;
            }
        }
        assert!(n >= 6, "{n} scenarios");
    }
}
