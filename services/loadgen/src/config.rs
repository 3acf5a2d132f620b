//! The command line: an optional mode word, then `--name value` pairs, parsed into a typed
//! `Command` once.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

pub const USAGE: &str = "\
herald-loadgen: drives POST /events against a running Herald and measures what arrives

  herald-loadgen [--flag value ...]            a load run against Herald
  herald-loadgen ceiling [--flag value ...]    the plain-HTTP ceiling: POSTs a 1 KiB JSON body
                                               straight to the built-in receiver, --concurrency
                                               in flight [256], for --duration; no Herald needed
  herald-loadgen graphs RESULT.json ...        redraws the SVG graphs of saved results

A load run writes <stem>-throughput.svg, <stem>-latency.svg and <stem>-histogram.svg next to
--out. Flags:

  --api URL               Herald's API base URL (loopback only)   [http://127.0.0.1:8080]
  --admin-token T         admin bearer token (or HERALD_ADMIN_TOKEN)
  --rate N                events per second, open loop; 0 = as fast as possible   [1000]
  --concurrency N         requests in flight at --rate 0; cap on in-flight otherwise [256 / 4096]
  --duration D            how long to send                        [60s]
  --webhooks N            webhooks on the built-in receiver       [100]
  --fanout K              webhooks each event matches (divides --webhooks)   [1]
  --receiver-delay D      how long the receiver waits before its 200   [0ms]
  --payload-bytes N       pad each payload with order items to about N bytes; 0: only the sequence number   [0]
  --target URL            send webhooks here instead of the built-in receiver (no arrivals measured)
  --drain D               wait this long for outstanding deliveries after sending   [30s]
  --out FILE              JSON result                             [loadgen-result.json]
  --pids name=pid,...     processes whose CPU time and RSS to sample from /proc
  --scenario NAME         a label written into the result         [custom]
";

/// What to do: a load run, the plain-HTTP ceiling, or graphs of saved results.
#[derive(Debug)]
pub enum Command {
    Load(Config),
    Ceiling(Config),
    Graphs(Vec<PathBuf>),
}

impl Command {
    /// Parses the arguments after the program name. `Ok(None)` means `--help` was asked for.
    pub fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Option<Self>> {
        let mut args = args.into_iter().peekable();
        match args.peek().map(String::as_str) {
            Some("ceiling") => {
                args.next();
                Ok(Config::parse_for(args, Mode::Ceiling)?.map(Self::Ceiling))
            }
            Some("graphs") => {
                let files: Vec<String> = args.skip(1).collect();
                if files.is_empty() || files.iter().any(|f| f == "--help" || f == "-h") {
                    return Ok(None);
                }
                Ok(Some(Self::Graphs(
                    files.into_iter().map(PathBuf::from).collect(),
                )))
            }
            _ => Ok(Config::parse(args)?.map(Self::Load)),
        }
    }
}

/// The modes that take flags; the ceiling needs no Herald and so no admin token.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Load,
    Ceiling,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub api: String,
    pub admin_token: String,
    pub rate: u32,
    pub concurrency: usize,
    pub duration: Duration,
    pub webhooks: usize,
    pub fanout: usize,
    pub receiver_delay: Duration,
    /// Each payload's size, about: order items are added up to it (0: just the sequence).
    pub payload_bytes: usize,
    pub target: Option<String>,
    pub drain: Duration,
    pub out: String,
    pub pids: Vec<(String, u32)>,
    pub scenario: String,
}

impl Config {
    /// Parses a load run's flags. `Ok(None)` means `--help` was asked for.
    pub fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Option<Self>> {
        Self::parse_for(args, Mode::Load)
    }

