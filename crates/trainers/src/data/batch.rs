//! Batching tokenised samples: right padding, attention mask, and the per-token loss weights that
//! give every sample equal weight (token losses divided by the sample's response length, §4.1
//! `equally_weight_sample`).

use burn::prelude::*;

use crate::data::encode::SftSample;

/// A padded batch on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// Rows.
    pub batch: usize,
    /// Padded length.
    pub seq: usize,
    /// `[batch · seq]` token ids, right-padded.
    pub ids: Vec<i64>,
    /// `[batch · seq]`: true for real tokens.
    pub attention: Vec<bool>,
    /// Flat positions `row · seq + t` of every target token (`t ≥ 1`).
    pub target_positions: Vec<usize>,
    /// The target token at each of those positions.
    pub target_ids: Vec<i64>,
    /// The row each target belongs to.
    pub target_rows: Vec<usize>,
    /// Weight of each target in the loss (sums to 1 over the batch).
    pub target_weights: Vec<f32>,
}

/// How per-token losses are combined into the batch loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// Each sample's token losses divided by its response length, averaged over samples
    /// (the reference's `equally_weight_sample=True`, default).
    #[default]
    PerSample,
    /// The mean over all target tokens of the batch (`transformers`' default).
    PerToken,
}

/// Pads `samples` on the right to a multiple of `multiple` (8 in the reference collator) and
/// computes the target positions and weights.
pub fn collate(
    samples: &[SftSample],
    pad_id: u32,
    multiple: usize,
    weighting: Weighting,
) -> HostBatch {
    let longest = samples.iter().map(|s| s.ids.len()).max().unwrap_or(1);
    let m = multiple.max(1);
    let seq = longest.div_ceil(m) * m;
    let batch = samples.len();
    let mut ids = vec![pad_id as i64; batch * seq];
    let mut attention = vec![false; batch * seq];
    let mut target_positions = Vec::new();
    let mut target_ids = Vec::new();
    let mut target_rows = Vec::new();
    let mut target_weights = Vec::new();
    let total_targets: usize = samples
        .iter()
        .map(|s| s.ids.len().saturating_sub(s.n_prompt.max(1)))
        .sum();
    for (row, s) in samples.iter().enumerate() {
        for (t, &id) in s.ids.iter().enumerate() {
            ids[row * seq + t] = id as i64;
            attention[row * seq + t] = true;
        }
        // Position 0 has no context; it is never a target.
        let first = s.n_prompt.max(1);
        let n = s.ids.len().saturating_sub(first);
        for t in first..s.ids.len() {
            target_positions.push(row * seq + t);
            target_ids.push(s.ids[t] as i64);
            target_rows.push(row);
            target_weights.push(match weighting {
                Weighting::PerSample => 1.0 / (n as f32 * batch as f32),
                Weighting::PerToken => 1.0 / total_targets.max(1) as f32,
            });
        }
    }
    HostBatch {
        batch,
        seq,
        ids,
        attention,
        target_positions,
        target_ids,
        target_rows,
        target_weights,
    }
}

impl HostBatch {
    /// Total tokens (real, not padding).
    pub fn n_tokens(&self) -> usize {
        self.attention.iter().filter(|a| **a).count()
    }

    /// Real (non-padding) tokens of each row.
    pub fn row_lengths(&self) -> Vec<usize> {
        (0..self.batch)
            .map(|r| {
                self.attention[r * self.seq..(r + 1) * self.seq]
                    .iter()
                    .filter(|a| **a)
                    .count()
            })
            .collect()
    }

