//! Shutdown signals. A service runs until SIGTERM (what orchestrators send) or Ctrl-C, then
//! drains. Background loops receive a [`CancellationToken`] so they stop at the same moment.

pub use tokio_util::sync::CancellationToken;

/// Resolves when the process receives SIGTERM or SIGINT.
pub async fn signal() {
    let ctrl_c = async {
        // If the handler cannot be installed we simply never resolve from this branch.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received Ctrl-C, shutting down"),
        () = terminate => tracing::info!("received SIGTERM, shutting down"),
    }
}

/// A token that is cancelled when [`signal`] resolves.
pub fn token_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let child = token.clone();
    tokio::spawn(async move {
        signal().await;
        child.cancel();
    });
    token
}

/// Closes `tasks` and waits for them to finish, for at most `within`: the background work of a
/// stopping service (relays, consumers) ends at its next step, and a consumer first applies and
/// acks the batch it holds. A task still running then is logged and left to the exit.
pub async fn wait_for_tasks(tasks: &tokio_util::task::TaskTracker, within: std::time::Duration) {
    tasks.close();
    if tokio::time::timeout(within, tasks.wait()).await.is_err() {
        tracing::warn!("background tasks still running at exit");
    }
}
