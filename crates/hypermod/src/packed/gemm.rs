//! The packed CPU GEMM: `y = x·Wᵀ + b` for a weight `W [out, k]` packed once into panels of
//! [`NR`] outputs (k-major), multiplied by blocks of up to [`MR`] rows held in AVX-512 registers
//! with the bias as the accumulators' start. Used for the heads and the trunk's Linear layers of
//! the packed generation path; a generic GEMM re-packs the weight on every call, which for the
//! heads' few-row shapes is a large part of its time.
//!
//! The opt-in bf16 compute precision ([`WeightStorage::Bf16`]) packs pairs of k instead and runs
//! AMX tiles ([`super::gemm_amx`]) where the CPU and OS allow, else `vdpbf16ps`
//! ([`super::gemm_bf16`]); the epilogues are shared by all kernels, the panel driver and
//! prefetching by the register kernels.

use std::mem::MaybeUninit;
use std::ops::Range;

use super::gemm_amx::TILE_PAIRS;
use super::gemm_bf16::{self, Bf16Kernel};
use super::workers::Workers;

/// Outputs per packed panel (three 16-lane vectors).
pub const NR: usize = 48;
/// Rows per register block.
pub const MR: usize = 8;

/// One 64-byte cache line of values, aligned: a panel row (`NR` values = 3 lines) then never
/// straddles two lines, so no vector load of the kernel is split.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Line(pub(super) [f32; 16]);

/// `len` zeros (f32 slots) in cache-line-aligned storage (rounded up to whole lines).
pub(super) fn aligned_zeros(len: usize) -> Vec<Line> {
    vec![Line([0.0; 16]); len.div_ceil(16)]
}

/// [`aligned_zeros`] for packed weights: the same, from fresh zeroed memory that large
/// storages ask the kernel to back with transparent huge pages before any page is touched.
pub(super) fn weight_storage(len: usize) -> Vec<Line> {
    let n = len.div_ceil(16);
    let Ok(layout) = std::alloc::Layout::array::<Line>(n) else {
        return aligned_zeros(len);
    };
    if layout.size() == 0 {
        return Vec::new();
    }
    // SAFETY: `layout` has a non-zero size; the memory is zeroed after the advice (zeroing
    // first, as `alloc_zeroed` does for this alignment, would fault in small pages), and
    // all-zero bytes are a valid `Line` (f32 zeros), so the vector holds `n` initialised
    // lines; it was allocated by the global allocator with `Vec<Line>`'s layout for capacity
    // `n`.
    unsafe {
        let ptr = std::alloc::alloc(layout).cast::<Line>();
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        advise_huge_pages(ptr.cast(), layout.size());
        ptr.write_bytes(0, n);
        Vec::from_raw_parts(ptr, n, n)
    }
}

/// Asks Linux to back the whole 2 MiB pages inside `[ptr, ptr + bytes)` with transparent
/// huge pages (a hint: ignored where THP is off; nothing elsewhere).
fn advise_huge_pages(ptr: *mut u8, bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = (ptr as usize).next_multiple_of(HUGE);
        let end = (ptr as usize + bytes) / HUGE * HUGE;
        if end > start {
            // SAFETY: the range lies inside one live allocation of ours; MADV_HUGEPAGE
            // changes how it is backed, never its contents.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, bytes);
}

/// A vector of `len` values written by `fill` (no zero-fill first).
///
/// # Safety
/// `fill` must write every one of the `len` elements of the slice it is given.
pub(super) unsafe fn filled(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: `fill` initialised the first `len` elements (the caller's guarantee), and the
    // capacity is at least `len`.
    unsafe { v.set_len(len) };
    v
}

pub(super) fn values(lines: &[Line]) -> &[f32] {
    // SAFETY: `Line` is `repr(C)` over `[f32; 16]` (size 64, no padding), so a slice of lines
    // is `16·len` contiguous, initialised f32 values.
    unsafe { std::slice::from_raw_parts(lines.as_ptr().cast(), lines.len() * 16) }
}

pub(super) fn values_mut(lines: &mut [Line]) -> &mut [f32] {
    // SAFETY: as in `values`, with exclusive access.
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast(), lines.len() * 16) }
}

pub(super) fn halves_mut(lines: &mut [Line]) -> &mut [u16] {
    // SAFETY: `Line` is 64 bytes of plain data without padding; any bit pattern is a valid
    // `u16`, and `u16`'s alignment (2) divides the line's (64).
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast(), lines.len() * 32) }
}

/// The rows of a weight `[_, k]` (row-major, PyTorch's `nn.Linear` layout) a packed layer is
/// made of: all of them in order, or a selection (read in place: packing copies each value
/// once, into its panel).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WeightRows<'a> {
    weight: &'a [f32],
    k: usize,
    /// The selected rows, in output order (`None`: every row).
    pick: Option<&'a [usize]>,
}

impl<'a> WeightRows<'a> {
    /// Every row of `weight [_, k]`.
    pub(crate) fn all(weight: &'a [f32], k: usize) -> Self {
        Self {
            weight,
            k,
            pick: None,
        }
    }

    /// Rows `pick` of `weight [_, k]`, in that order.
    pub(crate) fn picked(weight: &'a [f32], k: usize, pick: &'a [usize]) -> Self {
        Self {
            weight,
            k,
            pick: Some(pick),
        }
    }

    /// Output features (rows selected).
    pub(super) fn len(&self) -> usize {
        self.pick.map_or(self.weight.len() / self.k, <[usize]>::len)
    }

    /// Input features.
    pub(super) fn k(&self) -> usize {
        self.k
    }

    /// The `k` weights of output `o`.
    fn row(&self, o: usize) -> &'a [f32] {
        let src = self.pick.map_or(o, |p| p[o]);
        &self.weight[src * self.k..(src + 1) * self.k]
    }

    /// The entries of `bias` (one per row of the whole weight) for the selected rows.
    fn bias(&self, bias: &[f32]) -> Vec<f32> {
        match self.pick {
            Some(p) => p.iter().map(|&o| bias[o]).collect(),
            None => bias.to_vec(),
        }
    }
}

/// Writes `rows` into `dst`, panel `p` at `dst[p·panel_len..]` and weight `kk` of output
/// `p·NR + c` at `slot(kk, c)` in it, as `convert` makes it. Panels are filled in parallel,
/// each with k outer and its `NR` rows inner: the writes run nearly sequentially and the rows
/// being read stay in L1 (a row-major walk stores every value to another cache line).
pub(super) fn pack_panels<T: Send>(
    rows: WeightRows<'_>,
    dst: &mut [T],
    panel_len: usize,
    slot: impl Fn(usize, usize) -> usize + Sync,
    convert: impl Fn(f32) -> T + Sync,
) {
    use rayon::prelude::*;
    let out = rows.len();
    assert!(dst.len() >= out.div_ceil(NR) * panel_len);
    dst.par_chunks_exact_mut(panel_len)
        .take(out.div_ceil(NR))
        .enumerate()
        .for_each(|(p, panel)| {
            let src: Vec<&[f32]> = (p * NR..(p * NR + NR).min(out))
                .map(|o| rows.row(o))
                .collect();
            for kk in 0..rows.k {
                for (c, row) in src.iter().enumerate() {
                    panel[slot(kk, c)] = convert(row[kk]);
                }
            }
        });
}

/// How a packed layer stores its weights, and so in what precision it multiplies. The product
/// always accumulates in f32. [`WeightStorage::F32`] and [`WeightStorage::F16`] multiply the f32
/// activations; [`WeightStorage::F16`] halves the bytes streamed per weight (what bounds the
/// few-row head GEMMs) at the cost of rounding each weight to f16 (relative error ≤ 2⁻¹¹,
/// weights below 6.1e-5 in magnitude lose relative precision as f16 subnormals).
/// [`WeightStorage::Bf16`] is a change of *arithmetic*: weights and activations both rounded
/// to bf16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightStorage {
    /// f32 weights: the default; the packed path then equals the generic one up to summation
    /// order.
    #[default]
    F32,
    /// IEEE f16 weights (round to nearest even), widened to f32 in registers (`vcvtph2ps`).
    F16,
    /// bf16 compute: weights stored as bf16 (round to nearest even) in pairs along k (an odd
    /// k padded with a zero), each GEMM's input activations rounded to bf16 the same way, the
    /// products summed into f32 accumulators by AMX tiles (`tdpbf16ps`) where available, else
    /// by `vdpbf16ps` ([`bf16_kernel`](super::bf16_kernel) says which; both are bf16 products
    /// with f32 accumulation, differing only in summation order); bias and epilogue in f32.
    /// Each output moves by at most about `2⁻⁸·Σ|x_i·w_i|` from the f32 product. Needs
    /// AVX512-BF16 ([`bf16_supported`](super::bf16_supported)).
    Bf16,
}

impl WeightStorage {
    /// Bytes per stored weight.
    fn bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::Bf16 => 2,
        }
    }

    /// Bytes of one packed panel of `NR` outputs over `k` inputs (bf16: `k` rounded up to
    /// whole tile steps of pairs, [`stored_pairs`]).
    fn panel_bytes(self, k: usize) -> usize {
        match self {
            Self::Bf16 => stored_pairs(k) * 2 * NR * self.bytes(),
            _ => k * NR * self.bytes(),
        }
    }
}

