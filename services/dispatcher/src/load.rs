//! What a tenant's pull loop counts: its jobs in flight in this process against the tenant's
//! cap, and how many jobs its messages have lately carried (bundles carry several), which
//! sizes its fetches.

use std::sync::atomic::{AtomicUsize, Ordering};

use herald_runtime::shutdown::ShutdownToken;
use tokio::sync::{Notify, watch};

/// A tenant's jobs in flight in one process, against its cap.
#[derive(Default)]
pub struct TenantLoad {
    pub(crate) running: AtomicUsize,
    pub(crate) done: Notify,
}

impl TenantLoad {
    /// Counts one more job in flight once the cap leaves room for it; `false`: shutting
    /// down first. A bundle's jobs after its first enter here (the message itself was
    /// counted when it was fetched), so a tenant's attempts stay within its cap.
    pub(crate) async fn enter(
        &self,
        cap: &watch::Receiver<usize>,
        shutdown: &ShutdownToken,
    ) -> bool {
        let mut cap = cap.clone();
        loop {
            let limit = *cap.borrow_and_update();
            let running = self.running.load(Ordering::Relaxed);
            if running < limit {
                let next = running + 1;
                let swapped = self.running.compare_exchange(
                    running,
                    next,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                if swapped.is_ok() {
                    return true;
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = self.done.notified() => {}
                _ = cap_change(&mut cap) => {}
            }
        }
    }

    pub(crate) fn leave(&self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
        self.done.notify_one();
    }
}

/// Jobs per message lately, in sixteenths: a fetch asks for as many messages as fill the
/// free slots at this rate, so a tenant whose events fan out does not take bundles it has
/// no slots for.
pub(crate) struct MessageSize(AtomicUsize);

impl MessageSize {
    const ONE: usize = 16;

    pub(crate) fn observe(&self, jobs: usize) {
        let seen = jobs.clamp(1, 1024) * Self::ONE;
        let old = self.0.load(Ordering::Relaxed);
        self.0.store((old * 7 + seen) / 8, Ordering::Relaxed);
    }

    /// Messages that bring about `slots` jobs: at least one.
    pub(crate) fn messages_for(&self, slots: usize) -> usize {
        let per_message = self.0.load(Ordering::Relaxed).max(Self::ONE);
        (slots * Self::ONE).div_ceil(per_message).max(1)
    }
}

impl Default for MessageSize {
    fn default() -> Self {
        Self(AtomicUsize::new(Self::ONE))
    }
}

/// Resolves when the cap changes; never, once nobody can change it any more (the supervisor
/// is gone and shutdown is under way), so a waiting puller does not spin.
pub(crate) async fn cap_change(cap: &mut watch::Receiver<usize>) {
    if cap.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::MessageSize;

    #[test]
    fn fetches_shrink_as_messages_carry_more_jobs() {
        let size = MessageSize::default();
        assert_eq!(size.messages_for(64), 64, "one job a message at first");
        for _ in 0..40 {
            size.observe(10);
        }
        let fetched = size.messages_for(64);
        assert!(
            (7..=8).contains(&fetched),
            "{fetched} messages for 64 slots"
        );
        assert_eq!(size.messages_for(1), 1, "never less than one message");
        for _ in 0..40 {
            size.observe(1);
        }
        assert_eq!(size.messages_for(64), 64, "back to one job a message");
    }
}
