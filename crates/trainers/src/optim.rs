//! AdamW with explicit hyper-parameters, *global* gradient-norm clipping and gradient accumulation.
//!
//! burn's own `GradientClippingConfig::Norm` clips every parameter tensor separately; the
//! reference clips the norm of all gradients together (`torch.nn.utils.clip_grad_norm_`), which
//! [`clip_global_norm`] implements over a [`GradientsParams`].

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use crate::config::OptimConfig;

/// Collects the squared L2 norm of every gradient of a module's parameters.
struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    total: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s = g.square().sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

/// Multiplies every gradient of a module's parameters by one factor.
struct ScaleGrads<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: f64,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for ScaleGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let id: ParamId = param.id;
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(id) {
            self.grads
                .register::<B::InnerBackend, D>(id, g.mul_scalar(self.factor));
        }
    }
}

/// The L2 norm of all gradients of `module`'s parameters taken together (0 when there are none).
pub fn global_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
) -> f64 {
    let mut v = SquaredNorm::<B> { grads, total: None };
    module.visit(&mut v);
    v.total
        .map(|t| t.into_scalar().elem::<f64>().sqrt())
        .unwrap_or(0.0)
}

/// Scales all gradients so that their global norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)` when the norm exceeds it). Returns the
/// norm before clipping.
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    let norm = global_grad_norm::<B, M>(module, grads);
    if norm > max_norm {
        let factor = max_norm / (norm + 1e-6);
        module.visit(&mut ScaleGrads::<B> {
            grads,
            factor,
            _b: std::marker::PhantomData,
        });
    }
    norm
}

/// burn's AdamW configured with the run's β, ε and weight decay (not burn's defaults), with no
/// per-tensor clipping.
pub fn adamw_config(cfg: &OptimConfig) -> AdamWConfig {
    AdamWConfig::new()
        .with_beta_1(cfg.beta1 as f32)
        .with_beta_2(cfg.beta2 as f32)
        .with_epsilon(cfg.eps as f32)
        .with_weight_decay(cfg.weight_decay as f32)
}

/// The optimizer record (per-parameter moments and step counts) that checkpoints save.
pub type AdamWRecord<B, M> = <OptimizerAdaptor<AdamW, M, B> as Optimizer<M, B>>::Record;