/// Pairs of k stored per bf16 panel: `⌈k/2⌉` rounded up to whole AMX tile steps (the padding
/// pairs are zero).
pub(super) fn stored_pairs(k: usize) -> usize {
    k.div_ceil(2 * TILE_PAIRS) * TILE_PAIRS
}

/// A linear layer packed for the kernel: `panels[p][k][c] = W[p·NR + c][k]` (zero beyond `out`),
/// cache-line aligned, stored as `storage` says.
#[derive(Debug, Clone)]
pub(crate) struct PackedLinear {
    out: usize,
    k: usize,
    storage: WeightStorage,
    /// The kernel of bf16 storage (the best this CPU runs; unused for the other storages).
    bf16: Bf16Kernel,
    /// The panels' bytes (f32 or f16 values, per `storage`).
    panels: Vec<Line>,
    /// Whether the weights are taken to be streamed from memory at every call (at least
    /// [`STREAMED_BYTES`]): the kernel then paces its next-panel prefetches.
    streamed: bool,
    /// Bias padded to `n_panels · NR` (zeros when the layer has none), f32.
    bias: Vec<Line>,
}

impl PackedLinear {
    /// Packs `weight [out, k]` (row-major, PyTorch's `nn.Linear` layout) and its bias (f32),
    /// the weights stored as `storage` (bf16 only where [`bf16_supported`]: its GEMMs assert it).
    ///
    /// [`bf16_supported`]: super::bf16_supported
    pub(crate) fn pack_as(
        weight: &[f32],
        bias: Option<&[f32]>,
        out: usize,
        k: usize,
        storage: WeightStorage,
    ) -> Self {
        assert_eq!(weight.len(), out * k, "weight [out, k]");
        Self::pack_rows(WeightRows::all(weight, k), bias, storage)
    }

    /// Packs the selected `rows` of a weight and the same entries of its `bias` (one per row of
    /// the whole weight), as [`Self::pack_as`] does.
    pub(crate) fn pack_rows(
        rows: WeightRows<'_>,
        bias: Option<&[f32]>,
        storage: WeightStorage,
    ) -> Self {
        let (out, k) = (rows.len(), rows.k);
        let n_panels = out.div_ceil(NR);
        let len = n_panels * k * NR;
        let slot = |kk: usize, c: usize| kk * NR + c;
        let panels = match storage {
            WeightStorage::F32 => {
                let mut panels = weight_storage(len);
                pack_panels(rows, values_mut(&mut panels), k * NR, slot, |w| w);
                panels
            }
            WeightStorage::F16 => {
                let mut panels = weight_storage(len.div_ceil(2));
                let f16_bits = |w| half::f16::from_f32(w).to_bits();
                pack_panels(rows, halves_mut(&mut panels), k * NR, slot, f16_bits);
                panels
            }
            WeightStorage::Bf16 => gemm_bf16::pack_pairs(rows),
        };
        let bias = bias.map(|b| rows.bias(b));
        let bias = bias.as_deref();
        let mut padded = aligned_zeros(n_panels * NR);
        if let Some(b) = bias {
            values_mut(&mut padded)[..out].copy_from_slice(b);
        }
        Self {
            out,
            k,
            storage,
            bf16: gemm_bf16::bf16_kernel().unwrap_or(Bf16Kernel::Avx512),
            streamed: panels.len() * std::mem::size_of::<Line>() >= STREAMED_BYTES,
            panels,
            bias: padded,
        }
    }

    /// The same layer with its prefetches paced as for `streamed` weights or not (the tests
    /// run both kernel instances on small layers).
    #[cfg(test)]
    pub(crate) fn with_streamed(mut self, streamed: bool) -> Self {
        self.streamed = streamed;
        self
    }

    /// The same layer multiplied by `kernel` when its storage is bf16 (the tests compare the
    /// kernels; `kernel` must run on this CPU, [`gemm_bf16::bf16_kernel`]).
    #[cfg(test)]
    pub(crate) fn with_bf16_kernel(mut self, kernel: Bf16Kernel) -> Self {
        self.bf16 = kernel;
        self
    }

    /// Output features.
    pub(crate) fn out(&self) -> usize {
        self.out
    }

    /// Input features.
    pub(crate) fn k(&self) -> usize {
        self.k
    }

    /// Whether [`Epilogue::RankColumns`] and [`Epilogue::SiluColumns`] can store this layer's
    /// outputs and it can read grouped rows (f32 and f16 weights, the register kernels; the
    /// bf16 kernels read and store row by row).
    pub(crate) fn stores_rank_columns(&self) -> bool {
        self.storage != WeightStorage::Bf16
    }

    pub(crate) fn n_panels(&self) -> usize {
        self.out.div_ceil(NR)
    }

    /// `y = epilogue(x·Wᵀ + b)` for `rows` rows of `x [rows, k]` (stride `ldx`) into `y` (stride
    /// `ldy ≥ out`), all panels, this thread; exactly columns `0..out` of each row are written
    /// (read too, for [`Epilogue::AddSilu`]). With `grouped`, `x` holds the rows in groups of 8,
    /// `[k, 8]` each (`ldx = k`, f32 or f16 weights; `rows` a multiple of 8), as the `Columns`
    /// epilogues store them.
    pub(crate) fn forward(
        &self,
        (x, ldx, grouped): (&[f32], usize, bool),
        rows: usize,
        y: &mut [f32],
        ldy: usize,
        epilogue: Epilogue,
    ) {
        // SAFETY: `y` is initialised, so the epilogue may read it.
        let y = (y.as_mut_ptr(), y.len());
        unsafe { self.forward_ptr((x, ldx, grouped), rows, y, ldy, epilogue) }
    }

    /// [`Self::forward`] into a `y` that may be uninitialised (only written, never read, so
    /// not for [`Epilogue::AddSilu`] and [`Epilogue::AddSiluColumns`]): with `ldy = out`,
    /// every element of the `rows` rows is written.
    pub(crate) fn forward_uninit(
        &self,
        x: (&[f32], usize, bool),
        rows: usize,
        y: &mut [MaybeUninit<f32>],
        ldy: usize,
        epilogue: Epilogue,
    ) {
        assert!(
            !matches!(
                epilogue,
                Epilogue::AddSilu | Epilogue::AddSiluColumns { .. }
            ),
            "{epilogue:?} reads its output"
        );
        // `MaybeUninit<f32>` has the layout of `f32`; without `AddSilu` the kernel only stores
        // through `y`.
        let y = (y.as_mut_ptr().cast::<f32>(), y.len());
        // SAFETY: as above.
        unsafe { self.forward_ptr(x, rows, y, ldy, epilogue) }
    }

    /// Panics unless `x` holds `rows` input rows: dense, `k` values each at stride `ldx ≥ k`, or
    /// `grouped`, groups of 8 rows `[k, 8]` (`ldx = k`, the last group whole in memory; f32 or
    /// f16 weights, whose register kernels read them).
    fn check_input(&self, (x, ldx, grouped): (&[f32], usize, bool), rows: usize) {
        if grouped {
            assert!(self.stores_rank_columns() && ldx == self.k);
            assert!(x.len() >= rows.div_ceil(8) * 8 * ldx);
        } else {
            assert!(ldx >= self.k && x.len() >= (rows - 1) * ldx + self.k);
        }
    }

    /// The body of [`Self::forward`] on `y = (pointer, length)`.
    ///
    /// # Safety
    /// `y` is valid for writes of `length` f32 (and initialised, for the `AddSilu` epilogues).
    unsafe fn forward_ptr(
        &self,
        (x, ldx, grouped): (&[f32], usize, bool),
        rows: usize,
        (y, len): (*mut f32, usize),
        ldy: usize,
        epilogue: Epilogue,
    ) {
        if rows == 0 {
            return;
        }
        self.check_input((x, ldx, grouped), rows);
        if epilogue.columns().is_some() {
            // Groups of 8 rows, each `[out, 8]` (`ldy` = `out`, as the kernel steps rows).
            assert!(epilogue.columns() == Some(self.out) && ldy == self.out);
            assert!(self.stores_rank_columns() && rows.is_multiple_of(8) && len >= rows * ldy);
        } else {
            assert!(ldy >= self.out && len >= (rows - 1) * ldy + self.out);
        }
        let x = Operand::new(self, x, ldx, rows);
        for p in 0..self.n_panels() {
            // SAFETY: checked above: `x` holds `rows` rows of `k` values at stride `ldx` (or
            // their bf16 pairs, `Operand`), `y` holds `rows` rows at stride `ldy ≥ out` (or
            // their groups of 8, `[out, 8]` each) and panel `p` touches columns
            // `p·NR..min((p+1)·NR, out)` only.
            unsafe { self.panel(p, (x.ptr(), x.stride(), grouped), rows, y, ldy, epilogue) }
        }
    }

