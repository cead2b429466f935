//! The threads a packed generation splits its work over: the calling thread plus `threads − 1`
//! workers started once with the [`super::PackedHyper`] and kept between calls.
//!
//! An adapter is made of a handful of short parallel parts (the trunk's rows, each head GEMM's
//! panels; at SmolLM2 shapes 0.1–1 ms each), so what a hand-off costs matters: starting threads
//! per part costs a spawn and a join each time, and a pool whose idle workers sleep at once
//! (rayon's, measured: 53–76 µs per hand-off on average, 1 µs at best) costs a wake-up per part.
//! Here an idle worker spins for [`SPIN`] before it sleeps, so the parts of one generation, and
//! generations in a row, find it awake; a worker that has slept is woken through a condition
//! variable. A share is offered, not assigned: when the caller has done its own share and a
//! worker has not yet taken its share (descheduled by another busy process, or still waking
//! up), the caller takes the share back and runs it itself instead of waiting.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker (and a caller waiting for its workers) spins before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// The caller plus a persistent pool of helper threads (none for one thread).
#[derive(Debug, Clone)]
pub(crate) struct Workers {
    pool: Option<Arc<Pool>>,
}

/// Worker states: no job for it (or the caller took the job back) …
const IDLE: u8 = 0;
/// … a job is on offer …
const OFFERED: u8 = 1;
/// … it took the job and is running it …
const CLAIMED: u8 = 2;
/// … it has finished the job.
const DONE: u8 = 3;

/// A job as the workers see it: worker `i` (1-based) calls it with `i − 1`.
type Job<'a> = dyn Fn(usize) + Sync + 'a;

/// What the caller and its workers share.
struct Shared {
    /// Bumped once per hand-off (and at shutdown); a worker runs the job of each new value.
    epoch: AtomicU64,
    /// The current job, its lifetime erased: written by the caller before it offers it, read
    /// by a worker that took it, and not touched again by the caller until every worker that
    /// took it is `DONE` (see [`Workers::run_each`]).
    job: UnsafeCell<Option<*const Job<'static>>>,
    /// Per worker: [`IDLE`], [`OFFERED`] (a job waits for it), [`CLAIMED`] (running it) or
    /// [`DONE`].
    states: Vec<AtomicU8>,
    /// The first panic of a worker's task in the current job.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    shutdown: AtomicBool,
    /// Workers asleep (changed under `sleep`), and what wakes them.
    sleeping: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
    /// Held for a whole hand-off: one job at a time.
    dispatch: Mutex<()>,
    /// Set while the caller sleeps until a worker is `DONE` (changed under `finished`), and
    /// what wakes it.
    caller_asleep: AtomicBool,
    finished: Mutex<()>,
    finish: Condvar,
}

// SAFETY: `job` is only written by the caller holding `dispatch` while no worker can read it
// (none is [`CLAIMED`]), and only read by a worker between its `OFFERED → CLAIMED` exchange and
// its `DONE` store, while the caller waits; the pointee is `Sync`.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

