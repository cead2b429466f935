//! One-pass adapter generation: every (task, layer[, A/B, rank]) row of a module goes through the
//! trunk together and meets the module's head in one GEMM; there is no loop over layers.

use burn::prelude::*;
use lora_core::{BatchedLoraAdapter, BatchedLoraWeights, LoraAdapter};

use crate::config::{Variant, Z_SCORE_EPS};
use crate::error::{Error, Result};
use crate::model::HyperModulator;
use crate::nn::Mode;
use crate::rope::{apply_rope, rope_tables};

impl<B: Backend> HyperModulator<B> {
    /// The number of tasks in `task_embeddings` `[n, E]`; refuses a width other than the
    /// configured task width (naming both) and an empty batch.
    pub(crate) fn check_task_embeddings(&self, task_embeddings: &Tensor<B, 2>) -> Result<usize> {
        let [n, e] = task_embeddings.dims();
        let expected = self.config().task_dim;
        if e != expected {
            return Err(Error::EmbeddingDim { expected, found: e });
        }
        if n == 0 {
            return Err(Error::Empty("the batch of task embeddings"));
        }
        Ok(n)
    }

    /// The heads' raw outputs as adapters, one per row of `task_embeddings [n, E]`: before the
    /// z-score de-normalisation, the ΔW rescaling and the A/B offset. A reconstruction trainer
    /// compares these with z-scored targets. `mode` switches the trunk's dropout.
    pub fn predict(
        &self,
        task_embeddings: Tensor<B, 2>,
        mode: Mode,
    ) -> Result<BatchedLoraAdapter<B>> {
        let n = task_embeddings.dims()[0];
        let (h, per_module) = self.trunk(task_embeddings, mode)?;
        let cfg = self.config();
        let (r, l) = (cfg.lora.r, cfg.layout.n_layers);
        let modules = &cfg.layout.modules;
        let mut out = Vec::with_capacity(modules.len());
        for (i, (shape, head)) in modules.iter().zip(&self.heads).enumerate() {
            let y = head.forward(h.clone().narrow(0, i * per_module, per_module));
            let (d_in, d_out) = (shape.d_in, shape.d_out);
            let (a, b) = match cfg.variant {
                Variant::L => (
                    y.clone().narrow(1, 0, r * d_in).reshape([n, l, r, d_in]),
                    y.narrow(1, r * d_in, r * d_out).reshape([n, l, r, d_out]),
                ),
                Variant::M | Variant::S => {
                    let wide = d_in.max(d_out);
                    let y = y.reshape([2, n, l, r, wide]);
                    (
                        y.clone()
                            .narrow(0, 0, 1)
                            .narrow(4, 0, d_in)
                            .reshape([n, l, r, d_in]),
                        y.narrow(0, 1, 1)
                            .narrow(4, 0, d_out)
                            .reshape([n, l, r, d_out]),
                    )
                }
            };
            // B's flat layout is rank-major `[r][d_out]`; PEFT's lora_B is `[d_out, r]`.
            let b = b.swap_dims(2, 3);
            out.push((shape.name.clone(), BatchedLoraWeights { a, b }));
        }
        Ok(BatchedLoraAdapter::new(
            cfg.lora.clone(),
            cfg.layout.clone(),
            out,
        )?)
    }

    /// The A/B embeddings of every module through `out_emb_norm`, `[modules, 2, D]` in layout
    /// order (row 0 A, row 1 B): what M and S add to the trunk rows before `mlp2`. `None` for L.
    pub(crate) fn normalized_ab_embeddings(&self) -> Option<Tensor<B, 3>> {
        let norm = self.out_emb_norm.as_ref()?;
        let rows = Tensor::stack::<3>(self.out_emb.iter().map(|e| e.rows()).collect(), 0);
        Some(crate::nn::norm::layer_norm(norm, rows))
    }

