//! Start-up and shutdown of `agent-ui serve`.
//!
//! On the way down: stop accepting, tell every browser socket to go away (1001, the
//! page reconnects to the next instance), close every agent's upstream cleanly (the
//! switchboard then holds their conversations for its grace period), and wait for all
//! of it.

use std::future::Future;

use std::path::PathBuf;

use switchboard_cloud::files::{FileStore, S3Location};
use tokio::net::TcpListener;

use crate::agent_session::LinkSettings;
use crate::config::Config;
use crate::http::{self, AppState, StaticSource};
use crate::sessions::Registry;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("serving HTTP: {0}")]
    Http(#[from] std::io::Error),
    #[error("the switchboard's history API: {0}")]
    History(String),
}

/// Runs the agent UI on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    crate::telemetry::init();
    // Which client this instance is to the switchboard: its connections
    // coexist with other instances' connections of the same agent.
    let instance = config
        .instance_id
        .clone()
        .unwrap_or_else(crate::sessions::new_instance_id);
    let registry = Registry::new(
        config.switchboard_ws_url.clone(),
        LinkSettings {
            ping_every: config.upstream_ping(),
            idle_after: config.idle_disconnect(),
        },
        config.session_idle(),
        instance.clone(),
    );
    let static_dir = config.resolved_static_dir();
    let (files, statics) = file_stores(&config, static_dir.clone()).await;
    let app = http::router(
        AppState {
            registry: registry.clone(),
            cookie_key: crate::session_cookie::CookieKey::new(config.session_secret.as_ref()),
            files,
            metrics_token: config.metrics_token.clone(),
            throttle: config.sign_in.throttle(),
            proxies: config.sign_in.proxies(),
            history: crate::http::history::HistoryUpstream::from_ws_url(&config.switchboard_ws_url)
                .map_err(ServeError::History)?,
        },
        &statics,
    );
    tracing::info!(
        addr = %listener.local_addr()?,
        switchboard = %config.switchboard_ws_url,
        instance = %instance,
        static_dir = %static_dir.display(),
        s3_bucket = config.s3_bucket.as_deref().unwrap_or("-"),
        "agent UI listening"
    );
    let stop = registry.shutdown_token();
    // Connect info: sign-in limits count per client address.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
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

/// The `/files` store (`FILES_DIR`, plus S3 with `S3_BUCKET`) and where `/static`
/// comes from. The AWS SDK is configured only when a bucket is set, so without
/// one nothing here touches AWS.
async fn file_stores(config: &Config, static_dir: PathBuf) -> (FileStore, StaticSource) {
    let Some(bucket) = &config.s3_bucket else {
        if config.static_s3_prefix.is_some() {
            tracing::warn!("STATIC_S3_PREFIX is set without S3_BUCKET; serving STATIC_DIR only");
        }
        return (
            FileStore::new(config.files_dir.clone(), None),
            StaticSource::Dir(static_dir),
        );
    };
    let sdk = switchboard_cloud::aws::sdk_config().await;
    let location = |prefix: &str| S3Location {
        client: switchboard_cloud::aws::s3_client(&sdk),
        bucket: bucket.clone(),
        prefix: prefix.to_string(),
    };
    let files = FileStore::new(config.files_dir.clone(), Some(location(&config.s3_prefix)));
    let statics = match &config.static_s3_prefix {
        Some(prefix) => StaticSource::S3(FileStore::new(static_dir, Some(location(prefix)))),
        None => StaticSource::Dir(static_dir),
    };
    (files, statics)
}
