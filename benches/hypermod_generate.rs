//! Latency of generating one complete adapter (every layer and module, A and B, brought to the
//! host) with the T2L hypernetwork, for the L, M and S variants at SmolLM2-135M and Mistral-7B q/v
//! shapes (E = 1024, D = 128, H = 512, r = 8), on the CPU flex backend. The head GEMM of a
//! module is one `[rows, H] × [H, out]` product; its FLOP count is printed per case.
//!
//! The reference PyTorch maths on the same shapes: `scripts/bench/hypermod_reference.py`.
//! Run: `RAYON_NUM_THREADS=2 cargo bench --bench hypermod_generate` (add `-- mistral` to filter).
//! With `T2L_BENCH_CPU_TIME=1` criterion measures the process's CPU time instead of wall time: with
//! `RAYON_NUM_THREADS=1` that is the per-adapter work, robust to other jobs sharing the cores.

use burn::backend::Flex;
use burn::prelude::*;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use hypermod::packed::PackedHyper;
use hypermod::{HyperConfig, HyperModulator, InitMode, Variant};
use lora_core::{AdapterLayout, BatchedLoraAdapter, LoraConfig, ModuleShape};
use t2l_bench::process_cpu_seconds;

type B = Flex;

fn layout(name: &str) -> AdapterLayout {
    let shape = |n: &str, d_in, d_out| ModuleShape {
        name: n.into(),
        d_in,
        d_out,
    };
    match name {
        "smollm2-135m" => AdapterLayout::new(
            30,
            vec![shape("q_proj", 576, 576), shape("v_proj", 576, 192)],
        ),
        _ => AdapterLayout::new(
            32,
            vec![shape("q_proj", 4096, 4096), shape("v_proj", 4096, 1024)],
        ),
    }
}

/// FLOPs of the head GEMMs of one adapter (`2 · rows · H · out` per module).
fn head_flops(cfg: &HyperConfig) -> usize {
    let (l, r, h) = (cfg.layout.n_layers, cfg.lora.r, cfg.head_in);
    cfg.layout
        .modules
        .iter()
        .map(|m| {
            let rows = match cfg.variant {
                Variant::L => l,
                Variant::M => 2 * l,
                Variant::S => 2 * l * r,
            };
            2 * rows * h * cfg.variant.head_out(r, m.d_in, m.d_out)
        })
        .sum()
}

/// Downloads every factor of generated adapters (what writing the PEFT file needs).
fn to_host(adapters: BatchedLoraAdapter<B>) -> usize {
    adapters
        .modules()
        .map(|(_, w)| w.a.to_data().num_elements() + w.b.to_data().num_elements())
        .sum()
}

/// Criterion measurement of process CPU time (seconds).
struct CpuTime;

struct Seconds;

impl ValueFormatter for Seconds {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v *= 1e3);
        "ms (cpu)"
    }
    fn scale_throughputs(&self, _t: f64, _th: &Throughput, _values: &mut [f64]) -> &'static str {
        "(n/a)"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "s"
    }
}

impl Measurement for CpuTime {
    type Intermediate = f64;
    type Value = f64;
    fn start(&self) -> f64 {
        process_cpu_seconds()
    }
    fn end(&self, start: f64) -> f64 {
        process_cpu_seconds() - start
    }
    fn add(&self, a: &f64, b: &f64) -> f64 {
        a + b
    }
    fn zero(&self) -> f64 {
        0.0
    }
    fn to_f64(&self, v: &f64) -> f64 {
        *v
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Seconds
    }
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let device = Default::default();
    let mut group = c.benchmark_group("hypermod_generate");
    group.sample_size(20);
    for shape in ["smollm2-135m", "mistral-7b"] {
        for variant in [Variant::L, Variant::M, Variant::S] {
            let layout = layout(shape);
            let lora = LoraConfig::new(8, 16.0, layout.module_names()).with_rslora(true);
            // Random heads (reconstruction init): timing does not depend on the values.
            let cfg = HyperConfig::new(variant, 1024, layout, lora)
                .with_init(InitMode::Default)
                .with_head_bias(true);
            let flops = head_flops(&cfg);
            let hyper = HyperModulator::<B>::new(cfg, &device, 0).expect("hypernetwork");
            let emb = Tensor::<B, 2>::random(
                [1, 1024],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            eprintln!(
                "{shape} {variant}: head GEMMs {:.3} GFLOP, {} trainable parameters",
                flops as f64 / 1e9,
                hyper.num_trainable_params()
            );
            group.bench_function(format!("{shape}/{variant}/generic"), |b| {
                b.iter(|| to_host(hyper.generate(emb.clone()).expect("generate")))
            });
            // The CPU fast path: the whole model packed once (at load), host trunk and heads on
            // the AVX-512 kernel.
            if let Some(packed) = PackedHyper::new(&hyper) {
                group.bench_function(format!("{shape}/{variant}/packed"), |b| {
                    b.iter(|| {
                        to_host(
                            hyper
                                .generate_packed(emb.clone(), &packed)
                                .expect("generate"),
                        )
                    })
                });
            }
        }
    }
    group.finish();
}

fn main() {
    if std::env::var_os("T2L_BENCH_CPU_TIME").is_some() {
        let mut c = Criterion::default()
            .with_measurement(CpuTime)
            .configure_from_args();
        bench(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::<WallTime>::default().configure_from_args();
        bench(&mut c);
        c.final_summary();
    }
}
