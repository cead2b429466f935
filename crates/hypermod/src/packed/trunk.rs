//! The trunk of the packed generation path: the inference forward of the task encoder, mixer,
//! `mlp1`–`mlp3`, the A/B embeddings and the S variant's rotary positions, on contiguous host f32
//! buffers, with every Linear layer on the packed kernel and LayerNorm/SiLU fused row by row.
//!
//! Rows whose inputs are identical are computed once: the task encoding once per task, `mixer`
//! and `mlp1` once per (module, task, layer) — shared by the A and B passes of M/S and by S's
//! rank rows —, and S's first `mlp2` once per (module, A|B, task, layer) before the rank
//! broadcast. Only the rows that really differ (M: per A|B; S: per rank, after the rotary
//! position) go through the rest, split over threads by rows.

use std::mem::MaybeUninit;

use burn::prelude::*;

use super::gemm::{Epilogue, PackedLinear, WeightStorage, filled};
use super::heads::transpose_ranks;
use super::rows::HostNorm;
use super::workers::Workers;
use crate::config::Variant;
use crate::model::HyperModulator;
use crate::nn::Dense;
use crate::rope::rope_tables;

/// Rows per block inside one thread (keeps a block's activations in L1/L2).
const BLOCK_ROWS: usize = 64;

/// Host copy of a tensor as f32 values.
pub(crate) fn host_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("converted to f32")
}

/// A tensor's data on the host as f32 ([`host_values`] borrows the values): for weights that
/// are only read once, by packing, this saves [`host_vec`]'s second copy.
pub(crate) fn host_data<B: Backend, const D: usize>(t: Tensor<B, D>) -> TensorData {
    t.into_data().convert::<f32>()
}

/// The f32 values of data made by [`host_data`].
pub(crate) fn host_values(data: &TensorData) -> &[f32] {
    data.as_slice::<f32>().expect("converted to f32")
}

fn pack_dense<B: Backend>(d: &Dense<B>, storage: WeightStorage) -> PackedLinear {
    let [out, k] = d.weight.dims();
    let w = host_data(d.weight.val());
    let b = d.bias.as_ref().map(|b| host_data(b.val()));
    PackedLinear::pack_as(
        host_values(&w),
        b.as_ref().map(host_values),
        out,
        k,
        storage,
    )
}

fn host_norm<B: Backend>(n: &burn::nn::LayerNorm<B>) -> HostNorm {
    let gamma = host_vec(n.gamma.val());
    let beta = match &n.beta {
        Some(b) => host_vec(b.val()),
        None => vec![0.0; gamma.len()],
    };
    HostNorm { gamma, beta }
}

/// Per-thread scratch buffers of the trunk's blocks (grown on demand, reused across blocks).
#[derive(Debug, Default)]
struct Scratch {
    /// LayerNorm output `[rows, D]`.
    normed: Vec<f32>,
    /// Hidden activations `[rows, 4D]`.
    hidden: Vec<f32>,
}

/// Fewest rows worth a thread of their own (below that, starting one costs more than it saves).
const MIN_ROWS: usize = 16;

/// Runs `f(first, rows, y, x, scratch)` on consecutive row ranges `first..first + rows` of
/// `y [_, width]` (f32 values, or slots to write them into) and the same rows of `x`, also
/// `width` wide, when given; split over `workers` in shares of at least [`MIN_ROWS`] rows, a
/// multiple of `align` (8 keeps grouped rows, `Epilogue::SiluColumns`, whole groups), each
/// share with its own scratch.
fn split_rows<T: Send>(
    workers: &Workers,
    y: &mut [T],
    (width, align): (usize, usize),
    x: Option<&[f32]>,
    f: impl Fn(usize, usize, &mut [T], &[f32], &mut Scratch) + Sync,
) {
    let rows = y.len() / width;
    let threads = workers.count().clamp(1, rows.div_ceil(MIN_ROWS).max(1));
    let per_rows = rows.div_ceil(threads).next_multiple_of(align);
    let per = per_rows * width;
    let shares: Vec<(&mut [T], &[f32])> = match x {
        Some(x) => y.chunks_mut(per).zip(x.chunks(per)).collect(),
        None => y.chunks_mut(per).map(|c| (c, &[][..])).collect(),
    };
    workers.run_each(shares.into_iter().enumerate().collect(), |(i, (y, x))| {
        f(i * per_rows, y.len() / width, y, x, &mut Scratch::default());
    });
}

