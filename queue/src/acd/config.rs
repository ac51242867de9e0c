//! The ACD's configuration: queues and agents, shaped to sit directly in the
//! switch's TOML file.
//!
//! ```toml
//! [[acd.queues]]
//! name = "sales"
//! agents = ["1001", "1002"]
//! strategy = "skills"              # longest_idle (default), round_robin, ring_all, fewest_calls, random, skills
//! wrap_up_secs = 10                # default 5
//! ring_timeout_secs = 20           # default 15
//! max_length = 50                  # calls in line (call-backs do not count); default unlimited
//! announce_every_secs = 45         # position and estimated wait; default never
//! relax_skills_after_secs = 60     # drop a call's skill requirements after this wait
//! overflow = [
//!   { when = "max_wait", secs = 300, to = "voicemail:sales" },
//!   { when = "max_length", to = "queue:support" },          # calls defaults to max_length
//!   { when = "no_agents", to = "flow:closed" },
//!   { when = "estimated_wait", secs = 900, to = "hook:overloaded" },
//! ]
//! callback = { offer_above_wait_secs = 120, mode = "customer_first" }
//!
//! [[acd.agents]]
//! id = "1001"
//! skills = ["language:es=9", "product:tv"]   # level 0-10, 5 when omitted
//! no_answer = "pause"                        # or "free"
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Everything the ACD is configured with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcdConfig {
    /// The queues.
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    /// The agents; a queue's `agents` name them by `id`.
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    /// Seed of the generator behind the `random` strategy, so that runs repeat.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

impl Default for AcdConfig {
    fn default() -> AcdConfig {
        AcdConfig {
            queues: Vec::new(),
            agents: Vec::new(),
            seed: default_seed(),
        }
    }
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The agent's id: its extension, e.g. `"1001"`.
    pub id: String,
    /// Skills with a level from 0 to 10: `"language:es=9"`; `"language:es"` means level 5.
    #[serde(default)]
    pub skills: Vec<String>,
    /// What happens to the agent when an offer rings out or is refused.
    #[serde(default)]
    pub no_answer: NoAnswerAction,
    /// Whether the agent is logged in when the ACD starts (default true). It
    /// still gets no offers until its phone is reachable (registered).
    #[serde(default = "yes")]
    pub logged_in_at_start: bool,
}

impl AgentConfig {
    /// An agent with no skills, paused on no answer, logged in at start.
    pub fn new(id: impl Into<String>) -> AgentConfig {
        AgentConfig {
            id: id.into(),
            skills: Vec::new(),
            no_answer: NoAnswerAction::default(),
            logged_in_at_start: true,
        }
    }
}

/// What the ACD does with an agent who did not answer an offer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoAnswerAction {
    /// Pause the agent with the reason `no-answer` (Asterisk's autopause).
    #[default]
    Pause,
    /// Leave the agent available; it gets no offer for the queue's `retry_secs`.
    Free,
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// The queue's name, as callers are sent to it (`queue:NAME`).
    pub name: String,
    /// Member agents, by id.
    #[serde(default)]
    pub agents: Vec<String>,
    /// How the agent for a call is chosen.
    #[serde(default)]
    pub strategy: Strategy,
    /// After-call work, in seconds, before an agent gets the next call (default 5;
    /// an agent can end it early with `EndWrapUp`).
    #[serde(default = "default_wrap_up")]
    pub wrap_up_secs: u64,
    /// How long an agent's phone rings before the offer goes to the next agent
    /// (default 15, at least 1).
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_secs: u64,
    /// The most calls in line (ringing ones included, call-backs not); a call
    /// beyond it overflows by a `max_length` rule, or is rejected.
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Announce position and estimated wait to each waiting caller on entry and
    /// then every this many seconds (at least 1).
    #[serde(default)]
    pub announce_every_secs: Option<u64>,
    /// With the `skills` strategy: after this wait a call's skill requirements are
    /// dropped and any member may take it.
    #[serde(default)]
    pub relax_skills_after_secs: Option<u64>,
    /// Overflow rules; the first that applies moves the call out.
    #[serde(default)]
    pub overflow: Vec<OverflowRule>,
    /// Virtual hold: offer waiting callers a call-back.
    #[serde(default)]
    pub callback: Option<CallbackConfig>,
    /// Music on hold class, carried for the shell.
    #[serde(default)]
    pub music_on_hold: Option<String>,
    /// After a busy, refused or unanswered offer (when the agent is not paused),
    /// seconds before the agent gets another offer (default 5).
    #[serde(default = "default_retry")]
    pub retry_secs: u64,
    /// The handle time (talk plus wrap-up) assumed before any call has been
    /// measured, in seconds (default 180). See [`crate::acd`] for the estimate.
    #[serde(default = "default_handle")]
    pub default_handle_secs: u64,
}

