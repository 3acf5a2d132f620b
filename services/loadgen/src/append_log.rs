//! What a run records while it runs (each 201, each arrival), appended from many tasks.
//!
//! The log is kept in chunks of a fixed capacity. A single `Vec` doubles as it grows, and the
//! push that doubles it copies everything recorded so far while every other recorder waits for
//! the lock: at 10,000 deliveries/s the receiver's log passed 2^20 arrivals after 105 s and
//! its push then copied 64 MiB, a stall that showed as a spike in Herald's end-to-end latency.
//! Here a push never moves what is already recorded; a full chunk is followed by a new one.

use std::sync::{Mutex, MutexGuard};

/// Entries per chunk: 16,384 arrivals are about 1 MiB.
const CHUNK: usize = 1 << 14;

pub struct AppendLog<T> {
    chunks: Mutex<Vec<Vec<T>>>,
}

impl<T> Default for AppendLog<T> {
    fn default() -> Self {
        Self {
            chunks: Mutex::new(Vec::new()),
        }
    }
}

impl<T> AppendLog<T> {
    pub fn push(&self, entry: T) {
        let mut chunks = self.lock();
        match chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(entry),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(entry);
                chunks.push(chunk);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lock().iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Everything recorded so far, in the order it was pushed.
    pub fn to_vec(&self) -> Vec<T>
    where
        T: Clone,
    {
        let chunks = self.lock();
        let mut all = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
        for chunk in chunks.iter() {
            all.extend_from_slice(chunk);
        }
        all
    }

    /// Everything recorded, in order, leaving the log empty.
    pub fn take(&self) -> Vec<T> {
        let chunks = std::mem::take(&mut *self.lock());
        let mut all = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
        for chunk in chunks {
            all.extend(chunk);
        }
        all
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Vec<T>>> {
        // A recorder that panicked left whole entries behind: keep them.
        self.chunks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_in_order_across_chunks() {
        let log = AppendLog::default();
        let n = CHUNK * 2 + 5;
        for i in 0..n {
            log.push(i);
        }
        assert_eq!(log.len(), n);
        assert_eq!(log.lock().len(), 3, "two full chunks and one begun");
        let expected: Vec<usize> = (0..n).collect();
        assert_eq!(log.to_vec(), expected);
        assert_eq!(log.take(), expected);
        assert!(log.is_empty());
    }

    #[test]
    fn a_full_chunk_is_never_moved() {
        let log = AppendLog::default();
        for i in 0..CHUNK {
            log.push(i);
        }
        let first = log.lock()[0].as_ptr();
        for i in 0..CHUNK * 3 {
            log.push(i);
        }
        assert_eq!(log.lock()[0].as_ptr(), first);
        assert!(log.lock().iter().all(|chunk| chunk.len() <= CHUNK));
    }
}
