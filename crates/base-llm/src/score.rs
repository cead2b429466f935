//! Log-likelihood of continuations given contexts (cloze-style multiple-choice scoring).

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::error::{Error, Result};
use crate::lora_hooks::Adapters;
use crate::model::Llama;

/// The log-likelihood of one continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuationScore {
    /// `Σ log p(token | everything before)` over the continuation tokens.
    pub sum_logprob: f64,
    /// `log p` of each continuation token.
    pub token_logprobs: Vec<f32>,
    /// Whether every continuation token is the arg-max of its distribution.
    pub is_greedy: bool,
}

impl ContinuationScore {
    /// Mean log-probability per token.
    pub fn mean_logprob(&self) -> f64 {
        self.sum_logprob / self.token_logprobs.len().max(1) as f64
    }
}

impl<B: Backend> Llama<B> {
    /// Scores `(context, continuation)` pairs of token ids in one right-padded batch.
    ///
    /// The context must be non-empty (prepend BOS for a model that wants one); the continuation
    /// must be non-empty. The LM head only runs at the positions that predict continuation
    /// tokens. With [`Adapters::PerRow`], pair `i` uses adapter `i`.
    pub fn score(
        &self,
        pairs: &[(Vec<u32>, Vec<u32>)],
        adapters: Adapters<'_, B>,
    ) -> Result<Vec<ContinuationScore>> {
        let b = pairs.len();
        if b == 0 {
            return Err(Error::input("pairs", "nothing to score"));
        }
        if let Some(i) = pairs.iter().position(|(c, k)| c.is_empty() || k.is_empty()) {
            return Err(Error::input(
                "pairs",
                format!("pair {i} has an empty context or continuation"),
            ));
        }
        let device = self.device();
        let s = pairs
            .iter()
            .map(|(c, k)| c.len() + k.len())
            .max()
            .unwrap_or(0);
        let mut ids = Vec::with_capacity(b * s);
        let mut mask = Vec::with_capacity(b * s);
        // (flat index of the predicting position, target id) for every continuation token
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (r, (ctx, cont)) in pairs.iter().enumerate() {
            let n = ctx.len() + cont.len();
            ids.extend(ctx.iter().chain(cont).map(|&t| t as i64));
            ids.extend(std::iter::repeat_n(0i64, s - n));
            mask.extend(std::iter::repeat_n(true, n).chain(std::iter::repeat_n(false, s - n)));
            for (k, &t) in cont.iter().enumerate() {
                rows.push((r * s + ctx.len() + k - 1) as i64);
                targets.push(t as i64);
            }
        }
        let m = rows.len();
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [b, s]), &device);
        let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(mask, [b, s]), &device);
        let h = self.hidden(ids, Some(mask), adapters, None, Default::default())?;
        let d = self.config.hidden_size;
        let picked = h.reshape([b * s, d]).select(
            0,
            Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [m]), &device),
        );
        let logits = self
            .lm_head(picked.reshape([1, m, d]))
            .reshape([m, self.config.vocab_size]);
        let argmax = logits.clone().argmax(1).reshape([m]);
        let logp = log_softmax(logits, 1);
        let targets_t =
            Tensor::<B, 2, Int>::from_data(TensorData::new(targets.clone(), [m, 1]), &device);
        let picked = logp.gather(1, targets_t).reshape([m]);
        let lp: Vec<f32> = picked
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap_or_default();
        let am: Vec<i64> = argmax
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap_or_default();

        let mut out = Vec::with_capacity(b);
        let mut at = 0;
        for (_, cont) in pairs {
            let n = cont.len();
            let token_logprobs = lp[at..at + n].to_vec();
            let is_greedy = (at..at + n).all(|i| am[i] == targets[i]);
            out.push(ContinuationScore {
                sum_logprob: token_logprobs.iter().map(|&x| x as f64).sum(),
                token_logprobs,
                is_greedy,
            });
            at += n;
        }
        Ok(out)
    }
}
