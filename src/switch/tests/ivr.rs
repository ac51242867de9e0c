//! Calls answered by IVR flows, with the switch core and a fake media engine.

use super::*;

const FLOW: &str = "version: 1
name: test
default_language: en
languages: [en]
start: menu
nodes:
  menu:
    type: menu
    prompts: [menu]
    first_digit_timeout: 5s
    retries: 1
    branches:
      \"1\": queue
    invalid: bye
    timeout: bye
  queue:
    type: enqueue
    queue: support
  bye:
    type: hangup
";

fn ivr_setup() -> crate::switch::IvrSetup {
    let mut catalog = ::ivr::PromptCatalog::new();
    catalog.insert("en", "menu");
    let menu = media::player::Prompt::from_samples(vec![0i16; 1600], 8000).unwrap();
    crate::switch::IvrSetup {
        catalog: Arc::new(catalog),
        prompts: [("en/menu.wav".to_owned(), menu)].into(),
        ..flow_setup(FLOW)
    }
}

#[test]
fn a_flow_answers_plays_takes_a_digit_and_calls_a_registered_agent_in() {
    let mut h = Harness::with_ivr(CONFIG, ivr_setup());
    h.register_agent("pw1001");
    let out = h.invite("100");
    assert_eq!(out[1].first_line(), "SIP/2.0 200 OK", "the switch answers: {out:#?}");
    assert!(out[1].text.contains("m=audio 20002 RTP/AVP 0\r\n"), "{}", out[1].text);
    assert_eq!(
        h.media.log(),
        ["allocate 1", "configure 1 PCMU pt0 127.0.0.2:6000", "play 1 8000"]
    );
    h.send(caller(), &caller_ack(&out[1]));
    h.switch.handle_media_event(
        h.now,
        media::engine::MediaEvent::PlaybackFinished {
            leg: 1,
            interrupted: false,
        },
    );
    h.switch
        .handle_media_event(h.now, media::engine::MediaEvent::Digit { leg: 1, digit: '1' });
    let out = h.drain();
    // 1002 is not registered; 1001 is, where it registered from.
    let to_agent = find(&out, "INVITE ", agent());
    assert_eq!(to_agent.to, agent());
    assert!(
        to_agent.text.contains("m=audio 20004 RTP/AVP 0 8 111 101\r\n"),
        "PCMU first: {}",
        to_agent.text
    );
    let answered = h.send(agent(), &agent_reply(&to_agent, "200 OK", "a1"));
    assert!(
        answered
            .iter()
            .any(|s| s.first_line().starts_with("ACK ") && s.to == agent()),
        "{answered:#?}"
    );
    assert!(h.media.log().contains(&"bridge 1 2".to_owned()), "{:?}", h.media.log());
    // The call record keeps the menu branch the caller took.
    let choices: Vec<_> = std::iter::from_fn(|| h.switch.poll_record())
        .filter_map(|c| match c {
            crate::store::Command::CallMarked { mark, .. } => match mark.what {
                queue::record::Milestone::MenuChoice { node, digits } => Some((node, digits)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(choices, [("menu".to_owned(), "1".to_owned())]);
}

#[test]
fn a_flow_that_hears_nothing_hangs_up() {
    let mut h = Harness::with_ivr(CONFIG, ivr_setup());
    let out = h.invite("100");
    h.send(caller(), &caller_ack(&out[1]));
    h.switch.handle_media_event(
        h.now,
        media::engine::MediaEvent::PlaybackFinished {
            leg: 1,
            interrupted: false,
        },
    );
    // First-digit timeout (5 s), one retry with the prompt again, then hang-up.
    h.advance(Duration::from_secs(6));
    h.switch.handle_media_event(
        h.now,
        media::engine::MediaEvent::PlaybackFinished {
            leg: 1,
            interrupted: false,
        },
    );
    let out = h.advance(Duration::from_secs(6));
    assert!(
        out.iter()
            .any(|s| s.first_line().starts_with("BYE ") && s.to == caller()),
        "{out:#?}"
    );
    assert!(
        h.media.log().iter().filter(|l| *l == "play 1 8000").count() >= 2,
        "{:?}",
        h.media.log()
    );
    assert!(h.media.log().ends_with(&["release 1".to_owned()]));
}

/// A queued call with a CSAT survey after the agent: the caller presses 1,
/// the agent answers; returns the harness and the INVITE to the agent.
fn survey_call() -> (Harness, Sent) {
    let flow = FLOW.replace(
        "    type: enqueue\n    queue: support\n",
        "    type: enqueue\n    queue: support\n    after: csat\n",
    ) + "  csat:\n    type: survey\n    kind: csat\n    prompts: [menu]\n    store: csat\n    next: bye\n";
    let mut setup = ivr_setup();
    setup
        .flows
        .insert("100".into(), Arc::new(::ivr::parse_flow("test.yaml", &flow).unwrap()));
    let mut h = Harness::with_ivr(CONFIG, setup);
    h.register_agent("pw1001");
    let out = h.invite("100");
    h.send(caller(), &caller_ack(&out[1]));
    h.switch
        .handle_media_event(h.now, media::engine::MediaEvent::Digit { leg: 1, digit: '1' });
    let to_agent = find(&h.drain(), "INVITE ", agent());
    h.send(agent(), &agent_reply(&to_agent, "200 OK", "a1"));
    (h, to_agent)
}

#[test]
fn after_the_agent_hangs_up_the_caller_stays_for_the_survey() {
    let (mut h, to_agent) = survey_call();
    let bye = agent_bye(&to_agent);
    let out = h.send(agent(), &bye);
    assert_eq!(out.len(), 1, "the agent gets its 200, the caller no BYE: {out:#?}");
    let log = h.media.log();
    assert!(
        log.ends_with(&["release 2".to_owned(), "play 1 8000".to_owned()]),
        "the survey question plays: {log:?}"
    );
    h.switch.handle_media_event(
        h.now,
        media::engine::MediaEvent::PlaybackFinished {
            leg: 1,
            interrupted: false,
        },
    );
    h.switch
        .handle_media_event(h.now, media::engine::MediaEvent::Digit { leg: 1, digit: '5' });
    let out = h.drain();
    assert!(
        out.iter()
            .any(|s| s.first_line().starts_with("BYE ") && s.to == caller()),
        "{out:#?}"
    );
    // The score is kept with the call and the agent who took it.
    let records: Vec<_> = std::iter::from_fn(|| h.switch.poll_record()).collect();
    let survey = records.iter().find_map(|c| match c {
        crate::store::Command::Survey { answer, .. } => Some(answer.clone()),
        _ => None,
    });
    let survey = survey.expect("a survey answer in the call record");
    assert_eq!((survey.score, survey.agent.as_deref()), (5, Some("1001")));
    assert_eq!(survey.kind, queue::record::SurveyKind::Csat);
    let kinds: Vec<String> = records
        .iter()
        .filter_map(|c| match c {
            crate::store::Command::CallMarked { mark, .. } => serde_json::to_value(&mark.what).ok()?["kind"]
                .as_str()
                .map(str::to_owned),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "menu_choice",
            "ivr_exit",
            "enqueued",
            "offered",
            "agent_answered",
            "bridged",
            "talk_ended",
            "hung_up"
        ],
        "the call's timeline"
    );
}

#[test]
fn a_survey_after_a_queued_call_hears_its_prompt_end_and_times_out() {
    let (mut h, to_agent) = survey_call();
    h.send(agent(), &agent_bye(&to_agent));
    // The survey question ends and nobody presses a key: the flow's own
    // timeouts and retries run (the queue's hold music must not take the
    // prompt's end), until it gives up.
    let mut out = Vec::new();
    for _ in 0..5 {
        h.switch.handle_media_event(
            h.now,
            media::engine::MediaEvent::PlaybackFinished {
                leg: 1,
                interrupted: false,
            },
        );
        out.extend(h.advance(Duration::from_secs(30)));
    }
    assert!(
        out.iter()
            .any(|s| s.first_line().starts_with("BYE ") && s.to == caller()),
        "the survey gives up and the switch hangs up: {out:#?}\n{:?}",
        h.media.log()
    );
}

#[test]
fn a_flow_transfers_to_a_sip_uri() {
    let flow = "version: 1\nname: t\ndefault_language: en\nlanguages: [en]\nstart: out\nnodes:\n  out:\n    type: transfer\n    uri: sip:desk@127.0.0.3:5080\n";
    let mut setup = ivr_setup();
    setup
        .flows
        .insert("100".into(), Arc::new(::ivr::parse_flow("t.yaml", flow).unwrap()));
    let mut h = Harness::with_ivr(CONFIG, setup);
    let out = h.invite("100");
    let invite = out
        .iter()
        .find(|s| s.first_line().starts_with("INVITE "))
        .expect("transferred");
    assert_eq!(invite.first_line(), "INVITE sip:desk@127.0.0.3:5080 SIP/2.0");
    assert_eq!(invite.to, agent());
}

#[test]
fn a_route_for_some_callers_wins_over_the_route_for_everyone() {
    let flow = "version: 1\nname: t\ndefault_language: en\nlanguages: [en]\nstart: out\nnodes:\n  out:\n    type: transfer\n    uri: sip:desk@127.0.0.3:5080\n";
    let mut setup = ivr_setup();
    setup.by_caller.push((
        "100".into(),
        "+1555".into(),
        Arc::new(::ivr::parse_flow("t.yaml", flow).unwrap()),
    ));
    setup
        .by_caller
        .push(("100".into(), "+44".into(), setup.flows["100"].clone()));
    let mut h = Harness::with_ivr(CONFIG, setup);
    let out = h.invite("100"); // from +15550100
    assert!(
        out.iter()
            .any(|s| s.first_line() == "INVITE sip:desk@127.0.0.3:5080 SIP/2.0"),
        "{out:#?}"
    );
}

#[test]
fn an_opus_caller_hears_the_prompts_at_48_khz() {
    let mut setup = ivr_setup();
    let menu = media::player::Prompt::from_samples(vec![0i16; 9600], 48_000).unwrap();
    setup.prompts_48k.insert("en/menu.wav".to_owned(), menu);
    let mut h = Harness::with_ivr(CONFIG, setup);
    let out = h.send(
        caller(),
        "INVITE sip:100@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKopus\n\
         From: <sip:+15550100@127.0.0.2>;tag=c1\nTo: <sip:100@127.0.0.1>\nCall-ID: opus\nCSeq: 1 INVITE\n\
         Contact: <sip:+15550100@127.0.0.2:5070>\nContent-Type: application/sdp\n\n\
         v=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nt=0 0\nm=audio 6000 RTP/AVP 111\n\
         a=rtpmap:111 opus/48000/2\n",
    );
    assert!(out[1].text.contains("a=rtpmap:111 opus/48000/2"), "{}", out[1].text);
    assert!(
        h.media.log().contains(&"play 1 48000".to_owned()),
        "{:?}",
        h.media.log()
    );
}

#[test]
fn voicemail_records_until_the_terminator_key() {
    let flow = "version: 1\nname: t\ndefault_language: en\nlanguages: [en]\nstart: vm\nnodes:\n  vm:\n    type: record\n    mailbox: sales\n    max_duration: 60s\n    beep: false\n    terminator: \"#\"\n    next: bye\n  bye:\n    type: hangup\n";
    let mut setup = ivr_setup();
    setup
        .flows
        .insert("100".into(), Arc::new(::ivr::parse_flow("t.yaml", flow).unwrap()));
    let mut h = Harness::with_ivr(CONFIG, setup);
    let out = h.invite("100");
    h.send(caller(), &caller_ack(&out[1]));
    let recording = h
        .media
        .log()
        .into_iter()
        .find(|l| l.starts_with("record 1 "))
        .expect("recording started");
    assert!(
        recording.starts_with("record 1 vm/sales/2026") && recording.ends_with(".wav 60s"),
        "{recording}"
    );
    h.switch
        .handle_media_event(h.now, media::engine::MediaEvent::Digit { leg: 1, digit: '#' });
    assert!(h.media.log().contains(&"stop recording 1".to_owned()));
    h.switch
        .handle_media_event(h.now, media::engine::MediaEvent::RecordingFinished { leg: 1 });
    let out = h.drain();
    assert!(
        out.iter()
            .any(|s| s.first_line().starts_with("BYE ") && s.to == caller()),
        "{out:#?}"
    );
}

#[test]
fn an_agent_on_a_direct_call_gets_no_queue_call_until_it_ends() {
    let mut h = Harness::with_ivr(CONFIG, ivr_setup());
    h.register_agent("pw1001");
    // A customer calls 1001 directly; 1001 rings and answers.
    let out = h.invite("1001");
    let direct = find(&out, "INVITE ", agent());
    h.send(agent(), &agent_reply(&direct, "200 OK", "d1"));
    // Meanwhile a second caller goes through the flow into the queue.
    let out = h.send(
        caller(),
        "INVITE sip:100@127.0.0.1 SIP/2.0\n\
         Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKinv2\n\
         From: \"Second\" <sip:+15550101@127.0.0.2>;tag=c2\nTo: <sip:100@127.0.0.1>\n\
         Call-ID: call-2\nCSeq: 1 INVITE\nMax-Forwards: 70\n\
         Contact: <sip:+15550101@127.0.0.2:5070>\nContent-Type: application/sdp\n\n\
         v=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nt=0 0\nm=audio 6002 RTP/AVP 0\n",
    );
    assert!(out.iter().any(|s| s.first_line() == "SIP/2.0 200 OK"), "{out:#?}");
    let queued_leg = h.switch.tracked.values().map(|t| t.leg).max().unwrap();
    h.switch.handle_media_event(
        h.now,
        media::engine::MediaEvent::Digit {
            leg: queued_leg,
            digit: '1',
        },
    );
    let out = h.advance(Duration::from_secs(6));
    assert!(
        !out.iter()
            .any(|s| s.first_line().starts_with("INVITE ") && s.to == agent()),
        "1001 is busy on the direct call (ringinuse=no): {out:#?}"
    );
    // The direct call ends: 1001 gets the queued call on the next try.
    h.send(agent(), &agent_bye(&direct));
    let out = h.advance(Duration::from_secs(6));
    assert!(
        out.iter()
            .any(|s| s.first_line().starts_with("INVITE ") && s.to == agent()),
        "1001 free again: {out:#?}"
    );
}
