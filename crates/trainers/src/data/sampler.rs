//! The hierarchical SFT sampler of the reference (`HierachicalBatchSampler`, §4.1): every batch
//! holds `tasks_per_batch` *distinct* tasks × `points_per_task` examples, and every example is
//! paired with a random training description of its task.
//!
//! Epochs permute the tasks and cut the permutation into batches (`n_tasks / tasks_per_batch`
//! batches per epoch); examples are drawn with replacement (`torch.randint`). Batch `i` is a pure
//! function of `(seed, i)`, so the sampler has no state to checkpoint and a resumed run sees
//! exactly the batches an uninterrupted one would.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::error::{Error, Result};
use crate::fit::micro_seed;

/// One sampled example: which task, which row of its data, which of its descriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRef {
    /// Index of the task in the sampler's task list.
    pub task: usize,
    /// Row of that task's training data.
    pub example: usize,
    /// Index of the description paired with the example.
    pub description: usize,
}

/// Per-task sizes the sampler draws from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSizes {
    /// Number of training rows.
    pub examples: usize,
    /// Number of training descriptions.
    pub descriptions: usize,
}

/// The hierarchical batch sampler.
///
/// ```
/// use trainers::data::sampler::{HierarchicalSampler, TaskSizes};
/// let tasks = vec![TaskSizes { examples: 10, descriptions: 3 }; 5];
/// let s = HierarchicalSampler::new(tasks, 2, 3, 42).unwrap();
/// let batch = s.batch(7);
/// assert_eq!(batch.len(), 6);                 // 2 tasks × 3 examples
/// assert_ne!(batch[0].task, batch[3].task);    // distinct tasks
/// assert_eq!(batch, s.batch(7));               // a pure function of (seed, index)
/// ```
#[derive(Debug, Clone)]
pub struct HierarchicalSampler {
    tasks: Vec<TaskSizes>,
    tasks_per_batch: usize,
    points_per_task: usize,
    seed: u64,
}

impl HierarchicalSampler {
    /// A sampler over `tasks`; errors when a task is empty or there are fewer tasks than
    /// `tasks_per_batch`.
    pub fn new(
        tasks: Vec<TaskSizes>,
        tasks_per_batch: usize,
        points_per_task: usize,
        seed: u64,
    ) -> Result<Self> {
        if tasks_per_batch == 0 || points_per_task == 0 {
            return Err(Error::config(
                "data.tasks_per_batch / data.points_per_task",
                "must be at least 1",
            ));
        }
        if tasks.len() < tasks_per_batch {
            return Err(Error::config(
                "data.tasks_per_batch",
                format!(
                    "{tasks_per_batch} distinct tasks per batch but only {} tasks",
                    tasks.len()
                ),
            ));
        }
        if let Some(i) = tasks
            .iter()
            .position(|t| t.examples == 0 || t.descriptions == 0)
        {
            return Err(Error::data(
                format!("task #{i}"),
                "no training rows or no descriptions",
            ));
        }
        Ok(Self {
            tasks,
            tasks_per_batch,
            points_per_task,
            seed,
        })
    }

    /// Batches per epoch (`n_tasks / tasks_per_batch`, the remainder dropped as in the reference).
    pub fn batches_per_epoch(&self) -> usize {
        self.tasks.len() / self.tasks_per_batch
    }

    /// Examples per batch.
    pub fn batch_size(&self) -> usize {
        self.tasks_per_batch * self.points_per_task
    }

    /// Batch number `index` (0-based, counting across epochs): task-major, `points_per_task`
    /// consecutive entries per task.
    pub fn batch(&self, index: usize) -> Vec<SampleRef> {
        let per_epoch = self.batches_per_epoch();
        let (epoch, slot) = (index / per_epoch, index % per_epoch);
        let mut order: Vec<usize> = (0..self.tasks.len()).collect();
        // Stream 0 of the epoch's seed permutes the tasks; stream 1 of the batch's draws examples.
        let mut perm_rng = StdRng::seed_from_u64(micro_seed(self.seed, epoch, usize::MAX));
        order.shuffle(&mut perm_rng);
        let mut rng = StdRng::seed_from_u64(micro_seed(self.seed ^ 0x5A4D_504C, index, 1));
        let chosen = &order[slot * self.tasks_per_batch..(slot + 1) * self.tasks_per_batch];
        let mut out = Vec::with_capacity(self.batch_size());
        for &task in chosen {
            let sizes = &self.tasks[task];
            for _ in 0..self.points_per_task {
                out.push(SampleRef {
                    task,
                    example: rng.random_range(0..sizes.examples),
                    description: rng.random_range(0..sizes.descriptions),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    proptest! {
        #[test]
        fn never_repeats_a_task_within_a_batch(
            n_tasks in 1usize..40,
            per_batch in 1usize..10,
            points in 1usize..4,
            seed in any::<u64>(),
            index in 0usize..500,
        ) {
            prop_assume!(per_batch <= n_tasks);
            let tasks = (0..n_tasks).map(|i| TaskSizes { examples: 1 + i % 7, descriptions: 1 + i % 3 }).collect();
            let s = HierarchicalSampler::new(tasks, per_batch, points, seed).unwrap();
            let b = s.batch(index);
            prop_assert_eq!(b.len(), per_batch * points);
            let distinct: HashSet<usize> = b.iter().map(|r| r.task).collect();
            prop_assert_eq!(distinct.len(), per_batch);
            for r in &b {
                prop_assert!(r.example < 1 + r.task % 7);
                prop_assert!(r.description < 1 + r.task % 3);
            }
        }
    }

    #[test]
    fn an_epoch_visits_every_task_once() {
        let tasks = vec![
            TaskSizes {
                examples: 5,
                descriptions: 2
            };
            12
        ];
        let s = HierarchicalSampler::new(tasks, 4, 1, 3).unwrap();
        assert_eq!(s.batches_per_epoch(), 3);
        for epoch in 0..3 {
            let seen: HashSet<usize> = (0..3)
                .flat_map(|b| s.batch(epoch * 3 + b))
                .map(|r| r.task)
                .collect();
            assert_eq!(seen.len(), 12);
        }
        // Different epochs use different orders.
        let first: Vec<usize> = s.batch(0).iter().map(|r| r.task).collect();
        let later: Vec<usize> = s.batch(3).iter().map(|r| r.task).collect();
        assert_ne!(first, later);
    }

    #[test]
    fn rejects_impossible_batches() {
        let one = vec![TaskSizes {
            examples: 3,
            descriptions: 1,
        }];
        assert!(HierarchicalSampler::new(one.clone(), 2, 1, 0).is_err());
        let empty = vec![TaskSizes {
            examples: 0,
            descriptions: 1,
        }];
        assert!(HierarchicalSampler::new(empty, 1, 1, 0).is_err());
        assert!(HierarchicalSampler::new(one, 1, 8, 0).is_ok());
    }
}
