//! The bf16 compute precision of the packed GEMM ([`WeightStorage::Bf16`]): weights packed as
//! bf16 pairs along k, activations rounded to bf16 pairs once per GEMM call, the choice of
//! kernel ([`bf16_kernel`]: AMX tiles, `gemm_amx.rs`, where available), and the register
//! kernel on `vdpbf16ps` (AVX512-BF16), which multiplies 16 lanes × 2 bf16 pairs and adds both
//! products to an f32 accumulator. Bias and epilogue stay f32 (`gemm.rs` shares its panel
//! driver, prefetching and epilogues with this kernel).
//!
//! Layout: a panel of `NR` outputs holds, for each pair `j` of k, `NR` lanes of
//! `(W[c][2j], W[c][2j+1])` (the first in the low half, as `vdpbf16ps` pairs them); an
//! activation row holds `(x[2j], x[2j+1])` per 32-bit slot. An odd k is padded with a zero on
//! both sides, and both sides are padded with zero pairs to whole AMX tile steps (16 pairs);
//! the activation rows are followed by 16 zero rows (whole AMX tiles of rows).

#[cfg(doc)]
use super::gemm::WeightStorage;
#[cfg(target_arch = "x86_64")]
use super::gemm::kernel::{NextPanel, prefetch_step};
use super::gemm::{
    Line, NR, WeightRows, aligned_zeros, halves_mut, pack_panels, stored_pairs, weight_storage,
};
use super::gemm_amx::{TILE_ROWS, amx_available};

/// Which instructions multiply the bf16 compute precision ([`WeightStorage::Bf16`]). Both
/// multiply the same bf16-rounded values exactly and accumulate in f32; they differ only in
/// the order of the f32 additions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AMX tiles (`tdpbf16ps`: 16 rows × 16 columns × 32 k per instruction; AMX-TILE and
    /// AMX-BF16, with the operating system's permission for tile data: Linux only).
    Amx,
    /// AVX512-BF16 `vdpbf16ps` on zmm registers (the fallback).
    Avx512,
}

/// The kernel that bf16 compute uses on this CPU: [`Bf16Kernel::Amx`] where the CPU has
/// AMX-BF16 and the OS grants tile data to this process (asked once), else
/// [`Bf16Kernel::Avx512`]; `None` without AVX512-BF16 ([`bf16_supported`]).
///
/// ```
/// use hypermod::packed::{bf16_kernel, bf16_supported};
/// assert_eq!(bf16_kernel().is_some(), bf16_supported());
/// ```
pub fn bf16_kernel() -> Option<Bf16Kernel> {
    if !bf16_supported() {
        None
    } else if amx_available() {
        Some(Bf16Kernel::Amx)
    } else {
        Some(Bf16Kernel::Avx512)
    }
}

/// Whether this CPU runs the bf16 compute precision: AVX-512F and AVX512-BF16 (x86-64).
///
/// ```
/// // `PackedHyper::with_precision` with bf16 returns `Error::CpuFeature` when this is false.
/// let bf16 = hypermod::packed::bf16_supported();
/// # let _ = bf16;
/// ```
pub fn bf16_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Packs `weight [out, k]` (row-major) as bf16 pairs (round to nearest even): panel `p`, pair
/// `j`, lane `c`, half `h` holds `W[p·NR + c][2j + h]` (zero beyond `out` and `k`: the padding
/// half of an odd `k` and the pairs up to whole tile steps, [`stored_pairs`]).
pub(super) fn pack_pairs(rows: WeightRows<'_>) -> Vec<Line> {
    let (out, k) = (rows.len(), rows.k());
    let pairs = stored_pairs(k);
    let len = out.div_ceil(NR) * pairs * 2 * NR;
    let mut panels = weight_storage(len.div_ceil(2));
    let slot = |kk: usize, c: usize| (kk / 2) * 2 * NR + c * 2 + kk % 2;
    let bf16_bits = |w| half::bf16::from_f32(w).to_bits();
    pack_panels(
        rows,
        halves_mut(&mut panels),
        pairs * 2 * NR,
        slot,
        bf16_bits,
    );
    panels
}

