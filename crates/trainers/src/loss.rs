//! The SFT objective on a frozen base model: weighted, optionally label-smoothed next-token
//! cross-entropy on the target tokens only.

use base_llm::{Adapters, Llama, TrainOptions};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::data::batch::HostBatch;
use crate::error::{Error, Result};

/// `Σ_targets w_t · ℓ_t` with `ℓ_t = (1-ε)·(-log p(y_t)) + ε·mean_v(-log p(v))` (PyTorch's
/// `CrossEntropyLoss(label_smoothing=ε)`) and the batch's per-target weights (equal weight per
/// sample by default, see [`crate::data::batch::collate`]).
///
/// The LM head runs only at the predicting positions (one per target), never on the full
/// `[batch, seq, vocab]` logits.
pub fn sft_loss<B: Backend>(
    llm: &Llama<B>,
    batch: &HostBatch,
    adapters: Adapters<'_, B>,
    options: TrainOptions,
    label_smoothing: f64,
) -> Result<Tensor<B, 1>> {
    let device = llm.device();
    let m = batch.target_positions.len();
    if m == 0 {
        return Err(Error::data("batch", "no target token"));
    }
    let ids = batch.ids_tensor::<B>(&device);
    let mask = batch.attention_tensor::<B>(&device);
    let h = llm.hidden(ids, Some(mask), adapters, None, options)?;
    let [b, s, d] = h.dims();
    let predicting: Vec<i64> = batch
        .target_positions
        .iter()
        .map(|&p| p as i64 - 1)
        .collect();
    let predicting = Tensor::<B, 1, Int>::from_data(TensorData::new(predicting, [m]), &device);
    let picked = h.reshape([b * s, d]).select(0, predicting);
    let vocab = llm.config().vocab_size;
    let logits = llm.lm_head(picked.reshape([1, m, d])).reshape([m, vocab]);
    let logp = log_softmax(logits, 1);
    let targets =
        Tensor::<B, 2, Int>::from_data(TensorData::new(batch.target_ids.clone(), [m, 1]), &device);
    let nll = logp.clone().gather(1, targets).reshape([m]).neg();
    let per_token = if label_smoothing > 0.0 {
        let smooth = logp.mean_dim(1).reshape([m]).neg();
        nll.mul_scalar(1.0 - label_smoothing) + smooth.mul_scalar(label_smoothing)
    } else {
        nll
    };
    let w = Tensor::<B, 1>::from_data(TensorData::new(batch.target_weights.clone(), [m]), &device);
    Ok((per_token * w).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::batch::{Weighting, collate};
    use crate::data::encode::SftSample;
    use base_llm::LlamaConfig;
    use burn::backend::Flex;

    type B = Flex;

    fn tiny() -> Llama<B> {
        let cfg = LlamaConfig::tiny(32);
        let w = base_llm::model::build::random_weights(&cfg, 1);
        Llama::from_weights(cfg, w, &Default::default()).unwrap()
    }

    #[test]
    fn per_token_weighting_matches_causal_lm_loss() {
        let llm = tiny();
        let samples = vec![
            SftSample {
                ids: vec![3, 4, 5, 6, 7],
                n_prompt: 2,
            },
            SftSample {
                ids: vec![8, 9, 10],
                n_prompt: 1,
            },
        ];
        let batch = collate(&samples, 0, 1, Weighting::PerToken);
        let ours = sft_loss(&llm, &batch, Adapters::None, TrainOptions::default(), 0.0)
            .unwrap()
            .into_scalar();
        let dev = Default::default();
        let loss_mask = Tensor::<B, 2, Bool>::from_data(
            TensorData::new(
                vec![
                    false, false, true, true, true, false, true, true, false, false,
                ],
                [2, 5],
            ),
            &dev,
        );
        let theirs = llm
            .causal_lm_loss(
                batch.ids_tensor(&dev),
                Some(batch.attention_tensor(&dev)),
                loss_mask,
                Adapters::None,
                TrainOptions::default(),
            )
            .unwrap()
            .into_scalar();
        assert!((ours - theirs).abs() < 1e-5, "{ours} vs {theirs}");
    }

    #[test]
    fn label_smoothing_is_pytorch_formula() {
        // With ε = 1 the loss is the mean over the vocabulary of -log p, ≥ the entropy bound log V
        // only on average; check against a direct computation instead.
        let llm = tiny();
        let samples = vec![SftSample {
            ids: vec![3, 4],
            n_prompt: 1,
        }];
        let batch = collate(&samples, 0, 1, Weighting::PerSample);
        let dev = Default::default();
        let logits = llm
            .forward(batch.ids_tensor(&dev), None, Adapters::None)
            .unwrap();
        let logp: Vec<f32> = log_softmax(logits.slice([0..1, 0..1, 0..32]).reshape([32]), 0)
            .into_data()
            .to_vec()
            .unwrap();
        let eps = 0.1f32;
        let expect = (1.0 - eps) * -logp[4] + eps * -logp.iter().sum::<f32>() / 32.0;
        let got = sft_loss(&llm, &batch, Adapters::None, TrainOptions::default(), 0.1)
            .unwrap()
            .into_scalar();
        assert!((got - expect).abs() < 1e-5, "{got} vs {expect}");
    }
}
