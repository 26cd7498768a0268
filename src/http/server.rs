//! The HTTP server: accepts connections (plain or TLS), serves each with hyper, and bounds what a
//! connection may hold without using it.
//!
//! `axum::serve` keeps a connection open as long as its peer likes: headers or bodies trickled a
//! byte at a time, or idle keep-alives, hold a socket and a task each, forever. Here each
//! connection has a watchdog over its reads and writes: once a request has started, its headers
//! must arrive within [`Limits::header`]; with no request in progress, the connection may stay
//! silent for [`Limits::idle`]. Request bodies get [`Limits::body`] and must then keep arriving
//! at [`MIN_BODY_RATE`] (see [`Deadline`]), else the request fails with 408. And each address may
//! hold only [`Limits::unauthenticated`] connections that have not authenticated (sent a valid
//! access token, or a WebSocket `auth`); further ones are closed at once. Trusted proxies are
//! exempt from that cap (every client of the proxy shares its address).
//!
//! What leaves: requests reach the router with the peer's address ([`PeerAddr`]) and the
//! connection's [`ConnMark`] in their extensions; upgraded WebSockets leave hyper for the hub.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::protocol::IpRange;

/// The connection's peer address, recorded in every request (plain or TLS).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The slowest a request body may arrive once its grace period is over: 16 KiB/s (128 kbit/s).
pub const MIN_BODY_RATE: u64 = 16 * 1024;

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The timeouts and caps of connections.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From a request's first byte to the end of its headers.
    pub header: Duration,
    /// Silence allowed with no request in progress (keep-alive).
    pub idle: Duration,
    /// Grace for a request body before [`MIN_BODY_RATE`] applies.
    pub body: Duration,
    /// Connections per address not yet authenticated.
    pub unauthenticated: usize,
    /// Peers exempt from that cap.
    pub trusted: Arc<Vec<IpRange>>,
}

/// The server's listener and what it serves.
pub struct Server {
    /// The bound socket.
    pub listener: TcpListener,
    /// `Some` to serve HTTPS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The application.
    pub router: Router,
    /// Adjusts each accepted socket.
    pub tune: fn(&TcpStream),
    /// Timeouts and caps.
    pub limits: Limits,
}

impl Server {
    /// Accepts until `shutdown`, serving each connection on `tasks`; on shutdown, connections
    /// finish their request in progress and close.
    pub async fn run(self, tasks: TaskTracker, shutdown: CancellationToken) {
        let census = Arc::new(Census::default());
        let acceptor = self.tls.map(tokio_rustls::TlsAcceptor::from);
        let limits = Arc::new(self.limits);
        loop {
            let (tcp, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let exempt = limits.trusted.iter().any(|r| r.contains(peer.ip()));
            let Some(mark) = ConnMark::admit(&census, peer.ip(), limits.unauthenticated, exempt)
            else {
                tracing::debug!(%peer, "too many unauthenticated connections; closed");
                continue;
            };
            (self.tune)(&tcp);
            let conn = Conn {
                peer,
                mark,
                router: self.router.clone(),
                limits: limits.clone(),
            };
            let (acceptor, shutdown) = (acceptor.clone(), shutdown.clone());
            tasks.spawn(async move {
                match acceptor {
                    None => conn.serve(tcp, shutdown).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => conn.serve(tls, shutdown).await,
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, %peer, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    }
                }
            });
        }
    }
}

/// Per address, the connections that have not authenticated.
#[derive(Default)]
struct Census {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl Census {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // One increment or decrement at a time: a panic cannot leave it half-changed.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, ip: IpAddr) {
        let mut counts = self.counts();
        if let Some(n) = counts.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&ip);
            }
        }
    }
}

/// A connection's place in the census of unauthenticated connections: counted until
/// [`ConnMark::authenticated`] or until the connection (and any WebSocket upgraded from it) is
/// gone. Cheap to clone.
#[derive(Clone)]
pub struct ConnMark(Arc<Mark>);

struct Mark {
    census: Arc<Census>,
    ip: IpAddr,
    counted: AtomicBool,
}

impl ConnMark {
    /// Counts a new connection from `ip`, unless the address already holds `cap`.
    fn admit(census: &Arc<Census>, ip: IpAddr, cap: usize, exempt: bool) -> Option<ConnMark> {
        if !exempt {
            let mut counts = census.counts();
            let n = counts.entry(ip).or_insert(0);
            if *n >= cap {
                return None;
            }
            *n += 1;
        }
        Some(ConnMark(Arc::new(Mark {
            census: census.clone(),
            ip,
            counted: AtomicBool::new(!exempt),
        })))
    }

