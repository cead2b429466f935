//! CPU fast path of generation: the whole inference forward (trunk and heads) on host f32
//! buffers, every Linear layer on a packed AVX-512 kernel ([`gemm`]), and the head outputs split
//! straight into PEFT's A `[n, L, r, d_in]` / B `[n, L, d_out, r]` layouts.
//!
//! [`PackedHyper`] is a snapshot of a [`HyperModulator`] made once (at load): the head weights
//! packed into panels so that no generation re-packs them (for the heads' few-row shapes a
//! generic GEMM spends much of its time doing that), the trunk's weights packed the same way, the
//! embedding tables already normalised. The trunk ([`trunk`]) computes shared rows once (see
//! there); the heads compute only the output columns that reach the adapter (M/S: a B pass of a
//! module with `d_out < d_in` needs `d_out` of the `max(d_in, d_out)` columns of each rank row).
//!
//! Available on x86-64 CPUs with AVX-512F ([`PackedHyper::new`] returns `None` elsewhere; use
//! [`HyperModulator::generate`] there). Results equal the generic path up to float summation
//! order and the `exp` of SiLU (≤ 1e-5 in the tests).

mod gemm;
mod rows;
mod trunk;

use std::ops::Range;

use burn::prelude::*;
use lora_core::{BatchedLoraAdapter, BatchedLoraWeights};

pub use gemm::{MR, NR, cpu_supported};
use gemm::{PackedLinear, panels_covering};
use trunk::{HostTrunk, host_vec};

use crate::config::Variant;
use crate::error::{Error, Result};
use crate::model::HyperModulator;

/// A hypernetwork packed for the CPU kernel (a snapshot: re-pack after training).
#[derive(Debug, Clone)]
pub struct PackedHyper {
    trunk: HostTrunk,
    heads: Vec<PackedLinear>,
    threads: usize,
}

impl PackedHyper {
    /// Packs `hyper` (one host copy of its weights); `None` when the CPU lacks AVX-512F. Uses
    /// `RAYON_NUM_THREADS` threads when set, else all available cores.
    pub fn new<B: Backend>(hyper: &HyperModulator<B>) -> Option<Self> {
        if !cpu_supported() {
            return None;
        }
        let k = hyper.config().head_in;
        let heads = hyper
            .heads
            .iter()
            .map(|h| {
                let w = host_vec(h.weight.val());
                let b = h.bias.as_ref().map(|b| host_vec(b.val()));
                PackedLinear::pack(&w, b.as_deref(), h.d_out(), k)
            })
            .collect();
        let threads = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&t| t > 0)
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1);
        Some(Self {
            trunk: HostTrunk::new(hyper),
            heads,
            threads,
        })
    }

    /// Sets the number of threads (trunk rows and head output panels are split over them).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }
}

/// The head's output panels that reach the adapter, for the A rows and for the B rows of a
/// module (L: one row holds A then B, so both lists together are every panel).
fn needed_panels(
    variant: Variant,
    r: usize,
    d_in: usize,
    d_out: usize,
    n: usize,
) -> [Vec<usize>; 2] {
    use std::iter::once;
    match variant {
        Variant::L => [
            panels_covering(once(0..r * d_in), n),
            panels_covering(once(r * d_in..r * (d_in + d_out)), n),
        ],
        Variant::M => {
            let wide = d_in.max(d_out);
            let ranks = |w: usize| panels_covering((0..r).map(|k| k * wide..k * wide + w), n);
            [ranks(d_in), ranks(d_out)]
        }
        Variant::S => [
            panels_covering(once(0..d_in), n),
            panels_covering(once(0..d_out), n),
        ],
    }
}