impl QueueConfig {
    /// A queue with the defaults and no members.
    pub fn new(name: impl Into<String>) -> QueueConfig {
        QueueConfig {
            name: name.into(),
            agents: Vec::new(),
            strategy: Strategy::default(),
            wrap_up_secs: default_wrap_up(),
            ring_timeout_secs: default_ring_timeout(),
            max_length: None,
            announce_every_secs: None,
            relax_skills_after_secs: None,
            overflow: Vec::new(),
            callback: None,
            music_on_hold: None,
            retry_secs: default_retry(),
            default_handle_secs: default_handle(),
        }
    }
}

/// How a queue picks the agent for a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent idle longest (since login or the end of its last wrap-up).
    #[default]
    LongestIdle,
    /// The next available member after the last one offered, in member order.
    RoundRobin,
    /// Every available member at once; the first to answer gets the call.
    RingAll,
    /// The agent who took the fewest calls today (UTC day), then longest idle.
    FewestCalls,
    /// Any available member, from a seeded generator.
    Random,
    /// Agents who meet the call's skill requirements; the highest sum of levels in
    /// the required skills wins, then longest idle.
    Skills,
}

/// When an overflow rule applies, and where the call goes.
///
/// In TOML: `{ when = "max_wait", secs = 120, to = "queue:sales" }`; `when` is
/// `max_wait` (needs `secs`), `max_length` (`calls`, default the queue's
/// `max_length`), `no_agents`, or `estimated_wait` (needs `secs`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawOverflowRule")]
pub struct OverflowRule {
    /// The condition.
    pub when: OverflowWhen,
    /// Where the call goes.
    pub target: OverflowTarget,
}

/// The condition of an overflow rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverflowWhen {
    /// The call has waited this long (checked by timer).
    MaxWait {
        /// Seconds in the queue.
        secs: u64,
    },
    /// On entry, this many calls are already in line; `None` means the queue's
    /// `max_length`.
    MaxLength {
        /// Calls in line.
        calls: Option<usize>,
    },
    /// No member is staffed (logged in, not paused, phone reachable): checked on
    /// entry, and for every waiting call when the last staffed member goes.
    NoAgents,
    /// On entry, the call's estimated wait is at least this long.
    EstimatedWait {
        /// Seconds.
        secs: u64,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverflowRule {
    when: RawWhen,
    #[serde(default)]
    secs: Option<u64>,
    #[serde(default)]
    calls: Option<usize>,
    to: OverflowTarget,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawWhen {
    MaxWait,
    MaxLength,
    NoAgents,
    EstimatedWait,
}

impl TryFrom<RawOverflowRule> for OverflowRule {
    type Error = ConfigError;

    fn try_from(raw: RawOverflowRule) -> Result<OverflowRule, ConfigError> {
        let need_secs = |what: &'static str| {
            raw.secs.ok_or(ConfigError::MissingField {
                rule: what,
                field: "secs",
            })
        };
        let when = match raw.when {
            RawWhen::MaxWait => OverflowWhen::MaxWait {
                secs: need_secs("max_wait")?,
            },
            RawWhen::MaxLength => OverflowWhen::MaxLength { calls: raw.calls },
            RawWhen::NoAgents => OverflowWhen::NoAgents,
            RawWhen::EstimatedWait => OverflowWhen::EstimatedWait {
                secs: need_secs("estimated_wait")?,
            },
        };
        Ok(OverflowRule { when, target: raw.to })
    }
}

/// Where an overflowing call goes, written `queue:NAME`, `flow:NAME`,
/// `voicemail:BOX`, `uri:sip:...` or `hook:NAME`.
///
/// `queue:` targets are carried out by the ACD itself (the call joins that
/// queue as a new entry); the others are the shell's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum OverflowTarget {
    /// Another queue of this ACD.
    Queue(String),
    /// An IVR flow.
    Flow(String),
    /// A voicemail box.
    Voicemail(String),
    /// A SIP URI to transfer to.
    Uri(String),
    /// A named hook (web, CRM) told of the call; the shell decides the rest.
    Hook(String),
}

impl FromStr for OverflowTarget {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<OverflowTarget, ConfigError> {
        let bad = || ConfigError::BadTarget(s.to_string());
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        let rest = rest.to_string();
        Ok(match kind {
            "queue" => OverflowTarget::Queue(rest),
            "flow" => OverflowTarget::Flow(rest),
            "voicemail" => OverflowTarget::Voicemail(rest),
            "uri" => OverflowTarget::Uri(rest),
            "hook" => OverflowTarget::Hook(rest),
            _ => return Err(bad()),
        })
    }
}

impl TryFrom<String> for OverflowTarget {
    type Error = ConfigError;

    fn try_from(s: String) -> Result<OverflowTarget, ConfigError> {
        s.parse()
    }
}

impl From<OverflowTarget> for String {
    fn from(t: OverflowTarget) -> String {
        t.to_string()
    }
}

impl fmt::Display for OverflowTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverflowTarget::Queue(n) => write!(f, "queue:{n}"),
            OverflowTarget::Flow(n) => write!(f, "flow:{n}"),
            OverflowTarget::Voicemail(n) => write!(f, "voicemail:{n}"),
            OverflowTarget::Uri(n) => write!(f, "uri:{n}"),
            OverflowTarget::Hook(n) => write!(f, "hook:{n}"),
        }
    }
}

