//! Days as a contact centre counts them: "today" and a report's dates begin
//! at midnight in the site's time zone (`[site] timezone`), not in UTC.

use chrono::{Days, NaiveDate, TimeZone};
use chrono_tz::Tz;
use queue::Millis;

/// The start of the local day that contains `at`.
pub(crate) fn midnight(tz: Tz, at: Millis) -> Millis {
    let utc = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(i64::try_from(at.0).unwrap_or(i64::MAX))
        .unwrap_or_default();
    start_of(tz, utc.with_timezone(&tz).date_naive()).unwrap_or(at)
}

/// The first moment of `date` in `tz` (a day whose midnight a daylight-saving
/// change skips starts at its first valid time); `None` before 1970.
pub(crate) fn start_of(tz: Tz, date: NaiveDate) -> Option<Millis> {
    let first = (0..24).find_map(|hour| {
        let time = date.and_hms_opt(hour, 0, 0)?;
        tz.from_local_datetime(&time).earliest()
    })?;
    u64::try_from(first.timestamp_millis()).ok().map(Millis)
}

/// The first moment of the day after `date` in `tz`.
pub(crate) fn end_of(tz: Tz, date: NaiveDate) -> Option<Millis> {
    start_of(tz, date.checked_add_days(Days::new(1))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_local_midnight() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        // Madrid is UTC+1 in November: its day starts at 23:00 UTC the day before.
        let madrid = start_of(chrono_tz::Europe::Madrid, date).unwrap();
        assert_eq!(madrid, Millis(1_795_388_400_000));
        assert_eq!(start_of(chrono_tz::UTC, date).unwrap(), Millis(1_795_392_000_000));
        assert_eq!(end_of(chrono_tz::UTC, date).unwrap(), Millis(1_795_478_400_000));
        // 00:30 UTC on the 24th is still the 24th in Madrid, and 23:30 UTC
        // on the 23rd is already the 24th there.
        assert_eq!(
            midnight(chrono_tz::Europe::Madrid, Millis(1_795_480_200_000)),
            Millis(1_795_474_800_000)
        );
        assert_eq!(
            midnight(chrono_tz::Europe::Madrid, Millis(1_795_476_600_000)),
            Millis(1_795_474_800_000)
        );
    }

    #[test]
    fn a_day_that_skips_midnight_starts_at_its_first_hour() {
        // Santiago de Chile springs forward at midnight (2026-09-06 00:00 -> 01:00).
        let date = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        let start = start_of(chrono_tz::America::Santiago, date).unwrap();
        let local = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(start.0 as i64)
            .unwrap()
            .with_timezone(&chrono_tz::America::Santiago);
        assert_eq!(local.date_naive(), date);
    }
}
