//! The AMX-BF16 kernel of the bf16 compute precision ([`WeightStorage::Bf16`]): the same
//! packed panels and bf16 activation rows as the `vdpbf16ps` kernel (`gemm_bf16.rs`), multiplied
//! with tile instructions (`tdpbf16ps`: a 16 × 16 f32 tile += a 16-row × 32-bf16 tile of
//! activations · 16 pairs of k × 16 columns of weights), f32 accumulation. Bias and epilogue are
//! the f32 kernel's (`gemm.rs`), so only the products differ between the kernels.
//!
//! AMX needs three things at run time, all checked once per process ([`amx_available`]): the
//! CPU (CPUID leaf 7: AMX-TILE and AMX-BF16), AVX512-BF16 (the activations are rounded with it),
//! and the operating system's permission to use tile data (Linux `arch_prctl(ARCH_REQ_XCOMP_PERM,
//! XFEATURE_XTILEDATA)`). The AMX intrinsics are unstable in Rust, so the instructions are
//! written as inline assembly; no compiler-generated code touches tile registers, so their
//! state lives from the tile configuration (`ldtilecfg`) to `tilerelease`, both inside one
//! call of [`kernel::panel`] on one thread.
//!
//! Layout (what makes the tiles loadable in place): a panel stores, per pair `j` of k, `NR`
//! columns × 2 bf16, i.e. 192 bytes; 16 consecutive pairs × 16 columns is a B tile (rows 64
//! bytes, stride 192). The panels are padded with zero pairs to a multiple of [`TILE_PAIRS`], and
//! the activation rows (bf16, k contiguous, padded with zeros to whole 64-byte lines) carry
//! [`TILE_ROWS`] zero rows after the last, so every tile is full: a block of fewer than 16 rows
//! computes zero (or unused) rows that are never stored.

#[cfg(doc)]
use super::gemm::WeightStorage;

/// Pairs of k per tile step (a B tile's rows; an A tile's 64-byte rows hold as many pairs).
pub(super) const TILE_PAIRS: usize = 16;
/// Rows per tile (an A tile's and a C tile's).
pub(super) const TILE_ROWS: usize = 16;

/// Whether the AMX kernel can run here: x86-64 Linux with AMX-TILE, AMX-BF16 and AVX512-BF16,
/// and the kernel's permission for tile data granted to this process (asked once, cached).
pub(super) fn amx_available() -> bool {
    static AMX: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AMX.get_or_init(detect)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    if !super::bf16_supported() {
        return false;
    }
    // SAFETY: CPUID exists on every x86-64 CPU; leaf 7 is only read when the maximum leaf
    // (leaf 0's EAX) reaches it.
    #[allow(unused_unsafe)]
    let edx = unsafe {
        if __cpuid(0).eax < 7 {
            return false;
        }
        __cpuid_count(7, 0).edx
    };
    let (amx_bf16, amx_tile) = (edx >> 22 & 1 == 1, edx >> 24 & 1 == 1);
    amx_bf16 && amx_tile && request_tile_permission()
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// Linux: `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`, which lets every thread of
/// this process use tile data (the kernel then saves it on context switches); true when granted.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tile_permission() -> bool {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let ret: i64;
    // SAFETY: a plain system call with two integer arguments; it reads and writes no user
    // memory. `syscall` clobbers rcx and r11 (declared).
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret == 0
}

#[cfg(target_arch = "x86_64")]
pub(super) mod kernel {
    use std::arch::asm;
    use std::arch::x86_64::*;

    use super::{TILE_PAIRS, TILE_ROWS};
    use crate::packed::gemm::Epilogue;
    use crate::packed::gemm::NR;
    use crate::packed::gemm::kernel::{finish, store_masks};

    /// Bytes of one pair of k of a panel (`NR` columns × 2 bf16), the B tiles' row stride.
    const PAIR_BYTES: usize = NR * 4;

    /// The tile configuration (`ldtilecfg`'s 64-byte operand, palette 1): tiles 0–2 the C
    /// tiles of a block (16 rows × 16 f32), tile 3 the A tile (16 rows × 32 bf16), tiles 4–6 the
    /// B tiles (16 pairs × 16 columns × 2 bf16); every row 64 bytes.
    #[repr(C, align(64))]
    struct TileConfig([u8; 64]);

    impl TileConfig {
        fn new() -> Self {
            let mut c = [0u8; 64];
            c[0] = 1;
            for t in 0..7 {
                c[16 + 2 * t] = 64;
                c[48 + t] = TILE_ROWS as u8;
            }
            Self(c)
        }
    }

    /// A block's C tiles after the products: `TILE_ROWS` rows × `NR` f32 (64-byte aligned rows).
    #[repr(C, align(64))]
    struct Results([[f32; NR]; TILE_ROWS]);

