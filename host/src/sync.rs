//! Locks that survive a panicking holder. Every mutex in mpwasm guards data that stays valid
//! whatever a panicking thread was doing (a queue, a counter, a child handle, a writer), so a
//! poisoned lock is taken as it is rather than spreading one thread's panic to the others.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, WaitTimeoutResult};
use std::time::Duration;

/// Locks `mutex`, poisoned or not.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `changed`, poisoned or not.
pub(crate) fn wait<'a, T>(changed: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    changed.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `changed` for at most `timeout`, poisoned or not.
pub(crate) fn wait_timeout<'a, T>(
    changed: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
    changed
        .wait_timeout(guard, timeout)
        .unwrap_or_else(PoisonError::into_inner)
}
