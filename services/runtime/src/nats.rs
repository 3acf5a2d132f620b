//! The NATS connection. A service starts even while NATS is down: the client keeps retrying
//! in the background and `/readyz` reports the outage.
//!
//! A server that asks for credentials gets them from the URL (`NATS_URL`, or `NATS_URL_FILE`
//! to keep them in a Secret): `nats://user:password@host:4222`, or a token alone as
//! `nats://token@host:4222`. The client library reads neither from a URL itself, so they are
//! taken out here and sent as the connection's credentials; they never appear in a log line
//! or an error (`redact`).

use anyhow::Context;
use async_nats::ServerAddr;

use crate::Config;
use crate::config::NatsTls;

/// What a server asks a client to prove.
#[derive(PartialEq, Eq)]
enum Credentials {
    UserAndPassword(String, String),
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UserAndPassword(user, _) => write!(f, "UserAndPassword({user:?}, <hidden>)"),
            Self::Token(_) => f.write_str("Token(<hidden>)"),
        }
    }
}

/// The server's address without credentials, and the credentials it carried.
fn split(url: &str) -> anyhow::Result<(ServerAddr, Option<Credentials>)> {
    let addr: ServerAddr = url
        .parse()
        .with_context(|| format!("NATS_URL {:?} is not a NATS URL", redact(url)))?;
    let credentials = match (addr.username(), addr.password()) {
        (Some(user), Some(password)) => {
            Some(Credentials::UserAndPassword(decode(user), decode(password)))
        }
        (Some(token), None) => Some(Credentials::Token(decode(token))),
        _ => None,
    };
    if credentials.is_none() {
        return Ok((addr, None));
    }
    let host = match addr.host() {
        host if host.contains(':') => format!("[{host}]"),
        host => host.to_owned(),
    };
    let bare = format!("{}://{host}:{}", addr.scheme(), addr.port());
    let bare = bare.parse().context("rebuilding the NATS address")?;
    Ok((bare, credentials))
}

/// A URL's user part is percent-encoded (a password with `@` or `/` in it must be).
fn decode(part: &str) -> String {
    percent_encoding::percent_decode_str(part)
        .decode_utf8_lossy()
        .into_owned()
}

/// The URL as it may be shown: a password or token replaced by `***`.
pub fn redact(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((before, host)) => {
            let (scheme, user_part) = before.split_once("://").unwrap_or(("", before));
            let scheme = if scheme.is_empty() {
                String::new()
            } else {
                format!("{scheme}://")
            };
            let shown = match user_part.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_owned(),
            };
            format!("{scheme}{shown}@{host}")
        }
        None => url.to_owned(),
    }
}

/// Makes ring the process's TLS crypto provider, unless one is installed already. The
/// workspace's dependencies enable more than one provider in rustls, which then picks none,
/// and the NATS client's TLS would panic at its first handshake.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The connection the configuration names: `NATS_URL` and the TLS files.
pub async fn connect_to(config: &Config, service: &str) -> anyhow::Result<async_nats::Client> {
    connect_with(&config.nats_url, &config.nats_tls, service).await
}

/// A connection to `url` with no TLS files (a `tls://` URL still gets TLS, checked against
/// the system's roots).
pub async fn connect(url: &str, service: &str) -> anyhow::Result<async_nats::Client> {
    connect_with(url, &NatsTls::default(), service).await
}

pub async fn connect_with(
    url: &str,
    tls: &NatsTls,
    service: &str,
) -> anyhow::Result<async_nats::Client> {
    install_tls_provider();
    // The client would only retry, unready for good: a missing file stops the process at
    // once, saying which.
    for (setting, file) in tls.files() {
        std::fs::File::open(file)
            .with_context(|| format!("{setting}: cannot read {}", file.display()))?;
    }
    let (addr, credentials) = split(url)?;
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("herald-{service}"))
        .retry_on_initial_connect();
    if tls.is_set() {
        options = options.require_tls(true);
    }
    if let Some(ca) = &tls.ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &tls.client {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    let options = match credentials {
        Some(Credentials::UserAndPassword(user, password)) => {
            options.user_and_password(user, password)
        }
        Some(Credentials::Token(token)) => options.token(token),
        None => options,
    };
    options
        .connect(addr)
        .await
        .with_context(|| format!("connecting to NATS at {}", redact(url)))
}

pub fn is_connected(client: &async_nats::Client) -> bool {
    client.connection_state() == async_nats::connection::State::Connected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out_of_the_url() {
        let (addr, credentials) =
            split("nats://herald:s3cr%40t@nats.herald-system.svc:4222").unwrap();
        assert_eq!(addr.as_url_str(), "nats://nats.herald-system.svc:4222");
        assert_eq!(
            credentials,
            Some(Credentials::UserAndPassword(
                "herald".into(),
                "s3cr@t".into()
            ))
        );
        let (addr, credentials) = split("tls://t0ken@[::1]:4443").unwrap();
        assert_eq!(addr.as_url_str(), "tls://[::1]:4443");
        assert_eq!(credentials, Some(Credentials::Token("t0ken".into())));
        let (addr, credentials) = split("127.0.0.1:4222").unwrap();
        assert_eq!((addr.host(), addr.port()), ("127.0.0.1", 4222));
        assert_eq!(credentials, None);
    }

    #[test]
    fn shown_urls_hide_passwords_and_tokens() {
        assert_eq!(
            redact("nats://herald:s3cret@nats:4222"),
            "nats://herald:***@nats:4222"
        );
        assert_eq!(redact("nats://t0ken@nats:4222"), "nats://***@nats:4222");
        assert_eq!(redact("nats://nats:4222"), "nats://nats:4222");
        let debug = format!("{:?}", split("nats://herald:s3cret@nats:4222").unwrap().1);
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[tokio::test]
    async fn a_missing_tls_file_stops_the_connection_naming_its_setting() {
        let tls = NatsTls {
            ca: Some("/nonexistent/nats-ca.pem".into()),
            client: None,
        };
        let error = connect_with("tls://127.0.0.1:4222", &tls, "test")
            .await
            .expect_err("refused before connecting");
        let shown = format!("{error:#}");
        assert!(
            shown.contains("HERALD_NATS_TLS_CA") && shown.contains("/nonexistent/nats-ca.pem"),
            "{shown}"
        );
    }

    #[test]
    fn a_bad_url_is_named_without_its_password() {
        let error = split("nats://herald:s3cret@nats:notaport").unwrap_err();
        let shown = format!("{error:#}");
        assert!(
            shown.contains("NATS_URL") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
