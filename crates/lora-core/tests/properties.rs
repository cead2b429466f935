//! Property tests of the adapter maths (proptest) and batched/per-row equivalences.

use burn::backend::Flex;
use burn::prelude::*;
use lora_core::{
    AdapterLayout, BatchedLoraAdapter, LoraAdapter, LoraConfig, LoraWeights, ModuleShape,
    adapter_stats, average, cosine_similarity_ab, cosine_similarity_delta_w, linear_combination,
    lora_delta,
};
use proptest::prelude::*;

type B = Flex;

fn tensor3(v: &[f32], shape: [usize; 3]) -> Tensor<B, 3> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), &Default::default())
}

fn vec_f32(t: Tensor<B, 2>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

/// A random adapter with one module `m` of the given shape, from proptest-drawn values.
fn adapter(
    layers: usize,
    r: usize,
    d_in: usize,
    d_out: usize,
    alpha: f64,
    rs: bool,
    seed: u64,
) -> LoraAdapter<B> {
    let layout = AdapterLayout::new(
        layers,
        vec![ModuleShape {
            name: "q_proj".into(),
            d_in,
            d_out,
        }],
    );
    let cfg = LoraConfig::new(r, alpha, ["q_proj"]).with_rslora(rs);
    let mut s = seed as f32 * 0.1 + 0.3;
    let mut next = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                s += 0.618;
                (s * 12.9898).sin()
            })
            .collect()
    };
    let a = tensor3(&next(layers * r * d_in), [layers, r, d_in]);
    let b = tensor3(&next(layers * d_out * r), [layers, d_out, r]);
    LoraAdapter::new(cfg, layout, vec![("q_proj".into(), LoraWeights { a, b })]).unwrap()
}

fn max_abs(x: &[f32], y: &[f32]) -> f32 {
    x.iter()
        .zip(y)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn unmerge_of_merge_is_identity(layers in 1usize..3, r in 1usize..5, d_in in 1usize..24, d_out in 1usize..24,
                                    alpha in 1.0f64..32.0, rs: bool, seed in 0u64..1000) {
        let ad = adapter(layers, r, d_in, d_out, alpha, rs, seed);
        let dev = Default::default();
        let w: Tensor<B, 2> = Tensor::random([d_out, d_in], burn::tensor::Distribution::Uniform(-1.0, 1.0), &dev);
        let layer = layers - 1;
        let merged = ad.merge_into(w.clone(), layer, "q_proj").unwrap();
        let back = ad.unmerge_from(merged, layer, "q_proj").unwrap();
        let (w, back) = (vec_f32(w), vec_f32(back));
        let scale = w.iter().map(|v| v.abs()).fold(1.0f32, f32::max);
        prop_assert!(max_abs(&w, &back) <= 1e-5 * scale * (1.0 + alpha as f32));
    }

    #[test]
    fn apply_equals_x_times_delta_w_transposed(r in 1usize..5, d_in in 1usize..20, d_out in 1usize..20,
                                                rows in 1usize..6, rs: bool, seed in 0u64..1000) {
        let ad = adapter(2, r, d_in, d_out, 16.0, rs, seed);
        let dev = Default::default();
        let x: Tensor<B, 3> = Tensor::random([2, rows, d_in], burn::tensor::Distribution::Uniform(-1.0, 1.0), &dev);
        let y = ad.apply(x.clone(), 1, "q_proj").unwrap();
        let dw = ad.delta_w(1, "q_proj").unwrap();
        let expect = x.reshape([2 * rows, d_in]).matmul(dw.transpose());
        let y = y.reshape([2 * rows, d_out]);
        prop_assert!(max_abs(&vec_f32(y), &vec_f32(expect)) <= 1e-4);
    }

    #[test]
    fn average_of_identical_adapters_is_the_adapter(n in 1usize..5, r in 1usize..4, d in 1usize..16, seed in 0u64..1000) {
        let ad = adapter(2, r, d, d + 1, 8.0, false, seed);
        let copies: Vec<&LoraAdapter<B>> = (0..n).map(|_| &ad).collect();
        let avg = average(&copies).unwrap();
        for layer in 0..2 {
            let x = vec_f32(avg.delta_w(layer, "q_proj").unwrap());
            let y = vec_f32(ad.delta_w(layer, "q_proj").unwrap());
            prop_assert!(max_abs(&x, &y) <= 1e-5);
        }
    }

    #[test]
    fn scaling_rules(r in 1usize..256, alpha in 0.5f64..64.0) {
        let plain = LoraConfig::new(r, alpha, ["q_proj"]);
        prop_assert!((plain.scaling() - alpha / r as f64).abs() < 1e-12);
        let rs = plain.clone().with_rslora(true);
        prop_assert!((rs.scaling() - alpha / (r as f64).sqrt()).abs() < 1e-12);
        // The same factors give ΔW in the ratio of the two scalings.
        prop_assert!((rs.scaling() / plain.scaling() - (r as f64).sqrt()).abs() < 1e-9);
    }
}

