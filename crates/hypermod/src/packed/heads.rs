//! The heads of the packed path, laid out per variant so that the GEMMs write PEFT's layouts
//! (A `[r, d_in]`, B `[d_out, r]` per task-layer) with as little copying as the variant allows,
//! and compute only the output columns that reach the adapter.

use std::mem::MaybeUninit;
use std::ops::Range;

use super::gemm::{
    Epilogue, PackedLinear, WeightRows, WeightStorage, balanced_shares, filled, panels_covering,
};
use super::workers::Workers;
use crate::config::Variant;

/// One module's head, packed for its variant.
#[derive(Debug, Clone)]
pub(crate) enum PackedHead {
    /// L: the A outputs (`r·d_in`, rank-major) write A directly; the B outputs are packed with
    /// their rows permuted from `(rank, j)` to `(j, rank)`, so they write PEFT's `[d_out, r]`
    /// directly. Both read all `n·L` rows.
    Split {
        a: PackedLinear,
        b: PackedLinear,
        r: usize,
    },
    /// M and S: one head for the A rows and the B rows together (M: each panel of the weights
    /// streamed once for every row that needs it; S: once per chunk of rows), the A rows into
    /// their own buffer, the B rows transposed into PEFT's layout (by the kernel for S at rank
    /// 8, see [`shared`]).
    /// M: one GEMM row per task-layer and A|B, holding its `r` rank rows (head out
    /// `r·max(d_in, d_out)`); S: one GEMM row per rank row (head out `max(d_in, d_out)`).
    Shared {
        w: PackedLinear,
        r: usize,
        /// Rank rows per GEMM row: `r` (M) or 1 (S).
        ranks_per_row: usize,
    },
}

/// Packs the rows `rows` of `weight [out, k]` (and of `bias`) as a new linear layer.
fn pack_rows(
    weight: &[f32],
    bias: Option<&[f32]>,
    k: usize,
    rows: &[usize],
    storage: WeightStorage,
) -> PackedLinear {
    PackedLinear::pack_rows(WeightRows::picked(weight, k, rows), bias, storage)
}

impl PackedHead {
    /// Packs a head `weight [out, k]` (PyTorch layout) and its bias for `variant`, the weights
    /// stored as `storage`.
    pub(crate) fn new(
        variant: Variant,
        weight: &[f32],
        bias: Option<&[f32]>,
        k: usize,
        r: usize,
        (d_in, d_out): (usize, usize),
        storage: WeightStorage,
    ) -> Self {
        match variant {
            Variant::L => {
                let a: Vec<usize> = (0..r * d_in).collect();
                let b: Vec<usize> = (0..d_out)
                    .flat_map(|j| (0..r).map(move |kr| r * d_in + kr * d_out + j))
                    .collect();
                Self::Split {
                    a: pack_rows(weight, bias, k, &a, storage),
                    b: pack_rows(weight, bias, k, &b, storage),
                    r,
                }
            }
            Variant::M | Variant::S => {
                let ranks_per_row = if variant == Variant::M { r } else { 1 };
                Self::Shared {
                    w: PackedLinear::pack_as(
                        weight,
                        bias,
                        ranks_per_row * d_in.max(d_out),
                        k,
                        storage,
                    ),
                    r,
                    ranks_per_row,
                }
            }
        }
    }

