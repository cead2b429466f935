//! CPU fast path for the head GEMMs: head weights packed once into panels for an AVX-512
//! micro-kernel, so no generation re-packs the (large) weights, plus a split of the head output
//! straight into PEFT's A `[n, L, r, d_in]` / B `[n, L, d_out, r]` layouts.
//!
//! The head GEMM (`[rows, H] × [H, out]` per module, rows = `n·L`, `2·n·L` or `2·n·L·r`) is
//! the whole cost of a generation; for its few-row shapes a generic GEMM spends much of its time
//! packing the weight matrix on every call. [`PackedHeads`] packs each head into panels of
//! [`NR`] outputs × `H` (k-major) at construction; each panel is then streamed once per
//! generation and multiplied by blocks of up to [`MR`] rows held in registers, with the bias as
//! the accumulators' initial value. The trunk still runs on the model's backend.
//!
//! Available on x86-64 CPUs with AVX-512F ([`PackedHeads::new`] returns `None` elsewhere; use
//! [`HyperModulator::generate`] there). Results equal the generic path up to float summation order.

use burn::prelude::*;
use lora_core::{BatchedLoraAdapter, BatchedLoraWeights};

use crate::config::Variant;
use crate::error::Result;
use crate::model::HyperModulator;
use crate::nn::Mode;

/// Outputs per packed panel (three 16-lane vectors).
pub const NR: usize = 48;
/// Rows per register block.
pub const MR: usize = 8;

/// One head packed into panels: `panels[p][k][c] = W[p·NR + c][k]` (zero beyond `out`).
#[derive(Debug, Clone)]
struct PackedHead {
    out: usize,
    k: usize,
    panels: Vec<f32>,
    /// Bias padded to `n_panels · NR` (zeros when the head has none).
    bias: Vec<f32>,
}

impl PackedHead {
    fn pack(weight: &[f32], bias: Option<&[f32]>, out: usize, k: usize) -> Self {
        let n_panels = out.div_ceil(NR);
        let mut panels = vec![0f32; n_panels * k * NR];
        for (o, row) in weight.chunks_exact(k).enumerate() {
            let base = (o / NR) * k * NR + o % NR;
            for (kk, &w) in row.iter().enumerate() {
                panels[base + kk * NR] = w;
            }
        }
        let mut padded = vec![0f32; n_panels * NR];
        if let Some(b) = bias {
            padded[..out].copy_from_slice(b);
        }
        Self {
            out,
            k,
            panels,
            bias: padded,
        }
    }

    fn n_panels(&self) -> usize {
        self.out.div_ceil(NR)
    }

    /// Row stride of the output: `n_panels · NR`.
    fn ldy(&self) -> usize {
        self.n_panels() * NR
    }

    /// `y [rows, ldy] = x [rows, k] · Wᵀ + b`, panels split over `threads` threads.
    fn matmul(&self, x: &[f32], rows: usize, threads: usize) -> Vec<f32> {
        let ldy = self.ldy();
        let mut y = vec![0f32; rows * ldy];
        let n_panels = self.n_panels();
        let threads = threads.clamp(1, n_panels);
        let per = n_panels.div_ceil(threads);
        let out = SendPtr(y.as_mut_ptr());
        std::thread::scope(|s| {
            for t in 0..threads {
                let (first, last) = (t * per, ((t + 1) * per).min(n_panels));
                let out = &out;
                let run = move || {
                    for p in first..last {
                        // SAFETY: each panel writes only its own NR columns of every row of `y`
                        // (`rows · ldy` values, allocated above); panels are split between
                        // threads without overlap; `x` holds `rows · k` values.
                        unsafe {
                            kernel::panel(
                                self.panels.as_ptr().add(p * self.k * NR),
                                self.bias.as_ptr().add(p * NR),
                                x.as_ptr(),
                                self.k,
                                rows,
                                out.0.add(p * NR),
                                ldy,
                            )
                        }
                    }
                };
                if t + 1 == threads {
                    run();
                } else {
                    s.spawn(run);
                }
            }
        });
        y
    }
}

