//! The threads a packed generation splits its work over: the calling thread plus a pool of
//! `threads − 1` workers started once with the [`super::PackedHyper`] and kept between calls
//! (starting threads per GEMM call cost a spawn and a join each time, and under load a new
//! thread waits for a core before it runs).

use std::sync::Arc;

/// The caller plus a persistent pool of helper threads (none for one thread).
#[derive(Debug, Clone)]
pub(crate) struct Workers {
    threads: usize,
    /// `threads − 1` pooled workers (`None` for one thread).
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl Workers {
    /// `threads` threads in all (at least 1): this thread and `threads − 1` pooled ones. Where
    /// the pool cannot be started, the work runs on the calling thread alone.
    pub(crate) fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let pool = (threads > 1)
            .then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads - 1)
                    .thread_name(|i| format!("t2l-packed-{i}"))
                    .build()
                    .ok()
            })
            .flatten();
        Self {
            threads: if pool.is_some() { threads } else { 1 },
            pool: pool.map(Arc::new),
        }
    }

    /// Threads that work runs on (the caller included).
    pub(crate) fn count(&self) -> usize {
        self.threads
    }

    /// Runs `task` on every item, the last one on this thread and the others on the pool (give
    /// at most [`Self::count`] items: each is one thread's share); returns when all are done.
    pub(crate) fn run_each<T: Send>(&self, items: Vec<T>, task: impl Fn(T) + Sync) {
        let mut items = items.into_iter();
        let Some(last) = items.next_back() else {
            return;
        };
        match &self.pool {
            Some(pool) if items.len() > 0 => pool.in_place_scope(|s| {
                let task = &task;
                for item in items {
                    s.spawn(move |_| task(item));
                }
                task(last);
            }),
            _ => {
                items.for_each(&task);
                task(last);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn every_item_runs_once_on_up_to_count_threads() {
        for threads in [1, 2, 3] {
            let workers = Workers::new(threads);
            assert_eq!(workers.count(), threads);
            let seen = Mutex::new(Vec::new());
            let names = Mutex::new(std::collections::BTreeSet::new());
            workers.run_each((0..threads).collect(), |i| {
                seen.lock().unwrap().push(i);
                let name = std::thread::current().name().map(str::to_owned);
                names.lock().unwrap().insert(name);
            });
            let mut seen = seen.into_inner().unwrap();
            seen.sort_unstable();
            assert_eq!(seen, (0..threads).collect::<Vec<_>>());
            assert!(names.into_inner().unwrap().len() <= threads);
        }
        // No items: nothing runs, nothing blocks.
        Workers::new(2).run_each(Vec::<usize>::new(), |_| panic!("no item"));
    }

    #[test]
    fn the_pool_is_kept_between_calls() {
        let workers = Workers::new(2);
        let ids = Mutex::new(std::collections::HashSet::new());
        for _ in 0..20 {
            workers.run_each(vec![0, 1], |i| {
                if i == 0 {
                    ids.lock().unwrap().insert(std::thread::current().id());
                }
            });
        }
        // Item 0 always runs on the one pooled worker: the same thread every call.
        assert_eq!(ids.into_inner().unwrap().len(), 1);
    }
}
