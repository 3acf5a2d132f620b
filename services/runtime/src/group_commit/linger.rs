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
    /// the last second), otherwise not at all: under load each statement carries several
    /// items, while an item at a quiet moment is written at once.
    WhenBusy(Duration),
}

impl Linger {
    pub(super) fn now(self, pace: &Pace, at: Instant) -> Duration {
        match self {
            Linger::Never => Duration::ZERO,
            Linger::Always(linger) => linger,
            Linger::WhenBusy(linger) if pace.per_second(at) * linger.as_secs_f64() >= 0.5 => linger,
            Linger::WhenBusy(_) => Duration::ZERO,
        }
    }
}

/// Items a second, averaged with a time constant of about a second: each batch taken adds
/// its items, and what was counted fades as time passes, to nothing after a second without
/// any.
#[derive(Debug)]
pub(super) struct Pace {
    per_second: f64,
    at: Instant,
}

impl Pace {
    const WINDOW: f64 = 1.0;

    pub(super) fn new() -> Self {
        Self {
            per_second: 0.0,
            at: Instant::now(),
        }
    }

    pub(super) fn per_second(&self, at: Instant) -> f64 {
        let faded = at.saturating_duration_since(self.at).as_secs_f64() / Self::WINDOW;
        self.per_second * (1.0 - faded).max(0.0)
    }

    pub(super) fn count(&mut self, items: usize, at: Instant) {
        self.per_second = self.per_second(at) + items as f64 / Self::WINDOW;
        self.at = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_follows_the_last_second_and_fades() {
        let start = Instant::now();
        let mut pace = Pace::new();
        // Ten items every 10 ms for five seconds (five time constants): a thousand a second.
        for tick in 1..=500 {
            pace.count(10, start + Duration::from_millis(10 * tick));
        }
        let end = start + Duration::from_secs(5);
        assert!(
            (pace.per_second(end) - 1000.0).abs() < 20.0,
            "{}",
            pace.per_second(end)
        );
        assert!((pace.per_second(end + Duration::from_millis(500)) - 500.0).abs() < 20.0);
        assert_eq!(pace.per_second(end + Duration::from_secs(2)), 0.0);
        assert_eq!(
            Linger::WhenBusy(Duration::from_millis(2)).now(&pace, end),
            Duration::from_millis(2)
        );
        let quiet = end + Duration::from_millis(999);
        assert_eq!(
            Linger::WhenBusy(Duration::from_millis(2)).now(&pace, quiet),
            Duration::ZERO
        );
    }
}
