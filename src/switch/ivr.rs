//! IVR flows in live calls: a call to a routed number is answered by the
//! switch, an `ivr::Interpreter` runs for it, its prompts play on the caller's
//! media leg, the caller's digits and the end of each prompt feed it, and
//! `enqueue`/`transfer` call an agent in. Prompts are loaded when the flows
//! load (by the shell), so this stays free of I/O; wall-clock time for
//! `hours` nodes comes from an epoch the shell pairs with an instant.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ivr::{Action, CallContext, Flow, Interpreter, PromptCatalog, TransferTarget};
use media::engine::LegId;
use media::player::{Item, Playlist, Prompt};

/// Flows and prompts, loaded by the shell.
#[derive(Debug, Default, Clone)]
pub(crate) struct IvrSetup {
    /// Called number -> flow.
    pub(crate) flows: HashMap<String, Arc<Flow>>,
    /// (called number, caller prefix, flow): routes for some callers only.
    pub(crate) by_caller: Vec<(String, String, Arc<Flow>)>,
    /// Which prompt files exist, for the interpreter's language fallback.
    pub(crate) catalog: Arc<PromptCatalog>,
    /// Prompt audio at 8 kHz by path relative to the prompts root (`en/welcome.wav`).
    pub(crate) prompts: HashMap<String, Prompt>,
    /// The same at 48 kHz, for callers on Opus.
    pub(crate) prompts_48k: HashMap<String, Prompt>,
    /// Where voicemail goes: `<dir>/<mailbox>/<time>-<call>.wav`.
    pub(crate) voicemail: std::path::PathBuf,
}

/// One call in a flow.
pub(crate) struct Session {
    pub(crate) interpreter: Interpreter,
    pub(crate) leg: LegId,
    /// PCM rate of the caller leg's codec (8000, or 48000 for Opus).
    pub(crate) rate: u32,
    /// The interpreter's next timer, as filed in the switch's timer set.
    pub(crate) deadline: Option<Instant>,
    /// While a message is recorded: the key that ends it, if any.
    pub(crate) recording: Option<Option<char>>,
    /// The end of what plays is not the flow's (the beep before a recording).
    pub(crate) beeping: bool,
}

/// What the switch must do for a session, in switch terms.
pub(crate) enum Step {
    /// Play this list to the caller.
    Play(Playlist),
    /// Stop what plays.
    Stop,
    /// Ring this agent's extension.
    Connect(String),
    /// Hand the call to the ACD.
    Enqueue {
        queue: String,
        priority: i32,
        skills: Vec<String>,
    },
    /// Call a SIP URI (an IP address; names are not resolved yet).
    ConnectUri(String),
    /// End the call.
    HangUp,
    /// Record a message into `path` for at most `max`.
    Record {
        path: std::path::PathBuf,
        max: Duration,
        beep: bool,
    },
    /// A data dip: the shell POSTs `body` to `url` and hands the result back.
    Http {
        url: String,
        body: serde_json::Value,
        timeout: Duration,
    },
    /// A menu branch the caller chose, for the call's record.
    Choice { node: String, digits: String },
    /// A survey answer, for the call's record.
    Survey { kind: ::ivr::SurveyKind, score: u32 },
    /// The flow is done with the call (it is with an agent, or gone).
    Done,
}

/// Maps the monotonic clock onto wall-clock time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    pub(crate) instant: Instant,
    pub(crate) utc: DateTime<Utc>,
}

impl WallClock {
    pub(crate) fn utc(&self, now: Instant) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(now.saturating_duration_since(self.instant)).unwrap_or_default();
        self.utc + elapsed
    }

    pub(crate) fn instant(&self, at: DateTime<Utc>) -> Instant {
        let ahead = (at - self.utc).to_std().unwrap_or(Duration::ZERO);
        self.instant + ahead
    }
}

impl IvrSetup {
    /// The flow answering calls to `called` from `caller`: the route with the
    /// longest matching caller prefix, else the route for everyone.
    pub(crate) fn flow_for(&self, called: &str, caller: &str) -> Option<Arc<Flow>> {
        self.by_caller
            .iter()
            .filter(|(number, prefix, _)| number == called && caller.starts_with(prefix.as_str()))
            .max_by_key(|(_, prefix, _)| prefix.len())
            .map(|(_, _, flow)| flow.clone())
            .or_else(|| self.flows.get(called).cloned())
    }

