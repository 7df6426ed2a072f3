//! Relative times as moment.js 2.x `fromNow()` writes them in English, and when they change.
//!
//! The labels, thresholds and rounding are moment's defaults, reproduced exactly:
//!
//! | elapsed (rounded as moment does)  | label              |
//! |-----------------------------------|--------------------|
//! | 0–44 s                            | a few seconds ago  |
//! | 45–89 s                           | a minute ago       |
//! | 90 s – 44 min                     | N minutes ago      |
//! | 45–89 min                         | an hour ago        |
//! | 90 min – 21 h                     | N hours ago        |
//! | 22–35 h                           | a day ago          |
//! | 36 h – 25 days                    | N days ago         |
//! | 26 days – 1.5 months (≈ 45 days)  | a month ago        |
//! | 1.5–10.5 months                   | N months ago       |
//! | 11–17 months (≈ 320–547 days)     | a year ago         |
//! | 18 months (≈ 548 days) and more   | N years ago        |
//!
//! Future instants read "in a few seconds", "in 5 minutes", … The issue text mentions
//! "yesterday"; moment's `fromNow` says "a day ago" (its "yesterday" belongs to
//! `calendar()`), and this follows moment.
//!
//! Like moment, the elapsed time is split into whole calendar months plus a remainder
//! before rounding, so month- and year-scale labels depend on the calendar; this module
//! uses the UTC calendar (moment uses the viewer's zone, which can only move a label at
//! month scale near a rounding edge). The cross-check against the real package lives in
//! `agent-ui/eval/moment_cases.js`, whose output `moment_cases.tsv` the tests replay.

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Where moment's labels switch, in elapsed milliseconds, below month scale. Above the
/// last one the calendar decides (see [`next_change_in`]).
const A_MINUTE_FROM: i64 = 44_500; // round(s) reaches 45
const MINUTES_FROM: i64 = 90 * SECOND; // round(min) reaches 2
const AN_HOUR_FROM: i64 = 44 * MINUTE + 30 * SECOND; // round(min) reaches 45
const HOURS_FROM: i64 = 90 * MINUTE; // round(h) reaches 2
const A_DAY_FROM: i64 = 21 * HOUR + 30 * MINUTE; // round(h) reaches 22
const DAYS_FROM: i64 = 36 * HOUR; // round(d) reaches 2
const A_MONTH_FROM: i64 = 25 * DAY + 12 * HOUR; // round(d) reaches 26

/// How often month-scale labels are re-checked; they change at most daily.
const MONTH_SCALE_RECHECK: u64 = HOUR as u64;

/// Label for an instant `then_ms` seen at `now_ms` (both Unix epoch milliseconds).
pub fn from_now(then_ms: i64, now_ms: i64) -> String {
    let future = then_ms > now_ms;
    let phrase = phrase(then_ms, now_ms);
    if future {
        format!("in {phrase}")
    } else {
        format!("{phrase} ago")
    }
}

/// Milliseconds from `now_ms` until [`from_now`] would return a different label (at
/// least 1), so a page can schedule its next refresh instead of polling. Exact below
/// month scale; at month scale and beyond it answers at most an hour.
pub fn next_change_in(then_ms: i64, now_ms: i64) -> u64 {
    let elapsed = now_ms.saturating_sub(then_ms);
    let delta = if elapsed >= 0 {
        // Past: the label moves on when elapsed time reaches the next switch point.
        match next_switch_above(elapsed) {
            Some(at) => at - elapsed,
            None => return MONTH_SCALE_RECHECK,
        }
    } else {
        // Future: the label moves on when the remaining time drops below the current
        // bucket; the last one ("in a few seconds") ends when the instant arrives.
        let remaining = elapsed.unsigned_abs().min(i64::MAX as u64) as i64;
        if remaining >= A_MONTH_FROM {
            return MONTH_SCALE_RECHECK.min((remaining - A_MONTH_FROM + 1) as u64);
        }
        match switch_at_or_below(remaining) {
            Some(at) => remaining - at + 1,
            None => remaining,
        }
    };
    u64::try_from(delta.max(1)).unwrap_or(1)
}

/// Smallest switch point strictly above `elapsed`, below month scale.
fn next_switch_above(elapsed: i64) -> Option<i64> {
    Some(match elapsed {
        e if e < A_MINUTE_FROM => A_MINUTE_FROM,
        e if e < MINUTES_FROM => MINUTES_FROM,
        e if e < AN_HOUR_FROM => next_half(e, MINUTE),
        e if e < HOURS_FROM => HOURS_FROM,
        e if e < A_DAY_FROM => next_half(e, HOUR),
        e if e < DAYS_FROM => DAYS_FROM,
        e if e < A_MONTH_FROM => next_half(e, DAY),
        _ => return None,
    })
}

