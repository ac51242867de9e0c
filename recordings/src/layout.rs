//! Where recordings live: `<root>/<YYYY>/<MM>/<DD>/<queue or flow>/<call id>.wav`,
//! the sidecar beside it. The date is the caller's to choose (the centre's
//! local day, from its time zone); [`Date::from_unix_ms`] gives the UTC day.
//! Every component is sanitised, so no queue name or call id can climb out
//! of the root or hide a file.

use std::path::{Path, PathBuf};

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day, 1 to 31.
    pub day: u8,
}

impl Date {
    /// The UTC day of a Unix time in milliseconds.
    pub fn from_unix_ms(ms: u64) -> Date {
        // Howard Hinnant's civil_from_days.
        let days = (ms / 86_400_000) as i64;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Longest component kept, in bytes.
const MAX_COMPONENT: usize = 120;

/// A string made safe as one path component: letters, digits and `-_.@+`
/// are kept, anything else becomes `_`; leading dots become `_` (no `..`,
/// no hidden files); empty becomes `_`; at most 120 bytes.
pub fn sanitise(component: &str) -> String {
    let mut out: String = component
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_COMPONENT)
        .collect();
    let dots = out.len() - out.trim_start_matches('.').len();
    out.replace_range(..dots, &"_".repeat(dots));
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// The WAV path of a call's recording:
/// `<root>/<YYYY>/<MM>/<DD>/<group>/<call id>.wav`, where `group` is the
/// queue or flow it was recorded for. A folder per level keeps directories
/// small and lets a day, month or year be archived or removed as one.
pub fn recording_path(root: &Path, date: Date, group: &str, call_id: &str) -> PathBuf {
    root.join(format!("{:04}", date.year))
        .join(format!("{:02}", date.month))
        .join(format!("{:02}", date.day))
        .join(sanitise(group))
        .join(format!("{}.wav", sanitise(call_id)))
}

/// Where the mono mix of `wav` lives, when one is written: `<call id>.mix.wav`
/// beside it.
pub fn mono_mix_path(wav: &Path) -> PathBuf {
    wav.with_extension("mix.wav")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(Date::from_unix_ms(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_unix_ms(951_782_400_000).to_string(), "2000-02-29");
        assert_eq!(Date::from_unix_ms(1_709_251_199_999).to_string(), "2024-02-29");
        assert_eq!(Date::from_unix_ms(1_735_689_600_000).to_string(), "2025-01-01");
    }

    #[test]
    fn components_cannot_escape() {
        assert_eq!(sanitise("../../etc/passwd"), "___.._etc_passwd");
        assert_eq!(sanitise(".hidden"), "_hidden");
        assert_eq!(sanitise(""), "_");
        assert_eq!(sanitise("a3f9@10.0.0.1"), "a3f9@10.0.0.1");
        assert_eq!(sanitise("sales queue/é"), "sales_queue__");
        assert_eq!(sanitise(&"x".repeat(500)).len(), 120);
        let p = recording_path(Path::new("/rec"), Date::from_unix_ms(0), "..", "../x");
        assert_eq!(p, Path::new("/rec/1970/01/01/__/___x.wav"));
    }

    #[test]
    fn the_mix_is_beside_the_file() {
        let wav = recording_path(Path::new("/rec"), Date::from_unix_ms(0), "sales", "a3f9-r1");
        assert_eq!(mono_mix_path(&wav), Path::new("/rec/1970/01/01/sales/a3f9-r1.mix.wav"));
    }
}
