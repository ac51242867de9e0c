//! Recording calls from the switch's side: a queued call is recorded when
//! its agent is bridged (by the queue's policy), a flow that records keeps
//! the caller's leg until then, the API starts, pauses and resumes, and the
//! recording ends with the call. The decisions are the [`Book`]'s; the
//! engine writes the audio; the index entry and the sidecar go out with the
//! call's other record updates, and the call record gets a `recorded` mark
//! pointing to the file.
//!
//! [`Book`]: crate::recording::Book

use std::time::Instant;

use media::engine::LegId;
use queue::record::Milestone;

use super::Switch;
use crate::b2bua::CallRecordingSpec;
use crate::recording::{Control, Kind, RecordingRefused, State};
use crate::store::recordings::RecordingCommand;
use crate::store::Command;

impl Switch {
    /// The agent of a queued call was bridged: the queue's policy decides.
    pub(super) fn record_on_bridge(&mut self, now: Instant, call: u64, queue: Option<&str>) {
        // The caller alone was recorded in the flow: that part ends here.
        self.end_recording(now, call, State::Complete, None);
        let Some(queue) = queue else { return };
        if self.recordings.records_queue_call(queue) {
            if let Err(e) = self.start_recording(now, call, Kind::Call, None) {
                tracing::debug!(call, %e, "call not recorded");
            }
        }
    }

    /// A flow started: a flow that records keeps the caller's leg until an agent answers.
    pub(super) fn record_flow(&mut self, now: Instant, call: u64, number: &str) {
        if self.recordings.config().flow_policy(number) == crate::recording::Policy::Always {
            if let Err(e) = self.start_recording(now, call, Kind::Ivr, Some(number)) {
                tracing::debug!(call, %e, "flow not recorded");
            }
        }
    }

    /// Starts recording `call` now; an IVR recording is filed under its
    /// `flow` (the number routed to it) where a call's is under its queue,
    /// as the layout and the retention see both in one namespace.
    fn start_recording(
        &mut self,
        now: Instant,
        call: u64,
        kind: Kind,
        flow: Option<&str>,
    ) -> Result<String, RecordingRefused> {
        let Some(t) = self.tracked.get(&call).filter(|t| !t.record.is_empty()) else {
            return Err(RecordingRefused::NoCall(call.to_string()));
        };
        if self.recordings.active(call).is_some() {
            return Err(RecordingRefused::Conflict("the call is being recorded already"));
        }
        let agent_leg = match kind {
            Kind::Call => Some(self.b2bua.agent_leg(call).ok_or(RecordingRefused::NotBridged)?),
            Kind::Ivr | Kind::Voicemail => None,
        };
        let (leg, record, caller) = (t.leg, t.record.clone(), t.caller.clone());
        let agent = t.agent.clone().filter(|_| kind == Kind::Call);
        let queue = match flow {
            Some(flow) => Some(flow.to_owned()),
            None => t.queue_of_record(),
        };
        let codecs = self.b2bua.codecs(call);
        let codecs: Vec<&str> = codecs.iter().map(String::as_str).collect();
        let at = self.millis(now);
        let started = self.recordings.begin(
            call,
            leg,
            kind,
            &record,
            (queue.as_deref(), agent.as_deref(), &caller),
            &codecs,
            at,
        );
        let mut sidecar = crate::recording::sidecar_of(&started);
        if kind == Kind::Ivr {
            sidecar.flow = sidecar.queue.take();
        }
        let spec = CallRecordingSpec {
            spec: recordings::RecorderSpec {
                wav: started.path.clone(),
                mono_mix: started.mono_mix.then(|| recordings::mono_mix_path(&started.path)),
                sample_rate: started.rate,
                layout: sidecar.layout,
            },
            sidecar,
        };
        self.b2bua.media().record_call(leg, agent_leg, spec);
        metrics::counter!("recordings_started_total", "kind" => kind_name(kind)).increment(1);
        tracing::info!(call, recording = %started.id, path = %started.path.display(), "recording started");
        let id = started.id.clone();
        self.mark(
            now,
            call,
            Milestone::Recorded {
                recording: id.clone(),
                path: started.path.to_string_lossy().into_owned(),
            },
        );
        self.record_out
            .push_back(Command::Recording(RecordingCommand::Started(started)));
        Ok(id)
    }

    /// The call is over: its recording ends, and its count of recordings is
    /// forgotten.
    pub(super) fn recording_call_ended(&mut self, now: Instant, call: u64, record: &str) {
        self.end_recording(now, call, State::Complete, None);
        self.recordings.forget(record);
    }

    /// Ends the recording of `call`, if one is going.
    pub(super) fn end_recording(&mut self, now: Instant, call: u64, state: State, error: Option<String>) {
        let leg = match self.recordings.active(call) {
            Some(a) => a.leg,
            None => return,
        };
        if state != State::Failed {
            self.b2bua.media().stop_call_recording(leg);
        }
        let at = self.millis(now);
        let extra = self.leg_quality_of(call);
        if let Some(ended) = self.recordings.end(call, at, state, error, extra) {
            tracing::info!(call, recording = %ended.id, state = state.as_str(), "recording ended");
            self.record_out
                .push_back(Command::Recording(RecordingCommand::Ended(Box::new(ended))));
        }
    }

