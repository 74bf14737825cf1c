//! Dropping an answer the way a network does: the change is committed, then the
//! connection closes before a byte of the response is written.
//!
//! axum gives a handler no way to close its connection, so the listener wraps every
//! accepted stream with a shared switch ([`Cut`]); the handler reaches the switch
//! through axum's connect info and flips it; the next write on that stream fails,
//! and hyper closes the connection instead of sending the response. The client sees
//! what it would see after a real timeout or reset ("connection closed before
//! message completed"), not an HTTP status it might treat differently.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The switch of one connection: once cut, nothing more is written on it.
#[derive(Clone, Debug, Default)]
pub struct Cut(Arc<AtomicBool>);

impl Cut {
    /// Makes the connection close instead of answering.
    pub fn cut(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_cut(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A TCP listener whose connections can be cut by the handler.
pub struct CutListener(pub TcpListener);

impl Listener for CutListener {
    type Io = CutStream;
    type Addr = (SocketAddr, Cut);

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        let cut = Cut::default();
        (
            CutStream {
                inner: stream,
                cut: cut.clone(),
            },
            (addr, cut),
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok((self.0.local_addr()?, Cut::default()))
    }
}

impl Connected<IncomingStream<'_, CutListener>> for Cut {
    fn connect_info(stream: IncomingStream<'_, CutListener>) -> Self {
        stream.remote_addr().1.clone()
    }
}

/// An accepted stream that refuses writes once its connection is cut.
pub struct CutStream {
    inner: TcpStream,
    cut: Cut,
}

impl CutStream {
    fn refused() -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "answer dropped by the simulator's fault injection",
        )
    }
}

impl AsyncRead for CutStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CutStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.cut.is_cut() {
            return Poll::Ready(Err(CutStream::refused()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.cut.is_cut() {
            return Poll::Ready(Err(CutStream::refused()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.cut.is_cut() {
            return Poll::Ready(Err(CutStream::refused()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
