//! Gradients flow through the frozen model into adapter tensors, and agree with finite differences.

use base_llm::{Adapters, Llama, LlamaConfig};
use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use lora_core::{BatchedLoraAdapter, BatchedLoraWeights, LoraConfig};
use rand::{Rng, SeedableRng, rngs::StdRng};

type Inner = Flex;
type AD = Autodiff<Flex>;

const VOCAB: usize = 32;
const TARGETS: [&str; 3] = ["q_proj", "v_proj", "down_proj"];

/// Host values of the per-row factors: module → (a `[n, L, r, in]`, b `[n, L, out, r]`).
struct Factors {
    modules: Vec<HostFactors>,
}

/// `(module, a, shape of a, b, shape of b)`.
type HostFactors = (String, Vec<f32>, [usize; 4], Vec<f32>, [usize; 4]);

/// The trainable factor tensors `(a, b)` of each module.
type Handles<B> = Vec<(Tensor<B, 4>, Tensor<B, 4>)>;

fn factors<B: Backend>(model: &Llama<B>, n: usize, r: usize) -> Factors {
    let targets: Vec<String> = TARGETS.iter().map(|s| s.to_string()).collect();
    let layout = model.adapter_layout(&targets).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let l = layout.n_layers;
    let modules = layout
        .modules
        .iter()
        .map(|m| {
            let sa = [n, l, r, m.d_in];
            let sb = [n, l, m.d_out, r];
            let a = (0..sa.iter().product())
                .map(|_| rng.random_range(-0.5..0.5))
                .collect();
            let b = (0..sb.iter().product())
                .map(|_| rng.random_range(-0.5..0.5))
                .collect();
            (m.name.clone(), a, sa, b, sb)
        })
        .collect();
    Factors { modules }
}

/// Builds the batched adapter on backend `B`, marking the factors trainable when `grad`.
fn batched<B: Backend>(
    model: &Llama<B>,
    f: &Factors,
    r: usize,
    grad: bool,
) -> (BatchedLoraAdapter<B>, Handles<B>) {
    let dev = model.device();
    let targets: Vec<String> = TARGETS.iter().map(|s| s.to_string()).collect();
    let layout = model.adapter_layout(&targets).unwrap();
    let mut handles = Vec::new();
    let modules = f
        .modules
        .iter()
        .map(|(name, a, sa, b, sb)| {
            let mut ta = Tensor::<B, 4>::from_data(TensorData::new(a.clone(), *sa), &dev);
            let mut tb = Tensor::<B, 4>::from_data(TensorData::new(b.clone(), *sb), &dev);
            if grad {
                ta = ta.require_grad();
                tb = tb.require_grad();
            }
            handles.push((ta.clone(), tb.clone()));
            (name.clone(), BatchedLoraWeights { a: ta, b: tb })
        })
        .collect();
    let cfg = LoraConfig::new(r, 4.0, targets);
    (
        BatchedLoraAdapter::new(cfg, layout, modules).unwrap(),
        handles,
    )
}

/// Mean next-token cross-entropy of two rows, each with its own adapter.
fn loss<B: Backend>(model: &Llama<B>, adapter: &BatchedLoraAdapter<B>) -> Tensor<B, 1> {
    let dev = model.device();
    let seq: [[i64; 6]; 2] = [[1, 5, 9, 2, 7, 3], [4, 4, 8, 1, 30, 6]];
    let ids = Tensor::<B, 2, Int>::from_data(
        TensorData::new(seq.iter().flatten().copied().collect::<Vec<_>>(), [2, 6]),
        &dev,
    );
    let logits = model
        .forward(ids.clone(), None, Adapters::PerRow(adapter))
        .unwrap();
    let logp = log_softmax(logits.slice([0..2, 0..5, 0..VOCAB]), 2);
    let targets = ids.slice([0..2, 1..6]).reshape([2, 5, 1]);
    logp.gather(2, targets).mean().neg()
}

