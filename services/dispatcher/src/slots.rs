//! Per-webhook concurrency within one dispatcher: a slow or hanging webhook holds at most
//! this many attempts, so the rest of its tenant's concurrency stays with the other webhooks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

pub struct WebhookSlots {
    per_webhook: usize,
    semaphores: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
}

impl WebhookSlots {
    pub fn new(per_webhook: usize) -> Self {
        Self {
            per_webhook,
            semaphores: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for one attempt to `webhook`, waiting at most `wait` for one to free up.
    pub async fn acquire(&self, webhook: Uuid, wait: Duration) -> Option<OwnedSemaphorePermit> {
        let semaphore = self.semaphore(webhook);
        tokio::time::timeout(wait, semaphore.acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// A slot for one attempt to `webhook`, or `None` while all of its slots are taken.
    pub fn try_acquire(&self, webhook: Uuid) -> Option<OwnedSemaphorePermit> {
        self.semaphore(webhook).try_acquire_owned().ok()
    }

    fn semaphore(&self, webhook: Uuid) -> Arc<Semaphore> {
        let mut map = self
            .semaphores
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(webhook)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_webhook)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_webhook_does_not_block_another() {
        let slots = WebhookSlots::new(2);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let held: Vec<_> = (0..2).map(|_| slots.try_acquire(a).unwrap()).collect();
        assert!(slots.try_acquire(a).is_none());
        assert!(slots.try_acquire(b).is_some());
        drop(held);
        assert!(slots.try_acquire(a).is_some());
    }
}