    /// The head on its trunk rows `x` (stride `ldx`; `nl` task-layers) → A `[nl, r, d_in]` and
    /// B `[nl, d_out, r]`, flat. The outputs are written once each, never zero-filled first.
    /// With `grouped` (S only, when [`Self::reads_grouped`] for these `nl`), `x` holds the rows in
    /// groups of 8, `[ldx, 8]` each (`Epilogue::SiluColumns`).
    pub(crate) fn apply(
        &self,
        (x, ldx, grouped): (&[f32], usize, bool),
        nl: usize,
        (d_in, d_out): (usize, usize),
        workers: &Workers,
    ) -> (Vec<f32>, Vec<f32>) {
        assert!(!grouped || self.reads_grouped(nl));
        let all = |w: &PackedLinear, rows: Range<usize>| -> Vec<(usize, Range<usize>)> {
            (0..w.n_panels()).map(|p| (p, rows.clone())).collect()
        };
        match self {
            Self::Split { a, b, r } => {
                let r = *r;
                // SAFETY (both): work over every panel for every row writes columns
                // `0..out` of each of the `nl` rows, `out = ldy` (`forward_work`).
                let ya = unsafe {
                    filled(nl * r * d_in, |y| {
                        a.forward_work(x, ldx, y, r * d_in, &all(a, 0..nl), workers)
                    })
                };
                let yb = unsafe {
                    filled(nl * d_out * r, |y| {
                        b.forward_work(x, ldx, y, d_out * r, &all(b, 0..nl), workers)
                    })
                };
                (ya, yb)
            }
            Self::Shared {
                w,
                r,
                ranks_per_row,
            } => shared(
                w,
                (x, ldx, grouped),
                nl,
                (*r, *ranks_per_row, d_in, d_out),
                workers,
            ),
        }
    }

    /// Whether this head can read its inputs in groups of 8 rows for `nl` task-layers: S with
    /// f32 or f16 weights, when its A rows and its B rows are whole groups (`nl·r` a multiple
    /// of 8, e.g. at rank 8; the kernel then broadcasts the 8 rows of a block from one cache
    /// line).
    pub(crate) fn reads_grouped(&self, nl: usize) -> bool {
        match self {
            Self::Shared {
                w,
                r,
                ranks_per_row: 1,
            } => w.stores_rank_columns() && (nl * r).is_multiple_of(8),
            _ => false,
        }
    }
}

/// B `[nl, d_out, r]` from the `r` rank rows of each task-layer `t` (row `kr` at
/// `rows(t) + kr·lds`), the task-layers split over the `workers`.
///
/// # Safety
/// For every `t < nl`, the `r` rows at `rows(t)` (stride `lds` values) each hold `d_out`
/// initialised values that stay alive and unwritten during the call; AVX-512F is available.
unsafe fn transposed_b(
    nl: usize,
    (r, d_out): (usize, usize),
    lds: usize,
    workers: &Workers,
    rows: impl Fn(usize) -> *const f32 + Sync,
) -> Vec<f32> {
    let block = d_out * r;
    if nl * block == 0 {
        return Vec::new();
    }
    let per = nl.div_ceil(workers.count());
    // SAFETY: the shares (whole task-layers each) cover all of `b`, and `transpose_ranks`
    // writes every element of each `[d_out, r]` block from the caller's rows.
    unsafe {
        filled(nl * block, |b| {
            let shares: Vec<_> = b.chunks_mut(per * block).enumerate().collect();
            workers.run_each(shares, |(i, share)| {
                for (j, bt) in share.chunks_exact_mut(block).enumerate() {
                    transpose_ranks(rows(i * per + j), lds, d_out, r, bt);
                }
            });
        })
    }
}

