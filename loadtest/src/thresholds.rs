//! Pass/fail limits (`--max-failed 0.1% --max-p99-setup 200ms`), checked
//! against a run's summary and turned into the exit code, for CI.

use serde::{Deserialize, Serialize};

use crate::run::Summary;

/// The exit code of a run whose limits all held.
pub const EXIT_PASSED: i32 = 0;
/// The exit code of a run that broke a limit.
pub const EXIT_FAILED: i32 = 1;
/// The exit code of a run that could not be made (bad scenario, no agents...).
pub const EXIT_ERROR: i32 = 2;

/// The limits; `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Failed calls, percent of those started.
    pub max_failed_percent: Option<f64>,
    /// p99 of INVITE to 200, ms.
    pub max_p99_setup_ms: Option<f64>,
    /// p99 of answer time, ms.
    pub max_p99_answer_ms: Option<f64>,
    /// p99 one-way latency, either direction, ms.
    pub max_p99_latency_ms: Option<f64>,
    /// RTP loss, percent.
    pub max_loss_percent: Option<f64>,
    /// p99 RFC 3550 jitter, ms.
    pub max_p99_jitter_ms: Option<f64>,
}

/// One limit against its measured value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The limit's flag name.
    pub name: String,
    /// The limit.
    pub limit: f64,
    /// What was measured.
    pub value: f64,
    /// value <= limit.
    pub passed: bool,
}

impl Thresholds {
    /// Every limit set, checked.
    pub fn check(&self, s: &Summary) -> Vec<Check> {
        let latency = s.latency_to_caller_ms.p99.max(s.latency_to_agent_ms.p99);
        [
            ("max-failed", self.max_failed_percent, s.failed_percent),
            ("max-p99-setup", self.max_p99_setup_ms, s.setup_200_ms.p99),
            ("max-p99-answer", self.max_p99_answer_ms, s.answer_ms.p99),
            ("max-p99-latency", self.max_p99_latency_ms, latency),
            ("max-loss", self.max_loss_percent, s.rtp_loss_percent),
            ("max-p99-jitter", self.max_p99_jitter_ms, s.jitter_ms.p99),
        ]
        .into_iter()
        .filter_map(|(name, limit, value)| {
            limit.map(|limit| Check {
                name: name.to_string(),
                limit,
                value,
                passed: value <= limit,
            })
        })
        .collect()
    }
}

/// The exit code for a run's checks.
pub fn exit_code(checks: &[Check]) -> i32 {
    if checks.iter().all(|c| c.passed) {
        EXIT_PASSED
    } else {
        EXIT_FAILED
    }
}

/// A percentage: `0.1%` or `0.1`.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let n = t.strip_suffix('%').unwrap_or(t).trim();
    n.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("{text:?} is not a percentage (e.g. 0.1%)"))
}

/// A duration in ms: `200ms`, `1.5s`, `200` (ms).
pub fn parse_millis(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (n, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (t, 1.0)
    };
    n.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v * scale)
        .ok_or_else(|| format!("{text:?} is not a duration (e.g. 200ms or 1.5s)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_with_their_units() {
        assert_eq!(parse_percent("0.1%"), Ok(0.1));
        assert_eq!(parse_percent("5"), Ok(5.0));
        assert!(parse_percent("x%").is_err());
        assert_eq!(parse_millis("200ms"), Ok(200.0));
        assert_eq!(parse_millis("1.5s"), Ok(1500.0));
        assert_eq!(parse_millis("250us"), Ok(0.25));
        assert!(parse_millis("-3ms").is_err());
    }

    #[test]
    fn a_broken_limit_fails_the_run() {
        let mut s = Summary {
            started: 1000,
            failed: 2,
            failed_percent: 0.2,
            ..Summary::default()
        };
        s.setup_200_ms.p99 = 150.0;
        let t = Thresholds {
            max_failed_percent: Some(0.1),
            max_p99_setup_ms: Some(200.0),
            ..Thresholds::default()
        };
        let checks = t.check(&s);
        assert_eq!(checks.len(), 2);
        assert!(!checks[0].passed && checks[1].passed);
        assert_eq!(exit_code(&checks), EXIT_FAILED);
        assert_eq!(exit_code(&checks[1..]), EXIT_PASSED);
    }
}
