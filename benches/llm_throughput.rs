//! Prefill and decode throughput (tokens/s) of the real SmolLM2-135M-Instruct GGUF on the flex CPU
//! backend, batch 1, through the KV cache: the same code as `t2l bench prefill|decode`
//! (crate `t2l-bench`). FLOPs and bytes per run and this machine's GEMM / bandwidth ceilings are
//! printed first, so criterion's times convert to fractions of the hardware limit.
//!
//! The transformers side, same protocol: `scripts/bench/smollm2_bench.py`.
//! Run: `RAYON_NUM_THREADS=2 cargo bench --bench llm_throughput` (`T2L_ASSETS` locates the model).

use burn::backend::Flex;
use criterion::{Criterion, Throughput};
use t2l_bench::llm::{LlmSource, decode, default_smollm2_gguf, prefill, prompt_ids};
use t2l_bench::work::{decode_work, prefill_work};
use t2l_bench::{CeilingSizes, measure_ceilings};

type B = Flex;

const PROMPT: usize = 128;
const NEW: usize = 32;

fn bench(c: &mut Criterion) {
    let device = Default::default();
    let source = LlmSource::File(default_smollm2_gguf());
    let llm = source
        .load::<B>(&device)
        .expect("SmolLM2 GGUF (run scripts/fetch-assets.sh)");
    let ceilings = measure_ceilings::<B>(&device, CeilingSizes::CPU, 1, 5).expect("ceilings");
    eprintln!(
        "ceilings: GEMM {:.1} GFLOP/s, bandwidth {:.1} GB/s",
        ceilings.gemm_gflops, ceilings.bandwidth_gbps
    );
    let cfg = llm.config().clone();
    let ids = prompt_ids(cfg.vocab_size, PROMPT);
    let (p, d) = (prefill_work(&cfg, PROMPT), decode_work(&cfg, PROMPT, NEW));
    eprintln!(
        "prefill {PROMPT} tokens: {:.3} GFLOP, {:.3} GB; decode {NEW} tokens: {:.3} GFLOP, {:.3} GB",
        p.flops / 1e9,
        p.bytes / 1e9,
        d.flops / 1e9,
        d.bytes / 1e9
    );
    let mut group = c.benchmark_group("smollm2_135m");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PROMPT as u64));
    group.bench_function(format!("prefill/{PROMPT}"), |b| {
        b.iter(|| {
            let mut cache = base_llm::KvCache::new(cfg.num_hidden_layers);
            prefill(&llm, &ids, &mut cache).expect("prefill")
        })
    });
    group.throughput(Throughput::Elements(NEW as u64));
    group.bench_function(format!("decode/{PROMPT}+{NEW}"), |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                let mut cache = base_llm::KvCache::new(cfg.num_hidden_layers);
                let next = prefill(&llm, &ids, &mut cache).expect("prefill");
                let t = std::time::Instant::now();
                decode(&llm, &mut cache, next, NEW).expect("decode");
                total += t.elapsed();
            }
            total
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