/// A raw output pointer shared by the threads of one GEMM (they write disjoint columns).
struct SendPtr(*mut f32);
// SAFETY: only used inside `PackedHead::matmul`, whose threads write disjoint elements.
unsafe impl Sync for SendPtr {}
unsafe impl Send for SendPtr {}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// One panel for all rows: blocks of `MR` rows, remainder block smaller.
    ///
    /// # Safety
    /// AVX-512F must be available; `panel` holds `k·NR` values, `bias` `NR`, `x` `rows·k`, and
    /// `y` has `rows` rows of stride `ldy` with `NR` writable values from each row's start.
    pub(super) unsafe fn panel(
        panel: *const f32,
        bias: *const f32,
        x: *const f32,
        k: usize,
        rows: usize,
        y: *mut f32,
        ldy: usize,
    ) {
        unsafe { panel_avx512(panel, bias, x, k, rows, y, ldy) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn panel_avx512(
        panel: *const f32,
        bias: *const f32,
        x: *const f32,
        k: usize,
        rows: usize,
        y: *mut f32,
        ldy: usize,
    ) {
        let mut r0 = 0;
        while r0 < rows {
            let m = (rows - r0).min(MR);
            let (xb, yb) = unsafe { (x.add(r0 * k), y.add(r0 * ldy)) };
            unsafe {
                match m {
                    8 => block::<8>(panel, bias, xb, k, yb, ldy),
                    7 => block::<7>(panel, bias, xb, k, yb, ldy),
                    6 => block::<6>(panel, bias, xb, k, yb, ldy),
                    5 => block::<5>(panel, bias, xb, k, yb, ldy),
                    4 => block::<4>(panel, bias, xb, k, yb, ldy),
                    3 => block::<3>(panel, bias, xb, k, yb, ldy),
                    2 => block::<2>(panel, bias, xb, k, yb, ldy),
                    _ => block::<1>(panel, bias, xb, k, yb, ldy),
                }
            }
            r0 += m;
        }
    }

    /// `M` rows × `NR` outputs in 3·M zmm accumulators, initialised with the bias.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block<const M: usize>(
        panel: *const f32,
        bias: *const f32,
        x: *const f32,
        k: usize,
        y: *mut f32,
        ldy: usize,
    ) {
        unsafe {
            let b = [
                _mm512_loadu_ps(bias),
                _mm512_loadu_ps(bias.add(16)),
                _mm512_loadu_ps(bias.add(32)),
            ];
            let mut acc = [b; M];
            for kk in 0..k {
                let w = panel.add(kk * NR);
                let w0 = _mm512_loadu_ps(w);
                let w1 = _mm512_loadu_ps(w.add(16));
                let w2 = _mm512_loadu_ps(w.add(32));
                for (r, a) in acc.iter_mut().enumerate() {
                    let xv = _mm512_set1_ps(*x.add(r * k + kk));
                    a[0] = _mm512_fmadd_ps(w0, xv, a[0]);
                    a[1] = _mm512_fmadd_ps(w1, xv, a[1]);
                    a[2] = _mm512_fmadd_ps(w2, xv, a[2]);
                }
            }
            for (r, a) in acc.iter().enumerate() {
                let row = y.add(r * ldy);
                _mm512_storeu_ps(row, a[0]);
                _mm512_storeu_ps(row.add(16), a[1]);
                _mm512_storeu_ps(row.add(32), a[2]);
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod kernel {
    /// Never called: [`super::PackedHeads::new`] returns `None` off x86-64.
    pub(super) unsafe fn panel(
        _: *const f32,
        _: *const f32,
        _: *const f32,
        _: usize,
        _: usize,
        _: *mut f32,
        _: usize,
    ) {
        unreachable!("packed heads are only built on x86-64 with AVX-512F")
    }
}

/// Whether this CPU runs the packed kernel.
pub fn cpu_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The heads of a hypernetwork packed for the CPU kernel (a snapshot: re-pack after training).
#[derive(Debug, Clone)]
pub struct PackedHeads {
    heads: Vec<PackedHead>,
    threads: usize,
}

impl PackedHeads {
    /// Packs the heads of `hyper` (one host copy of the head weights); `None` when the CPU lacks
    /// AVX-512F. Uses `RAYON_NUM_THREADS` threads when set, else all available cores.
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
                PackedHead::pack(&w, b.as_deref(), h.d_out(), k)
            })
            .collect();
        let threads = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&t| t > 0)
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1);
        Some(Self { heads, threads })
    }

    /// Sets the number of threads of each head GEMM.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }
}

fn host_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("converted to f32")
}

impl<B: Backend> HyperModulator<B> {
    /// [`Self::generate`] with the head GEMMs on the CPU kernel of `packed` (made from this
    /// hypernetwork by [`PackedHeads::new`]); the trunk runs on the backend. Same adapters up to
    /// float summation order.
    pub fn generate_packed(
        &self,
        task_embeddings: Tensor<B, 2>,
        packed: &PackedHeads,
    ) -> Result<BatchedLoraAdapter<B>> {
        let device = task_embeddings.device();
        let n = task_embeddings.dims()[0];
        let (h, per_module) = self.trunk(task_embeddings, Mode::Inference)?;
        let h = host_vec(h);
        let cfg = self.config();
        let (r, l, k) = (cfg.lora.r, cfg.layout.n_layers, cfg.head_in);
        let nl = n * l;
        let mut out = Vec::with_capacity(cfg.layout.modules.len());
        for (i, (shape, head)) in cfg.layout.modules.iter().zip(&packed.heads).enumerate() {
            let x = &h[i * per_module * k..(i + 1) * per_module * k];
            let y = head.matmul(x, per_module, packed.threads);
            let ldy = head.ldy();
            let (d_in, d_out) = (shape.d_in, shape.d_out);
            let mut a = vec![0f32; nl * r * d_in];
            let mut b = vec![0f32; nl * d_out * r];
            // (row of y, column offset) of rank row `kr` of A (`ab = 0`) or B (`ab = 1`) for
            // task-layer `t`.
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
