//! Held-out tasks of the task suite: does an adapter that a T2L checkpoint generates from a task's
//! description help the base model on that task, which the hypernetwork never trained on?
//!
//! For each held-out task (`split_role = "heldout"` in `tasks/index.json`) it scores test rows
//! `[skip, skip + limit)` (T2L SFT validates on the first rows of these test files, so `--skip`
//! keeps model selection and this evaluation apart) under: the base model, and the base model
//! with the adapter generated from each of the task's `eval_descriptions` (never seen in
//! training), and optionally from a nonsense description (`--control-random`, the first of
//! `benchmarks.json`'s `random_descriptions`). Reported per task and condition:
//!
//! - `nll`: the response's mean negative log-likelihood per token (answer + end of turn), averaged
//!   over rows (no label smoothing);
//! - `acc`: for choice tasks (multiple choice: the option letters listed in the prompt;
//!   classification: the distinct answers of the train split), the share of rows whose gold
//!   answer's first token has the highest log-probability among the choices' first tokens (every
//!   choice here is one token: a letter or a label word).
//!
//! The adapters are applied unmerged (one forward per batch of rows); inference only.
//!
//! ```text
//! cargo run --example eval_heldout_tasks -- --checkpoint checkpoints/t2l-smollm2-minilm-m \
//!     [--model assets/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf] \
//!     [--embedder assets/all-minilm-l6-v2] [--skip 12] [--limit 24] [--n-desc 3] \
//!     [--tasks sciq,glue_rte] [--control-random] [--json out.json]
//! ```

use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use base_llm::{Adapters, Llama, ModelBundle, TrainOptions};
use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use hypermod::HyperModulator;
use hypermod::pipeline::Pipeline;
use text_embed::BertEmbedder;
use trainers::data::batch::{Weighting, collate};
use trainers::data::chat::ChatEncoder;
use trainers::data::encode::{PairEncoder, encode_example};
use trainers::data::tasks::{Example, Split, TaskSuite, data_root};

type B = Flex;
type AnyResult<T> = Result<T, Box<dyn Error>>;

/// Rows per forward pass.
const BATCH: usize = 8;
/// Longest tokenised row (prompt truncated from the left, as in training).
const MAX_LEN: usize = 512;

/// Scores of one condition on one task.
#[derive(Debug, Clone)]
struct Score {
    nll: f64,
    acc: Option<f64>,
}

impl Score {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({"nll": self.nll, "acc": self.acc})
    }
}

/// The answer choices of a row: option letters of a multiple-choice prompt (`A: ...` lines), or
/// the task's label set.
fn choices(kind: &str, row: &Example, labels: &[String]) -> Vec<String> {
    if kind == "multiple_choice" {
        row.input
            .lines()
            .filter_map(|l| {
                let b = l.as_bytes();
                (b.len() >= 3 && (b'A'..=b'J').contains(&b[0]) && &b[1..3] == b": ")
                    .then(|| (b[0] as char).to_string())
            })
            .collect()
    } else {
        labels.to_vec()
    }
}

/// First response token of `answer` to `input`.
fn first_token(enc: &ChatEncoder, input: &str, answer: &str) -> AnyResult<u32> {
    let (_, r) = enc.encode_pair(&Example {
        input: input.to_string(),
        output: answer.to_string(),
    })?;
    r.first()
        .copied()
        .ok_or_else(|| format!("`{answer}` encodes to no token").into())
}

