//! A scripted DNS for the SSRF tests: each name answers what the test says, in turn, and
//! nothing reaches a real resolver. Unknown names do not resolve.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use herald_runtime::resolve::Lookup;

#[derive(Default)]
struct Script {
    answers: Vec<Vec<IpAddr>>,
    lookups: usize,
}

#[derive(Clone, Default)]
pub struct ScriptedDns {
    names: Arc<Mutex<HashMap<String, Script>>>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl ScriptedDns {
    /// `name` answers `answers[0]` to its first lookup, `answers[1]` to the second, and the
    /// last answer to every lookup after that.
    pub fn answer(&self, name: &str, answers: &[&[&str]]) -> &Self {
        let answers = answers
            .iter()
            .map(|addrs| addrs.iter().map(|a| a.parse().expect("an IP")).collect())
            .collect();
        let script = Script {
            answers,
            lookups: 0,
        };
        self.names.lock().unwrap().insert(key(name), script);
        self
    }

    /// How often `name` was looked up.
    pub fn lookups(&self, name: &str) -> usize {
        let names = self.names.lock().unwrap();
        names.get(&key(name)).map_or(0, |s| s.lookups)
    }

    pub fn lookup(&self) -> Arc<dyn Lookup> {
        Arc::new(self.clone())
    }
}

impl Lookup for ScriptedDns {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let mut names = self.names.lock().unwrap();
        let answer = names.get_mut(&key(host)).map(|script| {
            let index = script.lookups.min(script.answers.len().saturating_sub(1));
            script.lookups += 1;
            script.answers.get(index).cloned().unwrap_or_default()
        });
        let host = host.to_owned();
        Box::pin(async move {
            answer.ok_or_else(|| {
                let message = format!("{host} is not in the test's DNS");
                std::io::Error::new(std::io::ErrorKind::NotFound, message)
            })
        })
    }
}
