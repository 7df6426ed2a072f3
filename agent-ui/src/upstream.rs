//! Opening an agent's WebSocket to the switchboard, with the agent's credentials as
//! HTTP Basic auth, and telling "wrong password" apart from "switchboard unreachable".

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open upstream socket.
pub type Upstream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a connection attempt (TCP + upgrade) may take before it counts as
/// unreachable: a black-holed address must not hang a sign-in.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest frame accepted from the switchboard. A resume of a long conversation
/// arrives as one `assigned` frame, so this is generous.
const MAX_FRAME_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The switchboard refused the name and password (HTTP 401).
    #[error("wrong name or password")]
    Unauthorized,
    /// No answer: down, restarting, or the network is broken.
    #[error("the switchboard is unreachable ({0})")]
    Unreachable(String),
    /// It answered, but not with a WebSocket (a proxy error page, a 503 while
    /// shutting down, …).
    #[error("the switchboard refused the connection (HTTP {0})")]
    Refused(u16),
    /// The configured URL or the credentials cannot form a request.
    #[error("cannot build the request: {0}")]
    Request(String),
}

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub url: String,
    pub name: String,
    pub password: String,
}

/// Opens the agent socket. Does not say `hello`: until it does, the switchboard
/// neither routes to it nor replaces the agent's other session, which lets a sign-in
/// check credentials without disturbing a live session.
pub async fn connect(credentials: &Credentials) -> Result<Upstream, UpstreamError> {
    let mut request = credentials
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| UpstreamError::Request(e.to_string()))?;
    let token = BASE64.encode(format!("{}:{}", credentials.name, credentials.password));
    let value = HeaderValue::from_str(&format!("Basic {token}"))
        .map_err(|e| UpstreamError::Request(e.to_string()))?;
    request.headers_mut().insert(header::AUTHORIZATION, value);
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let attempt = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Err(_) => Err(UpstreamError::Unreachable(format!(
            "no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(WsError::Http(response))) if response.status() == StatusCode::UNAUTHORIZED => {
            Err(UpstreamError::Unauthorized)
        }
        Ok(Err(WsError::Http(response))) => Err(UpstreamError::Refused(response.status().as_u16())),
        Ok(Err(WsError::Url(e))) => Err(UpstreamError::Request(e.to_string())),
        Ok(Err(e)) => Err(UpstreamError::Unreachable(e.to_string())),
    }
}
