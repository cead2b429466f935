//! Frozen LoRA-shaped stacks (not parameters): z-score mean/std and the A/B offset.

use burn::prelude::*;

use crate::error::Result;
use crate::init::NamedTensors;
use crate::spec::Stack;
use crate::tensors::{TensorTaker, host};

/// One module's frozen factors: `a [layers, r, d_in]`, `b [layers, d_out, r]`.
#[derive(Module, Debug)]
pub struct FrozenFactors<B: Backend> {
    /// `[layers, r, d_in]`
    pub a: Tensor<B, 3>,
    /// `[layers, d_out, r]`
    pub b: Tensor<B, 3>,
}

/// The optional frozen stacks of a hypernetwork, per module in layout order. They move with the
/// module between devices but are never trained and are not counted as parameters.
#[derive(Module, Debug)]
pub struct FrozenStacks<B: Backend> {
    /// `AB_offset`: added to every generated adapter.
    pub offset: Option<Vec<FrozenFactors<B>>>,
    /// `mean_recon_target`: z-score mean.
    pub mean: Option<Vec<FrozenFactors<B>>>,
    /// `std_recon_target`: z-score standard deviation (unbiased).
    pub std: Option<Vec<FrozenFactors<B>>>,
}

fn take_stack<B: Backend>(
    t: &mut TensorTaker<'_, B>,
    stack: Stack,
    modules: &[String],
) -> Result<Vec<FrozenFactors<B>>> {
    modules
        .iter()
        .map(|m| {
            Ok(FrozenFactors {
                a: t.tensor(&stack.name('A', m))?,
                b: t.tensor(&stack.name('B', m))?,
            })
        })
        .collect()
}

fn export_stack<B: Backend>(
    factors: &[FrozenFactors<B>],
    stack: Stack,
    modules: &[String],
    out: &mut NamedTensors,
) {
    for (f, m) in factors.iter().zip(modules) {
        out.insert(stack.name('A', m), host(&f.a));
        out.insert(stack.name('B', m), host(&f.b));
    }
}

impl<B: Backend> FrozenStacks<B> {
    pub(crate) fn take(
        t: &mut TensorTaker<'_, B>,
        modules: &[String],
        offset: bool,
        z_score: bool,
    ) -> Result<Self> {
        Ok(Self {
            offset: offset
                .then(|| take_stack(t, Stack::Offset, modules))
                .transpose()?,
            mean: z_score
                .then(|| take_stack(t, Stack::Mean, modules))
                .transpose()?,
            std: z_score
                .then(|| take_stack(t, Stack::Std, modules))
                .transpose()?,
        })
    }

    pub(crate) fn export(&self, modules: &[String], out: &mut NamedTensors) {
        for (stack, factors) in [
            (Stack::Offset, &self.offset),
            (Stack::Mean, &self.mean),
            (Stack::Std, &self.std),
        ] {
            if let Some(f) = factors {
                export_stack(f, stack, modules, out);
            }
        }
    }
}

/// The stack of one frozen kind taken from a LoRA-shaped adapter, checked against the hypernetwork.
fn stack_from<B: Backend>(
    hyper: &crate::model::HyperModulator<B>,
    adapter: &lora_core::LoraAdapter<B>,
    what: &str,
) -> Result<Vec<FrozenFactors<B>>> {
    let cfg = hyper.config();
    if adapter.layout() != &cfg.layout || adapter.config().r != cfg.lora.r {
        return Err(crate::error::Error::config(
            what,
            format!(
                "the stack's layout/rank ({:?}, r = {}) differ from the hypernetwork's ({:?}, r = {})",
                adapter.layout(),
                adapter.config().r,
                cfg.layout,
                cfg.lora.r
            ),
        ));
    }
    Ok(cfg
        .layout
        .modules
        .iter()
        .map(|m| {
            let w = adapter.module(&m.name).expect("same layout");
            FrozenFactors {
                a: w.a.clone(),
                b: w.b.clone(),
            }
        })
        .collect())
}

impl<B: Backend> crate::model::HyperModulator<B> {
    /// Sets the frozen A/B offset (a multi-task LoRA the generated adapters are a residual over);
    /// generation adds it. The adapter must have this hypernetwork's layout and rank.
    pub fn with_ab_offset(mut self, offset: &lora_core::LoraAdapter<B>) -> Result<Self> {
        self.stacks.offset = Some(stack_from(&self, offset, "ab_offset")?);
        self.config_mut().ab_offset = true;
        Ok(self)
    }

    /// Sets the frozen z-score statistics (element-wise mean and unbiased std over the training
    /// LoRAs, e.g. from `lora_core::adapter_stats`); generation de-normalises with
    /// `x·(std+1e-10)+mean`.
    pub fn with_z_score(
        mut self,
        mean: &lora_core::LoraAdapter<B>,
        std: &lora_core::LoraAdapter<B>,
    ) -> Result<Self> {
        let mean = stack_from(&self, mean, "z_score (mean)")?;
        let std = stack_from(&self, std, "z_score (std)")?;
        if self.config().delta_w_scaling.is_some() {
            return Err(crate::error::Error::config(
                "z_score",
                "a ΔW-scaled hypernetwork cannot also have z-score stacks",
            ));
        }
        self.stacks.mean = Some(mean);
        self.stacks.std = Some(std);
        self.config_mut().z_score = true;
        Ok(self)
    }
}
