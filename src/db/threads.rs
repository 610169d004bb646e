//! The threads Diesel runs on: at most one per pooled connection, started when needed and
//! ended after a while idle, and the one that went idle last takes the next query.
//!
//! Actix's blocking pool (up to 512 threads per worker) wakes whichever of its threads it
//! likes, so a busy server cycled a query through a hundred threads whose caches and
//! allocator pages were cold: reading and rendering a gallery page of 24 tiles spent more
//! time missing the cache in `malloc` than decoding rows. Here the few threads a 2-core
//! machine keeps busy stay warm.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long a thread waits for work before it ends.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

type Job = Box<dyn FnOnce() + Send>;

/// A handle on the threads; clones share them.
#[derive(Clone)]
pub struct DbThreads {
    shared: Arc<Shared>,
}

struct Shared {
    limit: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Threads waiting for work, the one that went idle last on top.
    idle: Vec<Thread>,
    /// Threads running (busy or idle).
    running: usize,
}

/// The work panicked (the thread carries on), or no thread could be started for it.
#[derive(Debug)]
pub struct Panicked;

impl DbThreads {
    /// Up to `limit` threads (at least one).
    pub fn new(limit: usize) -> Self {
        DbThreads {
            shared: Arc::new(Shared {
                limit: limit.max(1),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Runs `work` on one of the threads and waits for it without blocking the executor.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Panicked>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        self.submit(Box::new(move || {
            // The caller may have stopped waiting; the result is then dropped here.
            let _ = done.send(catch_unwind(AssertUnwindSafe(work)));
        }));
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) | Err(_) => Err(Panicked),
        }
    }

    fn submit(&self, job: Job) {
        let mut state = self.shared.lock();
        state.queue.push_back(job);
        if let Some(thread) = state.idle.pop() {
            thread.unpark();
        } else if state.running < self.shared.limit {
            state.running += 1;
            drop(state);
            let shared = self.shared.clone();
            let spawned = thread::Builder::new()
                .name("atelier-db".into())
                .spawn(move || shared.serve());
            if let Err(err) = spawned {
                tracing::error!(error = %err, "could not start a database thread");
                let mut state = self.shared.lock();
                state.running -= 1;
                if state.running == 0 {
                    // No thread will ever take them: dropping the jobs tells their callers.
                    state.queue.clear();
                }
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job never runs under the lock, so a poisoned lock holds consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A thread's life: take the oldest job, or wait on top of the idle stack; end after
    /// [`IDLE_LIMIT`] without work.
    fn serve(&self) {
        let me = thread::current();
        let mut idle_since = Instant::now();
        loop {
            let mut state = self.lock();
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job();
                idle_since = Instant::now();
                continue;
            }
            let listed = state.idle.iter().position(|t| t.id() == me.id());
            if idle_since.elapsed() >= IDLE_LIMIT {
                // Ending is safe only while no submitter has picked this thread (one that
                // popped it from the stack has queued work for it).
                if let Some(at) = listed {
                    state.idle.remove(at);
                    state.running -= 1;
                    return;
                }
                idle_since = Instant::now();
            }
            if listed.is_none() {
                state.idle.push(me.clone());
            }
            drop(state);
            thread::park_timeout(IDLE_LIMIT.saturating_sub(idle_since.elapsed()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_and_reports_a_panic_without_losing_the_thread() {
        let threads = DbThreads::new(1);
        assert_eq!(threads.run(|| 2 + 2).await.unwrap(), 4);
        assert!(threads.run(|| panic!("boom")).await.is_err());
        assert_eq!(threads.run(|| "still here").await.unwrap(), "still here");
        assert_eq!(threads.shared.lock().running, 1);
    }

    #[tokio::test]
    async fn never_runs_more_threads_than_its_limit_and_reuses_the_last_idle_one() {
        let threads = DbThreads::new(3);
        let names: Vec<_> = futures_util::future::join_all((0..20).map(|_| {
            threads.run(|| {
                thread::sleep(Duration::from_millis(5));
                thread::current().id()
            })
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        let mut distinct = names.clone();
        distinct.sort_by_key(|id| format!("{id:?}"));
        distinct.dedup();
        assert!(distinct.len() <= 3, "{} threads ran", distinct.len());
        assert!(threads.shared.lock().running <= 3);
        // One at a time (each thread back on the stack before the next, and none still
        // waking from the rush above), the work always lands on the thread that went idle
        // last.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let first = threads.run(|| thread::current().id()).await.unwrap();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(threads.run(|| thread::current().id()).await.unwrap(), first);
        }
    }
}
