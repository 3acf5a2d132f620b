//! How long a batch waits for company after its first item.

use std::time::Duration;

use tokio::time::Instant;

/// How long a batch keeps collecting after its first item, when fewer than `max_batch` are
/// queued.
#[derive(Debug, Clone, Copy)]
pub enum Linger {
    /// A batch is whatever is queued when a writer is free: no wait, but at a modest rate
    /// batches of one or two, each a statement.
    Never,
    /// Always this long: for writes nobody waits on.
    Always(Duration),
    /// This long while items arrive at least once every two such waits (at the pace of about
    /// the last second) and waiting finds company, otherwise not at all: under load each
    /// statement carries several items, while an item at a quiet moment is written at once.
    /// A caller that waits for each item before sending the next never brings company to
    /// its own batch, however fast it goes; once lingering stops paying, only one batch in
    /// `PROBE_EVERY` waits, to notice when company comes back.
    WhenBusy(Duration),
}

/// While lingering finds no company, one batch in this many lingers anyway.
const PROBE_EVERY: u32 = 8;
/// Below this share of recent lingering batches with company, lingering does not pay.
const WORTH_IT: f64 = 0.2;

impl Linger {
    /// How long the batch whose first item was taken `at` lingers.
    pub(super) fn now(self, pace: &mut Pace, at: Instant) -> Duration {
        let linger = match self {
            Linger::Never => return Duration::ZERO,
            Linger::Always(linger) => return linger,
            Linger::WhenBusy(linger) => linger,
        };
        if pace.per_second(at) * linger.as_secs_f64() < 0.5 {
            return Duration::ZERO;
        }
        if pace.company >= WORTH_IT {
            return linger;
        }
        pace.skipped += 1;
        if pace.skipped < PROBE_EVERY {
            return Duration::ZERO;
        }
        pace.skipped = 0;
        linger
    }
}

/// Items a second, averaged with a time constant of about a second: each batch taken adds
/// its items, and what was counted fades as time passes, to nothing after a second without
/// any. Also how often the recent batches that lingered found company.
#[derive(Debug)]
pub(super) struct Pace {
    per_second: f64,
    at: Instant,
    /// The share of recent lingering batches that held more than one item (each new one
    /// weighs a fifth).
    company: f64,
    /// Batches that did not linger since lingering stopped paying.
    skipped: u32,
}

impl Pace {
    const WINDOW: f64 = 1.0;

    pub(super) fn new() -> Self {
        Self {
            per_second: 0.0,
            at: Instant::now(),
            company: 1.0,
            skipped: 0,
        }
    }

    pub(super) fn per_second(&self, at: Instant) -> f64 {
        let faded = at.saturating_duration_since(self.at).as_secs_f64() / Self::WINDOW;
        self.per_second * (1.0 - faded).max(0.0)
    }

    /// Counts a batch of `items` taken `at`, after lingering or not.
    pub(super) fn count(&mut self, items: usize, at: Instant, lingered: bool) {
        self.per_second = self.per_second(at) + items as f64 / Self::WINDOW;
        self.at = at;
        if lingered {
            let found = if items > 1 { 1.0 } else { 0.0 };
            self.company = 0.8 * self.company + 0.2 * found;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_MS: Duration = Duration::from_millis(2);

    /// Takes a batch of `items` every `gap` from `at` on, `batches` times; returns how many
    /// lingered and when the last was taken.
    fn batches(
        pace: &mut Pace,
        mut at: Instant,
        gap: Duration,
        items: usize,
        batches: u32,
    ) -> (u32, Instant) {
        let mut lingered = 0;
        for _ in 0..batches {
            at += gap;
            let linger = Linger::WhenBusy(TWO_MS).now(pace, at);
            lingered += u32::from(!linger.is_zero());
            pace.count(items, at + linger, !linger.is_zero());
        }
        (lingered, at)
    }

    #[test]
    fn the_pace_follows_the_last_second_and_fades() {
        let start = Instant::now();
        let mut pace = Pace::new();
        // Ten items every 10 ms for five seconds (five time constants): a thousand a second.
        for tick in 1..=500 {
            pace.count(10, start + Duration::from_millis(10 * tick), false);
        }
        let end = start + Duration::from_secs(5);
        assert!(
            (pace.per_second(end) - 1000.0).abs() < 20.0,
            "{}",
            pace.per_second(end)
        );
        assert!((pace.per_second(end + Duration::from_millis(500)) - 500.0).abs() < 20.0);
        assert_eq!(pace.per_second(end + Duration::from_secs(2)), 0.0);
        assert_eq!(Linger::WhenBusy(TWO_MS).now(&mut pace, end), TWO_MS);
        let quiet = end + Duration::from_millis(999);
        assert_eq!(
            Linger::WhenBusy(TWO_MS).now(&mut pace, quiet),
            Duration::ZERO
        );
    }

    #[test]
    fn lingering_stops_for_a_caller_that_waits_on_each_item_and_resumes_for_company() {
        let mut pace = Pace::new();
        let start = Instant::now();
        // Warm up at three items per batch, 300 batches a second: every batch lingers.
        let gap = Duration::from_micros(3_300);
        let (lingered, at) = batches(&mut pace, start, gap, 3, 600);
        let (lingered_later, at) = batches(&mut pace, at, gap, 3, 100);
        assert!(
            lingered > 500 && lingered_later == 100,
            "{lingered}, {lingered_later}"
        );
        // One caller alone, an item at a time as fast as it is answered: after a few
        // batches that waited in vain, only the probes linger.
        let (_, at) = batches(&mut pace, at, gap, 1, 20);
        let (lingered, at) = batches(&mut pace, at, gap, 1, 800);
        assert_eq!(lingered, 800 / PROBE_EVERY, "one batch in {PROBE_EVERY}");
        // Others join again: the first probe that finds company brings lingering back.
        let (lingered, _) = batches(&mut pace, at, gap, 3, 100);
        assert!(lingered > 80, "{lingered} of 100 lingered");
    }
}
