//! Moving named host tensors into and out of the module tree: the one loading path shared by fresh
//! initialisation, our checkpoints and the reference import.

use burn::module::Param;
use burn::prelude::*;

use crate::config::HyperConfig;
use crate::error::{Error, Result, TensorProblem};
use crate::init::NamedTensors;
use crate::spec::tensor_specs;

/// Compares named tensors with what `cfg` needs and lists every missing, unexpected or mis-shaped
/// tensor (empty when they match).
pub fn check_tensors(cfg: &HyperConfig, tensors: &NamedTensors) -> Vec<TensorProblem> {
    let specs = tensor_specs(cfg);
    let mut problems = Vec::new();
    for spec in &specs {
        match tensors.get(&spec.name) {
            None => problems.push(TensorProblem::Missing {
                name: spec.name.clone(),
                expected: spec.shape.clone(),
            }),
            Some(t) if t.shape.as_slice() != spec.shape.as_slice() => {
                problems.push(TensorProblem::Shape {
                    name: spec.name.clone(),
                    expected: spec.shape.clone(),
                    found: t.shape.to_vec(),
                })
            }
            Some(_) => {}
        }
    }
    for (name, t) in tensors {
        if !specs.iter().any(|s| &s.name == name) {
            problems.push(TensorProblem::Unexpected {
                name: name.clone(),
                found: t.shape.to_vec(),
            });
        }
    }
    problems
}

/// Hands out named tensors to the module constructors, uploading them to `device` as f32.
pub(crate) struct TensorTaker<'a, B: Backend> {
    tensors: NamedTensors,
    device: &'a B::Device,
    origin: String,
}

impl<'a, B: Backend> TensorTaker<'a, B> {
    pub(crate) fn new(tensors: NamedTensors, device: &'a B::Device, origin: &str) -> Self {
        Self {
            tensors,
            device,
            origin: origin.to_string(),
        }
    }

    /// Removes `name` and uploads it as a rank-`D` tensor.
    pub(crate) fn tensor<const D: usize>(&mut self, name: &str) -> Result<Tensor<B, D>> {
        let data = self.tensors.remove(name).ok_or_else(|| Error::Tensors {
            origin: self.origin.clone(),
            problems: vec![TensorProblem::Missing {
                name: name.to_string(),
                expected: vec![],
            }],
        })?;
        if data.shape.len() != D {
            return Err(Error::Tensors {
                origin: self.origin.clone(),
                problems: vec![TensorProblem::Shape {
                    name: name.to_string(),
                    expected: vec![0; D],
                    found: data.shape.to_vec(),
                }],
            });
        }
        Ok(Tensor::from_data(data.convert::<f32>(), self.device))
    }

    /// Removes `name` as a trainable parameter.
    pub(crate) fn param<const D: usize>(&mut self, name: &str) -> Result<Param<Tensor<B, D>>> {
        Ok(Param::from_tensor(self.tensor(name)?))
    }

    /// The device tensors go to.
    pub(crate) fn device(&self) -> &B::Device {
        self.device
    }
}

/// Downloads a tensor to the host as f32 data.
pub(crate) fn host<B: Backend, const D: usize>(t: &Tensor<B, D>) -> TensorData {
    t.to_data().convert::<f32>()
}

/// Adds `param` under `name`.
pub(crate) fn put<B: Backend, const D: usize>(
    out: &mut NamedTensors,
    name: String,
    param: &Param<Tensor<B, D>>,
) {
    out.insert(name, host(&param.val()));
}
