//! Latency of generating one complete adapter (every layer and module, A and B, brought to the
//! host) with the T2L hypernetwork, for the L, M and S variants at SmolLM2-135M and Mistral-7B q/v
//! shapes (E = 1024, D = 128, H = 512, r = 8), on the CPU flex backend. The head GEMM of a
//! module is one `[rows, H] × [H, out]` product; its FLOP count is printed per case.
//!
//! The reference PyTorch maths on the same shapes: `scripts/bench/hypermod_reference.py`.
//! Run: `RAYON_NUM_THREADS=2 cargo bench --bench hypermod_generate` (add `-- mistral` to filter).
//! With `T2L_BENCH_CPU_TIME=1` criterion measures the process's CPU time instead of wall time: with
//! `RAYON_NUM_THREADS=1` that is the per-adapter work, robust to other jobs sharing the cores.
//!
//! With `T2L_BENCH_PLAIN=N` criterion is skipped: the packed path of every case runs 2 + N times
//! and one JSON line per case gives the median and minimum wall and process-CPU time of the N
//! timed runs, and the median time of the head GEMMs and of the trunk inside them
//! (`PackedTimings`; `hypermod_reference.py --rust BINARY` runs this interleaved with the
//! reference and rates the heads against torch's square GEMM);
//! `T2L_BENCH_CASE=TEXT` keeps the cases whose name contains it (e.g. `smollm2-135m/S`), and
//! `T2L_BENCH_PATH=NAME` the plain mode's paths named exactly so (e.g. `packed`, to profile the
//! f32 path alone).
//!
//! `packed-f16` is the opt-in reduced-precision variant of the packed path (head weights stored
//! as f16, f32 accumulation: `PackedHyper::with_head_storage`); `packed-bf16` the opt-in bf16
//! compute (weights and activations rounded to bf16, f32 accumulation; AMX tiles where the CPU
//! and OS allow, else `vdpbf16ps`: the JSON lines' `bf16_kernel` says which) for heads and
//! trunk, `packed-bf16-heads` for the heads only (`PackedHyper::with_precision`; both need
//! AVX512-BF16 and are skipped with a note without it); `packed` is the default (f32).
//!
//! The bench first asks the allocator to keep freed memory (`packed::keep_freed_memory`, as an
//! application generating many adapters would): otherwise glibc may hand each generation's
//! freed outputs back to the kernel, depending on what the process allocated before, and the
//! times then depend on which cases ran in the same process. `T2L_BENCH_RETURN_MEMORY=1` skips
//! that, to measure the allocator's default behaviour; the JSON lines say which
//! (`kept_freed_memory`).

use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use hypermod::packed::{HyperPrecision, PackedHyper, WeightStorage, keep_freed_memory};
use hypermod::{HyperModulator, Variant};
use lora_core::BatchedLoraAdapter;
use t2l_bench::generate::AdapterShape;
use t2l_bench::process_cpu_seconds;
use t2l_bench::work::{adapter_head_flops, head_flops};

type B = Flex;

