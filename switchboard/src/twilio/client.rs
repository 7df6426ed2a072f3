//! Client for Twilio's 2010-04-01 REST API: sends SMS replies, lists the
//! messages sent to a number (the outbox's check for a reply a crash left
//! unconfirmed) and points a phone number's SMS webhook at this service.
//!
//! Failures are sorted into the two kinds the outbox acts on: [`SendError::Transient`]
//! (try again later, honouring `Retry-After`) and [`SendError::Rejected`] (Twilio
//! said no; retrying would only repeat the answer).

use reqwest::header::{HeaderMap, ACCEPT, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

const API_VERSION: &str = "2010-04-01";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one Twilio call may take, connection included (the outbox's
/// handover wait is derived from it: `outbox/handover.rs`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Error bodies are quoted in error messages and logs; a misbehaving proxy
/// could answer with a whole HTML page.
const MAX_QUOTED_BODY: usize = 300;

/// Talks to Twilio (or a stand-in at another base URL) for one account.
///
/// Clones share the connection pool and credentials.
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    account: Arc<Account>,
}

struct Account {
    api_base: Url,
    sid: String,
    auth_token: String,
}

// Hand-written so the auth token never reaches a log line.
impl fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioClient")
            .field("api_base", &self.account.api_base.as_str())
            .field("account_sid", &self.account.sid)
            .finish_non_exhaustive()
    }
}

/// One SMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSms {
    /// Recipient, E.164.
    pub to: String,
    /// Our Twilio number, E.164.
    pub from: String,
    /// May be empty when `media_urls` is not (it is then left out).
    pub body: String,
    /// Pictures (MMS): URLs Twilio fetches itself, one `MediaUrl` each.
    pub media_urls: Vec<String>,
    /// Where Twilio should POST delivery-status updates for this message.
    pub status_callback: Option<String>,
}

/// Twilio's acknowledgement of a created message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentMessage {
    /// `SM…`: the id later status callbacks refer to.
    pub sid: String,
    /// Usually `queued` or `accepted`; delivery progress arrives by callback.
    pub status: String,
}

/// One message of Twilio's Messages list, as far as reconciliation reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListedMessage {
    /// `SM…`.
    pub sid: String,
    pub to: String,
    pub from: String,
    pub body: String,
    /// `outbound-api` for what this API created; `inbound`, `outbound-reply`…
    pub direction: String,
    /// Twilio's status (`queued`, `sent`, `delivered`, `failed`…).
    pub status: String,
    /// When Twilio created it, RFC 2822 (`Fri, 24 May 2019 17:44:46 +0000`).
    pub date_created: Option<String>,
    /// Twilio's error code when the delivery failed.
    #[serde(default)]
    pub error_code: Option<u32>,
}

impl ListedMessage {
    /// `date_created` in milliseconds since the epoch, when it parses.
    pub fn created_ms(&self) -> Option<u64> {
        let date = chrono::DateTime::parse_from_rfc2822(self.date_created.as_deref()?).ok()?;
        u64::try_from(date.timestamp_millis()).ok()
    }
}

/// The messages sent from one number to another (since a day), as
/// [`TwilioClient::list_messages`] asks for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub to: String,
    pub from: String,
    /// Only messages Twilio sent on or after the UTC day of this instant
    /// (Twilio's `DateSent>` filter has day granularity; callers narrow
    /// the window themselves with [`ListedMessage::created_ms`]). `None`:
    /// no date filter, which also lists messages not sent yet (queued).
    pub sent_on_or_after_ms: Option<u64>,
}

/// One page of Twilio's Messages list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessagesPage {
    #[serde(default)]
    pub messages: Vec<ListedMessage>,
    /// The next page as a path on the API's host, `None` on the last page.
    pub next_page_uri: Option<String>,
}

