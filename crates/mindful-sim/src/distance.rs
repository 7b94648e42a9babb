//! Distance on loopback: a round-trip time (`SimConfig::rtt`, `--rtt 40ms`) applied to every
//! connection, so a benchmark shows what production's distance to Mindful costs.
//!
//! The model, per connection: the TCP handshake costs one RTT (the server takes the client's
//! first bytes one RTT after the accept), and everything the server sends is delivered one RTT
//! after it was written (the request's way there and the answer's way back, all put on the way
//! back since loopback is instant). Writes are queued, never blocking the server, so a TLS 1.3
//! server's tickets do not hold up the request behind them. A TLS handshake flight then costs one
//! RTT and each request one more: a new https connection's first answer arrives after 3 RTT, a
//! plain http one after 2, a pooled connection's after 1. A faulted answer (latency, hang) adds
//! its own time on top.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A server-side stream that is `rtt` away from its client.
pub(crate) struct Distant<S> {
    inner: S,
    rtt: Duration,
    /// The TCP handshake: reads wait for it.
    handshake: Option<Pin<Box<Sleep>>>,
    /// Bytes written, each chunk with the instant it is delivered.
    queue: VecDeque<(Instant, Vec<u8>, usize)>,
    /// Wakes the connection's task when the queue's head is due.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S> Distant<S> {
    /// `inner` just accepted: its first bytes are taken one RTT from now (the TCP handshake).
    pub(crate) fn accepted(inner: S, rtt: Duration) -> Self {
        Self {
            inner,
            rtt,
            handshake: (!rtt.is_zero()).then(|| Box::pin(tokio::time::sleep(rtt))),
            queue: VecDeque::new(),
            timer: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> Distant<S> {
    /// Writes what is due to the socket; with more queued, arms the timer for the next chunk.
    /// Ready when the queue is empty.
    fn deliver(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((due, chunk, sent)) = self.queue.front_mut() {
            if Instant::now() < *due {
                let due = *due;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                timer.as_mut().reset(due);
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                continue;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &chunk[*sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    *sent += n;
                    if *sent == chunk.len() {
                        self.queue.pop_front();
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

use std::future::Future as _;

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Distant<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(handshake) = self.handshake.as_mut() {
            if handshake.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.handshake = None;
        }
        // A reading task also carries the queued answer out when it is due.
        if let Poll::Ready(Err(e)) = self.deliver(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Distant<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.rtt.is_zero() {
            return Pin::new(&mut self.inner).poll_write(cx, buf);
        }
        let due = Instant::now() + self.rtt;
        self.queue.push_back((due, buf.to_vec(), 0));
        // Arms the timer so the task wakes to deliver, whatever it polls next.
        let _ = self.deliver(cx);
        Poll::Ready(Ok(buf.len()))
    }
    /// "Flushed" means on its way: the queue is delivered by the timer, without holding up the
    /// server (which would otherwise serialise its writes behind the distance).
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Poll::Ready(Err(e)) = self.deliver(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.deliver(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }
}
