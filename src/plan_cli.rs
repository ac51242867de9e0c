//! `switchboard plan`: how many agents a load needs, by Erlang C (and Erlang A
//! when callers' patience is given), with the figures around the answer.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use queue::erlang::{ErlangA, ErlangC, Load};
use queue::kpi::SlFormula;

/// Arguments of `switchboard plan`.
#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    /// Calls offered per hour.
    #[arg(long, value_parser = parse_rate)]
    calls_per_hour: f64,
    /// Average handle time (talk + hold + wrap-up): `240s`, `4m` or `240` (seconds).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    aht: Duration,
    /// Service-level target: percent answered within a time, `80/20s`.
    #[arg(long, value_parser = parse_target, default_value = "80/20s")]
    target: Target,
    /// Callers' mean patience before abandoning; adds the Erlang A figures.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    patience: Option<Duration>,
    /// Share of paid time agents are not available (breaks, training): `30%`.
    #[arg(long, value_parser = parse_percent, value_name = "PERCENT")]
    shrinkage: Option<f64>,
    /// Service-level formula for the Erlang A figures (Erlang C has no abandons,
    /// so every formula gives the same there): abandons_ignored,
    /// abandons_negative, abandons_positive, answered_only, asterisk_sl2.
    #[arg(long, value_parser = parse_formula, default_value = "abandons_ignored")]
    formula: SlFormula,
}

/// A service-level target: `share` of calls within `within`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    share: f64,
    within: Duration,
}

/// Runs `switchboard plan`.
pub(crate) fn run(args: PlanArgs) -> ExitCode {
    match plan(&args) {
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

fn plan(args: &PlanArgs) -> anyhow::Result<String> {
    use std::fmt::Write;

    let load = Load::new(args.calls_per_hour, args.aht)?;
    let t = args.target.within;
    let t_secs = secs(t);
    let target = args.target.share;
    let mut out = String::new();
    writeln!(
        out,
        "Traffic: {} calls/h x AHT {} = {:.2} Erlangs",
        number(args.calls_per_hour),
        secs(args.aht),
        load.erlangs()
    )?;
    writeln!(out, "Target: {} answered within {t_secs}", percent(target))?;
    writeln!(out)?;

    let n = ErlangC::agents_for(&load, target, t)?;
    let c = ErlangC::new(&load, n, t);
    writeln!(
        out,
        "Erlang C: {n} agents ({} within {t_secs}, ASA {}, occupancy {}, {} of calls wait)",
        percent(c.service_level),
        asa(c.asa_secs),
        percent(c.occupancy),
        percent(c.p_wait)
    )?;
    if let Some(shrinkage) = args.shrinkage {
        writeln!(
            out,
            "With {} shrinkage: {} agents scheduled",
            percent(shrinkage),
            scheduled(n, shrinkage)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "agents  SL({t_secs})  ASA        occupancy  P(wait)")?;
    for agents in n.saturating_sub(2).max(1)..=n + 3 {
        let f = ErlangC::new(&load, agents, t);
        writeln!(
            out,
            "{} {agents:>4}  {:>9}  {:>9}  {:>9}  {:>7}",
            if agents == n { ">" } else { " " },
            percent(f.service_level),
            asa(f.asa_secs),
            percent(f.occupancy),
            percent(f.p_wait)
        )?;
    }

    if let Some(patience) = args.patience {
        let na = ErlangA::agents_for(&load, patience, target, t, args.formula)?;
        let a = ErlangA::new(&load, na, patience, t)?;
        writeln!(out)?;
        writeln!(
            out,
            "Erlang A (mean patience {}, SL {}): {na} agents ({} within {t_secs}, {} abandon, ASA {}, occupancy {})",
            secs(patience),
            formula_name(args.formula),
            percent(a.service_level(args.formula)),
            percent(a.p_abandon),
            asa(Some(a.asa_secs)),
            percent(a.occupancy)
        )?;
        if let Some(shrinkage) = args.shrinkage {
            writeln!(
                out,
                "With {} shrinkage: {} agents scheduled",
                percent(shrinkage),
                scheduled(na, shrinkage)
            )?;
        }
        writeln!(out)?;
        writeln!(out, "agents  SL({t_secs})  abandon  ASA        occupancy")?;
        for agents in na.saturating_sub(2).max(1)..=na + 3 {
            let f = ErlangA::new(&load, agents, patience, t)?;
            writeln!(
                out,
                "{} {agents:>4}  {:>9}  {:>7}  {:>9}  {:>9}",
                if agents == na { ">" } else { " " },
                percent(f.service_level(args.formula)),
                percent(f.p_abandon),
                asa(Some(f.asa_secs)),
                percent(f.occupancy)
            )?;
        }
    }
    Ok(out)
}

/// Agents to schedule so that `agents` are available after `shrinkage`.
fn scheduled(agents: u32, shrinkage: f64) -> u32 {
    (f64::from(agents) / (1.0 - shrinkage) - 1e-9).ceil() as u32
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn secs(d: Duration) -> String {
    format!("{} s", number(d.as_secs_f64()))
}

fn asa(secs: Option<f64>) -> String {
    match secs {
        Some(s) => format!("{s:.1} s"),
        None => "endless".to_owned(),
    }
}

/// A number without a trailing `.0`.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

fn formula_name(formula: SlFormula) -> &'static str {
    match formula {
        SlFormula::AbandonsIgnored => "abandons ignored",
        SlFormula::AbandonsNegative => "abandons negative",
        SlFormula::AbandonsPositive => "abandons positive",
        SlFormula::AnsweredOnly => "answered only",
        SlFormula::AsteriskSl2 => "Asterisk SL2",
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err("expected a positive number of calls, like 900".to_owned()),
    }
}

/// `240s`, `4m`, `1.5m`, `1h`, `500ms` or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    const HELP: &str = "expected a duration like 240s, 4m or 240 (seconds)";
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        _ => return Err(HELP.to_owned()),
    };
    match number.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Duration::try_from_secs_f64(x * scale).map_err(|_| HELP.to_owned()),
        _ => Err(HELP.to_owned()),
    }
}

