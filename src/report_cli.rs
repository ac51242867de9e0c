//! `switchboard report`: KPIs recomputed from stored call records.
//!
//! The figures come from the same [`queue::kpi`] functions the live API
//! uses, over the records the store kept, so a report over a window gives the
//! figures the API gave for it. `--json` prints, for each queue, exactly the
//! object `GET /api/queues/{name}/stats?from=..&to=..` answers.
//!
//! The database is opened read-only, without crash recovery: a report can run
//! while the switch writes, and leaves its live calls alone.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use clap::Args;
use queue::kpi::{self, Filter, GroupBy, KpiSettings, Stats, Window};
use queue::Millis;

use crate::config::Config;
use crate::store::{Store, StoreError};

/// How long before its queue entry a call may have arrived (time in the
/// IVR, or queued elsewhere before a transfer into this queue): records
/// are read from this much (plus the repeat window) before `--from`.
const LONGEST_BEFORE_QUEUE: Duration = Duration::from_secs(4 * 3600);

/// `switchboard report` options.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Start: a date (2026-11-23, midnight UTC), an RFC 3339 time
    /// (2026-11-23T08:00:00+01:00) or Unix milliseconds.
    #[arg(long)]
    from: String,
    /// End, excluded. A date means the end of that day, so `--from 2026-11-23
    /// --to 2026-11-23` is that whole day. Default: the end of the --from
    /// day for a date, else now.
    #[arg(long)]
    to: Option<String>,
    /// Only this queue.
    #[arg(long)]
    queue: Option<String>,
    /// The database (default: the config's `[storage] path`).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Configuration file, for the database path and the `[kpi]` definitions
    /// (default: the built-in defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Prints JSON: per queue, what the API's queue stats answer.
    #[arg(long)]
    json: bool,
}

/// What to report on.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The window the figures cover.
    pub(crate) window: Window,
    /// One queue, or every queue with calls in the window.
    pub(crate) queue: Option<String>,
    /// How the figures are defined.
    pub(crate) settings: KpiSettings,
    /// JSON instead of a table.
    pub(crate) json: bool,
}

/// Runs `switchboard report`.
pub(crate) fn run(args: ReportArgs) -> ExitCode {
    match prepare(args).and_then(|(db, request)| {
        let store = Store::open_read_only(&db).map_err(|e| match e {
            StoreError::Missing(path) => format!(
                "no database at {} (give --db, or --config with the switch's [storage] path)",
                path.display()
            ),
            e => format!("{}: {e}", db.display()),
        })?;
        report(&store, &request).map_err(|e| format!("{}: {e}", db.display()))
    }) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The database path and the request, from the arguments and the config.
fn prepare(args: ReportArgs) -> Result<(PathBuf, Request), String> {
    let (path, settings, tz) = match &args.config {
        Some(file) => {
            let config = Config::load(file).map_err(|e| e.to_string())?;
            let tz = config.timezone();
            (config.storage.path, config.kpi, tz)
        }
        None => (PathBuf::from("switchboard.db"), KpiSettings::default(), chrono_tz::UTC),
    };
    let window = parse_window(&args.from, args.to.as_deref(), now(), tz)?;
    let request = Request {
        window,
        queue: args.queue,
        settings,
        json: args.json,
    };
    Ok((args.db.unwrap_or(path), request))
}

fn now() -> Millis {
    Millis(u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0))
}

/// The report text (a table, or JSON), ending with a newline.
pub(crate) fn report(store: &Store, request: &Request) -> Result<String, StoreError> {
    let window = request.window;
    let settings = &request.settings;
    // Calls queued in the window may have arrived before it, and the repeat
    // rate needs the calls of the repeat window before those.
    // Of those, the repeat rate only needs the caller and arrival time.
    let whole_from = window.from - LONGEST_BEFORE_QUEUE;
    let mut records = store.arrivals(whole_from - settings.repeat_window, whole_from)?;
    records.extend(store.records_arrived(whole_from, window.to)?);
    let agent_log = store.agent_log(window.from, window.to)?;
    let stats: BTreeMap<String, Stats> = match &request.queue {
        Some(queue) => {
            let filter = Filter {
                queue: Some(queue.clone()),
                ..Filter::default()
            };
            [(
                queue.clone(),
                kpi::compute(&records, &agent_log, window, &filter, settings),
            )]
            .into()
        }
        None => kpi::compute_by(&records, &agent_log, window, settings, GroupBy::Queue),
    };
    Ok(if request.json {
        json(window, request.queue.is_some(), &stats)
    } else {
        table(window, &stats)
    })
}