    /// `y = x·Wᵀ + b` for the given `(panel, rows)` pieces of work: panel `p` (an index into
    /// `0..n_panels()`) for rows `rows` of `x` (stride `ldx`) into the same rows of `y` (stride
    /// `ldy ≥ out`); the pieces (distinct panels) are dealt to the `workers` in consecutive
    /// runs of about equal rows. A panel is streamed from memory once for all its rows, so rows
    /// that need the same panel belong in one piece.
    ///
    /// `y` may be uninitialised: it is only written, never read, and exactly the columns
    /// `p·NR..min((p+1)·NR, out)` of the rows of each piece `(p, rows)` are written (so after
    /// work covering every panel for every row, columns `0..out` of all rows are initialised).
    pub(crate) fn forward_work(
        &self,
        x: &[f32],
        ldx: usize,
        y: &mut [MaybeUninit<f32>],
        ldy: usize,
        work: &[(usize, Range<usize>)],
        workers: &Workers,
    ) {
        let rows = work.iter().map(|(_, r)| r.end).max().unwrap_or(0);
        self.forward_work_split(
            (x, ldx, false),
            (y, &mut []),
            rows,
            ldy,
            Epilogue::Store,
            &balanced_shares(work, workers.count()),
            workers,
        );
    }

    /// [`Self::forward_work`] with the output rows in two buffers: rows `0..split` go to row
    /// `r` of `low`, rows `split..` to row `r − split` of `high` (a piece over rows on both
    /// sides runs as two consecutive pieces on one thread, its panel then read from cache the
    /// second time). Callers that keep part of the rows and drop the rest need not allocate
    /// one buffer for both.
    ///
    /// With `grouped`, `x` holds the rows in groups of 8, `[k, 8]` each (`ldx = k`, as
    /// [`Epilogue::SiluColumns`] stores them; f32 or f16 weights), and every piece (and
    /// `split`) starts at a group.
    ///
    /// `shares` are the pieces of each thread (at most [`Workers::count`] shares), run in
    /// order. Pieces of one panel may split its rows between threads (S's row chunks); no two
    /// pieces of a panel may share a row.
    ///
    /// `high_store` is [`Epilogue::Store`] (rows of stride `ldy`, as `low`'s) or
    /// [`Epilogue::RankColumns`]: then `high` receives groups of 8 rows as `[width, 8]` blocks
    /// (f32 or f16 storage; `split` and every piece's rows on the high side start at a
    /// multiple of 8 from `split`; panels at or past `width` write nothing there).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward_work_split(
        &self,
        (x, ldx, grouped): (&[f32], usize, bool),
        (low, high): (&mut [MaybeUninit<f32>], &mut [MaybeUninit<f32>]),
        split: usize,
        ldy: usize,
        high_store: Epilogue,
        shares: &[&[(usize, Range<usize>)]],
        workers: &Workers,
    ) {
        let work = || shares.iter().flat_map(|s| s.iter());
        let Some(rows) = work().map(|(_, r)| r.end).max().filter(|&r| r > 0) else {
            return;
        };
        let fits = |y: &[MaybeUninit<f32>], n: usize| n == 0 || y.len() >= (n - 1) * ldy + self.out;
        self.check_input((x, ldx, grouped), rows);
        if grouped {
            // Every piece (and the split) starts at a group.
            assert!(split.is_multiple_of(8) && work().all(|(_, r)| r.start.is_multiple_of(8)));
        }
        assert!(ldy >= self.out && fits(low, rows.min(split)));
        // The high side's row stride as the kernel steps it (a group of 8 rank rows takes
        // `8·width` values, so `width` per row from a group's start).
        let high_ldy = match high_store {
            Epilogue::Store => {
                assert!(fits(high, rows.saturating_sub(split)));
                ldy
            }
            Epilogue::RankColumns { width } => {
                let high_rows = rows.saturating_sub(split);
                assert!(self.stores_rank_columns() && width <= self.out);
                assert!(high_rows.is_multiple_of(8) && high.len() >= high_rows * width);
                // Every block of the high side is a whole group of 8 rows (`rank_columns`).
                let group = |row: usize| (row - split).is_multiple_of(8);
                assert!(
                    work().all(|(_, r)| r.end <= split
                        || (group(r.start.max(split)) && group(r.end)))
                );
                width
            }
            _ => panic!("forward_work_split stores, it applies no activation"),
        };
        assert!(shares.len() <= workers.count());
        assert!(work().all(|(p, r)| *p < self.n_panels() && r.start <= r.end));
        // No element is written twice: the pieces of one panel cover disjoint rows.
        let mut pieces: Vec<(usize, usize, usize)> =
            work().map(|(p, r)| (*p, r.start, r.end)).collect();
        pieces.sort_unstable();
        assert!(
            pieces
                .windows(2)
                .all(|w| w[0].0 != w[1].0 || w[0].2 <= w[1].1)
        );
        // `MaybeUninit<f32>` has the layout of `f32`; the kernel only stores through them.
        let (low, high) = (
            SendPtr(low.as_mut_ptr().cast::<f32>()),
            SendPtr(high.as_mut_ptr().cast::<f32>()),
        );
        let x = Operand::new(self, x, ldx, rows);
        let (x, ldx) = (&x, x.stride());
        workers.run_each(shares.to_vec(), |chunk| {
            for (p, r) in chunk {
                let parts = [
                    (
                        r.start..r.end.min(split),
                        low.get(),
                        0,
                        ldy,
                        Epilogue::Store,
                    ),
                    (
                        r.start.max(split)..r.end,
                        high.get(),
                        split,
                        high_ldy,
                        high_store,
                    ),
                ];
                for (rows, out, first, ldy, store) in
                    parts.into_iter().filter(|(r, ..)| !r.is_empty())
                {
                    // SAFETY: checked above (sizes, strides, panel indices, rows within `x`,
                    // `low` and `high`); each piece writes only its panel's `NR` columns, and
                    // the pieces of one panel cover disjoint rows, so threads never write the same
                    // element.
                    unsafe {
                        self.panel(
                            *p,
                            (x.ptr().add(rows.start * ldx), ldx, grouped),
                            rows.len(),
                            out.add((rows.start - first) * ldy),
                            ldy,
                            store,
                        )
                    }
                }
            }
        });
    }

    /// # Safety
    /// `x` holds `rows` rows of `k` values at stride `ldx` (for bf16 storage: the rows of an
    /// [`Operand::Pairs`], padded in k and followed by zero rows as the AMX tiles need);
    /// `y` has `rows` rows at stride `ldy` with columns
    /// `p·NR..min((p+1)·NR, out)` writable; `p < n_panels()`; AVX-512F is available (the only
    /// constructor path, `PackedHyper::with_precision`, checks it, and AVX512-BF16 for bf16;
    /// the AMX kernel is only chosen where `amx_available`).
    #[allow(clippy::too_many_arguments)]
    unsafe fn panel(
        &self,
        p: usize,
        (x, ldx, grouped): (*const f32, usize, bool),
        rows: usize,
        y: *mut f32,
        ldy: usize,
        epilogue: Epilogue,
    ) {
        // A panel's first column, and how many of its columns exist: `RankColumns` stores 8
        // values (ranks) per column and computes `width` columns only.
        let (col_scale, cols) = match epilogue.columns() {
            Some(width) => (8, width.min(self.out).saturating_sub(p * NR)),
            None => (1, self.out - p * NR),
        };
        let cols = cols.min(NR);
        if cols == 0 {
            // `RankColumns` past `width`: nothing of this panel is stored.
            return;
        }
        unsafe {
            kernel::panel(
                self.panels
                    .as_ptr()
                    .cast::<u8>()
                    .add(p * self.storage.panel_bytes(self.k)),
                self.storage,
                self.bf16,
                values(&self.bias).as_ptr().add(p * NR),
                x,
                ldx,
                self.k,
                rows,
                y.add(p * NR * col_scale),
                ldy,
                cols,
                epilogue,
                (self.streamed, grouped),
            )
        }
    }
}

/// A GEMM's left operand as the kernel reads it: the f32 rows themselves, or (bf16 compute)
/// their bf16 pairs, converted once per GEMM call.
enum Operand<'a> {
    /// f32 rows and their stride.
    F32(&'a [f32], usize),
    /// bf16 pairs (two per f32 slot; rows padded to whole tile steps of pairs and followed by
    /// `TILE_ROWS` zero rows, `gemm_bf16::to_pairs`) and the row stride in pairs.
    Pairs(Vec<Line>, usize),
}

impl<'a> Operand<'a> {
    /// `rows` rows of `x` (stride `ldx`) as `lin` reads them.
    fn new(lin: &PackedLinear, x: &'a [f32], ldx: usize, rows: usize) -> Self {
        match lin.storage {
            WeightStorage::Bf16 => {
                let (pairs, stride) = gemm_bf16::to_pairs(x, ldx, rows, lin.k);
                Self::Pairs(pairs, stride)
            }
            _ => Self::F32(x, ldx),
        }
    }

    /// First row (4-byte elements: f32 values or bf16 pairs).
    fn ptr(&self) -> *const f32 {
        match self {
            Self::F32(x, _) => x.as_ptr(),
            Self::Pairs(p, _) => values(p).as_ptr(),
        }
    }

    /// Row stride in 4-byte elements.
    fn stride(&self) -> usize {
        match self {
            Self::F32(_, s) | Self::Pairs(_, s) => *s,
        }
    }
}

