//! Length-prefixed postcard frames over a byte stream (a worker's stdin or stdout).
//!
//! A frame is a little-endian `u32` length followed by that many bytes of postcard. The reader
//! refuses lengths over [`MAX_FRAME`] and allocates only as bytes arrive, so garbage on a pipe
//! is an error, never a panic or an allocation the peer did not pay for.

use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest frame either side accepts: 256 MiB.
pub const MAX_FRAME: u32 = 256 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The pipe failed (or closed in the middle of a frame).
    #[error("pipe error: {0}")]
    Io(#[from] io::Error),
    /// The length prefix is larger than [`MAX_FRAME`]: the peer wrote garbage.
    #[error("frame of {0} bytes is over the limit of {MAX_FRAME} bytes (garbage on the pipe?)")]
    TooLarge(u64),
    /// The bytes are not a valid message.
    #[error("malformed message: {0}")]
    Decode(#[from] postcard::Error),
}

/// Writes one message as a frame. The caller flushes when it wants the peer to see it.
pub fn write_frame<W: Write, T: Serialize>(out: &mut W, msg: &T) -> Result<(), FrameError> {
    let bytes = postcard::to_stdvec(msg)?;
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|len| *len <= MAX_FRAME)
        .ok_or(FrameError::TooLarge(bytes.len() as u64))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&bytes)?;
    Ok(())
}

/// Encodes one message as a complete frame (length prefix included), ready to write.
///
/// # Errors
/// [`FrameError::TooLarge`] or an encoding error.
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0u8; 4];
    let mut frame = postcard::to_extend(msg, std::mem::take(&mut frame))?;
    let len = u32::try_from(frame.len() - 4)
        .ok()
        .filter(|len| *len <= MAX_FRAME)
        .ok_or(FrameError::TooLarge((frame.len() - 4) as u64))?;
    frame[..4].copy_from_slice(&len.to_le_bytes());
    Ok(frame)
}

/// Reads one frame into `buf` (reused between calls) and decodes it.
///
/// Returns `Ok(None)` on a clean end of stream (EOF before the first byte of a frame).
pub fn read_frame<R: Read, T: DeserializeOwned>(
    input: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Option<T>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match input.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len.into()));
    }
    // Grow with the bytes that really arrive, so a garbage length costs nothing up front.
    buf.clear();
    input.take(u64::from(len)).read_to_end(buf)?;
    if buf.len() != len as usize {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
    }
    Ok(Some(postcard::from_bytes(buf)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_clean_eof() {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, &("hello".to_string(), 7u64)).expect("write");
        write_frame(&mut bytes, &("x".to_string(), 8u64)).expect("write");
        let mut input = &bytes[..];
        let mut buf = Vec::new();
        let a: Option<(String, u64)> = read_frame(&mut input, &mut buf).expect("read");
        let b: Option<(String, u64)> = read_frame(&mut input, &mut buf).expect("read");
        let c: Option<(String, u64)> = read_frame(&mut input, &mut buf).expect("read");
        assert_eq!(a, Some(("hello".to_string(), 7)));
        assert_eq!(b, Some(("x".to_string(), 8)));
        assert_eq!(c, None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let cases: &[&[u8]] = &[
            &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
            &[3, 0, 0, 0, 0xff],
            &[2, 0],
            &[4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        ];
        for bytes in cases {
            let mut input = *bytes;
            let mut buf = Vec::new();
            let got: Result<Option<(String, u64)>, _> = read_frame(&mut input, &mut buf);
            assert!(got.is_err(), "{bytes:?} decoded as {got:?}");
        }
    }
}