/// One task-layer's B: its `r` rank rows (row `kr` at `src + kr·lds`, `d_out` values each)
/// transposed into `out [d_out, r]`; every element of `out` is written. `r = 8` (the paper's
/// rank) goes through an AVX-512 8×16 transpose per 16 columns (the packed path only runs with
/// AVX-512F), other ranks and the last `d_out mod 16` columns element by element in the
/// output's order.
///
/// # Safety
/// The `r` rows at `src` (stride `lds` values) each hold `d_out` initialised values;
/// `out.len() = d_out·r`; AVX-512F is available.
pub(super) unsafe fn transpose_ranks(
    src: *const f32,
    lds: usize,
    d_out: usize,
    r: usize,
    out: &mut [MaybeUninit<f32>],
) {
    assert_eq!(out.len(), d_out * r);
    #[cfg(target_arch = "x86_64")]
    let done = if r == 8 {
        // SAFETY: the caller's guarantees; `out` holds `8·d_out` values.
        unsafe { kernel::transpose8(src, lds, d_out, out.as_mut_ptr().cast()) }
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for (j, col) in out.chunks_exact_mut(r).enumerate().skip(done) {
        for (kr, o) in col.iter_mut().enumerate() {
            // SAFETY: `kr < r`, `j < d_out`: an initialised value of the caller's rows.
            o.write(unsafe { *src.add(kr * lds + j) });
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use std::arch::x86_64::*;

    use crate::packed::gemm::kernel::ranks_to_columns;

    /// Columns `0..16·⌊d_out/16⌋` of 8 rows (row `k` at `src + k·lds`) into `out [d_out, 8]`
    /// (rows of 8), 16 columns at a time through the kernel's in-register transpose. Returns
    /// the columns done.
    ///
    /// # Safety
    /// AVX-512F; the 8 rows hold `d_out` readable values, `out` `8·d_out` writable ones.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose8(
        src: *const f32,
        lds: usize,
        d_out: usize,
        out: *mut f32,
    ) -> usize {
        let full = d_out / 16 * 16;
        for j in (0..full).step_by(16) {
            // SAFETY (loads and stores): row `k < 8` has columns `j..j + 16 ≤ d_out`; output
            // rows `j..j + 16` of 8 values lie in `out`.
            unsafe {
                let rows = std::array::from_fn(|k| _mm512_loadu_ps(src.add(k * lds + j)));
                for (q, pair) in ranks_to_columns(rows).iter().enumerate() {
                    _mm512_storeu_ps(out.add((j + 2 * q) * 8), *pair);
                }
            }
        }
        full
    }
}

/// Most GEMM rows of one S chunk. A chunk is computed on all its panels before the next, so
/// its head inputs (`ROW_CHUNK·H` f32, 512 KB at H = 512) stay in L2 while the panels stream
/// past.
const ROW_CHUNK: usize = 256;

/// S's GEMM rows of one side (A or B, `half` rows, rank rows in groups of 8) cut into chunks
/// for `threads` threads: a multiple of `threads` chunks, of at most [`ROW_CHUNK`] rows where
/// `threads` chunks would be longer, starting at multiples of 8 (whole groups, as
/// `Epilogue::RankColumns` stores them; some chunks may be empty). Thread `t` computes the
/// `t`-th run of `len / threads` consecutive chunks, their A and their B rows. (The trunk
/// splits its rows by its own shares: computing each thread's head rows on that thread
/// measured within noise.)
pub(super) fn row_chunks(half: usize, threads: usize) -> Vec<Range<usize>> {
    let threads = threads.max(1);
    let n = threads * half.div_ceil(ROW_CHUNK * threads).max(1);
    let bound = |c: usize| if c == n { half } else { half * c / n / 8 * 8 };
    (0..n).map(|c| bound(c)..bound(c + 1)).collect()
}

/// M and S: GEMM rows `[A rows | B rows]` (`nl·r / ranks_per_row` each); M: one GEMM piece
/// per needed panel over the rows that need it (each panel streamed once for A and B), S: the
/// rows cut into chunks, each thread computing its chunks' A and B rows on every panel they
/// need ([`row_chunks`]: S's heads are small enough to be read from cache by both threads,
/// and a chunk's inputs stay in L2 while its panels stream past); then each
/// rank row of B cut to `d_out` and transposed to `[d_out, r]` (S at rank 8 with f32 or f16
/// weights: the kernel stores B so, `Epilogue::RankColumns`). In both variants the GEMM
/// holds rank row `kr` of task-layer `t` at `(t·r + kr)·wide` of the A rows and of the B rows,
/// `wide = max(d_in, d_out)`. When `d_in` is the wider side (q/v/k/o/down projections) the A
/// rows' buffer already is PEFT's A layout and is returned as it is (no copy); otherwise each A
/// rank row is cut to `d_in`.
fn shared(
    w: &PackedLinear,
    (x, ldx, grouped): (&[f32], usize, bool),
    nl: usize,
    (r, ranks_per_row, d_in, d_out): (usize, usize, usize, usize),
    workers: &Workers,
) -> (Vec<f32>, Vec<f32>) {
    let wide = d_in.max(d_out);
    let n = w.n_panels();
    let in_row = |d: usize| (0..ranks_per_row).map(move |k| k * wide..k * wide + d);
    let (pa, pb) = (
        panels_covering(in_row(d_in), n),
        panels_covering(in_row(d_out), n),
    );
    // GEMM rows per half and their width.
    let (half, ldy) = (nl * r / ranks_per_row, ranks_per_row * wide);
    let threads = workers.count();
    // S: each thread computes the A and B rows of its row chunks on every panel they need
    // (`row_chunks`). M: pieces of one panel for all rows that need it, dealt to the threads by
    // rows.
    let chunked: Vec<Vec<(usize, Range<usize>)>>;
    let work: Vec<(usize, Range<usize>)>;
    let shares = if ranks_per_row == 1 {
        let chunks = row_chunks(half, threads);
        chunked = chunks
            .chunks(chunks.len() / threads)
            .map(|mine| {
                mine.iter()
                    .filter(|rows| !rows.is_empty())
                    .flat_map(|rows| {
                        let a = pa.iter().map(|&p| (p, rows.clone()));
                        let b = pb.iter().map(|&p| (p, half + rows.start..half + rows.end));
                        a.chain(b).collect::<Vec<_>>()
                    })
                    .collect()
            })
            .collect();
        chunked.iter().map(Vec::as_slice).collect()
    } else {
        work = (0..n)
            .filter_map(
                |p| match (pa.binary_search(&p).is_ok(), pb.binary_search(&p).is_ok()) {
                    (true, true) => Some((p, 0..2 * half)),
                    (true, false) => Some((p, 0..half)),
                    (false, true) => Some((p, half..2 * half)),
                    (false, false) => None,
                },
            )
            .collect();
        balanced_shares(&work, threads)
    };
    // The A rows go straight into their own buffer (PEFT's A when `d_in = wide`). The B rows
    // too, as PEFT's B, where the kernel can store each task-layer's 8 rank rows transposed
    // (S at rank 8, f32 or f16 weights); otherwise into one that is transposed, then freed.
    let len = half * ldy;
    let direct_b = ranks_per_row == 1 && r == 8 && w.stores_rank_columns();
    let b_len = if direct_b { nl * d_out * r } else { len };
    let (mut ya, mut yb) = (
        Vec::<f32>::with_capacity(len),
        Vec::<f32>::with_capacity(b_len),
    );
    w.forward_work_split(
        (x, ldx, grouped),
        (
            &mut ya.spare_capacity_mut()[..len],
            &mut yb.spare_capacity_mut()[..b_len],
        ),
        half,
        ldy,
        if direct_b {
            Epilogue::RankColumns { width: d_out }
        } else {
            Epilogue::Store
        },
        &shares,
        workers,
    );
    let b = if direct_b {
        // SAFETY: the B rows were computed on the panels `pb`, which cover columns `0..d_out`,
        // each task-layer's 8 rank rows stored as its `[d_out, 8]` block: all `nl·d_out·8`
        // values of B are written.
        unsafe { yb.set_len(b_len) };
        yb
    } else {
        // Only the columns of the panels in `pa` (A rows) and `pb` (B rows) are written;
        // exactly those are read: `kr·wide..kr·wide + d_in` (A) and `..+ d_out` (B) of a row
        // lie in them.
        let b_rows = &yb.spare_capacity_mut()[..len];
        // SAFETY: B rank row `kr` of task-layer `t` starts at `(t·r + kr)·wide` of the B rows
        // with `d_out` initialised values (panels `pb`).
        unsafe {
            transposed_b(nl, (r, d_out), wide, workers, |t| {
                b_rows[t * r * wide..].as_ptr().cast::<f32>()
            })
        }
    };
    if d_in == wide {
        // SAFETY: the A rows were computed on every panel (`pa` covers `0..ldy`), so their
        // `nl·r·wide` values are initialised, and with `d_in = wide` they are A `[nl, r, d_in]`
        // as they stand.
        unsafe { ya.set_len(len) };
        return (ya, b);
    }
    let a_rows = &ya.spare_capacity_mut()[..len];
    // SAFETY: every `(t, kr, i)` of A `[nl, r, d_in]` is written, from A rank row `t·r + kr`
    // (its first `d_in` values are initialised: panels `pa`).
    let a = unsafe {
        filled(nl * r * d_in, |a| {
            for (tk, row) in a.chunks_exact_mut(d_in).enumerate() {
                let src = &a_rows[tk * wide..tk * wide + d_in];
                for (o, v) in row.iter_mut().zip(src) {
                    o.write(v.assume_init());
                }
            }
        })
    };
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_rows_cut_into_whole_groups_a_run_of_chunks_per_thread() {
        // Mistral-7B S (256 rows a side), SmolLM2 S (240), more rows than one chunk per thread
        // (264 on one thread), fewer rows than threads have groups (8 on three threads).
        for (half, threads) in [(256, 2), (240, 2), (264, 1), (600, 2), (8, 3), (0, 2)] {
            let chunks = row_chunks(half, threads);
            assert_eq!(chunks.len() % threads, 0, "{half} rows, {threads} threads");
            assert_eq!(chunks.first().map(|c| c.start), Some(0));
            assert_eq!(chunks.last().map(|c| c.end), Some(half));
            assert!(chunks.windows(2).all(|w| w[0].end == w[1].start));
            assert!(chunks.iter().all(|c| c.start % 8 == 0));
            // At most ROW_CHUNK rows (plus the 8-row rounding), and one run per thread of
            // equal rows (within a group) where the rows allow.
            assert!(chunks.iter().all(|c| c.len() <= ROW_CHUNK + 8));
            let per_thread: Vec<usize> = chunks
                .chunks(chunks.len() / threads)
                .map(|run| run.iter().map(Range::len).sum())
                .collect();
            let (max, min) = (per_thread.iter().max(), per_thread.iter().min());
            assert!(
                max.unwrap() - min.unwrap() <= 8,
                "{half} rows: {per_thread:?}"
            );
        }
        assert_eq!(row_chunks(256, 2), [0..128, 128..256]);
        assert_eq!(row_chunks(264, 1), [0..128, 128..264]);
    }

    #[test]
    fn rank_rows_transpose_into_peft_b_layout() {
        if !super::super::cpu_supported() {
            return;
        }
        // r = 8: the vector transpose (two blocks of 16 columns) and a tail of 8 columns;
        // r = 3: element by element. The source rows are longer than `d_out` (stride `lds`).
        for (r, d_out, lds) in [(8, 40, 43), (8, 16, 16), (8, 5, 7), (3, 21, 25)] {
            let src: Vec<f32> = (0..r * lds).map(|i| i as f32 * 0.5 - 3.0).collect();
            let mut out = vec![MaybeUninit::uninit(); d_out * r];
            // SAFETY: `r` rows of `lds ≥ d_out` values; AVX-512F checked above.
            unsafe { transpose_ranks(src.as_ptr(), lds, d_out, r, &mut out) };
            for j in 0..d_out {
                for kr in 0..r {
                    // SAFETY: `transpose_ranks` writes every element.
                    let got = unsafe { out[j * r + kr].assume_init() };
                    assert_eq!(got, src[kr * lds + j], "r {r} d_out {d_out}: ({j}, {kr})");
                }
            }
        }
    }
}
