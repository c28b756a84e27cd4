//! The memory limit: the sum of a store's linear memories and tables may not grow past the
//! limit. A refused growth traps at once and is remembered, so the failure is reported as
//! `memory-limit` with the size asked for, never confused with other traps.

use wasmtime::ResourceLimiter;

/// Bytes counted per table element (a reference).
const TABLE_ELEMENT_BYTES: u64 = 8;

/// A per-store limiter over memories plus tables.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: u64,
    used: u64,
    refused: Option<u64>,
}

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes in total.
    pub fn new(limit: u64) -> MemoryLimiter {
        MemoryLimiter {
            limit,
            used: 0,
            refused: None,
        }
    }

    /// The total size a refused growth asked for, if one was refused.
    pub fn refused(&self) -> Option<u64> {
        self.refused
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The bytes of memories and tables the store holds now.
    pub fn used(&self) -> u64 {
        self.used
    }

    fn grow(&mut self, extra: u64) -> wasmtime::Result<bool> {
        let wanted = self.used.saturating_add(extra);
        if wanted > self.limit {
            self.refused = Some(wanted);
            return Err(wasmtime::format_err!(
                "memory limit: growing to {wanted} bytes, over the limit of {} bytes",
                self.limit
            ));
        }
        self.used = wanted;
        Ok(true)
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(desired.saturating_sub(current) as u64)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow((desired.saturating_sub(current) as u64).saturating_mul(TABLE_ELEMENT_BYTES))
    }
}