impl<B: Backend> HyperModulator<B> {
    /// [`Self::generate`] on the CPU kernels of `packed` (made from this hypernetwork by
    /// [`PackedHyper::new`]): trunk and heads on host buffers, then the adapters uploaded to the
    /// embeddings' device and post-processed as usual. Same adapters up to float summation order.
    pub fn generate_packed(
        &self,
        task_embeddings: Tensor<B, 2>,
        packed: &PackedHyper,
    ) -> Result<BatchedLoraAdapter<B>> {
        let cfg = self.config();
        let [n, e] = task_embeddings.dims();
        if e != cfg.task_dim {
            return Err(Error::EmbeddingDim {
                expected: cfg.task_dim,
                found: e,
            });
        }
        if n == 0 {
            return Err(Error::Empty("the batch of task embeddings"));
        }
        let device = task_embeddings.device();
        let emb = host_vec(task_embeddings);
        let h = packed.trunk.forward(&emb, n, packed.threads);
        let (ldh, per_module) = (packed.trunk.ldh(), packed.trunk.rows_per_module(n));
        let (r, l) = (cfg.lora.r, cfg.layout.n_layers);
        let nl = n * l;
        // Rows of a module's A pass (then B pass) in M/S: (A|B, task, layer[, rank]).
        let ab_rows = per_module / 2;
        let mut out = Vec::with_capacity(cfg.layout.modules.len());
        for (i, (shape, head)) in cfg.layout.modules.iter().zip(&packed.heads).enumerate() {
            let x = &h[i * per_module * ldh..(i + 1) * per_module * ldh];
            let ldy = head.ldy();
            let (d_in, d_out) = (shape.d_in, shape.d_out);
            let mut y = vec![0f32; per_module * ldy];
            let [pa, pb] = needed_panels(cfg.variant, r, d_in, d_out, head.n_panels());
            // One piece per panel over the rows that need it (M/S: rows are [A rows | B rows]),
            // so every panel of the weights is read once per generation.
            let (a_rows, b_rows) = match cfg.variant {
                Variant::L => (0..per_module, 0..per_module),
                Variant::M | Variant::S => (0..ab_rows, ab_rows..per_module),
            };
            let work: Vec<(usize, Range<usize>)> = (0..head.n_panels())
                .filter_map(|p| {
                    let (in_a, in_b) = (pa.binary_search(&p).is_ok(), pb.binary_search(&p).is_ok());
                    match (in_a, in_b) {
                        (true, true) => Some((
                            p,
                            a_rows.start.min(b_rows.start)..a_rows.end.max(b_rows.end),
                        )),
                        (true, false) => Some((p, a_rows.clone())),
                        (false, true) => Some((p, b_rows.clone())),
                        (false, false) => None,
                    }
                })
                .collect();
            head.forward_work(x, ldh, &mut y, ldy, &work, packed.threads);
            let mut a = vec![0f32; nl * r * d_in];
            let mut b = vec![0f32; nl * d_out * r];
            // Start in `y` of rank row `kr` of A (`ab = 0`) or B (`ab = 1`) for task-layer `t`.
            let at = |ab: usize, t: usize, kr: usize| -> usize {
                match cfg.variant {
                    Variant::L => t * ldy + ab * r * d_in + kr * if ab == 0 { d_in } else { d_out },
                    Variant::M => (ab * nl + t) * ldy + kr * d_in.max(d_out),
                    Variant::S => ((ab * nl + t) * r + kr) * ldy,
                }
            };
            for t in 0..nl {
                for kr in 0..r {
                    let src = at(0, t, kr);
                    a[(t * r + kr) * d_in..(t * r + kr + 1) * d_in]
                        .copy_from_slice(&y[src..src + d_in]);
                    let src = at(1, t, kr);
                    let bt = &mut b[t * d_out * r..(t + 1) * d_out * r];
                    for (j, v) in y[src..src + d_out].iter().enumerate() {
                        bt[j * r + kr] = *v;
                    }
                }
            }
            out.push((
                shape.name.clone(),
                BatchedLoraWeights {
                    a: Tensor::from_data(TensorData::new(a, [n, l, r, d_in]), &device),
                    b: Tensor::from_data(TensorData::new(b, [n, l, d_out, r]), &device),
                },
            ));
        }
        let raw = BatchedLoraAdapter::new(cfg.lora.clone(), cfg.layout.clone(), out)?;
        self.postprocess(raw)
    }
}
