//! A TCP proxy that injects faults between two parts of Herald: latency, connections that are
//! reset or dropped at once, a blackhole that accepts and never answers, and a partition that
//! cuts every open connection. Put it between the dispatcher and a receiver (the webhook URL
//! points at the proxy), or between a service and NATS or PostgreSQL.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward as is.
    Pass,
    /// Forward, delaying every chunk in both directions.
    Latency(Duration),
    /// Accept, then reset the connection (RST) at once.
    Reset,
    /// Accept, then close it at once without a word.
    Drop,
    /// Accept and read, never forward nor answer.
    Blackhole,
}

pub struct FaultProxy {
    addr: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    /// Bumped by `cut`: every connection opened before it is closed.
    epoch: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let (epoch, _) = watch::channel(0u64);
        let accept = {
            let fault = fault.clone();
            let epoch = epoch.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let fault = *fault.lock().unwrap_or_else(|p| p.into_inner());
                    tokio::spawn(serve(client, upstream, fault, epoch.subscribe()));
                }
            })
        };
        Self {
            addr,
            fault,
            epoch,
            task: accept,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Applies to connections opened from now on.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    /// A partition: open connections are cut and new ones go nowhere until `heal`.
    pub fn partition(&self) {
        self.set(Fault::Blackhole);
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Ends a partition or any other fault.
    pub fn heal(&self) {
        self.set(Fault::Pass);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.epoch.send_modify(|e| *e += 1);
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    fault: Fault,
    mut cut: watch::Receiver<u64>,
) {
    let delay = match fault {
        Fault::Pass => Duration::ZERO,
        Fault::Latency(delay) => delay,
        Fault::Reset => {
            // A zero linger makes the close a reset, at once: nothing waits, whatever the
            // deprecation says about blocking drops.
            #[allow(deprecated)]
            let _ = client.set_linger(Some(Duration::ZERO));
            return;
        }
        Fault::Drop => return,
        Fault::Blackhole => {
            let mut sink = [0u8; 4096];
            tokio::select! {
                _ = async { while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {} } => {}
                _ = cut.changed() => {}
            }
            return;
        }
    };
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        _ = pump(client_read, server_write, delay) => {}
        _ = pump(server_read, client_write, delay) => {}
        _ = cut.changed() => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