/// Per queue, the API's answer; one object for one queue, else a list.
fn json(window: Window, one: bool, stats: &BTreeMap<String, Stats>) -> String {
    let answers: Vec<serde_json::Value> = stats
        .iter()
        .map(|(queue, stats)| {
            serde_json::json!({
                "queue": queue,
                "window": { "from_ms": window.from.0, "to_ms": window.to.0 },
                "stats": stats,
            })
        })
        .collect();
    let value = match (one, answers.len()) {
        (true, 1) => answers.into_iter().next().unwrap_or_default(),
        _ => serde_json::Value::Array(answers),
    };
    format!("{value:#}\n")
}

/// The figures as rows, one column per queue.
fn table(window: Window, stats: &BTreeMap<String, Stats>) -> String {
    let mut out = format!(
        "Calls queued from {} to {}\n",
        show_time(window.from),
        show_time(window.to)
    );
    if stats
        .values()
        .all(|s| s.offered == 0 && s.short_abandoned == 0 && s.waiting == 0)
    {
        out.push_str("No calls were queued in this window.\n");
        return out;
    }
    let columns: Vec<&Stats> = stats.values().collect();
    let mut rows: Vec<(String, Vec<String>)> = vec![(String::new(), stats.keys().cloned().collect())];
    let mut row = |label: &str, cell: &dyn Fn(&Stats) -> String| {
        rows.push((label.to_owned(), columns.iter().map(|s| cell(s)).collect()));
    };
    row("offered", &|s| s.offered.to_string());
    row("answered", &|s| s.answered.to_string());
    row("abandoned", &|s| s.abandoned.to_string());
    row("short abandons", &|s| s.short_abandoned.to_string());
    row("overflowed", &|s| s.overflowed.to_string());
    row("call-backs requested", &|s| s.callbacks_requested.to_string());
    row("ended otherwise", &|s| s.other_ended.to_string());
    row("still waiting", &|s| s.waiting.to_string());
    let thresholds: Vec<u64> = columns
        .first()
        .map(|s| s.service_level.iter().map(|l| l.threshold_secs).collect())
        .unwrap_or_default();
    for t in thresholds {
        let formula = columns.first().map(|s| kpi_name(&s.formula)).unwrap_or_default();
        row(&format!("SL {t} s ({formula})"), &|s| {
            percent(
                s.service_level
                    .iter()
                    .find(|l| l.threshold_secs == t)
                    .and_then(|l| l.value),
            )
        });
    }
    row("ASA", &|s| seconds(s.asa_secs));
    row("longest wait", &|s| seconds(s.max_wait_secs));
    row("abandonment", &|s| percent(s.abandon_rate));
    row("AHT", &|s| seconds(s.aht_secs));
    row("  talk", &|s| seconds(s.talk_secs));
    row("  wrap-up", &|s| seconds(s.wrap_up_secs));
    row("occupancy (all agents)", &|s| percent(s.occupancy));
    row("repeat callers", &|s| percent(s.repeat_rate));
    row("CSAT (4-5 of 5)", &|s| match s.csat {
        Some(c) => format!("{} (n={})", percent(Some(c)), s.csat_answers),
        None => "-".into(),
    });
    row("NPS", &|s| match s.nps {
        Some(n) => format!("{n:+.0} (n={})", s.nps_answers),
        None => "-".into(),
    });
    row("quality (QA)", &|s| match s.quality_rate {
        Some(q) => format!("{} (n={})", percent(Some(q)), s.qa_evaluations),
        None => "-".into(),
    });
    let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| rows.iter().map(|(_, cells)| cells[i].len()).max().unwrap_or(0))
        .collect();
    for (label, cells) in &rows {
        let mut line = format!("{label:<label_width$}");
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(line, "  {cell:>width$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn kpi_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn percent(share: Option<f64>) -> String {
    match share {
        Some(v) => format!("{:.1} %", v * 100.0),
        None => "-".into(),
    }
}

fn seconds(secs: Option<f64>) -> String {
    match secs {
        Some(s) if s >= 60.0 => {
            let whole = s.round() as u64;
            format!("{}m{:02}s", whole / 60, whole % 60)
        }
        Some(s) => format!("{s:.1}s"),
        None => "-".into(),
    }
}

fn show_time(at: Millis) -> String {
    i64::try_from(at.0)
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| at.to_string())
}

