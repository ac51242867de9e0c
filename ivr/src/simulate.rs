//! `simulate`: one scripted call through a flow, in virtual time.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::interp::{Action, CallContext, FinishReason, HttpError, Interpreter, Timer, Visit};
use crate::model::{Attributes, Flow, TransferTarget};
use crate::prompts::{PromptCatalog, ResolvedPrompt};

/// The scripted call.
#[derive(Debug, Clone)]
pub struct SimScript {
    /// One entry per time the flow waits for keys (`"1"`, `"1234#"`); an empty
    /// entry, or the end of the list, lets that wait time out.
    pub digits: Vec<String>,
    /// The caller's language at the start (`None`: the flow's default).
    pub language: Option<String>,
    /// When the call starts.
    pub at: DateTime<Utc>,
    /// Caller number.
    pub caller: String,
    /// Called number.
    pub called: String,
    /// Attributes at the start.
    pub attributes: Attributes,
    /// Answers to the flow's HTTP requests, in order; when they run out, requests time out.
    pub http: Vec<Result<serde_json::Value, HttpError>>,
    /// Virtual length of one prompt.
    pub prompt_length: Duration,
    /// After an enqueue with a survey: how long the agent talks before hanging up
    /// (`None`: the agent never hangs up in the simulation).
    pub talk_time: Option<Duration>,
}

impl SimScript {
    /// A script with no input, starting at `at`, caller `+10000000000`, called `100`.
    pub fn new(at: DateTime<Utc>) -> Self {
        SimScript {
            digits: Vec::new(),
            language: None,
            at,
            caller: "+10000000000".into(),
            called: "100".into(),
            attributes: Attributes::new(),
            http: Vec::new(),
            prompt_length: Duration::from_secs(3),
            talk_time: Some(Duration::from_secs(120)),
        }
    }
}

/// One event of a simulated call, at an offset from its start.
#[derive(Debug, Clone, PartialEq)]
pub struct SimStep {
    /// Time since the start.
    pub offset: Duration,
    /// What happened, as text.
    pub text: String,
}

/// What a simulated call did.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReport {
    /// Nodes visited.
    pub path: Vec<Visit>,
    /// Every prompt played, resolved per language, in order.
    pub prompts: Vec<ResolvedPrompt>,
    /// Attributes set, in order (`language` changes included).
    pub attributes: Vec<(String, String)>,
    /// Everything that happened, in order.
    pub log: Vec<SimStep>,
    /// How the flow ended (`None`: it was still waiting when the script ran out).
    pub finished: Option<FinishReason>,
}

/// A bad simulation input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The `--at` time could not be read.
    #[error("`{0}` is not a time like 2026-12-24T20:00 (local to the flow) or 2026-12-24T20:00:00Z")]
    BadTime(String),
    /// The local time does not exist (a daylight-saving gap).
    #[error("`{0}` does not exist in {1} (daylight-saving gap)")]
    NoSuchLocalTime(String, String),
}

/// Reads a start time: RFC 3339 with an offset, or a local `YYYY-MM-DDTHH:MM[:SS]`
/// in `tz` (UTC when `None`).
pub fn parse_at(text: &str, tz: Option<Tz>) -> Result<DateTime<Utc>, SimError> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M%:z") {
        return Ok(d.with_timezone(&Utc));
    }
    let (t, tz) = match t.strip_suffix(['Z', 'z']) {
        Some(rest) => (rest, Some(chrono_tz::UTC)),
        None => (t, tz),
    };
    let naive = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
    .ok_or_else(|| SimError::BadTime(text.to_owned()))?;
    let tz = tz.unwrap_or(chrono_tz::UTC);
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| SimError::NoSuchLocalTime(text.to_owned(), tz.name().to_owned()))
}

/// Most inputs fed to one simulated call.
const MAX_ROUNDS: usize = 10_000;

