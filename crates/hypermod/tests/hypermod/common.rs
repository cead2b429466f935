//! Shared configurations and helpers.

use burn::backend::Flex;
use burn::prelude::*;
use hypermod::{HyperConfig, InitMode, Variant};
use lora_core::{AdapterLayout, BatchedLoraAdapter, LoraConfig, ModuleShape};

pub type B = Flex;

pub fn shape(name: &str, d_in: usize, d_out: usize) -> ModuleShape {
    ModuleShape {
        name: name.into(),
        d_in,
        d_out,
    }
}

/// SmolLM2-135M q/v shapes.
pub fn smollm2_layout() -> AdapterLayout {
    AdapterLayout::new(
        30,
        vec![shape("q_proj", 576, 576), shape("v_proj", 576, 192)],
    )
}

/// Mistral-7B q/v shapes.
pub fn mistral_layout() -> AdapterLayout {
    AdapterLayout::new(
        32,
        vec![shape("q_proj", 4096, 4096), shape("v_proj", 4096, 1024)],
    )
}

/// The reference's LoRA config for a layout: r = 8, alpha 16, rsLoRA.
pub fn lora_for(layout: &AdapterLayout) -> LoraConfig {
    LoraConfig::new(8, 16.0, layout.module_names()).with_rslora(true)
}

/// A small layout with a module whose d_out > d_in (MLP up projection) and one with d_out < d_in.
pub fn tiny_layout() -> AdapterLayout {
    AdapterLayout::new(
        3,
        vec![
            shape("q_proj", 16, 16),
            shape("v_proj", 16, 8),
            shape("up_proj", 16, 40),
        ],
    )
}

/// A tiny config (E = 12, D = 16, H = 24, r = 4).
pub fn tiny(variant: Variant, init: InitMode) -> HyperConfig {
    let layout = tiny_layout();
    let lora = LoraConfig::new(4, 8.0, layout.module_names());
    HyperConfig::new(variant, 12, layout, lora)
        .with_latent(16)
        .with_head_in(24)
        .with_init(init)
}

/// Deterministic pseudo-random embeddings `[n, e]`.
pub fn embeddings(n: usize, e: usize, salt: u32) -> Tensor<B, 2> {
    let values: Vec<f32> = (0..n * e)
        .map(|i| {
            let x = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(salt.wrapping_mul(40_503));
            (x % 10_000) as f32 / 5_000.0 - 1.0
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [n, e]), &Default::default())
}

pub fn values<const D: usize>(t: &Tensor<B, D>) -> Vec<f32> {
    t.to_data().convert::<f32>().to_vec::<f32>().unwrap()
}

pub fn max_abs_diff<const D: usize>(a: &Tensor<B, D>, b: &Tensor<B, D>) -> f32 {
    values(a)
        .iter()
        .zip(values(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Largest difference between two batched adapters over every module and factor.
pub fn adapters_diff(a: &BatchedLoraAdapter<B>, b: &BatchedLoraAdapter<B>) -> f32 {
    a.modules()
        .map(|(name, w)| {
            let v = b.module(name).unwrap();
            max_abs_diff(&w.a, &v.a).max(max_abs_diff(&w.b, &v.b))
        })
        .fold(0.0, f32::max)
}

pub const VARIANTS: [Variant; 3] = [Variant::L, Variant::M, Variant::S];
