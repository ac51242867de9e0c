//! `switchboard report` as a user runs it: on a database with no calls, and
//! with arguments it cannot use. (The figures themselves are checked in the
//! binary's unit tests, on records written through the store.)

use std::path::Path;
use std::process::{Command, Output};

fn report(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("report")
        .args(args)
        .output()
        .expect("run switchboard report")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn empty_db(dir: &Path) -> String {
    let db = dir.join("switchboard.db");
    // An empty file is an SQLite database with nothing in it.
    std::fs::write(&db, b"").expect("create the database file");
    db.to_string_lossy().into_owned()
}

#[test]
fn a_day_without_calls_reports_none() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = empty_db(dir.path());
    let out = report(&["--from", "2026-11-23", "--db", &db]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "Calls queued from 2026-11-23T00:00:00Z to 2026-11-24T00:00:00Z\nNo calls were queued in this window.\n"
    );
    let out = report(&["--from", "2026-11-23", "--to", "2026-11-24", "--db", &db, "--json"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out.stdout), "[]\n");
    // One queue: the API's answer, with every count at zero.
    let out = report(&["--from", "2026-11-23", "--db", &db, "--json", "--queue", "sales"]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["queue"], "sales");
    assert_eq!(json["window"]["from_ms"], 1_795_392_000_000_u64);
    assert_eq!(json["stats"]["offered"], 0);
}

#[test]
fn a_bad_from_says_what_it_expects() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = empty_db(dir.path());
    let out = report(&["--from", "yesterday", "--db", &db]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "error: --from: `yesterday` is not a date (2026-11-23), an RFC 3339 time (2026-11-23T08:00:00Z) \
             or Unix milliseconds"
        ),
        "{err}"
    );
}

#[test]
fn a_missing_database_is_an_error_not_an_empty_report() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("nothing-here.db");
    let out = report(&["--from", "2026-11-23", "--db", &db.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("no database at"), "{}", text(&out.stderr));
    assert!(!db.exists(), "reading must not create the database");
}
