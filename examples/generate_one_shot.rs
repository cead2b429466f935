//! What one adapter costs on each generation path when the process makes only one (as
//! `t2l generate` does): burn's generic forward, against packing a snapshot
//! (`PackedHyper::with_precision`, f32 and bf16) plus one packed generation. The numbers behind
//! `t2l generate --kernel auto` taking the generic path in f32 (docs/hypermod.md).
//!
//! Cases: the shipped T2L-M checkpoint (`checkpoints/t2l-smollm2-minilm-m`, when present) and
//! random hypernetworks of the paper's size for SmolLM2-135M and Mistral-7B q/v, L/M/S
//! (`t2l_bench::generate::AdapterShape`). Each time is the best of `--rounds` rounds (wall clock,
//! every adapter factor brought to the host); threads: `RAYON_NUM_THREADS`, else all cores.
//!
//! ```text
//! cargo run --release --example generate_one_shot -- --rounds 3
//! ```

use std::path::Path;
use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use clap::Parser;
use hypermod::packed::{HyperPrecision, PackedHyper, cpu_supported};
use hypermod::{HyperModulator, Variant};
use lora_core::BatchedLoraAdapter;
use t2l_bench::generate::AdapterShape;

type B = Flex;

/// Command line.
#[derive(Debug, Parser)]
struct Args {
    /// Rounds per case (the best is printed).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Brings every factor to the host (what writing the PEFT file needs); returns the value count.
fn to_host(adapters: BatchedLoraAdapter<B>) -> usize {
    adapters
        .modules()
        .map(|(_, w)| w.a.to_data().num_elements() + w.b.to_data().num_elements())
        .sum()
}

/// Milliseconds `f` takes.
fn ms<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed().as_secs_f64() * 1e3, out)
}

/// Best-of-`rounds` times: `[generic, f32 pack, f32 generation, bf16 pack, bf16 generation]`
/// (bf16 `NaN` where the CPU lacks AVX512-BF16).
fn time_case(hyper: &HyperModulator<B>, rounds: usize) -> Result<[f64; 5], hypermod::Error> {
    let device = Default::default();
    let emb = Tensor::<B, 2>::ones([1, hyper.config().task_dim], &device);
    let mut best = [f64::INFINITY; 5];
    for _ in 0..rounds {
        let (t, adapters) = ms(|| hyper.generate(emb.clone()));
        to_host(adapters?);
        best[0] = best[0].min(t);
        for (i, precision) in [HyperPrecision::F32, HyperPrecision::BF16]
            .into_iter()
            .enumerate()
        {
            let (t_pack, packed) = ms(|| PackedHyper::with_precision(hyper, precision));
            let Ok(packed) = packed else {
                best[1 + 2 * i] = f64::NAN;
                best[2 + 2 * i] = f64::NAN;
                continue;
            };
            let (t_gen, adapters) = ms(|| hyper.generate_packed(emb.clone(), &packed));
            to_host(adapters?);
            best[1 + 2 * i] = best[1 + 2 * i].min(t_pack);
            best[2 + 2 * i] = best[2 + 2 * i].min(t_gen);
        }
    }
    Ok(best)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if !cpu_supported() {
        return Err("this CPU lacks AVX-512F: there is no packed path to compare".into());
    }
    let device = Default::default();
    let mut cases: Vec<(String, HyperModulator<B>)> = Vec::new();
    let shipped = Path::new("checkpoints/t2l-smollm2-minilm-m");
    if shipped.is_dir() {
        cases.push((
            "shipped T2L-M".into(),
            HyperModulator::<B>::open(shipped, &device)?,
        ));
    }
    for shape in AdapterShape::REAL {
        for variant in [Variant::L, Variant::M, Variant::S] {
            let hyper = HyperModulator::<B>::new(shape.hyper_config(variant), &device, 0)?;
            cases.push((format!("{shape} {variant}"), hyper));
        }
    }
    println!(
        "| case | generic ms | f32 pack + generation = total ms | bf16 pack + generation = total ms |"
    );
    println!("|---|---|---|---|");
    for (name, hyper) in &cases {
        let [generic, f32_pack, f32_gen, bf16_pack, bf16_gen] = time_case(hyper, args.rounds)?;
        println!(
            "| {name} | {generic:.1} | {f32_pack:.1} + {f32_gen:.1} = {:.1} | {bf16_pack:.1} + {bf16_gen:.1} = {:.1} |",
            f32_pack + f32_gen,
            bf16_pack + bf16_gen
        );
    }
    Ok(())
}