/// What the kernel does with a block's results `acc = x·Wᵀ + b` on their way to `y` (fused into
/// the store, so that the trunk's activations take no extra pass over memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Epilogue {
    /// `y = acc`.
    Store,
    /// `y = silu(acc)`.
    Silu,
    /// `y = y + silu(acc)` (a residual block's branch added to its input).
    AddSilu,
    /// `y = acc` with the rows taken in groups of 8, the rank rows of one task-layer, each
    /// group stored as PEFT's B `[width, 8]` (column `j` of rank row `k` at `j·8 + k`; the
    /// groups one after the other): S's B rows written transposed by the kernel, so that they
    /// need no scratch buffer and no transpose pass. Only `width` columns are computed; the
    /// rows of every call start at a group. f32 and f16 storage only (the bf16 kernels store
    /// row by row).
    RankColumns {
        /// Columns of each rank row, the B rows' `d_out`.
        width: usize,
    },
    /// `y = silu(acc)` stored as [`Epilogue::RankColumns`] does, with `width` = the layer's
    /// outputs: rows in groups of 8, each group `[out, 8]`, which is the layout of a grouped
    /// input (`forward_work_split`'s `grouped`) of the next GEMM (the trunk's last layer
    /// writing S's head inputs).
    SiluColumns {
        /// The layer's outputs.
        width: usize,
    },
    /// `y = y + silu(acc)` on rows stored as [`Epilogue::SiluColumns`] stores them (a
    /// residual block's branch added to its grouped input).
    AddSiluColumns {
        /// The layer's outputs.
        width: usize,
    },
}

impl Epilogue {
    /// Whether the rows are stored in groups of 8 as `[width, 8]` blocks (then its `width`).
    fn columns(self) -> Option<usize> {
        match self {
            Self::RankColumns { width }
            | Self::SiluColumns { width }
            | Self::AddSiluColumns { width } => Some(width),
            _ => None,
        }
    }
}

/// The indices of the panels that cover any column in `ranges` (sorted, without repeats).
pub(crate) fn panels_covering(
    ranges: impl IntoIterator<Item = Range<usize>>,
    n_panels: usize,
) -> Vec<usize> {
    let mut needed = vec![false; n_panels];
    for r in ranges.into_iter().filter(|r| !r.is_empty()) {
        for flag in &mut needed[r.start / NR..(r.end.div_ceil(NR)).min(n_panels)] {
            *flag = true;
        }
    }
    (0..n_panels).filter(|&p| needed[p]).collect()
}

/// `work` cut into at most `threads` runs of consecutive pieces with about the same number of
/// rows each (the pieces of a GEMM may cover different rows: M and S compute some panels for
/// the A rows and the B rows, others for one of them); consecutive, so that a thread's panels
/// lie one after the other in memory, as its next-panel prefetch assumes.
pub(crate) fn balanced_shares(
    work: &[(usize, Range<usize>)],
    threads: usize,
) -> Vec<&[(usize, Range<usize>)]> {
    let total: usize = work.iter().map(|(_, r)| r.len().max(1)).sum();
    let threads = threads.clamp(1, work.len().max(1));
    let mut shares = Vec::with_capacity(threads);
    let (mut start, mut done) = (0, 0);
    for (i, (_, rows)) in work.iter().enumerate() {
        done += rows.len().max(1);
        // Close the share once it reaches its cumulative quota of the rows.
        if done * threads >= total * (shares.len() + 1) {
            shares.push(&work[start..=i]);
            start = i + 1;
        }
    }
    if start < work.len() {
        shares.push(&work[start..]);
    }
    shares
}

/// Packed weights from this size on are taken to be streamed from memory at every call (the
/// Mistral-7B L and M heads, 67–134 MB), smaller ones to be read from cache (the trunk, S's heads,
/// SmolLM2's): the kernel paces its next-panel prefetches differently (`kernel::NextPanel`).
const STREAMED_BYTES: usize = 32 << 20;

/// A raw output pointer shared by the threads of one GEMM (they write disjoint columns).
struct SendPtr(*mut f32);

impl SendPtr {
    fn get(&self) -> *mut f32 {
        self.0
    }
}

// SAFETY: only used inside `PackedLinear::forward_work`, whose threads write disjoint elements.
unsafe impl Sync for SendPtr {}
unsafe impl Send for SendPtr {}

/// Whether this CPU runs the packed kernel (x86-64 with AVX-512F).
///
/// ```
/// // The packed path needs AVX-512F; without it `PackedHyper::new` returns `None`.
/// let fast = hypermod::packed::cpu_supported();
/// # let _ = fast;
/// ```
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

#[cfg(target_arch = "x86_64")]
pub(super) mod kernel {
    use std::arch::x86_64::*;

    use super::{Epilogue, MR, NR, WeightStorage, stored_pairs};
    use crate::packed::gemm_amx;
    use crate::packed::gemm_bf16::{self, Bf16Kernel};

    /// Prefetch distance in the packed panel, in k-steps (measured best of 8, 16, 32, 64 on the
    /// `[32×512]·[512×65536]` head shape).
    const PREFETCH_STEPS: usize = 8;

    /// The kernel's storage codes (its const parameter).
    const F32: u8 = 0;
    const F16: u8 = 1;
    const BF16: u8 = 2;

