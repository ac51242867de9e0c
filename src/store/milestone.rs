//! A milestone as the columns of its `marks` row: `kind` (the serde name of
//! the variant, as in the API's JSON), `subject` and `target`.
//!
//! | kind | subject | target |
//! |---|---|---|
//! | `arrival`, `ivr_exit`, `callback_placed` | | |
//! | `enqueued`, `abandoned`, `callback_requested` | queue | |
//! | `offered`, `offer_failed`, `agent_answered`, `bridged`, `first_agent_audio`, `talk_ended`, `wrap_up_ended` | agent | |
//! | `menu_choice` | menu node | digits |
//! | `overflowed` | queue | where to |
//! | `transferred` | | where to |
//! | `hung_up` | who (`caller`, `agent`, `switch`) | |
//!
//! Columns rather than JSON: without a JSON parse per mark, reading a day of
//! records back takes less than half the time, and the rows are smaller.

use queue::record::{Milestone, Party};

use super::codec::parse_name;

/// The `(kind, subject, target)` columns of a milestone.
pub(super) fn to_columns(m: &Milestone) -> (&'static str, Option<&str>, Option<&str>) {
    match m {
        Milestone::Arrival => ("arrival", None, None),
        Milestone::MenuChoice { node, digits } => ("menu_choice", Some(node), Some(digits)),
        Milestone::IvrExit => ("ivr_exit", None, None),
        Milestone::Enqueued { queue } => ("enqueued", Some(queue), None),
        Milestone::Offered { agent } => ("offered", Some(agent), None),
        Milestone::OfferFailed { agent } => ("offer_failed", Some(agent), None),
        Milestone::AgentAnswered { agent } => ("agent_answered", Some(agent), None),
        Milestone::Bridged { agent } => ("bridged", Some(agent), None),
        Milestone::FirstAgentAudio { agent } => ("first_agent_audio", Some(agent), None),
        Milestone::Abandoned { queue } => ("abandoned", Some(queue), None),
        Milestone::Overflowed { queue, to } => ("overflowed", Some(queue), Some(to)),
        Milestone::Transferred { to } => ("transferred", None, Some(to)),
        Milestone::CallbackRequested { queue } => ("callback_requested", Some(queue), None),
        Milestone::CallbackPlaced => ("callback_placed", None, None),
        Milestone::TalkEnded { agent } => ("talk_ended", Some(agent), None),
        Milestone::WrapUpEnded { agent } => ("wrap_up_ended", Some(agent), None),
        Milestone::Recorded { recording, path } => ("recorded", Some(recording), Some(path)),
        Milestone::HungUp { by } => ("hung_up", Some(party(*by)), None),
    }
}

fn party(by: Party) -> &'static str {
    match by {
        Party::Caller => "caller",
        Party::Agent => "agent",
        Party::Switch => "switch",
    }
}

/// The milestone of a row's columns; an error says what is wrong with them.
pub(super) fn from_columns(kind: &str, subject: Option<&str>, target: Option<&str>) -> Result<Milestone, String> {
    let subject = || {
        subject
            .map(str::to_owned)
            .ok_or_else(|| format!("a `{kind}` mark without its subject"))
    };
    let target = || {
        target
            .map(str::to_owned)
            .ok_or_else(|| format!("a `{kind}` mark without its target"))
    };
    Ok(match kind {
        "arrival" => Milestone::Arrival,
        "menu_choice" => Milestone::MenuChoice {
            node: subject()?,
            digits: target()?,
        },
        "ivr_exit" => Milestone::IvrExit,
        "enqueued" => Milestone::Enqueued { queue: subject()? },
        "offered" => Milestone::Offered { agent: subject()? },
        "offer_failed" => Milestone::OfferFailed { agent: subject()? },
        "agent_answered" => Milestone::AgentAnswered { agent: subject()? },
        "bridged" => Milestone::Bridged { agent: subject()? },
        "first_agent_audio" => Milestone::FirstAgentAudio { agent: subject()? },
        "abandoned" => Milestone::Abandoned { queue: subject()? },
        "overflowed" => Milestone::Overflowed {
            queue: subject()?,
            to: target()?,
        },
        "transferred" => Milestone::Transferred { to: target()? },
        "callback_requested" => Milestone::CallbackRequested { queue: subject()? },
        "callback_placed" => Milestone::CallbackPlaced,
        "recorded" => Milestone::Recorded {
            recording: subject()?,
            path: target()?,
        },
        "talk_ended" => Milestone::TalkEnded { agent: subject()? },
        "wrap_up_ended" => Milestone::WrapUpEnded { agent: subject()? },
        "hung_up" => Milestone::HungUp {
            by: parse_name(&subject()?).map_err(|e| format!("a `hung_up` mark: {e}"))?,
        },
        other => return Err(format!("an unknown kind of mark `{other}`")),
    })
}

/// The kind column of a hang-up, for recovery's check.
pub(super) const HUNG_UP: &str = "hung_up";