/// Messages asked for per page (Twilio's maximum is 1000).
const LIST_PAGE_SIZE: &str = "1000";
/// Pages followed at most: a customer number's messages from one or two days
/// fit in far fewer; a runaway `next_page_uri` chain must not loop forever.
const MAX_LIST_PAGES: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: network error, timeout, HTTP 408, 429, 5xx.
    #[error("Twilio unavailable, worth retrying: {reason}")]
    Transient {
        reason: String,
        /// From the response's `Retry-After` header, when it gave seconds.
        retry_after: Option<Duration>,
    },
    /// The request may have reached Twilio, but no answer came back (a
    /// timeout, a connection reset mid-request). Worth retrying, but a send
    /// must first check whether Twilio created the message after all.
    #[error("no answer from Twilio; the request may have reached it: {reason}")]
    Unconfirmed { reason: String },
    /// Twilio refused it; retrying won't help.
    #[error("Twilio refused the request (HTTP {http_status}{}): {message}", code_suffix(*.code))]
    Rejected {
        /// 0 when the request could not even be built, so never left this process.
        http_status: u16,
        /// Twilio's error code (e.g. 21610, unsubscribed recipient), when its
        /// error JSON carried one.
        code: Option<u32>,
        message: String,
    },
}

fn code_suffix(code: Option<u32>) -> String {
    code.map(|c| format!(", Twilio error {c}"))
        .unwrap_or_default()
}

impl SendError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SendError::Transient { .. } | SendError::Unconfirmed { .. }
        )
    }

    /// The server's requested back-off, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Transient { retry_after, .. } => *retry_after,
            SendError::Unconfirmed { .. } | SendError::Rejected { .. } => None,
        }
    }
}

