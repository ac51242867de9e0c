//! The KPI settings and their TOML form.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the figures are defined; a manager picks what their contract names.
///
/// In TOML (every key optional, unknown keys refused):
///
/// ```toml
/// thresholds_secs = [20, 60]
/// formula = "abandons_ignored"   # abandons_negative, abandons_positive, answered_only, asterisk_sl2
/// short_abandon_secs = 5
/// repeat_window_hours = 24
/// answered_at = "bridged"        # agent_answered, first_agent_audio
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawSettings", into = "RawSettings")]
pub struct KpiSettings {
    /// Service-level thresholds T (default 20 s and 60 s).
    pub thresholds: Vec<Duration>,
    /// The service-level formula (default abandons ignored).
    pub formula: SlFormula,
    /// Abandons before this are short abandons, dropped from every count
    /// (default 5 s; zero keeps every abandon).
    pub short_abandon: Duration,
    /// A call is a repeat if its caller called within this before (default 24 h).
    pub repeat_window: Duration,
    /// The mark that ends a caller's wait (default bridged).
    pub answered_at: AnswerMoment,
}

impl Default for KpiSettings {
    fn default() -> KpiSettings {
        KpiSettings::from(RawSettings::default())
    }
}

impl KpiSettings {
    /// The thresholds in milliseconds.
    pub(super) fn thresholds_ms(&self) -> Vec<u64> {
        self.thresholds.iter().map(|t| duration_ms(*t)).collect()
    }
}

pub(super) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Service-level formulas (counts after dropping short abandons; within T is
/// a wait of at most T).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlFormula {
    /// Answered within T / (offered - abandoned within T) (Cisco ICM's default).
    #[default]
    AbandonsIgnored,
    /// Answered within T / offered.
    AbandonsNegative,
    /// (Answered within T + abandoned within T) / offered.
    AbandonsPositive,
    /// Answered within T / answered (Asterisk app_queue's "SL").
    AnsweredOnly,
    /// (Answered within T + abandoned within T) / (answered + abandoned)
    /// (Asterisk app_queue's "SL2").
    AsteriskSl2,
}

/// The mark taken as the moment a call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerMoment {
    /// The agent's phone answered (its 200 OK).
    AgentAnswered,
    /// The caller and the agent were bridged.
    #[default]
    Bridged,
    /// The first audio from the agent reached the switch.
    FirstAgentAudio,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSettings {
    thresholds_secs: Vec<u64>,
    formula: SlFormula,
    short_abandon_secs: u64,
    repeat_window_hours: u64,
    answered_at: AnswerMoment,
}

impl Default for RawSettings {
    fn default() -> RawSettings {
        RawSettings {
            thresholds_secs: vec![20, 60],
            formula: SlFormula::AbandonsIgnored,
            short_abandon_secs: 5,
            repeat_window_hours: 24,
            answered_at: AnswerMoment::Bridged,
        }
    }
}

impl From<RawSettings> for KpiSettings {
    fn from(raw: RawSettings) -> KpiSettings {
        KpiSettings {
            thresholds: raw.thresholds_secs.into_iter().map(Duration::from_secs).collect(),
            formula: raw.formula,
            short_abandon: Duration::from_secs(raw.short_abandon_secs),
            repeat_window: Duration::from_secs(raw.repeat_window_hours.saturating_mul(3600)),
            answered_at: raw.answered_at,
        }
    }
}

impl From<KpiSettings> for RawSettings {
    fn from(s: KpiSettings) -> RawSettings {
        RawSettings {
            thresholds_secs: s.thresholds.iter().map(Duration::as_secs).collect(),
            formula: s.formula,
            short_abandon_secs: s.short_abandon.as_secs(),
            repeat_window_hours: s.repeat_window.as_secs() / 3600,
            answered_at: s.answered_at,
        }
    }
}
