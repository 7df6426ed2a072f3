//! How Twilio writes the values the simulator makes up: resource SIDs,
//! RFC 2822 dates, SMS segment counts (`segments.rs`) and the country of a
//! phone number.
//!
//! Clients parse these, so they follow Twilio's shapes rather than whatever
//! would be most convenient here.

/// The API version Twilio puts in every payload.
pub const API_VERSION: &str = "2010-04-01";

/// A new SID: the two-letter resource prefix (`SM`, `PN`, …) and 32 lowercase
/// hex digits.
pub fn new_sid(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// Twilio's segment count (in its own file, which the fuzz target compiles).
pub use super::segments::num_segments;

/// Milliseconds since the Unix epoch: the switchboard's clock.
pub use switchboard::clock::now_ms;

/// Twilio's date format, e.g. `Wed, 18 Aug 2010 20:01:40 +0000`.
pub fn rfc2822(ms: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms / 1000;
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[((days + 4) % 7) as usize];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Proleptic Gregorian (year, month 1–12, day 1–31) of a day count since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`, non-negative days only).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// ISO country code Twilio reports for an E.164 number, from its calling
/// code. A small table: enough for realistic demos, not a numbering plan.
pub fn country_of(number: &str) -> Option<&'static str> {
    const CALLING_CODES: &[(&str, &str)] = &[
        ("+1", "US"),
        ("+27", "ZA"),
        ("+31", "NL"),
        ("+32", "BE"),
        ("+33", "FR"),
        ("+34", "ES"),
        ("+353", "IE"),
        ("+39", "IT"),
        ("+41", "CH"),
        ("+43", "AT"),
        ("+44", "GB"),
        ("+45", "DK"),
        ("+46", "SE"),
        ("+47", "NO"),
        ("+48", "PL"),
        ("+49", "DE"),
        ("+52", "MX"),
        ("+55", "BR"),
        ("+61", "AU"),
        ("+64", "NZ"),
        ("+65", "SG"),
        ("+81", "JP"),
        ("+82", "KR"),
        ("+86", "CN"),
        ("+91", "IN"),
    ];
    CALLING_CODES
        .iter()
        .filter(|(code, _)| number.starts_with(code))
        .max_by_key(|(code, _)| code.len())
        .map(|(_, country)| *country)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_have_twilios_shape() {
        let sid = new_sid("SM");
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("SM"));
        assert!(sid[2..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_ne!(sid, new_sid("SM"));
    }

    #[test]
    fn dates_match_twilios_format() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc2822(1_282_161_700_000),
            "Wed, 18 Aug 2010 20:01:40 +0000"
        );
        assert_eq!(rfc2822(951_782_400_999), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn countries_by_longest_calling_code() {
        assert_eq!(country_of("+15551230001"), Some("US"));
        assert_eq!(country_of("+447700900123"), Some("GB"));
        assert_eq!(country_of("+353851234567"), Some("IE"));
        assert_eq!(country_of("+999123"), None);
    }
}