    /// A session running `flow` for a call to `called` from `caller`.
    pub(crate) fn session(&self, flow: Arc<Flow>, called: &str, caller: &str, leg: LegId, rate: u32) -> Session {
        let context = CallContext {
            caller: caller.to_owned(),
            called: called.to_owned(),
            ..CallContext::default()
        };
        let interpreter = Interpreter::new(flow, context).with_prompts(self.catalog.clone());
        Session {
            interpreter,
            leg,
            rate,
            deadline: None,
            recording: None,
            beeping: false,
        }
    }

    /// A loaded prompt by its path under the prompts root, at `rate`.
    pub(crate) fn prompt(&self, path: &str, rate: u32) -> Option<Prompt> {
        let audio = if rate == 48_000 {
            &self.prompts_48k
        } else {
            &self.prompts
        };
        audio.get(path).cloned()
    }

    /// The prompt `name` in `language`, else in the first language that has it
    /// (English before others).
    pub(crate) fn localised(&self, language: &str, name: &str, rate: u32) -> Option<Prompt> {
        self.prompt(&format!("{language}/{name}.wav"), rate)
            .or_else(|| self.prompt(&format!("en/{name}.wav"), rate))
            .or_else(|| {
                let audio = if rate == 48_000 {
                    &self.prompts_48k
                } else {
                    &self.prompts
                };
                let suffix = format!("/{name}.wav");
                let mut keys: Vec<&String> = audio.keys().filter(|k| k.ends_with(&suffix)).collect();
                keys.sort();
                keys.first().and_then(|k| audio.get(*k).cloned())
            })
    }

    /// Where a message for `mailbox` recorded now on `leg` goes.
    pub(crate) fn voicemail_path(&self, mailbox: &str, now: DateTime<Utc>, leg: LegId) -> std::path::PathBuf {
        let safe: String = mailbox
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
        let file = format!("{}-{leg}.wav", now.format("%Y%m%dT%H%M%S"));
        self.voicemail.join(safe).join(file)
    }

    /// The next thing the session asks for, in switch terms.
    pub(crate) fn next_step(&self, session: &mut Session, now: DateTime<Utc>) -> Option<Step> {
        loop {
            let action = session.interpreter.poll_action()?;
            let step = match action {
                Action::Play { prompts, barge_in } => {
                    let Ok(mut playlist) = Playlist::new(session.rate) else {
                        continue;
                    };
                    let audio = if session.rate == 48_000 {
                        &self.prompts_48k
                    } else {
                        &self.prompts
                    };
                    for prompt in &prompts {
                        let key = prompt.path.to_string_lossy().replace('\\', "/");
                        match audio.get(&key) {
                            Some(audio) => {
                                let _ = playlist.push(Item::prompt(audio.clone()).interruptible(barge_in));
                            }
                            None => tracing::warn!(prompt = %key, "prompt not loaded"),
                        }
                    }
                    let paths: Vec<_> = prompts.iter().map(|p| p.path.display().to_string()).collect();
                    tracing::debug!(?paths, barge_in, "IVR play");
                    Step::Play(playlist)
                }
                Action::StopPlayback => Step::Stop,
                Action::Enqueue {
                    queue,
                    priority,
                    skills,
                } => Step::Enqueue {
                    queue,
                    priority,
                    skills,
                },
                Action::Transfer {
                    target: TransferTarget::Extension(extension),
                } => Step::Connect(extension),
                Action::Transfer {
                    target: TransferTarget::Uri(uri),
                } => Step::ConnectUri(uri),
                Action::Hangup => Step::HangUp,
                Action::HttpRequest { url, body, timeout } => Step::Http { url, body, timeout },
                Action::RecordMessage {
                    mailbox,
                    max_duration,
                    beep,
                    terminator,
                } => {
                    session.recording = Some(terminator);
                    Step::Record {
                        path: self.voicemail_path(&mailbox, now, session.leg),
                        max: max_duration,
                        beep,
                    }
                }
                Action::MenuChoice { node, digits } => Step::Choice { node, digits },
                Action::SurveyScore { kind, score } => {
                    metrics::counter!("ivr_survey_answers_total").increment(1);
                    Step::Survey { kind, score }
                }
                Action::Finished { .. } => Step::Done,
                other => {
                    tracing::debug!(?other, "IVR action");
                    continue;
                }
            };
            return Some(step);
        }
    }
}