/// AdamW + global clipping + gradient accumulation for one trainable module.
///
/// Call [`TrainOptimizer::accumulate`] once per micro-batch with its gradients (the caller
/// divides the loss by the number of micro-batches), then [`TrainOptimizer::step`].
pub struct TrainOptimizer<B: AutodiffBackend, M: AutodiffModule<B>> {
    inner: OptimizerAdaptor<AdamW, M, B>,
    accumulator: GradientsAccumulator<M>,
    pending: usize,
    max_grad_norm: Option<f64>,
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> TrainOptimizer<B, M> {
    /// A fresh optimizer (no moments yet).
    pub fn new(cfg: &OptimConfig) -> Self {
        Self {
            inner: adamw_config(cfg).init(),
            accumulator: GradientsAccumulator::new(),
            pending: 0,
            max_grad_norm: cfg.max_grad_norm,
        }
    }

    /// Adds one micro-batch's gradients.
    pub fn accumulate(&mut self, module: &M, grads: GradientsParams) {
        self.accumulator.accumulate(module, grads);
        self.pending += 1;
    }

    /// Clips the accumulated gradients globally and applies one AdamW update at `lr`.
    /// Returns the updated module and the gradient norm before clipping.
    pub fn step(&mut self, lr: f64, module: M) -> (M, f64) {
        let mut grads = self.accumulator.grads();
        self.pending = 0;
        let norm = match self.max_grad_norm {
            Some(max) => clip_global_norm::<B, M>(&module, &mut grads, max),
            None => global_grad_norm::<B, M>(&module, &grads),
        };
        (self.inner.step(lr, module, grads), norm)
    }

    /// Number of micro-batches accumulated since the last step.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The optimizer state for a checkpoint.
    pub fn to_record(&self) -> AdamWRecord<B, M> {
        self.inner.to_record()
    }

    /// Restores the optimizer state of a checkpoint.
    pub fn load_record(mut self, record: AdamWRecord<B, M>) -> Self {
        self.inner = self.inner.load_record(record);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::module::Module;

    type B = Autodiff<Flex>;

    #[derive(Module, Debug)]
    struct Two<B: Backend> {
        a: Param<Tensor<B, 1>>,
        b: Param<Tensor<B, 2>>,
    }

    fn two(dev: &burn::tensor::Device<B>) -> Two<B> {
        Two {
            a: Param::from_tensor(Tensor::from_floats([1.0, 2.0], dev)),
            b: Param::from_tensor(Tensor::from_floats([[1.0], [-1.0]], dev)),
        }
    }

    fn grads_of(m: &Two<B>) -> GradientsParams {
        // loss = 3·Σa + 4·Σb  →  grad a = [3, 3], grad b = [[4], [4]]: global norm √50
        let loss = m.a.val().sum().mul_scalar(3.0) + m.b.val().sum().mul_scalar(4.0);
        GradientsParams::from_grads(loss.backward(), m)
    }

    #[test]
    fn global_norm_spans_all_tensors() {
        let dev = Default::default();
        let m = two(&dev);
        let mut g = grads_of(&m);
        let n = clip_global_norm::<B, _>(&m, &mut g, 1.0);
        assert!((n - 50f64.sqrt()).abs() < 1e-5);
        // After clipping the global norm is 1 (not each tensor's).
        let after = global_grad_norm::<B, _>(&m, &g);
        assert!((after - 1.0).abs() < 1e-5, "{after}");
        let ga = g
            .get::<Flex, 1>(m.a.id)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!((ga[0] as f64 - 3.0 / 50f64.sqrt()).abs() < 1e-5);
    }

    #[test]
    fn below_threshold_is_untouched() {
        let dev = Default::default();
        let m = two(&dev);
        let mut g = grads_of(&m);
        clip_global_norm::<B, _>(&m, &mut g, 100.0);
        let gb = g
            .get::<Flex, 2>(m.b.id)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(gb, vec![4.0, 4.0]);
    }

    #[test]
    fn adamw_first_step_matches_pytorch() {
        // PyTorch AdamW(lr=0.1, wd=0.01): first step moves every weight by lr·sign(g) after decay.
        let dev = Default::default();
        let m = two(&dev);
        let cfg = OptimConfig {
            max_grad_norm: None,
            ..Default::default()
        };
        let mut opt = TrainOptimizer::<B, Two<B>>::new(&cfg);
        let g = grads_of(&m);
        opt.accumulate(&m, g);
        let (m, norm) = opt.step(0.1, m);
        assert!((norm - 50f64.sqrt()).abs() < 1e-5);
        let a = m.a.val().into_data().to_vec::<f32>().unwrap();
        let expect0 = 1.0 * (1.0 - 0.1 * 0.01) - 0.1 * (3.0 / (3.0 + 1e-8));
        assert!((a[0] as f64 - expect0).abs() < 1e-6, "{a:?}");
    }

    #[test]
    fn accumulation_sums_micro_batches() {
        let dev = Default::default();
        let m = two(&dev);
        let cfg = OptimConfig {
            max_grad_norm: Some(1e9),
            ..Default::default()
        };
        let mut opt = TrainOptimizer::<B, Two<B>>::new(&cfg);
        opt.accumulate(&m, grads_of(&m));
        opt.accumulate(&m, grads_of(&m));
        assert_eq!(opt.pending(), 2);
        let (_, norm) = opt.step(0.0, m);
        assert!((norm - 2.0 * 50f64.sqrt()).abs() < 1e-4, "{norm}");
        assert_eq!(opt.pending(), 0);
    }
}