    /// What the engine says of a call recording.
    pub(super) fn call_recording_event(&mut self, now: Instant, event: media::engine::CallRecordingEvent) {
        match event {
            media::engine::CallRecordingEvent::Started { leg, path } => {
                tracing::debug!(leg, path = %path.display(), "recording files open");
            }
            media::engine::CallRecordingEvent::Stopped { leg, path, sidecar } => {
                tracing::debug!(leg, path = %path.display(), duration_ms = sidecar.duration_ms, dropped = sidecar.dropped_frames, "recording files finished");
                if sidecar.dropped_frames > 0 {
                    metrics::counter!("recording_dropped_frames_total").increment(sidecar.dropped_frames);
                }
            }
            media::engine::CallRecordingEvent::Failed { leg, path, reason, .. } => {
                tracing::debug!(leg, path = %path.display(), "recording failed");
                self.recording_failed(now, leg, &path, reason);
            }
        }
    }

    /// The engine could not write a call's recording (disk full, I/O
    /// error): the recording stops with its error, the call goes on. The
    /// file must match too: the caller's leg is the engine's name for every
    /// recording of the call, so a failure of the flow's recording that ended
    /// at the bridge must not stop the call's recording that followed it.
    fn recording_failed(&mut self, now: Instant, leg: LegId, path: &std::path::Path, error: String) {
        let Some(call) = self
            .recordings
            .call_of_leg(leg)
            .filter(|&call| self.recordings.active(call).is_some_and(|a| a.started.path == path))
        else {
            tracing::warn!(leg, path = %path.display(), %error, "a recording that had ended failed");
            return;
        };
        tracing::error!(call, %error, "recording failed; the call goes on");
        metrics::counter!("recording_failures_total").increment(1);
        self.end_recording(now, call, State::Failed, Some(error));
    }

    /// What the API asks of a live call's recording, the call named by its
    /// record's id; the answer is the recording's id.
    pub(crate) fn recording_control(
        &mut self,
        now: Instant,
        record: &str,
        control: Control,
    ) -> Result<String, RecordingRefused> {
        let call = self
            .tracked
            .iter()
            .find(|(_, t)| !t.record.is_empty() && t.record == record)
            .map(|(call, _)| *call)
            .ok_or_else(|| RecordingRefused::NoCall(record.to_owned()))?;
        let at = self.millis(now);
        let result = match control {
            Control::Start => {
                let queue = self
                    .tracked
                    .get(&call)
                    .and_then(super::records::Tracked::queue_of_record);
                if !self.recordings.may_record_on_demand(queue.as_deref()) {
                    return Err(RecordingRefused::Forbidden);
                }
                self.start_recording(now, call, Kind::Call, None)
            }
            Control::Pause | Control::Resume => {
                let active = self
                    .recordings
                    .active(call)
                    .ok_or(RecordingRefused::Conflict("the call is not being recorded"))?;
                let (leg, id) = (active.leg, active.started.id.clone());
                if control == Control::Pause {
                    if !self.recordings.pause(call, at) {
                        return Err(RecordingRefused::Conflict("the recording is paused already"));
                    }
                    self.b2bua.media().pause_call_recording(leg);
                } else {
                    if !self.recordings.resume(call, at) {
                        return Err(RecordingRefused::Conflict("the recording is not paused"));
                    }
                    self.b2bua.media().resume_call_recording(leg);
                }
                let pauses = self
                    .recordings
                    .active(call)
                    .map(|a| a.pauses_until(at))
                    .unwrap_or_default();
                self.record_out
                    .push_back(Command::Recording(RecordingCommand::Pauses { id: id.clone(), pauses }));
                Ok(id)
            }
        };
        self.process_events(now);
        result
    }

    /// A message is being recorded (a flow's record node, an overflow to
    /// voicemail): it gets an index entry now and a sidecar when it ends.
    pub(super) fn voicemail_started(&mut self, now: Instant, call: u64, leg: LegId, path: &std::path::Path) {
        let Some(t) = self.tracked.get(&call).filter(|t| !t.record.is_empty()) else {
            return;
        };
        let (record, caller) = (t.record.clone(), t.caller.clone());
        let queue = t.queue_of_record();
        let at = self.millis(now);
        let mut started = self.recordings.begin(
            call,
            leg,
            Kind::Voicemail,
            &record,
            (queue.as_deref(), None, &caller),
            &["PCMU"],
            at,
        );
        // The engine writes messages where the voicemail settings say.
        started.path = path.to_path_buf();
        self.recordings.hold_message(leg, started.clone());
        self.mark(
            now,
            call,
            Milestone::Recorded {
                recording: started.id.clone(),
                path: started.path.to_string_lossy().into_owned(),
            },
        );
        self.record_out
            .push_back(Command::Recording(RecordingCommand::Started(started)));
    }

    /// A message's recording finished: its sidecar and index entry are closed.
    pub(super) fn voicemail_finished(&mut self, now: Instant, leg: LegId) {
        let Some(started) = self.recordings.take_message(leg) else {
            return;
        };
        let ended = crate::recording::ending(
            &started,
            Vec::new(),
            self.millis(now),
            State::Complete,
            None,
            serde_json::Value::Null,
        );
        self.record_out
            .push_back(Command::Recording(RecordingCommand::Ended(Box::new(ended))));
    }

    /// What the sidecar says of the legs' quality so far (the legs' final
    /// figures go to the call record when they close).
    fn leg_quality_of(&self, call: u64) -> serde_json::Value {
        let codecs = self.b2bua.codecs(call);
        serde_json::json!({ "codecs": codecs })
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Call => "call",
        Kind::Ivr => "ivr",
        Kind::Voicemail => "voicemail",
    }
}