impl TwilioClient {
    /// A client for `account_sid` at `api_base` (`https://api.twilio.com` in
    /// production; any path on the base is kept, so a mock can live under one).
    pub fn new(api_base: Url, account_sid: String, auth_token: String) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            // Only fails when the TLS backend cannot initialise, which is a
            // broken build rather than anything a caller could handle.
            .expect("the HTTP client's TLS backend initialises");
        TwilioClient {
            http,
            account: Arc::new(Account {
                api_base,
                sid: account_sid,
                auth_token,
            }),
        }
    }

    /// POSTs the message to `Accounts/{sid}/Messages.json`.
    pub async fn send_message(&self, sms: &OutboundSms) -> Result<SentMessage, SendError> {
        let request = self.message_request(sms).map_err(request_error)?;
        let response = self.http.execute(request).await.map_err(request_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(error_from_response(response).await);
        }
        // From here on Twilio has accepted the message: a retry would text the
        // customer twice, so an unreadable acknowledgement is final, not transient.
        let accepted = |reason: String| SendError::Rejected {
            http_status: status.as_u16(),
            code: None,
            message: format!("Twilio accepted the message but its answer was unreadable: {reason}"),
        };
        let body = response
            .bytes()
            .await
            .map_err(|e| accepted(error_chain(&e)))?;
        let sent: SentMessage = serde_json::from_slice(&body)
            .map_err(|e| accepted(format!("{e}: {}", quote(&body))))?;
        tracing::debug!(sid = %sent.sid, status = %sent.status, "Twilio accepted outbound SMS");
        Ok(sent)
    }

    /// GETs `Accounts/{sid}/Messages.json?To=&From=&DateSent>=`, following
    /// `next_page_uri` to the last page. Errors are sorted like a send's.
    pub async fn list_messages(&self, query: &ListQuery) -> Result<Vec<ListedMessage>, SendError> {
        let mut page = self.list_first_page(query).await?;
        let mut messages = Vec::new();
        for _ in 0..MAX_LIST_PAGES {
            messages.append(&mut page.messages);
            let Some(next) = page.next_page_uri.take() else {
                return Ok(messages);
            };
            page = self.list_next_page(&next).await?;
        }
        Err(SendError::Rejected {
            http_status: 0,
            code: None,
            message: format!("Twilio's Messages list went on for more than {MAX_LIST_PAGES} pages"),
        })
    }

    /// The first page of [`TwilioClient::list_messages`].
    pub async fn list_first_page(&self, query: &ListQuery) -> Result<MessagesPage, SendError> {
        let request = self.list_request(query).map_err(request_error)?;
        self.list_page(request).await
    }

    /// The page a `next_page_uri` names (a path on the API's host).
    pub async fn list_next_page(&self, next_page_uri: &str) -> Result<MessagesPage, SendError> {
        let request =
            self.next_page_request(next_page_uri)
                .map_err(|reason| SendError::Rejected {
                    http_status: 0,
                    code: None,
                    message: reason,
                })?;
        self.list_page(request).await
    }

    async fn list_page(&self, request: reqwest::Request) -> Result<MessagesPage, SendError> {
        let response = self.http.execute(request).await.map_err(request_error)?;
        if !response.status().is_success() {
            return Err(error_from_response(response).await);
        }
        let body = response.bytes().await.map_err(request_error)?;
        let mut page: MessagesPage =
            serde_json::from_slice(&body).map_err(|e| SendError::Transient {
                reason: format!("unreadable Messages list: {e}: {}", quote(&body)),
                retry_after: None,
            })?;
        page.next_page_uri = page.next_page_uri.filter(|next| !next.is_empty());
        Ok(page)
    }

    fn list_request(&self, query: &ListQuery) -> reqwest::Result<reqwest::Request> {
        let mut params = vec![("To", query.to.clone()), ("From", query.from.clone())];
        if let Some(since) = query.sent_on_or_after_ms {
            let since = i64::try_from(since)
                .ok()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .unwrap_or_default();
            // `DateSent>` is "on or after that day"; the spec types it as a
            // date-time, and Twilio's own libraries send midnight UTC.
            params.push(("DateSent>", since.format("%Y-%m-%dT00:00:00Z").to_string()));
        }
        params.push(("PageSize", LIST_PAGE_SIZE.to_string()));
        self.get(&["Messages.json"]).query(&params).build()
    }

    /// The request for a `next_page_uri`: a path on the API's host, kept
    /// under the base's own path. Anything else is refused, so the
    /// credentials never go to another host.
    fn next_page_request(&self, next: &str) -> Result<reqwest::Request, String> {
        if !next.starts_with('/') || next.starts_with("//") {
            return Err(format!("next_page_uri {next:?} is not a path"));
        }
        let base = self.account.api_base.as_str().trim_end_matches('/');
        let url = Url::parse(&format!("{base}{next}"))
            .map_err(|e| format!("next_page_uri {next:?}: {e}"))?;
        if url.origin() != self.account.api_base.origin() {
            return Err(format!("next_page_uri {next:?} leaves the API's host"));
        }
        self.http
            .get(url)
            .basic_auth(&self.account.sid, Some(&self.account.auth_token))
            .header(ACCEPT, "application/json")
            .build()
            .map_err(|e| error_chain(&e))
    }

    /// Points the phone number's incoming-SMS webhook at `sms_url` (POST).
    pub async fn register_sms_webhook(
        &self,
        phone_number_sid: &str,
        sms_url: &str,
    ) -> Result<(), SendError> {
        let request = self
            .webhook_request(phone_number_sid, sms_url)
            .map_err(request_error)?;
        let response = self.http.execute(request).await.map_err(request_error)?;
        if !response.status().is_success() {
            return Err(error_from_response(response).await);
        }
        tracing::info!(
            phone_number_sid,
            sms_url,
            "registered SMS webhook with Twilio"
        );
        Ok(())
    }

    fn message_request(&self, sms: &OutboundSms) -> reqwest::Result<reqwest::Request> {
        let mut form = vec![("To", sms.to.as_str()), ("From", sms.from.as_str())];
        if !sms.body.is_empty() || sms.media_urls.is_empty() {
            form.push(("Body", sms.body.as_str()));
        }
        for url in &sms.media_urls {
            form.push(("MediaUrl", url.as_str()));
        }
        if let Some(callback) = &sms.status_callback {
            form.push(("StatusCallback", callback.as_str()));
        }
        // `.form()` percent-encodes `+` as %2B; a bare `+` would reach Twilio
        // as a space and the number would be wrong.
        self.post(&["Messages.json"]).form(&form).build()
    }

    fn webhook_request(
        &self,
        phone_number_sid: &str,
        sms_url: &str,
    ) -> reqwest::Result<reqwest::Request> {
        let resource = format!("{phone_number_sid}.json");
        self.post(&["IncomingPhoneNumbers", &resource])
            .form(&[("SmsUrl", sms_url), ("SmsMethod", "POST")])
            .build()
    }

    fn get(&self, resource: &[&str]) -> reqwest::RequestBuilder {
        self.http
            .get(self.account_url(resource))
            .basic_auth(&self.account.sid, Some(&self.account.auth_token))
            .header(ACCEPT, "application/json")
    }

    fn post(&self, resource: &[&str]) -> reqwest::RequestBuilder {
        self.http
            .post(self.account_url(resource))
            .basic_auth(&self.account.sid, Some(&self.account.auth_token))
            .header(ACCEPT, "application/json")
    }

    /// `{base}/2010-04-01/Accounts/{sid}/{resource…}`, each segment percent-encoded.
    fn account_url(&self, resource: &[&str]) -> Url {
        let mut url = self.account.api_base.clone();
        // Only URLs like `mailto:` cannot take a path; the request to such a
        // base then fails when sent and is reported there.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend([API_VERSION, "Accounts", self.account.sid.as_str()])
                .extend(resource);
        }
        url
    }
}