    /// The connection proved who it serves: it no longer counts against its address.
    pub fn authenticated(&self) {
        if self.0.counted.swap(false, Ordering::SeqCst) {
            self.0.census.release(self.0.ip);
        }
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        if *self.counted.get_mut() {
            self.census.release(self.ip);
        }
    }
}

/// What a connection's watchdog watches: times are milliseconds since the connection began.
struct Activity {
    began: Instant,
    /// The last read or write.
    last: AtomicU64,
    /// When the request being read began (its first byte), or [`NONE`].
    head_since: AtomicU64,
    /// Requests handed to the router and not yet answered.
    in_flight: AtomicUsize,
}

const NONE: u64 = u64::MAX;

impl Activity {
    fn now(&self) -> u64 {
        self.began.elapsed().as_millis() as u64
    }

    fn read(&self) {
        let now = self.now();
        self.last.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ =
                self.head_since
                    .compare_exchange(NONE, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
    }

    /// Why the connection should be closed now, if it should.
    fn overdue(&self, limits: &Limits) -> Option<&'static str> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let now = self.now();
        let head = self.head_since.load(Ordering::Relaxed);
        if head != NONE {
            return (now.saturating_sub(head) > limits.header.as_millis() as u64)
                .then_some("headers too slow");
        }
        let last = self.last.load(Ordering::Relaxed);
        (now.saturating_sub(last) > limits.idle.as_millis() as u64).then_some("idle")
    }
}

/// Marks a request in progress for as long as it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.head_since.store(NONE, Ordering::Relaxed);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last.store(self.0.now(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One accepted connection, before hyper takes it.
struct Conn {
    peer: SocketAddr,
    mark: ConnMark,
    router: Router,
    limits: Arc<Limits>,
}

impl Conn {
    /// Serves HTTP/1.1 (with upgrades) on `io` until the peer is done, the watchdog ends it,
    /// or shutdown.
    async fn serve<I>(self, io: I, shutdown: CancellationToken)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity {
            began: Instant::now(),
            last: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            in_flight: AtomicUsize::new(0),
        });
        let io = TokioIo::new(Watched {
            inner: io,
            activity: activity.clone(),
        });
        let (router, peer, mark, body) = (self.router, self.peer, self.mark, self.limits.body);
        let requests = activity.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let in_flight = InFlight::start(&requests);
            req.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
            req.extensions_mut().insert(mark.clone());
            let req = req.map(|b| Body::new(Deadline::new(b, body)));
            let router = router.clone();
            async move {
                let response = router.oneshot(req).await;
                drop(in_flight);
                response
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The watchdog below times headers and idleness; hyper's own header timer would also
        // count the idle wait before a request as header time.
        builder.timer(TokioTimer::new()).header_read_timeout(None);
        let conn = builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        let limits = self.limits.clone();
        let tick = limits.header.min(limits.idle).min(Duration::from_secs(1)) / 4;
        let mut watch = tokio::time::interval(tick.max(Duration::from_millis(25)));
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                    return;
                }
                _ = watch.tick() => {
                    if let Some(why) = activity.overdue(&limits) {
                        tracing::debug!(%peer, why, "closing connection");
                        return;
                    }
                }
                _ = shutdown.cancelled() => break,
            }
        }
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// A connection's byte stream, noting every read and write for the watchdog.
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request body was too slow: its grace ran out and it did not keep up [`MIN_BODY_RATE`].
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub struct BodyTimeout;

/// A request body with a deadline: `grace` from the start, plus one second per
/// [`MIN_BODY_RATE`] bytes received. Cost per frame: one comparison and, when the deadline
/// moves, one timer reset.
pub struct Deadline {
    inner: Incoming,
    started: Instant,
    grace: Duration,
    received: u64,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    fn new(inner: Incoming, grace: Duration) -> Deadline {
        let started = Instant::now();
        Deadline {
            inner,
            started,
            grace,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(started + grace)),
        }
    }

    fn deadline(&self) -> Instant {
        self.started + self.grace + Duration::from_millis(self.received * 1000 / MIN_BODY_RATE)
    }
}

impl http_body::Body for Deadline {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received += data.len() as u64;
                    let deadline = self.deadline();
                    self.timer.as_mut().reset(deadline);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `e` (or what caused it) is a [`BodyTimeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = cause {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cause = e.source();
    }
    false
}
