//! The worker's standard output: the frames it sends the host. A message is flushed at once,
//! except a batch's results while more batches already wait: those are written and left for
//! the next flush, which comes when the queue runs dry or from a flusher thread at most
//! [`FLUSH_DELAY`] later. With many tiny batches (chunksize 1) that turns a system call and a
//! host wake-up per task into one per few hundred tasks, and a task that runs long after
//! them never holds earlier results back by more than the delay.

use std::io::{self, BufWriter, Stdout, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::sync;
use crate::wire::frame::write_frame;
use crate::wire::message::FromWorker;

/// The longest a written result waits for its flush.
pub const FLUSH_DELAY: Duration = Duration::from_micros(100);

/// The worker's stdout, shared by its threads.
#[derive(Clone)]
pub struct Output(Arc<Shared>);

struct Shared {
    state: Mutex<State>,
    dirty: Condvar,
}

struct State {
    writer: BufWriter<Stdout>,
    /// When the oldest unflushed frame was written.
    dirty_since: Option<Instant>,
}

impl Output {
    /// Stdout, with a flusher thread for deferred frames.
    pub fn stdout() -> Output {
        let output = Output(Arc::new(Shared {
            state: Mutex::new(State {
                writer: BufWriter::new(io::stdout()),
                dirty_since: None,
            }),
            dirty: Condvar::new(),
        }));
        let flusher = output.clone();
        std::thread::spawn(move || flusher.flush_when_due());
        output
    }

    /// Writes and flushes `msg` (with anything written before it). False when the host is
    /// gone.
    pub fn send(&self, msg: &FromWorker) -> bool {
        let mut state = self.lock();
        state.dirty_since = None;
        write_frame(&mut state.writer, msg).is_ok() && state.writer.flush().is_ok()
    }

    /// Writes `msg` and leaves its flush to the next [`send`](Self::send) or to the flusher,
    /// within [`FLUSH_DELAY`]. False when the host is gone.
    pub fn send_soon(&self, msg: &FromWorker) -> bool {
        let mut state = self.lock();
        if write_frame(&mut state.writer, msg).is_err() {
            return false;
        }
        if state.dirty_since.is_none() {
            state.dirty_since = Some(Instant::now());
            self.0.dirty.notify_one();
        }
        true
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        sync::lock(&self.0.state)
    }

    /// The flusher: sleeps until something is written unflushed, then flushes it once it is
    /// [`FLUSH_DELAY`] old (unless a `send` flushed it first).
    fn flush_when_due(&self) {
        let mut state = self.lock();
        loop {
            match state.dirty_since {
                None => {
                    state = sync::wait(&self.0.dirty, state);
                }
                Some(since) => {
                    let due = since + FLUSH_DELAY;
                    let now = Instant::now();
                    if now >= due {
                        state.dirty_since = None;
                        if state.writer.flush().is_err() {
                            return; // the host is gone; the main loop finds out itself
                        }
                    } else {
                        state = sync::wait_timeout(&self.0.dirty, state, due - now).0;
                    }
                }
            }
        }
    }
}
