//! Tokenizing a batch of texts without the tokenizer file's fixed padding, padding to the
//! longest text with an attention mask, and running long batches in length-sorted chunks.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use tokenizers::{Tokenizer, TruncationParams};

use crate::error::{Error, Result};

/// A Hugging Face tokenizer set up for embedding: no padding (the `tokenizer.json` of
/// all-MiniLM-L6-v2 pads every input to 128 tokens; padding is done per batch, with a mask) and
/// truncation to `max_length` tokens, special tokens included.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    source: PathBuf,
    max_length: usize,
}

impl TextTokenizer {
    /// Loads `tokenizer.json` and sets it up for `max_length` tokens.
    pub fn from_file(path: &Path, max_length: usize) -> Result<Self> {
        let inner = Tokenizer::from_file(path).map_err(|e| Error::Tokenizer {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::new(inner, path, max_length)
    }

    /// Wraps an already loaded tokenizer; `source` names it in errors.
    pub fn new(mut inner: Tokenizer, source: &Path, max_length: usize) -> Result<Self> {
        if max_length == 0 {
            return Err(Error::input("max_length", "must be at least 1"));
        }
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| Error::Tokenizer {
                path: source.to_path_buf(),
                message: e.to_string(),
            })?;
        Ok(Self {
            inner,
            source: source.to_path_buf(),
            max_length,
        })
    }

    /// The longest token sequence produced (special tokens included).
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The wrapped tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.inner
    }

    /// Token ids of each text, with the tokenizer's special tokens (`[CLS] … [SEP]` for BERT).
    /// A text that yields no token at all is an error (nothing to pool).
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let enc = self.inner.encode(*t, true).map_err(|e| Error::Tokenizer {
                    path: self.source.clone(),
                    message: format!("text {i}: {e}"),
                })?;
                let ids = enc.get_ids().to_vec();
                if ids.is_empty() {
                    return Err(Error::input(
                        format!("texts[{i}]"),
                        "tokenizes to no tokens (the tokenizer adds no special tokens)",
                    ));
                }
                Ok(ids)
            })
            .collect()
    }
}

/// Which side of a sequence padding goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadSide {
    /// After the tokens (BERT).
    Right,
    /// Before the tokens (decoder LLMs).
    Left,
}

/// Token ids padded to the longest sequence, with the mask of real tokens.
#[derive(Debug, Clone)]
pub struct TokenBatch<B: Backend> {
    /// `[batch, seq]`.
    pub ids: Tensor<B, 2, Int>,
    /// `[batch, seq]`, true for real tokens.
    pub mask: Tensor<B, 2, Bool>,
}

/// Pads `seqs` to the longest with `pad_id` on `side`.
pub fn pad_batch<B: Backend>(
    seqs: &[&[u32]],
    pad_id: u32,
    side: PadSide,
    device: &B::Device,
) -> Result<TokenBatch<B>> {
    let b = seqs.len();
    let s = seqs.iter().map(|q| q.len()).max().unwrap_or(0);
    if b == 0 || s == 0 {
        return Err(Error::input("texts", format!("empty batch {b}×{s}")));
    }
    let mut ids = vec![pad_id as i64; b * s];
    let mut mask = vec![false; b * s];
    for (row, q) in seqs.iter().enumerate() {
        let start = match side {
            PadSide::Right => 0,
            PadSide::Left => s - q.len(),
        };
        for (j, &t) in q.iter().enumerate() {
            ids[row * s + start + j] = t as i64;
            mask[row * s + start + j] = true;
        }
    }
    Ok(TokenBatch {
        ids: Tensor::from_data(TensorData::new(ids, [b, s]), device),
        mask: Tensor::from_data(TensorData::new(mask, [b, s]), device),
    })
}

/// Runs `embed_chunk` over `seqs` in chunks of at most `chunk` sequences of similar length (sorted
/// by length, as sentence-transformers does, so little compute goes to padding), and returns the
/// rows in the order of `seqs`.
pub fn embed_sorted_chunks<B: Backend>(
    seqs: &[Vec<u32>],
    chunk: usize,
    device: &B::Device,
    mut embed_chunk: impl FnMut(&[&[u32]]) -> Result<Tensor<B, 2>>,
) -> Result<Tensor<B, 2>> {
    if seqs.is_empty() {
        return Err(Error::input("texts", "no texts to embed"));
    }
    let chunk = chunk.max(1);
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(seqs[i].len()));
    let mut parts = Vec::new();
    for group in order.chunks(chunk) {
        let batch: Vec<&[u32]> = group.iter().map(|&i| seqs[i].as_slice()).collect();
        parts.push(embed_chunk(&batch)?);
    }
    let sorted = Tensor::cat(parts, 0);
    if order.iter().enumerate().all(|(k, &i)| k == i) {
        return Ok(sorted);
    }
    // Row k of `sorted` is text order[k]; gather it back into text order.
    let mut inverse = vec![0i64; seqs.len()];
    for (k, &i) in order.iter().enumerate() {
        inverse[i] = k as i64;
    }
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(inverse, [seqs.len()]), device);
    Ok(sorted.select(0, idx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn pads_right_and_left_with_masks() {
        let device = Default::default();
        let seqs: Vec<&[u32]> = vec![&[5, 6, 7], &[8]];
        let r = pad_batch::<Flex>(&seqs, 0, PadSide::Right, &device).unwrap();
        let ids: Vec<i64> = r.ids.to_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(ids, vec![5, 6, 7, 8, 0, 0]);
        let mask: Vec<bool> = r.mask.to_data().to_vec().unwrap();
        assert_eq!(mask, vec![true, true, true, true, false, false]);
        let l = pad_batch::<Flex>(&seqs, 9, PadSide::Left, &device).unwrap();
        let ids: Vec<i64> = l.ids.to_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(ids, vec![5, 6, 7, 9, 9, 8]);
    }

    #[test]
    fn empty_batch_is_an_input_error() {
        let device = Default::default();
        let err = pad_batch::<Flex>(&[], 0, PadSide::Right, &device).unwrap_err();
        assert!(matches!(err, Error::Input { .. }), "{err}");
    }

    #[test]
    fn sorted_chunks_come_back_in_input_order() {
        let device = Default::default();
        let seqs = vec![vec![1], vec![1, 2, 3], vec![1, 2], vec![1, 2, 3, 4]];
        let mut chunk_sizes = Vec::new();
        let out = embed_sorted_chunks::<Flex>(&seqs, 3, &device, |batch| {
            chunk_sizes.push(batch.len());
            let lens: Vec<f32> = batch.iter().map(|q| q.len() as f32).collect();
            Ok(Tensor::from_data(
                TensorData::new(lens, [batch.len(), 1]),
                &device,
            ))
        })
        .unwrap();
        let v: Vec<f32> = out.to_data().to_vec().unwrap();
        assert_eq!(v, vec![1., 3., 2., 4.]);
        assert_eq!(chunk_sizes, vec![3, 1]);
    }
}
