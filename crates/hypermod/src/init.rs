//! Seeded initialisation of a fresh hypernetwork, on the host (so a seed gives the same weights on
//! every backend), including Bias-HyperInit (reference notes §2.6).
//!
//! # Bias-HyperInit
//!
//! Head weights are zero and the head bias of each module is chosen so that the first generated
//! adapter is a standard LoRA initialisation. `A0` is PEFT's `lora_A` init, `U(-1/√d_in, 1/√d_in)`
//! (Kaiming-uniform with `a = √5`), `r` the rank:
//!
//! * **L**: `bias = [vec(A0), 0]` (length `r·(d_in+d_out)`): the first adapter has `A = A0`,
//!   `B = 0`, so ΔW = 0, exactly PEFT's init.
//! * **M**: `bias = vec(A0ₑ)/√2` with `A0ₑ` of shape `[r, max(d_in, d_out)]`: the A pass reads
//!   `A = A0/√2` and the B pass `B = A0ₑ[:, :d_out]ᵀ/√2` (non-zero, as in the reference).
//! * **S**: `bias = A0ₑ[0]/√(2r)` (length `max(d_in, d_out)`): every rank row starts from the first
//!   row of `A0ₑ`.
//!
//! **Rule for `d_out > d_in`** (MLP `gate_proj`/`up_proj`, where the reference's M init crashes
//! because it copies `r·d_in` values into a bias of `r·d_out`): `A0ₑ` is drawn with
//! `max(d_in, d_out)` columns from the same `U(-1/√d_in, 1/√d_in)`. Its first `d_in` columns are
//! `A0` (what the A pass reads); the B pass reads the first `d_out` columns, including the extra
//! ones. For `d_in ≥ d_out`, `A0ₑ = A0` and both rules are the reference's exactly. Every value of
//! the bias is therefore `U(±1/√d_in)` scaled by `1/√2` (M) or `1/√(2r)` (S) whatever the shapes.

use std::collections::BTreeMap;

use burn::tensor::TensorData;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{HyperConfig, Variant};
use crate::spec::{InitRule, TensorSpec, tensor_specs};

/// Named host tensors (f32) in the reference's state-dict naming and layout ([`crate::spec`]).
pub type NamedTensors = BTreeMap<String, TensorData>;

/// The Bias-HyperInit head bias of a module (see the module docs), drawn from `rng`.
pub fn bias_hyperinit(
    variant: Variant,
    r: usize,
    d_in: usize,
    d_out: usize,
    rng: &mut impl Rng,
) -> Vec<f32> {
    let bound = 1.0 / (d_in as f32).sqrt();
    let mut draw = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| rng.random_range(-bound..bound) * scale)
            .collect()
    };
    let wide = d_in.max(d_out);
    match variant {
        Variant::L => {
            let mut v = draw(r * d_in, 1.0);
            v.resize(r * (d_in + d_out), 0.0);
            v
        }
        Variant::M => draw(r * wide, 1.0 / 2f32.sqrt()),
        Variant::S => draw(wide, 1.0 / (2.0 * r as f32).sqrt()),
    }
}

/// One `N(0, 1)` sample (Box–Muller).
fn standard_normal(rng: &mut impl Rng) -> f32 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// The values of one tensor of a fresh hypernetwork.
fn init_values(cfg: &HyperConfig, spec: &TensorSpec, rng: &mut StdRng) -> Vec<f32> {
    let n = spec.numel();
    match spec.init {
        InitRule::Zeros => vec![0.0; n],
        InitRule::Ones => vec![1.0; n],
        InitRule::Uniform { bound } => {
            let b = bound as f32;
            (0..n).map(|_| rng.random_range(-b..b)).collect()
        }
        InitRule::StandardNormal => (0..n).map(|_| standard_normal(rng)).collect(),
        InitRule::HeadBias { module } => {
            let m = &cfg.layout.modules[module];
            bias_hyperinit(cfg.variant, cfg.lora.r, m.d_in, m.d_out, rng)
        }
    }
}

/// Every tensor of a fresh hypernetwork, drawn in spec order from one RNG seeded with `seed`.
pub fn initial_tensors(cfg: &HyperConfig, seed: u64) -> NamedTensors {
    let mut rng = StdRng::seed_from_u64(seed);
    tensor_specs(cfg)
        .iter()
        .map(|spec| {
            let values = init_values(cfg, spec, &mut rng);
            (
                spec.name.clone(),
                TensorData::new(values, spec.shape.clone()),
            )
        })
        .collect()
}
