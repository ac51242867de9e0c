//! The HTML report: one self-contained file with the summary tables and SVG
//! plots (rate and concurrency over time, the answer-time distribution,
//! percentiles), to attach to a capacity report. The JSON results are
//! embedded too (`<script type="application/json" id="results">`), and every
//! number in the tables is printed from the same values as the JSON.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::measure::Percentiles;
use crate::run::{Results, Summary};

const WIDTH: u32 = 900;
const HEIGHT: u32 = 340;

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The report for `results`.
pub fn html(results: &Results) -> String {
    let mut h = String::new();
    let title = format!("Load test: {}", esc(&results.scenario));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>\
         body{{font-family:sans-serif;margin:2em;max-width:1000px}} table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #bbb;padding:3px 8px;text-align:right}} th{{background:#eee}}\
         .pass{{color:#070}} .fail{{color:#b00;font-weight:bold}}</style></head><body>\n<h1>{title}</h1>\n"
    );
    let verdict = if results.passed {
        "<span class=\"pass\">PASSED</span>"
    } else {
        "<span class=\"fail\">FAILED</span>"
    };
    let _ = writeln!(
        h,
        "<p>Result: {verdict}. Started at Unix ms <span id=\"started\">{}</span>.</p>",
        results.started_unix_ms
    );
    summary_tables(&mut h, &results.summary);
    if !results.checks.is_empty() {
        h.push_str("<h2>Thresholds</h2>\n<table id=\"checks\"><tr><th>limit</th><th>value</th><th>max</th><th>verdict</th></tr>\n");
        for c in &results.checks {
            let v = if c.passed {
                "<span class=\"pass\">ok</span>"
            } else {
                "<span class=\"fail\">broken</span>"
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{v}</td></tr>",
                esc(&c.name),
                c.value,
                c.limit
            );
        }
        h.push_str("</table>\n");
    }
    if !results.steps.is_empty() {
        h.push_str("<h2>Capacity search</h2>\n");
        match results.knee_cps {
            Some(k) => {
                let _ = writeln!(
                    h,
                    "<p>Knee: <b id=\"knee\">{k}</b> calls/s (the highest step that kept every limit).</p>"
                );
            }
            None => h.push_str("<p>No step kept every limit.</p>\n"),
        }
        h.push_str("<table id=\"steps\"><tr><th>rate /s</th><th>achieved /s</th><th>started</th><th>failed %</th><th>p99 set-up ms</th><th>p99 answer ms</th><th>peak concurrent</th><th>verdict</th></tr>\n");
        for s in &results.steps {
            let v = if s.passed {
                "<span class=\"pass\">ok</span>"
            } else {
                "<span class=\"fail\">broken</span>"
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{v}</td></tr>",
                s.rate,
                s.summary.achieved_cps,
                s.summary.started,
                s.summary.failed_percent,
                s.summary.setup_200_ms.p99,
                s.summary.answer_ms.p99,
                s.summary.peak_concurrent
            );
        }
        h.push_str("</table>\n");
        h.push_str(&plot_steps(results));
    }
    h.push_str("<h2>Rate and concurrency</h2>\n");
    h.push_str(&plot_timeline(results));
    h.push_str("<h2>Answer time distribution</h2>\n");
    h.push_str(&plot_answer(results));
    h.push_str("<h2>Percentiles</h2>\n");
    h.push_str(&plot_percentiles(&results.summary));
    let json = serde_json::to_string(results).unwrap_or_default().replace("</", "<\\/");
    let _ = writeln!(
        h,
        "<script type=\"application/json\" id=\"results\">{json}</script>\n</body></html>"
    );
    h
}

fn summary_tables(h: &mut String, s: &Summary) {
    h.push_str("<h2>Calls</h2>\n<table id=\"calls\">");
    for (k, v) in [
        ("started", s.started.to_string()),
        ("completed", s.completed.to_string()),
        ("abandoned", s.abandoned.to_string()),
        ("failed", s.failed.to_string()),
        ("failed_percent", s.failed_percent.to_string()),
        ("peak_concurrent", s.peak_concurrent.to_string()),
        ("achieved_cps", s.achieved_cps.to_string()),
        ("duration_secs", s.duration_secs.to_string()),
        ("rtp_expected", s.rtp_expected.to_string()),
        ("rtp_lost", s.rtp_lost.to_string()),
        ("rtp_loss_percent", s.rtp_loss_percent.to_string()),
        ("rtp_sent", s.rtp_sent.to_string()),
        ("rtp_scheduled", s.rtp_scheduled.to_string()),
    ] {
        let _ = writeln!(h, "<tr><th>{k}</th><td id=\"{k}\">{v}</td></tr>");
    }
    h.push_str("</table>\n");
    if !s.failures.is_empty() {
        h.push_str("<h3>Failures by reason</h3>\n<table id=\"failures\">");
        for (why, n) in &s.failures {
            let _ = writeln!(h, "<tr><th>{}</th><td>{n}</td></tr>", esc(why));
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Measures (ms)</h2>\n<table id=\"measures\"><tr><th>measure</th><th>count</th><th>min</th><th>mean</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n");
    for (name, p) in measures(s) {
        let _ = writeln!(
            h,
            "<tr id=\"{name}\"><th>{name}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.count, p.min, p.mean, p.p50, p.p90, p.p95, p.p99, p.p999, p.max
        );
    }
    h.push_str("</table>\n");
}

/// The measures of the tables, by their JSON names.
pub fn measures(s: &Summary) -> [(&'static str, &Percentiles); 6] {
    [
        ("setup_180_ms", &s.setup_180_ms),
        ("setup_200_ms", &s.setup_200_ms),
        ("answer_ms", &s.answer_ms),
        ("latency_to_caller_ms", &s.latency_to_caller_ms),
        ("latency_to_agent_ms", &s.latency_to_agent_ms),
        ("jitter_ms", &s.jitter_ms),
    ]
}

fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        let drawn = root.fill(&WHITE).map_err(|e| e.to_string()).and_then(|()| draw(&root));
        if let Err(e) = drawn.and_then(|()| root.present().map_err(|e| e.to_string())) {
            return format!("<p>(plot unavailable: {})</p>\n", esc(&e));
        }
    }
    out.push('\n');
    out
}

fn plot_timeline(results: &Results) -> String {
    let tl = &results.timeline;
    if tl.is_empty() {
        return "<p>(no samples)</p>\n".into();
    }
    svg(|root| {
        let t_max = tl.last().map_or(1.0, |s| s.t).max(1.0);
        let y_max = tl
            .iter()
            .map(|s| (s.started as f64).max(s.concurrent as f64))
            .fold(1.0, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("calls")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(tl.iter().map(|s| (s.t, s.started as f64)), &BLUE))
            .map_err(|e| e.to_string())?
            .label("started per second")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(LineSeries::new(tl.iter().map(|s| (s.t, s.concurrent as f64)), &RED))
            .map_err(|e| e.to_string())?
            .label("concurrent")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| e.to_string())
    })
}

