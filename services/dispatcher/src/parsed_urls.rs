//! Webhook URLs, parsed once each: every attempt needs its URL parsed (for the SSRF policy,
//! the request and its span), and parsing took about a twentieth of the dispatcher's CPU in
//! a fan-out profile, where a handful of URLs were parsed thousands of times a second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::Uri;
use url::Url;

/// A webhook URL in both forms an attempt needs: `url` for the policy and the span, `uri`
/// (from `url`'s normalized text) for the request.
#[derive(Debug, PartialEq)]
pub struct Target {
    pub url: Url,
    pub uri: Uri,
}

impl Target {
    /// Why `text` is no target (`None`: it is one).
    pub fn invalid(text: &str) -> Option<String> {
        match Url::parse(text) {
            Err(error) => Some(format!("invalid URL: {error}")),
            Ok(url) => Uri::try_from(url.as_str())
                .err()
                .map(|error| format!("invalid URL: {error}")),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let url = Url::parse(text).ok()?;
        let uri = Uri::try_from(url.as_str()).ok()?;
        Some(Self { url, uri })
    }
}

/// URLs kept at most; past it the cache starts over (a process serving more webhooks than
/// this parses some URLs again, no worse than without it).
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct ParsedUrls {
    parsed: Mutex<HashMap<String, Arc<Target>>>,
}

impl ParsedUrls {
    /// `url` parsed; `None` when it does not parse (never cached: `Target::invalid` says why).
    pub fn parse(&self, url: &str) -> Option<Arc<Target>> {
        let mut parsed = self
            .parsed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = parsed.get(url) {
            return Some(known.clone());
        }
        let new = Arc::new(Target::parse(url)?);
        if parsed.len() >= CAPACITY {
            parsed.clear();
        }
        parsed.insert(url.to_owned(), new.clone());
        Some(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_parses_the_same_from_the_cache() {
        let urls = ParsedUrls::default();
        let first = urls.parse("https://example.com:8443/hooks?x=1").unwrap();
        let again = urls.parse("https://example.com:8443/hooks?x=1").unwrap();
        assert_eq!(first, again);
        assert_eq!(again.url.port(), Some(8443));
        assert_eq!(again.uri.port_u16(), Some(8443));
        assert_eq!(again.uri.path_and_query().unwrap(), "/hooks?x=1");
        assert_eq!(urls.parsed.lock().unwrap().len(), 1);
    }

    #[test]
    fn an_unparsable_url_is_not_kept() {
        let urls = ParsedUrls::default();
        assert!(urls.parse("http://[::1").is_none());
        assert!(
            Target::invalid("http://[::1")
                .unwrap()
                .starts_with("invalid URL: ")
        );
        assert_eq!(Target::invalid("https://example.com/a b"), None);
        assert!(urls.parsed.lock().unwrap().is_empty());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let urls = ParsedUrls::default();
        for n in 0..CAPACITY {
            urls.parse(&format!("https://example.com/{n}")).unwrap();
        }
        assert_eq!(urls.parsed.lock().unwrap().len(), CAPACITY);
        let newest = urls.parse("https://example.com/newest").unwrap();
        assert_eq!(newest.url.path(), "/newest");
        assert_eq!(urls.parsed.lock().unwrap().len(), 1);
    }
}
