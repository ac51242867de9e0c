//! The hook outbox's costs, the disk side of webhooks (the HTTP side is the
//! receiver's):
//!
//! `cargo bench -p switchboard --bench hooks`
//!
//! - `outbox/insert`: events of about 1 KB (a `call.ended` is 1 to 3 KB)
//!   written by the outbox thread in batches of 100, each wanted by two
//!   subscriptions: the rate at which events can be made durable.
//! - `outbox/next+delivered`: what a delivery worker does around each POST
//!   (find the next due delivery in order per call, then delete it), on an
//!   outbox holding 20,000 pending deliveries of 2,000 calls: the most
//!   deliveries per second one subscription can make, whatever the
//!   receiver.
//!
//! The binary has no library target: the outbox and what it uses are
//! compiled in from their source files, and the schema is the store's own
//! (read from src/store/schema.rs).

#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

// At the root, as siblings, so that their `super::` paths resolve as in
// the switch's `hooks` module.
#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../src/hooks/config.rs"]
mod config;
#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../src/hooks/event.rs"]
mod event;
#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../src/hooks/outbox.rs"]
mod outbox;
#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../src/hooks/overflow.rs"]
mod overflow;

/// What the outbox's unit tests (compiled here too) take from the store:
/// a database with the schema.
#[allow(dead_code)]
mod store {
    pub(crate) struct Store;

    impl Store {
        pub(crate) fn open(path: &std::path::Path) -> Result<Store, rusqlite::Error> {
            let conn = rusqlite::Connection::open(path)?;
            conn.execute_batch(&super::schema_v5())?;
            Ok(Store)
        }
    }
}

use std::hint::black_box;
use std::time::Duration;

use config::Subscription;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use event::EventType;
use outbox::{Next, Outbox, Stored};

/// The store's schema version 5, as the switch creates it.
fn schema_v5() -> String {
    let source = include_str!("../src/store/schema.rs");
    let start = source
        .find("const V5: &str = \"")
        .map(|i| i + "const V5: &str = \"".len());
    let text = start
        .map(|s| &source[s..])
        .and_then(|rest| rest.find("\";").map(|end| &rest[..end]));
    text.unwrap_or_else(|| panic!("no V5 schema in src/store/schema.rs"))
        .to_owned()
}

fn subscription(name: &str) -> Subscription {
    Subscription {
        name: name.into(),
        url: "http://127.0.0.1:9/".into(),
        secret: "0123456789abcdef".into(),
        events: Vec::new(),
        queues: Vec::new(),
        timeout_ms: 1000,
        max_attempts: 3,
        backoff_base_ms: 100,
        backoff_max_ms: 1000,
    }
}

fn event(n: u64, calls: u64) -> Stored {
    Stored {
        id: format!("evt_1_{n}"),
        kind: EventType::CallAnswered,
        queue: Some("support".into()),
        order_key: Some(format!("call-{}", n % calls)),
        body: format!("{{\"id\":\"evt_1_{n}\",\"data\":\"{}\"}}", "x".repeat(1000)),
    }
}

fn fresh() -> (tempfile::TempDir, Outbox) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let conn = rusqlite::Connection::open(&path).expect("open");
    let _: String = conn
        .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
        .expect("wal");
    conn.execute_batch(&schema_v5()).expect("schema");
    drop(conn);
    (dir, Outbox::open(&path).expect("outbox"))
}

fn outbox(c: &mut Criterion) {
    let subs = [subscription("crm"), subscription("web")];
    let mut group = c.benchmark_group("outbox");
    group.sample_size(20).measurement_time(Duration::from_secs(10));

    let (_dir, mut out) = fresh();
    let mut n = 0;
    group.throughput(Throughput::Elements(100));
    group.bench_function("insert", |b| {
        b.iter(|| {
            let batch: Vec<Stored> = (0..100)
                .map(|_| {
                    n += 1;
                    event(n, 2000)
                })
                .collect();
            black_box(out.insert(&batch, &subs, 0).expect("insert"));
        })
    });

    let one = [subscription("crm")];
    group.throughput(Throughput::Elements(100));
    group.bench_function("next+delivered", |b| {
        b.iter_batched_ref(
            || {
                let (dir, mut out) = fresh();
                let batch: Vec<Stored> = (0..20_000).map(|n| event(n, 2000)).collect();
                out.insert(&batch, &one, 0).expect("insert");
                (dir, out)
            },
            |(_, out)| {
                for _ in 0..100 {
                    let Next::Due(due) = out.next("crm", 1).expect("next") else {
                        panic!("nothing due")
                    };
                    out.delivered(due.id).expect("delivered");
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, outbox);
criterion_main!(benches);
