//! Test helpers shared by the `model_*` tests.

#![allow(dead_code)]

/// Largest element-wise absolute difference of two equally long slices.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared slices differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A LoRA (α = 2r) on `targets` of every layer of `model`, with A drawn from
/// `U(±a_bound(d_in))` and B from `U(±b_bound)`, seeded (A then B, module by module).
pub fn random_adapter<B: burn::prelude::Backend>(
    model: &base_llm::Llama<B>,
    targets: &[&str],
    r: usize,
    seed: u64,
    a_bound: impl Fn(usize) -> f32,
    b_bound: f32,
) -> lora_core::LoraAdapter<B> {
    use burn::prelude::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    let targets: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
    let layout = model.adapter_layout(&targets).unwrap();
    let config = lora_core::LoraConfig::new(r, 2.0 * r as f64, targets);
    let mut rng = StdRng::seed_from_u64(seed);
    let l = layout.n_layers;
    let device = B::Device::default();
    let modules = layout
        .modules
        .iter()
        .map(|m| {
            let bound = a_bound(m.d_in);
            let a: Vec<f32> = (0..l * r * m.d_in)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            let b: Vec<f32> = (0..l * m.d_out * r)
                .map(|_| rng.random_range(-b_bound..b_bound))
                .collect();
            let w = lora_core::LoraWeights {
                a: Tensor::from_data(TensorData::new(a, [l, r, m.d_in]), &device),
                b: Tensor::from_data(TensorData::new(b, [l, m.d_out, r]), &device),
            };
            (m.name.clone(), w)
        })
        .collect();
    lora_core::LoraAdapter::new(config, layout, modules).unwrap()
}
