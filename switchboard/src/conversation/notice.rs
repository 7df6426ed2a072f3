//! Automatic texts to a waiting customer, so nobody waits in silence: their
//! place in the queue when no agent can take them (and once more if the
//! wait grows long), and outside business hours when the team is back.
//!
//! Pure rules over data: the router decides *when* (a new conversation left
//! in the queue, its timer tick), these functions decide *whether* and
//! *what*. Each notice is stored as an outbound message of the conversation
//! by the agent name [`AUTHOR`], so it goes through the same reply rules
//! (an opted-out customer is never texted), the outbox (sent once), and it
//! shows in the agents' timeline. Its client id names the waiting period,
//! so a notice decided again after a restart is absorbed by reply dedupe.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use std::time::Duration;
use switchboard_protocol::ConversationId;

/// The name automatic texts are stored under (never an agent's: `AGENTS`
/// refuses it); the protocol's, so agents' clients can tell them apart.
pub const AUTHOR: &str = switchboard_protocol::AUTOMATIC_AUTHOR;

/// Which automatic texts are on, and their wording.
#[derive(Debug, Clone, Default)]
pub struct NoticeSettings {
    /// The queue-position text; `None`: off.
    pub queue: Option<QueueNotice>,
    /// The after-hours text; `None`: always open.
    pub after_hours: Option<AfterHours>,
}

/// The queue-position texts. `{position}` is replaced by the customer's
/// place in the queue (1 = next).
#[derive(Debug, Clone)]
pub struct QueueNotice {
    pub text: String,
    /// Sent once if the customer is still queued this long after the first.
    pub update_after: Option<Duration>,
    pub update_text: String,
}

/// The after-hours text. `{back}` is replaced by when the team is back
/// (e.g. "Monday 09:00 (Europe/Berlin)").
#[derive(Debug, Clone)]
pub struct AfterHours {
    pub hours: BusinessHours,
    pub text: String,
}

/// Opening hours per weekday in one time zone. A day without hours is
/// closed; hours never span midnight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    /// Monday first.
    days: [Option<(NaiveTime, NaiveTime)>; 7],
    tz: Tz,
}

/// A `BUSINESS_HOURS` / `BUSINESS_TZ` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HoursError(String);

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL_DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Monday = 0, from `Mon` or `Monday` (any case).
fn day_index(word: &str) -> Result<usize, HoursError> {
    let w = word.trim().to_ascii_lowercase();
    DAYS.iter()
        .zip(FULL_DAYS)
        .position(|(short, full)| w == *short || w == full)
        .ok_or_else(|| HoursError(format!("`{word}` is not a weekday (Mon … Sun)")))
}

fn time_of(word: &str) -> Result<NaiveTime, HoursError> {
    let w = word.trim();
    if w == "24:00" {
        // The end of the day, as people write it.
        return Ok(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN));
    }
    NaiveTime::parse_from_str(w, "%H:%M")
        .map_err(|_| HoursError(format!("`{w}` is not a time like 09:00")))
}

