//! The learned A/B embeddings of the M and S variants (`out_emb.{module}.{A,B}`).

use burn::module::Param;
use burn::prelude::*;

use crate::error::Result;
use crate::init::NamedTensors;
use crate::spec::out_emb;
use crate::tensors::{TensorTaker, put};

/// The two learned vectors (`[D]` each, init `N(0,1)`) that tell the shared head whether a pass
/// produces A or B.
#[derive(Module, Debug)]
pub struct AbEmbedding<B: Backend> {
    /// `out_emb.{module}.A`
    pub a: Param<Tensor<B, 1>>,
    /// `out_emb.{module}.B`
    pub b: Param<Tensor<B, 1>>,
}

impl<B: Backend> AbEmbedding<B> {
    pub(crate) fn take(t: &mut TensorTaker<'_, B>, module: &str) -> Result<Self> {
        Ok(Self {
            a: t.param(&out_emb(module, 'A'))?,
            b: t.param(&out_emb(module, 'B'))?,
        })
    }

    pub(crate) fn export(&self, module: &str, out: &mut NamedTensors) {
        put(out, out_emb(module, 'A'), &self.a);
        put(out, out_emb(module, 'B'), &self.b);
    }

    /// `[2, D]`: the A row then the B row.
    pub fn rows(&self) -> Tensor<B, 2> {
        Tensor::stack(vec![self.a.val(), self.b.val()], 0)
    }
}
