//! Trainable parameter counts equal the reference's (reference notes §2.9).

use burn::module::Module;
use hypermod::{HyperConfig, HyperModulator, Variant};

use crate::common::*;

fn config(variant: Variant, layout: lora_core::AdapterLayout) -> HyperConfig {
    let lora = lora_for(&layout);
    HyperConfig::new(variant, 1024, layout, lora)
}

#[test]
fn mistral_7b_counts_from_config() {
    let expected = [
        (Variant::L, 55_424_000),
        (Variant::M, 34_412_288),
        (Variant::S, 4_994_816),
    ];
    for (variant, count) in expected {
        let cfg = config(variant, mistral_layout());
        assert_eq!(cfg.num_trainable_params(), count, "{variant}");
        // The frozen stacks (offset + mean + std) the reference always saves: 10,223,616.
        let with_stacks = cfg.with_ab_offset(true).with_z_score(true);
        assert_eq!(with_stacks.num_frozen_values(), 10_223_616);
        assert_eq!(with_stacks.num_trainable_params(), count, "{variant}");
    }
}

#[test]
fn smollm2_counts_match_the_built_module() {
    let expected = [
        (Variant::L, 8_671_168),
        (Variant::M, 5_520_064),
        (Variant::S, 1_383_232),
    ];
    for (variant, count) in expected {
        let cfg = config(variant, smollm2_layout()).with_ab_offset(true);
        assert_eq!(cfg.num_trainable_params(), count, "{variant}");
        assert_eq!(cfg.num_frozen_values(), 1_382_400 / 3, "{variant}");
        let hyper = HyperModulator::<B>::new(cfg, &Default::default(), 0).unwrap();
        // burn's own count of the module's parameters (stacks are constants, not parameters).
        assert_eq!(hyper.num_params(), count, "{variant}");
    }
}

#[test]
fn mistral_s_counts_match_the_built_module() {
    let hyper =
        HyperModulator::<B>::new(config(Variant::S, mistral_layout()), &Default::default(), 0)
            .unwrap();
    assert_eq!(hyper.num_trainable_params(), 4_994_816);
}
