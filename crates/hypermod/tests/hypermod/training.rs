//! Dropout only in training forwards; gradients reach every hypernetwork parameter.

use burn::backend::Autodiff;
use burn::module::{AutodiffModule, Module};
use burn::prelude::*;
use hypermod::{HyperModulator, InitMode, Mode, Variant};

use crate::common::*;

#[test]
fn dropout_only_in_training() {
    let cfg = tiny(Variant::M, InitMode::Default).with_dropout(0.5);
    let hyper = HyperModulator::<B>::new(cfg, &Default::default(), 0).unwrap();
    let emb = embeddings(2, 12, 0);
    let g1 = hyper.generate(emb.clone()).unwrap();
    let g2 = hyper.forward(emb.clone(), Mode::Inference).unwrap();
    assert_eq!(adapters_diff(&g1, &g2), 0.0, "inference is deterministic");
    let t1 = hyper.forward(emb.clone(), Mode::Train).unwrap();
    let t2 = hyper.forward(emb, Mode::Train).unwrap();
    assert!(adapters_diff(&g1, &t1) > 1e-4, "training forward drops");
    assert!(adapters_diff(&t1, &t2) > 1e-4, "fresh masks per forward");
}

#[test]
fn generation_on_an_autodiff_backend_has_no_dropout() {
    type AD = Autodiff<B>;
    let cfg = tiny(Variant::L, InitMode::Default).with_dropout(0.5);
    let device = Default::default();
    let hyper = HyperModulator::<AD>::new(cfg, &device, 0).unwrap();
    let emb: Tensor<AD, 2> = Tensor::from_inner(embeddings(2, 12, 0));
    let a = hyper.generate(emb.clone()).unwrap();
    let b = hyper.valid().generate(emb.inner()).unwrap();
    let (wa, wb) = (a.module("q_proj").unwrap(), b.module("q_proj").unwrap());
    assert!(max_abs_diff(&wa.a.clone().inner(), &wb.a) <= 1e-6);
}

#[test]
fn gradients_reach_every_parameter() {
    type AD = Autodiff<B>;
    for variant in VARIANTS {
        let cfg = tiny(variant, InitMode::Default);
        let device = Default::default();
        let hyper = HyperModulator::<AD>::new(cfg, &device, 1).unwrap();
        let emb: Tensor<AD, 2> = Tensor::from_inner(embeddings(2, 12, 5));
        let out = hyper.forward(emb, Mode::Train).unwrap();
        let loss = out
            .modules()
            .map(|(_, w)| w.a.clone().powf_scalar(2.0).mean() + w.b.clone().powf_scalar(2.0).mean())
            .reduce(|x, y| x + y)
            .unwrap();
        let grads = loss.backward();
        let checks: Vec<(&str, Option<Tensor<B, 2>>)> = vec![
            (
                "task_encoder",
                hyper.task_encoder.linear.weight.grad(&grads),
            ),
            (
                "layer_depth",
                hyper.layer_depth_encoder.embedding.grad(&grads),
            ),
            (
                "layer_type",
                hyper.layer_type_encoder.embedding.grad(&grads),
            ),
            ("mixer", hyper.mixer.linear_in.weight.grad(&grads)),
            ("mlp2", hyper.mlp2.linear_out.weight.grad(&grads)),
            ("mlp3", hyper.mlp3.linear_out.weight.grad(&grads)),
            ("head", hyper.heads[2].weight.grad(&grads)),
        ];
        for (name, g) in checks {
            let g = g.unwrap_or_else(|| panic!("{variant}: no gradient for {name}"));
            assert!(
                g.abs().max().into_scalar() > 0.0,
                "{variant}: zero gradient for {name}"
            );
        }
        if variant != Variant::L {
            let g = hyper.out_emb[0].b.grad(&grads).expect("out_emb gradient");
            assert!(g.abs().max().into_scalar() > 0.0);
        }
        assert_eq!(hyper.num_params(), hyper.config().num_trainable_params());
    }
}
