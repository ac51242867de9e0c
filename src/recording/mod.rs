//! Call recording, the switch's side: which calls are recorded (the queue's
//! or flow's policy, a seeded draw for sampled queues, the API for on-demand
//! ones), where the file goes, its pauses, and the index entry that the
//! call record points to. The audio itself is the media engine's: it writes
//! the stereo WAV in streaming chunks on a writer thread of its own.
//!
//! [`Book`] is pure: the switch asks it what to do with a time, and carries
//! out the media and store commands itself.
//!
//! A recording's life: `recording` (row inserted when it starts) then
//! `complete` (ended normally), `failed` (the engine could not write it:
//! disk full, an I/O error; the call went on), or `interrupted` (the switch
//! stopped in the middle: the next start repairs the WAV header from the
//! data written and marks it so). Deleting (by API or by retention) keeps
//! the row, with `deleted_at`/`deleted_by`, and an audit entry.

pub(crate) mod config;
#[cfg(test)]
mod index_tests;
pub(crate) mod retention;
pub(crate) mod wav;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use queue::Millis;
use rand::{Rng, SeedableRng};

pub(crate) use self::config::{Layout, Policy, QaConfig, RecordingConfig};
pub(crate) use crate::store::recordings::{Ended, Kind, Pause, Started, State};

/// A recording in progress.
#[derive(Debug, Clone)]
pub(crate) struct Active {
    /// Its index entry.
    pub(crate) started: Started,
    /// The media leg the engine knows it by (the caller's).
    pub(crate) leg: media::engine::LegId,
    /// Pauses so far.
    pub(crate) pauses: Vec<Pause>,
    /// Paused since then, if paused now.
    pub(crate) paused_since: Option<u64>,
}

impl Active {
    /// The pauses, a pause still open ending at `now`.
    pub(crate) fn pauses_until(&self, now: Millis) -> Vec<Pause> {
        let mut pauses = self.pauses.clone();
        if let Some(from_ms) = self.paused_since {
            pauses.push(Pause { from_ms, to_ms: now.0 });
        }
        pauses
    }
}

/// Why an API request about a call's recording was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordingRefused {
    /// No live call with that id.
    #[error("no call `{0}` in progress")]
    NoCall(String),
    /// The call's queue never records.
    #[error("recording is off for this call's queue")]
    Forbidden,
    /// Not recording (pause, resume) or already recording (start).
    #[error("{0}")]
    Conflict(&'static str),
    /// The call has no agent yet: there is nothing to record in stereo.
    #[error("the call has no agent yet")]
    NotBridged,
}

/// What the API may ask of a call's recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// Start an on-demand recording.
    Start,
    /// Pause (silence until resumed).
    Pause,
    /// Resume.
    Resume,
}

/// The sidecar's path for a recording's file: `<file>.json`.
pub(crate) fn sidecar_path(wav: &Path) -> PathBuf {
    recordings::Sidecar::path_for(wav)
}

/// The file of a recording: the recordings crate's layout by the UTC date
/// the recording started (`_none` when no queue).
pub(crate) fn path_for(dir: &Path, started: Millis, queue: Option<&str>, id: &str) -> PathBuf {
    recordings::recording_path(
        dir,
        recordings::Date::from_unix_ms(started.0),
        queue.unwrap_or("_none"),
        id,
    )
}

/// The recordings of the calls in progress, and the decisions about them.
pub(crate) struct Book {
    config: RecordingConfig,
    draw: rand::rngs::StdRng,
    active: HashMap<u64, Active>,
    /// Recordings made per call record so far (ids stay unique per call).
    made: HashMap<String, u32>,
    /// Messages being recorded, by the leg recorded.
    messages: HashMap<media::engine::LegId, Started>,
}

