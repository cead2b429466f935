//! [`TextEmbedder`]: the one trait every embedder implements, built-in or user-defined.

use burn::prelude::*;

use crate::error::Result;

/// Turns a batch of texts into one vector each.
///
/// Implement it to condition T2L on your own embedding model: the hypernetwork only needs
/// `[n, dim]` vectors and a stable [`id`](TextEmbedder::id) under which to cache them.
///
/// ```
/// use burn::prelude::*;
/// use text_embed::{Result, TextEmbedder};
///
/// /// Counts letters: a toy embedder of dimension 26.
/// struct LetterCounts<B: Backend>(B::Device);
///
/// impl<B: Backend> TextEmbedder<B> for LetterCounts<B> {
///     fn embed(&self, texts: &[&str]) -> Result<Tensor<B, 2>> {
///         let mut data = vec![0f32; texts.len() * 26];
///         for (row, text) in texts.iter().enumerate() {
///             for c in text.to_ascii_lowercase().bytes().filter(u8::is_ascii_lowercase) {
///                 data[row * 26 + (c - b'a') as usize] += 1.0;
///             }
///         }
///         Ok(Tensor::from_data(TensorData::new(data, [texts.len(), 26]), &self.0))
///     }
///     fn device(&self) -> B::Device { self.0.clone() }
///     fn dim(&self) -> usize { 26 }
///     fn id(&self) -> String { "letter-counts".into() }
/// }
///
/// let embedder = LetterCounts::<burn::backend::Flex>(Default::default());
/// let v = embedder.embed(&["abc", "zz"])?;
/// assert_eq!(v.dims(), [2, 26]);
/// # Ok::<(), text_embed::Error>(())
/// ```
pub trait TextEmbedder<B: Backend> {
    /// Embeds `texts`: row `i` of the `[texts.len(), dim]` result (on [`device`](Self::device))
    /// is the vector of `texts[i]`. Rows must not depend on which other texts share the batch.
    fn embed(&self, texts: &[&str]) -> Result<Tensor<B, 2>>;

    /// The device the vectors are returned on.
    fn device(&self) -> B::Device;

    /// The vector width.
    fn dim(&self) -> usize;

    /// A stable identifier of what produces the vectors (model, pooling, normalisation, maximum
    /// length): two embedders with the same id give the same vectors, so caches key on it.
    fn id(&self) -> String;
}

impl<B: Backend, E: TextEmbedder<B> + ?Sized> TextEmbedder<B> for Box<E> {
    fn embed(&self, texts: &[&str]) -> Result<Tensor<B, 2>> {
        (**self).embed(texts)
    }
    fn device(&self) -> B::Device {
        (**self).device()
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn id(&self) -> String {
        (**self).id()
    }
}

impl<B: Backend, E: TextEmbedder<B> + ?Sized> TextEmbedder<B> for &E {
    fn embed(&self, texts: &[&str]) -> Result<Tensor<B, 2>> {
        (**self).embed(texts)
    }
    fn device(&self) -> B::Device {
        (**self).device()
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn id(&self) -> String {
        (**self).id()
    }
}
