//! The process-wide memory budget for image decoding and encoding. Each decode reserves
//! what its pixels will take (read from the header, before any pixel is decoded) and gives
//! it back when the work is done, so no number of parallel uploads, edits or provider
//! images can hold more than the budget at once. A reservation that does not fit waits a
//! little for others to finish, then is refused: the client gets 503 with `Retry-After`.
//! Blocking: reserve from the blocking pool, never on the executor.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a reservation waits for room before it is refused.
const WAIT_FOR_ROOM: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct DecodeBudget {
    inner: Arc<Inner>,
}

struct Inner {
    limit: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRoom {
    /// More than the whole budget: it can never fit.
    TooLarge,
    /// The budget is in use; try again shortly.
    Busy,
}

/// Memory held from the budget until dropped.
pub struct Reservation {
    inner: Arc<Inner>,
    bytes: u64,
}

impl DecodeBudget {
    pub fn new(limit: u64) -> Self {
        DecodeBudget {
            inner: Arc::new(Inner {
                limit,
                used: Mutex::new(0),
                freed: Condvar::new(),
            }),
        }
    }

    pub fn limit(&self) -> u64 {
        self.inner.limit
    }

    /// Bytes reserved right now.
    pub fn in_use(&self) -> u64 {
        *relock(&self.inner.used)
    }

    /// Reserves `bytes`, waiting up to [`WAIT_FOR_ROOM`] for room.
    pub fn reserve(&self, bytes: u64) -> Result<Reservation, NoRoom> {
        if bytes > self.inner.limit {
            return Err(NoRoom::TooLarge);
        }
        let deadline = Instant::now() + WAIT_FOR_ROOM;
        let mut used = relock(&self.inner.used);
        let waited = *used + bytes > self.inner.limit;
        while *used + bytes > self.inner.limit {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                crate::base::metrics::decode_wait(true);
                return Err(NoRoom::Busy);
            }
            used = self
                .inner
                .freed
                .wait_timeout(used, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        if waited {
            crate::base::metrics::decode_wait(false);
        }
        *used += bytes;
        Ok(Reservation {
            inner: Arc::clone(&self.inner),
            bytes,
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut used = relock(&self.inner.used);
        *used = used.saturating_sub(self.bytes);
        self.inner.freed.notify_all();
    }
}

fn relock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_the_budget_and_give_back_on_drop() {
        let budget = DecodeBudget::new(100);
        assert_eq!(budget.reserve(101).err(), Some(NoRoom::TooLarge));
        let first = budget.reserve(60).expect("fits");
        assert_eq!(budget.in_use(), 60);
        let started = Instant::now();
        assert_eq!(budget.reserve(50).err(), Some(NoRoom::Busy));
        assert!(started.elapsed() >= WAIT_FOR_ROOM, "waited for room first");
        let waiting = {
            let budget = budget.clone();
            std::thread::spawn(move || budget.reserve(50).map(|r| r.bytes))
        };
        std::thread::sleep(Duration::from_millis(100));
        drop(first);
        assert_eq!(
            waiting.join().expect("thread"),
            Ok(50),
            "room freed wakes a waiter"
        );
        assert_eq!(budget.in_use(), 0);
    }
}
