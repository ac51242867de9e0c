//! The command line: `switchboard-loadtest SCENARIO [flags]`. Runs the plan,
//! prints progress, writes the JSON results and the HTML report, and turns
//! the thresholds into the exit code (0 passed, 1 a limit broke, 2 the run
//! could not be made).

use std::path::PathBuf;

use clap::Parser;

use crate::run::{RunOptions, Search};
use crate::scenario::{Phase, Scenario};
use crate::thresholds::{self, parse_millis, parse_percent, Thresholds, EXIT_ERROR};

/// Capacity tests for SIP contact-centre platforms: callers with audio and
/// IVR navigation, simulated agents, HDR percentiles, a report.
#[derive(Debug, Parser)]
#[command(name = "switchboard-loadtest", version)]
pub struct Args {
    /// The scenario file (TOML; see docs/loadtest.md).
    pub scenario: PathBuf,
    /// Override the plan: one phase at this rate (calls/s).
    #[arg(long)]
    pub rate: Option<f64>,
    /// With --rate: how long (seconds).
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// Stop after this many calls.
    #[arg(long)]
    pub calls: Option<u64>,
    /// Most calls in progress at once.
    #[arg(long)]
    pub max_concurrent: Option<usize>,
    /// The platform's SIP address (overrides the scenario's).
    #[arg(long)]
    pub target: Option<std::net::SocketAddr>,
    /// Write the JSON results here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the HTML report here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// No progress lines.
    #[arg(long)]
    pub quiet: bool,
    /// Fail when more calls fail than this (e.g. 0.1%).
    #[arg(long, value_parser = parse_percent)]
    pub max_failed: Option<f64>,
    /// Fail when the p99 of INVITE to 200 exceeds this (e.g. 200ms).
    #[arg(long, value_parser = parse_millis)]
    pub max_p99_setup: Option<f64>,
    /// Fail when the p99 answer time exceeds this.
    #[arg(long, value_parser = parse_millis)]
    pub max_p99_answer: Option<f64>,
    /// Fail when the p99 one-way latency (either direction) exceeds this.
    #[arg(long, value_parser = parse_millis)]
    pub max_p99_latency: Option<f64>,
    /// Fail when RTP loss exceeds this (e.g. 1%).
    #[arg(long, value_parser = parse_percent)]
    pub max_loss: Option<f64>,
    /// Fail when the p99 jitter exceeds this.
    #[arg(long, value_parser = parse_millis)]
    pub max_p99_jitter: Option<f64>,
    /// Capacity search: step the rate up from START by STEP every STEP_SECS
    /// up to MAX until a threshold breaks, and report the knee.
    /// Written START,STEP,STEP_SECS,MAX (e.g. 10,10,30,500).
    #[arg(long, value_parser = parse_search)]
    pub search: Option<Search>,
}

fn parse_search(text: &str) -> Result<Search, String> {
    let v: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|_| format!("{p:?} is not a number")))
        .collect::<Result<_, _>>()?;
    match v[..] {
        [start, step, step_secs, max] if start > 0.0 && step > 0.0 && step_secs > 0.0 => Ok(Search {
            start,
            step,
            step_secs,
            max,
        }),
        _ => Err("expected START,STEP,STEP_SECS,MAX with positive numbers".into()),
    }
}

impl Args {
    /// The limits the flags set.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            max_failed_percent: self.max_failed,
            max_p99_setup_ms: self.max_p99_setup,
            max_p99_answer_ms: self.max_p99_answer,
            max_p99_latency_ms: self.max_p99_latency,
            max_loss_percent: self.max_loss,
            max_p99_jitter_ms: self.max_p99_jitter,
        }
    }
}

/// Runs the command line `args` (without the program name) and returns the
/// exit code.
pub async fn main_with(args: Args) -> i32 {
    let mut scenario = match Scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("switchboard-loadtest: {e}");
            return EXIT_ERROR;
        }
    };
    if let Some(rate) = args.rate {
        scenario.load.phases = vec![Phase {
            rate,
            to_rate: None,
            secs: args.duration,
        }];
    }
    if args.calls.is_some() {
        scenario.load.max_calls = args.calls;
    }
    if let Some(m) = args.max_concurrent {
        scenario.load.max_concurrent = m.max(1);
    }
    if let Some(t) = args.target {
        scenario.target.sip = t;
    }
    let options = RunOptions {
        progress: !args.quiet,
        thresholds: args.thresholds(),
        search: args.search,
    };
    let results = match crate::run(scenario, options).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard-loadtest: {e}");
            return EXIT_ERROR;
        }
    };
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&results).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("switchboard-loadtest: {}: {e}", path.display());
            return EXIT_ERROR;
        }
    }
    if let Some(path) = &args.html {
        if let Err(e) = std::fs::write(path, crate::report::html(&results)) {
            eprintln!("switchboard-loadtest: {}: {e}", path.display());
            return EXIT_ERROR;
        }
    }
    print_summary(&results);
    if results.steps.is_empty() {
        thresholds::exit_code(&results.checks)
    } else if results.passed {
        thresholds::EXIT_PASSED
    } else {
        thresholds::EXIT_FAILED
    }
}

fn print_summary(r: &crate::Results) {
    let s = &r.summary;
    println!(
        "calls: {} started, {} completed, {} abandoned, {} failed ({}%), peak {} concurrent, {} calls/s",
        s.started, s.completed, s.abandoned, s.failed, s.failed_percent, s.peak_concurrent, s.achieved_cps
    );
    if !s.failures.is_empty() {
        println!("failures: {:?}", s.failures);
    }
    for (name, p) in crate::report::measures(s) {
        if p.count > 0 {
            println!(
                "{name:>22}: n={} p50={} p90={} p99={} p99.9={} max={}",
                p.count, p.p50, p.p90, p.p99, p.p999, p.max
            );
        }
    }
    println!(
        "rtp: {} expected, {} lost ({}%); sent {} of {} scheduled",
        s.rtp_expected, s.rtp_lost, s.rtp_loss_percent, s.rtp_sent, s.rtp_scheduled
    );
    for c in &r.checks {
        println!(
            "{}: {} (limit {}) {}",
            c.name,
            c.value,
            c.limit,
            if c.passed { "ok" } else { "BROKEN" }
        );
    }
    if !r.steps.is_empty() {
        for st in &r.steps {
            println!(
                "step {} calls/s: achieved {} failed {}% p99 set-up {} ms {}",
                st.rate,
                st.summary.achieved_cps,
                st.summary.failed_percent,
                st.summary.setup_200_ms.p99,
                if st.passed { "ok" } else { "BROKEN" }
            );
        }
        match r.knee_cps {
            Some(k) => println!("knee: {k} calls/s"),
            None => println!("knee: none (the first step broke a limit)"),
        }
    }
}
