//! Times the LoRA SFT step (forward + backward + global clip + AdamW) on a base model, with the
//! shapes of `crates/trainers/scripts/torch_sft_step.py`: batch 8 × 128 tokens, the last 32 of
//! each row targets, LoRA r = 8 on q_proj/v_proj.
//!
//! ```text
//! cargo run -p trainers --example sft_step_bench -- assets/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf [steps]
//! ```

use std::time::Instant;

use base_llm::{Adapters, Llama, TrainOptions};
use burn::backend::{Autodiff, Flex};
use burn::optim::GradientsParams;
use rand::{Rng, SeedableRng, rngs::StdRng};
use trainers::config::{LoraSettings, OptimConfig};
use trainers::data::batch::{Weighting, collate};
use trainers::data::encode::SftSample;
use trainers::loss::sft_loss;
use trainers::optim::TrainOptimizer;
use trainers::trainable_lora::TrainableLora;

type B = Autodiff<Flex>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let steps: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let device = Default::default();
    let llm = Llama::<B>::load(&args[1], &device)?;
    let lora = LoraSettings::default();
    let layout = llm.adapter_layout(&lora.target_modules)?;
    let mut model = TrainableLora::init(lora.to_lora_config("bench")?, layout, &device, 0);
    let mut optim = TrainOptimizer::<B, TrainableLora<B>>::new(&OptimConfig::default());
    let (batch, seq, resp) = (8, 128, 32);
    let mut rng = StdRng::seed_from_u64(0);
    let vocab = llm.config().vocab_size as u32;
    let samples: Vec<SftSample> = (0..batch)
        .map(|_| SftSample {
            ids: (0..seq).map(|_| rng.random_range(0..vocab)).collect(),
            n_prompt: seq - resp,
        })
        .collect();
    let host = collate(&samples, 0, 8, Weighting::PerToken);
    let mut times = Vec::new();
    for i in 0..steps {
        let t0 = Instant::now();
        let adapter = model.to_adapter()?;
        let options = TrainOptions {
            lora_dropout: 0.05,
            neftune_alpha: None,
            seed: None,
        };
        let loss = sft_loss(&llm, &host, Adapters::Single(&adapter), options, 0.0)?;
        let t_fwd = t0.elapsed().as_secs_f64();
        let value = loss.clone().into_scalar();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let t_bwd = t0.elapsed().as_secs_f64();
        optim.accumulate(&model, grads);
        let (m, norm) = optim.step(1e-4, model);
        model = m;
        let total = t0.elapsed().as_secs_f64();
        times.push(total);
        println!(
            "step {i}: loss {value:.4} grad_norm {norm:.3} forward {t_fwd:.3} s, +backward {:.3} s, +optimizer {:.3} s, total {total:.3} s",
            t_bwd - t_fwd,
            total - t_bwd
        );
    }
    let warm = if times.len() > 1 {
        &times[1..]
    } else {
        &times[..]
    };
    let mean = warm.iter().sum::<f64>() / warm.len() as f64;
    println!(
        "{{\"framework\": \"burn 0.21 flex\", \"s_per_step\": {mean:.3}, \"tokens_per_s\": {:.1}}}",
        (batch * seq) as f64 / mean
    );
    Ok(())
}