/// `--from` and `--to` into a window; `now` is the default end of a window
/// given by a time. Dates are days in `tz`, the site's time zone.
pub(crate) fn parse_window(from: &str, to: Option<&str>, now: Millis, tz: chrono_tz::Tz) -> Result<Window, String> {
    let (start, from_date) = parse_time(from, false, tz).map_err(|e| format!("--from: {e}"))?;
    let end = match (to, from_date) {
        (Some(to), _) => parse_time(to, true, tz).map_err(|e| format!("--to: {e}"))?.0,
        (None, Some(date)) => {
            crate::days::end_of(tz, date).ok_or_else(|| format!("--from: `{from}` is out of range"))?
        }
        (None, None) => now,
    };
    if end <= start {
        return Err(format!(
            "the window is empty: --to ({}) is not after --from ({})",
            show_time(end),
            show_time(start)
        ));
    }
    Ok(Window { from: start, to: end })
}

/// A time, and the date if it was one; a date as an end is the next
/// midnight (in `tz`).
fn parse_time(text: &str, end: bool, tz: chrono_tz::Tz) -> Result<(Millis, Option<NaiveDate>), String> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let at = match end {
            true => crate::days::end_of(tz, date),
            false => crate::days::start_of(tz, date),
        };
        return match at {
            Some(at) => Ok((at, Some(date))),
            None => Err(format!("`{text}` is before 1970")),
        };
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(|ms| (Millis(ms), None))
            .map_err(|e| format!("`{text}`: {e}"));
    }
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => match u64::try_from(t.timestamp_millis()) {
            Ok(ms) => Ok((Millis(ms), None)),
            Err(_) => Err(format!("`{text}` is before 1970")),
        },
        Err(e) => Err(format!(
            "`{text}` is not a date (2026-11-23), an RFC 3339 time (2026-11-23T08:00:00Z) \
             or Unix milliseconds ({e})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use queue::record::{
        AgentStateKind, AgentStateRecord, CallRecord, End, Milestone, Party, SurveyAnswer, SurveyKind,
    };

    use super::*;
    use crate::store::{Command, WriterOptions};

    /// 2026-11-23T00:00:00Z.
    const DAY: Millis = Millis(1_795_392_000_000);

    fn at(seconds: u64) -> Millis {
        DAY + Duration::from_secs(seconds)
    }

    #[test]
    fn dates_times_and_milliseconds() {
        let now = at(3600);
        let day = Window {
            from: DAY,
            to: at(86_400),
        };
        assert_eq!(
            parse_window("2026-11-23", Some("2026-11-23"), now, chrono_tz::UTC),
            Ok(day)
        );
        assert_eq!(parse_window("2026-11-23", None, now, chrono_tz::UTC), Ok(day));
        // A date is the site's day: in Madrid (UTC+1) it starts an hour earlier.
        assert_eq!(
            parse_window("2026-11-23", None, now, chrono_tz::Europe::Madrid),
            Ok(Window {
                from: Millis(1_795_388_400_000),
                to: Millis(1_795_474_800_000)
            })
        );
        assert_eq!(
            parse_window(
                "2026-11-23T09:00:00+01:00",
                Some("2026-11-23T09:30:00Z"),
                now,
                chrono_tz::UTC
            ),
            Ok(Window {
                from: at(8 * 3600),
                to: at(9 * 3600 + 1800)
            })
        );
        assert_eq!(
            parse_window(&DAY.0.to_string(), None, now, chrono_tz::UTC),
            Ok(Window { from: DAY, to: now })
        );
        assert_eq!(
            parse_window("2026-11-22", Some("2026-11-23T00:00:00Z"), now, chrono_tz::UTC),
            Ok(Window {
                from: DAY - Duration::from_secs(86_400),
                to: DAY
            })
        );
    }

    #[test]
    fn bad_bounds_say_what_is_expected() {
        let now = at(0);
        let e = parse_window("yesterday", None, now, chrono_tz::UTC).unwrap_err();
        assert!(e.starts_with("--from: `yesterday` is not a date (2026-11-23)"), "{e}");
        let e = parse_window("2026-11-23", Some("2026-13-01"), now, chrono_tz::UTC).unwrap_err();
        assert!(e.starts_with("--to: `2026-13-01`"), "{e}");
        let e = parse_window(
            "2026-11-23T10:00:00Z",
            Some("2026-11-23T09:00:00Z"),
            now,
            chrono_tz::UTC,
        )
        .unwrap_err();
        assert!(e.contains("the window is empty"), "{e}");
        assert!(parse_window("1969-12-31", None, now, chrono_tz::UTC)
            .unwrap_err()
            .contains("before 1970"));
    }

    /// A queued call: arrival, queue entry after 10 s, then what follows,
    /// each mark `offset` seconds after the arrival.
    fn call(id: &str, caller: &str, arrival: Millis, queue: &str, then: &[(u64, Milestone)]) -> CallRecord {
        let mut r = CallRecord::arrived(id.into(), caller.into(), "100".into(), arrival);
        r.mark(
            arrival + Duration::from_secs(10),
            Milestone::Enqueued { queue: queue.into() },
        );
        for (offset, what) in then {
            r.mark(arrival + Duration::from_secs(*offset), what.clone());
        }
        r.end = Some(End::Completed);
        r
    }

    fn answered(agent: &str, answer: u64, hang_up: u64) -> Vec<(u64, Milestone)> {
        vec![
            (answer - 2, Milestone::Offered { agent: agent.into() }),
            (answer, Milestone::AgentAnswered { agent: agent.into() }),
            (answer, Milestone::Bridged { agent: agent.into() }),
            (hang_up, Milestone::HungUp { by: Party::Caller }),
            (hang_up, Milestone::TalkEnded { agent: agent.into() }),
            (hang_up + 30, Milestone::WrapUpEnded { agent: agent.into() }),
        ]
    }

    fn abandoned(queue: &str, after: u64) -> Vec<(u64, Milestone)> {
        vec![
            (after, Milestone::Abandoned { queue: queue.into() }),
            (after, Milestone::HungUp { by: Party::Caller }),
        ]
    }

    /// A day of calls in two queues, the same caller again, a survey, an
    /// agent log; and a call from the day before, within the repeat window.
    fn day_of_calls() -> (Vec<CallRecord>, Vec<AgentStateRecord>) {
        let mut records = vec![
            // Long before the window: read as its arrival only, still a repeat.
            call(
                "y2",
                "+492",
                at(0) - Duration::from_secs(10 * 3600),
                "support",
                &answered("1001", 20, 100),
            ),
            call(
                "y1",
                "+491",
                at(0) - Duration::from_secs(3600),
                "sales",
                &answered("1001", 20, 100),
            ),
            call("c1", "+491", at(3600), "sales", &answered("1001", 15, 200)),
            call("c2", "+492", at(3700), "sales", &answered("1002", 90, 400)),
            call("c3", "+493", at(3800), "sales", &abandoned("sales", 50)),
            call("c4", "+494", at(3900), "sales", &abandoned("sales", 12)),
            call("c5", "+495", at(4000), "support", &answered("1002", 40, 100)),
            call("c6", "anonymous", at(4100), "support", &answered("1001", 12, 60)),
        ];
        records[2].surveys.push(SurveyAnswer {
            kind: SurveyKind::Csat,
            score: 5,
            agent: Some("1001".into()),
            at: at(3800),
        });
        records[3].surveys.push(SurveyAnswer {
            kind: SurveyKind::Nps,
            score: 3,
            agent: Some("1002".into()),
            at: at(4200),
        });
        let state = |agent: &str, s, state| AgentStateRecord {
            agent: agent.into(),
            at: s,
            state,
            reason: None,
        };
        let log = vec![
            state("1001", at(0) - Duration::from_secs(7200), AgentStateKind::Available),
            state("1002", at(3000), AgentStateKind::Available),
            state("1001", at(3625), AgentStateKind::OnCall),
            state("1001", at(3800), AgentStateKind::WrapUp),
            state("1001", at(3830), AgentStateKind::Available),
            state("1002", at(9000), AgentStateKind::LoggedOut),
            state("1001", at(9000), AgentStateKind::LoggedOut),
        ];
        (records, log)
    }

    fn stored(records: &[CallRecord], log: &[AgentStateRecord]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchboard.db");
        let store = Store::open(&path).unwrap();
        let (writer, thread) = store.writer(WriterOptions::default()).unwrap();
        for r in records {
            // As the switch sends them: the arrival, then mark by mark.
            let mut start = r.clone();
            start.marks.truncate(1);
            start.surveys.clear();
            start.end = None;
            writer.send(Command::CallStarted(start)).unwrap();
            for mark in &r.marks[1..] {
                writer
                    .send(Command::CallMarked {
                        id: r.id.clone(),
                        mark: mark.clone(),
                    })
                    .unwrap();
            }
            for answer in &r.surveys {
                writer
                    .send(Command::Survey {
                        id: r.id.clone(),
                        answer: answer.clone(),
                    })
                    .unwrap();
            }
            if let Some(end) = r.end {
                writer.send(Command::CallEnded { id: r.id.clone(), end }).unwrap();
            }
        }
        for s in log {
            writer.send(Command::AgentState(s.clone())).unwrap();
        }
        thread.shutdown(Duration::from_secs(5)).unwrap();
        drop(store);
        (dir, Store::open_read_only(&path).unwrap())
    }

    fn request(queue: Option<&str>, json: bool) -> Request {
        Request {
            window: Window {
                from: DAY,
                to: at(86_400),
            },
            queue: queue.map(str::to_owned),
            settings: KpiSettings::default(),
            json,
        }
    }

    #[test]
    fn json_is_what_the_api_computes_from_the_same_records() {
        let (records, log) = day_of_calls();
        let (_dir, store) = stored(&records, &log);
        let request = request(Some("sales"), true);
        let printed: serde_json::Value = serde_json::from_str(&report(&store, &request).unwrap()).unwrap();
        // What the API answers: its filter, over the records it holds.
        let filter = Filter {
            queue: Some("sales".into()),
            ..Filter::default()
        };
        let live = kpi::compute(&records, &log, request.window, &filter, &request.settings);
        let api = serde_json::json!({
            "queue": "sales",
            "window": { "from_ms": DAY.0, "to_ms": at(86_400).0 },
            "stats": live,
        });
        assert_eq!(printed, api);
        // And the figures are the expected ones, not just equal.
        assert_eq!(
            (live.offered, live.answered, live.abandoned, live.short_abandoned),
            (3, 2, 1, 1)
        );
        assert_eq!((live.repeat_calls, live.repeat_base), (2, 3));
        assert_eq!((live.csat_answers, live.nps_answers), (1, 1));
        assert!(live.occupancy.is_some());

        // Every queue: a list of the same objects.
        let all: serde_json::Value =
            serde_json::from_str(&report(&store, &self::request(None, true)).unwrap()).unwrap();
        let queues: Vec<&str> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["queue"].as_str().unwrap())
            .collect();
        assert_eq!(queues, ["sales", "support"]);
        assert_eq!(all[0], api);
    }

    #[test]
    fn table_has_a_column_per_queue() {
        let (records, log) = day_of_calls();
        let (_dir, store) = stored(&records, &log);
        let text = report(&store, &request(None, false)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Calls queued from 2026-11-23T00:00:00Z to 2026-11-24T00:00:00Z"
        );
        let cells = |label: &str| -> Vec<String> {
            let line = lines
                .iter()
                .find(|l| l.starts_with(label))
                .unwrap_or_else(|| panic!("no {label} row in\n{text}"));
            line[label.len()..].split_whitespace().map(str::to_owned).collect()
        };
        assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["sales", "support"]);
        assert_eq!(cells("offered"), ["3", "2"]);
        assert_eq!(cells("answered"), ["2", "2"]);
        assert_eq!(cells("abandoned"), ["1", "0"]);
        assert_eq!(cells("short abandons"), ["1", "0"]);
        // sales: answered after 5 s and 80 s, abandoned after 40 s: within
        // 20 s, 1 of 3 answered; within 60 s, 1 of the 2 not abandoned by then.
        // support: answered after 30 s and 2 s.
        assert_eq!(cells("SL 20 s (abandons_ignored)"), ["33.3", "%", "50.0", "%"]);
        assert_eq!(cells("SL 60 s (abandons_ignored)"), ["50.0", "%", "100.0", "%"]);
        assert_eq!(cells("ASA"), ["42.5s", "16.0s"]);
        assert_eq!(cells("NPS"), ["-100", "(n=1)", "-"]);
        assert!(text.contains("CSAT (4-5 of 5)"), "{text}");
    }

    #[test]
    fn an_empty_store_reports_no_calls() {
        let (_dir, store) = stored(&[], &[]);
        assert_eq!(
            report(&store, &request(None, false)).unwrap(),
            "Calls queued from 2026-11-23T00:00:00Z to 2026-11-24T00:00:00Z\nNo calls were queued in this window.\n"
        );
        assert_eq!(report(&store, &request(None, true)).unwrap(), "[]\n");
    }
}