/// Largest switch point at or below `remaining` (None in the first bucket).
fn switch_at_or_below(remaining: i64) -> Option<i64> {
    Some(match remaining {
        r if r < A_MINUTE_FROM => return None,
        r if r < MINUTES_FROM => A_MINUTE_FROM,
        r if r < AN_HOUR_FROM => prev_half(r, MINUTE),
        r if r < HOURS_FROM => AN_HOUR_FROM,
        r if r < A_DAY_FROM => prev_half(r, HOUR),
        r if r < DAYS_FROM => A_DAY_FROM,
        r => prev_half(r, DAY),
    })
}

/// Counts are rounded half-up, so "N units" switches at every (k + ½) units.
fn next_half(x: i64, unit: i64) -> i64 {
    ((x - unit / 2).div_euclid(unit) + 1) * unit + unit / 2
}

fn prev_half(x: i64, unit: i64) -> i64 {
    (x - unit / 2).div_euclid(unit) * unit + unit / 2
}

/// moment's `relativeTime` without the "in"/"ago" wrapper.
fn phrase(then_ms: i64, now_ms: i64) -> String {
    let (earlier, later) = if then_ms > now_ms {
        (now_ms, then_ms)
    } else {
        (then_ms, now_ms)
    };
    // moment's duration between two instants: whole calendar months, then milliseconds.
    let months = calendar_months_between(earlier, later);
    let rest = later.saturating_sub(add_months(earlier, months)) as f64;
    let months = months as f64;

    // Duration#as(unit) for a duration of `months` + `rest` ms, as moment computes it.
    let month_days = js_round(months * 146_097.0 / 4_800.0);
    let seconds = js_round(month_days * 86_400.0 + rest / 1e3);
    let minutes = js_round(month_days * 1_440.0 + rest / 6e4);
    let hours = js_round(month_days * 24.0 + rest / 36e5);
    let days = js_round(month_days + rest / 864e5);
    let total_months = months + (rest / 864e5) * 4_800.0 / 146_097.0;
    let month_count = js_round(total_months);
    let years = js_round(total_months / 12.0);

    // moment's default thresholds: ss 44, s 45, m 45, h 22, d 26, M 11 (w unset). With
    // ss = 44 and s = 45 the "N seconds" bucket is empty, so it is not written out.
    if seconds <= 44.0 {
        "a few seconds".to_owned()
    } else if minutes <= 1.0 {
        "a minute".to_owned()
    } else if minutes < 45.0 {
        format!("{minutes} minutes")
    } else if hours <= 1.0 {
        "an hour".to_owned()
    } else if hours < 22.0 {
        format!("{hours} hours")
    } else if days <= 1.0 {
        "a day".to_owned()
    } else if days < 26.0 {
        format!("{days} days")
    } else if month_count <= 1.0 {
        "a month".to_owned()
    } else if month_count < 11.0 {
        format!("{month_count} months")
    } else if years <= 1.0 {
        "a year".to_owned()
    } else {
        format!("{years} years")
    }
}

/// JavaScript's `Math.round`: halves round towards +∞.
fn js_round(x: f64) -> f64 {
    (x + 0.5).floor()
}

/// Whole calendar months from `earlier` to `later` (moment's `positiveMomentsDifference`).
fn calendar_months_between(earlier: i64, later: i64) -> i64 {
    let (ey, em, _) = civil_from_days(earlier.div_euclid(DAY));
    let (ly, lm, _) = civil_from_days(later.div_euclid(DAY));
    let mut months = (ly - ey) * 12 + (lm - em);
    if add_months(earlier, months) > later {
        months -= 1;
    }
    months
}

