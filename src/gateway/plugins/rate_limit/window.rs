//! Fixed rate-limit windows aligned to the UTC calendar, as Kong's `timestamp.get_timestamps`
//! computes them: second, minute at :00, hour, day at midnight, month on the 1st, year on Jan 1.
//!
//! Windows are computed from the stack's wall time, so a clock jump ("60 seconds pass") moves
//! a request into the next window exactly as real time would.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::gateway::RatePeriod;

const MINUTE: u64 = 60;
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

/// One calendar-aligned window `[start, end)`, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub period: RatePeriod,
    pub start: u64,
    pub end: u64,
}

impl Window {
    /// The window of `period` that contains second `now` (Unix seconds).
    pub fn containing(period: RatePeriod, now: u64) -> Window {
        let (start, end) = match period {
            RatePeriod::Second => (now, now + 1),
            RatePeriod::Minute => aligned(now, MINUTE),
            RatePeriod::Hour => aligned(now, HOUR),
            RatePeriod::Day => aligned(now, DAY),
            RatePeriod::Month => {
                let (y, m, _) = civil_from_days(now / DAY);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (
                    days_from_civil(y, m, 1) * DAY,
                    days_from_civil(ny, nm, 1) * DAY,
                )
            }
            RatePeriod::Year => {
                let (y, _, _) = civil_from_days(now / DAY);
                (
                    days_from_civil(y, 1, 1) * DAY,
                    days_from_civil(y + 1, 1, 1) * DAY,
                )
            }
        };
        Window { period, start, end }
    }

    /// Seconds until this window ends, seen from `now`, at least 1 (Kong's
    /// `max(1, window - elapsed)`). Kong uses a nominal 30-day month and 365-day year here;
    /// Gauntlet uses the real calendar end of the window, which is the same for every period up
    /// to a day and truthful for months and leap years.
    pub fn reset_after(&self, now: u64) -> u64 {
        self.end.saturating_sub(now).max(1)
    }
}

/// Whole Unix seconds of `now`, as Kong's `ngx.time()` (a time before the epoch counts as 0).
pub fn unix_seconds(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn aligned(now: u64, len: u64) -> (u64, u64) {
    let start = now - now % len;
    (start, start + len)
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// (year ≥ 1970, month, day) → days since 1970-01-01 (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-29T13:45:30Z, a leap day.
    const LEAP_DAY: u64 = 1_709_214_330;

    #[test]
    fn windows_align_to_the_utc_calendar() {
        let w = |p| Window::containing(p, LEAP_DAY);
        assert_eq!(w(RatePeriod::Second).start, LEAP_DAY);
        assert_eq!(w(RatePeriod::Second).end, LEAP_DAY + 1);
        assert_eq!(w(RatePeriod::Minute).start, 1_709_214_300); // 13:45:00
        assert_eq!(w(RatePeriod::Hour).start, 1_709_211_600); // 13:00:00
        assert_eq!(w(RatePeriod::Day).start, 1_709_164_800); // 2024-02-29
        assert_eq!(w(RatePeriod::Day).end, 1_709_251_200); // 2024-03-01
        assert_eq!(w(RatePeriod::Month).start, 1_706_745_600); // 2024-02-01
        assert_eq!(w(RatePeriod::Month).end, 1_709_251_200); // 2024-03-01
        assert_eq!(w(RatePeriod::Year).start, 1_704_067_200); // 2024-01-01
        assert_eq!(w(RatePeriod::Year).end, 1_735_689_600); // 2025-01-01
    }

    #[test]
    fn december_month_window_ends_on_the_next_new_year() {
        let dec_31 = 1_735_603_200 + 12 * HOUR; // 2024-12-31T12:00:00Z
        let w = Window::containing(RatePeriod::Month, dec_31);
        assert_eq!(w.start, 1_733_011_200); // 2024-12-01
        assert_eq!(w.end, 1_735_689_600); // 2025-01-01
    }

    #[test]
    fn calendar_conversion_round_trips_over_centuries() {
        for days in (0..200_000).step_by(17) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn reset_counts_seconds_to_the_window_end_and_is_at_least_one() {
        let minute = Window::containing(RatePeriod::Minute, 120);
        assert_eq!(minute.reset_after(120), 60);
        assert_eq!(minute.reset_after(179), 1);
        assert_eq!(minute.reset_after(500), 1);
        assert_eq!(Window::containing(RatePeriod::Second, 7).reset_after(7), 1);
    }

    #[test]
    fn time_before_the_epoch_counts_as_zero() {
        let before = UNIX_EPOCH - std::time::Duration::from_secs(5);
        assert_eq!(unix_seconds(before), 0);
    }
}
