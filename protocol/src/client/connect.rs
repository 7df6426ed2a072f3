//! Opening an agent's WebSocket with the agent's credentials as HTTP Basic
//! auth, and telling "wrong password" apart from "switchboard unreachable".

use super::backoff::backoff_policy;
use backon::Retryable;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open agent socket over TCP (or TLS for `wss://`).
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a connection attempt (TCP + upgrade) may take before it counts as
/// unreachable: a black-holed address must not hang a sign-in or a retry loop.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest message accepted from the switchboard. A resume of a long
/// conversation arrives as one `assigned` frame, so this is generous.
pub const MAX_FRAME_BYTES: usize = 64 << 20;

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The agent endpoint, e.g. `ws://localhost:3000/v1/agent`.
    pub url: String,
    /// The agent's name (one of the switchboard's `AGENTS`).
    pub name: String,
    /// The agent's password.
    pub password: String,
}

/// Why a connection attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The switchboard refused the name and password (HTTP 401). Retrying
    /// will not help.
    #[error("wrong name or password")]
    Unauthorized,
    /// No answer: down, restarting, or the network is broken.
    #[error("the switchboard is unreachable ({0})")]
    Unreachable(String),
    /// It answered, but not with a WebSocket (a proxy error page, a 503
    /// while shutting down, …).
    #[error("the switchboard refused the connection (HTTP {0})")]
    Refused(u16),
    /// The URL or the credentials cannot form a request.
    #[error("cannot build the request: {0}")]
    Request(String),
}

impl ConnectError {
    /// Whether trying again later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConnectError::Unreachable(_) | ConnectError::Refused(_)
        )
    }
}

impl Credentials {
    /// The upgrade request: the URL plus `Authorization: Basic …`.
    pub fn request(&self) -> Result<Request, ConnectError> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| ConnectError::Request(e.to_string()))?;
        let token = BASE64.encode(format!("{}:{}", self.name, self.password));
        let value = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|e| ConnectError::Request(e.to_string()))?;
        request.headers_mut().insert(header::AUTHORIZATION, value);
        Ok(request)
    }
}

fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

/// Opens the agent socket. Does not say `hello`: until a client does, the
/// switchboard neither routes to it nor replaces the agent's other session,
/// which lets a sign-in check credentials without disturbing a live session.
pub async fn connect(credentials: &Credentials) -> Result<Socket, ConnectError> {
    let request = credentials.request()?;
    let attempt =
        tokio_tungstenite::connect_async_with_config(request, Some(socket_config()), false);
    within_timeout(async { attempt.await.map(|(socket, _)| socket) }).await
}

/// Like [`connect`], on behalf of a client (the agent UI's sign-in form):
/// its address travels as `X-Forwarded-For`, which the switchboard believes
/// only from an address in its `TRUSTED_PROXIES`, so the switchboard's
/// sign-in limits count the browser, not the agent UI.
pub async fn connect_for_client(
    credentials: &Credentials,
    client: std::net::IpAddr,
) -> Result<Socket, ConnectError> {
    let mut request = credentials.request()?;
    let value = HeaderValue::from_str(&client.to_string())
        .map_err(|e| ConnectError::Request(e.to_string()))?;
    request.headers_mut().insert("x-forwarded-for", value);
    let attempt =
        tokio_tungstenite::connect_async_with_config(request, Some(socket_config()), false);
    within_timeout(async { attempt.await.map(|(socket, _)| socket) }).await
}

/// Like [`connect`], over a stream the caller opened (a byte-counting one in
/// the benchmark, one with a tiny receive window in the tests). Plain `ws://`.
pub async fn connect_over<S>(
    stream: S,
    credentials: &Credentials,
) -> Result<WebSocketStream<S>, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = credentials.request()?;
    let attempt =
        tokio_tungstenite::client_async_with_config(request, stream, Some(socket_config()));
    within_timeout(async { attempt.await.map(|(socket, _)| socket) }).await
}

/// [`connect`] until it works, waiting between attempts by the one
/// [`backoff_policy`]. Stops at once on an error retrying cannot fix (wrong
/// password, bad URL). `notify` hears each failure and the wait before the
/// next attempt (to log it or show it to the agent).
pub async fn connect_retrying(
    credentials: &Credentials,
    notify: impl FnMut(&ConnectError, Duration),
) -> Result<Socket, ConnectError> {
    (|| connect(credentials))
        .retry(backoff_policy())
        .sleep(tokio::time::sleep)
        .when(ConnectError::is_transient)
        .notify(notify)
        .await
}

async fn within_timeout<T>(
    attempt: impl std::future::Future<Output = Result<T, WsError>>,
) -> Result<T, ConnectError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Err(_) => Err(ConnectError::Unreachable(format!(
            "no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
        Ok(Ok(socket)) => Ok(socket),
        Ok(Err(WsError::Http(response))) if response.status() == StatusCode::UNAUTHORIZED => {
            Err(ConnectError::Unauthorized)
        }
        Ok(Err(WsError::Http(response))) => Err(ConnectError::Refused(response.status().as_u16())),
        Ok(Err(WsError::Url(e))) => Err(ConnectError::Request(e.to_string())),
        Ok(Err(e)) => Err(ConnectError::Unreachable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_basic_credentials() {
        let credentials = Credentials {
            url: "ws://127.0.0.1:1/v1/agent".into(),
            name: "alice".into(),
            password: "pw".into(),
        };
        let request = credentials.request().map_err(|e| e.to_string());
        let header = request
            .as_ref()
            .ok()
            .and_then(|r| r.headers().get(header::AUTHORIZATION))
            .and_then(|v| v.to_str().ok());
        // base64("alice:pw")
        assert_eq!(header, Some("Basic YWxpY2U6cHc="));
    }

    #[test]
    fn a_bad_url_is_a_request_error_not_a_retry() {
        let credentials = Credentials {
            url: "not a url".into(),
            name: "alice".into(),
            password: "pw".into(),
        };
        let err = credentials.request().err();
        assert!(matches!(err, Some(ConnectError::Request(_))), "{err:?}");
        assert!(!ConnectError::Unauthorized.is_transient());
        assert!(ConnectError::Refused(503).is_transient());
    }

    /// A server that answers each connection with the next of `statuses`
    /// (an HTTP status line, no upgrade), counting the connections.
    async fn answering(
        statuses: &'static [u16],
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("ws://{}/v1/agent", listener.local_addr().expect("addr"));
        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            for status in statuses {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                seen.fetch_add(1, Ordering::SeqCst);
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let answer = format!("HTTP/1.1 {status} Nope\r\ncontent-length: 0\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        (url, count)
    }

    #[tokio::test]
    async fn a_refusal_is_retried_and_a_wrong_password_stops_the_retries() {
        let (url, connections) = answering(&[503, 401]).await;
        let credentials = Credentials {
            url,
            name: "alice".into(),
            password: "wrong".into(),
        };
        let mut failures = Vec::new();
        let result = connect_retrying(&credentials, |e, _| failures.push(e.to_string())).await;
        assert!(
            matches!(result, Err(ConnectError::Unauthorized)),
            "{result:?}"
        );
        // One retry after the 503, none after the 401.
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("503"), "{failures:?}");
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn nobody_listening_is_unreachable() {
        // Bind then drop: the port is (almost surely) closed right after.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let credentials = Credentials {
            url: format!("ws://127.0.0.1:{port}/v1/agent"),
            name: "alice".into(),
            password: "pw".into(),
        };
        let err = connect(&credentials).await.err();
        assert!(matches!(err, Some(ConnectError::Unreachable(_))), "{err:?}");
    }
}
