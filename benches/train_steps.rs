//! One T2L SFT step (8 tasks × 1 example of 128 tokens, SmolLM2-135M GGUF as the frozen base,
//! hypernetwork M with E = 384) and one reconstruction step (SmolLM2 q/v shapes, L, 4 tasks of
//! a 9-adapter library), forward + backward + AdamW, on the flex CPU backend: the same code as
//! `t2l bench sft-step|recon-step` (crate `t2l-bench`). FLOPs, bytes and this machine's ceilings
//! are printed first.
//!
//! The PyTorch side of the SFT step: `scripts/bench/sft_step_reference.py`.
//! Run: `RAYON_NUM_THREADS=2 cargo bench --bench train_steps` (add `-- recon` to filter).

use burn::backend::{Autodiff, Flex};
use criterion::Criterion;
use t2l_bench::llm::{LlmSource, default_smollm2_gguf};
use t2l_bench::recon::{ReconStep, ReconStepSpec};
use t2l_bench::sft::{SftStep, SftStepSpec};
use t2l_bench::work::{recon_step_work, sft_step_work};
use t2l_bench::{CeilingSizes, measure_ceilings};

type B = Autodiff<Flex>;

fn bench(c: &mut Criterion) {
    let device = Default::default();
    let ceilings = measure_ceilings::<B>(&device, CeilingSizes::CPU, 1, 5).expect("ceilings");
    eprintln!(
        "ceilings: GEMM {:.1} GFLOP/s, bandwidth {:.1} GB/s",
        ceilings.gemm_gflops, ceilings.bandwidth_gbps
    );
    let mut group = c.benchmark_group("t2l_train_step");
    group.sample_size(10);

    let recon = ReconStepSpec::default();
    let mut step = ReconStep::<B>::new(&recon, &device, 0).expect("recon step");
    let cfg = step.hyper().expect("hypernetwork").config().clone();
    let w = recon_step_work(&cfg, recon.tasks_per_batch);
    eprintln!(
        "recon {}: {:.3} GFLOP, {:.3} GB per step",
        recon.name(),
        w.flops / 1e9,
        w.bytes / 1e9
    );
    group.bench_function(format!("recon/{}", recon.name()), |b| {
        b.iter(|| step.step().expect("recon step"))
    });

    let llm = LlmSource::File(default_smollm2_gguf())
        .load::<B>(&device)
        .expect("SmolLM2 GGUF (run scripts/fetch-assets.sh)");
    let spec = SftStepSpec::default();
    let mut step = SftStep::new(&llm, &spec, 0).expect("sft step");
    let hyper = step.hyper().expect("hypernetwork").config().clone();
    let batch = step.batch();
    let w = sft_step_work(
        llm.config(),
        &hyper,
        spec.tasks,
        batch.seq,
        batch.target_positions.len(),
    );
    eprintln!(
        "sft {}: {:.3} GFLOP, {:.3} GB per step",
        spec.name(),
        w.flops / 1e9,
        w.bytes / 1e9
    );
    group.bench_function(format!("sft/{}", spec.name()), |b| {
        b.iter(|| step.step().expect("sft step"))
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