    /// One panel for all rows: blocks of `MR` rows, the remainder block smaller (bf16 on AMX:
    /// [`gemm_amx::kernel::panel`]).
    ///
    /// # Safety
    /// AVX-512F must be available; `panel` holds `k·NR` values stored as `storage`, `bias`
    /// `NR` f32, `x` `rows` rows of `k` values at stride `ldx` (bf16: as `PackedLinear::panel`
    /// says), and `y` has `rows` rows of stride `ldy` with `cols ≤ NR` writable values from
    /// each row's start (only those are written); `bf16` runs here.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn panel(
        panel: *const u8,
        storage: WeightStorage,
        bf16: Bf16Kernel,
        bias: *const f32,
        x: *const f32,
        ldx: usize,
        k: usize,
        rows: usize,
        y: *mut f32,
        ldy: usize,
        cols: usize,
        epilogue: Epilogue,
        (streamed, grouped): (bool, bool),
    ) {
        let flags = (streamed, grouped);
        unsafe {
            match storage {
                WeightStorage::F32 => {
                    panel_avx512::<F32>(panel, bias, x, ldx, k, rows, y, ldy, cols, epilogue, flags)
                }
                WeightStorage::F16 => {
                    panel_avx512::<F16>(panel, bias, x, ldx, k, rows, y, ldy, cols, epilogue, flags)
                }
                WeightStorage::Bf16 if bf16 == Bf16Kernel::Amx => gemm_amx::kernel::panel(
                    panel,
                    bias,
                    x.cast(),
                    ldx,
                    stored_pairs(k),
                    rows,
                    y,
                    ldy,
                    cols,
                    epilogue,
                ),
                WeightStorage::Bf16 => panel_avx512::<BF16>(
                    panel, bias, x, ldx, k, rows, y, ldy, cols, epilogue, flags,
                ),
            }
        }
    }

    /// Where a block prefetches the *next* panel (into L2) while it computes on this one: the
    /// first block of a panel streams it from memory, the others re-read it from cache, so
    /// spreading the next panel's `3·k` lines over all blocks keeps memory busy while the FMA
    /// units are (the few-row head shapes would otherwise alternate between memory-bound and
    /// compute-bound phases).
    #[derive(Clone, Copy)]
    pub(in crate::packed) struct NextPanel {
        /// First line of the next panel to fetch in this block.
        start: *const i8,
        /// Lines per k-step (1..=3).
        per_step: usize,
        /// Paced prefetching (`prefetch_step::<true>`): the first line of step `s` is
        /// `(s·rate) >> 16`, `rate` below `1 << 16` when the block's share is fewer lines than
        /// it has steps (spread evenly over them), else `per_step << 16`.
        rate: usize,
    }

    /// The prefetches of k-step `step` (at `w`, `step_bytes` long) of a block: this panel
    /// `PREFETCH_STEPS` steps ahead into L1 (past the panel's end this reaches the next panel;
    /// a prefetch never faults, hence the wrapping addresses) and the block's share of the next
    /// panel into L2 (see [`NextPanel`]).
    #[inline(always)]
    pub(in crate::packed) fn prefetch_step<const PACED: bool>(
        w: *const u8,
        step_bytes: usize,
        pf: NextPanel,
        step: usize,
    ) {
        let ahead = w.wrapping_add(PREFETCH_STEPS * step_bytes) as *const i8;
        for line in 0..step_bytes.div_ceil(64) {
            // SAFETY: a prefetch is a hint; it never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line)) };
        }
        // Paced (weights streamed from memory): `rate` below one line per step; otherwise
        // `per_step` lines every step, without the multiply and shift in the k loop (they
        // cost the compute-bound shapes ~2 %, on the FMA ports).
        let line = if PACED {
            (step * pf.rate) >> 16
        } else {
            pf.per_step * step
        };
        let far = pf.start.wrapping_add(64 * line);
        // Straight-line for the 1..=3 lines a step takes (a loop here cost a branchy loop
        // per k-step; mostly 1 line: few-row heads spread a panel over several blocks).
        // SAFETY (all three): as above.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(far) };
        if pf.per_step > 1 {
            unsafe { _mm_prefetch::<_MM_HINT_T1>(far.wrapping_add(64)) };
        }
        if pf.per_step > 2 {
            unsafe { _mm_prefetch::<_MM_HINT_T1>(far.wrapping_add(128)) };
        }
    }

    /// Bytes of one k-step of a panel with storage code `S` (bf16: one pair of k).
    const fn step_bytes(s: u8) -> usize {
        match s {
            F16 => NR * 2,
            _ => NR * 4,
        }
    }

    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn panel_avx512<const S: u8>(
        panel: *const u8,
        bias: *const f32,
        x: *const f32,
        ldx: usize,
        k: usize,
        rows: usize,
        y: *mut f32,
        ldy: usize,
        cols: usize,
        epilogue: Epilogue,
        (streamed, grouped): (bool, bool),
    ) {
        debug_assert!(!grouped || (S != BF16 && ldx == k));
        let masks = store_masks(cols);
        let blocks = rows.div_ceil(MR).max(1);
        // k-steps computed, and stored (bf16 panels are padded to whole tile steps).
        let (steps, stored) = if S == BF16 {
            (k.div_ceil(2), stored_pairs(k))
        } else {
            (k, k)
        };
        let lines = (steps * step_bytes(S)).div_ceil(64);
        // Past the last panel this points beyond the storage: prefetches never fault, hence
        // the wrapping arithmetic.
        let next = panel.wrapping_add(stored * step_bytes(S)) as *const i8;
        // At most 3: a step is at most NR·4 bytes (3 lines).
        let per_step = lines.div_ceil(steps * blocks).clamp(1, 3);
        // Weights streamed from memory: the next panel's lines spread evenly over all steps
        // of all blocks (no line twice, no faster than the blocks consume a panel). Weights
        // read from cache: `per_step` lines every step from each block's share on (past it,
        // into the next blocks' shares and beyond).
        let rate = if streamed && per_step == 1 {
            ((lines << 16).div_ceil(steps * blocks)).min(1 << 16)
        } else {
            per_step << 16
        };
        let pf_of = |bi: usize| NextPanel {
            start: next.wrapping_add(64 * (bi * lines / blocks)),
            per_step,
            rate,
        };
        // Vectors of 16 columns computed: a partial last panel (e.g. the 32 columns left of 512
        // or 128 outputs in panels of 48) skips its all-padding vectors. bf16 panels always
        // run the full width (their block is `gemm_bf16::block`).
        let vectors = if S == BF16 {
            3
        } else {
            cols.div_ceil(16).clamp(1, 3)
        };
        // One instance per vector count, prefetch pacing and input layout.
        macro_rules! rows_with {
            ($v:literal, $paced:literal, $grouped:literal) => {
                row_blocks::<S, $v, $paced, $grouped>(
                    panel, bias, x, ldx, steps, rows, y, ldy, masks, pf_of, epilogue,
                )
            };
        }
        macro_rules! by_vectors {
            ($paced:literal, $grouped:literal) => {
                match vectors {
                    3 => rows_with!(3, $paced, $grouped),
                    2 => rows_with!(2, $paced, $grouped),
                    _ => rows_with!(1, $paced, $grouped),
                }
            };
        }
        unsafe {
            match (streamed, grouped) {
                (false, false) => by_vectors!(false, false),
                (true, false) => by_vectors!(true, false),
                (false, true) => by_vectors!(false, true),
                (true, true) => by_vectors!(true, true),
            }
        }
    }

    /// The row blocks of [`panel_avx512`] with `V` vectors of outputs per row, their
    /// next-panel prefetches paced or not (`P`, [`prefetch_step`]), the input rows dense or
    /// grouped (`G`, [`products`]).
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn row_blocks<const S: u8, const V: usize, const P: bool, const G: bool>(
        panel: *const u8,
        bias: *const f32,
        x: *const f32,
        ldx: usize,
        steps: usize,
        rows: usize,
        y: *mut f32,
        ldy: usize,
        masks: [__mmask16; 3],
        pf_of: impl Fn(usize) -> NextPanel,
        epilogue: Epilogue,
    ) {
        let mut r0 = 0;
        let mut bi = 0;
        while r0 < rows {
            let m = (rows - r0).min(MR);
            let (xb, yb) = unsafe { (x.add(r0 * ldx), y.add(r0 * ldy)) };
            let pf = pf_of(bi);
            // One block per row count `m` (its accumulators are an array of `m` rows).
            macro_rules! block_of {
                ($($rows:literal),*) => {
                    match m {
                        $($rows => block::<$rows, S, V, P, G>(
                            panel, bias, xb, ldx, steps, yb, ldy, masks, pf, epilogue,
                        ),)*
                        _ => block::<1, S, V, P, G>(panel, bias, xb, ldx, steps, yb, ldy, masks, pf, epilogue),
                    }
                };
            }
            unsafe { block_of!(8, 7, 6, 5, 4, 3, 2) }
            r0 += m;
            bi += 1;
        }
    }

    /// `M` rows × `16·V` outputs (`V ≤ 3` vectors of the panel's `NR`) in `V·M` zmm
    /// accumulators, initialised with the bias; stored through `masks` (one per vector).
    /// `steps` k-steps (bf16, always `V = 3`: pairs of k, the block then being
    /// `gemm_bf16::block`).
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block<const M: usize, const S: u8, const V: usize, const P: bool, const G: bool>(
        panel: *const u8,
        bias: *const f32,
        x: *const f32,
        ldx: usize,
        steps: usize,
        y: *mut f32,
        ldy: usize,
        masks: [__mmask16; 3],
        pf: NextPanel,
        epilogue: Epilogue,
    ) {
        unsafe {
            if S == BF16 {
                let b: [__m512; 3] = std::array::from_fn(|v| _mm512_loadu_ps(bias.add(16 * v)));
                // SAFETY (of the call): the caller guarantees AVX512-BF16 for bf16 storage
                // (`PackedLinear::panel`); `x` then holds bf16 pairs.
                let acc = gemm_bf16::block::<M>(panel, [b; M], x.cast(), ldx, steps, pf);
                finish::<M, 3>(acc, y, ldy, masks, epilogue);
            } else {
                let b: [__m512; V] = std::array::from_fn(|v| _mm512_loadu_ps(bias.add(16 * v)));
                let acc = products::<M, S, V, P, G>(panel, [b; M], x, ldx, steps, pf);
                finish::<M, V>(acc, y, ldy, masks, epilogue);
            }
        }
    }

    /// `acc += x·Wᵀ` over `steps` k-steps of an f32 or f16 panel, its first `V` vectors (the
    /// f32 activations broadcast per row). The `M ≤ 8` rows are dense (row `r` at `x + r·ldx`)
    /// or, with `G`, one group of 8 rows stored `[k, 8]` (value `kk` of row `r` at
    /// `x + kk·8 + r`): the 8 values of a k-step then share one cache line and one address
    /// register (3–5 % faster on the trunk's and S's head shapes, 1 thread).
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn products<
        const M: usize,
        const S: u8,
        const V: usize,
        const P: bool,
        const G: bool,
    >(
        panel: *const u8,
        mut acc: [[__m512; V]; M],
        x: *const f32,
        ldx: usize,
        steps: usize,
        pf: NextPanel,
    ) -> [[__m512; V]; M] {
        unsafe {
            for kk in 0..steps {
                let w = panel.add(kk * step_bytes(S));
                // The heads' few-row shapes are bound by streaming the weights.
                prefetch_step::<P>(w, step_bytes(S), pf, kk);
                let wv: [__m512; V] = std::array::from_fn(|v| {
                    if S == F16 {
                        _mm512_cvtph_ps(_mm256_loadu_si256(w.cast::<__m256i>().add(v)))
                    } else {
                        _mm512_loadu_ps(w.cast::<f32>().add(16 * v))
                    }
                });
                for (r, a) in acc.iter_mut().enumerate() {
                    let xv = _mm512_set1_ps(*x.add(if G { kk * 8 + r } else { r * ldx + kk }));
                    for (a, w) in a.iter_mut().zip(&wv) {
                        *a = _mm512_fmadd_ps(*w, xv, *a);
                    }
                }
            }
            acc
        }
    }

    /// Store masks of a panel's three 16-lane vectors when `cols ≤ NR` of its columns are
    /// written (all ones for a full panel).
    pub(in crate::packed) fn store_masks(cols: usize) -> [__mmask16; 3] {
        let lanes = |v: usize| -> __mmask16 {
            let n = cols.saturating_sub(16 * v).min(16);
            ((1u32 << n) - 1) as __mmask16
        };
        [lanes(0), lanes(1), lanes(2)]
    }

    /// The block's epilogue and masked store: `acc` (`M` rows × `NR`) to `y` (stride `ldy`).
    ///
    /// # Safety
    /// AVX-512F; `y` has `M` rows of stride `ldy` with the lanes of `masks` writable.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(in crate::packed) unsafe fn finish<const M: usize, const V: usize>(
        mut acc: [[__m512; V]; M],
        y: *mut f32,
        ldy: usize,
        masks: [__mmask16; 3],
        epilogue: Epilogue,
    ) {
        unsafe {
            if matches!(
                epilogue,
                Epilogue::Silu | Epilogue::SiluColumns { .. } | Epilogue::AddSiluColumns { .. }
            ) {
                for a in acc.iter_mut() {
                    for lane in a.iter_mut() {
                        *lane = silu(*lane);
                    }
                }
            }
            match epilogue {
                Epilogue::Store | Epilogue::Silu => {}
                Epilogue::RankColumns { .. } | Epilogue::SiluColumns { .. } => {
                    return rank_columns::<M, V, false>(&acc, y, masks);
                }
                Epilogue::AddSiluColumns { .. } => {
                    return rank_columns::<M, V, true>(&acc, y, masks);
                }
                Epilogue::AddSilu => {
                    for (r, a) in acc.iter_mut().enumerate() {
                        let row = y.add(r * ldy);
                        for (v, lane) in a.iter_mut().enumerate() {
                            // A masked load never touches (or faults on) masked-off lanes.
                            let old = _mm512_maskz_loadu_ps(masks[v], row.wrapping_add(16 * v));
                            *lane = _mm512_add_ps(old, silu(*lane));
                        }
                    }
                }
            }
            if masks[..V].iter().all(|&m| m == u16::MAX) {
                for (r, a) in acc.iter().enumerate() {
                    let row = y.add(r * ldy);
                    for (v, lane) in a.iter().enumerate() {
                        _mm512_storeu_ps(row.add(16 * v), *lane);
                    }
                }
            } else {
                // A masked store never touches (or faults on) the masked-off lanes.
                for (r, a) in acc.iter().enumerate() {
                    let row = y.add(r * ldy);
                    for (v, lane) in a.iter().enumerate() {
                        _mm512_mask_storeu_ps(row.wrapping_add(16 * v), masks[v], *lane);
                    }
                }
            }
        }
    }

    /// [`Epilogue::RankColumns`]' store: the block's 8 rank rows (one group, from its start)
    /// to `y + j·8 + k` for the columns `j` that `masks` (prefix masks, one per vector) keep,
    /// through [`ranks_to_columns`]. `forward_work_split` checks that every block of such a
    /// store is a whole group (`M = 8`).
    ///
    /// # Safety
    /// AVX-512F; `y + j·8 + k` is writable for those `j` and every `k < 8`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn rank_columns<const M: usize, const V: usize, const ADD: bool>(
        acc: &[[__m512; V]; M],
        y: *mut f32,
        masks: [__mmask16; 3],
    ) {
        assert!(M == 8, "a rank-column block holds one group of 8 rank rows");
        for (v, mask) in masks.iter().enumerate().take(V) {
            let cols = mask.count_ones() as usize;
            let pairs = ranks_to_columns(std::array::from_fn(|k| acc[k][v]));
            for (q, pair) in pairs.iter().enumerate() {
                // SAFETY: the caller's guarantee, for columns `16v + 2q (+1) < 16v + cols`.
                unsafe {
                    let at = y.add((16 * v + 2 * q) * 8);
                    // Both columns of the pair, or the first only.
                    let lanes: __mmask16 = if 2 * q + 1 < cols {
                        0xffff
                    } else if 2 * q < cols {
                        0x00ff
                    } else {
                        continue;
                    };
                    // `ADD`: onto the stored values (a masked load never touches the others).
                    let pair = if ADD {
                        _mm512_add_ps(*pair, _mm512_maskz_loadu_ps(lanes, at))
                    } else {
                        *pair
                    };
                    if lanes == 0xffff {
                        _mm512_storeu_ps(at, pair);
                    } else {
                        _mm512_mask_storeu_ps(at, lanes, pair);
                    }
                }
            }
        }
    }

    /// An 8×16 transpose in registers: 8 rank rows of 16 columns in, 8 vectors out, vector
    /// `q` holding columns `2q` and `2q + 1`, each as its 8 ranks in order (rank pairs
    /// interleaved per column, then pairs of pairs in 64-bit units, then the two quads in
    /// 128-bit units, each step a two-source permute).
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(in crate::packed) fn ranks_to_columns(rows: [__m512; 8]) -> [__m512; 8] {
        let pairs_lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        let pairs_hi =
            _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        let quads_lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
        let quads_hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
        let octs_lo = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
        let octs_hi = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
        // pairs[q][h]: ranks 2q, 2q+1 interleaved over columns 8h..8h+8.
        let pairs: [[__m512d; 2]; 4] = std::array::from_fn(|q| {
            let (a, b) = (rows[2 * q], rows[2 * q + 1]);
            [
                _mm512_castps_pd(_mm512_permutex2var_ps(a, pairs_lo, b)),
                _mm512_castps_pd(_mm512_permutex2var_ps(a, pairs_hi, b)),
            ]
        });
        // quads[g][m]: ranks 4g..4g+4 of columns 4m..4m+4.
        let quads: [[__m512d; 4]; 2] = std::array::from_fn(|g| {
            std::array::from_fn(|m| {
                let (a, b) = (pairs[2 * g][m / 2], pairs[2 * g + 1][m / 2]);
                let idx = if m % 2 == 0 { quads_lo } else { quads_hi };
                _mm512_permutex2var_pd(a, idx, b)
            })
        });
        std::array::from_fn(|q| {
            let (a, b) = (quads[0][q / 2], quads[1][q / 2]);
            let idx = if q % 2 == 0 { octs_lo } else { octs_hi };
            _mm512_castpd_ps(_mm512_permutex2var_pd(a, idx, b))
        })
    }

    /// `x·sigmoid(x)` on 16 lanes: `e^{-x}` as in Cephes `expf` (range reduction by ln 2 with
    /// round-to-nearest, degree-5 polynomial, `2^n` by `vscalefps`; argument clamped to ±80,
    /// where the result is 0 or x to f32 precision anyway), the reciprocal of `1 + e^{-x}` by
    /// `rcp14` and one Newton step (relative error ≈ 2⁻²⁷).
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn silu(x: __m512) -> __m512 {
        const LN2_HI: f32 = 0.693_359_4;
        const LN2_LO: f32 = -2.121_944_4e-4;
        let t = _mm512_min_ps(
            _mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), x), _mm512_set1_ps(-80.0)),
            _mm512_set1_ps(80.0),
        );
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(t, _mm512_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), t);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut p = _mm512_set1_ps(1.987_569_1e-4);
        for c in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            0.5,
        ] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        let e = _mm512_fmadd_ps(
            p,
            _mm512_mul_ps(r, r),
            _mm512_add_ps(r, _mm512_set1_ps(1.0)),
        );
        let d = _mm512_add_ps(_mm512_scalef_ps(e, n), _mm512_set1_ps(1.0));
        let inv = _mm512_rcp14_ps(d);
        // One Newton step: inv·(2 − d·inv).
        let inv = _mm512_mul_ps(inv, _mm512_fnmadd_ps(d, inv, _mm512_set1_ps(2.0)));
        _mm512_mul_ps(x, inv)
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod kernel {
    /// Never called: `PackedHyper::new` returns `None` off x86-64.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn panel(
        _: *const u8,
        _: super::WeightStorage,
        _: super::Bf16Kernel,
        _: *const f32,
        _: *const f32,
        _: usize,
        _: usize,
        _: usize,
        _: *mut f32,
        _: usize,
        _: usize,
        _: super::Epilogue,
    ) {
        unreachable!("the packed kernel is only used on x86-64 with AVX-512F")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packed::grouped_layout::{at, grouped};

    /// `y = epilogue(x·Wᵀ + b)` by definition, f64.
    fn naive(w: &[f32], b: &[f32], x: &[f32], k: usize, out: usize, rows: usize) -> Vec<f64> {
        let mut y = vec![0f64; rows * out];
        for r in 0..rows {
            for o in 0..out {
                let dot: f64 = (0..k)
                    .map(|i| f64::from(x[r * k + i]) * f64::from(w[o * k + i]))
                    .sum();
                y[r * out + o] = dot + f64::from(b[o]);
            }
        }
        y
    }

    fn silu(v: f64) -> f64 {
        v / (1.0 + (-v).exp())
    }

    /// `v` rounded to bf16 (nearest even) and back.
    fn bf16_round(v: &[f32]) -> Vec<f32> {
        v.iter()
            .map(|&v| half::bf16::from_f32(v).to_f32())
            .collect()
    }

    /// `n` values spread over `[-m/2, m/2)·scale` in a scrambled order (`i·step mod m`).
    fn scattered(n: usize, step: usize, m: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * step % m) as f32 - (m / 2) as f32) * scale)
            .collect()
    }

    /// `n` values `(i − centre)·scale`.
    fn ramp(n: usize, centre: f32, scale: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 - centre) * scale).collect()
    }

    /// f32 or f16 weights as the kernel multiplies them (f16: rounded).
    fn as_stored(w: &[f32], storage: WeightStorage) -> Vec<f32> {
        match storage {
            WeightStorage::F16 => w.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect(),
            _ => w.to_vec(),
        }
    }

    /// The kernels that run here for `storage` (bf16: AMX where available, and `vdpbf16ps`).
    fn kernels(storage: WeightStorage) -> Vec<Bf16Kernel> {
        match storage {
            WeightStorage::Bf16 if !super::super::bf16_supported() => Vec::new(),
            WeightStorage::Bf16 if crate::packed::gemm_amx::amx_available() => {
                vec![Bf16Kernel::Amx, Bf16Kernel::Avx512]
            }
            _ => vec![Bf16Kernel::Avx512],
        }
    }

    #[test]
    fn weight_storage_is_zeroed_and_line_aligned_at_any_size() {
        // 0, a few lines, and more than one 2 MiB huge page (advised to THP on Linux).
        for len in [0, 1, 17, 3 << 19] {
            let lines = weight_storage(len);
            assert_eq!(lines.len(), len.div_ceil(16));
            assert_eq!(lines.as_ptr() as usize % 64, 0);
            assert!(values(&lines).iter().all(|&v| v.to_bits() == 0));
        }
    }

    #[test]
    fn packing_picked_rows_equals_packing_their_copy() {
        let (k, out) = (5, 7);
        let w: Vec<f32> = (0..out * k).map(|i| i as f32 * 0.25 - 3.0).collect();
        let b: Vec<f32> = (0..out).map(|i| i as f32).collect();
        let pick = [6, 0, 3, 3];
        let copy: Vec<f32> = pick
            .iter()
            .flat_map(|&o| w[o * k..(o + 1) * k].to_vec())
            .collect();
        let picked_bias: Vec<f32> = pick.iter().map(|&o| b[o]).collect();
        for storage in [WeightStorage::F32, WeightStorage::F16] {
            let a = PackedLinear::pack_rows(WeightRows::picked(&w, k, &pick), Some(&b), storage);
            let c = PackedLinear::pack_as(&copy, Some(&picked_bias), pick.len(), k, storage);
            assert_eq!(values(&a.panels), values(&c.panels));
            assert_eq!(values(&a.bias), values(&c.bias));
        }
    }

    #[test]
    fn epilogues_match_their_definitions_and_write_only_out_columns() {
        if !cpu_supported() {
            return;
        }
        // out = 100: two full panels and a partial one of 4 columns (one vector computed);
        // out = 80 and 120: a last panel of 32 and 24 columns (two vectors, the first with all
        // lanes stored, the second with a mask); out = 5: one partial panel. rows: 1,
        // 11 (register blocks of 8 and 3), 15 and 17 (under / over one AMX tile of 16 rows),
        // 33 (two tiles and one row). k = 37: odd (bf16 pads the last pair) and not a
        // multiple of 32 (AMX tile steps); 40: even, not a multiple of 32; 64: two whole steps;
        // 300 with 70 rows: ten AMX tile steps, five row tiles (the last with 6 rows).
        for (k, out, rows) in [
            (37, 100, 11),
            (37, 100, 1),
            (40, 100, 15),
            (37, 5, 17),
            (64, 100, 33),
            (67, 52, 17),
            (300, 52, 70),
            (40, 80, 11),
            (37, 120, 9),
        ] {
            let ldy = out + 3;
            let w = scattered(out * k, 37, 101, 0.02);
            let b = ramp(out, 50.0, 0.1);
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 13 % 29) as f32 - 14.0) * 0.3 + 0.0123)
                .collect();
            let storages = [WeightStorage::F32, WeightStorage::F16, WeightStorage::Bf16];
            for storage in storages {
                // What each precision computes exactly: f16 rounds the weights, bf16 both
                // sides.
                let want = match storage {
                    WeightStorage::F32 => naive(&w, &b, &x, k, out, rows),
                    WeightStorage::F16 => naive(&as_stored(&w, storage), &b, &x, k, out, rows),
                    WeightStorage::Bf16 => {
                        naive(&bf16_round(&w), &b, &bf16_round(&x), k, out, rows)
                    }
                };
                let mut outputs = Vec::new();
                for kernel in kernels(storage) {
                    let lin = PackedLinear::pack_as(&w, Some(&b), out, k, storage)
                        .with_bf16_kernel(kernel);
                    let shape = format!("{storage:?} {kernel:?} rows {rows} k {k} out {out}");
                    outputs.push(check_epilogues(
                        &lin,
                        &x,
                        (k, rows, out, ldy),
                        &want,
                        &shape,
                    ));
                }
                // The kernel instance with paced prefetches (weights streamed from memory:
                // the Mistral-7B L and M heads) computes the same.
                let paced =
                    PackedLinear::pack_as(&w, Some(&b), out, k, storage).with_streamed(true);
                let shape = format!("{storage:?} paced rows {rows} k {k} out {out}");
                check_epilogues(&paced, &x, (k, rows, out, ldy), &want, &shape);
                // AMX and `vdpbf16ps` multiply the same rounded values: they differ only by the
                // order of the f32 additions.
                if let [amx, avx] = &outputs[..] {
                    let worst = amx
                        .iter()
                        .zip(avx)
                        .map(|(a, v)| (a - v).abs() / v.abs().max(1.0))
                        .fold(0f32, f32::max);
                    assert!(worst < 1e-5, "AMX vs vdpbf16ps rows {rows} k {k}: {worst}");
                }
            }
        }
    }

    /// Every epilogue of `lin` on `x` (`k` inputs, `rows` rows, `out` outputs into rows of
    /// stride `ldy`) against `want` (the exact product), and no write outside columns
    /// `0..out`; returns the `Store` output.
    fn check_epilogues(
        lin: &PackedLinear,
        x: &[f32],
        (k, rows, out, ldy): (usize, usize, usize, usize),
        want: &[f64],
        shape: &str,
    ) -> Vec<f32> {
        let start: Vec<f32> = (0..rows * ldy).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut stored = Vec::new();
        for epilogue in [Epilogue::Store, Epilogue::Silu, Epilogue::AddSilu] {
            let mut y = start.clone();
            lin.forward((x, k, false), rows, &mut y, ldy, epilogue);
            let mut worst = 0f64;
            for r in 0..rows {
                for c in 0..ldy {
                    let (got, old) = (f64::from(y[r * ldy + c]), f64::from(start[r * ldy + c]));
                    if c >= out {
                        assert_eq!(got, old, "{epilogue:?} wrote column {c} of row {r}");
                        continue;
                    }
                    let v = want[r * out + c];
                    let expect = match epilogue {
                        Epilogue::Store => v,
                        Epilogue::Silu => silu(v),
                        Epilogue::AddSilu => old + silu(v),
                        Epilogue::RankColumns { .. }
                        | Epilogue::SiluColumns { .. }
                        | Epilogue::AddSiluColumns { .. } => unreachable!("not in this loop"),
                    };
                    worst = worst.max((got - expect).abs() / expect.abs().max(1.0));
                }
            }
            // f32 accumulation over k terms of magnitude ≤ 4 (bf16 × bf16 products are exact
            // in f32): 1e-5 up to k = 37, the rounding growing with k beyond.
            let tol = 1e-5 * (k as f64 / 37.0).max(1.0);
            assert!(
                worst < tol,
                "{shape} {epilogue:?}: worst relative error {worst}"
            );
            if epilogue != Epilogue::AddSilu {
                // Into slots that may be uninitialised, dense rows (`ldy = out`): the same
                // values, every slot written (NaN sentinels never compare equal).
                let mut dense = vec![MaybeUninit::new(f32::NAN); rows * out];
                lin.forward_uninit((x, k, false), rows, &mut dense, out, epilogue);
                for r in 0..rows {
                    for c in 0..out {
                        // SAFETY: every slot was initialised (with the sentinel) above.
                        let got = unsafe { dense[r * out + c].assume_init() };
                        assert_eq!(got, y[r * ldy + c], "{shape} {epilogue:?} dense ({r}, {c})");
                    }
                }
            }
            if epilogue == Epilogue::Store {
                stored = y;
            }
        }
        stored
    }

    #[test]
    fn rank_columns_store_each_group_of_8_rows_as_peft_b() {
        if !cpu_supported() {
            return;
        }
        // Rows: 16 low (stored as rows) + 24 high (3 groups of 8 rank rows, stored as
        // `[width, 8]` blocks). width = out: every panel, the last partial (100 = 2·48 + 4);
        // 90 < out = 120: the third panel cut at 90 (two vectors, the second with 10 columns,
        // an odd tail of column pairs), panels past it skipped on the high side; 7: one vector
        // with an odd column count. One and three threads, the work dealt by panels (pieces
        // over both sides split) or, on three threads, by rows (every panel on each thread,
        // for rows on one side or both, as S's row chunks).
        let (k, low_rows, high_rows) = (37, 16, 24);
        let rows = low_rows + high_rows;
        for (out, width) in [(100, 100), (120, 90), (20, 7)] {
            let w = scattered(out * k, 37, 101, 0.02);
            let b = ramp(out, 50.0, 0.1);
            let x = scattered(rows * k, 13, 29, 0.05);
            for storage in [WeightStorage::F32, WeightStorage::F16] {
                let lin = PackedLinear::pack_as(&w, Some(&b), out, k, storage);
                let wq = as_stored(&w, storage);
                let want = naive(&wq, &b, &x, k, out, rows);
                // Every panel for each run of rows `(start, end)`.
                let all = |rows: &[(usize, usize)]| -> Vec<(usize, Range<usize>)> {
                    rows.iter()
                        .flat_map(|&(a, z)| (0..lin.n_panels()).map(move |p| (p, a..z)))
                        .collect()
                };
                let whole = all(&[(0, rows)]);
                let by_rows = [
                    all(&[(0, 10), (16, 24)]),
                    all(&[(10, 16)]),
                    all(&[(24, 40)]),
                ];
                for (threads, by) in [(1, "panels"), (3, "panels"), (3, "rows")] {
                    let workers = Workers::new(threads);
                    let shares = match by {
                        "rows" => by_rows.iter().map(Vec::as_slice).collect(),
                        _ => balanced_shares(&whole, workers.count()),
                    };
                    let mut low = vec![MaybeUninit::new(f32::NAN); low_rows * out];
                    let mut high = vec![MaybeUninit::new(f32::NAN); high_rows * width];
                    lin.forward_work_split(
                        (&x, k, false),
                        (&mut low, &mut high),
                        low_rows,
                        out,
                        Epilogue::RankColumns { width },
                        &shares,
                        &workers,
                    );
                    let close = |got: MaybeUninit<f32>, want: f64, at: &str| {
                        // SAFETY: initialised (NaN sentinels where the kernel did not write).
                        let got = f64::from(unsafe { got.assume_init() });
                        assert!(
                            (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                            "{storage:?} out {out} width {width} threads {threads} by {by} {at}: {got} vs {want}"
                        );
                    };
                    for r in 0..low_rows {
                        for c in 0..out {
                            close(
                                low[r * out + c],
                                want[r * out + c],
                                &format!("low ({r}, {c})"),
                            );
                        }
                    }
                    for g in 0..high_rows / 8 {
                        for j in 0..width {
                            for kr in 0..8 {
                                let row = low_rows + g * 8 + kr;
                                close(
                                    high[(g * width + j) * 8 + kr],
                                    want[row * out + j],
                                    &format!("group {g} column {j} rank {kr}"),
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn grouped_rows_through_a_residual_block_match_dense_rows() {
        if !cpu_supported() {
            return;
        }
        // `x + silu(silu(x·W1ᵀ + b1)·W2ᵀ + b2)` on grouped rows (`SiluColumns`, then
        // `AddSiluColumns` in place) against the dense epilogues. 37 → 100 → 37: partial last
        // panels both ways (two vectors of 37, one of 100); 24 rows: 3 groups.
        let (d, wide, rows) = (37, 100, 24);
        let w1 = scattered(wide * d, 37, 101, 0.03);
        let b1 = ramp(wide, 50.0, 0.01);
        let w2 = scattered(d * wide, 53, 97, 0.02);
        let b2 = ramp(d, 18.0, 0.05);
        let x = scattered(rows * d, 13, 29, 0.05);
        for storage in [WeightStorage::F32, WeightStorage::F16] {
            let l1 = PackedLinear::pack_as(&w1, Some(&b1), wide, d, storage);
            let l2 = PackedLinear::pack_as(&w2, Some(&b2), d, wide, storage);
            let (mut u, mut y) = (vec![0f32; rows * wide], x.clone());
            l1.forward((&x, d, false), rows, &mut u, wide, Epilogue::Silu);
            l2.forward((&u, wide, false), rows, &mut y, d, Epilogue::AddSilu);
            let xg = grouped(&x, d);
            let (mut ug, mut yg) = (vec![0f32; rows * wide], xg.clone());
            l1.forward(
                (&xg, d, true),
                rows,
                &mut ug,
                wide,
                Epilogue::SiluColumns { width: wide },
            );
            let add = Epilogue::AddSiluColumns { width: d };
            l2.forward((&ug, wide, true), rows, &mut yg, d, add);
            for (got, want) in [(&ug, grouped(&u, wide)), (&yg, grouped(&y, d))] {
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((g - w).abs() <= 1e-5, "{storage:?} at {i}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn grouped_rows_out_of_one_gemm_feed_the_next_as_dense_rows_would() {
        if !cpu_supported() {
            return;
        }
        // A first GEMM stores silu(x·W1ᵀ + b1) as groups of 8 rows `[k2, 8]`
        // (`SiluColumns`); the second reads them grouped (`forward_work_split`), its rows
        // cut at 8 (low side) and run by panels or by rows. k2 = 37: a partial last panel
        // and an odd k; 24 rows: 3 groups.
        let (k1, k2, out, rows) = (19, 37, 100, 24);
        let w1 = scattered(k2 * k1, 37, 101, 0.03);
        let b1 = ramp(k2, 18.0, 0.05);
        let w2 = scattered(out * k2, 53, 97, 0.02);
        let b2 = ramp(out, 50.0, 0.1);
        let x = scattered(rows * k1, 13, 29, 0.05);
        for storage in [WeightStorage::F32, WeightStorage::F16] {
            let round = |w: &[f32]| as_stored(w, storage);
            let first = PackedLinear::pack_as(&w1, Some(&b1), k2, k1, storage);
            let second = PackedLinear::pack_as(&w2, Some(&b2), out, k2, storage);
            let hidden: Vec<f32> = naive(&round(&w1), &b1, &x, k1, k2, rows)
                .into_iter()
                .map(|v| silu(v) as f32)
                .collect();
            let want = naive(&round(&w2), &b2, &hidden, k2, out, rows);
            let mut grouped = vec![MaybeUninit::new(f32::NAN); rows * k2];
            first.forward_uninit(
                (&x, k1, false),
                rows,
                &mut grouped,
                k2,
                Epilogue::SiluColumns { width: k2 },
            );
            // SAFETY: initialised (NaN sentinels where the kernel did not write).
            let grouped: Vec<f32> = grouped.iter().map(|v| unsafe { v.assume_init() }).collect();
            for r in 0..rows {
                for c in 0..k2 {
                    let got = grouped[at(r, c, k2)];
                    let want = hidden[r * k2 + c];
                    assert!(
                        (got - want).abs() <= 1e-5,
                        "{storage:?} hidden ({r}, {c}): {got} vs {want}"
                    );
                }
            }
            let whole: Vec<(usize, Range<usize>)> =
                (0..second.n_panels()).map(|p| (p, 0..rows)).collect();
            let by_rows: Vec<Vec<(usize, Range<usize>)>> = [0..16, 16..24]
                .into_iter()
                .map(|r| (0..second.n_panels()).map(|p| (p, r.clone())).collect())
                .collect();
            for (threads, by) in [(1, "panels"), (3, "panels"), (3, "rows")] {
                let workers = Workers::new(threads);
                let shares = match by {
                    "rows" => by_rows.iter().map(Vec::as_slice).collect(),
                    _ => balanced_shares(&whole, workers.count()),
                };
                let mut low = vec![MaybeUninit::new(f32::NAN); 8 * out];
                let mut high = vec![MaybeUninit::new(f32::NAN); 16 * out];
                second.forward_work_split(
                    (&grouped, k2, true),
                    (&mut low, &mut high),
                    8,
                    out,
                    Epilogue::Store,
                    &shares,
                    &workers,
                );
                for (i, v) in low.iter().chain(&high).enumerate() {
                    // SAFETY: as above.
                    let got = f64::from(unsafe { v.assume_init() });
                    assert!(
                        (got - want[i]).abs() <= 1e-5 * want[i].abs().max(1.0),
                        "{storage:?} {threads} threads by {by}: ({}, {}) {got} vs {}",
                        i / out,
                        i % out,
                        want[i]
                    );
                }
            }
        }
    }

    #[test]
    fn work_splits_into_consecutive_shares_of_about_equal_rows() {
        // S's v_proj at Mistral shapes: 22 panels for the A and B rows (512), 64 for A only.
        let work: Vec<(usize, Range<usize>)> = (0..86)
            .map(|p| (p, if p < 22 { 0..512 } else { 0..256 }))
            .collect();
        for threads in [1, 2, 3, 7, 86, 100] {
            let shares = balanced_shares(&work, threads);
            assert!(!shares.is_empty() && shares.len() <= threads.min(work.len()));
            // Every piece once, in order.
            let flat: Vec<usize> = shares.iter().flat_map(|s| s.iter().map(|w| w.0)).collect();
            assert_eq!(flat, (0..86).collect::<Vec<_>>(), "{threads} threads");
            let rows: Vec<usize> = shares
                .iter()
                .map(|s| s.iter().map(|(_, r)| r.len()).sum())
                .collect();
            let (max, min) = (rows.iter().max().unwrap(), rows.iter().min().unwrap());
            // Within one piece (512 rows) of each other.
            assert!(max - min <= 512, "{threads} threads: {rows:?}");
        }
        // By count, two threads would get 43 pieces each: 16,384 rows against 11,008.
        let two: Vec<usize> = balanced_shares(&work, 2)
            .iter()
            .map(|s| s.iter().map(|(_, r)| r.len()).sum())
            .collect();
        assert!(two[0].abs_diff(two[1]) <= 512, "{two:?}");
        // Pieces without rows still count (as one) and still run.
        let empty = [(0, 0..0), (1, 0..0), (2, 0..0)];
        assert_eq!(balanced_shares(&empty, 2).concat().len(), 3);
    }

    #[test]
    fn kernel_silu_is_accurate_over_the_whole_range() {
        if !cpu_supported() {
            return;
        }
        // Identity weights: y = silu(x).
        let (k, rows) = (16, 4000);
        let eye: Vec<f32> = (0..k * k)
            .map(|i| f32::from(u8::from(i / k == i % k)))
            .collect();
        let lin = PackedLinear::pack_as(&eye, None, k, k, WeightStorage::F32);
        let x: Vec<f32> = (0..rows * k)
            .map(|i| (i as f32 - (rows * k / 2) as f32) * 0.0031)
            .collect();
        let mut y = vec![0f32; rows * k];
        lin.forward((&x, k, false), rows, &mut y, k, Epilogue::Silu);
        let mut worst = 0f64;
        for (&xi, &yi) in x.iter().zip(&y) {
            let want = silu(f64::from(xi));
            // Relative, except near 0 (x ≪ 0, where the clamp at −80 leaves ~1e-33).
            worst = worst.max((f64::from(yi) - want).abs() / want.abs().max(1e-6));
        }
        assert!(worst < 1e-6, "worst relative error {worst} over ±99");
    }
}
