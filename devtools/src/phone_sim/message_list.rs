//! `GET /2010-04-01/Accounts/{AccountSid}/Messages.json`: Twilio's Messages
//! list, which the switchboard's outbox reads after a crash to learn whether
//! a reply it may have POSTed reached Twilio.
//!
//! As Twilio does it: filters `To`, `From` and `DateSent` / `DateSent<` /
//! `DateSent>` (on, on or before, on or after a UTC day; a message not yet
//! sent has no `date_sent` and matches no date filter), newest first, pages
//! of `PageSize` (default 50, at most 1000) linked by `next_page_uri`, whose
//! `PageToken` names the last message of the page before, so messages that
//! arrive meanwhile neither shift nor repeat later pages.

use super::auth::TwilioAuth;
use super::errors::TwilioError;
use super::state::{AppState, SimMessage};
use super::twilio_api::{ensure_account, message_resource};
use super::twilio_format::API_VERSION;
use axum::extract::{Path, RawQuery, State};
use axum::http::Uri;
use axum::Json;
use serde_json::{json, Value};

/// Twilio's page size when none is asked for, and its maximum.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;
const MS_PER_DAY: u64 = 86_400_000;

/// The list's query, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub to: Option<String>,
    pub from: Option<String>,
    /// UTC day numbers (days since 1970-01-01), inclusive.
    pub sent_from_day: Option<u64>,
    pub sent_to_day: Option<u64>,
    pub page_size: usize,
    /// The page index the client asks for (only echoed back).
    pub page: u64,
    /// The SID of the last message of the previous page.
    pub after_sid: Option<String>,
}

impl ListFilter {
    /// Parses Twilio's query parameters; unknown ones are ignored, as Twilio does.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, TwilioError> {
        let mut filter = ListFilter {
            page_size: DEFAULT_PAGE_SIZE,
            ..ListFilter::default()
        };
        for (name, value) in pairs {
            match name.as_str() {
                "To" => filter.to = Some(value.clone()),
                "From" => filter.from = Some(value.clone()),
                "DateSent" => {
                    let day = parse_day(value)?;
                    filter.sent_from_day = Some(day);
                    filter.sent_to_day = Some(day);
                }
                "DateSent>" => filter.sent_from_day = Some(parse_day(value)?),
                "DateSent<" => filter.sent_to_day = Some(parse_day(value)?),
                "PageSize" => {
                    filter.page_size = value
                        .parse::<usize>()
                        .ok()
                        .filter(|size| (1..=MAX_PAGE_SIZE).contains(size))
                        .ok_or_else(|| {
                            TwilioError::bad_request(20001, format!("Invalid PageSize: {value}"))
                        })?;
                }
                "Page" => {
                    filter.page = value.parse().map_err(|_| {
                        TwilioError::bad_request(20001, format!("Invalid Page: {value}"))
                    })?;
                }
                "PageToken" => {
                    let sid = value.strip_prefix("PA").ok_or_else(|| {
                        TwilioError::bad_request(20001, format!("Invalid PageToken: {value}"))
                    })?;
                    filter.after_sid = Some(sid.to_string());
                }
                _ => {}
            }
        }
        Ok(filter)
    }

    fn keeps(&self, message: &SimMessage) -> bool {
        let sent_day = date_sent_ms(message).map(|ms| ms / MS_PER_DAY);
        let dated = self.sent_from_day.is_some() || self.sent_to_day.is_some();
        self.to.as_ref().is_none_or(|to| *to == message.to)
            && self.from.as_ref().is_none_or(|from| *from == message.from)
            && (!dated
                || sent_day.is_some_and(|day| {
                    self.sent_from_day.is_none_or(|from| day >= from)
                        && self.sent_to_day.is_none_or(|to| day <= to)
                }))
    }
}

/// When Twilio handed the message on: inbound, when it reached us; outbound,
/// once it left `queued`.
pub fn date_sent_ms(message: &SimMessage) -> Option<u64> {
    match message.direction {
        super::state::SimDirection::Inbound => message.sent_at,
        super::state::SimDirection::Outbound => {
            (message.status != "queued").then_some(message.updated_at)
        }
    }
}

