//! `[recording]` and `[qa]` in the configuration (see `config_example.toml`
//! for every key with its comment).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// When a queue's or a flow's calls are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "PolicyText")]
pub(crate) enum Policy {
    /// Every call.
    Always,
    /// No call (the API cannot start one either).
    Never,
    /// Only when the API asks (`POST /api/calls/{call}/recording/start`).
    OnDemand,
    /// A random share of the calls, in percent (0 to 100).
    Sampled(u8),
}

/// How a policy is written: a name, or `{ sample_percent = N }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum PolicyText {
    Name(String),
    Sampled { sample_percent: u8 },
}

impl TryFrom<PolicyText> for Policy {
    type Error = String;
    fn try_from(text: PolicyText) -> Result<Policy, String> {
        match text {
            PolicyText::Name(name) => match name.as_str() {
                "always" => Ok(Policy::Always),
                "never" => Ok(Policy::Never),
                "on_demand" => Ok(Policy::OnDemand),
                other => Err(format!(
                    "`{other}` is not always, never, on_demand or {{ sample_percent = N }}"
                )),
            },
            PolicyText::Sampled { sample_percent } if sample_percent <= 100 => Ok(Policy::Sampled(sample_percent)),
            PolicyText::Sampled { .. } => Err("sample_percent must be between 0 and 100".into()),
        }
    }
}

/// Which channel carries whom in a stereo recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Layout {
    /// Caller on the left channel, agent on the right (the usual layout of
    /// QA tools).
    #[default]
    CallerLeft,
    /// Agent on the left, caller on the right.
    AgentLeft,
}

/// The sample rate of recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "RateText")]
pub(crate) enum RatePolicy {
    /// What the codec carries: 8 kHz for G.711, 16 kHz for G.722, 48 kHz
    /// for Opus (upsampling a narrowband call only makes a bigger file).
    #[default]
    Codec,
    /// Always this rate (8000, 16000 or 48000).
    Fixed(u32),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RateText {
    Name(String),
    Hz(u32),
}

impl TryFrom<RateText> for RatePolicy {
    type Error = String;
    fn try_from(text: RateText) -> Result<RatePolicy, String> {
        match text {
            RateText::Name(name) if name == "codec" => Ok(RatePolicy::Codec),
            RateText::Name(name) => Err(format!("`{name}` is not \"codec\", 8000, 16000 or 48000")),
            RateText::Hz(hz @ (8000 | 16_000 | 48_000)) => Ok(RatePolicy::Fixed(hz)),
            RateText::Hz(hz) => Err(format!("{hz} is not 8000, 16000 or 48000")),
        }
    }
}

impl RatePolicy {
    /// The rate of a recording whose legs use `codecs` (encoding names):
    /// the widest band either leg carries.
    pub(crate) fn rate_for<'a>(self, codecs: impl IntoIterator<Item = &'a str>) -> u32 {
        match self {
            RatePolicy::Fixed(hz) => hz,
            RatePolicy::Codec => codecs
                .into_iter()
                .map(|c| match c.to_ascii_uppercase().as_str() {
                    "OPUS" => 48_000,
                    "G722" => 16_000,
                    _ => 8_000,
                })
                .max()
                .unwrap_or(8_000),
        }
    }
}

/// `[recording.queues.NAME]` or `[recording.flows.NUMBER]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rule {
    /// When to record; absent: `[recording] default`.
    #[serde(default)]
    pub(crate) recording: Option<Policy>,
    /// Days a recording is kept; absent: `[recording] retention_days`.
    #[serde(default)]
    pub(crate) retention_days: Option<u32>,
}

/// `[recording]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordingConfig {
    /// Root of the recordings: `<dir>/<yyyy>/<mm>/<dd>/<queue>/<call>.wav`.
    #[serde(default = "default_dir")]
    pub(crate) dir: PathBuf,
    /// The policy of queues and flows without a rule of their own.
    #[serde(default = "default_policy")]
    pub(crate) default: Policy,
    /// Which channel is whose.
    #[serde(default)]
    pub(crate) layout: Layout,
    /// Also write a mono mix beside the stereo file (`<call>.mix.wav`).
    #[serde(default)]
    pub(crate) mono_mix: bool,
    /// `"codec"` or a fixed rate.
    #[serde(default)]
    pub(crate) sample_rate: RatePolicy,
    /// Days a recording is kept unless its queue says otherwise; 0 keeps
    /// recordings until they are deleted by hand.
    #[serde(default)]
    pub(crate) retention_days: u32,
    /// Seed of the sampling draw; absent: a random one. Set it to make
    /// which calls a sampled queue records repeatable (tests, audits).
    #[serde(default)]
    pub(crate) sample_seed: Option<u64>,
    /// Rules per queue (by name).
    #[serde(default)]
    pub(crate) queues: BTreeMap<String, Rule>,
    /// Rules per IVR flow (by the number routed to it): a flow that records
    /// records the caller's leg from the flow's start to the agent's answer.
    #[serde(default)]
    pub(crate) flows: BTreeMap<String, Rule>,
}

