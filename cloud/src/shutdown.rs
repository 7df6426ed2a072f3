//! The platform's stop signal, shared by every binary of the workspace.
//!
//! A PaaS stops a dyno with SIGTERM (then SIGKILL some seconds later), a
//! developer with Ctrl-C; both mean "stop accepting, finish in-flight work,
//! exit".

/// Resolves on SIGTERM or Ctrl-C, whichever comes first.
pub async fn signal() {
    let ctrl_c = async {
        // Without a Ctrl-C handler (no terminal) only SIGTERM can stop us.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