    /// The sub-batch of `rows` (in that order), padded only to the longest of them. Targets keep
    /// their weights (so the sub-batch losses of a partition add up to the batch loss) and are
    /// renumbered: `target_rows` index into `rows`.
    pub fn select_rows(&self, rows: &[usize]) -> HostBatch {
        let lengths = self.row_lengths();
        let seq = rows.iter().map(|&r| lengths[r]).max().unwrap_or(0).max(1);
        let pad = (0..self.ids.len())
            .find(|&i| !self.attention[i])
            .map_or(0, |i| self.ids[i]);
        let mut out = HostBatch {
            batch: rows.len(),
            seq,
            ids: vec![pad; rows.len() * seq],
            attention: vec![false; rows.len() * seq],
            target_positions: Vec::new(),
            target_ids: Vec::new(),
            target_rows: Vec::new(),
            target_weights: Vec::new(),
        };
        for (new, &r) in rows.iter().enumerate() {
            let len = lengths[r];
            out.ids[new * seq..new * seq + len]
                .copy_from_slice(&self.ids[r * self.seq..r * self.seq + len]);
            out.attention[new * seq..new * seq + len].fill(true);
            for (i, _) in self
                .target_rows
                .iter()
                .enumerate()
                .filter(|(_, t)| **t == r)
            {
                let t = self.target_positions[i] - r * self.seq;
                out.target_positions.push(new * seq + t);
                out.target_ids.push(self.target_ids[i]);
                out.target_rows.push(new);
                out.target_weights.push(self.target_weights[i]);
            }
        }
        out
    }

    /// Token ids `[batch, seq]` on `device`.
    pub fn ids_tensor<B: Backend>(&self, device: &B::Device) -> Tensor<B, 2, Int> {
        Tensor::from_data(
            TensorData::new(self.ids.clone(), [self.batch, self.seq]),
            device,
        )
    }

    /// Attention mask `[batch, seq]` on `device` (true = real token).
    pub fn attention_tensor<B: Backend>(&self, device: &B::Device) -> Tensor<B, 2, Bool> {
        Tensor::from_data(
            TensorData::new(self.attention.clone(), [self.batch, self.seq]),
            device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_multiple_and_weights_samples_equally() {
        let a = SftSample {
            ids: vec![5, 6, 7, 8],
            n_prompt: 2,
        }; // 2 targets
        let b = SftSample {
            ids: vec![5, 6, 7, 8, 9, 10, 11],
            n_prompt: 3,
        }; // 4 targets
        let h = collate(&[a, b], 0, 8, Weighting::PerSample);
        assert_eq!((h.batch, h.seq), (2, 8));
        assert_eq!(h.ids[4..8], [0, 0, 0, 0]);
        assert!(!h.attention[4] && h.attention[3]);
        assert_eq!(h.target_positions, vec![2, 3, 11, 12, 13, 14]);
        assert_eq!(h.target_ids, vec![7, 8, 8, 9, 10, 11]);
        let w = &h.target_weights;
        assert!((w[0] - 0.25).abs() < 1e-7 && (w[2] - 0.125).abs() < 1e-7);
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(h.n_tokens(), 11);
        let t = collate(&h_samples(), 0, 1, Weighting::PerToken);
        assert!(
            t.target_weights
                .iter()
                .all(|w| (w - 1.0 / 3.0).abs() < 1e-7)
        );
    }

    #[test]
    fn select_rows_trims_padding_and_keeps_weights() {
        let samples = vec![
            SftSample {
                ids: vec![5, 6, 7, 8, 9, 10, 11, 12, 13],
                n_prompt: 3,
            },
            SftSample {
                ids: vec![5, 6, 7],
                n_prompt: 1,
            },
        ];
        let h = collate(&samples, 0, 8, Weighting::PerSample);
        assert_eq!(h.seq, 16);
        assert_eq!(h.row_lengths(), vec![9, 3]);
        let s = h.select_rows(&[1]);
        assert_eq!((s.batch, s.seq), (1, 3));
        assert_eq!(s.ids, vec![5, 6, 7]);
        assert_eq!(s.target_positions, vec![1, 2]);
        assert_eq!(s.target_ids, vec![6, 7]);
        assert_eq!(s.target_rows, vec![0, 0]);
        assert_eq!(s.target_weights, vec![0.25, 0.25]);
        let both = h.select_rows(&[1, 0]);
        assert_eq!((both.batch, both.seq), (2, 9));
        assert_eq!(both.ids[..4], [5, 6, 7, 0]);
        assert_eq!(both.target_rows, vec![0, 0, 1, 1, 1, 1, 1, 1]);
        assert_eq!(both.target_positions[2], 9 + 3);
        let total: f32 = both.target_weights.iter().sum();
        assert!((total - 1.0).abs() < 1e-6);
    }

    fn h_samples() -> Vec<SftSample> {
        vec![
            SftSample {
                ids: vec![1, 2, 3],
                n_prompt: 1,
            },
            SftSample {
                ids: vec![1, 2],
                n_prompt: 1,
            },
        ]
    }
}
