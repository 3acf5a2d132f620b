//! Group commit: many concurrent callers each hand over one item and wait for its result,
//! while a few writer tasks take whatever has queued up and write it in one statement. One
//! round trip and one commit then serve a whole batch instead of one request, which is what
//! lets PostgreSQL keep up with thousands of writes a second (a row per round trip costs
//! about 100 us of database CPU; a row in a batch of hundreds, a few).
//!
//! The queue is bounded: when it is full, `try_submit` refuses at once (the API answers 503
//! with `Retry-After`), so a database that cannot keep up never turns into unbounded memory.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::time::Instant;

mod linger;
pub use linger::Linger;
use linger::Pace;

/// What a batch write returns: one result per item, in the order given.
pub type BatchResult<R> = anyhow::Result<Vec<R>>;

type Reply<R> = oneshot::Sender<Result<R, String>>;

/// The queue is full: the writers are behind.
#[derive(Debug, thiserror::Error)]
#[error("the {0} queue is full")]
pub struct Full(pub &'static str);

/// Why an item was not written.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Full(#[from] Full),
    /// The batch failed; every item in it gets the same message.
    #[error("{0}")]
    Failed(String),
}

pub struct GroupCommit<T, R> {
    name: &'static str,
    queue: mpsc::Sender<(T, Reply<R>)>,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            queue: self.queue.clone(),
        }
    }
}

/// How a group commit is sized.
#[derive(Debug, Clone, Copy)]
pub struct Sizing {
    /// Items that may wait; past it `try_submit` refuses.
    pub queue: usize,
    /// The most items one write takes.
    pub max_batch: usize,
    /// Writes in flight at once (each holds a database connection while it runs).
    pub writers: usize,
    pub linger: Linger,
}

/// The receiving end of the queue, shared by the writers, with the pace of its items.
struct Intake<T> {
    receiver: mpsc::Receiver<T>,
    pace: Pace,
}

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts `sizing.writers` writer tasks calling `write` with each batch. They stop once
    /// every handle is dropped and the queue is empty.
    pub fn spawn<W, F>(name: &'static str, sizing: Sizing, write: W) -> Self
    where
        W: Fn(Vec<T>) -> F + Send + Sync + 'static,
        F: Future<Output = BatchResult<R>> + Send,
    {
        let (queue, receiver) = mpsc::channel(sizing.queue.max(1));
        let intake = Arc::new(Mutex::new(Intake {
            receiver,
            pace: Pace::new(),
        }));
        let write = Arc::new(write);
        for _ in 0..sizing.writers.max(1) {
            let (intake, write) = (intake.clone(), write.clone());
            let max_batch = sizing.max_batch.max(1);
            let linger = sizing.linger;
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&intake, max_batch, linger).await {
                    let (items, replies): (Vec<T>, Vec<Reply<R>>) = batch.into_iter().unzip();
                    answer(name, replies, write(items).await);
                }
            });
        }
        Self { name, queue }
    }

    /// Queues the item and waits for its batch to be written; refuses at once when full.
    pub async fn try_submit(&self, item: T) -> Result<R, SubmitError> {
        let (reply, result) = oneshot::channel();
        self.queue
            .try_send((item, reply))
            .map_err(|_| Full(self.name))?;
        self.wait(result).await
    }

    /// Queues the item, waiting for room, and waits for its batch to be written.
    pub async fn submit(&self, item: T) -> Result<R, SubmitError> {
        let (reply, result) = oneshot::channel();
        self.queue
            .send((item, reply))
            .await
            .map_err(|_| SubmitError::Failed(format!("the {} writers stopped", self.name)))?;
        self.wait(result).await
    }

    async fn wait(&self, result: oneshot::Receiver<Result<R, String>>) -> Result<R, SubmitError> {
        match result.await {
            Ok(result) => result.map_err(SubmitError::Failed),
            Err(_) => Err(SubmitError::Failed(format!(
                "the {} writer stopped before answering",
                self.name
            ))),
        }
    }

    /// Items waiting for a writer.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

