//! Webhook URLs, parsed once each: every attempt needs its URL parsed (for the SSRF policy,
//! the request and its span), and parsing took about a twentieth of the dispatcher's CPU in
//! a fan-out profile, where a handful of URLs were parsed thousands of times a second.

use std::collections::HashMap;
use std::sync::Mutex;

use url::Url;

/// URLs kept at most; past it the cache starts over (a process serving more webhooks than
/// this parses some URLs again, no worse than without it).
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct ParsedUrls {
    parsed: Mutex<HashMap<String, Url>>,
}

impl ParsedUrls {
    /// `url` parsed; `None` when it does not parse (never cached: reqwest reports why).
    pub fn parse(&self, url: &str) -> Option<Url> {
        let mut parsed = self
            .parsed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = parsed.get(url) {
            return Some(known.clone());
        }
        let new = Url::parse(url).ok()?;
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
        assert_eq!(again.port(), Some(8443));
        assert_eq!(urls.parsed.lock().unwrap().len(), 1);
    }

    #[test]
    fn an_unparsable_url_is_not_kept() {
        let urls = ParsedUrls::default();
        assert!(urls.parse("http://[::1").is_none());
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
        assert_eq!(newest.path(), "/newest");
        assert_eq!(urls.parsed.lock().unwrap().len(), 1);
    }
}
