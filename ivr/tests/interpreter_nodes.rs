//! Every node type, driven through the interpreter in virtual time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{drain, flow, interp, path, played, secs, t0};
use ivr::{Action, CallContext, FinishReason, HttpError, Interpreter, SurveyKind, Timer, TransferTarget};

#[test]
fn play_then_next_and_barge_in_keeps_type_ahead() {
    let mut i = interp(
        "
  start: { type: play, prompts: [hello, intro], barge_in: true, next: menu }
  menu: { type: menu, prompts: [choose], branches: { \"3\": three } }
  three: { type: transfer, extension: \"2001\" }
",
    );
    i.start(t0());
    let a = drain(&mut i);
    assert_eq!(played(&a), ["en/hello.wav+en/intro.wav"]);
    assert!(matches!(a[0], Action::Play { barge_in: true, .. }));
    // The caller presses 3 during the intro: playback stops, the menu uses the digit.
    i.digit('3', t0() + secs(1));
    let a = drain(&mut i);
    assert_eq!(a[0], Action::StopPlayback);
    assert_eq!(played(&a), Vec::<String>::new(), "menu prompts skipped");
    assert_eq!(
        a[1],
        Action::MenuChoice {
            node: "menu".into(),
            digits: "3".into()
        },
        "the choice is told, for the call record"
    );
    assert_eq!(
        a[2],
        Action::Transfer {
            target: TransferTarget::Extension("2001".into())
        }
    );
    assert_eq!(path(&i), ["start", "menu", "three"]);
    assert_eq!(i.finished(), Some(FinishReason::Transferred));
}

#[test]
fn play_without_barge_in_ignores_digits() {
    let mut i = interp(
        "
  start: { type: play, prompts: [hello], next: end }
  end: { type: hangup }
",
    );
    i.start(t0());
    drain(&mut i);
    i.digit('5', t0());
    assert!(drain(&mut i).is_empty());
    i.prompt_finished(t0() + secs(2));
    assert_eq!(
        drain(&mut i),
        [
            Action::Hangup,
            Action::Finished {
                reason: FinishReason::HungUp
            }
        ]
    );
}

#[test]
fn set_and_language_switch_prompts() {
    let mut i = interp(
        "
  start: { type: set, attributes: { intent: billing, who: \"${caller}\" }, next: lang }
  lang: { type: language, language: es, next: hello }
  hello: { type: play, prompts: [hello, { name: brand, language: en }], next: end }
  end: { type: hangup }
",
    );
    i.start(t0());
    let a = drain(&mut i);
    assert_eq!(
        a[..3],
        [
            Action::SetAttribute {
                key: "intent".into(),
                value: "billing".into()
            },
            Action::SetAttribute {
                key: "who".into(),
                value: "+34600111222".into()
            },
            Action::SetLanguage { language: "es".into() },
        ]
    );
    assert_eq!(played(&a), ["es/hello.wav+en/brand.wav"]);
    assert_eq!(i.language(), "es");
}

#[test]
fn prompts_fall_back_to_the_default_language() {
    let mut catalog = ivr::PromptCatalog::new();
    catalog.insert("en", "hello");
    catalog.insert("en", "bye");
    catalog.insert("es", "bye");
    let mut i = Interpreter::new(
        flow(
            "
  start: { type: play, prompts: [hello, bye], next: end }
  end: { type: hangup }
",
        ),
        CallContext {
            language: Some("es".into()),
            ..CallContext::default()
        },
    )
    .with_prompts(Arc::new(catalog));
    i.start(t0());
    assert_eq!(played(&drain(&mut i)), ["en/hello.wav+es/bye.wav"]);
}

const HOURS: &str = "
  start:
    type: hours
    timezone: America/New_York
    weekly: { mon: [\"09:00-17:00\"], tue: [\"09:00-17:00\"] }
    holidays: [\"2026-01-06\"]
    open: open
    closed: closed
  open: { type: hangup }
  closed: { type: hangup }
";

#[test]
fn hours_open_closed_time_zone_and_holiday() {
    let run = |at: DateTime<Utc>| {
        let mut i = interp(HOURS);
        i.start(at);
        path(&i)[1].to_owned()
    };
    // 10:00 UTC is 05:00 in New York: closed.
    assert_eq!(run(t0()), "closed");
    // 15:00 UTC is 10:00 in New York: open.
    assert_eq!(run(t0() + secs(5 * 3600)), "open");
    // Tuesday 2026-01-06 is a holiday.
    assert_eq!(run(t0() + secs(29 * 3600)), "closed");
}

#[test]
fn switch_on_attribute_caller_and_called() {
    let nodes = "
  start:
    type: switch
    cases:
      - { attribute: vip, equals: \"yes\", next: vip }
      - { caller: true, prefix: \"+34\", next: spain }
      - { called: true, matches: \"^1\\\\d\\\\d$\", next: short }
    default: other
  vip: { type: hangup }
  spain: { type: hangup }
  short: { type: hangup }
  other: { type: hangup }
";
    let run = |caller: &str, called: &str, vip: bool| {
        let mut attributes = ivr::Attributes::new();
        if vip {
            attributes.insert("vip".into(), "yes".into());
        }
        let mut i = Interpreter::new(
            flow(nodes),
            CallContext {
                caller: caller.into(),
                called: called.into(),
                attributes,
                language: None,
            },
        );
        i.start(t0());
        path(&i)[1].to_owned()
    };
    assert_eq!(run("+34600", "100", true), "vip");
    assert_eq!(run("+34600", "100", false), "spain");
    assert_eq!(run("+44700", "100", false), "short");
    assert_eq!(run("+44700", "2000", false), "other");
}

const HTTP: &str = "
  start:
    type: http
    url: https://crm.example/lookup
    timeout: 2s
    send: [language]
    store: { tier: customer.tier }
    branches:
      - { field: customer.tier, equals: gold, next: gold }
    next: normal
    fallback: fallback
  gold: { type: hangup }
  normal: { type: hangup }
  fallback: { type: hangup }
";

#[test]
fn http_request_answer_branches_and_stores() {
    let mut i = interp(HTTP);
    i.start(t0());
    let a = drain(&mut i);
    assert_eq!(
        a,
        [Action::HttpRequest {
            url: "https://crm.example/lookup".into(),
            body: serde_json::json!({
                "caller": "+34600111222", "called": "100", "language": "en",
                "attributes": { "language": "en" }
            }),
            timeout: Duration::from_secs(2),
        }]
    );
    assert_eq!(i.pending_timer(), Some((Timer::Http, t0() + secs(2))));
    i.http_result(Ok(serde_json::json!({"customer": {"tier": "gold"}})), t0() + secs(1));
    assert!(drain(&mut i).contains(&Action::SetAttribute {
        key: "tier".into(),
        value: "gold".into()
    }));
    assert_eq!(path(&i), ["start", "gold"]);

    let mut i = interp(HTTP);
    i.start(t0());
    i.http_result(Ok(serde_json::json!({"customer": {}})), t0());
    assert_eq!(path(&i), ["start", "normal"]);
}

#[test]
fn http_error_and_timeout_take_the_fallback() {
    let mut i = interp(HTTP);
    i.start(t0());
    i.http_result(Err(HttpError::Status(503)), t0());
    assert_eq!(path(&i), ["start", "fallback"]);

    let mut i = interp(HTTP);
    i.start(t0());
    i.handle_timeout(t0() + secs(2));
    assert_eq!(path(&i), ["start", "fallback"]);
    // A late answer is ignored.
    i.http_result(Ok(serde_json::json!({})), t0() + secs(3));
    assert_eq!(path(&i), ["start", "fallback"]);
}

#[test]
fn enqueue_then_survey_after_the_agent_hangs_up() {
    let mut i = interp(
        "
  start: { type: enqueue, queue: support, priority: 5, skills: [\"language:${language}\"], after: csat }
  csat: { type: survey, kind: csat, prompts: [rate], store: csat, retries: 1, invalid_prompts: [invalid], next: thanks }
  thanks: { type: hangup, prompts: [thanks] }
",
    );
    i.start(t0());
    assert_eq!(
        drain(&mut i),
        [Action::Enqueue {
            queue: "support".into(),
            priority: 5,
            skills: vec!["language:en".into()]
        }]
    );
    assert_eq!(i.finished(), None);
    i.agent_hung_up(t0() + secs(60));
    assert_eq!(played(&drain(&mut i)), ["en/rate.wav"]);
    i.prompt_finished(t0() + secs(63));
    i.digit('7', t0() + secs(64));
    assert_eq!(played(&drain(&mut i)), ["en/invalid.wav+en/rate.wav"]);
    i.digit('4', t0() + secs(65));
    let a = drain(&mut i);
    assert!(a.contains(&Action::SurveyScore {
        kind: SurveyKind::Csat,
        score: 4
    }));
    assert_eq!(i.attributes().get("csat").map(String::as_str), Some("4"));
    i.prompt_finished(t0() + secs(67));
    assert_eq!(
        drain(&mut i),
        [
            Action::Hangup,
            Action::Finished {
                reason: FinishReason::HungUp
            }
        ]
    );
}

#[test]
fn enqueue_without_survey_finishes() {
    let mut i = interp("  start: { type: enqueue, queue: sales }\n");
    i.start(t0());
    let a = drain(&mut i);
    assert_eq!(
        a.last(),
        Some(&Action::Finished {
            reason: FinishReason::Enqueued
        })
    );
    i.agent_hung_up(t0());
    assert!(drain(&mut i).is_empty());
}

#[test]
fn transfer_to_uri() {
    let mut i = interp("  start: { type: transfer, uri: \"sip:desk@example.com\" }\n");
    i.start(t0());
    assert_eq!(
        drain(&mut i)[0],
        Action::Transfer {
            target: TransferTarget::Uri("sip:desk@example.com".into())
        }
    );
}

#[test]
fn voicemail_records_after_greeting() {
    let mut i = interp(
        "
  start: { type: voicemail, prompts: [leave_message], mailbox: sales, max_duration: 60s, next: bye }
  bye: { type: hangup }
",
    );
    i.start(t0());
    assert_eq!(played(&drain(&mut i)), ["en/leave_message.wav"]);
    i.prompt_finished(t0() + secs(3));
    assert_eq!(
        drain(&mut i),
        [Action::RecordMessage {
            mailbox: "sales".into(),
            max_duration: Duration::from_secs(60),
            beep: true,
            terminator: Some('#')
        }]
    );
    i.record_finished(t0() + secs(30));
    assert_eq!(path(&i), ["start", "bye"]);
}

#[test]
fn goto_call_and_return() {
    let mut i = interp(
        "
  start: { type: call, target: sub, next: after }
  sub: { type: set, attributes: { in_sub: \"1\" }, next: ret }
  ret: { type: return }
  after: { type: goto, target: end }
  end: { type: hangup }
",
    );
    i.start(t0());
    assert_eq!(path(&i), ["start", "sub", "ret", "after", "end"]);
    assert_eq!(i.finished(), Some(FinishReason::HungUp));
}

#[test]
fn loop_guard_stops_a_loop_without_input() {
    let mut i = interp(
        "
  start: { type: goto, target: b }
  b: { type: goto, target: start }
",
    );
    i.start(t0());
    assert_eq!(i.finished(), Some(FinishReason::LoopGuard));
    assert_eq!(i.path().len(), ivr::DEFAULT_MAX_STEPS as usize);
    let a = drain(&mut i);
    assert_eq!(a[0], Action::Hangup);
}

#[test]
fn a_loop_that_waits_for_input_is_not_stopped() {
    let mut i = interp(
        "
  start: { type: play, prompts: [music], next: again }
  again: { type: goto, target: start }
",
    );
    i.start(t0());
    for n in 0..500 {
        i.prompt_finished(t0() + secs(n));
    }
    assert_eq!(i.finished(), None);
    assert_eq!(i.path().len(), ivr::MAX_PATH);
}

#[test]
fn return_without_call_and_deep_recursion_end_the_call() {
    let mut i = interp("  start: { type: return }\n");
    i.start(t0());
    assert_eq!(i.finished(), Some(FinishReason::CallStack));
    let mut i = interp("  start: { type: call, target: start, next: start }\n");
    i.start(t0());
    assert_eq!(i.finished(), Some(FinishReason::CallStack));
}

#[test]
fn calls_keep_their_flow_version() {
    let v1 = flow("  start: { type: enqueue, queue: old }\n");
    let mut call = Interpreter::new(Arc::clone(&v1), CallContext::default());
    let v2 = flow("  start: { type: enqueue, queue: new }\n");
    drop(v1);
    let mut later = Interpreter::new(v2, CallContext::default());
    call.start(t0());
    later.start(t0());
    assert!(matches!(call.poll_action(), Some(Action::Enqueue { queue, .. }) if queue == "old"));
    assert!(matches!(later.poll_action(), Some(Action::Enqueue { queue, .. }) if queue == "new"));
}

#[test]
fn interpreter_is_send() {
    fn send<T: Send + 'static>() {}
    send::<Interpreter>();
}