/// `buf[..len]`, grown to `len` values when shorter (contents are overwritten by the caller).
fn at_least(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// SiLU on the way out, into dense rows or (`grouped`) groups of 8 rows of `width` values.
fn silu_store(width: usize, grouped: bool) -> Epilogue {
    if grouped {
        Epilogue::SiluColumns { width }
    } else {
        Epilogue::Silu
    }
}

/// The hidden rows `silu(Linear(LN(x)))` of a `[LN, Linear, SiLU, Linear, SiLU]` branch for the
/// `rows` rows of `x` (dense, stride D, or `grouped`), laid out as `x`, in `scratch.hidden`.
fn branch_hidden<'s>(
    norm: &HostNorm,
    lin_in: &PackedLinear,
    (x, rows, grouped): (&[f32], usize, bool),
    scratch: &'s mut Scratch,
) -> &'s [f32] {
    let (d, ldu) = (norm.width(), lin_in.out());
    let t = at_least(&mut scratch.normed, rows * d);
    norm.forward_laid_out(x, rows, t, grouped);
    let u = at_least(&mut scratch.hidden, rows * ldu);
    lin_in.forward((t, d, grouped), rows, u, ldu, silu_store(ldu, grouped));
    u
}

/// `x + [LN, Linear, SiLU, Linear, SiLU](x)` (`mlp1`, `mlp2`).
#[derive(Debug, Clone)]
struct HostResidual {
    norm: HostNorm,
    lin_in: PackedLinear,
    lin_out: PackedLinear,
}

impl HostResidual {
    fn new<B: Backend>(b: &crate::nn::ResidualBlock<B>, storage: WeightStorage) -> Self {
        Self {
            norm: host_norm(&b.norm),
            lin_in: pack_dense(&b.linear_in, storage),
            lin_out: pack_dense(&b.linear_out, storage),
        }
    }

    /// `x [rows, D]` (stride D; with `grouped`, groups of 8 rows `[D, 8]`, and so the hidden
    /// rows), in place: the branch's last SiLU and the residual add are the second GEMM's
    /// store.
    fn forward(&self, x: &mut [f32], rows: usize, grouped: bool, scratch: &mut Scratch) {
        let (d, ldu) = (self.norm.width(), self.lin_in.out());
        let u = branch_hidden(&self.norm, &self.lin_in, (x, rows, grouped), scratch);
        let add = if grouped {
            Epilogue::AddSiluColumns { width: d }
        } else {
            Epilogue::AddSilu
        };
        self.lin_out.forward((u, ldu, grouped), rows, x, d, add);
    }
}

/// `[LN, Linear, SiLU, Linear, SiLU]` (`mlp3`).
#[derive(Debug, Clone)]
struct HostOutput {
    norm: HostNorm,
    lin_in: PackedLinear,
    lin_out: PackedLinear,
}

impl HostOutput {
    /// `x [rows, D]` (stride D) → `out [rows, lin_out.out()]`, every element written; with
    /// `grouped`, `x`, the hidden rows and `out` in groups of 8 rows, `[width, 8]` each (`rows` a
    /// multiple of 8).
    fn forward(
        &self,
        x: &[f32],
        rows: usize,
        (out, grouped): (&mut [MaybeUninit<f32>], bool),
        scratch: &mut Scratch,
    ) {
        let (ldu, ldo) = (self.lin_in.out(), self.lin_out.out());
        let u = branch_hidden(&self.norm, &self.lin_in, (x, rows, grouped), scratch);
        let store = silu_store(ldo, grouped);
        self.lin_out
            .forward_uninit((u, ldu, grouped), rows, out, ldo, store);
    }
}