/// The worker threads; dropping the last handle stops and joins them.
struct Pool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.handles.len())
            .finish()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, SeqCst);
        self.shared.epoch.fetch_add(1, SeqCst);
        self.shared.notify();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Shared {
    /// Wakes the sleeping workers (after `epoch` changed).
    fn notify(&self) {
        if self.sleeping.load(SeqCst) > 0 {
            let _guard = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_all();
        }
    }

    /// Waits until `epoch` differs from `seen` (spinning first) and returns it.
    fn next_epoch(&self, seen: u64) -> u64 {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let now = self.epoch.load(SeqCst);
            if now != seen {
                return now;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) || start.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            let mut guard = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
            self.sleeping.fetch_add(1, SeqCst);
            while self.epoch.load(SeqCst) == seen {
                guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
            self.sleeping.fetch_sub(1, SeqCst);
            return self.epoch.load(SeqCst);
        }
    }

    /// Worker `index`'s loop: the job of every new epoch that is still on offer when it looks,
    /// until shutdown. Starts from epoch 0, the pool's first: a hand-off may come before this
    /// thread first runs.
    fn work(&self, index: usize) {
        let state = &self.states[index - 1];
        let mut seen = 0;
        loop {
            seen = self.next_epoch(seen);
            if self.shutdown.load(SeqCst) {
                return;
            }
            if state
                .compare_exchange(OFFERED, CLAIMED, SeqCst, SeqCst)
                .is_err()
            {
                // Taken back by the caller (or already run at an earlier look).
                continue;
            }
            // SAFETY: the caller wrote `job` before offering it, and keeps it and its pointee
            // alive and unchanged until this worker stores `DONE`.
            let job = unsafe { (*self.job.get()).map(|j| &*j) };
            if let Some(job) = job
                && let Err(panic) = catch_unwind(AssertUnwindSafe(|| job(index - 1)))
            {
                let mut slot = self.panic.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert(panic);
            }
            state.store(DONE, SeqCst);
            if self.caller_asleep.load(SeqCst) {
                let _guard = self.finished.lock().unwrap_or_else(|e| e.into_inner());
                self.finish.notify_all();
            }
        }
    }

    /// Waits (spinning first, then asleep) until the worker with `state` is `DONE`.
    fn wait_done(&self, state: &AtomicU8) {
        let start = Instant::now();
        while start.elapsed() < SPIN {
            if state.load(SeqCst) == DONE {
                return;
            }
            std::hint::spin_loop();
        }
        let mut guard = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        self.caller_asleep.store(true, SeqCst);
        while state.load(SeqCst) != DONE {
            // The timeout only guards against a lost wake-up; the worker notifies.
            guard = self
                .finish
                .wait_timeout(guard, Duration::from_millis(1))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        self.caller_asleep.store(false, SeqCst);
    }
}

impl Workers {
    /// `threads` threads in all (at least 1): this thread and `threads − 1` pooled ones. Where a
    /// worker cannot be started, the work runs on the threads that could.
    pub(crate) fn new(threads: usize) -> Self {
        let wanted = threads.max(1) - 1;
        if wanted == 0 {
            return Self { pool: None };
        }
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: UnsafeCell::new(None),
            states: (0..wanted).map(|_| AtomicU8::new(IDLE)).collect(),
            panic: Mutex::new(None),
            shutdown: AtomicBool::new(false),
            sleeping: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            dispatch: Mutex::new(()),
            caller_asleep: AtomicBool::new(false),
            finished: Mutex::new(()),
            finish: Condvar::new(),
        });
        let handles: Vec<JoinHandle<()>> = (1..=wanted)
            .map_while(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("t2l-packed-{i}"))
                    .spawn(move || shared.work(i))
                    .ok()
            })
            .collect();
        let pool = (!handles.is_empty()).then(|| Arc::new(Pool { shared, handles }));
        Self { pool }
    }

    /// Threads that work runs on (the caller included).
    pub(crate) fn count(&self) -> usize {
        self.pool.as_ref().map_or(1, |p| p.handles.len() + 1)
    }

    /// Runs `task` on every item, the last one on this thread and the others on the workers
    /// (give at most [`Self::count`] items: each is one thread's share); returns when all are
    /// done. A panic of a task is raised here once every share has finished. While another
    /// thread is handing work to the same pool (or from inside a task), the items run here,
    /// one after the other.
    pub(crate) fn run_each<T: Send>(&self, items: Vec<T>, task: impl Fn(T) + Sync) {
        let mut items: Vec<Mutex<Option<T>>> =
            items.into_iter().map(|t| Mutex::new(Some(t))).collect();
        let Some(last) = items.pop() else {
            return;
        };
        let last = last.into_inner().unwrap_or_else(|e| e.into_inner());
        let pool = self.pool.as_ref().filter(|_| !items.is_empty());
        let dispatch = pool.and_then(|p| match p.shared.dispatch.try_lock() {
            Ok(guard) => Some(guard),
            // A panic raised through an earlier hand-off left nothing half-done.
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        });
        let (Some(pool), Some(dispatch)) = (pool, dispatch) else {
            for item in items {
                if let Some(item) = item.into_inner().unwrap_or_else(|e| e.into_inner()) {
                    task(item);
                }
            }
            last.map(&task);
            return;
        };
        let shared = &pool.shared;
        let run_slot = |slot: &Mutex<Option<T>>| {
            let item = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(item) = item {
                task(item);
            }
        };
        let job = |i: usize| {
            if let Some(slot) = items.get(i) {
                run_slot(slot);
            }
        };
        let job: &Job<'_> = &job;
        // SAFETY: only the lifetime is erased; this function does not return (nor unwind)
        // before every worker that took the job has stored `DONE` (below), and a worker only
        // reads `job` after taking it; we hold `dispatch`, so no other caller writes it.
        unsafe {
            let job: *const Job<'static> = std::mem::transmute::<&Job<'_>, &Job<'static>>(job);
            *shared.job.get() = Some(job);
        }
        for state in &shared.states {
            state.store(OFFERED, SeqCst);
        }
        shared.epoch.fetch_add(1, SeqCst);
        shared.notify();
        // Our share, then any share no worker has started.
        let own = catch_unwind(AssertUnwindSafe(|| {
            last.map(&task);
            items.iter().for_each(run_slot);
        }));
        for state in &shared.states {
            if state
                .compare_exchange(OFFERED, IDLE, SeqCst, SeqCst)
                .is_ok()
            {
                continue;
            }
            shared.wait_done(state);
            state.store(IDLE, SeqCst);
        }
        // SAFETY: every worker is done with the job (above); clear it before it dangles.
        unsafe { *shared.job.get() = None };
        let worker_panic = shared
            .panic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(dispatch);
        if let Err(panic) = own {
            resume_unwind(panic);
        }
        if let Some(panic) = worker_panic {
            resume_unwind(panic);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;

    #[test]
    fn every_item_runs_once_on_up_to_count_threads() {
        for threads in [1, 2, 3] {
            let workers = Workers::new(threads);
            assert_eq!(workers.count(), threads);
            for items in 0..=threads {
                let seen = Mutex::new(Vec::new());
                let names = Mutex::new(BTreeSet::new());
                workers.run_each((0..items).collect(), |i| {
                    seen.lock().unwrap().push(i);
                    let name = std::thread::current().name().map(str::to_owned);
                    names.lock().unwrap().insert(name);
                });
                let mut seen = seen.into_inner().unwrap();
                seen.sort_unstable();
                assert_eq!(seen, (0..items).collect::<Vec<_>>());
                assert!(names.into_inner().unwrap().len() <= items.max(1));
            }
        }
    }

    #[test]
    fn the_pool_is_kept_between_calls_and_idle_workers_wake_up() {
        let workers = Workers::new(2);
        let ids = Mutex::new(HashSet::new());
        for round in 0..12 {
            if round % 4 == 3 {
                // Long enough for the worker to stop spinning and sleep.
                std::thread::sleep(SPIN * 5);
            }
            workers.run_each(vec![0, 1], |i| {
                if i == 0 {
                    ids.lock().unwrap().insert(std::thread::current().id());
                } else {
                    // The caller's share outlasts any wake-up, so item 0 is the worker's.
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        // Item 0 always ran on the one pooled worker: the same thread every call.
        let ids = ids.into_inner().unwrap();
        assert_eq!(ids.len(), 1);
        assert!(!ids.contains(&std::thread::current().id()));
    }

    #[test]
    fn a_busy_pool_never_makes_another_caller_wait() {
        // The one worker is kept busy by another caller's long share: this caller's hand-offs
        // run here, every item once, without waiting for the busy worker.
        let workers = Workers::new(2);
        let seen = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            s.spawn(|| {
                workers.run_each(vec![0, 1], |i| {
                    if i == 0 {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                })
            });
            std::thread::sleep(Duration::from_millis(20));
            let start = Instant::now();
            for _ in 0..10 {
                workers.run_each(vec![1, 2], |i| seen.lock().unwrap().push(i));
            }
            assert!(
                start.elapsed() < Duration::from_millis(150),
                "waited for a busy worker"
            );
        });
        assert_eq!(seen.into_inner().unwrap().iter().sum::<usize>(), 30);
    }

    #[test]
    fn a_task_panic_reaches_the_caller_and_the_pool_keeps_working() {
        let workers = Workers::new(2);
        for panicking in [0, 1] {
            let caught = catch_unwind(AssertUnwindSafe(|| {
                workers.run_each(vec![0, 1], |i| assert_ne!(i, panicking, "task {i} fails"));
            }));
            assert!(caught.is_err(), "item {panicking}'s panic was lost");
            let sum = AtomicUsize::new(0);
            workers.run_each(vec![1, 2], |i| {
                sum.fetch_add(i, SeqCst);
            });
            assert_eq!(sum.load(SeqCst), 3);
        }
    }

    #[test]
    fn concurrent_and_nested_callers_all_finish() {
        let workers = Workers::new(2);
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..200 {
                        workers.run_each(vec![1, 2], |i| {
                            // A task handing out work of its own runs it inline.
                            workers.run_each(vec![i, i], |j| {
                                total.fetch_add(j, SeqCst);
                            });
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(SeqCst), 3 * 200 * 6);
    }
}