    fn parse_for(
        args: impl IntoIterator<Item = String>,
        mode: Mode,
    ) -> anyhow::Result<Option<Self>> {
        let mut config = Self {
            api: "http://127.0.0.1:8080".into(),
            admin_token: std::env::var("HERALD_ADMIN_TOKEN").unwrap_or_default(),
            rate: 1000,
            concurrency: 0,
            duration: Duration::from_secs(60),
            webhooks: 100,
            fanout: 1,
            receiver_delay: Duration::ZERO,
            payload_bytes: 0,
            target: None,
            drain: Duration::from_secs(30),
            out: "loadgen-result.json".into(),
            pids: Vec::new(),
            scenario: match mode {
                Mode::Load => "custom",
                Mode::Ceiling => "ceiling",
            }
            .into(),
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Ok(None);
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            let what = || format!("{flag} {value:?}");
            match flag.as_str() {
                "--api" => config.api = value.trim_end_matches('/').to_owned(),
                "--admin-token" => config.admin_token = value,
                "--rate" => config.rate = value.parse().with_context(what)?,
                "--concurrency" => config.concurrency = value.parse().with_context(what)?,
                "--duration" => config.duration = duration(&value).with_context(what)?,
                "--webhooks" => config.webhooks = value.parse().with_context(what)?,
                "--fanout" => config.fanout = value.parse().with_context(what)?,
                "--receiver-delay" => {
                    config.receiver_delay = duration(&value).with_context(what)?
                }
                "--payload-bytes" => config.payload_bytes = value.parse().with_context(what)?,
                "--target" => config.target = Some(value),
                "--drain" => config.drain = duration(&value).with_context(what)?,
                "--out" => config.out = value,
                "--pids" => config.pids = pids(&value).with_context(what)?,
                "--scenario" => config.scenario = value,
                other => bail!("unknown flag {other}; --help lists them"),
            }
        }
        config.check(mode)?;
        Ok(Some(config))
    }

    fn check(&mut self, mode: Mode) -> anyhow::Result<()> {
        if mode == Mode::Load && self.admin_token.is_empty() {
            bail!("--admin-token (or HERALD_ADMIN_TOKEN) is required");
        }
        let authority = self.api.split("://").nth(1).unwrap_or_default();
        let authority = authority.split('/').next().unwrap_or_default();
        let loopback = authority.starts_with("[::1]")
            || authority
                .split(':')
                .next()
                .is_some_and(|host| host.starts_with("127.") || host == "localhost");
        if !loopback {
            bail!("--api must be a loopback address, not {:?}", self.api);
        }
        if self.webhooks == 0 || self.fanout == 0 || !self.webhooks.is_multiple_of(self.fanout) {
            bail!("--webhooks must be a positive multiple of --fanout");
        }
        if self.concurrency == 0 {
            let closed_loop = self.rate == 0 || mode == Mode::Ceiling;
            self.concurrency = if closed_loop { 256 } else { 4096 };
        }
        Ok(())
    }

    /// How many event types: each matched by `fanout` webhooks.
    pub fn event_types(&self) -> usize {
        self.webhooks / self.fanout
    }
}

/// `250ms`, `30s`, `2m`, `1h`; a bare number is seconds.
pub fn duration(raw: &str) -> anyhow::Result<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().context("not a whole number")?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => bail!("unknown unit {other:?}: use ms, s, m or h"),
    })
}

fn pids(raw: &str) -> anyhow::Result<Vec<(String, u32)>> {
    raw.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (name, pid) = pair.split_once('=').context("expected name=pid")?;
            Ok((name.trim().to_owned(), pid.trim().parse().context("pid")?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Option<Config>> {
        let mut all = vec!["--admin-token", "t"];
        all.extend_from_slice(args);
        Config::parse(all.into_iter().map(String::from))
    }

    #[test]
    fn durations_take_the_contract_suffixes() {
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(duration("5").unwrap(), Duration::from_secs(5));
        assert!(duration("5d").is_err());
    }

    #[test]
    fn flags_fill_the_config() {
        let c = parse(&[
            "--rate",
            "0",
            "--webhooks",
            "10",
            "--fanout",
            "5",
            "--pids",
            "a=1,b=2",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.rate, 0);
        assert_eq!(c.concurrency, 256);
        assert_eq!(c.event_types(), 2);
        assert_eq!(c.pids, vec![("a".into(), 1), ("b".into(), 2)]);
    }

    #[test]
    fn mode_words_pick_the_command() {
        let words = |args: &[&str]| Command::parse(args.iter().map(|a| a.to_string()));
        let Some(Command::Ceiling(c)) = words(&["ceiling", "--duration", "5s"]).unwrap() else {
            panic!("expected the ceiling");
        };
        assert_eq!((c.concurrency, c.duration), (256, Duration::from_secs(5)));
        let Some(Command::Graphs(files)) = words(&["graphs", "a.json", "b.json"]).unwrap() else {
            panic!("expected graphs");
        };
        assert_eq!(files, [PathBuf::from("a.json"), PathBuf::from("b.json")]);
        assert!(words(&["graphs"]).unwrap().is_none());
        assert!(matches!(
            words(&["--admin-token", "t"]).unwrap(),
            Some(Command::Load(_))
        ));
    }

    #[test]
    fn refuses_what_would_mislead() {
        assert!(parse(&["--api", "http://10.0.0.1:8080"]).is_err());
        assert!(parse(&["--webhooks", "10", "--fanout", "3"]).is_err());
        assert!(parse(&["--bogus", "1"]).is_err());
    }
}
