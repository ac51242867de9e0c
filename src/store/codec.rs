//! Conversions between the record types and SQLite values.
//!
//! Enums are stored by their serde names (`completed`, `on_call`, `csat`), the
//! same names the API shows, so a stored value and its JSON always agree.

use queue::Millis;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A time as SQLite's INTEGER (times past the year 292 million are clamped).
pub(super) fn millis_to_sql(at: Millis) -> i64 {
    i64::try_from(at.0).unwrap_or(i64::MAX)
}

/// A stored time; a negative one (never written by the switch) reads as 0.
pub(super) fn millis_from_sql(at: i64) -> Millis {
    Millis(u64::try_from(at).unwrap_or(0))
}

/// The serde name of a unit enum variant (`End::Completed` -> `completed`).
pub(super) fn name<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(serde::ser::Error::custom(format!("not a unit variant: {other}"))),
    }
}

/// The unit enum variant with this serde name.
pub(super) fn parse_name<T: DeserializeOwned>(name: &str) -> Result<T, serde_json::Error> {
    T::deserialize(serde::de::value::BorrowedStrDeserializer::<serde_json::Error>::new(
        name,
    ))
}

#[cfg(test)]
mod tests {
    use queue::record::{AgentStateKind, End, SurveyKind};

    use super::*;

    #[test]
    fn names_are_the_serde_names() -> Result<(), serde_json::Error> {
        assert_eq!(name(&End::Interrupted)?, "interrupted");
        assert_eq!(name(&SurveyKind::Nps)?, "nps");
        for kind in [
            AgentStateKind::LoggedOut,
            AgentStateKind::Available,
            AgentStateKind::Ringing,
            AgentStateKind::OnCall,
            AgentStateKind::WrapUp,
            AgentStateKind::Paused,
        ] {
            assert_eq!(name(&kind)?, kind.as_str());
            assert_eq!(parse_name::<AgentStateKind>(kind.as_str())?, kind);
        }
        assert!(parse_name::<End>("exploded").is_err());
        Ok(())
    }

    #[test]
    fn times_clamp_instead_of_failing() {
        assert_eq!(millis_to_sql(Millis(u64::MAX)), i64::MAX);
        assert_eq!(millis_from_sql(-5), Millis(0));
        assert_eq!(
            millis_from_sql(millis_to_sql(Millis(1_795_000_000_000))),
            Millis(1_795_000_000_000)
        );
    }
}