    /// The trunk: task embeddings `[n, E]` → head inputs `[modules · rows, H]`, module-major, and
    /// the number of rows per module (`n·L` for L, `2·n·L` for M, `2·n·L·r` for S; within a module
    /// rows are ordered `[A|B,] task, layer[, rank]`).
    pub fn trunk(
        &self,
        task_embeddings: Tensor<B, 2>,
        mode: Mode,
    ) -> Result<(Tensor<B, 2>, usize)> {
        let cfg = self.config();
        let n = self.check_task_embeddings(&task_embeddings)?;
        let device = task_embeddings.device();
        let (d, r, l) = (cfg.latent, cfg.lora.r, cfg.layout.n_layers);
        let p = cfg.dropout;
        let modules = &cfg.layout.modules;
        let m = modules.len();
        let rows = n * l;

        // x0 = [task, layer, module] for rows ordered (module, task, layer).
        let task = self.task_encoder.forward(task_embeddings);
        let depth = self.layer_depth_encoder.normalized();
        let rows_of_type: Vec<i64> = modules
            .iter()
            .map(|s| cfg.module_index(&s.name).expect("validated module order") as i64)
            .collect();
        let types = self.layer_type_encoder.normalized().select(
            0,
            Tensor::<B, 1, Int>::from_data(TensorData::new(rows_of_type, [m]), &device),
        );
        let x0 = Tensor::cat(
            vec![
                task.reshape([1, n, 1, d / 2]).expand([m, n, l, d / 2]),
                depth.reshape([1, 1, l, d / 4]).expand([m, n, l, d / 4]),
                types.reshape([m, 1, 1, d / 4]).expand([m, n, l, d / 4]),
            ],
            3,
        )
        .reshape([m * rows, d]);
        let z = self.mlp1.forward(self.mixer.forward(x0, p, mode), p, mode);

        // Trunk output per module, [rows_per_module, H] stacked over modules.
        let (h, per_module) = match cfg.variant {
            Variant::L => (
                self.mlp3.forward(self.mlp2.forward(z, p, mode), p, mode),
                rows,
            ),
            Variant::M | Variant::S => {
                let ab = self
                    .normalized_ab_embeddings()
                    .expect("M/S have out_emb_norm")
                    .reshape([m, 2, 1, d]);
                let hx = (z.reshape([m, 1, rows, d]) + ab).reshape([m * 2 * rows, d]);
                let hx = self.mlp2.forward(hx, p, mode);
                if cfg.variant == Variant::S {
                    let (cos, sin) = rope_tables::<B>(r, d, &device);
                    let per_rank = hx
                        .reshape([m * 2 * rows, 1, d])
                        .expand([m * 2 * rows, r, d]);
                    let rotated = apply_rope(per_rank, cos, sin).reshape([m * 2 * rows * r, d]);
                    let h = self.mlp2.forward(rotated, p, mode);
                    (self.mlp3.forward(h, p, mode), 2 * rows * r)
                } else {
                    (self.mlp3.forward(hx, p, mode), 2 * rows)
                }
            }
        };

        Ok((h, per_module))
    }

    /// Turns raw head outputs into adapters: z-score de-normalisation `x·(std+1e-10)+mean` (when
    /// the z-score stacks are present) or division by `√delta_w_scaling` (ΔW-trained
    /// reconstruction), then the A/B offset (when present). The identity for a plain SFT model.
    pub fn postprocess(&self, raw: BatchedLoraAdapter<B>) -> Result<BatchedLoraAdapter<B>> {
        let cfg = self.config();
        let stacks = &self.stacks;
        if stacks.mean.is_none() && stacks.offset.is_none() && cfg.delta_w_scaling.is_none() {
            return Ok(raw);
        }
        let inv_sqrt = cfg.delta_w_scaling.map(|s| 1.0 / s.sqrt());
        let modules = raw
            .modules()
            .enumerate()
            .map(|(i, (name, w))| {
                let (mut a, mut b) = (w.a.clone(), w.b.clone());
                if let (Some(mean), Some(std)) = (&stacks.mean, &stacks.std) {
                    a = a * (std[i].a.clone().unsqueeze_dim::<4>(0) + Z_SCORE_EPS)
                        + mean[i].a.clone().unsqueeze_dim(0);
                    b = b * (std[i].b.clone().unsqueeze_dim::<4>(0) + Z_SCORE_EPS)
                        + mean[i].b.clone().unsqueeze_dim(0);
                }
                if let Some(s) = inv_sqrt {
                    a = a * s;
                    b = b * s;
                }
                if let Some(offset) = &stacks.offset {
                    a = a + offset[i].a.clone().unsqueeze_dim(0);
                    b = b + offset[i].b.clone().unsqueeze_dim(0);
                }
                (name.to_string(), BatchedLoraWeights { a, b })
            })
            .collect();
        Ok(BatchedLoraAdapter::new(
            raw.config().clone(),
            raw.layout().clone(),
            modules,
        )?)
    }

    /// The adapters of a batch of task embeddings `[n, E]`, ready to apply: [`Self::predict`]
    /// then [`Self::postprocess`]. With [`Mode::Train`] the trunk's dropout is on and gradients
    /// flow to every parameter (the trainers' forward); stacks are constants.
    pub fn forward(
        &self,
        task_embeddings: Tensor<B, 2>,
        mode: Mode,
    ) -> Result<BatchedLoraAdapter<B>> {
        self.postprocess(self.predict(task_embeddings, mode)?)
    }

    /// Generates one adapter per row of `task_embeddings [n, E]` in one forward pass, without
    /// dropout. A = `[n, layers, r, d_in]`, B = `[n, layers, d_out, r]` per module.
    pub fn generate(&self, task_embeddings: Tensor<B, 2>) -> Result<BatchedLoraAdapter<B>> {
        self.forward(task_embeddings, Mode::Inference)
    }

    /// Like [`Self::generate`], split into one [`LoraAdapter`] per row.
    pub fn generate_each(&self, task_embeddings: Tensor<B, 2>) -> Result<Vec<LoraAdapter<B>>> {
        Ok(self.generate(task_embeddings)?.split())
    }

    /// The adapter of a single task embedding `[E]`.
    pub fn generate_one(&self, task_embedding: Tensor<B, 1>) -> Result<LoraAdapter<B>> {
        Ok(self.generate(task_embedding.unsqueeze_dim(0))?.get(0)?)
    }
}
