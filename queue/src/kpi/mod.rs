//! KPIs over call records (being written).

/// Service-level formulas (see the design's definitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlFormula {
    /// Answered within T / (offered - abandoned within T).
    #[default]
    AbandonsIgnored,
    /// Answered within T / offered.
    AbandonsNegative,
    /// (Answered within T + abandoned within T) / offered.
    AbandonsPositive,
    /// Answered within T / answered.
    AnsweredOnly,
    /// (Answered within T + abandoned within T) / (answered + abandoned).
    AsteriskSl2,
}
