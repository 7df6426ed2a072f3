//! Start-up and shutdown of `agent-ui serve`.
//!
//! On the way down: stop accepting, tell every browser socket to go away (1001, the
//! page reconnects to the next instance), close every agent's upstream cleanly (the
//! switchboard then holds their conversations for its grace period), and wait for all
//! of it.

use std::future::Future;

use tokio::net::TcpListener;

use crate::agent_session::LinkSettings;
use crate::config::Config;
use crate::http::{self, AppState};
use crate::sessions::Registry;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("serving HTTP: {0}")]
    Http(#[from] std::io::Error),
}

/// Runs the agent UI on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let registry = Registry::new(
        config.switchboard_ws_url.clone(),
        LinkSettings {
            ping_every: config.upstream_ping(),
            idle_after: config.idle_disconnect(),
        },
    );
    let static_dir = config.resolved_static_dir();
    let app = http::router(
        AppState {
            registry: registry.clone(),
        },
        &static_dir,
    );
    tracing::info!(
        addr = %listener.local_addr()?,
        switchboard = %config.switchboard_ws_url,
        static_dir = %static_dir.display(),
        "agent UI listening"
    );
    let stop = registry.shutdown_token();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down");
            // Browser sockets are long-lived; without this the drain would wait for
            // every tab to close by itself.
            stop.cancel();
        })
        .await?;
    registry.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}
