//! Recording decisions in virtual time: a queued call is recorded when its
//! agent is bridged by the queue's policy, a recording flow keeps the caller
//! until then, the API starts, pauses and resumes, a failure of the engine
//! ends the recording while the call goes on, and the call's record points
//! to the file.

use super::*;
use crate::recording::{Control, RecordingRefused, State};
use crate::store::recordings::RecordingCommand;
use crate::store::Command;

/// A caller of flow 100 queued in `support` and answered by 1001, with
/// `recording` appended to the configuration. Returns the INVITE to the agent.
fn answered(recording: &str) -> (Harness, Sent) {
    let config = format!("{CONFIG}\n{recording}\n");
    let mut h = Harness::with_ivr(&config, flow_setup(QUEUE_NOW));
    h.register_agent("pw1001");
    let mut out = h.invite("100");
    let ok = find(&out, "SIP/2.0 200", caller());
    out.extend(h.send(caller(), &caller_ack(&ok)));
    let to_agent = find(&out, "INVITE ", agent());
    h.send(agent(), &agent_reply(&to_agent, "200 OK", "a1"));
    (h, to_agent)
}

/// The recording updates and `recorded` marks sent to the store so far.
fn recording_updates(h: &mut Harness) -> Vec<String> {
    std::iter::from_fn(|| h.switch.poll_record())
        .filter_map(|c| match c {
            Command::Recording(RecordingCommand::Started(s)) => {
                Some(format!("started {} {:?} {}", s.id, s.kind, s.path.display()))
            }
            Command::Recording(RecordingCommand::Pauses { id, pauses }) => {
                Some(format!("pauses {id} {}", pauses.len()))
            }
            Command::Recording(RecordingCommand::Ended(e)) => {
                Some(format!("ended {} {:?} {:?}", e.id, e.state, e.error))
            }
            Command::CallMarked { mark, .. } => match mark.what {
                queue::record::Milestone::Recorded { recording, .. } => Some(format!("mark {recording}")),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn recording_log(h: &Harness) -> Vec<String> {
    h.media
        .log()
        .into_iter()
        .filter(|l| l.contains("recording") || l.starts_with("record call"))
        .collect()
}

fn record_id(h: &Harness) -> String {
    h.switch.tracked.values().next().unwrap().record.clone()
}

#[test]
fn a_queue_that_always_records_records_from_the_bridge_to_the_hang_up() {
    let (mut h, _) = answered("[recording]\ndir = \"rec\"\n[recording.queues.support]\nrecording = \"always\"\n");
    let record = record_id(&h);
    let log = recording_log(&h);
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].starts_with("record call 1 Some(2) rec/2026/11/23/support/"),
        "{log:?}"
    );
    assert!(log[0].ends_with("-r1.wav 8000Hz"), "{log:?}");
    let updates = recording_updates(&mut h);
    assert_eq!(updates[0], format!("mark {record}-r1"), "{updates:?}");
    assert!(
        updates[1].starts_with(&format!("started {record}-r1 Call rec/")),
        "{updates:?}"
    );
    // The switch hangs up (as for an IVR hang-up): the recording ends with the call.
    let now = h.now;
    let call = *h.switch.tracked.keys().next().unwrap();
    h.switch.end_call(now, call);
    h.switch.process_events(now);
    assert!(
        recording_log(&h).contains(&"stop call recording 1".to_owned()),
        "{:?}",
        h.media.log()
    );
    let updates = recording_updates(&mut h);
    assert!(
        updates.contains(&format!("ended {record}-r1 Complete None")),
        "{updates:?}"
    );
}

#[test]
fn a_queue_that_never_records_refuses_the_api_and_on_demand_waits_for_it() {
    let (mut h, _) = answered("[recording]\ndefault = \"never\"\n");
    assert!(recording_log(&h).is_empty());
    let record = record_id(&h);
    let now = h.now;
    assert_eq!(
        h.switch.recording_control(now, &record, Control::Start),
        Err(RecordingRefused::Forbidden)
    );
    assert_eq!(
        h.switch.recording_control(now, "no-such-call", Control::Pause),
        Err(RecordingRefused::NoCall("no-such-call".into()))
    );

    let (mut h, _) = answered("[recording.queues.support]\nrecording = \"on_demand\"\n");
    assert!(recording_log(&h).is_empty(), "nothing until asked");
    let record = record_id(&h);
    let now = h.now;
    assert_eq!(
        h.switch.recording_control(now, &record, Control::Pause),
        Err(RecordingRefused::Conflict("the call is not being recorded"))
    );
    let id = h.switch.recording_control(now, &record, Control::Start).unwrap();
    assert_eq!(id, format!("{record}-r1"));
    assert!(matches!(
        h.switch.recording_control(now, &record, Control::Start),
        Err(RecordingRefused::Conflict(_))
    ));
    h.advance(Duration::from_secs(2));
    let now = h.now;
    assert_eq!(
        h.switch.recording_control(now, &record, Control::Pause).as_deref(),
        Ok(id.as_str())
    );
    assert!(
        h.switch.recording_control(now, &record, Control::Pause).is_err(),
        "paused already"
    );
    h.advance(Duration::from_secs(3));
    let now = h.now;
    assert_eq!(
        h.switch.recording_control(now, &record, Control::Resume).as_deref(),
        Ok(id.as_str())
    );
    assert!(
        h.switch.recording_control(now, &record, Control::Resume).is_err(),
        "not paused"
    );
    let log = recording_log(&h);
    assert_eq!(
        log[1..],
        [
            "pause call recording 1".to_owned(),
            "resume call recording 1".to_owned()
        ],
        "{log:?}"
    );
    let updates = recording_updates(&mut h);
    assert!(
        updates.ends_with(&[format!("pauses {id} 1"), format!("pauses {id} 1")]),
        "{updates:?}"
    );
}

#[test]
fn a_failed_recording_ends_with_its_error_and_the_call_goes_on() {
    let (mut h, _) = answered("[recording]\ndefault = \"always\"\n");
    let record = record_id(&h);
    recording_updates(&mut h);
    let call = *h.switch.tracked.keys().next().unwrap();
    let path = h.switch.recordings.active(call).unwrap().started.path.clone();
    let failed = |path: &str| {
        media::engine::MediaEvent::CallRecording(media::engine::CallRecordingEvent::Failed {
            leg: 1,
            path: path.into(),
            reason: "No space left on device".into(),
            sidecar: None,
        })
    };
    let now = h.now;
    // A recording of this leg that had ended before (the flow's) failing
    // late leaves the call's recording alone.
    h.switch.handle_media_event(now, failed("rec/earlier.wav"));
    assert!(recording_updates(&mut h).is_empty());
    h.switch.handle_media_event(now, failed(&path.to_string_lossy()));
    let updates = recording_updates(&mut h);
    assert_eq!(
        updates,
        [format!("ended {record}-r1 Failed Some(\"No space left on device\")")]
    );
    assert_eq!(h.switch.gauges().2, 1, "the call is still up");
    assert!(
        !recording_log(&h).iter().any(|l| l.starts_with("stop call")),
        "nothing left to stop"
    );
}

#[test]
fn a_recording_flow_records_the_caller_alone_until_the_agent_answers() {
    let (mut h, _) = answered(
        "[recording]\ndefault = \"never\"\n[recording.flows.\"100\"]\nrecording = \"always\"\n\
         [recording.queues.support]\nrecording = \"always\"\n",
    );
    let record = record_id(&h);
    let log = recording_log(&h);
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log[0].starts_with("record call 1 None call-recordings/2026/11/23/100/"),
        "the caller alone: {log:?}"
    );
    assert_eq!(log[1], "stop call recording 1");
    assert!(log[2].starts_with("record call 1 Some(2) "), "{log:?}");
    let updates = recording_updates(&mut h);
    let started: Vec<&String> = updates.iter().filter(|u| u.starts_with("started")).collect();
    assert!(
        started[0].starts_with(&format!("started {record}-r1 Ivr ")),
        "{updates:?}"
    );
    assert!(
        started[1].starts_with(&format!("started {record}-r2 Call ")),
        "{updates:?}"
    );
    assert!(
        updates.contains(&format!("ended {record}-r1 Complete None")),
        "{updates:?}"
    );
}

#[test]
fn a_message_gets_an_index_entry_and_a_sidecar_written_by_the_switch() {
    let flow = "version: 1\nname: t\ndefault_language: en\nlanguages: [en]\nstart: vm\nnodes:\n  vm:\n    type: record\n    mailbox: sales\n    max_duration: 60s\n    beep: false\n    terminator: \"#\"\n    next: bye\n  bye:\n    type: hangup\n";
    let mut setup = flow_setup(QUEUE_NOW);
    setup
        .flows
        .insert("100".into(), Arc::new(::ivr::parse_flow("t.yaml", flow).unwrap()));
    let mut h = Harness::with_ivr(CONFIG, setup);
    let out = h.invite("100");
    h.send(caller(), &caller_ack(&out[1]));
    let record = record_id(&h);
    let started: Vec<_> = std::iter::from_fn(|| h.switch.poll_record())
        .filter_map(|c| match c {
            Command::Recording(RecordingCommand::Started(s)) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].id, format!("{record}-r1"));
    assert_eq!(started[0].kind, crate::recording::Kind::Voicemail);
    assert!(started[0].path.starts_with("vm/sales"), "{:?}", started[0].path);
    h.advance(Duration::from_secs(4));
    h.switch
        .handle_media_event(h.now, media::engine::MediaEvent::RecordingFinished { leg: 1 });
    let ended: Vec<_> = std::iter::from_fn(|| h.switch.poll_record())
        .filter_map(|c| match c {
            Command::Recording(RecordingCommand::Ended(e)) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(ended.len(), 1);
    let e = &ended[0];
    assert_eq!((e.state, e.write_sidecar), (State::Complete, true));
    assert_eq!(e.sidecar_path, started[0].path.with_extension("json"));
    assert_eq!(e.sidecar["layout"], "mono");
    assert_eq!(e.sidecar["duration_ms"], 4000);
    assert_eq!(e.sidecar["caller"], "+15550100");
}
