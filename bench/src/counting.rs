//! A TCP stream wrapper that counts the bytes read from it.
//!
//! The agents count WebSocket bytes per frame; this socket-level total is
//! the independent cross-check that nothing on the wire (compression,
//! fragmentation, unexpected frames) escaped the per-frame count.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct CountingStream<S> {
    inner: S,
    read: Arc<AtomicU64>,
}

impl<S> CountingStream<S> {
    /// Wraps `inner`; every byte read is added to `read`.
    pub fn new(inner: S, read: Arc<AtomicU64>) -> Self {
        CountingStream { inner, read }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        this.read.fetch_add(n as u64, Ordering::Relaxed);
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_bytes_read_not_written() {
        let (a, mut b) = tokio::io::duplex(64);
        let counter = Arc::new(AtomicU64::new(0));
        let mut counted = CountingStream::new(a, counter.clone());
        b.write_all(b"hello").await.unwrap();
        counted.write_all(b"ignored").await.unwrap();
        let mut buf = [0u8; 5];
        counted.read_exact(&mut buf).await.unwrap();
        assert_eq!(counter.load(Ordering::Relaxed), 5);
    }
}