/// When Twilio created the message.
pub fn date_created_ms(message: &SimMessage) -> u64 {
    message
        .received_at
        .or(message.sent_at)
        .unwrap_or(message.updated_at)
}

/// `YYYY-MM-DD`, or a date-time (`YYYY-MM-DDThh:mm:ssZ`, as Twilio's own
/// libraries send it) of which only the day counts.
fn parse_day(value: &str) -> Result<u64, TwilioError> {
    let invalid = || TwilioError::bad_request(20001, format!("Invalid DateSent: {value}"));
    let date = value.get(..10).ok_or_else(invalid)?;
    let rest = &value[10..];
    if !(rest.is_empty() || rest.starts_with('T')) {
        return Err(invalid());
    }
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let (year, month, day): (u64, u64, u64) = (
        y.parse().map_err(|_| invalid())?,
        m.parse().map_err(|_| invalid())?,
        d.parse().map_err(|_| invalid())?,
    );
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(invalid());
    }
    Ok(days_from_civil(year, month, day))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`, years from 1970 on).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One page of the filtered messages, newest first, and whether more follow.
pub fn select(messages: Vec<SimMessage>, filter: &ListFilter) -> (Vec<SimMessage>, bool) {
    // Recorded oldest first; newest first is the reverse, by creation time.
    let mut kept: Vec<SimMessage> = messages
        .into_iter()
        .rev()
        .filter(|m| filter.keeps(m))
        .collect();
    kept.sort_by_key(|m| std::cmp::Reverse(date_created_ms(m)));
    let start = match &filter.after_sid {
        Some(sid) => kept
            .iter()
            .position(|m| m.sid == *sid)
            .map_or(kept.len(), |i| i + 1),
        None => 0,
    };
    let rest: Vec<SimMessage> = kept.into_iter().skip(start).collect();
    let more = rest.len() > filter.page_size;
    (rest.into_iter().take(filter.page_size).collect(), more)
}

/// `GET /2010-04-01/Accounts/{AccountSid}/Messages.json`
pub async fn list_messages(
    _auth: TwilioAuth,
    State(state): State<AppState>,
    Path(account_sid): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, TwilioError> {
    ensure_account(&state, &account_sid, &uri)?;
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query.as_deref().unwrap_or_default());
    let filter = ListFilter::parse(&pairs)?;
    let (page, more) = select(state.messages(None), &filter);
    let path = format!("/{API_VERSION}/Accounts/{account_sid}/Messages.json");
    // The query as the client sent it, without the paging parameters.
    let kept: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(name, _)| !matches!(name.as_str(), "Page" | "PageToken" | "PageSize"))
        .collect();
    let page_uri = |page: u64, token: Option<&str>| {
        let mut query = kept.clone();
        query.push(("PageSize".into(), filter.page_size.to_string()));
        query.push(("Page".into(), page.to_string()));
        if let Some(token) = token {
            query.push(("PageToken".into(), format!("PA{token}")));
        }
        format!("{path}?{}", encode_pairs(&query))
    };
    let next_page_uri = match (more, page.last()) {
        (true, Some(last)) => Some(page_uri(filter.page + 1, Some(&last.sid))),
        _ => None,
    };
    let start = filter.page * filter.page_size as u64;
    let count = page.len() as u64;
    let messages: Vec<Value> = page
        .iter()
        .map(|m| message_resource(m, &account_sid))
        .collect();
    Ok(Json(json!({
        "end": (start + count).saturating_sub(1),
        "first_page_uri": page_uri(0, None),
        "messages": messages,
        "next_page_uri": next_page_uri,
        "page": filter.page,
        "page_size": filter.page_size,
        "previous_page_uri": null,
        "start": start,
        "uri": uri.to_string(),
    })))
}

/// `application/x-www-form-urlencoded` pairs of a query string.
fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://sim.invalid/?{query}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn encode_pairs(pairs: &[(String, String)]) -> String {
    let mut url = reqwest::Url::parse("http://sim.invalid/").expect("a constant URL parses");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::super::state::SimDirection;
    use super::*;

    /// 2026-12-07 00:00:00 UTC.
    const DAY: u64 = 1_796_601_600_000;

    fn outbound(sid: &str, to: &str, created: u64, status: &str) -> SimMessage {
        SimMessage {
            sid: sid.into(),
            direction: SimDirection::Outbound,
            from: "+15550000000".into(),
            to: to.into(),
            body: format!("body of {sid}"),
            media: Vec::new(),
            media_fetch: Vec::new(),
            num_segments: 1,
            status: status.into(),
            error_code: None,
            status_callback: None,
            webhook_url: None,
            webhook_status: None,
            webhook_error: None,
            received_at: Some(created),
            sent_at: None,
            updated_at: created + 1000,
        }
    }

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sids(page: &[SimMessage]) -> Vec<&str> {
        page.iter().map(|m| m.sid.as_str()).collect()
    }

    #[test]
    fn days_parse_in_both_of_twilios_shapes() {
        assert_eq!(parse_day("1970-01-01").ok(), Some(0));
        assert_eq!(parse_day("2026-12-07").ok(), Some(DAY / MS_PER_DAY));
        assert_eq!(
            parse_day("2026-12-07T00:00:00Z").ok(),
            Some(DAY / MS_PER_DAY)
        );
        assert_eq!(parse_day("2024-03-01").ok(), Some(19_783));
        for bad in ["2026-13-01", "2026-12", "yesterday", "2026-12-07x", ""] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_by_to_from_and_the_day_sent() {
        let messages = vec![
            outbound("SMold", "+1111", DAY - MS_PER_DAY, "delivered"),
            outbound("SMa", "+1111", DAY + 5_000, "delivered"),
            outbound("SMother", "+2222", DAY + 6_000, "delivered"),
            outbound("SMqueued", "+1111", DAY + 7_000, "queued"),
            outbound("SMb", "+1111", DAY + 8_000, "sent"),
        ];
        let filter = ListFilter::parse(&pairs(&[
            ("To", "+1111"),
            ("From", "+15550000000"),
            ("DateSent>", "2026-12-07T00:00:00Z"),
        ]))
        .expect("valid");
        let (page, more) = select(messages.clone(), &filter);
        // Newest first; yesterday's, another customer's and the one still
        // queued (no date_sent) are left out.
        assert_eq!(sids(&page), ["SMb", "SMa"]);
        assert!(!more);

        let to_day = ListFilter::parse(&pairs(&[("DateSent", "2026-12-06")])).expect("valid");
        assert_eq!(sids(&select(messages.clone(), &to_day).0), ["SMold"]);
        let before = ListFilter::parse(&pairs(&[("DateSent<", "2026-12-07")])).expect("valid");
        assert_eq!(
            sids(&select(messages.clone(), &before).0),
            ["SMb", "SMother", "SMa", "SMold"]
        );
        let unfiltered = ListFilter::parse(&[]).expect("valid");
        assert_eq!(select(messages, &unfiltered).0.len(), 5);
    }

    #[test]
    fn pages_follow_the_token_not_an_offset() {
        let mut messages: Vec<SimMessage> = (0..5)
            .map(|i| outbound(&format!("SM{i}"), "+1111", DAY + i * 1000, "sent"))
            .collect();
        let first = ListFilter::parse(&pairs(&[("PageSize", "2")])).expect("valid");
        let (page, more) = select(messages.clone(), &first);
        assert_eq!((sids(&page), more), (vec!["SM4", "SM3"], true));
        // A newer message arriving between pages shifts nothing.
        messages.push(outbound("SMnew", "+1111", DAY + 9_000, "sent"));
        let second = ListFilter::parse(&pairs(&[
            ("PageSize", "2"),
            ("Page", "1"),
            ("PageToken", "PASM3"),
        ]))
        .expect("valid");
        let (page, more) = select(messages.clone(), &second);
        assert_eq!((sids(&page), more), (vec!["SM2", "SM1"], true));
        let third = ListFilter::parse(&pairs(&[
            ("PageSize", "2"),
            ("Page", "2"),
            ("PageToken", "PASM1"),
        ]))
        .expect("valid");
        let (page, more) = select(messages, &third);
        assert_eq!((sids(&page), more), (vec!["SM0"], false));
    }

    #[test]
    fn bad_paging_is_refused_like_twilio() {
        for query in [
            [("PageSize", "0")],
            [("PageSize", "1001")],
            [("Page", "-1")],
            [("PageToken", "nope")],
            [("DateSent>", "12/07/2026")],
        ] {
            assert!(ListFilter::parse(&pairs(&query)).is_err(), "{query:?}");
        }
    }

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "0123456789abcdef0123456789abcdef";
    const OURS: &str = "+15550000000";

    /// The simulator on a loopback port, and its base URL.
    async fn running_sim() -> (String, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let mut config =
            super::super::SimConfig::new(ACCOUNT, TOKEN, OURS, "http://127.0.0.1:9/sms");
        config.delivery_delay_ms = 0;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(super::super::serve(config, listener, async move {
            let _ = stopped.await;
        }));
        (base, stop)
    }

    /// The switchboard's own client lists what it sent, across pages, and
    /// the raw pages link up the way Twilio links them.
    #[tokio::test]
    async fn the_switchboards_list_request_finds_what_it_sent_across_pages() {
        use switchboard::twilio::client::{ListQuery, OutboundSms, TwilioClient};
        let (base, _stop) = running_sim().await;
        let client = TwilioClient::new(
            reqwest::Url::parse(&base).expect("url"),
            ACCOUNT.into(),
            TOKEN.into(),
        );
        for (to, body) in [
            ("+15551110000", "one"),
            ("+15552220000", "other"),
            ("+15551110000", "two"),
        ] {
            client
                .send_message(&OutboundSms {
                    to: to.into(),
                    from: OURS.into(),
                    body: body.into(),
                    media_urls: Vec::new(),
                    status_callback: None,
                })
                .await
                .expect("accepted");
        }
        let query = ListQuery {
            to: "+15551110000".into(),
            from: OURS.into(),
            sent_on_or_after_ms: Some(switchboard::clock::now_ms()),
        };
        // Listed once sent (no longer queued): wait for the simulated carrier.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let listed = loop {
            let listed = client.list_messages(&query).await.expect("listed");
            if listed.len() == 2 || std::time::Instant::now() > deadline {
                break listed;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let bodies: Vec<&str> = listed.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["two", "one"], "newest first, one customer only");
        assert!(listed
            .iter()
            .all(|m| m.direction == "outbound-api" && m.created_ms().is_some()));

        // Page by page with PageSize=1, following next_page_uri.
        let http = reqwest::Client::new();
        let mut next = Some(format!(
            "/2010-04-01/Accounts/{ACCOUNT}/Messages.json?To=%2B15551110000&PageSize=1"
        ));
        let mut paged = Vec::new();
        while let Some(uri) = next.take() {
            let page: Value = http
                .get(format!("{base}{uri}"))
                .basic_auth(ACCOUNT, Some(TOKEN))
                .send()
                .await
                .expect("page")
                .json()
                .await
                .expect("json");
            for m in page["messages"].as_array().expect("messages") {
                paged.push(m["body"].as_str().expect("body").to_string());
            }
            next = page["next_page_uri"].as_str().map(str::to_string);
            assert!(paged.len() <= 2, "pages repeat: {paged:?}");
        }
        assert_eq!(paged, ["two", "one"]);

        // Wrong credentials get Twilio's 401.
        let status = http
            .get(format!(
                "{base}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
            ))
            .basic_auth(ACCOUNT, Some("wrong"))
            .send()
            .await
            .expect("answer")
            .status();
        assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    }
}
