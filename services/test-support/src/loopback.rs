//! A poem app served on a free loopback port for as long as the test keeps the handle.

use std::net::SocketAddr;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, Server};

/// Serves `app` on `127.0.0.1:<free port>`; abort the handle to stop it.
pub async fn serve<E>(app: E) -> (SocketAddr, tokio::task::JoinHandle<()>)
where
    E: Endpoint + 'static,
{
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("binds a loopback port");
    let addr = *acceptor.local_addr()[0]
        .as_socket_addr()
        .expect("a TCP address");
    let server = tokio::spawn(async move {
        let _ = Server::new_with_acceptor(acceptor).run(app).await;
    });
    (addr, server)
}
