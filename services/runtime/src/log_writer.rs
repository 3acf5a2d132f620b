//! Where log lines go: standard output, written by a thread of its own. A line is formatted
//! where it is logged and handed over a bounded channel; the thread writes whatever has
//! queued up in one go, then waits `GATHER` before it looks again, so under load many lines
//! cost one `write`, and the loggers do not wake the thread for each line (at `info`, a
//! delivery logs four lines). A line reaches standard output at most `GATHER` after it was
//! logged, and at once when nothing was logged just before it. No line is dropped: when the
//! queue is full, because whatever reads standard output has stalled, the logging threads
//! wait, as they did when they wrote themselves. What is queued is written before the
//! process exits (`Telemetry::shutdown`, or the guard's drop), within a second.

use std::io::{BufWriter, Write};
use std::time::Duration;

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Lines that may wait for the writer thread before loggers wait in turn.
pub const QUEUED_LINES: usize = 65_536;

/// Bytes gathered before a write, when lines come faster than the thread writes them.
const BATCH_BYTES: usize = 64 * 1024;

/// How long the thread lets lines gather after each write.
pub const GATHER: Duration = Duration::from_millis(10);

/// A writer for `tracing_subscriber`'s `fmt` layer that sends lines to `out` from a thread
/// of its own, and the guard that keeps that thread until every queued line is written.
pub fn spawn<W: Write + Send + 'static>(out: W, queued_lines: usize) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .buffered_lines_limit(queued_lines)
        .lossy(false)
        .thread_name("herald-log")
        .finish(Gathering(BufWriter::with_capacity(BATCH_BYTES, out)))
}

/// The thread's writer. Its loop writes what is queued and then flushes, and blocks for the
/// next line only once the queue is empty; pausing after the flush lets the lines logged
/// meanwhile wait in the queue, where handing one over wakes nobody.
struct Gathering<W: Write>(BufWriter<W>);

impl<W: Write> Write for Gathering<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        std::thread::sleep(GATHER);
        Ok(())
    }
}

/// The service's standard output, that way.
pub fn stdout() -> (NonBlocking, WorkerGuard) {
    spawn(std::io::stdout(), QUEUED_LINES)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Keeps what is written and how many writes it took; each write takes a while, as a
    /// slow reader of standard output would make it.
    #[derive(Clone, Default)]
    struct SlowSink {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<Mutex<usize>>,
    }

    impl Write for SlowSink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_millis(2));
            self.bytes.lock().unwrap().extend_from_slice(bytes);
            *self.writes.lock().unwrap() += 1;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_in_order_through_a_small_queue_and_a_slow_reader() {
        let sink = SlowSink::default();
        let (writer, guard) = spawn(sink.clone(), 8);
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for line in 0..500 {
                        let text = format!("{thread} {line}\n");
                        writer.make_writer().write_all(text.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);

        let text = String::from_utf8(sink.bytes.lock().unwrap().clone()).unwrap();
        let mut next = [0; 4];
        for line in text.lines() {
            let (thread, number) = line.split_once(' ').unwrap();
            let thread: usize = thread.parse().unwrap();
            assert_eq!(number.parse::<usize>().unwrap(), next[thread], "{line}");
            next[thread] += 1;
        }
        assert_eq!(next, [500; 4], "every line of every thread, none dropped");
        let writes = *sink.writes.lock().unwrap();
        assert!(
            writes < 2000,
            "lines that queued up went out together: {writes} writes"
        );
    }
}
