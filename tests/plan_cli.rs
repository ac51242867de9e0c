//! `switchboard plan`: the agents a load needs, run as the built binary.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn plan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("plan")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn erlang_c_for_900_calls_an_hour() {
    let o = plan(&["--calls-per-hour", "900", "--aht", "240s", "--target", "80/20s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("= 60.00 Erlangs"), "{out}");
    assert!(out.contains("Erlang C: 67 agents"), "{out}");
    // The table runs from n-2 to n+3, the answer marked.
    assert!(out.contains(">   67"), "{out}");
    for n in [65, 66, 68, 69, 70] {
        assert!(out.contains(&format!("   {n}  ")), "{n}: {out}");
    }
    assert!(!out.contains("   64  ") && !out.contains("   71  "), "{out}");
    assert!(!out.contains("Erlang A"), "{out}");
}

#[test]
fn durations_in_minutes_or_bare_seconds_agree() {
    let a = stdout(&plan(&["--calls-per-hour", "900", "--aht", "4m", "--target", "80/20s"]));
    let b = stdout(&plan(&[
        "--calls-per-hour",
        "900",
        "--aht",
        "240",
        "--target",
        "80%/20",
    ]));
    assert_eq!(a, b);
}

#[test]
fn patience_and_shrinkage() {
    let o = plan(&[
        "--calls-per-hour",
        "900",
        "--aht",
        "240s",
        "--target",
        "80/20s",
        "--patience",
        "60s",
        "--shrinkage",
        "30%",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("With 30.0% shrinkage: 96 agents scheduled"), "{out}");
    let line = out.lines().find(|l| l.starts_with("Erlang A")).unwrap();
    assert!(line.contains("mean patience 60 s"), "{line}");
    assert!(line.contains("abandon"), "{line}");
    let agents: u32 = line
        .split("): ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(agents < 67, "{line}");
}

#[test]
fn bad_input_is_refused_with_a_helpful_message() {
    let o = plan(&["--calls-per-hour", "900", "--aht", "four minutes", "--target", "80/20s"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("--aht"), "{err}");
    assert!(err.contains("expected a duration like 240s, 4m or 240"), "{err}");

    let o = plan(&["--calls-per-hour", "900", "--aht", "240s", "--target", "80"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("like 80/20s"), "{}", stderr(&o));

    let o = plan(&["--calls-per-hour", "-5", "--aht", "240s"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--calls-per-hour"), "{}", stderr(&o));

    let o = plan(&["--calls-per-hour", "900", "--aht", "240s", "--shrinkage", "120%"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("percentage"), "{}", stderr(&o));
}