/// Runs the script through the flow.
pub fn simulate(flow: &Arc<Flow>, script: &SimScript, catalog: Option<Arc<PromptCatalog>>) -> SimReport {
    let mut interp = Interpreter::new(
        Arc::clone(flow),
        CallContext {
            caller: script.caller.clone(),
            called: script.called.clone(),
            attributes: script.attributes.clone(),
            language: script.language.clone(),
        },
    );
    if let Some(c) = catalog {
        interp = interp.with_prompts(c);
    }
    let mut sim = Sim {
        start: script.at,
        now: script.at,
        report: SimReport {
            path: Vec::new(),
            prompts: Vec::new(),
            attributes: Vec::new(),
            log: Vec::new(),
            finished: None,
        },
        playing: None,
        http: false,
        recording: false,
        queued: false,
        prompt_length: script.prompt_length,
    };
    let mut digits = script.digits.iter();
    let mut http = script.http.iter();
    interp.start(sim.now);
    for _ in 0..MAX_ROUNDS {
        sim.drain(&mut interp);
        if interp.finished().is_some() {
            break;
        }
        if let Some(length) = sim.playing.take() {
            sim.now += length;
            interp.prompt_finished(sim.now);
        } else if sim.http {
            sim.http = false;
            match http.next() {
                Some(answer) => {
                    sim.now += Duration::from_millis(100);
                    sim.log(format!(
                        "http answer {}",
                        match answer {
                            Ok(v) => v.to_string(),
                            Err(e) => format!("error: {e}"),
                        }
                    ));
                    interp.http_result(answer.clone(), sim.now);
                }
                None => sim.wait_timeout(&mut interp),
            }
        } else if sim.recording {
            sim.recording = false;
            sim.now += Duration::from_secs(10);
            sim.log("message recorded".into());
            interp.record_finished(sim.now);
        } else if let Some((Timer::FirstDigit, _)) = interp.pending_timer() {
            match digits.next().filter(|d| !d.is_empty()) {
                Some(keys) => {
                    sim.log(format!("caller presses {keys}"));
                    for key in keys.chars() {
                        sim.now += Duration::from_millis(300);
                        interp.digit(key, sim.now);
                        sim.drain(&mut interp);
                    }
                }
                None => sim.wait_timeout(&mut interp),
            }
        } else if interp.pending_timer().is_some() {
            sim.wait_timeout(&mut interp);
        } else if sim.queued {
            sim.queued = false;
            match script.talk_time {
                Some(t) => {
                    sim.now += t;
                    sim.log("agent hangs up".into());
                    interp.agent_hung_up(sim.now);
                }
                None => break,
            }
        } else {
            break;
        }
    }
    sim.report.path = interp.path().to_vec();
    sim.report.finished = interp.finished();
    sim.report
}

struct Sim {
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    report: SimReport,
    playing: Option<Duration>,
    http: bool,
    recording: bool,
    queued: bool,
    prompt_length: Duration,
}

impl Sim {
    fn log(&mut self, text: String) {
        let offset = (self.now - self.start).to_std().unwrap_or_default();
        self.report.log.push(SimStep { offset, text });
    }

    fn wait_timeout(&mut self, interp: &mut Interpreter) {
        if let Some((timer, at)) = interp.pending_timer() {
            self.now = self.now.max(at);
            self.log(format!("{timer:?} timeout"));
            interp.handle_timeout(self.now);
        }
    }

    fn drain(&mut self, interp: &mut Interpreter) {
        while let Some(action) = interp.poll_action() {
            let text = match &action {
                Action::Play { prompts, barge_in } => {
                    self.report.prompts.extend(prompts.iter().cloned());
                    let n = u32::try_from(prompts.len()).unwrap_or(u32::MAX);
                    self.playing = Some(self.playing.unwrap_or_default() + self.prompt_len() * n);
                    let files: Vec<String> = prompts.iter().map(|p| p.path.display().to_string()).collect();
                    format!(
                        "play {}{}",
                        files.join(", "),
                        if *barge_in { " (barge-in)" } else { "" }
                    )
                }
                Action::StopPlayback => {
                    self.playing = None;
                    "stop playback".into()
                }
                Action::MenuChoice { node, digits } => format!("chose {digits} at {node}"),
                Action::SetAttribute { key, value } => {
                    self.report.attributes.push((key.clone(), value.clone()));
                    format!("set {key} = {value}")
                }
                Action::SetLanguage { language } => {
                    self.report.attributes.push(("language".into(), language.clone()));
                    format!("language {language}")
                }
                Action::HttpRequest { url, body, timeout } => {
                    self.http = true;
                    format!("http POST {url} {body} (timeout {timeout:?})")
                }
                Action::Enqueue {
                    queue,
                    priority,
                    skills,
                } => {
                    self.queued = true;
                    format!("enqueue {queue} priority {priority} skills [{}]", skills.join(", "))
                }
                Action::Transfer { target } => match target {
                    TransferTarget::Uri(u) => format!("transfer to {u}"),
                    TransferTarget::Extension(e) => format!("transfer to extension {e}"),
                },
                Action::RecordMessage {
                    mailbox, max_duration, ..
                } => {
                    self.recording = true;
                    format!("record message for {mailbox} (max {max_duration:?})")
                }
                Action::SurveyScore { kind, score } => {
                    format!("survey {} score {score}", kind.as_str())
                }
                Action::Hangup => "hang up".into(),
                Action::Finished { reason } => format!("finished: {reason:?}"),
            };
            self.log(text);
        }
    }

    fn prompt_len(&self) -> Duration {
        self.prompt_length
    }
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path: Vec<&str> = self.path.iter().map(|v| v.node.as_str()).collect();
        writeln!(f, "path: {}", path.join(" -> "))?;
        writeln!(f, "events:")?;
        for s in &self.log {
            writeln!(f, "  {:>7.1}s  {}", s.offset.as_secs_f64(), s.text)?;
        }
        writeln!(f, "prompts played:")?;
        for p in &self.prompts {
            writeln!(f, "  {}", p.path.display())?;
        }
        writeln!(f, "attributes set:")?;
        for (k, v) in &self.attributes {
            writeln!(f, "  {k} = {v}")?;
        }
        match self.finished {
            Some(r) => writeln!(f, "result: {r:?}"),
            None => writeln!(f, "result: still waiting when the script ended"),
        }
    }
}
