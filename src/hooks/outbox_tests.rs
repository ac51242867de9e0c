use super::super::config::Subscription;
use super::*;

fn subscription(name: &str, events: &[&str], queues: &[&str]) -> Subscription {
    Subscription {
        name: name.into(),
        url: "http://127.0.0.1:9/".into(),
        secret: "0123456789abcdef".into(),
        events: events.iter().map(|s| s.to_string()).collect(),
        queues: queues.iter().map(|s| s.to_string()).collect(),
        timeout_ms: 1000,
        max_attempts: 3,
        backoff_base_ms: 100,
        backoff_max_ms: 1000,
    }
}

fn stored(id: &str, kind: EventType, queue: Option<&str>, order: Option<&str>) -> Stored {
    Stored {
        id: id.into(),
        kind,
        queue: queue.map(str::to_owned),
        order_key: order.map(str::to_owned),
        body: format!("{{\"id\":\"{id}\"}}"),
    }
}

fn open() -> (tempfile::TempDir, Outbox) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.sqlite");
    // Opened and closed: the schema is in place.
    let _ = crate::store::Store::open(&path).expect("store");
    let outbox = Outbox::open(&path).expect("outbox");
    (dir, outbox)
}

fn due(outbox: &Outbox, sub: &str, now: u64) -> Option<Due> {
    match outbox.next(sub, now).expect("next") {
        Next::Due(d) => Some(d),
        _ => None,
    }
}

#[test]
fn filters_decide_who_gets_an_event() {
    let (_dir, mut outbox) = open();
    let subs = [
        subscription("all", &[], &[]),
        subscription("calls", &["call.*"], &[]),
        subscription("sales", &[], &["sales"]),
    ];
    let woken = outbox
        .insert(
            &[
                stored("e1", EventType::CallQueued, Some("sales"), Some("c1")),
                stored("e2", EventType::AgentStateChanged, None, None),
            ],
            &subs,
            0,
        )
        .expect("insert");
    assert_eq!(woken, [0, 1, 2]);
    assert_eq!(due(&outbox, "all", 0).map(|d| d.event_id), Some("e1".into()));
    assert_eq!(due(&outbox, "calls", 0).map(|d| d.event_id), Some("e1".into()));
    assert_eq!(due(&outbox, "sales", 0).map(|d| d.event_id), Some("e1".into()));
    // The same id again is not stored twice.
    let woken = outbox
        .insert(
            &[stored("e1", EventType::CallQueued, Some("sales"), Some("c1"))],
            &subs,
            0,
        )
        .expect("insert");
    assert!(woken.is_empty());
}

#[test]
fn a_call_s_events_wait_for_the_earlier_ones_others_do_not() {
    let (_dir, mut outbox) = open();
    let subs = [subscription("s", &[], &[])];
    outbox
        .insert(
            &[
                stored("a1", EventType::CallStarted, None, Some("A")),
                stored("b1", EventType::CallStarted, None, Some("B")),
                stored("a2", EventType::CallQueued, None, Some("A")),
            ],
            &subs,
            0,
        )
        .expect("insert");
    let first = due(&outbox, "s", 0).expect("due");
    assert_eq!(first.event_id, "a1");
    // a1 fails and is retried at 500: b1 goes ahead, a2 waits for a1.
    outbox.failed(first.id, 1, Some(500), "HTTP 503", 0).expect("failed");
    let second = due(&outbox, "s", 0).expect("due");
    assert_eq!(second.event_id, "b1");
    outbox.delivered(second.id).expect("delivered");
    assert!(due(&outbox, "s", 10).is_none());
    assert!(matches!(outbox.next("s", 10).expect("next"), Next::At(500)));
    let again = due(&outbox, "s", 500).expect("due");
    assert_eq!((again.event_id.as_str(), again.attempts), ("a1", 1));
    outbox.delivered(again.id).expect("delivered");
    assert_eq!(due(&outbox, "s", 500).map(|d| d.event_id), Some("a2".into()));
}

#[test]
fn dead_letters_are_listed_and_retried_and_free_their_call() {
    let (_dir, mut outbox) = open();
    let subs = [subscription("s", &[], &[])];
    outbox
        .insert(
            &[
                stored("a1", EventType::CallStarted, None, Some("A")),
                stored("a2", EventType::CallEnded, None, Some("A")),
            ],
            &subs,
            0,
        )
        .expect("insert");
    let first = due(&outbox, "s", 0).expect("due");
    outbox.failed(first.id, 3, None, "HTTP 500", 7).expect("dead");
    let dead = outbox.dead_letters(10).expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].event_id.as_str(), dead[0].attempts), ("a1", 3));
    assert_eq!(dead[0].event["id"], "a1");
    assert_eq!(outbox.counts().expect("counts"), (1, 1));
    // The dead letter no longer holds a2 back.
    assert_eq!(due(&outbox, "s", 8).map(|d| d.event_id), Some("a2".into()));
    assert_eq!(outbox.retry(dead[0].id, 9).expect("retry").as_deref(), Some("s"));
    assert_eq!(outbox.retry(dead[0].id, 9).expect("retry"), None, "no longer dead");
    assert_eq!(outbox.retry(12345, 9).expect("retry"), None);
    let again = due(&outbox, "s", 9).expect("due");
    assert_eq!((again.event_id.as_str(), again.attempts), ("a1", 0));
}

#[test]
fn delivered_events_leave_nothing_behind() {
    let (dir, mut outbox) = open();
    let subs = [subscription("s", &[], &[]), subscription("t", &[], &[])];
    outbox
        .insert(&[stored("x", EventType::CallStarted, None, None)], &subs, 0)
        .expect("insert");
    for name in ["s", "t"] {
        let d = due(&outbox, name, 0).expect("due");
        outbox.delivered(d.id).expect("delivered");
    }
    let conn = Connection::open(dir.path().join("db.sqlite")).expect("open");
    let events: i64 = conn
        .query_row("SELECT count(*) FROM hook_events", [], |r| r.get(0))
        .expect("count");
    assert_eq!(events, 0);
}

#[test]
fn backoff_doubles_up_to_the_cap_with_up_to_half_off() {
    assert_eq!(backoff(1, 1000, 60_000, 0.0), 1000);
    assert_eq!(backoff(2, 1000, 60_000, 0.0), 2000);
    assert_eq!(backoff(3, 1000, 60_000, 1.0), 2000);
    assert_eq!(backoff(10, 1000, 60_000, 0.0), 60_000);
    assert_eq!(backoff(100, 1000, 60_000, 1.0), 30_000);
}
