//! Digit collection in virtual time: menus, gathers and surveys with barge-in,
//! first-digit and inter-digit timeouts, terminators and retries.

mod common;

use common::{drain, interp, path, played, secs, t0};
use ivr::{Action, FinishReason, SurveyKind, Timer};

const MENU: &str = "
  start:
    type: menu
    prompts: [main]
    retry_prompts: [main_again]
    invalid_prompts: [invalid]
    timeout_prompts: [no_input]
    first_digit_timeout: 5s
    retries: 1
    branches: { \"1\": one, \"2\": two }
    invalid: bad
    timeout: silent
  one: { type: hangup }
  two: { type: hangup }
  bad: { type: hangup }
  silent: { type: hangup }
";

#[test]
fn menu_choice_after_prompt() {
    let mut i = interp(MENU);
    i.start(t0());
    assert_eq!(played(&drain(&mut i)), ["en/main.wav"]);
    assert_eq!(i.poll_timeout(), None, "no timer while the prompt plays");
    i.prompt_finished(t0() + secs(3));
    assert_eq!(i.pending_timer(), Some((Timer::FirstDigit, t0() + secs(8))));
    i.digit('2', t0() + secs(4));
    drain(&mut i);
    assert_eq!(path(&i), ["start", "two"]);
}

#[test]
fn menu_invalid_retries_with_own_prompts_then_invalid_branch() {
    let mut i = interp(MENU);
    i.start(t0());
    drain(&mut i);
    i.prompt_finished(t0());
    i.digit('9', t0() + secs(1));
    assert_eq!(played(&drain(&mut i)), ["en/invalid.wav+en/main_again.wav"]);
    i.prompt_finished(t0() + secs(4));
    i.digit('8', t0() + secs(5));
    drain(&mut i);
    assert_eq!(path(&i), ["start", "bad"]);
}

#[test]
fn menu_timeouts_then_timeout_branch() {
    let mut i = interp(MENU);
    i.start(t0());
    drain(&mut i);
    i.prompt_finished(t0());
    // Early handle_timeout does nothing.
    i.handle_timeout(t0() + secs(4));
    assert!(drain(&mut i).is_empty());
    i.handle_timeout(t0() + secs(5));
    assert_eq!(played(&drain(&mut i)), ["en/no_input.wav+en/main_again.wav"]);
    i.prompt_finished(t0() + secs(8));
    let deadline = i.poll_timeout().expect("timer");
    assert_eq!(deadline, t0() + secs(13));
    i.handle_timeout(deadline);
    drain(&mut i);
    assert_eq!(path(&i), ["start", "silent"]);
}

#[test]
fn gather_with_terminator_inter_digit_timeout_and_store() {
    let mut i = interp(
        "
  start:
    type: gather
    prompts: [account]
    min_digits: 4
    max_digits: 8
    terminator: \"#\"
    inter_digit_timeout: 2s
    store: account
    next: done
    invalid: bad
  done: { type: hangup }
  bad: { type: hangup }
",
    );
    i.start(t0());
    drain(&mut i);
    i.prompt_finished(t0());
    for (n, d) in "1234".chars().enumerate() {
        i.digit(d, t0() + secs(n as u64));
    }
    assert_eq!(i.pending_timer(), Some((Timer::InterDigit, t0() + secs(5))));
    i.digit('#', t0() + secs(4));
    let a = drain(&mut i);
    assert!(a.contains(&Action::SetAttribute {
        key: "account".into(),
        value: "1234".into()
    }));
    assert_eq!(i.attributes().get("account").map(String::as_str), Some("1234"));
    assert_eq!(path(&i), ["start", "done"]);

    // Too short, ended by the inter-digit timeout: invalid, retried (2 retries by default).
    let mut i = interp(
        "
  start: { type: gather, prompts: [account], min_digits: 4, max_digits: 8, inter_digit_timeout: 2s, retries: 0, next: done, invalid: bad }
  done: { type: hangup }
  bad: { type: hangup }
",
    );
    i.start(t0());
    drain(&mut i);
    i.prompt_finished(t0());
    i.digit('1', t0());
    i.handle_timeout(t0() + secs(2));
    drain(&mut i);
    assert_eq!(path(&i), ["start", "bad"]);
}

#[test]
fn nps_takes_two_digits_or_one_then_timeout() {
    let nodes = "
  start: { type: survey, kind: nps, prompts: [nps], store: nps }
";
    let mut i = interp(nodes);
    i.start(t0());
    i.prompt_finished(t0());
    i.digit('1', t0());
    i.digit('0', t0());
    assert!(drain(&mut i).contains(&Action::SurveyScore {
        kind: SurveyKind::Nps,
        score: 10
    }));
    let mut i = interp(nodes);
    i.start(t0());
    i.prompt_finished(t0());
    i.digit('7', t0());
    let deadline = i.poll_timeout().expect("inter-digit");
    i.handle_timeout(deadline);
    assert!(drain(&mut i).contains(&Action::SurveyScore {
        kind: SurveyKind::Nps,
        score: 7
    }));
}

#[test]
fn caller_hang_up_ends_quietly_and_later_inputs_are_ignored() {
    let mut i = interp(MENU);
    i.start(t0());
    drain(&mut i);
    i.caller_hung_up(t0());
    assert_eq!(
        drain(&mut i),
        [Action::Finished {
            reason: FinishReason::CallerHungUp
        }]
    );
    i.digit('1', t0());
    i.prompt_finished(t0());
    i.handle_timeout(t0() + secs(100));
    assert!(drain(&mut i).is_empty());
}
