//! When to try again. The schedule is data (`HERALD_RETRY_SCHEDULE`, default 1s, 4s, 16s,
//! 64s, 256s: six attempts in all); this is the one pure function that turns it, a receiver's
//! `Retry-After` and a random draw into the next delay.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delays between attempts: `schedule[k]` follows attempt `k + 1`.
    pub schedule: Vec<Duration>,
    /// The longest `Retry-After` honoured; longer requests are cut to this.
    pub max_retry_after: Duration,
    /// Spread added to each delay, as a fraction of it (0.1 = up to 10% later), so that
    /// deliveries failing together do not retry in lockstep. Never earlier than scheduled.
    pub jitter: f64,
}

impl RetryPolicy {
    pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
    pub const DEFAULT_JITTER: f64 = 0.1;

    pub fn new(schedule: Vec<Duration>) -> Self {
        Self {
            schedule,
            max_retry_after: Self::DEFAULT_MAX_RETRY_AFTER,
            jitter: Self::DEFAULT_JITTER,
        }
    }

    /// The same policy (jitter, `Retry-After` cap) over another schedule: a tenant's own.
    pub fn with_schedule(&self, schedule: Vec<Duration>) -> Self {
        Self {
            schedule,
            ..self.clone()
        }
    }

    /// Attempts in all: the first plus one per scheduled delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.schedule.len()).map_or(u32::MAX, |n| n.saturating_add(1))
    }

    /// The wait after attempt number `attempt` (1-based) failed transiently, or `None` when
    /// it was the last. `retry_after` is the receiver's request (429/503); `unit` is a random
    /// draw in [0, 1) for the jitter.
    pub fn delay_after(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        let scheduled = *self.schedule.get(index)?;
        let jittered = scheduled.mul_f64(1.0 + self.jitter * unit.clamp(0.0, 1.0));
        let asked = retry_after.map(|d| d.min(self.max_retry_after));
        Some(asked.map_or(jittered, |asked| asked.max(jittered)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn default_policy() -> RetryPolicy {
        RetryPolicy::new(vec![secs(1), secs(4), secs(16), secs(64), secs(256)])
    }

    #[test]
    fn the_default_schedule_gives_six_attempts() {
        let policy = default_policy();
        assert_eq!(policy.max_attempts(), 6);
        let delays: Vec<_> = (1..=6).map(|a| policy.delay_after(a, None, 0.0)).collect();
        assert_eq!(
            delays,
            [
                Some(secs(1)),
                Some(secs(4)),
                Some(secs(16)),
                Some(secs(64)),
                Some(secs(256)),
                None
            ]
        );
        assert_eq!(policy.delay_after(0, None, 0.0), None);
    }

    #[test]
    fn jitter_only_ever_delays_and_is_bounded() {
        let policy = default_policy();
        for unit in [0.0, 0.25, 0.5, 0.999, 5.0, -1.0] {
            let delay = policy.delay_after(2, None, unit).unwrap();
            assert!(
                delay >= secs(4) && delay <= secs(4).mul_f64(1.1),
                "{unit}: {delay:?}"
            );
        }
    }

    #[test]
    fn another_schedule_keeps_the_jitter_and_the_cap() {
        let platform = RetryPolicy {
            jitter: 0.5,
            ..default_policy()
        };
        let tenant = platform.with_schedule(vec![Duration::from_millis(100)]);
        assert_eq!(tenant.max_attempts(), 2);
        assert_eq!(tenant.jitter, 0.5);
        assert_eq!(tenant.max_retry_after, platform.max_retry_after);
        assert_eq!(
            tenant.delay_after(1, None, 1.0),
            Some(Duration::from_millis(150))
        );
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let policy = default_policy();
        assert_eq!(policy.delay_after(1, Some(secs(30)), 0.0), Some(secs(30)));
        // Never sooner than the schedule says.
        assert_eq!(policy.delay_after(3, Some(secs(2)), 0.0), Some(secs(16)));
        // Never longer than the cap.
        assert_eq!(
            policy.delay_after(1, Some(secs(86_400)), 0.0),
            Some(secs(3600))
        );
        // The last attempt stays the last, whatever the receiver asks.
        assert_eq!(policy.delay_after(6, Some(secs(1)), 0.0), None);
    }
}

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Succeeded,
    RetryIn(Duration),
    Dead(crate::job::DeadReason),
}

/// Combines an attempt's verdict with the schedule. `attempt` is 1-based; `unit` is a random
/// draw in [0, 1) for the jitter.
pub fn decide(
    verdict: crate::classify::Verdict,
    attempt: u32,
    policy: &RetryPolicy,
    unit: f64,
) -> Decision {
    use crate::classify::Verdict;
    use crate::job::DeadReason;
    match verdict {
        Verdict::Success => Decision::Succeeded,
        Verdict::Gone => Decision::Dead(DeadReason::Gone),
        Verdict::Permanent => Decision::Dead(DeadReason::Permanent),
        Verdict::Transient { retry_after } => policy
            .delay_after(attempt, retry_after, unit)
            .map_or(Decision::Dead(DeadReason::Exhausted), Decision::RetryIn),
    }
}

#[cfg(test)]
mod decide_tests {
    use super::*;
    use crate::classify::Verdict;
    use crate::job::DeadReason;

    #[test]
    fn transient_failures_retry_until_the_schedule_ends() {
        let policy = RetryPolicy::new(vec![Duration::from_secs(1), Duration::from_secs(4)]);
        let transient = Verdict::Transient { retry_after: None };
        assert_eq!(
            decide(transient, 1, &policy, 0.0),
            Decision::RetryIn(Duration::from_secs(1))
        );
        assert_eq!(
            decide(transient, 2, &policy, 0.0),
            Decision::RetryIn(Duration::from_secs(4))
        );
        assert_eq!(
            decide(transient, 3, &policy, 0.0),
            Decision::Dead(DeadReason::Exhausted)
        );
    }

    #[test]
    fn other_verdicts_do_not_look_at_the_schedule() {
        let policy = RetryPolicy::new(vec![Duration::from_secs(1)]);
        assert_eq!(
            decide(Verdict::Success, 9, &policy, 0.0),
            Decision::Succeeded
        );
        assert_eq!(
            decide(Verdict::Gone, 1, &policy, 0.0),
            Decision::Dead(DeadReason::Gone)
        );
        assert_eq!(
            decide(Verdict::Permanent, 1, &policy, 0.0),
            Decision::Dead(DeadReason::Permanent)
        );
    }
}