#[test]
fn gradients_reach_adapters_and_match_finite_differences() {
    let r = 2;
    let dev = Default::default();
    let model = Llama::<AD>::random(LlamaConfig::tiny(VOCAB), 3, &dev).unwrap();
    let f = factors(&model, 2, r);
    let (adapter, handles) = batched(&model, &f, r, true);
    let grads = loss(&model, &adapter).backward();

    // Frozen weights get no gradient.
    assert!(model.embed_tokens.val().grad(&grads).is_none());
    assert!(
        model.layers[0]
            .self_attn
            .q_proj
            .weight
            .val()
            .grad(&grads)
            .is_none()
    );
    assert!(
        model.layers[1]
            .mlp
            .down_proj
            .weight
            .val()
            .grad(&grads)
            .is_none()
    );

    let inner: Llama<Inner> = model.valid();
    let eval = |f: &Factors| -> f64 {
        let (a, _) = batched(&inner, f, r, false);
        loss(&inner, &a).into_scalar() as f64
    };
    let eps = 1e-2f32;
    let mut checked = 0;
    for (m, (ta, tb)) in handles.iter().enumerate() {
        let ga: Vec<f32> = ta
            .grad(&grads)
            .expect("grad of A")
            .into_data()
            .to_vec()
            .unwrap();
        let gb: Vec<f32> = tb
            .grad(&grads)
            .expect("grad of B")
            .into_data()
            .to_vec()
            .unwrap();
        assert!(
            ga.iter().any(|g| g.abs() > 1e-6),
            "A of {} gets a gradient",
            TARGETS[m]
        );
        for (which, g) in [(0usize, &ga), (1, &gb)] {
            // A few entries spread over both rows and both layers.
            let len = g.len();
            for idx in [0, len / 3, len / 2 + 1, len - 1] {
                let perturbed = |delta: f32| {
                    let mut x = Factors {
                        modules: f.modules.clone(),
                    };
                    let e = &mut x.modules[m];
                    if which == 0 {
                        e.1[idx] += delta;
                    } else {
                        e.3[idx] += delta;
                    }
                    x
                };
                let fd = (eval(&perturbed(eps)) - eval(&perturbed(-eps))) / (2.0 * eps as f64);
                let an = g[idx] as f64;
                assert!(
                    (fd - an).abs() <= 2e-3 + 3e-2 * an.abs(),
                    "{} {} [{idx}]: finite difference {fd} vs autodiff {an}",
                    TARGETS[m],
                    ["A", "B"][which]
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 24);
}

#[test]
fn causal_lm_loss_backpropagates_into_a_single_adapter_only() {
    use lora_core::{LoraAdapter, LoraWeights};
    let dev = Default::default();
    let model = Llama::<AD>::random(LlamaConfig::tiny(VOCAB), 3, &dev).unwrap();
    let targets: Vec<String> = vec!["k_proj".into(), "gate_proj".into()];
    let layout = model.adapter_layout(&targets).unwrap();
    let cfg = LoraConfig::new(2, 4.0, targets);
    let init = LoraAdapter::<AD>::init_like_peft(cfg.clone(), layout.clone(), &dev, 1);
    // B = 0 at PEFT init: A gets no gradient, B does.
    let modules: Vec<(String, LoraWeights<AD>)> = init
        .modules()
        .map(|(n, w)| {
            (
                n.to_string(),
                LoraWeights {
                    a: w.a.clone().require_grad(),
                    b: w.b.clone().require_grad(),
                },
            )
        })
        .collect();
    let adapter = LoraAdapter::new(cfg, layout, modules).unwrap();
    let ids =
        Tensor::<AD, 2, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 4, 5, 6], [1, 6]), &dev);
    let lm = Tensor::<AD, 2, Int>::ones([1, 6], &dev).bool();
    let options = base_llm::TrainOptions {
        lora_dropout: 0.1,
        neftune_alpha: Some(5.0),
        seed: Some(0),
    };
    let loss = model
        .causal_lm_loss(ids, None, lm, Adapters::Single(&adapter), options)
        .unwrap();
    let grads = loss.backward();
    for (name, w) in adapter.modules() {
        let gb: Vec<f32> =
            w.b.grad(&grads)
                .expect("grad of B")
                .into_data()
                .to_vec()
                .unwrap();
        assert!(
            gb.iter().any(|g| g.abs() > 1e-7),
            "{name}: B gets a gradient"
        );
        assert!(gb.iter().all(|g| g.is_finite()));
    }
    assert!(model.embed_tokens.val().grad(&grads).is_none());
}
