//! Webhook host names to addresses, under the SSRF policy. Ingest resolves a new URL's host
//! to refuse internal names early; the dispatcher resolves it again for every connection and
//! connects only to the addresses checked here, so a name whose answer changes after
//! registration (DNS rebinding) is caught where it matters.
//!
//! The lookup itself is a trait: the system resolver in production, a script in tests (which
//! must not depend on real DNS).

use std::net::IpAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use herald_domain::AddressPolicy;

/// Turns a host name into addresses.
pub trait Lookup: Send + Sync {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver (`getaddrinfo`: /etc/hosts, then DNS).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

pub fn system() -> Arc<dyn Lookup> {
    Arc::new(SystemLookup)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{host} did not resolve: {cause}")]
    Dns { host: String, cause: String },
    #[error("{host} resolves only to refused addresses: {reasons}")]
    Refused { host: String, reasons: String },
}

/// The addresses of `host` that the policy permits, in the resolver's order; an error when
/// the name does not resolve or every address it has is refused.
pub async fn permitted_addresses(
    lookup: &dyn Lookup,
    policy: &AddressPolicy,
    host: &str,
) -> Result<Vec<IpAddr>, ResolveError> {
    let resolved = lookup.lookup(host).await.map_err(|e| ResolveError::Dns {
        host: host.to_owned(),
        cause: e.to_string(),
    })?;
    if resolved.is_empty() {
        return Err(ResolveError::Dns {
            host: host.to_owned(),
            cause: "no addresses".to_owned(),
        });
    }
    let (permitted, refused): (Vec<_>, Vec<_>) = resolved
        .iter()
        .map(|ip| policy.check_ip(*ip).map(|()| *ip))
        .partition(Result::is_ok);
    if permitted.is_empty() {
        let reasons = refused
            .into_iter()
            .filter_map(Result::err)
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ResolveError::Refused {
            host: host.to_owned(),
            reasons,
        });
    }
    Ok(permitted.into_iter().filter_map(Result::ok).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<IpAddr>);

    impl Lookup for Fixed {
        fn lookup(&self, _: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
            let answer = self.0.clone();
            Box::pin(async move { Ok(answer) })
        }
    }

    fn fixed(addrs: &[&str]) -> Fixed {
        Fixed(addrs.iter().map(|a| a.parse().unwrap()).collect())
    }

    #[tokio::test]
    async fn internal_answers_are_dropped_and_only_internal_ones_refused() {
        let policy = AddressPolicy::default();
        let mixed = fixed(&["127.0.0.1", "93.184.216.34"]);
        let kept = permitted_addresses(&mixed, &policy, "mixed.test").await;
        assert_eq!(kept.unwrap(), [IpAddr::from([93, 184, 216, 34])]);
        let empty = permitted_addresses(&fixed(&[]), &policy, "none.test").await;
        assert!(matches!(empty, Err(ResolveError::Dns { .. })), "{empty:?}");
        let internal = fixed(&["127.0.0.1", "::ffff:10.0.0.1"]);
        let err = permitted_addresses(&internal, &policy, "in.test").await;
        assert_eq!(
            err.unwrap_err().to_string(),
            "in.test resolves only to refused addresses: 127.0.0.1 is a loopback address \
             (127.0.0.0/8); ::ffff:10.0.0.1 carries 10.0.0.1, a private address (10.0.0.0/8)"
        );
    }

    #[tokio::test]
    async fn the_system_resolver_reads_the_hosts_file() {
        let err = permitted_addresses(&SystemLookup, &AddressPolicy::default(), "localhost")
            .await
            .unwrap_err();
        assert!(matches!(err, ResolveError::Refused { .. }), "{err}");
    }
}