/// The hypernetwork's trunk on the host (a snapshot of the weights).
#[derive(Debug, Clone)]
pub(crate) struct HostTrunk {
    variant: Variant,
    latent: usize,
    rank: usize,
    n_layers: usize,
    n_modules: usize,
    task_linear: PackedLinear,
    task_norm: HostNorm,
    /// Normalised layer-depth embeddings `[L, D/4]`.
    depth: Vec<f32>,
    /// Normalised module-type embeddings `[modules, D/4]`, layout order.
    types: Vec<f32>,
    mixer_in: PackedLinear,
    mixer_out: PackedLinear,
    mlp1: HostResidual,
    mlp2: HostResidual,
    mlp3: HostOutput,
    /// Normalised A/B embeddings `[modules, 2, D]` (M and S).
    ab: Vec<f32>,
    /// Rotary tables `[r, D]` (S).
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl HostTrunk {
    /// Snapshot of `hyper`'s trunk, every Linear layer's weights stored as `storage`.
    pub(crate) fn new<B: Backend>(hyper: &HyperModulator<B>, storage: WeightStorage) -> Self {
        let cfg = hyper.config();
        let (d, r) = (cfg.latent, cfg.lora.r);
        let modules = &cfg.layout.modules;
        let type_table = host_vec(hyper.layer_type_encoder.normalized());
        let mut types = Vec::with_capacity(modules.len() * d / 4);
        for s in modules {
            let row = cfg.module_index(&s.name).expect("validated module order");
            types.extend_from_slice(&type_table[row * d / 4..(row + 1) * d / 4]);
        }
        let ab = hyper
            .normalized_ab_embeddings()
            .map(host_vec)
            .unwrap_or_default();
        let (cos, sin) = if cfg.variant == Variant::S {
            let device = hyper.mlp2.norm.gamma.val().device();
            let (c, s) = rope_tables::<B>(r, d, &device);
            (host_vec(c), host_vec(s))
        } else {
            (Vec::new(), Vec::new())
        };
        Self {
            variant: cfg.variant,
            latent: d,
            rank: r,
            n_layers: cfg.layout.n_layers,
            n_modules: modules.len(),
            task_linear: pack_dense(&hyper.task_encoder.linear, storage),
            task_norm: host_norm(&hyper.task_encoder.norm),
            depth: host_vec(hyper.layer_depth_encoder.normalized()),
            types,
            mixer_in: pack_dense(&hyper.mixer.linear_in, storage),
            mixer_out: pack_dense(&hyper.mixer.linear_out, storage),
            mlp1: HostResidual::new(&hyper.mlp1, storage),
            mlp2: HostResidual::new(&hyper.mlp2, storage),
            mlp3: HostOutput {
                norm: host_norm(&hyper.mlp3.norm),
                lin_in: pack_dense(&hyper.mlp3.linear_in, storage),
                lin_out: pack_dense(&hyper.mlp3.linear_out, storage),
            },
            ab,
            cos,
            sin,
        }
    }

    /// Whether [`Self::forward`] can write the head inputs in groups of 8 rows (f32 or f16
    /// weights: the register kernels).
    pub(crate) fn writes_grouped(&self) -> bool {
        self.mlp3.lin_out.stores_rank_columns()
    }

    /// Row stride of the head inputs returned by [`Self::forward`]: H (dense rows; grouped rows
    /// take `8·H` values per group).
    pub(crate) fn ldh(&self) -> usize {
        self.mlp3.lin_out.out()
    }

    /// Head-input rows per module for `n` tasks (`n·L`, `2·n·L`, `2·n·L·r`).
    pub(crate) fn rows_per_module(&self, n: usize) -> usize {
        let nl = n * self.n_layers;
        match self.variant {
            Variant::L => nl,
            Variant::M => 2 * nl,
            Variant::S => 2 * nl * self.rank,
        }
    }

    /// Task embeddings `[n, E]` (row-major) → head inputs `[modules · rows_per_module, ldh()]`,
    /// module-major, rows within a module ordered `[A|B,] task, layer[, rank]` (as
    /// [`HyperModulator::trunk`]); with `grouped` (where [`Self::writes_grouped`] and the rows
    /// are a multiple of 8) in groups of 8 rows, `[ldh(), 8]` each.
    pub(crate) fn forward(
        &self,
        emb: &[f32],
        n: usize,
        grouped: bool,
        workers: &Workers,
    ) -> Vec<f32> {
        let d = self.latent;
        let (q, nl) = (d / 4, n * self.n_layers);
        // Task encoder, once per task.
        let ldt = self.task_linear.out();
        let mut task = vec![0f32; n * ldt];
        self.task_linear.forward(
            (emb, self.task_linear.k(), false),
            n,
            &mut task,
            ldt,
            Epilogue::Store,
        );
        let mut task_n = vec![0f32; n * d / 2];
        self.task_norm.forward(&task, ldt, n, &mut task_n, d / 2);
        // x0 rows (module, task, layer) = [task, depth, type]; mixer and mlp1 once per row.
        let z_rows = self.n_modules * nl;
        let mut x0 = vec![0f32; z_rows * d];
        for (i, row) in x0.chunks_exact_mut(d).enumerate() {
            let (mi, tl) = (i / nl, i % nl);
            let (t, l) = (tl / self.n_layers, tl % self.n_layers);
            row[..d / 2].copy_from_slice(&task_n[t * d / 2..(t + 1) * d / 2]);
            row[d / 2..d / 2 + q].copy_from_slice(&self.depth[l * q..(l + 1) * q]);
            row[d / 2 + q..].copy_from_slice(&self.types[mi * q..(mi + 1) * q]);
        }
        let mut z = vec![0f32; z_rows * d];
        let ldu = self.mixer_in.out();
        split_rows(
            workers,
            &mut z,
            (d, 1),
            Some(&x0),
            |_, rows, z, x0, scratch| {
                let u = at_least(&mut scratch.hidden, rows * ldu);
                self.mixer_in
                    .forward((x0, d, false), rows, u, ldu, Epilogue::Silu);
                self.mixer_out
                    .forward((u, ldu, false), rows, z, d, Epilogue::Silu);
                self.mlp1.forward(z, rows, false, scratch);
            },
        );

        // Rows that enter mlp2 (then mlp3): L: z; M: z + LN(out_emb); S: mlp2(z + LN(out_emb))
        // rotated per rank.
        let per_module = self.rows_per_module(n);
        let total = self.n_modules * per_module;
        assert!(!grouped || (self.writes_grouped() && total.is_multiple_of(8)));
        let src = match self.variant {
            Variant::L => z,
            Variant::M | Variant::S => {
                let mut hx = vec![0f32; self.n_modules * 2 * nl * d];
                for (i, row) in hx.chunks_exact_mut(d).enumerate() {
                    let (mab, tl) = (i / nl, i % nl);
                    let (zr, ar) = (
                        &z[((mab / 2) * nl + tl) * d..][..d],
                        &self.ab[mab * d..(mab + 1) * d],
                    );
                    for ((o, a), b) in row.iter_mut().zip(zr).zip(ar) {
                        *o = a + b;
                    }
                }
                if self.variant == Variant::S {
                    split_rows(workers, &mut hx, (d, 1), None, |_, rows, hx, _, scratch| {
                        self.mlp2.forward(hx, rows, false, scratch)
                    });
                }
                hx
            }
        };
        let ldh = self.ldh();
        // SAFETY: the shares cover all `total` rows, and `rows_from` writes every element of
        // each row (`ldh` = mlp3's output width).
        unsafe {
            filled(total * ldh, |h| {
                let align = if grouped { 8 } else { 1 };
                split_rows(
                    workers,
                    h,
                    (ldh, align),
                    None,
                    |first, _, out, _, scratch| {
                        let mut x = Vec::new();
                        for (bi, ob) in out.chunks_mut(BLOCK_ROWS * ldh).enumerate() {
                            let out = (ob, grouped);
                            self.rows_from(&src, first + bi * BLOCK_ROWS, out, &mut x, scratch);
                        }
                    },
                )
            })
        }
    }

    /// Head inputs of rows `r0..r0 + out.len()/ldh` from the mlp2 sources `src` (`x`: the
    /// block's mlp2 input, reused); every element of `out` is written. With `out`'s flag set
    /// (`r0` and the rows multiples of 8), the block runs on groups of 8 rows, `[width, 8]`
    /// each, from `x` to `out`: the kernel then reads a block's 8 rows from one cache line.
    fn rows_from(
        &self,
        src: &[f32],
        r0: usize,
        out: (&mut [MaybeUninit<f32>], bool),
        x: &mut Vec<f32>,
        scratch: &mut Scratch,
    ) {
        let d = self.latent;
        let (out, grouped) = out;
        let rows = out.len() / self.ldh();
        // The rows as they enter mlp2 (into the LayerNorm's scratch when they are grouped next).
        let x_rows = if grouped {
            at_least(&mut scratch.normed, rows * d)
        } else {
            at_least(x, rows * d)
        };
        match self.variant {
            Variant::L | Variant::M => x_rows.copy_from_slice(&src[r0 * d..(r0 + rows) * d]),
            Variant::S => {
                let (r, half) = (self.rank, d / 2);
                for (i, row) in x_rows.chunks_exact_mut(d).enumerate() {
                    let (g, k) = ((r0 + i) / r, (r0 + i) % r);
                    let hrow = &src[g * d..(g + 1) * d];
                    let (cos, sin) = (&self.cos[k * d..(k + 1) * d], &self.sin[k * d..(k + 1) * d]);
                    let (lo, hi) = row.split_at_mut(half);
                    let (hlo, hhi) = hrow.split_at(half);
                    for c in 0..half {
                        lo[c] = hlo[c] * cos[c] - hhi[c] * sin[c];
                        hi[c] = hhi[c] * cos[half + c] + hlo[c] * sin[half + c];
                    }
                }
            }
        }
        let x = if grouped {
            let x = at_least(x, rows * d);
            for (dense, group) in scratch
                .normed
                .chunks_exact(8 * d)
                .zip(x.chunks_exact_mut(8 * d))
                .take(rows / 8)
            {
                // SAFETY: 8 rows of `d` values at stride `d`, into a group of `8·d` values
                // (a `[f32]` seen as slots that are written, never read uninitialised).
                unsafe {
                    let slots = &mut *(group as *mut [f32] as *mut [MaybeUninit<f32>]);
                    transpose_ranks(dense.as_ptr(), d, d, 8, slots);
                }
            }
            x
        } else {
            &mut x[..rows * d]
        };
        self.mlp2.forward(x, rows, grouped, scratch);
        self.mlp3.forward(x, rows, (out, grouped), scratch);
    }
}
