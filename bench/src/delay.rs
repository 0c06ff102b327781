//! A fixed one-way link latency for in-process libp2p connections.
//!
//! [`Delayed`] wraps the raw byte stream of a connection (the memory transport's channel,
//! below noise and yamux, where a TCP socket would be): every byte that arrives is
//! stamped with its arrival time and handed to the reader no earlier than `latency` after
//! it. Order is kept (one FIFO per direction) and nothing is lost or throttled, so it
//! behaves like a link with a fixed propagation delay and unlimited bandwidth — which is
//! what the simulator's `Latency::Fixed` models. Both ends of a connection wrap their own
//! read side, so each direction is delayed once.
//!
//! The delay is taken on the read side so that no extra task is needed: the connection's
//! task polls the reader whenever the memory channel wakes it, which stamps the bytes
//! within scheduling delay of their arrival. tokio's timer has 1 ms granularity and
//! rounds deadlines up, so a chunk is released between `latency` and `latency + 1 ms`
//! after it arrived.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

/// Bytes read from the inner stream per poll, at most.
const READ_CHUNK_BYTES: usize = 16 * 1024;

enum Chunk {
    Bytes(Vec<u8>),
    /// The inner stream ended (or failed): the reader sees it after the latency too.
    End(Option<io::Error>),
}

/// A byte stream whose reads lag the peer's writes by a fixed latency.
pub struct Delayed<S> {
    inner: S,
    latency: Duration,
    /// Arrived chunks with the time they may be read, oldest first. Unbounded by design:
    /// it holds what is in flight on the link, which the sender's own queues bound.
    queue: VecDeque<(Instant, Chunk)>,
    /// How much of the front chunk was already read.
    front_read: usize,
    ended: bool,
    timer: Pin<Box<Sleep>>,
    scratch: Box<[u8]>,
}

impl<S> Delayed<S> {
    pub fn new(inner: S, latency: Duration) -> Self {
        Delayed {
            inner,
            latency,
            queue: VecDeque::new(),
            front_read: 0,
            ended: false,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            scratch: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
        }
    }
}

impl<S: AsyncRead + Unpin> Delayed<S> {
    /// Moves everything the inner stream has now into the queue, stamped with now.
    fn drain_inner(&mut self, cx: &mut Context<'_>) {
        while !self.ended {
            let ready_at = Instant::now() + self.latency;
            match Pin::new(&mut self.inner).poll_read(cx, &mut self.scratch) {
                Poll::Ready(Ok(0)) => {
                    self.ended = true;
                    self.queue.push_back((ready_at, Chunk::End(None)));
                }
                Poll::Ready(Ok(n)) => {
                    let bytes = self.scratch[..n].to_vec();
                    self.queue.push_back((ready_at, Chunk::Bytes(bytes)));
                }
                Poll::Ready(Err(error)) => {
                    self.ended = true;
                    self.queue.push_back((ready_at, Chunk::End(Some(error))));
                }
                Poll::Pending => return,
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Delayed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            this.drain_inner(cx);
            let Some((ready_at, _)) = this.queue.front() else {
                // Nothing in flight: the inner stream's waker is registered by the drain.
                return Poll::Pending;
            };
            let ready_at = *ready_at;
            if ready_at > Instant::now() {
                this.timer.as_mut().reset(ready_at);
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                continue;
            }
            // Hand over as many ready bytes as fit.
            let mut written = 0;
            while written < buf.len() {
                let Some((ready_at, chunk)) = this.queue.front_mut() else {
                    break;
                };
                if *ready_at > Instant::now() {
                    break;
                }
                match chunk {
                    Chunk::Bytes(bytes) => {
                        let rest = &bytes[this.front_read..];
                        let n = rest.len().min(buf.len() - written);
                        buf[written..written + n].copy_from_slice(&rest[..n]);
                        written += n;
                        this.front_read += n;
                        if this.front_read == bytes.len() {
                            this.queue.pop_front();
                            this.front_read = 0;
                        }
                    }
                    Chunk::End(error) => {
                        if written > 0 {
                            break;
                        }
                        return Poll::Ready(match error.take() {
                            Some(error) => Err(error),
                            None => Ok(0),
                        });
                    }
                }
            }
            return Poll::Ready(Ok(written));
        }
    }
}

/// Writes go straight through: the latency is applied once, at the reading end.
impl<S: AsyncWrite + Unpin> AsyncWrite for Delayed<S> {
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

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures::channel::mpsc;
    use futures::{AsyncReadExt, TryStreamExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bytes_arrive_after_the_latency_in_order() {
        let (sender, receiver) = mpsc::unbounded::<io::Result<Vec<u8>>>();
        let mut reader = Delayed::new(receiver.into_async_read(), Duration::from_millis(20));
        let start = Instant::now();
        // The reader is always waiting, as a connection's task is.
        let reading = tokio::spawn(async move {
            let mut reads = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                let n = reader.read(&mut buf).await.unwrap();
                if n == 0 {
                    reads.push((start.elapsed(), Vec::new()));
                    return reads;
                }
                reads.push((start.elapsed(), buf[..n].to_vec()));
            }
        });
        tokio::task::yield_now().await;
        sender.unbounded_send(Ok(b"first".to_vec())).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        sender.unbounded_send(Ok(b"second".to_vec())).unwrap();
        drop(sender);
        let reads = reading.await.unwrap();
        let ms = Duration::from_millis;
        assert_eq!(
            reads,
            vec![
                (ms(20), b"first".to_vec()),
                (ms(25), b"second".to_vec()),
                (ms(25), Vec::new()),
            ]
        );
    }
}
