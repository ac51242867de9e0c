//! Running sums for one set of figures, and the figures they give.

use crate::record::{QaScore, SurveyAnswer, SurveyKind};

use super::occupancy::Times;
use super::segment::{Outcome, Segment};
use super::settings::{KpiSettings, SlFormula};
use super::{ServiceLevel, Stats};

/// Sums over the segments, calls and survey answers of one group.
#[derive(Debug, Clone, Default)]
pub(super) struct Acc {
    offered: u64,
    answered: u64,
    abandoned: u64,
    short_abandoned: u64,
    overflowed: u64,
    callbacks: u64,
    other: u64,
    waiting: u64,
    answered_within: Vec<u64>,
    abandoned_within: Vec<u64>,
    answered_wait_ms: u64,
    max_wait_ms: Option<u64>,
    handled: u64,
    talk_ms: u64,
    wrap_ms: u64,
    calls: u64,
    repeat_base: u64,
    repeat_calls: u64,
    csat_answers: u64,
    csat_good: u64,
    csat_sum: u64,
    nps_answers: u64,
    promoters: u64,
    detractors: u64,
    qa_evaluations: u64,
    qa_sum: f64,
}

impl Acc {
    pub(super) fn new(thresholds: usize) -> Acc {
        Acc {
            answered_within: vec![0; thresholds],
            abandoned_within: vec![0; thresholds],
            ..Acc::default()
        }
    }

    /// Counts a segment; true if it is a counted one (offered).
    pub(super) fn add_segment(&mut self, seg: &Segment<'_>, thresholds_ms: &[u64]) -> bool {
        let within = match seg.outcome {
            Outcome::ShortAbandoned => {
                self.short_abandoned += 1;
                return false;
            }
            Outcome::Waiting => {
                self.waiting += 1;
                return false;
            }
            Outcome::Answered => {
                self.answered += 1;
                self.answered_wait_ms += seg.wait_ms;
                if let Some((talk, wrap)) = seg.handle {
                    self.handled += 1;
                    self.talk_ms += talk;
                    self.wrap_ms += wrap;
                }
                Some(&mut self.answered_within)
            }
            Outcome::Abandoned => {
                self.abandoned += 1;
                Some(&mut self.abandoned_within)
            }
            Outcome::Overflowed => {
                self.overflowed += 1;
                None
            }
            Outcome::Callback => {
                self.callbacks += 1;
                None
            }
            Outcome::Other => {
                self.other += 1;
                None
            }
        };
        if let Some(counts) = within {
            for (count, &t) in counts.iter_mut().zip(thresholds_ms) {
                *count += u64::from(seg.wait_ms <= t);
            }
        }
        self.offered += 1;
        self.max_wait_ms = self.max_wait_ms.max(Some(seg.wait_ms));
        true
    }

    /// Counts a call (a record with a counted segment).
    pub(super) fn add_call(&mut self, repeat: Option<bool>) {
        self.calls += 1;
        self.add_repeat(repeat);
    }

    /// Counts whether a call is a repeat (`None`: an anonymous caller).
    pub(super) fn add_repeat(&mut self, repeat: Option<bool>) {
        if let Some(repeat) = repeat {
            self.repeat_base += 1;
            self.repeat_calls += u64::from(repeat);
        }
    }

    /// Forgets the repeat counts, to count them again.
    pub(super) fn clear_repeats(&mut self) {
        self.repeat_base = 0;
        self.repeat_calls = 0;
    }

    /// Counts a survey answer (scores off the scale are ignored).
    pub(super) fn add_survey(&mut self, answer: &SurveyAnswer) {
        let score = u64::from(answer.score);
        match answer.kind {
            SurveyKind::Csat if (1..=5).contains(&score) => {
                self.csat_answers += 1;
                self.csat_sum += score;
                self.csat_good += u64::from(score >= 4);
            }
            SurveyKind::Nps if score <= 10 => {
                self.nps_answers += 1;
                self.promoters += u64::from(score >= 9);
                self.detractors += u64::from(score <= 6);
            }
            SurveyKind::Csat | SurveyKind::Nps => {}
        }
    }

    /// Counts a QA evaluation (a total off the 0-10 scale is ignored).
    pub(super) fn add_qa(&mut self, score: &QaScore) {
        if (0.0..=10.0).contains(&score.total) {
            self.qa_evaluations += 1;
            self.qa_sum += score.total;
        }
    }

    /// The figures, with the agents' time for occupancy.
    pub(super) fn finish(self, settings: &KpiSettings, times: Times) -> Stats {
        let secs = |ms: u64| ms as f64 / 1000.0;
        let service_level = settings
            .thresholds
            .iter()
            .zip(self.answered_within.iter().zip(&self.abandoned_within))
            .map(|(t, (&aw, &abw))| ServiceLevel {
                threshold_secs: t.as_secs(),
                value: self.service_level(settings.formula, aw, abw),
            })
            .collect();
        let with_secs = |counts: &[u64]| -> Vec<(u64, u64)> {
            settings
                .thresholds
                .iter()
                .map(|t| t.as_secs())
                .zip(counts.iter().copied())
                .collect()
        };
        Stats {
            offered: self.offered,
            answered: self.answered,
            abandoned: self.abandoned,
            short_abandoned: self.short_abandoned,
            overflowed: self.overflowed,
            callbacks_requested: self.callbacks,
            other_ended: self.other,
            waiting: self.waiting,
            answered_within: with_secs(&self.answered_within),
            abandoned_within: with_secs(&self.abandoned_within),
            formula: settings.formula,
            service_level,
            asa_secs: ratio(secs(self.answered_wait_ms), self.answered),
            max_wait_secs: self.max_wait_ms.map(secs),
            abandon_rate: ratio(self.abandoned as f64, self.offered),
            handled: self.handled,
            aht_secs: ratio(secs(self.talk_ms + self.wrap_ms), self.handled),
            talk_secs: ratio(secs(self.talk_ms), self.handled),
            wrap_up_secs: ratio(secs(self.wrap_ms), self.handled),
            occupancy: ratio(times.busy_ms as f64, times.staffed_ms),
            calls: self.calls,
            repeat_base: self.repeat_base,
            repeat_calls: self.repeat_calls,
            repeat_rate: ratio(self.repeat_calls as f64, self.repeat_base),
            csat_answers: self.csat_answers,
            csat: ratio(self.csat_good as f64, self.csat_answers),
            csat_mean: ratio(self.csat_sum as f64, self.csat_answers),
            nps_answers: self.nps_answers,
            nps: ratio(
                100.0 * (self.promoters as f64 - self.detractors as f64),
                self.nps_answers,
            ),
            qa_evaluations: self.qa_evaluations,
            quality_rate: ratio(self.qa_sum / 10.0, self.qa_evaluations),
        }
    }

    fn service_level(&self, formula: SlFormula, aw: u64, abw: u64) -> Option<f64> {
        let (num, den) = match formula {
            SlFormula::AbandonsIgnored => (aw, self.offered - abw),
            SlFormula::AbandonsNegative => (aw, self.offered),
            SlFormula::AbandonsPositive => (aw + abw, self.offered),
            SlFormula::AnsweredOnly => (aw, self.answered),
            SlFormula::AsteriskSl2 => (aw + abw, self.answered + self.abandoned),
        };
        ratio(num as f64, den)
    }
}

fn ratio(num: f64, den: u64) -> Option<f64> {
    (den > 0).then(|| num / den as f64)
}
