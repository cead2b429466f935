//! T2L's task-description embedding, exactly as the reference computes it: `add_full_stop` on the
//! text, the embedder, then `F.normalize(v) · √dim` (so ‖φ‖₂ = √dim); and one-hot task ids for the
//! compression experiments.

use burn::prelude::*;
use unicode_categories::UnicodeCategories;

use crate::embedder::TextEmbedder;
use crate::error::{Error, Result};
use crate::pooling::l2_normalize;

/// Python's `str.isspace`: Rust's White_Space plus the information separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The reference's `add_full_stop`: `s.strip()`, then `"."` appended when the last character is
/// a letter (Python `isalpha`: Unicode categories Lu, Ll, Lt, Lm, Lo).
///
/// ```
/// use text_embed::add_full_stop;
/// assert_eq!(add_full_stop("  Solve math word problems \n"), "Solve math word problems.");
/// assert_eq!(add_full_stop("Answer yes or no?"), "Answer yes or no?");
/// assert_eq!(add_full_stop("Count to 3"), "Count to 3");
/// assert_eq!(add_full_stop("   "), "");
/// ```
pub fn add_full_stop(text: &str) -> String {
    let s = text.trim_matches(is_python_space);
    match s.chars().last() {
        Some(c) if c.is_letter() => format!("{s}."),
        _ => s.to_string(),
    }
}

/// `F.normalize(x, dim=-1) · √dim` on `[n, dim]`: every row gets L2 norm √dim (zero rows stay 0).
pub fn normalize_and_scale<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let dim = x.dims()[1];
    l2_normalize(x).mul_scalar((dim as f64).sqrt())
}

/// An embedder that yields T2L task embeddings: [`add_full_stop`] on every text, the inner
/// embedder, then [`normalize_and_scale`]. Its id is `t2l(<inner id>)`.
///
/// Wrap an [`EmbeddingCache`](crate::EmbeddingCache) inside it (not around it) to cache the raw
/// vectors under the inner embedder's id.
#[derive(Debug, Clone)]
pub struct TaskEmbedder<E> {
    inner: E,
}

impl<E> TaskEmbedder<E> {
    /// Wraps `inner`.
    pub fn new(inner: E) -> Self {
        Self { inner }
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &E {
        &self.inner
    }
}

impl<B: Backend, E: TextEmbedder<B>> TextEmbedder<B> for TaskEmbedder<E> {
    fn embed(&self, texts: &[&str]) -> Result<Tensor<B, 2>> {
        let prepared: Vec<String> = texts.iter().map(|t| add_full_stop(t)).collect();
        let refs: Vec<&str> = prepared.iter().map(String::as_str).collect();
        Ok(normalize_and_scale(self.inner.embed(&refs)?))
    }

    fn device(&self) -> B::Device {
        self.inner.device()
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn id(&self) -> String {
        format!("t2l({})", self.inner.id())
    }
}

/// One-hot task embeddings `[task_ids.len(), n_tasks]` (the reference's `use_one_hot_task_emb`:
/// task `i` is the `i`-th unit vector, `task_emb_size = n_tasks`).
pub fn one_hot_task_embeddings<B: Backend>(
    task_ids: &[usize],
    n_tasks: usize,
    device: &B::Device,
) -> Result<Tensor<B, 2>> {
    if n_tasks == 0 || task_ids.is_empty() {
        return Err(Error::input(
            "task_ids",
            format!("{} ids over {n_tasks} tasks", task_ids.len()),
        ));
    }
    let mut data = vec![0f32; task_ids.len() * n_tasks];
    for (row, &t) in task_ids.iter().enumerate() {
        if t >= n_tasks {
            return Err(Error::input(
                format!("task_ids[{row}]"),
                format!("task {t} is not below n_tasks = {n_tasks}"),
            ));
        }
        data[row * n_tasks + t] = 1.0;
    }
    Ok(Tensor::from_data(
        TensorData::new(data, [task_ids.len(), n_tasks]),
        device,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn full_stop_follows_python_strip_and_isalpha() {
        assert_eq!(add_full_stop("\u{1f} Déjà vu \u{a0}"), "Déjà vu.");
        assert_eq!(add_full_stop("ends with digit 7"), "ends with digit 7");
        assert_eq!(add_full_stop("already."), "already.");
        assert_eq!(add_full_stop("日本語"), "日本語.");
        assert_eq!(add_full_stop(""), "");
        assert_eq!(add_full_stop("emoji 🙂"), "emoji 🙂");
    }

    #[test]
    fn scaled_rows_have_norm_sqrt_dim() {
        let device = Default::default();
        let x = Tensor::<Flex, 2>::from_floats([[1., 2., 3., 4.], [0., 0., 0., 0.]], &device);
        let y = normalize_and_scale(x);
        let norms: Vec<f32> = y
            .powi_scalar(2)
            .sum_dim(1)
            .sqrt()
            .to_data()
            .to_vec()
            .unwrap();
        approx::assert_abs_diff_eq!(norms[0], 2.0, epsilon = 1e-6);
        assert_eq!(norms[1], 0.0);
    }

    #[test]
    fn one_hot_rows_and_out_of_range_ids() {
        let device = Default::default();
        let t = one_hot_task_embeddings::<Flex>(&[2, 0], 3, &device).unwrap();
        let v: Vec<f32> = t.to_data().to_vec().unwrap();
        assert_eq!(v, vec![0., 0., 1., 1., 0., 0.]);
        let err = one_hot_task_embeddings::<Flex>(&[3], 3, &device).unwrap_err();
        assert!(err.to_string().contains("task_ids[0]"), "{err}");
    }
}
