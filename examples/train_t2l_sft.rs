//! T2L SFT on a real base model (CPU, burn's flex backend), and export of a run's checkpoint as
//! a half-precision hypermod checkpoint small enough to commit.
//!
//! ```text
//! # train (metrics in <run.out_dir>/metrics.jsonl, checkpoints in <run.out_dir>/checkpoints/)
//! cargo run --example train_t2l_sft -- train --config configs/t2l_sft_smollm2_minilm_m.toml
//! # continue a killed run
//! cargo run --example train_t2l_sft -- train --config configs/t2l_sft_smollm2_minilm_m.toml \
//!     --resume train_outputs/t2l-sft-smollm2-minilm-m
//! # the best (lowest held-out validation loss) hypernetwork of the latest checkpoint, in f16
//! cargo run --example train_t2l_sft -- export --config configs/t2l_sft_smollm2_minilm_m.toml \
//!     --out checkpoints/t2l-smollm2-minilm-m [--which best|last] [--dtype f16|bf16]
//! ```
//!
//! `export` rebuilds the hypernetwork's architecture from the config (base model layout,
//! embedder id) without embedding the training descriptions, loads the checkpoint's weights,
//! writes them with `HyperModulator::save` and then replaces the weights file by its f16 / bf16
//! encoding; it reloads the result and prints the largest difference to the f32 weights.

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use hypermod::HyperModulator;
use hypermod::checkpoint::WEIGHTS_FILE;
use lora_core::SaveDtype;
use lora_core::tensor_file::{self, EncodedTensor};
use text_embed::{BertEmbedder, TaskEmbedder, TextEmbedder};
use trainers::checkpoint::{load_checkpoint, resolve_checkpoint};
use trainers::config::load_config;
use trainers::optim::TrainOptimizer;
use trainers::t2l_sft::{T2lSftConfig, train_t2l_sft};
use trainers::task_embeddings::EmbeddingSource;

type B = Autodiff<Flex>;

type AnyResult<T> = Result<T, Box<dyn Error>>;

const USAGE: &str = "usage: train_t2l_sft train --config FILE [--resume DIR]\n       \
                     train_t2l_sft export --config FILE --out DIR [--run DIR] [--which best|last] [--dtype f16|bf16]";

/// `--name value` options after the subcommand.
fn options(args: &[String]) -> AnyResult<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let name = k
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument `{k}`\n{USAGE}"))?;
        let v = it
            .next()
            .ok_or_else(|| format!("--{name} needs a value\n{USAGE}"))?;
        out.insert(name.to_string(), v.clone());
    }
    Ok(out)
}

fn required<'a>(opts: &'a HashMap<String, String>, name: &str) -> AnyResult<&'a String> {
    opts.get(name)
        .ok_or_else(|| format!("--{name} is required\n{USAGE}").into())
}

fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = args.split_first().ok_or(USAGE)?;
    let opts = options(rest)?;
    let cfg: T2lSftConfig = load_config(Path::new(required(&opts, "config")?))?;
    match cmd.as_str() {
        "train" => train(&cfg, opts.get("resume").map(PathBuf::from)),
        "export" => export(&cfg, &opts),
        _ => Err(USAGE.into()),
    }
}

fn train(cfg: &T2lSftConfig, resume: Option<PathBuf>) -> AnyResult<()> {
    let t0 = Instant::now();
    let device = Default::default();
    let report = train_t2l_sft::<B>(cfg, resume.as_deref(), &device)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    println!("wall time {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// The untrained hypernetwork of `cfg` (the architecture a checkpoint's weights load into).
fn architecture(
    cfg: &T2lSftConfig,
    device: &burn::tensor::Device<B>,
) -> AnyResult<HyperModulator<B>> {
    let EmbeddingSource::Descriptions { embedder } = &cfg.embedding else {
        return Err("export expects embedding.kind = \"descriptions\"".into());
    };
    let bert = BertEmbedder::<Flex>::load(embedder, &Default::default())?;
    let task_embedder = TaskEmbedder::new(bert);
    let dim = TextEmbedder::<Flex>::dim(&task_embedder);
    let id = TextEmbedder::<Flex>::id(&task_embedder);
    let (llm, _) = cfg.model.load::<B>(device)?;
    let layout = llm.adapter_layout(&cfg.lora.target_modules)?;
    let lora = cfg.lora.to_lora_config(&cfg.model.name())?;
    let hcfg = cfg.hyper.to_config(dim, layout, lora).with_embedder(id);
    Ok(HyperModulator::<B>::new(hcfg, device, cfg.run.seed)?)
}

fn export(cfg: &T2lSftConfig, opts: &HashMap<String, String>) -> AnyResult<()> {
    let device = Default::default();
    let out = PathBuf::from(required(opts, "out")?);
    let run = opts
        .get("run")
        .map(PathBuf::from)
        .unwrap_or_else(|| cfg.run.out_dir.clone());
    let dtype = match opts.get("dtype").map(String::as_str).unwrap_or("f16") {
        "f16" => SaveDtype::F16,
        "bf16" => SaveDtype::BF16,
        other => return Err(format!("--dtype {other}: expected f16 or bf16").into()),
    };
    let dir = resolve_checkpoint(&run)?;
    let hyper = architecture(cfg, &device)?;
    let loaded = load_checkpoint(&dir, hyper, TrainOptimizer::new(&cfg.optim), &device)?;
    let which = opts.get("which").map(String::as_str).unwrap_or("best");
    let hyper = match which {
        "best" => loaded.best,
        "last" => loaded.model,
        other => return Err(format!("--which {other}: expected best or last").into()),
    };
    eprintln!(
        "checkpoint {} (step {}, best validation loss {:?}), exporting `{which}` ({} parameters)",
        dir.display(),
        loaded.state.step,
        loaded.state.best_val,
        hyper.num_trainable_params()
    );
    hyper.save(&out)?;
    let tensors = hyper.to_tensors();
    let encoded = tensors
        .iter()
        .map(|(name, data)| {
            let values = data
                .clone()
                .convert::<f32>()
                .into_vec::<f32>()
                .map_err(|e| format!("`{name}`: {e:?}"))?;
            Ok((
                name.clone(),
                EncodedTensor::from_f32(&values, data.shape.to_vec(), dtype),
            ))
        })
        .collect::<AnyResult<Vec<_>>>()?;
    let metadata = [("format".to_string(), "pt".to_string())]
        .into_iter()
        .collect();
    tensor_file::write(&out.join(WEIGHTS_FILE), &encoded, Some(metadata))?;
    let reloaded = HyperModulator::<Flex>::load(&out, &Default::default())?.to_tensors();
    let mut max_diff = 0f32;
    for (name, data) in &tensors {
        let a = data
            .clone()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap_or_default();
        let b = reloaded[name]
            .clone()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap_or_default();
        for (x, y) in a.iter().zip(&b) {
            max_diff = max_diff.max((x - y).abs());
        }
    }
    let bytes = std::fs::metadata(out.join(WEIGHTS_FILE))?.len();
    println!(
        "wrote {} ({bytes} bytes of weights); largest |f32 - reloaded| = {max_diff:.3e}",
        out.display()
    );
    Ok(())
}
