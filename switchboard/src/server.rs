//! Start-up and shutdown of the whole service.
//!
//! Order matters on the way down: stop accepting HTTP and let in-flight
//! webhooks finish (each one waits for its own durable write), close agent
//! sockets with a `shutting_down` frame, stop the router and the outbox, and
//! last close the store, which flushes whatever is still pending.

use crate::config::Config;
use crate::http::{self, AppState, INBOUND_PATH, STATUS_PATH};
use crate::outbox::Outbox;
use crate::router::{self, RouterConfig};
use crate::store::sled_store::{SledOptions, SledStore};
use crate::store::Store;
use crate::twilio::client::TwilioClient;
use anyhow::Context;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Runs the switchboard on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    if config.insecure_skip_twilio_signature {
        tracing::warn!(
            "INSECURE_SKIP_TWILIO_SIGNATURE is set: anyone can post messages. Local demos only."
        );
    }
    let (store, accepted_replies) = SledStore::open(SledOptions {
        path: &config.data_dir,
        cache_mb: config.sled_cache_mb,
        durability: config.durability,
    })
    .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = Arc::new(store);
    let (stop_tx, stop_rx) = watch::channel(false);

    let (router, router_task) = router::spawn(
        store.clone(),
        RouterConfig {
            agent_names: config.agents.names().map(str::to_string).collect(),
            grace: config.agent_grace(),
        },
        stop_rx.clone(),
    )
    .await
    .context("recovering routing state")?;

    let client = TwilioClient::new(
        config.twilio_api_base.clone(),
        config.twilio_account_sid.clone(),
        config.twilio_auth_token.clone(),
    );
    if let Some(number_sid) = config.twilio_phone_number_sid.clone() {
        let (client, url) = (client.clone(), config.public_url_of(INBOUND_PATH));
        tokio::spawn(async move {
            match client.register_sms_webhook(&number_sid, &url).await {
                Ok(()) => {
                    tracing::info!(number_sid, url, "Twilio number now sends its messages here")
                }
                Err(e) => {
                    tracing::error!(number_sid, url, error = %e, "could not register the webhook URL with Twilio; set it in the Twilio console")
                }
            }
        });
    }
    let outbox = Outbox {
        store: store.clone(),
        client,
        from: config.twilio_from.clone(),
        status_callback: config.public_url_of(STATUS_PATH),
    };
    let outbox_task = tokio::spawn(outbox.run(accepted_replies, stop_rx.clone()));

    let state = AppState {
        config: config.clone(),
        store: store.clone(),
        router,
        shutdown: stop_rx.clone(),
        next_conn_id: Arc::new(AtomicU64::new(1)),
    };
    tracing::info!(
        addr = %listener.local_addr()?,
        public_url = %config.public_base(),
        data_dir = %config.data_dir.display(),
        "switchboard listening"
    );
    let mut http_stop = stop_rx.clone();
    let server = axum::serve(listener, http::app(state)).with_graceful_shutdown(async move {
        let _ = http_stop.wait_for(|stop| *stop).await;
    });
    let server = tokio::spawn(async move { server.await });
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    // Upgraded sockets are not tracked by axum; they close themselves on
    // the stop signal, so the wait below is bounded.
    match tokio::time::timeout(Duration::from_secs(10), server).await {
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "HTTP server error"),
        Err(_) => tracing::warn!("HTTP requests still running after 10 s; closing anyway"),
        _ => {}
    }
    let _ = router_task.await;
    if tokio::time::timeout(Duration::from_secs(20), outbox_task)
        .await
        .is_err()
    {
        tracing::warn!("outbox sends still running after 20 s; they resume at the next start");
    }
    store.close().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}
