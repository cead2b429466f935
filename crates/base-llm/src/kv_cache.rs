//! [`KvCache`]: keys and values of the positions already processed, for incremental decoding.

use burn::prelude::*;

/// Keys and values of one layer, `[batch, kv_heads, past, head_dim]` (before head repetition).
#[derive(Debug, Clone, Default)]
pub struct LayerCache<B: Backend> {
    kv: Option<(Tensor<B, 4>, Tensor<B, 4>)>,
}

impl<B: Backend> LayerCache<B> {
    /// Appends the new keys/values along the sequence and returns the full ones.
    pub(crate) fn append(
        &mut self,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let (k, v) = match self.kv.take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        self.kv = Some((k.clone(), v.clone()));
        (k, v)
    }
}

/// The state of an incremental decode: per-layer keys/values, which cached positions are real
/// tokens (not padding) and how many real tokens each row has seen (its next rotary position).
///
/// Create it empty with [`KvCache::new`]; the first forward through it (the prefill) fixes the
/// batch size. Reuse for another prompt only after [`KvCache::reset`].
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    pub(crate) layers: Vec<LayerCache<B>>,
    /// `[batch, past]`, true for real tokens.
    pub(crate) key_mask: Option<Tensor<B, 2, Bool>>,
    /// `[batch, 1]`: real tokens seen per row.
    pub(crate) lengths: Option<Tensor<B, 2, Int>>,
    pub(crate) batch: usize,
    pub(crate) len: usize,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for a model with `n_layers` blocks.
    pub fn new(n_layers: usize) -> Self {
        Self {
            layers: (0..n_layers).map(|_| LayerCache { kv: None }).collect(),
            key_mask: None,
            lengths: None,
            batch: 0,
            len: 0,
        }
    }

    /// Number of cached positions (padding included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Batch size fixed by the prefill (0 while empty).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Forgets everything cached.
    pub fn reset(&mut self) {
        *self = Self::new(self.layers.len());
    }
}