impl Book {
    /// A book for `config`; its sampling draw is seeded from the config, or
    /// at random.
    pub(crate) fn new(config: RecordingConfig) -> Book {
        let draw = match config.sample_seed {
            Some(seed) => rand::rngs::StdRng::seed_from_u64(seed),
            None => rand::rngs::StdRng::from_entropy(),
        };
        Book {
            config,
            draw,
            active: HashMap::new(),
            made: HashMap::new(),
            messages: HashMap::new(),
        }
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &RecordingConfig {
        &self.config
    }

    /// Whether a queue's bridged call is recorded by its policy (a sampled
    /// queue draws once per call).
    pub(crate) fn records_queue_call(&mut self, queue: &str) -> bool {
        match self.config.queue_policy(queue) {
            Policy::Always => true,
            Policy::Never | Policy::OnDemand => false,
            Policy::Sampled(percent) => self.draw.gen_range(0..100) < u32::from(percent),
        }
    }

    /// Whether the API may start a recording of a call in `queue`.
    pub(crate) fn may_record_on_demand(&self, queue: Option<&str>) -> bool {
        let policy = match queue {
            Some(q) => self.config.queue_policy(q),
            None => self.config.default,
        };
        policy != Policy::Never
    }

    /// The index entry of a new recording of `call` (its record's id).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn begin(
        &mut self,
        call: u64,
        leg: media::engine::LegId,
        kind: Kind,
        record: &str,
        (queue, agent, caller): (Option<&str>, Option<&str>, &str),
        codecs: &[&str],
        now: Millis,
    ) -> Started {
        let n = self.made.entry(record.to_owned()).or_default();
        *n += 1;
        let id = format!("{record}-r{n}");
        let path = path_for(&self.config.dir, now, queue, &id);
        let rate = match kind {
            Kind::Call | Kind::Ivr => self.config.sample_rate.rate_for(codecs.iter().copied()),
            // The engine records messages at 8 kHz mono.
            Kind::Voicemail => 8000,
        };
        let started = Started {
            id,
            call_id: record.to_owned(),
            path,
            kind,
            queue: queue.map(str::to_owned),
            agent: agent.map(str::to_owned),
            caller: caller.to_owned(),
            started_ms: now.0,
            codec: codecs.first().map(|c| c.to_ascii_uppercase()).unwrap_or_default(),
            rate,
            retention_days: self.config.retention_days(queue),
            layout: match self.config.layout {
                Layout::CallerLeft => recordings::ChannelLayout::CallerLeftAgentRight,
                Layout::AgentLeft => recordings::ChannelLayout::AgentLeftCallerRight,
            },
            mono_mix: self.config.mono_mix && kind == Kind::Call,
        };
        if kind != Kind::Voicemail {
            self.active.insert(
                call,
                Active {
                    started: started.clone(),
                    leg,
                    pauses: Vec::new(),
                    paused_since: None,
                },
            );
        }
        started
    }

    /// A message (voicemail) is being recorded on `leg`.
    pub(crate) fn hold_message(&mut self, leg: media::engine::LegId, started: Started) {
        self.messages.insert(leg, started);
    }

    /// The message recorded on `leg`, once it is finished.
    pub(crate) fn take_message(&mut self, leg: media::engine::LegId) -> Option<Started> {
        self.messages.remove(&leg)
    }

    /// A call record is closed: its count of recordings goes.
    pub(crate) fn forget(&mut self, record: &str) {
        self.made.remove(record);
    }

    /// The recording in progress for `call`.
    pub(crate) fn active(&self, call: u64) -> Option<&Active> {
        self.active.get(&call)
    }

    /// The call whose recording the engine knows by `leg`.
    pub(crate) fn call_of_leg(&self, leg: media::engine::LegId) -> Option<u64> {
        self.active.iter().find(|(_, a)| a.leg == leg).map(|(c, _)| *c)
    }

    /// Pauses a call's recording; `false` if it is not recording or paused already.
    pub(crate) fn pause(&mut self, call: u64, now: Millis) -> bool {
        match self.active.get_mut(&call) {
            Some(a) if a.paused_since.is_none() => {
                a.paused_since = Some(now.0);
                true
            }
            _ => false,
        }
    }

