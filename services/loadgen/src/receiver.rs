//! The built-in receiver: answers 200 (at once, or after a fixed delay) and records when each
//! delivery arrived, keyed by the `webhook-id` header, with the event id from the body.
//!
//! It is a bare HTTP/1.1 server on hyper, without a framework's routing and extractors: it
//! shares the machine with the stack it measures, so what it costs is taken from Herald, and
//! the plain-HTTP ceiling (`ceiling`) is meant to be that of a minimal server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::append_log::AppendLog;

/// One request as it arrived. A redelivery of the same delivery id is a second `Arrival`.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub delivery_id: String,
    pub event_id: String,
}

struct Shared {
    arrivals: AppendLog<Arrival>,
    delay: Duration,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub async fn start(delay: Duration) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the receiver on loopback")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            arrivals: AppendLog::default(),
            delay,
        });
        let server = tokio::spawn(serve(listener, shared.clone()));
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    pub fn count(&self) -> usize {
        self.shared.arrivals.len()
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.shared.arrivals.to_vec()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Accepts connections until aborted, each served in its own task (keep-alive, HTTP/1.1).
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, most likely: wait rather than spin.
                eprintln!("receiver: accepting a connection failed: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Answers are small and a sender waits for each: never hold one back for Nagle.
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(|request| receive(request, &shared));
            // A connection the sender closes or resets ends here; nothing to report.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[derive(Deserialize)]
struct Envelope {
    id: String,
}

async fn receive(
    request: Request<Incoming>,
    shared: &Shared,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // Time the arrival before reading the body: the latency is Herald's, not ours.
    let at = Instant::now();
    let delivery_id = request
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let event_id = serde_json::from_slice::<Envelope>(&body)
        .map(|e| e.id)
        .unwrap_or_default();
    shared.arrivals.push(Arrival {
        at,
        delivery_id,
        event_id,
    });
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}