/// Adds calendar months, clamping the day to the target month's length as moment does
/// (Jan 31 + 1 month = Feb 28/29), keeping the time of day.
fn add_months(at: i64, months: i64) -> i64 {
    let day = at.div_euclid(DAY);
    let time_of_day = at.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(day);
    let index = y * 12 + (m - 1) + months;
    let (ny, nm) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let nd = d.min(days_in_month(ny, nm));
    days_from_civil(ny, nm, nd)
        .saturating_mul(DAY)
        .saturating_add(time_of_day)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Proleptic Gregorian (year, month 1–12, day 1–31) of a day count since 1970-01-01,
/// using 400-year eras that start on 1 March so the leap day comes last.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // year of era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of March-based year
    let mp = (5 * doy + 2) / 153; // March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-03-15T12:00:00Z: mid-month, so small offsets stay inside one month.
    const NOW: i64 = 1_710_504_000_000;

    fn ago(ms: i64) -> String {
        from_now(NOW - ms, NOW)
    }

    #[test]
    fn seconds_and_minutes() {
        assert_eq!(ago(0), "a few seconds ago");
        assert_eq!(ago(44_499), "a few seconds ago");
        assert_eq!(ago(44_500), "a minute ago"); // 45 s after rounding
        assert_eq!(ago(45 * SECOND), "a minute ago");
        assert_eq!(ago(89_999), "a minute ago");
        assert_eq!(ago(90 * SECOND), "2 minutes ago");
        assert_eq!(ago(5 * MINUTE), "5 minutes ago");
        assert_eq!(ago(44 * MINUTE + 29_999), "44 minutes ago");
    }

    #[test]
    fn hours_and_days() {
        assert_eq!(ago(45 * MINUTE), "an hour ago");
        assert_eq!(ago(89 * MINUTE), "an hour ago");
        assert_eq!(ago(90 * MINUTE), "2 hours ago");
        assert_eq!(ago(21 * HOUR), "21 hours ago");
        assert_eq!(ago(22 * HOUR), "a day ago"); // moment says "a day ago", not "yesterday"
        assert_eq!(ago(35 * HOUR), "a day ago");
        assert_eq!(ago(36 * HOUR), "2 days ago");
        assert_eq!(ago(25 * DAY), "25 days ago");
    }

    #[test]
    fn months_and_years() {
        assert_eq!(ago(26 * DAY), "a month ago");
        assert_eq!(ago(45 * DAY), "a month ago");
        assert_eq!(ago(100 * DAY), "3 months ago");
        assert_eq!(ago(300 * DAY), "10 months ago");
        // Eleven months rounds to a year.
        assert_eq!(ago(11 * 30 * DAY + 12 * HOUR), "a year ago");
        // Year-scale edges depend on the calendar: from mid-March 2024, 320 days back is
        // still "10 months" and 547 days already "2 years" (moment agrees).
        assert_eq!(ago(320 * DAY), "10 months ago");
        assert_eq!(ago(330 * DAY), "a year ago");
        assert_eq!(ago(540 * DAY), "a year ago");
        assert_eq!(ago(547 * DAY), "2 years ago");
        assert_eq!(ago(3_650 * DAY), "10 years ago");
    }

    #[test]
    fn future() {
        assert_eq!(from_now(NOW + 1, NOW), "in a few seconds");
        assert_eq!(from_now(NOW + 5 * MINUTE, NOW), "in 5 minutes");
        assert_eq!(from_now(NOW + 45 * SECOND, NOW), "in a minute");
        assert_eq!(from_now(NOW + 22 * HOUR, NOW), "in a day");
        assert_eq!(from_now(NOW + 26 * DAY, NOW), "in a month");
        assert_eq!(from_now(NOW + 400 * DAY, NOW), "in a year");
    }

    #[test]
    fn calendar_months_clamp_like_moment() {
        // 2023-01-31T00:00Z + 1 month = 2023-02-28.
        let jan31 = days_from_civil(2023, 1, 31) * DAY;
        assert_eq!(add_months(jan31, 1), days_from_civil(2023, 2, 28) * DAY);
        assert_eq!(
            calendar_months_between(jan31, days_from_civil(2023, 3, 17) * DAY),
            1
        );
        // 45 days across a short February rounds up to 2 months, as in moment.
        assert_eq!(
            from_now(jan31, days_from_civil(2023, 3, 17) * DAY),
            "2 months ago"
        );
    }

    #[test]
    fn civil_round_trip() {
        for day in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn next_change_lands_on_the_switch() {
        for elapsed in [
            0,
            1,
            44_499,
            44_500,
            60_000,
            89_999,
            90_000,
            4 * MINUTE,
            20 * HOUR,
            3 * DAY,
        ] {
            for then in [NOW - elapsed, NOW + elapsed + 1] {
                let delta = i64::try_from(next_change_in(then, NOW)).unwrap_or(i64::MAX);
                let label = from_now(then, NOW);
                assert_eq!(from_now(then, NOW + delta - 1), label, "{elapsed} {then}");
                assert_ne!(from_now(then, NOW + delta), label, "{elapsed} {then}");
            }
        }
        assert_eq!(next_change_in(NOW - 100 * DAY, NOW), MONTH_SCALE_RECHECK);
    }

    /// Replays labels produced by moment 2.30.1 itself (see `eval/moment_cases.js`).
    #[test]
    fn agrees_with_moment() {
        let cases = include_str!("../eval/moment_cases.tsv");
        let mut checked = 0;
        for line in cases.lines().filter(|l| !l.starts_with('#')) {
            let mut f = line.split('\t');
            let (Some(then), Some(now), Some(expected)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let (Ok(then), Ok(now)) = (then.parse::<i64>(), now.parse::<i64>()) else {
                panic!("bad case line: {line}");
            };
            assert_eq!(from_now(then, now), expected, "then={then} now={now}");
            checked += 1;
        }
        assert!(checked > 1_000, "only {checked} cases");
    }
}
