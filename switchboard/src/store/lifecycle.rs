//! The lifecycle port: whether the store answers, and closing it.

use super::Result;
use async_trait::async_trait;

/// A store's lifecycle, as the server and `/readyz` see it.
#[async_trait]
pub trait Lifecycle: Send + Sync + 'static {
    /// Whether the store answers: what `/readyz` asks. It reaches the real
    /// store (DynamoDB itself, not a local view of it).
    async fn ready(&self) -> Result<()>;

    /// Waits until the pending writes are durable and stops accepting new
    /// ones; later writes fail with [`super::StoreError::Closed`].
    async fn close(&self) -> Result<()>;
}
