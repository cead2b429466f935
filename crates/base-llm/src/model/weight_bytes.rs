//! [`Llama::weight_bytes`]: the memory the model's parameters take in their stored dtypes.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

use super::Llama;

/// Sums `numel × dtype size` over the float parameters a module visits.
struct ByteCounter {
    bytes: usize,
}

impl<B: Backend> ModuleVisitor<B> for ByteCounter {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let t = param.val();
        self.bytes += t.shape().num_elements() * t.dtype().size();
    }
}

impl<B: Backend> Llama<B> {
    /// Bytes held by every parameter (linear weights, embedding, LM head, norms, biases) in the
    /// dtype it is stored in: about half in f16/bf16 ([`crate::BasePrecision`]) of what it is in
    /// f32. Rotary tables and a merged adapter's saved originals are not counted.
    ///
    /// ```
    /// use base_llm::{BasePrecision, Llama, LlamaConfig, model::build::random_weights};
    /// use burn::module::Module;
    /// type B = burn::backend::Flex;
    /// let c = LlamaConfig::tiny(32);
    /// let f32_model = Llama::<B>::random(c.clone(), 0, &Default::default())?;
    /// let f16_model =
    ///     Llama::<B>::from_weights_with(c.clone(), random_weights(&c, 0), &Default::default(), BasePrecision::F16)?;
    /// assert_eq!(f32_model.weight_bytes(), 4 * f32_model.num_params());
    /// assert!(f16_model.weight_bytes() < f32_model.weight_bytes() * 6 / 10);
    /// # Ok::<(), base_llm::Error>(())
    /// ```
    pub fn weight_bytes(&self) -> usize {
        let mut counter = ByteCounter { bytes: 0 };
        self.visit(&mut counter);
        counter.bytes
    }
}