fn plot_answer(results: &Results) -> String {
    let b = &results.answer_histogram;
    if b.is_empty() {
        return "<p>(no answered calls)</p>\n".into();
    }
    svg(|root| {
        let x_min = b.first().map_or(0.0, |x| x.from_ms);
        let x_max = b.last().map_or(1.0, |x| x.to_ms).max(x_min + 1.0);
        let y_max = b.iter().map(|x| x.count).max().unwrap_or(1).max(1) as f64 * 1.1;
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(x_min..x_max, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("answer time, ms")
            .y_desc("calls")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                b.iter()
                    .map(|x| Rectangle::new([(x.from_ms, 0.0), (x.to_ms, x.count as f64)], BLUE.mix(0.6).filled())),
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

fn plot_percentiles(s: &Summary) -> String {
    let labels = ["p50", "p90", "p95", "p99", "p99.9", "max"];
    let rows: Vec<(&str, [f64; 6])> = measures(s)
        .into_iter()
        .filter(|(_, p)| p.count > 0)
        .map(|(n, p)| (n, [p.p50, p.p90, p.p95, p.p99, p.p999, p.max]))
        .collect();
    if rows.is_empty() {
        return "<p>(no samples)</p>\n".into();
    }
    svg(|root| {
        let y_max = rows
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .fold(1.0, f64::max)
            .max(0.001);
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..5.0, (0.01..y_max * 2.0).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|x: &f64| {
                labels
                    .get(x.round() as usize)
                    .map_or(String::new(), |l| (*l).to_string())
            })
            .y_desc("ms (log)")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, values)) in rows.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    values.iter().enumerate().map(|(x, v)| (x as f64, v.max(0.01))),
                    color,
                ))
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| e.to_string())
    })
}

fn plot_steps(results: &Results) -> String {
    let steps = &results.steps;
    svg(|root| {
        let x_max = steps.iter().map(|s| s.rate).fold(1.0, f64::max) * 1.05;
        let y_max = steps.iter().map(|s| s.summary.setup_200_ms.p99).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("offered calls/s")
            .y_desc("p99 set-up, ms")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                steps.iter().map(|s| (s.rate, s.summary.setup_200_ms.p99)),
                &BLUE,
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(steps.iter().map(|s| {
                let color = if s.passed { GREEN } else { RED };
                Circle::new((s.rate, s.summary.setup_200_ms.p99), 4, color.filled())
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}
