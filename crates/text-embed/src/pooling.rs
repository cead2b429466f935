//! Pooling token states into one vector per text, and L2 normalisation.

use burn::prelude::*;

/// How the token states of a text become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The first token's state (`[CLS]` for BERT; gte and BGE use it).
    Cls,
    /// The mean of the states of the real (unmasked) tokens (sentence-transformers'
    /// `pooling_mode_mean_tokens`; all-MiniLM-L6-v2 uses it).
    Mean,
    /// The state of the last real token (decoder LLM embedders, T2L's base-LLM encoder).
    LastToken,
}

impl Pooling {
    /// The short name used in embedder ids: `cls`, `mean`, `last`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cls => "cls",
            Self::Mean => "mean",
            Self::LastToken => "last",
        }
    }

    /// Pools `hidden` `[batch, seq, dim]` into `[batch, dim]`; `mask` `[batch, seq]` is true for
    /// real tokens and false for padding (on either side). Every row needs one real token.
    pub fn apply<B: Backend>(self, hidden: Tensor<B, 3>, mask: Tensor<B, 2, Bool>) -> Tensor<B, 2> {
        let [b, s, d] = hidden.dims();
        match self {
            Self::Cls => hidden.slice([0..b, 0..1, 0..d]).reshape([b, d]),
            Self::Mean => {
                let m = mask.float().reshape([b, s, 1]);
                let count = m.clone().sum_dim(1).clamp_min(1e-9).reshape([b, 1]);
                (hidden * m).sum_dim(1).reshape([b, d]) / count
            }
            Self::LastToken => {
                let device = hidden.device();
                // The index of the last true entry: argmax of mask · (1..=s).
                let ramp = Tensor::<B, 1, Int>::arange(1..s as i64 + 1, &device).reshape([1, s]);
                let idx = (mask.int() * ramp).argmax(1);
                let idx = idx.reshape([b, 1, 1]).expand([b, 1, d]);
                hidden.gather(1, idx).reshape([b, d])
            }
        }
    }
}

/// Divides every row of `x` `[n, dim]` by its L2 norm (PyTorch `F.normalize`: the norm is clamped
/// to at least 1e-12, so a zero row stays zero).
pub fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn hidden() -> (Tensor<Flex, 3>, Tensor<Flex, 2, Bool>) {
        let device = Default::default();
        // two rows, three positions, dim 2; row 1 has one padding position at the end
        let h = Tensor::<Flex, 1>::from_floats(
            [1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 100., 100.],
            &device,
        )
        .reshape([2, 3, 2]);
        let m = Tensor::<Flex, 1, Int>::from_ints([1, 1, 1, 1, 1, 0], &device)
            .reshape([2, 3])
            .bool();
        (h, m)
    }

    #[test]
    fn cls_mean_and_last_token_respect_the_mask() {
        let (h, m) = hidden();
        let cls: Vec<f32> = Pooling::Cls
            .apply(h.clone(), m.clone())
            .to_data()
            .to_vec()
            .unwrap();
        assert_eq!(cls, vec![1., 2., 7., 8.]);
        let mean: Vec<f32> = Pooling::Mean
            .apply(h.clone(), m.clone())
            .to_data()
            .to_vec()
            .unwrap();
        assert_eq!(mean, vec![3., 4., 8., 9.]);
        let last: Vec<f32> = Pooling::LastToken.apply(h, m).to_data().to_vec().unwrap();
        assert_eq!(last, vec![5., 6., 9., 10.]);
    }

    #[test]
    fn l2_normalize_gives_unit_rows_and_keeps_zero_rows() {
        let device = Default::default();
        let x = Tensor::<Flex, 2>::from_floats([[3., 4.], [0., 0.]], &device);
        let y: Vec<f32> = l2_normalize(x).to_data().to_vec().unwrap();
        assert_eq!(y, vec![0.6, 0.8, 0., 0.]);
    }

    #[test]
    fn cosine_of_parallel_orthogonal_and_zero_vectors() {
        approx::assert_abs_diff_eq!(
            cosine_similarity(&[1., 2.], &[2., 4.]),
            1.0,
            epsilon = 1e-12
        );
        approx::assert_abs_diff_eq!(
            cosine_similarity(&[1., 0.], &[0., 3.]),
            0.0,
            epsilon = 1e-12
        );
        assert_eq!(cosine_similarity(&[0., 0.], &[1., 1.]), 0.0);
    }
}
