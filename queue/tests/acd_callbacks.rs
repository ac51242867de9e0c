//! Call-backs: the offer, taking the caller's place, dialling, retries,
//! scheduled times and a restart.

mod acd_support;

use std::time::Duration;

use acd_support::*;
use queue::acd::{Action, Callback, CallbackConfig, Event, QueueConfig, RejectReason};
use queue::record::AgentStateKind;

fn cb_queue() -> QueueConfig {
    QueueConfig {
        wrap_up_secs: 0,
        default_handle_secs: 300,
        callback: Some(CallbackConfig {
            offer_above_wait_secs: 240,
            max_attempts: 3,
            retry_after_secs: 60,
            ..CallbackConfig::default()
        }),
        ..queue("q", &["a"])
    }
}

/// Queue "q" with agent a busy on call 100.
fn busy() -> Sim {
    let mut sim = Sim::new(vec![cb_queue()], agents(&["a"]));
    sim.enqueue(100, "q");
    sim.answer(100, "a");
    sim
}

fn stored(actions: &[Action]) -> Vec<Callback> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::CallbackStored(cb) => Some(cb.clone()),
            _ => None,
        })
        .collect()
}

fn dialled(actions: &[Action]) -> Vec<(Callback, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::DialCallback { callback, agent } => Some((callback.clone(), agent.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn offered_once_when_the_wait_is_long_enough() {
    let mut sim = busy();
    // Position 1: 300 s estimated, above 240.
    let out = sim.enqueue(1, "q");
    assert_eq!(
        out,
        [Action::OfferCallback {
            call: 1,
            estimated_wait: Duration::from_secs(300)
        }]
    );
    let mut sim = Sim::new(
        vec![QueueConfig {
            default_handle_secs: 200,
            announce_every_secs: Some(30),
            ..cb_queue()
        }],
        agents(&["a"]),
    );
    sim.enqueue(100, "q");
    sim.answer(100, "a");
    // Position 1 is told 200 s: no offer. Position 2 is told 400 s: offered.
    assert_eq!(sim.enqueue(1, "q"), []);
    let out = sim.enqueue(2, "q");
    assert!(out.contains(&Action::OfferCallback {
        call: 2,
        estimated_wait: Duration::from_secs(400)
    }));
    // Announcements do not repeat the offer, nor make one below the threshold.
    let out = sim.advance(61.0);
    let offered: Vec<_> = out
        .iter()
        .filter(|a| matches!(a, Action::OfferCallback { .. }))
        .collect();
    assert!(offered.is_empty(), "{offered:?}");
}

#[test]
fn accepted_call_back_keeps_its_place_and_is_dialled_in_turn() {
    let mut sim = busy();
    let t1 = sim.now;
    sim.enqueue(1, "q");
    sim.advance(5.0);
    sim.enqueue(2, "q");
    sim.advance(5.0);
    let out = sim.ev(Event::AcceptCallback { call: 1 });
    let cb = stored(&out).pop().expect("stored");
    assert_eq!(cb.requested_at, t1);
    assert_eq!(cb.number, "+34600000001");
    assert_eq!((cb.queue.as_str(), cb.attempts), ("q", 0));
    assert_eq!(sim.queue("q").waiting, 1);
    assert_eq!(sim.queue("q").callbacks, 1);
    // The caller is gone; events for the old call change nothing.
    assert_eq!(sim.hang_up(1), []);
    // Call 2 is still second in line.
    assert_eq!(
        sim.acd.call_status(2),
        Some(queue::acd::CallStatus::Waiting {
            queue: "q".into(),
            position: 2
        })
    );
    // The agent frees: the call-back goes first.
    let out = sim.ev(Event::AgentLeft { call: 100 });
    let (d, agent) = dialled(&out).pop().expect("dialled");
    assert_eq!((d.id, agent.as_str()), (cb.id, "a"));
    assert_eq!(sim.state("a"), AgentStateKind::Ringing);
    assert_eq!(sim.agent("a").callback, Some(cb.id));
    // It connects as call 500, which then ends like any call.
    let out = sim.ev(Event::CallbackConnected {
        callback: cb.id,
        call: 500,
    });
    assert!(out.contains(&Action::CallbackRemoved {
        callback: cb.id,
        placed: true
    }));
    assert!(out.contains(&Action::Assigned {
        call: 500,
        agent: "a".into()
    }));
    assert_eq!(sim.agent("a").call, Some(500));
    let out = sim.ev(Event::CallerLeft { call: 500 });
    assert_eq!(offers(&out), [(2, "a".to_string())]);
}

#[test]
fn unanswered_call_backs_retry_then_give_up() {
    let mut sim = busy();
    sim.enqueue(1, "q");
    let cb = stored(&sim.ev(Event::AcceptCallback { call: 1 })).pop().unwrap();
    let out = sim.ev(Event::AgentLeft { call: 100 });
    assert_eq!(dialled(&out).len(), 1);
    for attempt in 1..=3u32 {
        let out = sim.ev(Event::CallbackResult {
            callback: cb.id,
            answered: false,
        });
        assert_eq!(
            sim.state("a"),
            AgentStateKind::Available,
            "the agent is freed, not paused"
        );
        if attempt < 3 {
            let again = stored(&out).pop().expect("stored again");
            assert_eq!(again.attempts, attempt);
            assert_eq!(again.due_at, sim.now + Duration::from_secs(60));
            assert_eq!(again.requested_at, cb.requested_at);
            assert_eq!(dialled(&sim.advance(59.0)), []);
            let out = sim.advance(1.0);
            assert_eq!(dialled(&out)[0].0.attempts, attempt);
        } else {
            assert!(out.contains(&Action::CallbackRemoved {
                callback: cb.id,
                placed: false
            }));
            assert_eq!(sim.queue("q").callbacks + sim.queue("q").callbacks_later, 0);
        }
    }
    // Late results for it are ignored.
    assert_eq!(
        sim.ev(Event::CallbackResult {
            callback: cb.id,
            answered: true
        }),
        []
    );
}

#[test]
fn no_result_in_time_counts_as_unanswered() {
    let mut sim = busy();
    sim.enqueue(1, "q");
    sim.ev(Event::AcceptCallback { call: 1 });
    sim.ev(Event::AgentLeft { call: 100 });
    // The default dial timeout is 90 s.
    let out = sim.advance(90.0);
    assert_eq!(stored(&out)[0].attempts, 1);
    assert_eq!(sim.state("a"), AgentStateKind::Available);
}

#[test]
fn retrying_call_back_takes_its_old_place_back() {
    let mut sim = busy();
    sim.enqueue(1, "q");
    let cb = stored(&sim.ev(Event::AcceptCallback { call: 1 })).pop().unwrap();
    sim.ev(Event::AgentLeft { call: 100 });
    sim.ev(Event::CallbackResult {
        callback: cb.id,
        answered: false,
    });
    // While it waits for its retry, a new call arrives and is answered.
    let out = sim.enqueue(2, "q");
    assert_eq!(offers(&out), [(2, "a".to_string())]);
    sim.answer(2, "a");
    sim.advance(30.0);
    sim.enqueue(3, "q");
    sim.advance(30.0);
    // Due again: ahead of call 3, which joined after the original call 1.
    assert_eq!(
        sim.acd.call_status(3),
        Some(queue::acd::CallStatus::Waiting {
            queue: "q".into(),
            position: 2
        })
    );
    let out = sim.ev(Event::AgentLeft { call: 2 });
    assert_eq!(dialled(&out).len(), 1);
    assert_eq!(offers(&out), []);
}

#[test]
fn answered_result_then_connected() {
    let mut sim = busy();
    sim.enqueue(1, "q");
    let cb = stored(&sim.ev(Event::AcceptCallback { call: 1 })).pop().unwrap();
    sim.ev(Event::AgentLeft { call: 100 });
    let out = sim.ev(Event::CallbackResult {
        callback: cb.id,
        answered: true,
    });
    assert!(out.contains(&Action::CallbackRemoved {
        callback: cb.id,
        placed: true
    }));
    assert_eq!(sim.state("a"), AgentStateKind::OnCall);
    assert_eq!(sim.agent("a").callback, Some(cb.id));
    sim.ev(Event::CallbackConnected {
        callback: cb.id,
        call: 77,
    });
    assert_eq!(sim.agent("a").call, Some(77));
    sim.ev(Event::AgentLeft { call: 77 });
    assert_eq!(sim.state("a"), AgentStateKind::Available);
}

#[test]
fn scheduled_call_backs_wait_for_their_time() {
    let mut sim = Sim::new(vec![cb_queue()], agents(&["a"]));
    let at = sim.now + Duration::from_secs(3600);
    let out = sim.ev(Event::ScheduleCallback {
        number: "+441234".into(),
        queue: "q".into(),
        at,
        attributes: Default::default(),
    });
    let cb = stored(&out).pop().unwrap();
    assert_eq!((cb.due_at, cb.requested_at), (at, at));
    assert_eq!(sim.queue("q").callbacks_later, 1);
    assert_eq!(dialled(&sim.advance(3599.0)), []);
    let out = sim.advance(1.0);
    assert_eq!(dialled(&out)[0].0.number, "+441234");
    let out = sim.ev(Event::ScheduleCallback {
        number: "1".into(),
        queue: "nope".into(),
        at,
        attributes: Default::default(),
    });
    assert!(matches!(
        &out[..],
        [Action::CallbackRefused {
            reason: RejectReason::UnknownQueue,
            ..
        }]
    ));
}

#[test]
fn restored_call_backs_take_their_places_after_a_restart() {
    // Before the restart: two call-backs stored, one already tried once.
    let mut sim = busy();
    sim.enqueue(1, "q");
    sim.advance(10.0);
    sim.enqueue(2, "q");
    let first = stored(&sim.ev(Event::AcceptCallback { call: 1 })).pop().unwrap();
    let second = stored(&sim.ev(Event::AcceptCallback { call: 2 })).pop().unwrap();
    let first = Callback { attempts: 1, ..first };

    // The switch restarts later; calls arrive before storage is read back.
    let mut sim = Sim::new(vec![cb_queue()], agents(&["a"]));
    sim.advance(100.0);
    sim.enqueue(100, "q");
    sim.answer(100, "a");
    sim.enqueue(3, "q");
    sim.ev(Event::RestoreCallback(second.clone()));
    sim.ev(Event::RestoreCallback(first.clone()));
    sim.ev(Event::RestoreCallback(first.clone()));
    assert_eq!(sim.queue("q").callbacks, 2, "a duplicate restore is ignored");
    let out = sim.ev(Event::AgentLeft { call: 100 });
    let (d, _) = dialled(&out).pop().unwrap();
    assert_eq!((d.id, d.attempts), (first.id, 1));
    sim.ev(Event::CallbackConnected {
        callback: first.id,
        call: 900,
    });
    let out = sim.ev(Event::AgentLeft { call: 900 });
    assert_eq!(dialled(&out).pop().unwrap().0.id, second.id);
    // New ids never collide with restored ones.
    let out = sim.ev(Event::ScheduleCallback {
        number: "5".into(),
        queue: "q".into(),
        at: sim.now,
        attributes: Default::default(),
    });
    let fresh = stored(&out).pop().unwrap();
    assert!(fresh.id > first.id.max(second.id));
}

#[test]
fn caller_taking_a_call_back_while_ringing_releases_the_agent() {
    let mut sim = Sim::new(vec![cb_queue()], agents(&["a"]));
    sim.enqueue(1, "q");
    let out = sim.ev(Event::AcceptCallback { call: 1 });
    assert_eq!(cancels(&out), [(1, "a".to_string())]);
    // The freed agent is reserved for the call-back straight away.
    assert_eq!(dialled(&out).len(), 1);
    assert_eq!(sim.state("a"), AgentStateKind::Ringing);
}

#[test]
fn a_scheduled_call_back_keeps_its_attributes_and_can_be_cancelled_until_dialled() {
    let mut sim = busy();
    let at = sim.now + Duration::from_secs(600);
    let id = sim.acd.next_callback_id();
    let attributes: std::collections::BTreeMap<String, String> = [("order".to_string(), "A-17".to_string())].into();
    let out = sim.ev(Event::ScheduleCallback {
        number: "+34600111222".into(),
        queue: "q".into(),
        at,
        attributes: attributes.clone(),
    });
    let cb = stored(&out).pop().unwrap();
    assert_eq!((cb.id, &cb.attributes), (id, &attributes));
    let (seen, state) = sim.acd.callback(id).unwrap();
    assert_eq!((seen.number.as_str(), state), ("+34600111222", "scheduled"));
    let out = sim.ev(Event::CancelCallback { callback: id });
    assert_eq!(
        out,
        [Action::CallbackRemoved {
            callback: id,
            placed: false
        }]
    );
    assert!(sim.acd.callback(id).is_none());
    assert_eq!(sim.queue("q").callbacks_later, 0);
    // Nothing is dialled when its time comes.
    assert_eq!(dialled(&sim.advance(700.0)), []);
}

#[test]
fn a_call_back_being_dialled_is_not_cancelled() {
    let mut sim = Sim::new(vec![cb_queue()], agents(&["a"]));
    let id = sim.acd.next_callback_id();
    let out = sim.ev(Event::ScheduleCallback {
        number: "+441234".into(),
        queue: "q".into(),
        at: sim.now,
        attributes: Default::default(),
    });
    assert_eq!(dialled(&out).len(), 1);
    assert_eq!(sim.acd.callback(id).map(|(_, s)| s), Some("dialling"));
    assert_eq!(sim.ev(Event::CancelCallback { callback: id }), []);
    assert!(sim.acd.callback(id).is_some());
}
