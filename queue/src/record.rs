//! The call record: who called, and a timeline of what happened when.
//!
//! A record is written when the call arrives and marks are appended as the
//! call moves on; KPIs are computed from the marks alone (see [`crate::kpi`]),
//! so a record read back from storage gives the same figures as the live call.
//! Agents' state changes are kept as their own timeline ([`AgentStateRecord`])
//! for occupancy.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// One call, from its INVITE to its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Unique across restarts (the shell makes it: start time and a counter).
    pub id: String,
    /// The caller's number (From user part).
    pub caller: String,
    /// The number dialled (Request-URI user part).
    pub called: String,
    /// The IVR language the call ended up in, if it went through a flow.
    pub language: Option<String>,
    /// What happened, in the order it happened.
    pub marks: Vec<Mark>,
    /// Post-call survey answers.
    pub surveys: Vec<SurveyAnswer>,
    /// The quality of each media leg, as it was when the leg closed.
    #[serde(default)]
    pub legs: Vec<LegReport>,
    /// Quality evaluations of the call's recordings.
    #[serde(default)]
    pub evaluations: Vec<QaScore>,
    /// How the call ended; `None` while it is live.
    pub end: Option<End>,
}

/// A point on a call's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// When.
    pub at: Millis,
    /// What.
    pub what: Milestone,
}

/// What happened to a call at a mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Milestone {
    /// The INVITE arrived.
    Arrival,
    /// The caller chose a branch of an IVR menu.
    MenuChoice {
        /// The menu node's id in the flow.
        node: String,
        /// The digits keyed.
        digits: String,
    },
    /// The call left its IVR flow (to a queue, a transfer, or a hang-up).
    IvrExit,
    /// The call entered a queue.
    Enqueued {
        /// Queue name.
        queue: String,
    },
    /// An agent's phone was rung for the call.
    Offered {
        /// Agent id (extension).
        agent: String,
    },
    /// The offer ended without an answer (no answer, busy, refused, cancelled).
    OfferFailed {
        /// Agent id.
        agent: String,
    },
    /// The agent's phone answered (its 200 OK).
    AgentAnswered {
        /// Agent id.
        agent: String,
    },
    /// The caller's and the agent's media were bridged.
    Bridged {
        /// Agent id.
        agent: String,
    },
    /// The first RTP packet from the agent after the bridge.
    FirstAgentAudio {
        /// Agent id.
        agent: String,
    },
    /// The caller hung up while queued (not yet answered).
    Abandoned {
        /// Queue name.
        queue: String,
    },
    /// The call left a queue by an overflow rule.
    Overflowed {
        /// The queue it left.
        queue: String,
        /// Where it went (`queue:NAME`, `flow:NAME`, `voicemail:BOX`, `uri:SIP-URI`, `hook:NAME`).
        to: String,
    },
    /// The call was transferred out of the switch's hands.
    Transferred {
        /// Where to.
        to: String,
    },
    /// The caller chose to be called back and hung up, keeping their place.
    CallbackRequested {
        /// Queue name.
        queue: String,
    },
    /// The switch dialled the caller back.
    CallbackPlaced,
    /// The agent's talk ended and wrap-up began.
    TalkEnded {
        /// Agent id.
        agent: String,
    },
    /// The agent finished wrap-up for this call.
    WrapUpEnded {
        /// Agent id.
        agent: String,
    },
    /// A recording of the call started: the call record points to it.
    Recorded {
        /// The recording's id (in the recordings index).
        recording: String,
        /// Its WAV file.
        path: String,
    },
    /// The call ended.
    HungUp {
        /// Who ended it.
        by: Party,
    },
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The caller (BYE or CANCEL from the caller's side).
    Caller,
    /// The agent.
    Agent,
    /// The switch (end of a flow, dead media, an error).
    Switch,
}

/// How a call record was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The call ended normally (its last mark says how).
    Completed,
    /// The switch stopped while the call was live; closed at the next start.
    Interrupted,
}

/// One answer to a post-call survey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyAnswer {
    /// `csat` (1-5) or `nps` (0-10).
    pub kind: SurveyKind,
    /// The score keyed by the caller.
    pub score: u32,
    /// The agent who handled the call (the last one who answered).
    pub agent: Option<String>,
    /// When it was keyed.
    pub at: Millis,
}

/// A quality evaluation of a call's recording: an evaluator's scored form,
/// as a weighted total out of 10.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QaScore {
    /// The agent evaluated (the one recorded).
    pub agent: Option<String>,
    /// The weighted total, 0 to 10.
    pub total: f64,
    /// When it was posted.
    pub at: Millis,
}

/// The scale of a survey question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyKind {
    /// Customer satisfaction, 1 to 5.
    Csat,
    /// Net promoter score, 0 to 10.
    Nps,
}

/// How one media leg of a call sounded (RFC 3550 figures and an ITU-T G.107
/// E-model estimate), taken when the leg closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegReport {
    /// Whose leg: the caller's, or the agent's.
    pub side: LegSide,
    /// The agent, for an agent's leg.
    pub agent: Option<String>,
    /// RTP packets received on the leg.
    pub packets: u64,
    /// Packets lost (expected less received).
    pub lost: i64,
    /// Interarrival jitter, milliseconds.
    pub jitter_ms: f64,
    /// Round-trip time from RTCP, milliseconds, when measured.
    pub rtt_ms: Option<f64>,
    /// Estimated MOS, 1 to 4.5.
    pub mos: f64,
}

/// The two sides of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegSide {
    /// The caller's leg.
    Caller,
    /// The agent's leg.
    Agent,
}

/// An agent entered a state; the state lasts until the agent's next record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStateRecord {
    /// Agent id.
    pub agent: String,
    /// When.
    pub at: Millis,
    /// The state entered.
    pub state: AgentStateKind,
    /// Pause reason code, when paused.
    pub reason: Option<String>,
}

/// The states an agent can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStateKind {
    /// Not taking calls.
    LoggedOut,
    /// Waiting for a call.
    Available,
    /// A call is being offered (phone ringing); reserved for that call.
    Ringing,
    /// Talking (hold included).
    OnCall,
    /// After-call work.
    WrapUp,
    /// Logged in but not taking calls, with a reason code.
    Paused,
}

impl AgentStateKind {
    /// The name used in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStateKind::LoggedOut => "logged_out",
            AgentStateKind::Available => "available",
            AgentStateKind::Ringing => "ringing",
            AgentStateKind::OnCall => "on_call",
            AgentStateKind::WrapUp => "wrap_up",
            AgentStateKind::Paused => "paused",
        }
    }
}

impl CallRecord {
    /// A record for a call that just arrived.
    pub fn arrived(id: String, caller: String, called: String, at: Millis) -> CallRecord {
        CallRecord {
            id,
            caller,
            called,
            language: None,
            marks: vec![Mark {
                at,
                what: Milestone::Arrival,
            }],
            surveys: Vec::new(),
            legs: Vec::new(),
            evaluations: Vec::new(),
            end: None,
        }
    }

    /// Appends a mark.
    pub fn mark(&mut self, at: Millis, what: Milestone) {
        self.marks.push(Mark { at, what });
    }

    /// When the call arrived (its first mark).
    pub fn arrival(&self) -> Option<Millis> {
        self.marks.first().map(|m| m.at)
    }
}