/// Mean NLL and choice accuracy of `rows` under `adapters`.
fn score(
    llm: &Llama<B>,
    enc: &ChatEncoder,
    kind: &str,
    rows: &[Example],
    labels: &[String],
    adapters: Adapters<'_, B>,
) -> AnyResult<Score> {
    let device = llm.device();
    let vocab = llm.config().vocab_size;
    let (mut nll_sum, mut correct, mut scored) = (0.0, 0usize, 0usize);
    for chunk in rows.chunks(BATCH) {
        let samples = chunk
            .iter()
            .map(|r| encode_example(enc, r, MAX_LEN))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = collate(&samples, enc.pad_id(), 8, Weighting::PerSample);
        let h = llm.hidden(
            batch.ids_tensor::<B>(&device),
            Some(batch.attention_tensor::<B>(&device)),
            adapters,
            None,
            TrainOptions::default(),
        )?;
        let [b, s, d] = h.dims();
        let m = batch.target_positions.len();
        let predicting: Vec<i64> = batch
            .target_positions
            .iter()
            .map(|&p| p as i64 - 1)
            .collect();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(predicting, [m]), &device);
        let picked = h.reshape([b * s, d]).select(0, idx);
        let logits = llm.lm_head(picked.reshape([1, m, d])).reshape([m, vocab]);
        let logp = log_softmax(logits, 1)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| format!("{e:?}"))?;
        let mut per_row = vec![(0.0f64, 0usize, None::<usize>); chunk.len()];
        for (i, (&row, &id)) in batch.target_rows.iter().zip(&batch.target_ids).enumerate() {
            let e = &mut per_row[row];
            e.0 -= logp[i * vocab + id as usize] as f64;
            e.1 += 1;
            e.2.get_or_insert(i);
        }
        for (row, (sum, n, first)) in per_row.into_iter().enumerate() {
            nll_sum += sum / n.max(1) as f64;
            let options = choices(kind, &chunk[row], labels);
            let Some(first) = first else { continue };
            if options.len() < 2 || !options.contains(&chunk[row].output) {
                continue;
            }
            let mut best: Option<(f32, &String)> = None;
            for o in &options {
                let t = first_token(enc, &chunk[row].input, o)?;
                let lp = logp[first * vocab + t as usize];
                if best.is_none_or(|(b, _)| lp > b) {
                    best = Some((lp, o));
                }
            }
            scored += 1;
            if best.is_some_and(|(_, o)| *o == chunk[row].output) {
                correct += 1;
            }
        }
    }
    Ok(Score {
        nll: nll_sum / rows.len().max(1) as f64,
        acc: (scored > 0).then(|| correct as f64 / scored as f64),
    })
}

fn fmt_acc(a: Option<f64>) -> String {
    a.map_or("-".into(), |a| format!("{:.1}", 100.0 * a))
}

fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts: HashMap<&str, String> = HashMap::new();
    let mut flags = Vec::new();
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let name = k.strip_prefix("--").ok_or(format!("unexpected `{k}`"))?;
        if name == "control-random" {
            flags.push(name);
            continue;
        }
        let v = it.next().ok_or(format!("--{name} needs a value"))?;
        opts.insert(name, v.clone());
    }
    let get = |k: &str, d: &str| opts.get(k).cloned().unwrap_or_else(|| d.to_string());
    let checkpoint = PathBuf::from(
        opts.get("checkpoint")
            .ok_or("--checkpoint DIR is required")?,
    );
    let model = get(
        "model",
        "assets/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
    );
    let embedder = get("embedder", "assets/all-minilm-l6-v2");
    let skip: usize = get("skip", "12").parse()?;
    let limit: usize = get("limit", "24").parse()?;
    let n_desc: usize = get("n-desc", "3").parse()?;
    let root = match opts.get("data") {
        Some(d) => PathBuf::from(d),
        None => data_root()?,
    };

    let t0 = Instant::now();
    let device = Default::default();
    let bundle = ModelBundle::<B>::load(&model, &device)?;
    let llm = bundle.model;
    let enc = ChatEncoder::new(bundle.tokenizer)?;
    let pipeline = Pipeline::new(
        HyperModulator::<B>::open(&checkpoint, &device)?,
        BertEmbedder::<B>::load(std::path::Path::new(&embedder), &device)?,
    )?;
    let suite = TaskSuite::open(&root.join("tasks"))?;
    let names: Vec<String> = match opts.get("tasks") {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => suite.heldout_tasks().map(|t| t.name.clone()).collect(),
    };
    let random: Option<String> = if flags.contains(&"control-random") {
        let path = root.join("tasks").join("benchmarks.json");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        v["random_descriptions"][0].as_str().map(str::to_string)
    } else {
        None
    };

    let mut results = serde_json::Map::new();
    let mut table = vec![
        "| task | kind | rows | base NLL | T2L NLL | base acc % | T2L acc % |".to_string(),
        "|---|---|--:|--:|--:|--:|--:|".to_string(),
    ];
    if random.is_some() {
        table[0].push_str(" random-desc NLL | random-desc acc % |");
        table[1].push_str("--:|--:|");
    }
    let (mut base_nll, mut t2l_nll) = (Vec::new(), Vec::new());
    for name in &names {
        let info = suite.task(name)?;
        let test = suite.load(name, Split::Test)?;
        let rows: Vec<Example> = test.into_iter().skip(skip).take(limit).collect();
        if rows.is_empty() {
            eprintln!("{name}: no test rows after --skip {skip}");
            continue;
        }
        let mut labels: Vec<String> = Vec::new();
        if info.kind == "classification" {
            for r in suite.load(name, Split::Train)? {
                if !labels.contains(&r.output) {
                    labels.push(r.output);
                }
            }
            if labels.len() > 10 {
                labels.clear();
            }
        }
        let base = score(&llm, &enc, &info.kind, &rows, &labels, Adapters::None)?;
        let mut per_desc = Vec::new();
        for desc in info.eval_descriptions.iter().take(n_desc) {
            let adapter = pipeline.adapter(desc)?;
            per_desc.push(score(
                &llm,
                &enc,
                &info.kind,
                &rows,
                &labels,
                Adapters::Single(&adapter),
            )?);
        }
        let n = per_desc.len().max(1) as f64;
        let t2l = Score {
            nll: per_desc.iter().map(|s| s.nll).sum::<f64>() / n,
            acc: per_desc
                .iter()
                .map(|s| s.acc)
                .sum::<Option<f64>>()
                .map(|a| a / n),
        };
        let control = match &random {
            Some(d) => {
                let adapter = pipeline.adapter(d)?;
                Some(score(
                    &llm,
                    &enc,
                    &info.kind,
                    &rows,
                    &labels,
                    Adapters::Single(&adapter),
                )?)
            }
            None => None,
        };
        let mut line = format!(
            "| {name} | {} | {} | {:.4} | {:.4} | {} | {} |",
            info.kind,
            rows.len(),
            base.nll,
            t2l.nll,
            fmt_acc(base.acc),
            fmt_acc(t2l.acc)
        );
        if let Some(c) = &control {
            line.push_str(&format!(" {:.4} | {} |", c.nll, fmt_acc(c.acc)));
        }
        eprintln!("{line}   [{:.0} s]", t0.elapsed().as_secs_f64());
        table.push(line);
        base_nll.push(base.nll);
        t2l_nll.push(t2l.nll);
        results.insert(
            name.clone(),
            serde_json::json!({
                "kind": info.kind, "rows": rows.len(), "base": base.json(), "t2l_mean": t2l.json(),
                "t2l_per_description": per_desc.iter().map(Score::json).collect::<Vec<_>>(),
                "random_description": control.as_ref().map(Score::json),
            }),
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!("{}", table.join("\n"));
    println!(
        "mean NLL over {} tasks: base {:.4}, T2L {:.4}  ({:.0} s)",
        base_nll.len(),
        mean(&base_nll),
        mean(&t2l_nll),
        t0.elapsed().as_secs_f64()
    );
    if let Some(path) = opts.get("json") {
        let doc = serde_json::json!({
            "checkpoint": checkpoint, "model": model, "skip": skip, "limit": limit,
            "n_desc": n_desc, "tasks": results,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}