/// Waits for one item, then takes whatever else is queued, up to `max`, and what arrives
/// while the batch lingers. The lock makes writers take turns, so a batch forms while the
/// previous one is being written.
async fn next_batch<T>(intake: &Mutex<Intake<T>>, max: usize, linger: Linger) -> Option<Vec<T>> {
    let mut intake = intake.lock().await;
    let Intake { receiver, pace } = &mut *intake;
    let first = receiver.recv().await?;
    let started = Instant::now();
    let linger = linger.now(pace, started);
    let until = started + linger;
    let mut batch = Vec::with_capacity(max.min(receiver.len() + 1));
    batch.push(first);
    while batch.len() < max {
        let next = match receiver.try_recv() {
            Ok(item) => Some(item),
            Err(TryRecvError::Empty) if !linger.is_zero() => {
                tokio::time::timeout_at(until, receiver.recv())
                    .await
                    .ok()
                    .flatten()
            }
            Err(_) => None,
        };
        match next {
            Some(item) => batch.push(item),
            None => break,
        }
    }
    pace.count(batch.len(), Instant::now(), !linger.is_zero());
    Some(batch)
}

fn answer<R>(name: &str, replies: Vec<Reply<R>>, written: BatchResult<R>) {
    match written {
        Ok(results) if results.len() == replies.len() => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Ok(results) => {
            let message = format!(
                "{name}: a batch of {} gave {} results",
                replies.len(),
                results.len()
            );
            tracing::error!("{message}");
            for reply in replies {
                let _ = reply.send(Err(message.clone()));
            }
        }
        Err(error) => {
            let message = format!("{error:#}");
            tracing::warn!(batch = replies.len(), error = %message, "{name} batch failed");
            for reply in replies {
                let _ = reply.send(Err(message.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn sizing(queue: usize, max_batch: usize, writers: usize) -> Sizing {
        Sizing {
            queue,
            max_batch,
            writers,
            linger: Linger::Never,
        }
    }

    #[tokio::test]
    async fn concurrent_items_share_batches_and_get_their_own_results() {
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = batches.clone();
        let doubler =
            GroupCommit::spawn("doubler", sizing(1000, 100, 1), move |items: Vec<u32>| {
                counted.fetch_add(1, Ordering::Relaxed);
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(items.into_iter().map(|n| n * 2).collect())
                }
            });
        let calls = (0..300u32).map(|n| {
            let doubler = doubler.clone();
            async move { (n, doubler.submit(n).await.unwrap()) }
        });
        for (n, doubled) in futures::future::join_all(calls).await {
            assert_eq!(doubled, n * 2);
        }
        let batches = batches.load(Ordering::Relaxed);
        assert!(
            (3..300).contains(&batches),
            "300 items in {batches} batches of at most 100"
        );
    }

    /// The batches a writer was given, in order.
    type Batches = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

    /// A writer that records the batches it was given.
    fn recording(sizing: Sizing) -> (GroupCommit<u8, u8>, Batches) {
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = batches.clone();
        let commit = GroupCommit::spawn("recording", sizing, move |items: Vec<u8>| {
            seen.lock().unwrap().push(items.clone());
            async move { Ok(items) }
        });
        (commit, batches)
    }

    /// Submits `first`, and `second` once a writer has taken `first` off the queue: the two
    /// share a batch only if that writer lingers.
    async fn submit_one_then_another(commit: &GroupCommit<u8, u8>, first: u8, second: u8) {
        // Polled once, the first submission is queued and waits for its batch.
        let mut one = Box::pin(commit.submit(first));
        assert!(futures::poll!(&mut one).is_pending());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while commit.queued() != 0 && tokio::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert_eq!(commit.queued(), 0, "the writer took the first item");
        let (one, two) = futures::future::join(one, commit.submit(second)).await;
        assert_eq!((one.unwrap(), two.unwrap()), (first, second));
    }

    #[tokio::test]
    async fn a_lingering_batch_takes_what_arrives_in_time_and_no_more() {
        let (commit, batches) = recording(Sizing {
            linger: Linger::Always(Duration::from_millis(400)),
            ..sizing(10, 10, 1)
        });
        submit_one_then_another(&commit, 1, 2).await;
        // Submitted once the first batch is written: a batch of its own.
        assert_eq!(commit.submit(3).await.unwrap(), 3);
        assert_eq!(*batches.lock().unwrap(), vec![vec![1, 2], vec![3]]);
    }

    #[tokio::test]
    async fn a_full_batch_does_not_wait_out_its_linger() {
        let (commit, batches) = recording(Sizing {
            linger: Linger::Always(Duration::from_secs(3600)),
            ..sizing(10, 2, 1)
        });
        let both = futures::future::join(commit.submit(1), commit.submit(2));
        let (one, two) = tokio::time::timeout(Duration::from_secs(30), both)
            .await
            .expect("a full batch is written at once");
        assert_eq!((one.unwrap(), two.unwrap()), (1, 2));
        assert_eq!(*batches.lock().unwrap(), vec![vec![1, 2]]);
    }

    #[tokio::test]
    async fn an_item_at_a_quiet_moment_is_written_at_once() {
        let (commit, batches) = recording(Sizing {
            linger: Linger::WhenBusy(Duration::from_secs(3600)),
            ..sizing(10, 10, 1)
        });
        let written = tokio::time::timeout(Duration::from_secs(30), commit.submit(1)).await;
        assert_eq!(written.expect("written without lingering").unwrap(), 1);
        assert_eq!(*batches.lock().unwrap(), vec![vec![1]]);
    }

    #[tokio::test]
    async fn a_busy_queue_lingers_for_company() {
        let (commit, batches) = recording(Sizing {
            linger: Linger::WhenBusy(Duration::from_millis(400)),
            ..sizing(10, 10, 1)
        });
        // Three items in quick succession set a pace of about three a second, more than one
        // per two lingers of 400 ms.
        for item in 1..=3 {
            assert_eq!(commit.submit(item).await.unwrap(), item);
        }
        submit_one_then_another(&commit, 4, 5).await;
        assert_eq!(
            *batches.lock().unwrap(),
            vec![vec![1], vec![2], vec![3], vec![4, 5]]
        );
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_items() {
        let failing = GroupCommit::spawn("failing", sizing(10, 10, 1), |_: Vec<u8>| async {
            Err::<Vec<()>, _>(anyhow::anyhow!("database down"))
        });
        match failing.submit(1).await {
            Err(SubmitError::Failed(message)) => assert_eq!(message, "database down"),
            other => panic!("expected the batch's error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_short_result_fails_the_batch_instead_of_misattributing() {
        let short = GroupCommit::spawn("short", sizing(10, 10, 1), |_: Vec<u8>| async {
            Ok(Vec::<u8>::new())
        });
        assert!(matches!(short.submit(1).await, Err(SubmitError::Failed(_))));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let (release, gate) = tokio::sync::watch::channel(false);
        let slow = GroupCommit::spawn("slow", sizing(2, 1, 1), move |items: Vec<u8>| {
            let mut gate = gate.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                Ok(items)
            }
        });
        // One item is taken by the writer (blocked on the gate), two fill the queue.
        let waiting: Vec<_> = (0..3u8)
            .map(|n| {
                let slow = slow.clone();
                tokio::spawn(async move { slow.submit(n).await })
            })
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while slow.queued() != 2 && tokio::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert_eq!(slow.queued(), 2);
        assert!(matches!(
            slow.try_submit(9).await,
            Err(SubmitError::Full(Full("slow")))
        ));
        release.send(true).unwrap();
        for (n, call) in waiting.into_iter().enumerate() {
            assert_eq!(call.await.unwrap().unwrap(), n as u8);
        }
    }
}