/// Sorts a failure to build or send a request.
fn request_error(error: reqwest::Error) -> SendError {
    if error.is_builder() {
        SendError::Rejected {
            http_status: 0,
            code: None,
            message: error_chain(&error),
        }
    } else if error.is_connect() {
        // No connection, so nothing reached Twilio; it may well answer next time.
        SendError::Transient {
            reason: error_chain(&error),
            retry_after: None,
        }
    } else {
        // Timeouts, resets: the request may or may not have arrived.
        SendError::Unconfirmed {
            reason: error_chain(&error),
        }
    }
}

async fn error_from_response(response: reqwest::Response) -> SendError {
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(e) => {
            tracing::debug!(error = %error_chain(&e), %status, "could not read Twilio's error body");
            Default::default()
        }
    };
    classify(status, retry_after, &body)
}

/// Twilio's error body: `{"code": 21610, "message": "…", "more_info": "…", "status": 400}`.
/// Prism and proxies answer in other shapes, hence the fallbacks.
#[derive(Deserialize, Default)]
struct ErrorBody {
    code: Option<serde_json::Value>,
    message: Option<String>,
    more_info: Option<String>,
    /// RFC 7807 problem details, as Prism and some gateways send.
    detail: Option<String>,
    title: Option<String>,
}

fn classify(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> SendError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|b| b.code.as_ref())
        .and_then(|c| {
            c.as_u64()
                .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|c| u32::try_from(c).ok());
    let message = parsed
        .as_ref()
        .and_then(|b| {
            let text = b
                .message
                .clone()
                .or_else(|| b.detail.clone())
                .or_else(|| b.title.clone())?;
            Some(match &b.more_info {
                Some(more) => format!("{text} ({more})"),
                None => text,
            })
        })
        .unwrap_or_else(|| {
            let quoted = quote(body);
            if quoted.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no reason given")
                    .to_string()
            } else {
                quoted
            }
        });

    let transient = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if transient {
        tracing::debug!(%status, ?retry_after, %message, "Twilio asked us to retry");
        SendError::Transient {
            reason: format!("HTTP {}: {message}", status.as_u16()),
            retry_after,
        }
    } else {
        tracing::debug!(%status, ?code, %message, "Twilio refused the request");
        SendError::Rejected {
            http_status: status.as_u16(),
            code,
            message,
        }
    }
}