impl BusinessHours {
    /// Parses e.g. `Mon-Fri 09:00-17:00, Sat 10:00-14:00` in time zone `tz`
    /// (an IANA name such as `Europe/Berlin`). Later entries override
    /// earlier ones for the same day.
    pub fn parse(spec: &str, tz: &str) -> Result<Self, HoursError> {
        let tz: Tz = tz.trim().parse().map_err(|_| {
            HoursError(format!(
                "`{tz}` is not an IANA time zone (e.g. Europe/Berlin)"
            ))
        })?;
        let mut days = [None; 7];
        let mut any = false;
        for entry in spec
            .split([',', ';'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (day_part, time_part) = entry.split_once(char::is_whitespace).ok_or_else(|| {
                HoursError(format!(
                    "`{entry}`: expected days and hours, like `Mon-Fri 09:00-17:00`"
                ))
            })?;
            let (from_day, to_day) = match day_part.split_once('-') {
                Some((a, b)) => (day_index(a)?, day_index(b)?),
                None => (day_index(day_part)?, day_index(day_part)?),
            };
            let (open, close) = time_part
                .trim()
                .split_once('-')
                .ok_or_else(|| HoursError(format!("`{entry}`: expected hours like 09:00-17:00")))?;
            let (open, close) = (time_of(open)?, time_of(close)?);
            if open >= close {
                return Err(HoursError(format!(
                    "`{entry}`: opens at or after it closes (hours cannot span midnight)"
                )));
            }
            // Mon-Fri, or a wrapping range such as Fri-Mon.
            let mut d = from_day;
            loop {
                days[d] = Some((open, close));
                if d == to_day {
                    break;
                }
                d = (d + 1) % 7;
            }
            any = true;
        }
        if !any {
            return Err(HoursError("no opening hours given".into()));
        }
        Ok(Self { days, tz })
    }

    fn local(&self, at_ms: u64) -> DateTime<Tz> {
        let utc = DateTime::from_timestamp_millis(i64::try_from(at_ms).unwrap_or(i64::MAX))
            .unwrap_or_default();
        utc.with_timezone(&self.tz)
    }

    /// Whether the team is in at `at_ms` (Unix milliseconds).
    pub fn is_open(&self, at_ms: u64) -> bool {
        let local = self.local(at_ms);
        let day = local.weekday().num_days_from_monday() as usize;
        self.days[day].is_some_and(|(open, close)| {
            let t = local.time();
            t >= open && t < close
        })
    }

    /// When the team is next in, after `at_ms`, in words: "Monday 09:00
    /// (Europe/Berlin)" (or "today 14:00 (…)", "tomorrow 09:00 (…)").
    pub fn back_at(&self, at_ms: u64) -> String {
        let local = self.local(at_ms);
        for ahead in 0..8i64 {
            let date = local.date_naive() + ChronoDuration::days(ahead);
            let day = date.weekday().num_days_from_monday() as usize;
            let Some((open, close)) = self.days[day] else {
                continue;
            };
            let candidate = self
                .tz
                .from_local_datetime(&date.and_time(open))
                .earliest()
                // Opening falls into a DST gap: the hour after it.
                .or_else(|| {
                    self.tz
                        .from_local_datetime(&(date.and_time(open) + ChronoDuration::hours(1)))
                        .earliest()
                });
            let Some(candidate) = candidate else { continue };
            if ahead == 0 && local.time() >= close {
                continue;
            }
            if candidate <= local && ahead == 0 {
                // Open right now (a caller asks only when closed; be total).
                return format!("now ({})", self.tz.name());
            }
            let when = match ahead {
                0 => "today".to_string(),
                1 => "tomorrow".to_string(),
                _ => weekday_name(date.weekday()).to_string(),
            };
            return format!("{when} {} ({})", open.format("%H:%M"), self.tz.name());
        }
        // parse() guarantees at least one open day, so this is unreachable.
        "soon".to_string()
    }
}

fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Which automatic text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Your place in the queue.
    Queue,
    /// Still waiting: your place now.
    QueueUpdate,
    /// We are closed; back at …
    AfterHours,
}

/// One automatic text, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// Its reply client id: the kind and the waiting period, so deciding
    /// it again (after a restart) stores it once.
    pub client_id: String,
    pub body: String,
}