fn default_dir() -> PathBuf {
    "call-recordings".into()
}

fn default_policy() -> Policy {
    Policy::Never
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            dir: default_dir(),
            default: default_policy(),
            layout: Layout::default(),
            mono_mix: false,
            sample_rate: RatePolicy::default(),
            retention_days: 0,
            sample_seed: None,
            queues: BTreeMap::new(),
            flows: BTreeMap::new(),
        }
    }
}

impl RecordingConfig {
    /// The policy of a queue.
    pub(crate) fn queue_policy(&self, queue: &str) -> Policy {
        self.queues.get(queue).and_then(|r| r.recording).unwrap_or(self.default)
    }

    /// The policy of the flow routed from `number`: flows record only when
    /// a rule says so (the default is for queues).
    pub(crate) fn flow_policy(&self, number: &str) -> Policy {
        self.flows
            .get(number)
            .and_then(|r| r.recording)
            .unwrap_or(Policy::Never)
    }

    /// Days the recordings filed under `queue` (a queue, or the number of
    /// a flow for IVR-only ones) are kept (0: forever), as retention sees it.
    pub(crate) fn retention_days(&self, queue: Option<&str>) -> u32 {
        queue
            .and_then(|q| self.queues.get(q).or_else(|| self.flows.get(q)))
            .and_then(|r| r.retention_days)
            .unwrap_or(self.retention_days)
    }

    /// Checks the rules against the configured queues; `(key, reason)`.
    pub(crate) fn validate(&self, queues: &[String]) -> Result<(), (String, String)> {
        if self.dir.as_os_str().is_empty() {
            return Err(("recording.dir".into(), "must not be empty".into()));
        }
        for name in self.queues.keys() {
            if !queues.contains(name) {
                return Err((format!("recording.queues.{name}"), format!("no queue named `{name}`")));
            }
        }
        Ok(())
    }
}

/// `[qa]`: the scoring form of quality evaluations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QaConfig {
    /// The criteria an evaluator scores, with their weights.
    #[serde(default)]
    pub(crate) criteria: Vec<Criterion>,
}

/// `[[qa.criteria]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Criterion {
    /// Its name in the form (`greeting`, `compliance`).
    pub(crate) name: String,
    /// Its weight in the total (any positive number; weights are normalised).
    pub(crate) weight: f64,
}

impl QaConfig {
    /// Checks the form; `(key, reason)`.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.criteria.iter().enumerate() {
            if c.name.is_empty() || !seen.insert(c.name.as_str()) {
                return Err((
                    format!("qa.criteria[{i}].name"),
                    "must be set and differ from the other criteria".into(),
                ));
            }
            if !(c.weight.is_finite() && c.weight > 0.0) {
                return Err((format!("qa.criteria[{i}].weight"), "must be above 0".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        recording: RecordingConfig,
    }

    #[test]
    fn policies_read_as_names_or_a_sample_share() {
        let doc: Doc = toml::from_str(
            "[recording]\ndefault = \"on_demand\"\n[recording.queues.a]\nrecording = { sample_percent = 25 }\n\
             retention_days = 7\n[recording.queues.b]\nrecording = \"always\"\n",
        )
        .unwrap();
        let r = doc.recording;
        assert_eq!(r.queue_policy("a"), Policy::Sampled(25));
        assert_eq!(r.queue_policy("b"), Policy::Always);
        assert_eq!(r.queue_policy("c"), Policy::OnDemand);
        assert_eq!(r.retention_days(Some("a")), 7);
        assert_eq!(r.retention_days(Some("b")), 0);
        assert!(toml::from_str::<Doc>("[recording]\ndefault = \"sometimes\"\n").is_err());
        assert!(toml::from_str::<Doc>("[recording]\ndefault = { sample_percent = 101 }\n").is_err());
    }

    #[test]
    fn the_rate_follows_the_widest_codec() {
        assert_eq!(RatePolicy::Codec.rate_for(["PCMU", "PCMA"]), 8000);
        assert_eq!(RatePolicy::Codec.rate_for(["PCMU", "opus"]), 48_000);
        assert_eq!(RatePolicy::Codec.rate_for(["G722"]), 16_000);
        assert_eq!(RatePolicy::Fixed(16_000).rate_for(["opus"]), 16_000);
        assert!(toml::from_str::<Doc>("[recording]\nsample_rate = 11025\n").is_err());
        let doc: Doc = toml::from_str("[recording]\nsample_rate = 48000\n").unwrap();
        assert_eq!(doc.recording.sample_rate, RatePolicy::Fixed(48_000));
    }
}