/// `Retry-After` as delta-seconds. Twilio sends seconds; the HTTP-date form is
/// ignored so the caller's own back-off applies.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// The error and its causes on one line: reqwest's top-level message alone
/// ("error sending request") hides whether it was DNS, refusal or a timeout.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A body for an error message: lossy UTF-8, trimmed, cut at a char boundary.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_QUOTED_BODY) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn client(base: &str) -> TwilioClient {
        TwilioClient::new(
            Url::parse(base).expect("test URL"),
            SID.into(),
            "s3cr3t-token".into(),
        )
    }

    fn sms() -> OutboundSms {
        OutboundSms {
            to: "+15551234567".into(),
            from: "+15557654321".into(),
            body: "Hi & bye = 1+1 👋".into(),
            media_urls: Vec::new(),
            status_callback: Some("https://sb.example/twilio/status?x=1".into()),
        }
    }

    fn form_body(request: &reqwest::Request) -> String {
        let bytes = request
            .body()
            .and_then(|b| b.as_bytes())
            .expect("a buffered body");
        String::from_utf8(bytes.to_vec()).expect("ASCII form body")
    }

    #[test]
    fn message_form_is_percent_encoded() {
        let request = client("https://api.twilio.com")
            .message_request(&sms())
            .expect("request");
        assert_eq!(
            request.url().as_str(),
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json")
        );
        assert_eq!(
            request.headers()["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(
            form_body(&request),
            "To=%2B15551234567&From=%2B15557654321&Body=Hi+%26+bye+%3D+1%2B1+%F0%9F%91%8B\
             &StatusCallback=https%3A%2F%2Fsb.example%2Ftwilio%2Fstatus%3Fx%3D1"
        );
        let auth = request.headers()["authorization"].to_str().expect("ASCII");
        assert!(auth.starts_with("Basic "), "{auth}");
    }

    #[test]
    fn status_callback_is_optional() {
        let sms = OutboundSms {
            status_callback: None,
            ..sms()
        };
        let request = client("https://api.twilio.com")
            .message_request(&sms)
            .expect("request");
        assert!(!form_body(&request).contains("StatusCallback"));
    }

    #[test]
    fn pictures_are_one_media_url_each_and_an_empty_body_is_left_out() {
        let sms = OutboundSms {
            body: String::new(),
            media_urls: vec![
                "https://sb.example/media/a.png?expires=1&sig=x".into(),
                "https://sb.example/media/b.gif?expires=1&sig=y".into(),
            ],
            status_callback: None,
            ..sms()
        };
        let request = client("https://api.twilio.com")
            .message_request(&sms)
            .expect("request");
        assert_eq!(
            form_body(&request),
            "To=%2B15551234567&From=%2B15557654321\
             &MediaUrl=https%3A%2F%2Fsb.example%2Fmedia%2Fa.png%3Fexpires%3D1%26sig%3Dx\
             &MediaUrl=https%3A%2F%2Fsb.example%2Fmedia%2Fb.gif%3Fexpires%3D1%26sig%3Dy"
        );
    }

    #[test]
    fn base_path_is_kept_and_segments_are_encoded() {
        let request = client("http://127.0.0.1:9/mock/")
            .webhook_request("PN/../x", "https://sb.example/twilio/sms")
            .expect("request");
        assert_eq!(
            request.url().as_str(),
            format!("http://127.0.0.1:9/mock/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/PN%2F..%2Fx.json")
        );
        assert_eq!(
            form_body(&request),
            "SmsUrl=https%3A%2F%2Fsb.example%2Ftwilio%2Fsms&SmsMethod=POST"
        );
    }

    #[test]
    fn list_asks_for_one_conversation_since_the_day_of_the_window() {
        let query = ListQuery {
            to: "+15551234567".into(),
            from: "+15557654321".into(),
            // 2026-12-07 23:59:59.500 UTC
            sent_on_or_after_ms: Some(1_796_687_999_500),
        };
        let request = client("http://127.0.0.1:9/mock/")
            .list_request(&query)
            .expect("request");
        assert_eq!(request.method(), reqwest::Method::GET);
        assert_eq!(
            request.url().as_str(),
            format!(
                "http://127.0.0.1:9/mock/2010-04-01/Accounts/{SID}/Messages.json\
                 ?To=%2B15551234567&From=%2B15557654321&DateSent%3E=2026-12-07T00%3A00%3A00Z&PageSize=1000"
            )
        );
        let undated = ListQuery {
            sent_on_or_after_ms: None,
            ..query
        };
        let request = client("http://127.0.0.1:9/")
            .list_request(&undated)
            .expect("request");
        assert_eq!(
            request.url().query(),
            Some("To=%2B15551234567&From=%2B15557654321&PageSize=1000")
        );
    }

    #[test]
    fn next_pages_stay_on_the_api_host_under_its_base_path() {
        let client = client("http://127.0.0.1:9/mock/");
        let next = format!("/2010-04-01/Accounts/{SID}/Messages.json?Page=1&PageToken=PA1");
        let request = client.next_page_request(&next).expect("a path is followed");
        assert_eq!(
            request.url().as_str(),
            format!("http://127.0.0.1:9/mock{next}")
        );
        for bad in [
            "https://evil.example/x",
            "//evil.example/x",
            "@evil.example/x",
            "",
        ] {
            assert!(client.next_page_request(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listed_dates_parse_as_twilio_writes_them() {
        let listed = ListedMessage {
            sid: "SM1".into(),
            to: "+1".into(),
            from: "+2".into(),
            body: "b".into(),
            direction: "outbound-api".into(),
            status: "sent".into(),
            date_created: Some("Fri, 24 May 2019 17:44:46 +0000".into()),
            error_code: None,
        };
        assert_eq!(listed.created_ms(), Some(1_558_719_886_000));
        let unparsable = ListedMessage {
            date_created: Some("yesterday".into()),
            ..listed
        };
        assert_eq!(unparsable.created_ms(), None);
    }

    #[test]
    fn debug_hides_the_token() {
        let shown = format!("{:?}", client("https://api.twilio.com"));
        assert!(shown.contains(SID));
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn twilio_errors_are_rejections_with_code() {
        let body = br#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                       "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}"#;
        match classify(StatusCode::BAD_REQUEST, None, body) {
            SendError::Rejected {
                http_status: 400,
                code: Some(21610),
                message,
            } => {
                assert!(
                    message.starts_with("Attempt to send to unsubscribed recipient"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_twilio_bodies_still_give_a_reason() {
        match classify(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            br#"{"title":"Invalid request","detail":"To is required"}"#,
        ) {
            SendError::Rejected {
                http_status: 422,
                code: None,
                message,
            } => assert_eq!(message, "To is required"),
            other => panic!("{other:?}"),
        }
        match classify(StatusCode::UNAUTHORIZED, None, b"") {
            SendError::Rejected {
                http_status: 401,
                code: None,
                message,
            } => assert_eq!(message, "Unauthorized"),
            other => panic!("{other:?}"),
        }
        let html = "<html>".repeat(200);
        match classify(StatusCode::FORBIDDEN, None, html.as_bytes()) {
            SendError::Rejected { message, .. } => {
                assert!(message.chars().count() <= MAX_QUOTED_BODY + 1)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn throttling_timeouts_and_server_errors_are_transient() {
        for status in [408, 429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(status).expect("valid status");
            let error = classify(status, Some(Duration::from_secs(2)), b"");
            assert!(error.is_transient(), "{status}: {error:?}");
            assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
        }
        for status in [400, 401, 403, 404, 409, 413, 415, 422] {
            let status = StatusCode::from_u16(status).expect("valid status");
            assert!(!classify(status, None, b"").is_transient(), "{status}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn display_names_the_code() {
        let error = SendError::Rejected {
            http_status: 400,
            code: Some(21610),
            message: "unsubscribed".into(),
        };
        assert_eq!(
            error.to_string(),
            "Twilio refused the request (HTTP 400, Twilio error 21610): unsubscribed"
        );
    }
}