/// Takes every factor of generated adapters into host `TensorData` (what writing the PEFT file
/// needs). The adapter is consumed, so each factor's tensor is the sole owner of its buffer and
/// `into_data` hands that buffer over: on flex no copy is made, as the reference's adapters
/// stay where PyTorch computed them (`hypermod_reference.py` times `state_dict(gen_lora(..))`,
/// host tensors, without a further copy). A backend with device memory downloads here.
fn to_host(adapters: BatchedLoraAdapter<B>) -> usize {
    let factors: Vec<Tensor<B, 4>> = adapters
        .modules()
        .flat_map(|(_, w)| [w.a.clone(), w.b.clone()])
        .collect();
    drop(adapters);
    factors
        .into_iter()
        .map(|t| t.into_data().num_elements())
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

/// One case: the hypernetwork (random heads, reconstruction init: timing does not depend on the
/// values), a task embedding, and the packed snapshot when the CPU has AVX-512F.
struct Case {
    name: String,
    /// FLOPs of the head GEMMs as the reference runs them (`work::head_flops`).
    flops: f64,
    /// FLOPs of the head outputs kept in the adapter (`work::adapter_head_flops`).
    kept_flops: f64,
    hyper: HyperModulator<B>,
    emb: Tensor<B, 2>,
    /// `("packed", f32)`, `("packed-f16", f16 heads)`, `("packed-bf16", bf16 compute)` and
    /// `("packed-bf16-heads", bf16 heads)`, those the CPU supports.
    packed: Vec<(&'static str, PackedHyper)>,
}

/// The cases whose name contains `only` (all for ""), each built when it is reached.
fn cases(only: &str) -> impl Iterator<Item = Case> + '_ {
    AdapterShape::REAL
        .into_iter()
        .flat_map(|shape| [Variant::L, Variant::M, Variant::S].map(move |v| (shape, v)))
        .filter(move |(shape, variant)| format!("{shape}/{variant}").contains(only))
        .map(|(shape, variant)| {
            let device = Default::default();
            let cfg = shape.hyper_config(variant);
            let (flops, kept_flops) = (head_flops(&cfg, 1), adapter_head_flops(&cfg, 1));
            let hyper = HyperModulator::<B>::new(cfg, &device, 0).expect("hypernetwork");
            let emb = Tensor::<B, 2>::random(
                [1, 1024],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            // The CPU fast path: the whole model packed once (at load), host trunk and heads on
            // the AVX-512 kernel.
            let heads = |heads| HyperPrecision {
                heads,
                trunk: WeightStorage::F32,
            };
            let packed = [
                ("packed", HyperPrecision::F32),
                ("packed-f16", heads(WeightStorage::F16)),
                ("packed-bf16", HyperPrecision::BF16),
                ("packed-bf16-heads", heads(WeightStorage::Bf16)),
            ]
            .into_iter()
            .filter_map(|(name, p)| match PackedHyper::with_precision(&hyper, p) {
                Ok(packed) => Some((name, packed)),
                Err(e) => {
                    eprintln!("{shape}/{variant} {name}: {e}");
                    None
                }
            })
            .collect();
            Case {
                name: format!("{shape}/{variant}"),
                flops,
                kept_flops,
                hyper,
                emb,
                packed,
            }
        })
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("hypermod_generate");
    group.sample_size(20);
    for case in cases("") {
        let Case {
            name,
            flops,
            hyper,
            emb,
            packed,
            ..
        } = case;
        eprintln!(
            "{name}: head GEMMs {:.3} GFLOP, {} trainable parameters",
            flops / 1e9,
            hyper.num_trainable_params()
        );
        group.bench_function(format!("{name}/generic"), |b| {
            b.iter(|| to_host(hyper.generate(emb.clone()).expect("generate")))
        });
        for (path, packed) in &packed {
            group.bench_function(format!("{name}/{path}"), |b| {
                b.iter(|| {
                    to_host(
                        hyper
                            .generate_packed(emb.clone(), packed)
                            .expect("generate"),
                    )
                })
            });
        }
    }
    group.finish();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `T2L_BENCH_PLAIN=reps`: the packed path of every case, 2 untimed runs then `reps` timed ones,
/// one JSON line per case (milliseconds).
fn plain(reps: usize, kept: bool) {
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_default();
    let only = std::env::var("T2L_BENCH_CASE").unwrap_or_default();
    let path_only = std::env::var("T2L_BENCH_PATH").ok();
    for case in cases(&only) {
        if case.packed.is_empty() {
            eprintln!("{}: no AVX-512F, packed path unavailable", case.name);
        }
        for (path, packed) in &case.packed {
            if path_only.as_deref().is_some_and(|p| p != *path) {
                continue;
            }
            // One generation, brought to the host; its head and trunk time (ms).
            let run = || {
                let (adapters, t) = case
                    .hyper
                    .generate_packed_timed(case.emb.clone(), packed)
                    .expect("generate");
                to_host(adapters);
                (t.heads.as_secs_f64() * 1e3, t.trunk.as_secs_f64() * 1e3)
            };
            run();
            run();
            let (mut wall, mut cpu) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
            let (mut heads, mut trunk) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
            for _ in 0..reps {
                let (t, c) = (Instant::now(), process_cpu_seconds());
                let (h, tr) = std::hint::black_box(run());
                cpu.push((process_cpu_seconds() - c) * 1e3);
                wall.push(t.elapsed().as_secs_f64() * 1e3);
                heads.push(h);
                trunk.push(tr);
            }
            let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
            println!(
                "{{\"case\": \"{}\", \"path\": \"{path}\", \"bf16_kernel\": \"{:?}\", \"threads\": \"{threads}\", \"reps\": {reps}, \"head_flops\": {}, \"kept_head_flops\": {}, \"wall_median_ms\": {:.4}, \"wall_min_ms\": {:.4}, \"cpu_median_ms\": {:.4}, \"cpu_min_ms\": {:.4}, \"heads_median_ms\": {:.4}, \"trunk_median_ms\": {:.4}, \"kept_freed_memory\": {kept}}}",
                case.name,
                packed.bf16_kernel(),
                case.flops,
                case.kept_flops,
                median(wall.clone()),
                min(&wall),
                median(cpu.clone()),
                min(&cpu),
                median(heads),
                median(trunk)
            );
        }
    }
}

fn main() {
    let kept =
        std::env::var_os("T2L_BENCH_RETURN_MEMORY").is_none() && keep_freed_memory(256 << 20);
    eprintln!("kept freed memory: {kept}");
    if let Some(reps) = std::env::var("T2L_BENCH_PLAIN")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        plain(reps, kept);
    } else if std::env::var_os("T2L_BENCH_CPU_TIME").is_some() {
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