    /// One panel for all rows on AMX: blocks of 16 rows; per block the C tiles start as the
    /// bias, accumulate all `pairs / 16` tile steps (one A tile and three B tiles each), and
    /// are stored to an aligned buffer; then each of the block's real rows goes through the
    /// f32 epilogue ([`finish`]). (Measured alternative: row groups of 64 with k-blocks of 8
    /// steps kept in L1 between the group's blocks were no faster, a few % slower on the S
    /// variant end to end.)
    ///
    /// # Safety
    /// [`super::amx_available`] returned true (AMX, AVX-512F and the tile permission);
    /// `panel` holds `pairs` pairs (`pairs` a multiple of [`TILE_PAIRS`]) of `NR` columns of
    /// bf16 pairs; `bias` `NR` f32; `x` holds `rows` rows rounded up to a multiple of
    /// [`TILE_ROWS`] of bf16 values at stride `ldx` pairs (`ldx·4` bytes), each with at least
    /// `2·pairs` values; `y` has `rows` rows of stride `ldy` with `cols ≤ NR` writable values
    /// from each row's start (only those are written).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(in crate::packed) unsafe fn panel(
        panel: *const u8,
        bias: *const f32,
        x: *const u32,
        ldx: usize,
        pairs: usize,
        rows: usize,
        y: *mut f32,
        ldy: usize,
        cols: usize,
        epilogue: Epilogue,
    ) {
        debug_assert!(pairs.is_multiple_of(TILE_PAIRS));
        let config = TileConfig::new();
        let masks = store_masks(cols);
        // Written whole by each block's `tilestored`s before any read (no zero-fill per call).
        let mut c = std::mem::MaybeUninit::<Results>::uninit();
        let (lda, ldc) = (ldx * 4, NR * 4);
        // SAFETY: the caller guarantees AMX and the tile permission; `config` is a valid
        // palette-1 configuration (7 tiles of 16 rows × 64 bytes).
        unsafe { asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack)) };
        for r0 in (0..rows).step_by(TILE_ROWS) {
            // SAFETY: the C tiles start as the bias (`NR = 3·16` f32; a load with stride 0
            // repeats its 64 bytes in all 16 rows) and end in `c` (16 rows of `NR` f32 at
            // stride `ldc` bytes, 64-byte aligned). Step `s` of the `pairs / 16` (possibly
            // 0) reads the A tile, 16 rows × 64 bytes at `x + (r0 + i)·lda + 64·s`, within
            // the caller's padded rows (`r0 < rows`, rounded up to 16) and each row's
            // `2·pairs` values, and the B tiles, 16 pairs × 64 bytes at `panel + (16·s +
            // j)·PAIR_BYTES + 64·v`, within the panel's `pairs` pairs. Only the named
            // registers (and flags) change.
            unsafe {
                asm!(
                    "tileloadd tmm0, [{bias} + {zero}*1]",
                    "tileloadd tmm1, [{bias} + {zero}*1 + 64]",
                    "tileloadd tmm2, [{bias} + {zero}*1 + 128]",
                    "test {n}, {n}",
                    "jz 3f",
                    "2:",
                    "tileloadd tmm3, [{a} + {lda}*1]",
                    "tileloadd tmm4, [{w} + {ldw}*1]",
                    "tileloadd tmm5, [{w} + {ldw}*1 + 64]",
                    "tileloadd tmm6, [{w} + {ldw}*1 + 128]",
                    "tdpbf16ps tmm0, tmm3, tmm4",
                    "tdpbf16ps tmm1, tmm3, tmm5",
                    "tdpbf16ps tmm2, tmm3, tmm6",
                    "add {a}, 64",
                    "add {w}, {step}",
                    "dec {n}",
                    "jnz 2b",
                    "3:",
                    "tilestored [{c} + {ldc}*1], tmm0",
                    "tilestored [{c} + {ldc}*1 + 64], tmm1",
                    "tilestored [{c} + {ldc}*1 + 128], tmm2",
                    bias = in(reg) bias,
                    zero = in(reg) 0usize,
                    n = inout(reg) pairs / TILE_PAIRS => _,
                    a = inout(reg) x.cast::<u8>().add(r0 * lda) => _,
                    lda = in(reg) lda,
                    w = inout(reg) panel => _,
                    ldw = in(reg) PAIR_BYTES,
                    step = const TILE_PAIRS * PAIR_BYTES,
                    c = in(reg) c.as_mut_ptr(),
                    ldc = in(reg) ldc,
                    options(nostack),
                )
            };
            let m = (rows - r0).min(TILE_ROWS);
            // SAFETY: the three `tilestored`s above wrote all 16 rows × 3 · 64 bytes of `c`.
            let c = unsafe { c.assume_init_ref() };
            for (i, row) in c.0.iter().take(m).enumerate() {
                let at = row.as_ptr();
                // SAFETY: AVX-512F (caller); `row` has `NR` values; row `r0 + i < rows` of
                // `y` has the `masks`' lanes writable (caller).
                unsafe {
                    let acc = [[
                        _mm512_loadu_ps(at),
                        _mm512_loadu_ps(at.add(16)),
                        _mm512_loadu_ps(at.add(32)),
                    ]];
                    finish::<1, 3>(acc, y.add((r0 + i) * ldy), ldy, masks, epilogue);
                }
            }
        }
        // SAFETY: ends this call's tile use (back to the init state, nothing left to save).
        unsafe { asm!("tilerelease", options(nostack)) };
    }
}
