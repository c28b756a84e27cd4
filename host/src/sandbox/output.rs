//! The guest's stdout and stderr: both go into one per-sandbox buffer (interleaved as
//! written), capped at the output limit. Past the cap, bytes are counted and dropped while the
//! guest is told they were written, so a chatty guest neither fails nor grows host memory.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::vocab::CapturedOutput;

/// What `check-write` allows at once.
const ROOM: u64 = 64 * 1024;

#[derive(Debug, Default)]
struct Buffer {
    bytes: Vec<u8>,
    dropped: u64,
    cap: usize,
}

/// A capped output buffer shared by a sandbox's stdout and stderr streams.
#[derive(Debug, Clone)]
pub struct OutputCapture(Arc<Mutex<Buffer>>);

impl OutputCapture {
    /// A capture keeping at most `cap` bytes between two [`take`](Self::take)s.
    pub fn new(cap: u64) -> OutputCapture {
        OutputCapture(Arc::new(Mutex::new(Buffer {
            bytes: Vec::new(),
            dropped: 0,
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A poisoned lock only means a writer panicked mid-append; the bytes are still usable.
        crate::sync::lock(&self.0)
    }

    /// Appends what the guest wrote: kept up to the cap, counted past it.
    pub(crate) fn append(&self, data: &[u8]) {
        let mut buf = self.lock();
        let room = buf.cap.saturating_sub(buf.bytes.len());
        let kept = room.min(data.len());
        buf.bytes.extend_from_slice(&data[..kept]);
        buf.dropped += (data.len() - kept) as u64;
    }

    /// How many bytes a guest may write at once (`check-write`). Always the same: past the cap
    /// the bytes are counted, not kept, so there is always room.
    pub(crate) fn room(&self) -> u64 {
        ROOM
    }

    /// A copy of what is captured so far (to look for a panic message), leaving it in place.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().bytes.clone()
    }

    /// Everything captured since the last call, leaving the buffer empty.
    pub fn take(&self) -> CapturedOutput {
        let mut buf = self.lock();
        let out = CapturedOutput {
            bytes: std::mem::take(&mut buf.bytes),
            dropped: buf.dropped,
        };
        buf.dropped = 0;
        out
    }
}

impl IsTerminal for OutputCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputCapture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutputCapture {
    async fn ready(&mut self) {}
}

impl OutputStream for OutputCapture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(ROOM as usize)
    }
}

impl AsyncWrite for OutputCapture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_counts() {
        let capture = OutputCapture::new(4);
        capture.append(b"abc");
        capture.append(b"defg");
        let out = capture.take();
        assert_eq!(out.bytes, b"abcd");
        assert_eq!(out.dropped, 3);
        assert_eq!(capture.take(), CapturedOutput::default());
    }
}