#[test]
fn per_row_lora_delta_equals_each_row_alone() {
    let ads: Vec<_> = (0..3).map(|s| adapter(2, 3, 6, 5, 4.0, true, s)).collect();
    let batch = BatchedLoraAdapter::stack(&ads).unwrap();
    assert_eq!(batch.len(), 3);
    let dev = Default::default();
    let x: Tensor<B, 3> = Tensor::random(
        [3, 4, 6],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &dev,
    );
    let (a, b) = batch.layer(1, "q_proj").unwrap();
    let y = lora_delta(x.clone(), a, b, batch.scaling());
    for (i, ad) in ads.iter().enumerate() {
        let xi = x.clone().narrow(0, i, 1).squeeze_dim::<2>(0);
        let yi = ad.apply(xi, 1, "q_proj").unwrap();
        let got = y.clone().narrow(0, i, 1).squeeze_dim::<2>(0);
        assert!(max_abs(&vec_f32(got), &vec_f32(yi)) <= 1e-5, "row {i}");
    }
    // Broadcast: one adapter (n = 1) applied to every row.
    let (a, b) = BatchedLoraAdapter::stack(&ads[..1])
        .unwrap()
        .layer(0, "q_proj")
        .unwrap();
    let y = lora_delta(x.clone(), a, b, ads[0].scaling());
    let expect = ads[0].apply(x, 0, "q_proj").unwrap();
    assert!(
        max_abs(
            &y.into_data().to_vec::<f32>().unwrap(),
            &expect.into_data().to_vec::<f32>().unwrap()
        ) <= 1e-5
    );
    // Round trip through the batch.
    let back = batch.get(2).unwrap();
    let d = (back.module("q_proj").unwrap().b.clone() - ads[2].module("q_proj").unwrap().b.clone())
        .abs()
        .max();
    assert_eq!(d.into_scalar(), 0.0);
}

#[test]
fn similarity_and_stats() {
    let x = adapter(2, 2, 5, 7, 8.0, false, 1);
    let y = adapter(2, 2, 5, 7, 8.0, false, 2);
    assert!((cosine_similarity_ab(&x, &x).unwrap() - 1.0).abs() < 1e-9);
    assert!((cosine_similarity_delta_w(&x, &x).unwrap() - 1.0).abs() < 1e-6);
    // ΔW similarity against an explicit flatten of all ΔW.
    let flat = |a: &LoraAdapter<B>| -> Vec<f32> {
        (0..2)
            .flat_map(|l| vec_f32(a.delta_w(l, "q_proj").unwrap()))
            .collect()
    };
    let (fx, fy) = (flat(&x), flat(&y));
    let dot: f64 = fx
        .iter()
        .zip(&fy)
        .map(|(a, b)| (*a as f64) * (*b as f64))
        .sum();
    let n = |v: &[f32]| v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
    let expect = dot / (n(&fx) * n(&fy));
    assert!((cosine_similarity_delta_w(&x, &y).unwrap() - expect).abs() < 1e-5);
    // Negation flips the sign of the A/B cosine.
    let neg = linear_combination(&[(&x, -1.0)]).unwrap();
    assert!((cosine_similarity_ab(&x, &neg).unwrap() + 1.0).abs() < 1e-9);

    // Mean and unbiased std against a hand computation on one entry.
    let z = adapter(2, 2, 5, 7, 8.0, false, 3);
    let st = adapter_stats(&[&x, &y, &z]).unwrap();
    let entry = |a: &LoraAdapter<B>| {
        a.module("q_proj")
            .unwrap()
            .a
            .to_data()
            .to_vec::<f32>()
            .unwrap()[3] as f64
    };
    let vals = [entry(&x), entry(&y), entry(&z)];
    let mean = vals.iter().sum::<f64>() / 3.0;
    let std = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!((entry(&st.mean) - mean).abs() < 1e-6);
    assert!((entry(&st.std) - std).abs() < 1e-6);
    assert!(adapter_stats(&[&x]).is_err());
    // Incompatible layouts are refused.
    let other = adapter(3, 2, 5, 7, 8.0, false, 1);
    assert!(average(&[&x, &other]).is_err());
}

#[test]
fn shape_errors_are_typed() {
    let layout = AdapterLayout::new(
        2,
        vec![ModuleShape {
            name: "v_proj".into(),
            d_in: 4,
            d_out: 2,
        }],
    );
    let a = tensor3(&[0.0; 2 * 3 * 4], [2, 3, 4]);
    let b = tensor3(&[0.0; 2 * 2 * 2], [2, 2, 2]);
    let e = LoraAdapter::new(
        LoraConfig::new(3, 3.0, ["v_proj"]),
        layout,
        vec![("v_proj".into(), LoraWeights { a, b })],
    )
    .unwrap_err();
    assert!(e.to_string().contains("v_proj.lora_B"), "{e}");
    let ad = adapter(2, 2, 4, 4, 2.0, false, 0);
    assert!(ad.delta_w(2, "q_proj").is_err());
    assert!(ad.delta_w(0, "k_proj").is_err());
    let w = Tensor::<B, 2>::zeros([3, 4], &Default::default());
    assert!(ad.merge_into(w, 0, "q_proj").is_err());
}