/// Virtual hold settings of a queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackConfig {
    /// Offer a call-back (once per call) when the caller's estimated wait is at
    /// least this many seconds (default 120).
    #[serde(default = "default_offer_above")]
    pub offer_above_wait_secs: u64,
    /// Who is dialled first when the call-back is placed.
    #[serde(default)]
    pub mode: CallbackMode,
    /// Dial attempts before the call-back is dropped (default 3).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Seconds between attempts (default 120).
    #[serde(default = "default_retry_after")]
    pub retry_after_secs: u64,
    /// If no result comes this many seconds after `DialCallback`, the attempt
    /// counts as unanswered and the agent is freed (default 90).
    #[serde(default = "default_dial_timeout")]
    pub dial_timeout_secs: u64,
}

impl Default for CallbackConfig {
    fn default() -> CallbackConfig {
        CallbackConfig {
            offer_above_wait_secs: default_offer_above(),
            mode: CallbackMode::default(),
            max_attempts: default_attempts(),
            retry_after_secs: default_retry_after(),
            dial_timeout_secs: default_dial_timeout(),
        }
    }
}

/// Who the shell dials first for a call-back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackMode {
    /// Dial the customer; when they answer, connect the reserved agent.
    #[default]
    CustomerFirst,
    /// Ring the reserved agent; when they answer, dial the customer.
    AgentFirst,
}

/// A configuration the ACD cannot use as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An overflow target that is not `kind:value` with a known kind.
    #[error("overflow target {0:?} is not queue:, flow:, voicemail:, uri: or hook: followed by a name")]
    BadTarget(String),
    /// An overflow rule without a field its condition needs.
    #[error("overflow rule {rule} needs {field}")]
    MissingField {
        /// The rule's `when`.
        rule: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// Two queues or two agents with one name.
    #[error("{0:?} is defined twice")]
    Duplicate(String),
    /// A queue member, or a `queue:` overflow target, that is not defined.
    #[error("queue {queue:?} refers to {name:?}, which is not defined")]
    Unknown {
        /// The queue.
        queue: String,
        /// The missing agent or queue.
        name: String,
    },
    /// A skill that does not parse (`name` or `name=LEVEL`, level 0 to 10).
    #[error("agent {agent:?}: bad skill {skill:?}")]
    BadSkill {
        /// The agent.
        agent: String,
        /// The skill as written.
        skill: String,
    },
    /// A `max_length` rule in a queue with no `max_length` and no `calls`.
    #[error("queue {0:?}: a max_length rule needs calls or the queue's max_length")]
    NoLength(String),
    /// `retry_secs` is 0: a phone that is busy would be offered the same call
    /// again at once, without end.
    #[error("queue {0:?}: retry_secs must be at least 1")]
    NoRetryPause(String),
}

impl AcdConfig {
    /// Checks what [`crate::acd::Acd::new`] would otherwise quietly skip:
    /// duplicates, unknown members and targets, bad skills, incomplete rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut agents = std::collections::HashSet::new();
        for a in &self.agents {
            if !agents.insert(a.id.as_str()) {
                return Err(ConfigError::Duplicate(a.id.clone()));
            }
            for s in &a.skills {
                if super::skills::parse_agent_skill(s).is_none() {
                    return Err(ConfigError::BadSkill {
                        agent: a.id.clone(),
                        skill: s.clone(),
                    });
                }
            }
        }
        let mut queues = std::collections::HashSet::new();
        for q in &self.queues {
            if !queues.insert(q.name.as_str()) {
                return Err(ConfigError::Duplicate(q.name.clone()));
            }
        }
        for q in &self.queues {
            if q.retry_secs == 0 {
                return Err(ConfigError::NoRetryPause(q.name.clone()));
            }
            let unknown = |name: &str| ConfigError::Unknown {
                queue: q.name.clone(),
                name: name.to_string(),
            };
            if let Some(m) = q.agents.iter().find(|m| !agents.contains(m.as_str())) {
                return Err(unknown(m));
            }
            for r in &q.overflow {
                if let OverflowTarget::Queue(t) = &r.target {
                    if !queues.contains(t.as_str()) {
                        return Err(unknown(t));
                    }
                }
                if r.when == (OverflowWhen::MaxLength { calls: None }) && q.max_length.is_none() {
                    return Err(ConfigError::NoLength(q.name.clone()));
                }
            }
        }
        Ok(())
    }
}

fn default_seed() -> u64 {
    0x9E37_79B9_7F4A_7C15
}
fn yes() -> bool {
    true
}
fn default_wrap_up() -> u64 {
    5
}
fn default_ring_timeout() -> u64 {
    15
}
fn default_retry() -> u64 {
    5
}
fn default_handle() -> u64 {
    180
}
fn default_offer_above() -> u64 {
    120
}
fn default_attempts() -> u32 {
    3
}
fn default_retry_after() -> u64 {
    120
}
fn default_dial_timeout() -> u64 {
    90
}