    /// Resumes a paused recording; `false` if it is not paused.
    pub(crate) fn resume(&mut self, call: u64, now: Millis) -> bool {
        match self.active.get_mut(&call) {
            Some(a) => match a.paused_since.take() {
                Some(from_ms) => {
                    a.pauses.push(Pause { from_ms, to_ms: now.0 });
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    /// Ends a call's recording: its ending and the sidecar; `None` if none
    /// was going. `extra` joins the sidecar (the legs' quality, the engine's figures).
    pub(crate) fn end(
        &mut self,
        call: u64,
        now: Millis,
        state: State,
        error: Option<String>,
        extra: serde_json::Value,
    ) -> Option<Ended> {
        let active = self.active.remove(&call)?;
        Some(ending(
            &active.started,
            active.pauses_until(now),
            now,
            state,
            error,
            extra,
        ))
    }
}

/// The ending of a recording that started as `started`, with its sidecar
/// (in the `recordings` crate's format).
pub(crate) fn ending(
    started: &Started,
    pauses: Vec<Pause>,
    now: Millis,
    state: State,
    error: Option<String>,
    extra: serde_json::Value,
) -> Ended {
    let mut sidecar = sidecar_of(started);
    sidecar.ended_unix_ms = Some(now.0);
    sidecar.duration_ms = now.0.saturating_sub(started.started_ms);
    sidecar.pauses = pauses
        .iter()
        .map(|p| recordings::PauseSpan {
            start_ms: p.from_ms.saturating_sub(started.started_ms),
            end_ms: Some(p.to_ms.saturating_sub(started.started_ms)),
        })
        .collect();
    sidecar.quality.left.codecs = extra["codecs"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c.as_str().map(str::to_owned)).take(1).collect())
        .unwrap_or_default();
    sidecar.state = match state {
        State::Recording => recordings::State::Recording,
        State::Complete => recordings::State::Complete,
        State::Failed => recordings::State::Failed {
            reason: error.clone().unwrap_or_default(),
        },
        State::Interrupted => recordings::State::Interrupted {
            reason: error.clone().unwrap_or_default(),
        },
    };
    Ended {
        id: started.id.clone(),
        ended_ms: now.0,
        state,
        pauses,
        error,
        sidecar: serde_json::to_value(&sidecar).unwrap_or_default(),
        sidecar_path: sidecar_path(&started.path),
        write_sidecar: started.kind == Kind::Voicemail,
    }
}

/// The sidecar of a recording as it starts (state `recording`).
pub(crate) fn sidecar_of(started: &Started) -> recordings::Sidecar {
    let mut sidecar = recordings::Sidecar::new(&started.call_id, started.started_ms);
    sidecar.queue.clone_from(&started.queue);
    sidecar.agent.clone_from(&started.agent);
    sidecar.caller = Some(started.caller.clone());
    sidecar.sample_rate = started.rate;
    sidecar.layout = match started.kind {
        Kind::Ivr | Kind::Voicemail => recordings::ChannelLayout::Mono,
        Kind::Call => started.layout,
    };
    sidecar.file = started
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    sidecar.mono_mix = started.mono_mix.then(|| {
        recordings::mono_mix_path(&started.path)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    sidecar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(text: &str) -> Book {
        #[derive(serde::Deserialize)]
        struct Doc {
            recording: RecordingConfig,
        }
        let doc: Doc = toml::from_str(text).unwrap();
        Book::new(doc.recording)
    }

    #[test]
    fn a_seeded_draw_samples_about_its_share_and_repeats() {
        let text = "[recording]\nsample_seed = 7\n[recording.queues.q]\nrecording = { sample_percent = 30 }\n";
        let draws = |mut b: Book| (0..1000).map(|_| b.records_queue_call("q")).collect::<Vec<_>>();
        let first = draws(book(text));
        assert_eq!(first, draws(book(text)), "same seed, same calls");
        let n = first.iter().filter(|&&r| r).count();
        assert!((240..=360).contains(&n), "{n} of 1000 at 30%");
        let mut never = book("[recording]\ndefault = \"on_demand\"\n");
        assert!(!never.records_queue_call("q"));
        assert!(never.may_record_on_demand(Some("q")));
        assert!(!book("[recording]\n").may_record_on_demand(Some("q")));
    }

    #[test]
    fn pauses_are_kept_and_an_open_one_ends_with_the_recording() {
        let mut b = book("[recording]\ndir = \"rec\"\n[recording.queues.support]\nrecording = \"always\"\n");
        let s = b.begin(
            1,
            10,
            Kind::Call,
            "99-1",
            (Some("support"), Some("1001"), "600"),
            &["PCMU"],
            Millis(1_700_000_000_000),
        );
        assert_eq!(s.id, "99-1-r1");
        assert_eq!(s.path, PathBuf::from("rec/2023/11/14/support/99-1-r1.wav"));
        assert_eq!(s.rate, 8000);
        assert!(b.pause(1, Millis(1_700_000_001_000)));
        assert!(!b.pause(1, Millis(1_700_000_001_500)), "paused already");
        assert!(b.resume(1, Millis(1_700_000_002_000)));
        assert!(!b.resume(1, Millis(1_700_000_002_500)), "not paused");
        assert!(b.pause(1, Millis(1_700_000_003_000)));
        let end = b
            .end(
                1,
                Millis(1_700_000_004_000),
                State::Complete,
                None,
                serde_json::Value::Null,
            )
            .unwrap();
        assert_eq!(
            end.pauses,
            [
                Pause {
                    from_ms: 1_700_000_001_000,
                    to_ms: 1_700_000_002_000
                },
                Pause {
                    from_ms: 1_700_000_003_000,
                    to_ms: 1_700_000_004_000
                }
            ]
        );
        assert_eq!(end.sidecar["duration_ms"], 4000);
        assert_eq!(end.sidecar["state"], "complete");
        assert_eq!(end.sidecar["pauses"][0]["start_ms"], 1000);
        assert_eq!(end.sidecar["layout"], "caller_left_agent_right");
        assert_eq!(end.sidecar_path, PathBuf::from("rec/2023/11/14/support/99-1-r1.json"));
        assert!(b
            .end(
                1,
                Millis(1_700_000_005_000),
                State::Complete,
                None,
                serde_json::Value::Null
            )
            .is_none());
        let again = b.begin(1, 10, Kind::Call, "99-1", (None, None, "600"), &["opus"], Millis(0));
        assert_eq!(again.id, "99-1-r2");
        assert_eq!(again.rate, 48_000);
    }
}
