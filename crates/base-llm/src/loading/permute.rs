//! Row order of q/k projections: llama.cpp's interleaved-pair layout ⇄ Hugging Face rotate-half.
//!
//! llama.cpp's converter reorders the rows of each head of `q_proj` / `k_proj` so that rotary
//! pairs are adjacent (`(x0, x1), (x2, x3), ...`, ggml's "normal" RoPE). Hugging Face pairs row
//! `j` with row `j + head_dim/2` (rotate-half). For head `h`, pair `j` and half `i ∈ {0, 1}`:
//! GGUF row `h·hd + 2j + i` holds Hugging Face row `h·hd + i·hd/2 + j`.

use crate::weights::HostTensor;

/// Reorders the rows of a GGUF (interleaved) q/k weight `[n_heads·head_dim, ...]` into the
/// Hugging Face rotate-half order (the inverse of llama.cpp's `permute`). Also right for biases
/// (`[n_heads·head_dim]`).
///
/// Returns `None` when the first dimension is not `n_heads` heads of an even width.
pub fn unpermute_rows(t: &HostTensor, n_heads: usize) -> Option<HostTensor> {
    reorder(t, n_heads, |hd, i, j| (i * hd / 2 + j, 2 * j + i))
}

/// Reorders Hugging Face (rotate-half) q/k rows into the GGUF interleaved order (llama.cpp's
/// `permute`); the inverse of [`unpermute_rows`].
pub fn permute_rows(t: &HostTensor, n_heads: usize) -> Option<HostTensor> {
    reorder(t, n_heads, |hd, i, j| (2 * j + i, i * hd / 2 + j))
}

/// `map(head_dim, i, j) -> (destination row, source row)` within a head.
fn reorder(
    t: &HostTensor,
    n_heads: usize,
    map: impl Fn(usize, usize, usize) -> (usize, usize),
) -> Option<HostTensor> {
    let rows = *t.shape.first()?;
    if n_heads == 0 || !rows.is_multiple_of(n_heads) || !(rows / n_heads).is_multiple_of(2) {
        return None;
    }
    let cols: usize = t.shape[1..].iter().product();
    if t.data.len() != rows * cols {
        return None;
    }
    let hd = rows / n_heads;
    let mut data = vec![0f32; t.data.len()];
    for h in 0..n_heads {
        for i in 0..2 {
            for j in 0..hd / 2 {
                let (dst, src) = map(hd, i, j);
                let (dst, src) = ((h * hd + dst) * cols, (h * hd + src) * cols);
                data[dst..dst + cols].copy_from_slice(&t.data[src..src + cols]);
            }
        }
    }
    Some(HostTensor {
        shape: t.shape.clone(),
        data,
    })
}
