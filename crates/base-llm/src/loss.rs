//! The causal language-modelling loss on selected target tokens (SFT on responses only).

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::error::{Error, Result};
use crate::lora_hooks::Adapters;
use crate::model::{Llama, TrainOptions};

impl<B: Backend> Llama<B> {
    /// Mean next-token cross-entropy over the target tokens of a batch.
    ///
    /// `loss_mask [batch, seq]` is true for every token that is a target (predicted from the
    /// positions before it), e.g. the response tokens of an SFT example; entries in column 0 have
    /// no context and are ignored. The mean is over all target tokens of the batch (as
    /// `transformers` averages). The LM head only runs at the predicting positions, so the
    /// `[batch, seq, vocab]` logits are never formed. `options` adds LoRA dropout / NEFTune noise.
    pub fn causal_lm_loss(
        &self,
        ids: Tensor<B, 2, Int>,
        attention_mask: Option<Tensor<B, 2, Bool>>,
        loss_mask: Tensor<B, 2, Bool>,
        adapters: Adapters<'_, B>,
        options: TrainOptions,
    ) -> Result<Tensor<B, 1>> {
        let [b, s] = ids.dims();
        if loss_mask.dims() != [b, s] {
            return Err(Error::input(
                "loss_mask",
                format!("shape {:?} does not match ids {b}×{s}", loss_mask.dims()),
            ));
        }
        let device = ids.device();
        // Column 0 cannot be predicted.
        let first = Tensor::<B, 2, Int>::zeros([b, 1], &device).bool();
        let loss_mask = if s > 1 {
            Tensor::cat(vec![first, loss_mask.slice([0..b, 1..s])], 1)
        } else {
            first
        };
        let flat_targets = loss_mask.reshape([b * s]).argwhere(); // [m, 1]
        let m = flat_targets.dims()[0];
        if m == 0 {
            return Err(Error::input("loss_mask", "no target token"));
        }
        let target_pos = flat_targets.reshape([m]);
        let targets = ids.clone().reshape([b * s]).select(0, target_pos.clone());
        let h = self.hidden(ids, attention_mask, adapters, None, options)?;
        let d = self.config.hidden_size;
        let picked = h.reshape([b * s, d]).select(0, target_pos.sub_scalar(1));
        let logits = self
            .lm_head(picked.reshape([1, m, d]))
            .reshape([m, self.config.vocab_size]);
        let logp = log_softmax(logits, 1).gather(1, targets.reshape([m, 1]));
        Ok(logp.mean().neg())
    }
}