/// Values per converted chunk: 32 f32 → 32 bf16 (one cache line).
const CHUNK: usize = 32;

/// `rows` rows of `k` values of `x` (stride `ldx`) rounded to bf16 pairs (round to nearest
/// even, `vcvtne2ps2bf16`), each row padded with zeros to whole cache lines (= whole tile steps
/// of pairs) and followed by `TILE_ROWS` zero rows (so that a 16-row AMX tile starting at any
/// row `< rows` stays inside); returns the pairs and the row stride in pairs (`16·⌈k/32⌉`).
///
/// Panics when the CPU lacks AVX512-BF16: a bf16 layer is only ever built after
/// [`bf16_supported`] (`PackedHyper::with_precision`), so that is a broken invariant, not bad
/// input.
pub(super) fn to_pairs(x: &[f32], ldx: usize, rows: usize, k: usize) -> (Vec<Line>, usize) {
    assert!(bf16_supported(), "bf16 layer on a CPU without AVX512-BF16");
    assert!(rows == 0 || (ldx >= k && x.len() >= (rows - 1) * ldx + k));
    if k == 0 {
        return (aligned_zeros((rows + TILE_ROWS) * 16), 16);
    }
    let lines = k.div_ceil(CHUNK);
    // The rows are written once (no zero-fill first), then the zero rows appended.
    let mut out: Vec<Line> = Vec::with_capacity((rows + TILE_ROWS) * lines);
    for (r, row) in out.spare_capacity_mut()[..rows * lines]
        .chunks_exact_mut(lines)
        .enumerate()
    {
        let values = &x[r * ldx..r * ldx + k];
        // SAFETY: AVX512-BF16 checked above; `row` holds `⌈k/32⌉` lines.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            kernel::row_to_pairs(values, row)
        };
        // Unreachable: no AVX512-BF16 off x86-64 (asserted above).
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (values, row);
    }
    // SAFETY: `row_to_pairs` wrote all `lines` lines of each of the `rows` rows (`⌈k/32⌉`
    // chunks of `k > 0` values, one line each).
    unsafe { out.set_len(rows * lines) };
    out.resize((rows + TILE_ROWS) * lines, Line([0.0; 16]));
    (out, lines * 16)
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use std::arch::x86_64::*;

    use std::mem::MaybeUninit;

    use super::{CHUNK, Line, NR, NextPanel, prefetch_step};

    /// Bytes of one k-step (a pair of k) of a panel: `NR` lanes × 2 bf16.
    const STEP_BYTES: usize = NR * 4;

    /// One row of f32 values → bf16 in `out` (`⌈len/32⌉` lines; the tail lanes zero).
    ///
    /// # Safety
    /// AVX-512F and AVX512-BF16 must be available; `out.len() ≥ ⌈x.len()/32⌉`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn row_to_pairs(x: &[f32], out: &mut [MaybeUninit<Line>]) {
        for (chunk, line) in x.chunks(CHUNK).zip(out.iter_mut()) {
            let mask = |from: usize| -> __mmask16 {
                let n = chunk.len().saturating_sub(from).min(16);
                ((1u32 << n) - 1) as __mmask16
            };
            unsafe {
                // A masked load reads (and faults on) only its lanes; the others are zero.
                let lo = _mm512_maskz_loadu_ps(mask(0), chunk.as_ptr());
                let hi = _mm512_maskz_loadu_ps(mask(16), chunk.as_ptr().wrapping_add(16));
                // `lo` becomes bf16 elements 0..16, `hi` 16..32: the values stay in order.
                let packed: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
                _mm512_storeu_si512(line.as_mut_ptr().cast(), packed);
            }
        }
    }

    /// `acc += x·Wᵀ` for `M` rows over `pairs` pairs of k of a bf16 panel: per pair, three
    /// weight vectors (16 lanes × 2 bf16 each) and one broadcast pair per row, `vdpbf16ps`.
    ///
    /// # Safety
    /// AVX-512F and AVX512-BF16 must be available; `panel` holds `pairs·NR` bf16 pairs, `x`
    /// `M` rows of `pairs` pairs at stride `ldx` (pairs).
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(in crate::packed) unsafe fn block<const M: usize>(
        panel: *const u8,
        mut acc: [[__m512; 3]; M],
        x: *const u32,
        ldx: usize,
        pairs: usize,
        pf: NextPanel,
    ) -> [[__m512; 3]; M] {
        unsafe {
            for j in 0..pairs {
                let w = panel.add(j * STEP_BYTES);
                prefetch_step::<false>(w, STEP_BYTES, pf, j);
                let load = |v: usize| -> __m512bh {
                    std::mem::transmute(_mm512_loadu_si512(w.add(64 * v).cast()))
                };
                let (w0, w1, w2) = (load(0), load(1), load(2));
                for (r, a) in acc.iter_mut().enumerate() {
                    let pair = *x.add(r * ldx + j) as i32;
                    let xv: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair));
                    a[0] = _mm512_dpbf16_ps(a[0], w0, xv);
                    a[1] = _mm512_dpbf16_ps(a[1], w1, xv);
                    a[2] = _mm512_dpbf16_ps(a[2], w2, xv);
                }
            }
            acc
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use kernel::block;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packed::gemm::values;

    fn bf16(v: f32) -> u16 {
        half::bf16::from_f32(v).to_bits()
    }

    #[test]
    fn packing_pairs_k_and_pads_an_odd_k_tile_steps_and_partial_panels_with_zeros() {
        // k = 5: pairs (0,1), (2,3), (4, pad), then 13 zero pairs to a whole tile step;
        // out = 50: a full panel and 2 columns of another.
        let (out, k) = (50, 5);
        let w: Vec<f32> = (0..out * k).map(|i| i as f32 * 0.37 - 40.0).collect();
        let mut panels = pack_pairs(WeightRows::all(&w, k));
        let flat = halves_mut(&mut panels);
        let pairs = stored_pairs(k);
        assert_eq!(pairs, 16);
        assert!(flat.len() >= 2 * pairs * 2 * NR);
        for p in 0..2 {
            for j in 0..pairs {
                for c in 0..NR {
                    for h in 0..2 {
                        let (o, kk) = (p * NR + c, 2 * j + h);
                        let got = flat[p * pairs * 2 * NR + j * 2 * NR + c * 2 + h];
                        let want = if o < out && kk < k {
                            bf16(w[o * k + kk])
                        } else {
                            0
                        };
                        assert_eq!(got, want, "panel {p} pair {j} lane {c} half {h}");
                    }
                }
            }
        }
    }

    #[test]
    fn activations_round_to_nearest_even_bf16_pairs_with_zero_padding() {
        if !bf16_supported() {
            return;
        }
        // k = 37 (odd, two chunks), stride 40, three rows; values include exact ties.
        let (rows, k, ldx) = (3, 37, 40);
        let tie = f32::from_bits(0x3f80_8000); // 1 + 2⁻⁸: halfway, rounds to even (1.0)
        let x: Vec<f32> = (0..rows * ldx)
            .map(|i| match i % 5 {
                0 => tie,
                1 => -f32::from_bits(0x3f81_8000), // halfway, rounds up to even
                _ => (i as f32 * 0.731).sin() * 1e3,
            })
            .collect();
        let (pairs, stride) = to_pairs(&x, ldx, rows, k);
        assert_eq!(stride, 32);
        let halves: Vec<u16> = values(&pairs)
            .iter()
            .flat_map(|v| {
                let b = v.to_bits();
                [b as u16, (b >> 16) as u16]
            })
            .collect();
        for r in 0..rows {
            for i in 0..2 * stride {
                let want = if i < k { bf16(x[r * ldx + i]) } else { 0 };
                assert_eq!(halves[r * 2 * stride + i], want, "row {r} value {i}");
            }
        }
        assert_eq!(bf16(tie), 0x3f80);
    }
}
