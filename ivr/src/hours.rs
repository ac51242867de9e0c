//! Business hours: a weekly schedule with holidays in an IANA time zone.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

/// An opening interval within a day, in minutes from midnight: `start <= m < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// First minute open.
    pub start: u16,
    /// First minute closed again (up to 1440).
    pub end: u16,
}

/// A day that does not follow the weekly schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    /// Year, or `None` for every year (`MM-DD`).
    pub year: Option<i32>,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of month.
    pub day: u32,
    /// Opening hours that day; empty means closed all day.
    pub hours: Vec<Interval>,
}

/// When a queue is open.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Time zone the hours are in.
    pub timezone: Tz,
    /// Opening intervals per weekday, Monday first.
    pub weekly: [Vec<Interval>; 7],
    /// Exceptions.
    pub holidays: Vec<Holiday>,
}

impl Schedule {
    /// Whether it is open at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.timezone);
        let date = local.date_naive();
        let minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0);
        let intervals = match self.holiday(date) {
            Some(h) => &h.hours,
            None => &self.weekly[local.weekday().num_days_from_monday() as usize],
        };
        intervals.iter().any(|i| i.start <= minute && minute < i.end)
    }

    fn holiday(&self, date: NaiveDate) -> Option<&Holiday> {
        // A dated holiday wins over a yearly one.
        let matches = |h: &&Holiday| h.month == date.month() && h.day == date.day();
        self.holidays
            .iter()
            .filter(matches)
            .find(|h| h.year == Some(date.year()))
            .or_else(|| self.holidays.iter().filter(matches).find(|h| h.year.is_none()))
    }
}

/// Parses `HH:MM-HH:MM` (end may be `24:00`).
pub(crate) fn parse_interval(text: &str) -> Result<Interval, String> {
    let bad = || format!("`{text}` is not an interval like `09:00-18:00`");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let start = parse_hhmm(a.trim()).ok_or_else(bad)?;
    let end = parse_hhmm(b.trim()).ok_or_else(bad)?;
    if start >= end {
        return Err(format!("interval `{text}` ends before it starts"));
    }
    Ok(Interval { start, end })
}

fn parse_hhmm(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// Parses `YYYY-MM-DD` or `MM-DD` (every year).
pub(crate) fn parse_holiday_date(text: &str) -> Result<(Option<i32>, u32, u32), String> {
    let bad = || format!("`{text}` is not a date like `2026-12-25` or `12-25`");
    let parts: Vec<&str> = text.split('-').collect();
    match parts.as_slice() {
        [y, m, d] => {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?;
            let _ = (y, m, d);
            Ok((Some(date.year()), date.month(), date.day()))
        }
        [m, d] => {
            let m: u32 = m.parse().map_err(|_| bad())?;
            let d: u32 = d.parse().map_err(|_| bad())?;
            // 2024 is a leap year, so 02-29 is accepted.
            NaiveDate::from_ymd_opt(2024, m, d).ok_or_else(bad)?;
            Ok((None, m, d))
        }
        _ => Err(bad()),
    }
}

/// Day names accepted under `weekly:`, Monday first.
pub(crate) const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid test time")
    }

    fn schedule() -> Schedule {
        let nine_to_six = vec![Interval {
            start: 9 * 60,
            end: 18 * 60,
        }];
        Schedule {
            timezone: chrono_tz::Europe::Madrid,
            weekly: [
                nine_to_six.clone(),
                nine_to_six.clone(),
                nine_to_six.clone(),
                nine_to_six.clone(),
                nine_to_six,
                Vec::new(),
                Vec::new(),
            ],
            holidays: vec![
                Holiday {
                    year: None,
                    month: 12,
                    day: 25,
                    hours: Vec::new(),
                },
                Holiday {
                    year: Some(2026),
                    month: 12,
                    day: 24,
                    hours: vec![Interval {
                        start: 9 * 60,
                        end: 14 * 60,
                    }],
                },
            ],
        }
    }

    #[test]
    fn weekly_hours_in_the_time_zone() {
        let s = schedule();
        // Tuesday 2026-03-03 08:30 UTC is 09:30 in Madrid (CET, +1).
        assert!(s.is_open(at(2026, 3, 3, 8, 30)));
        assert!(!s.is_open(at(2026, 3, 3, 7, 30)));
        // Summer time (+2): 16:30 UTC is 18:30 local, closed.
        assert!(!s.is_open(at(2026, 7, 7, 16, 30)));
        assert!(s.is_open(at(2026, 7, 7, 15, 30)));
        // Saturday.
        assert!(!s.is_open(at(2026, 3, 7, 10, 0)));
    }

    #[test]
    fn holidays_override_the_week() {
        let s = schedule();
        // Friday 2026-12-25: yearly holiday.
        assert!(!s.is_open(at(2026, 12, 25, 10, 0)));
        // Thursday 2026-12-24: short day.
        assert!(s.is_open(at(2026, 12, 24, 10, 0)));
        assert!(!s.is_open(at(2026, 12, 24, 14, 0)));
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_interval("09:00-24:00"), Ok(Interval { start: 540, end: 1440 }));
        assert!(parse_interval("18:00-09:00").is_err());
        assert!(parse_interval("9-5").is_err());
        assert!(parse_interval("25:00-26:00").is_err());
        assert_eq!(parse_holiday_date("12-25"), Ok((None, 12, 25)));
        assert_eq!(parse_holiday_date("2026-01-06"), Ok((Some(2026), 1, 6)));
        assert!(parse_holiday_date("2026-02-30").is_err());
        assert!(parse_holiday_date("13-01").is_err());
    }
}
