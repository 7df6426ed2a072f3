//! The built-in phone simulator: run the switchboard locally with no Twilio
//! account. It plays both ends Twilio normally connects:
//!
//! - **the customer's phone** — a page at `/` (and `POST /sim/send`) whose
//!   messages reach the switchboard as properly signed inbound webhooks;
//! - **Twilio's REST API** — `Messages.json` (create, fetch, list) and `IncomingPhoneNumbers`
//!   under `/2010-04-01/…`, with Basic auth, Twilio's error format and signed
//!   delivery-status callbacks.
//!
//! Tests use it as a faithful Twilio stand-in: `POST /sim/faults` queues
//! errors and failed deliveries, `GET /sim/messages` shows what went through.

mod auth;
mod config;
mod customer;
mod errors;
mod faults;
mod inspect;
mod media_fetch;
mod message_list;
mod page;
mod segments;
mod state;
mod status_callbacks;
mod twilio_api;
mod twilio_format;

pub use config::{SimConfig, DEFAULT_WEBHOOK_URL};
pub use state::{SimDirection, SimMessage};

use axum::http::Uri;
use axum::routing::{get, post};
use axum::Router;
use errors::TwilioError;
use state::AppState;
use std::future::Future;
use tokio::net::TcpListener;

/// The simulator's routes, for in-process use.
pub fn app(config: SimConfig) -> Router {
    let accounts = "/2010-04-01/Accounts/{account_sid}";
    Router::new()
        .route("/", get(page::index))
        .route(
            &format!("{accounts}/Messages.json"),
            post(twilio_api::create_message).get(message_list::list_messages),
        )
        // matchit cannot capture `{sid}.json`, so the handlers strip `.json`.
        .route(
            &format!("{accounts}/Messages/{{message_file}}"),
            get(twilio_api::fetch_message),
        )
        .route(
            &format!("{accounts}/IncomingPhoneNumbers/{{number_file}}"),
            post(twilio_api::update_incoming_number),
        )
        .route("/sim/send", post(customer::send))
        .route("/sim/messages", get(inspect::messages))
        .route("/sim/media/{sid}/{index}", get(media_fetch::serve))
        .route("/sim/info", get(inspect::info))
        .route("/sim/faults", post(faults::push).delete(faults::clear))
        .fallback(not_found)
        .with_state(AppState::new(config))
}

/// Serves the simulator on `listener` until `shutdown` completes.
pub async fn serve(
    config: SimConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        webhook_url = %config.webhook_url,
        twilio_from = %config.twilio_from,
        "phone simulator listening: open http://{address}/ to play the customer"
    );
    axum::serve(listener, app(config))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Unknown paths answer like Twilio's API does.
async fn not_found(uri: Uri) -> TwilioError {
    TwilioError::not_found(uri.path())
}