/// `80/20s`, `80%/20s` or `80/20`.
fn parse_target(s: &str) -> Result<Target, String> {
    const HELP: &str = "expected percent/time, like 80/20s (80% within 20 seconds)";
    let (share, within) = s.split_once('/').ok_or_else(|| HELP.to_owned())?;
    let share = parse_percent(share).map_err(|_| HELP.to_owned())?;
    if share <= 0.0 {
        return Err(HELP.to_owned());
    }
    let within = parse_duration(within).map_err(|_| HELP.to_owned())?;
    Ok(Target { share, within })
}

/// `30%` or `30`: a share below 100%.
fn parse_percent(s: &str) -> Result<f64, String> {
    let s = s.trim();
    match s.strip_suffix('%').unwrap_or(s).trim().parse::<f64>() {
        Ok(x) if (0.0..100.0).contains(&x) => Ok(x / 100.0),
        _ => Err("expected a percentage from 0 to below 100, like 30%".to_owned()),
    }
}

fn parse_formula(s: &str) -> Result<SlFormula, String> {
    Ok(match s {
        "abandons_ignored" => SlFormula::AbandonsIgnored,
        "abandons_negative" => SlFormula::AbandonsNegative,
        "abandons_positive" => SlFormula::AbandonsPositive,
        "answered_only" => SlFormula::AnsweredOnly,
        "asterisk_sl2" => SlFormula::AsteriskSl2,
        _ => {
            return Err(
                "expected abandons_ignored, abandons_negative, abandons_positive, answered_only or asterisk_sl2"
                    .to_owned(),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("240s"), Ok(Duration::from_secs(240)));
        assert_eq!(parse_duration("4m"), Ok(Duration::from_secs(240)));
        assert_eq!(parse_duration("240"), Ok(Duration::from_secs(240)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        for bad in ["", "s", "4x", "-3s", "0", "1e9999", "4m30s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_and_percentages() {
        let t = parse_target("80/20s").expect("valid");
        assert_eq!((t.share, t.within), (0.8, Duration::from_secs(20)));
        let t = parse_target("90%/1m").expect("valid");
        assert_eq!((t.share, t.within), (0.9, Duration::from_secs(60)));
        for bad in ["80", "100/20s", "0/20s", "80/", "/20s", "eighty/20s"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_percent("30%"), Ok(0.3));
        assert!(parse_percent("100%").is_err());
        assert_eq!(scheduled(67, 0.3), 96);
        assert_eq!(scheduled(70, 0.3), 100);
    }
}
