//! Accepted TCP connections, shared between hyper and the WebSocket direct writers.
//!
//! hyper owns a connection's I/O object, and after a WebSocket upgrade that object is buried under
//! hyper's and tungstenite's layers. The direct writers (see `ws::direct`) need to write update
//! frames into an idle screen's socket without going through the screen's task, so every accepted
//! stream is an `Arc<TcpStream>`: hyper gets a [`Shared`] handle for its I/O, and each request
//! carries another as its connection info ([`Socket`]), which `/ws` gives the direct writers.
//! hyper's side uses tokio's `&self` methods (`try_read`, `try_write`, readiness), the direct
//! writers a plain non-blocking send, and the hub's hand-over keeps them from writing at the same
//! time. With direct writes off, the streams are shared all the same and only hyper writes.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The HTTP listener: accepts like tokio's, sets `TCP_NODELAY` and shares each stream.
pub(crate) struct Listener(pub(crate) TcpListener);

impl axum::serve::Listener for Listener {
    type Io = Shared;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Shared, SocketAddr) {
        // axum's own accept: it logs and waits out errors (out of file descriptors, say).
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        // An update is one small write that must leave at once. With Nagle's algorithm a write
        // waits while an earlier one is unacknowledged, and a screen that sends nothing
        // acknowledges late (delayed ACKs, up to 40 ms on Linux).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on a connection");
        }
        (Shared(Arc::new(stream)), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A request's connection: its socket, for a WebSocket's direct writes.
#[derive(Clone, Debug)]
pub(crate) struct Socket(pub(crate) Arc<TcpStream>);

impl Connected<IncomingStream<'_, Listener>> for Socket {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Socket {
        Socket(stream.io().0.clone())
    }
}

/// hyper's handle on an accepted stream.
pub(crate) struct Shared(Arc<TcpStream>);

impl AsyncRead for Shared {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale; `try_read` cleared it, so the next poll registers.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl Shared {
    /// Runs `write` once the stream is writable, again while it would block.
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match write(&self.0) {
                // Readiness was stale; the failed write cleared it, so the next poll registers.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                written => return Poll::Ready(written),
            }
        }
    }
}

impl AsyncWrite for Shared {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |stream| stream.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |stream| stream.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&*self.0).shutdown(std::net::Shutdown::Write))
    }
}
