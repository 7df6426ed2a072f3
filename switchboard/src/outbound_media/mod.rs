//! Agent-sent pictures (MMS): what may be sent, where the files live, and the
//! signed links Twilio fetches them through.
//!
//! The flow: the console uploads a picture (agent UI `POST /media/{conversation}`
//! → switchboard `POST /v1/media/{conversation}`, `http/media.rs`); the
//! switchboard checks it ([`rules::check_upload`]) and stores it in the file
//! store under [`rules::outbound_key`] (`media/<conversation>/outbound/<id>.<ext>`,
//! so the agent who holds the conversation reads it through `/files` like an
//! inbound picture). The reply names its pictures by those `/files/…` links
//! ([`rules::reply_media_key`]); the hub checks count and total size before
//! the router sees it. The outbox sends each as a Twilio `MediaUrl`: a
//! time-limited link on `PUBLIC_URL` signed with HMAC-SHA256
//! ([`signed_url`]), which the switchboard's `GET /media/…` serves to
//! anyone holding it — Twilio has no agent session — and only for keys
//! under an outbound media folder.

pub mod reply;
pub mod rules;
pub mod signed_url;

pub use rules::{ImageType, MediaProblem, MAX_ITEMS, MAX_MESSAGE_BYTES};
pub use signed_url::{link_expiry, MediaLinks, MediaSigner, UrlRefusal, URL_TTL_SECS};