/// What to text a customer whose new conversation was left in the queue
/// (no agent could take it) at `at_ms`, waiting since `since_ms`, at
/// `position` (1 = next). Outside business hours: when the team is back;
/// else, if queue notices are on: their place.
pub fn on_queued(
    settings: &NoticeSettings,
    conversation: &ConversationId,
    since_ms: u64,
    at_ms: u64,
    position: usize,
) -> Option<Notice> {
    if let Some(after) = &settings.after_hours {
        if !after.hours.is_open(at_ms) {
            return Some(Notice {
                kind: NoticeKind::AfterHours,
                client_id: format!("notice/after-hours/{conversation}/{since_ms}"),
                body: after.text.replace("{back}", &after.hours.back_at(at_ms)),
            });
        }
    }
    let queue = settings.queue.as_ref()?;
    Some(Notice {
        kind: NoticeKind::Queue,
        client_id: format!("notice/queue/{conversation}/{since_ms}"),
        body: queue.text.replace("{position}", &position.to_string()),
    })
}

/// The one update for a customer who got the queue text and is still
/// queued at `position` at `at_ms`, waiting since `since_ms`; `None` until
/// the wait has grown past the threshold (or when updates are off).
pub fn update(
    settings: &NoticeSettings,
    conversation: &ConversationId,
    since_ms: u64,
    at_ms: u64,
    position: usize,
) -> Option<Notice> {
    let queue = settings.queue.as_ref()?;
    let after = queue.update_after?;
    if at_ms.saturating_sub(since_ms) < after.as_millis() as u64 {
        return None;
    }
    Some(Notice {
        kind: NoticeKind::QueueUpdate,
        client_id: format!("notice/queue-update/{conversation}/{since_ms}"),
        body: queue
            .update_text
            .replace("{position}", &position.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a UTC date and time.
    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> u64 {
        chrono::Utc
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .map(|t| t.timestamp_millis() as u64)
            .unwrap_or_default()
    }

    fn weekdays_9_to_5(tz: &str) -> BusinessHours {
        BusinessHours::parse("Mon-Fri 09:00-17:00", tz).expect("valid hours")
    }

    fn settings(queue: bool, hours: Option<BusinessHours>) -> NoticeSettings {
        NoticeSettings {
            queue: queue.then(|| QueueNotice {
                text: "You are number {position} in line.".into(),
                update_after: Some(Duration::from_secs(600)),
                update_text: "Still there: now number {position}.".into(),
            }),
            after_hours: hours.map(|hours| AfterHours {
                hours,
                text: "We are closed. Back {back}.".into(),
            }),
        }
    }

    #[test]
    fn hours_parse_ranges_single_days_and_overrides() {
        let h = BusinessHours::parse(
            "Mon-Fri 09:00-17:00; Sat 10:00-14:00, fri 09:00-15:00",
            "UTC",
        )
        .expect("valid");
        // 2026-12-07 is a Monday.
        assert!(h.is_open(utc(2026, 12, 7, 9, 0)));
        assert!(!h.is_open(utc(2026, 12, 7, 8, 59)));
        assert!(
            !h.is_open(utc(2026, 12, 7, 17, 0)),
            "closing time is closed"
        );
        assert!(h.is_open(utc(2026, 12, 11, 14, 59)), "Friday until 15:00");
        assert!(
            !h.is_open(utc(2026, 12, 11, 15, 30)),
            "the later Friday entry wins"
        );
        assert!(h.is_open(utc(2026, 12, 12, 10, 0)), "Saturday");
        assert!(!h.is_open(utc(2026, 12, 13, 12, 0)), "Sunday is closed");
        let wrap = BusinessHours::parse("Fri-Mon 10:00-12:00", "UTC").expect("valid");
        assert!(
            wrap.is_open(utc(2026, 12, 13, 11, 0)),
            "Sunday inside Fri-Mon"
        );
        assert!(
            !wrap.is_open(utc(2026, 12, 9, 11, 0)),
            "Wednesday outside it"
        );
    }

    #[test]
    fn bad_hours_are_refused_with_a_reason() {
        for (spec, tz, needle) in [
            ("Mon-Fri 09:00-17:00", "Mars/Olympus", "time zone"),
            ("Moonday 09:00-17:00", "UTC", "weekday"),
            ("Mon 9-17", "UTC", "time"),
            ("Mon 17:00-09:00", "UTC", "midnight"),
            ("Mon", "UTC", "expected days and hours"),
            ("", "UTC", "no opening hours"),
        ] {
            let err = BusinessHours::parse(spec, tz).expect_err(spec).to_string();
            assert!(err.contains(needle), "{spec}: {err}");
        }
    }

    #[test]
    fn hours_follow_the_time_zone_and_its_summer_time() {
        let berlin = weekdays_9_to_5("Europe/Berlin");
        // Winter: UTC+1. 08:30 UTC on a Monday is 09:30 in Berlin.
        assert!(berlin.is_open(utc(2026, 12, 7, 8, 30)));
        assert!(!berlin.is_open(utc(2026, 12, 7, 16, 30)), "17:30 in Berlin");
        // Summer: UTC+2. 07:30 UTC is 09:30.
        assert!(berlin.is_open(utc(2026, 7, 6, 7, 30)));
    }

    #[test]
    fn back_at_names_the_next_opening() {
        let h = weekdays_9_to_5("UTC");
        assert_eq!(h.back_at(utc(2026, 12, 7, 7, 0)), "today 09:00 (UTC)");
        assert_eq!(h.back_at(utc(2026, 12, 7, 18, 0)), "tomorrow 09:00 (UTC)");
        assert_eq!(
            h.back_at(utc(2026, 12, 11, 18, 0)),
            "Monday 09:00 (UTC)",
            "Friday evening"
        );
        assert_eq!(
            h.back_at(utc(2026, 12, 12, 12, 0)),
            "Monday 09:00 (UTC)",
            "Saturday"
        );
        let berlin = weekdays_9_to_5("Europe/Berlin");
        assert_eq!(
            berlin.back_at(utc(2026, 12, 11, 23, 30)),
            "Monday 09:00 (Europe/Berlin)"
        );
    }

    #[test]
    fn a_queued_customer_hears_their_place_or_when_the_team_is_back() {
        let c: ConversationId = "+15550001".into();
        let monday_10 = utc(2026, 12, 7, 10, 0);
        let monday_20 = utc(2026, 12, 7, 20, 0);
        let both = settings(true, Some(weekdays_9_to_5("UTC")));
        assert_eq!(
            on_queued(&both, &c, 5, monday_10, 3),
            Some(Notice {
                kind: NoticeKind::Queue,
                client_id: "notice/queue/+15550001/5".into(),
                body: "You are number 3 in line.".into()
            })
        );
        assert_eq!(
            on_queued(&both, &c, 5, monday_20, 3),
            Some(Notice {
                kind: NoticeKind::AfterHours,
                client_id: "notice/after-hours/+15550001/5".into(),
                body: "We are closed. Back tomorrow 09:00 (UTC).".into()
            }),
            "after hours takes precedence"
        );
        let hours_only = settings(false, Some(weekdays_9_to_5("UTC")));
        assert_eq!(
            on_queued(&hours_only, &c, 5, monday_10, 1),
            None,
            "open, queue texts off"
        );
        assert!(on_queued(&hours_only, &c, 5, monday_20, 1).is_some());
        assert_eq!(
            on_queued(&NoticeSettings::default(), &c, 5, monday_20, 1),
            None,
            "all off"
        );
    }

    #[test]
    fn the_update_comes_once_the_wait_passed_the_threshold() {
        let c: ConversationId = "+15550001".into();
        let s = settings(true, None);
        let since = 1_000_000;
        assert_eq!(update(&s, &c, since, since + 599_999, 2), None);
        let n = update(&s, &c, since, since + 600_000, 2).expect("due");
        assert_eq!(n.body, "Still there: now number 2.");
        assert_eq!(n.client_id, "notice/queue-update/+15550001/1000000");
        let mut off = s.clone();
        if let Some(q) = off.queue.as_mut() {
            q.update_after = None;
        }
        assert_eq!(update(&off, &c, since, since + 10_000_000, 2), None);
    }
}
