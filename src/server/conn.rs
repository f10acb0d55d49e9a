//! Connections: the accept loop with its limits. A client that sends nothing, sends its
//! headers or its body too slowly, or keeps an idle connection open is cut off after a
//! timeout; past the connection limit a new client is told so (503) and closed, so that a
//! crowd of silent sockets cannot use up the server's file descriptors.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::load::MAX_FILE_BYTES;

/// The limits of `personactl serve`'s connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long a request's headers may take, from their first byte to the blank line.
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive, once its headers are read.
    pub body_timeout: Duration,
    /// How long a connection may wait for a request: a new connection before its first byte,
    /// a kept-alive one between two requests.
    pub idle_timeout: Duration,
    /// How many connections are served at once; past it a new connection gets a 503 and is
    /// closed.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// How much of a refused body is read (and thrown away) so that the client, which may send
/// all of it before it reads, gets the answer instead of a connection reset.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// Refusals in flight at once (each holds a socket for a moment).
const MAX_REFUSALS: usize = 64;

/// Serves `router` on `listener` with the limits of `options` until `shutdown` completes;
/// connections in flight then finish their current request.
pub(crate) async fn serve_router(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = router.layer(axum::middleware::from_fn_with_state(
        options.body_timeout,
        read_body,
    ));
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a moment and go on (the timeouts free descriptors).
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let router = router.clone();
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            serve_connection(stream, router, options, stop).await;
            drop(permit);
        });
        // Reap finished connections so that the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// What the watchdog of one connection knows.
struct Activity {
    started: Instant,
    /// Milliseconds since `started` of the last read of request bytes.
    last_read: AtomicU64,
    /// Milliseconds since `started` when the connection last became idle (accepted, or a
    /// response was sent).
    idle_since: AtomicU64,
    /// Requests being handled.
    in_flight: AtomicUsize,
    /// Whether bytes of a next request arrived since the connection became idle.
    reading_head: AtomicBool,
}

impl Activity {
    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The socket, noting when request bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let a = &self.activity;
            let now = a.now();
            a.last_read.store(now, Ordering::Relaxed);
            if a.in_flight.load(Ordering::Acquire) == 0 && !a.reading_head.load(Ordering::Acquire) {
                a.reading_head.store(true, Ordering::Release);
                // The header timeout counts from the first byte of the head.
                a.idle_since.store(now, Ordering::Release);
            }
        }
        poll
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Decrements the requests in flight when the request ends, however it ends.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.reading_head.store(false, Ordering::Release);
        a.idle_since.store(a.now(), Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    options: ServeOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity {
        started: Instant::now(),
        last_read: AtomicU64::new(0),
        idle_since: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        reading_head: AtomicBool::new(false),
    });
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service_activity = activity.clone();
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let router = router.clone();
            service_activity.in_flight.fetch_add(1, Ordering::AcqRel);
            let guard = InFlight(service_activity.clone());
            async move {
                // A router is always ready: `call` needs no `poll_ready` first.
                let mut router = router;
                let response =
                    tower_service::Service::call(&mut router, request.map(Body::new)).await;
                drop(guard);
                Ok::<_, Infallible>(match response {
                    Ok(r) => r,
                    Err(never) => match never {},
                })
            }
        });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        // The watchdog below applies the header timeout from the head's first byte.
        .header_read_timeout(None)
        .keep_alive(true)
        .serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let tick = (options.header_timeout.min(options.idle_timeout) / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            () = tokio::time::sleep(tick) => {
                if activity.in_flight.load(Ordering::Acquire) > 0 {
                    continue;
                }
                let since = activity.now().saturating_sub(activity.idle_since.load(Ordering::Acquire));
                let limit = if activity.reading_head.load(Ordering::Acquire) {
                    options.header_timeout
                } else {
                    options.idle_timeout
                };
                if u128::from(since) >= limit.as_millis() {
                    // No request in flight: close the socket.
                    return;
                }
            }
            _ = stop.changed(), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// Past the connection limit: a 503 that says why, then close (after reading what the client
/// sent, so that it sees the answer rather than a reset).
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"error":"too many connections; try again later"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        use tokio::io::AsyncReadExt;
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Reads the whole request body before the handler runs: within the body timeout (else 408)
/// and at most 1 MiB (else 413, after reading and discarding up to 64 MiB more, so that a
/// client that sends everything before it reads still gets the answer).
async fn read_body(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let limit = usize::try_from(MAX_FILE_BYTES).unwrap_or(usize::MAX);
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = body;
    let mut kept = Vec::new();
    let mut seen: usize = 0;
    let mut over = declared.is_some_and(|n| n > limit as u64);
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return close(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body did not arrive in time",
                );
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return close(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read the body: {e}"),
                );
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > limit {
            over = true;
            kept = Vec::new();
        }
        if over {
            if seen > limit.saturating_add(DRAIN_BYTES) {
                break;
            }
        } else {
            kept.extend_from_slice(&data);
        }
    }
    if over {
        return close(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is larger than the 1 MiB limit",
        );
    }
    next.run(Request::from_parts(parts, Body::from(kept))).await
}

/// An error answer that closes the connection.
fn close(status: StatusCode, message: &str) -> Response {
    let mut response = (status, axum::Json(serde_json::json!({"error": message}))).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
