//! A webhook receiver on loopback whose answers a test scripts, and which records every
//! request it gets (headers, body, arrival time).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use poem::{Body, EndpointExt, Request, Response, Route, handler};

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with one extra header, e.g. `Retry-After`.
    StatusWithHeader(u16, &'static str, String),
    /// Waits, then answers with the status.
    Delay(Duration, u16),
    /// Never answers (the client's timeout ends it).
    Hang,
    /// Answers the status at once, then trickles the body: `chunks` pieces, one per `every`.
    SlowBody {
        status: u16,
        every: Duration,
        chunks: usize,
    },
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// A header's value (names are compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    received: Vec<Received>,
}

pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Answers `script` in order, then `default` to every later request.
    pub async fn start(script: Vec<Reply>, default: Reply) -> Self {
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            default: Some(default),
            received: Vec::new(),
        }));
        let app = Route::new().at("/*path", receive.data(state.clone()));
        let (addr, server) = crate::loopback::serve(app).await;
        Self {
            addr,
            state,
            server,
        }
    }

    /// Always answers `reply`.
    pub async fn always(reply: Reply) -> Self {
        Self::start(Vec::new(), reply).await
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    pub fn count(&self) -> usize {
        self.lock().received.len()
    }

    /// Waits up to 5 s for `limit` requests, then watches for a second and panics if one
    /// more arrives: for receivers that never answer, where each request holds a place
    /// under some cap and one past the cap would come within milliseconds.
    pub async fn holds_at(&self, limit: usize, cap: &str) {
        crate::eventually(
            &format!("{limit} requests under way"),
            Duration::from_secs(5),
            || async { (self.count() >= limit).then_some(()) },
        )
        .await;
        let watched = Instant::now();
        loop {
            assert!(
                self.count() <= limit,
                "{} requests under way beyond {cap} of {limit}",
                self.count()
            );
            if watched.elapsed() >= Duration::from_secs(1) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[handler]
async fn receive(
    req: &Request,
    body: Body,
    state: poem::web::Data<&Arc<Mutex<State>>>,
) -> Response {
    let body = body.into_vec().await.unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let reply = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        state.received.push(Received {
            at: Instant::now(),
            headers,
            body,
        });
        let next = state.script.pop_front();
        next.or_else(|| state.default.clone())
            .unwrap_or(Reply::Status(200))
    };
    let status =
        |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply {
        Reply::Status(code) => Response::builder().status(status(code)).body("ok"),
        Reply::StatusWithHeader(code, name, value) => Response::builder()
            .status(status(code))
            .header(name, value)
            .body("see header"),
        Reply::Delay(wait, code) => {
            tokio::time::sleep(wait).await;
            Response::builder().status(status(code)).body("late")
        }
        Reply::Hang => std::future::pending().await,
        Reply::SlowBody {
            status: code,
            every,
            chunks,
        } => {
            let trickle = futures::stream::unfold(0, move |sent| async move {
                if sent == chunks {
                    return None;
                }
                tokio::time::sleep(every).await;
                Some((
                    Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"slow ")),
                    sent + 1,
                ))
            });
            Response::builder()
                .status(status(code))
                .body(Body::from_bytes_stream(trickle))
        }
    }
}
