//! Tokenised SFT samples: prompt and response token spans, pair truncation, and the loss mask.
//!
//! Masking works on token-id spans only (the prompt part is never a target), so it is independent
//! of any particular tokenizer or chat template; [`PairEncoder`] is the seam where a real
//! tokenizer + chat template plugs in (see [`crate::data::chat`]).

use crate::data::tasks::Example;
use crate::error::Result;

/// Turns an `{input, output}` pair into prompt and response token ids (chat template applied,
/// no truncation yet).
pub trait PairEncoder {
    /// The prompt (everything the model conditions on) and the response (the targets).
    fn encode_pair(&self, example: &Example) -> Result<(Vec<u32>, Vec<u32>)>;

    /// The id used to pad batches.
    fn pad_id(&self) -> u32;
}

/// One tokenised training sample: `ids = prompt ++ response`; the loss covers
/// `ids[n_prompt..]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftSample {
    /// All token ids.
    pub ids: Vec<u32>,
    /// Length of the prompt prefix (not a target).
    pub n_prompt: usize,
}

impl SftSample {
    /// Number of response (target) tokens.
    pub fn n_response(&self) -> usize {
        self.ids.len() - self.n_prompt
    }

    /// `true` for every target position (response tokens).
    pub fn loss_mask(&self) -> Vec<bool> {
        (0..self.ids.len()).map(|i| i >= self.n_prompt).collect()
    }
}

/// Joins prompt and response, truncated to `max_len` total tokens by dropping tokens from the
/// *left of the prompt* (the reference tokenises the pair with `truncation_side="left"`; its
/// responses are short, so only prompts lose tokens). At least one prompt token is kept (the first
/// target needs a position to be predicted from); a response longer than `max_len - 1` keeps its
/// first `max_len - 1` tokens.
///
/// ```
/// use trainers::data::encode::truncate_pair;
/// let s = truncate_pair(vec![1, 2, 3, 4, 5], vec![8, 9], 4);
/// assert_eq!(s.ids, vec![4, 5, 8, 9]);
/// assert_eq!(s.n_prompt, 2);
/// ```
pub fn truncate_pair(prompt: Vec<u32>, mut response: Vec<u32>, max_len: usize) -> SftSample {
    let max_len = max_len.max(2);
    if response.len() > max_len - 1 {
        response.truncate(max_len - 1);
    }
    let keep = (max_len - response.len()).min(prompt.len());
    let mut ids = prompt[prompt.len() - keep..].to_vec();
    let n_prompt = ids.len();
    ids.extend(response);
    SftSample { ids, n_prompt }
}

/// Encodes and truncates one example.
pub fn encode_example<E: PairEncoder + ?Sized>(
    encoder: &E,
    example: &Example,
    max_len: usize,
) -> Result<SftSample> {
    let (p, r) = encoder.encode_pair(example)?;
    Ok(truncate_pair(p, r, max_len))
}

/// A byte-level encoder for tests and tiny models: prompt = `[bos] ++ bytes(input) ++ [sep]`,
/// response = `bytes(output) ++ [eos]`, byte `b` ↦ id `b + 3` (0 = pad, 1 = bos/sep, 2 = eos).
/// Vocabulary size 259.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByteEncoder;

impl ByteEncoder {
    /// The vocabulary size this encoder needs.
    pub const VOCAB: usize = 259;
}

impl PairEncoder for ByteEncoder {
    fn encode_pair(&self, example: &Example) -> Result<(Vec<u32>, Vec<u32>)> {
        let mut prompt = vec![1];
        prompt.extend(example.input.bytes().map(|b| b as u32 + 3));
        prompt.push(1);
        let mut response: Vec<u32> = example.output.bytes().map(|b| b as u32 + 3).collect();
        response.push(2);
        Ok((prompt, response))
    }

    fn pad_id(&self) -> u32 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn truncation_keeps_response_and_prompt_tail(
            p in proptest::collection::vec(0u32..100, 1..40),
            r in proptest::collection::vec(100u32..200, 1..10),
            max_len in 2usize..60,
        ) {
            let s = truncate_pair(p.clone(), r.clone(), max_len);
            prop_assert!(s.ids.len() <= max_len);
            prop_assert!(s.n_prompt >= 1);
            // The prompt kept is a suffix of the prompt; the response a prefix of the response.
            prop_assert_eq!(&s.ids[..s.n_prompt], &p[p.len() - s.n_prompt..]);
            prop_assert_eq!(&s.ids[s.n_prompt..], &r[..s.n_response()]);
            if p.len() + r.len() <= max_len {
                prop_assert_eq!(s.ids.len(), p.len() + r.len());
            }
            let mask = s.loss_mask();
            prop_assert_eq!(mask.iter().filter(|m| **m).count(), s.n_response());
            prop_assert!(!mask[..s.n_prompt].iter().any(|m| *m));
        }
    }

    #[test]
    fn byte_encoder_spans() {
        let ex = Example {
            input: "ab".into(),
            output: "c".into(),
        };
        let s = encode_example(&ByteEncoder, &ex, 512).unwrap();
        assert_eq!(s.ids, vec![1, 100, 101, 1, 102, 2]);
        assert_eq!(s.n_prompt, 4);
        assert_eq!(s.loss_mask(), vec![false, false, false, false, true, true]);
    }
}
