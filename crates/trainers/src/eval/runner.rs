//! [`Evaluator`]: runs methods (base, task description, k-shot, a PEFT adapter, T2L adapters per
//! description set) over benchmarks under the chosen protocols and collects an [`EvalReport`].
//!
//! Everything is in a fixed order (methods, benchmarks, descriptions, examples in file order,
//! fixed batches), subsamples and description picks are seeded, so the same call gives the same
//! numbers. Adapters are merged into the base weights for their benchmark and unmerged after
//! (bit-exact restore), so the base rows are never affected by an adapter row.

use std::path::PathBuf;
use std::time::Instant;

use base_llm::Llama;
use burn::prelude::*;
use indicatif::ProgressBar;
use lora_core::LoraAdapter;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::error::Result;
use crate::eval::benchmark::{
    AnswerKind, Benchmark, BenchmarkSet, EvalExample, Gold, load_eval, load_split, subsample,
};
use crate::eval::cloze::{ClozeChoice, ClozePrompt, cloze_logprobs};
use crate::eval::code::run_tests;
use crate::eval::codec::EvalCodec;
use crate::eval::descriptions::{DescriptionSet, descriptions};
use crate::eval::protocol::{
    Protocol, argmax, choice_logprobs, generate_replies, judge_reply, user_turn,
};
use crate::eval::report::{EvalReport, ExampleRecord};
use crate::eval::sandbox::{Sandbox, SandboxConfig};

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Protocols to score with (loglik is skipped where it does not apply).
    pub protocols: Vec<Protocol>,
    /// Examples per benchmark: a seeded subsample (`None`: the whole split).
    pub limit: Option<usize>,
    /// Seed of subsamples, k-shot picks and the `other` descriptions.
    pub seed: u64,
    /// Prompts per forward batch (loglik: prompts, each with all its choices).
    pub batch_size: usize,
    /// Most generated tokens for choice and yes/no answers (the parser reads only the start).
    pub max_new_tokens: usize,
    /// Most generated tokens for GSM8K and code (the reference uses 512).
    pub max_new_tokens_long: usize,
    /// Generate protocol, choice benchmarks: stop a reply at the first token that contains an
    /// ASCII letter or digit. The reference's choice parser ([`crate::eval::parse::get_choice`])
    /// reads only the first character left after trimming whitespace and punctuation marks,
    /// which lies at or before that letter or digit, so the judgement equals that of the full
    /// reply (the recorded reply is shorter) and the decode steps after it are skipped. Off:
    /// every reply runs to `max_new_tokens` or a stop token.
    pub stop_at_choice: bool,
    /// Limits of the code sandbox.
    pub sandbox: SandboxConfig,
    /// How the cloze protocol shows contexts to the model (plain text or the chat template).
    pub cloze_prompt: ClozePrompt,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            protocols: vec![Protocol::Generate, Protocol::Loglik],
            limit: None,
            seed: 0,
            batch_size: 8,
            max_new_tokens: 16,
            max_new_tokens_long: 512,
            stop_at_choice: true,
            sandbox: SandboxConfig::default(),
            cloze_prompt: ClozePrompt::default(),
        }
    }
}

/// Makes the adapter of one description (a T2L checkpoint with its text embedder).
pub type AdapterFn<'a, B> = &'a dyn Fn(&str) -> Result<LoraAdapter<B>>;

/// A row of the results table.
pub enum Method<'a, B: Backend> {
    /// The base model, zero-shot.
    Base,
    /// The base model with the benchmark's first training description prepended to each prompt.
    TaskDescription,
    /// `k` in-context examples from the benchmark's train split (seeded pick; zero-shot for
    /// benchmarks without a train split, as the paper does for HumanEval).
    KShot(usize),
    /// A given adapter, merged.
    Adapter {
        /// Its label (e.g. the directory name).
        name: String,
        /// The adapter.
        adapter: &'a LoraAdapter<B>,
    },
    /// T2L: one adapter per description of the set, each merged in turn; accuracies averaged
    /// over the descriptions.
    T2l {
        /// The description set.
        set: DescriptionSet,
        /// Description → adapter.
        generate: AdapterFn<'a, B>,
    },
    /// One adapter per example, generated from the example's own prompt (the Listing-4 user
    /// turn) instead of a task description: the Hyperdecoders baseline (reference
    /// `--use_inp_as_desc`), for a hypernetwork trained with input conditioning. Each adapter is
    /// merged for its example only (examples are scored one at a time).
    InputConditioned {
        /// Its label (e.g. `Hyperdecoders-M`).
        name: String,
        /// Example prompt → adapter.
        generate: AdapterFn<'a, B>,
    },
}

impl<B: Backend> Method<'_, B> {
    /// The label of its table row.
    pub fn label(&self) -> String {
        match self {
            Method::Base => "base model".into(),
            Method::TaskDescription => "base + task description".into(),
            Method::KShot(k) => format!("{k}-shot ICL"),
            Method::Adapter { name, .. } => format!("adapter {name}"),
            Method::T2l { set, .. } => format!("T2L ({set} descriptions)"),
            Method::InputConditioned { name, .. } => format!("{name} (per-input adapters)"),
        }
    }
}

/// Runs evaluations on one base model.
pub struct Evaluator<'a, B: Backend> {
    model: &'a mut Llama<B>,
    codec: &'a dyn EvalCodec,
    data_root: PathBuf,
    options: EvalOptions,
    progress: ProgressBar,
    sandbox: Option<Sandbox>,
}

/// One unit of work: a benchmark's examples under one prompt context and one adapter.
struct Job<'s> {
    method: String,
    set: &'s BenchmarkSet,
    /// What goes before the Listing-4 prompt (generate, loglik).
    context: String,
    /// What goes before the cloze contexts (k-shot examples in cloze form).
    cloze_context: String,
    description: Option<String>,
}

impl<'a, B: Backend> Evaluator<'a, B> {
    /// An evaluator over `model` with its tokenizer; benchmarks are read from
    /// `data_root/benchmarks/` and descriptions from `data_root/tasks/benchmarks.json`.
    pub fn new(
        model: &'a mut Llama<B>,
        codec: &'a dyn EvalCodec,
        data_root: PathBuf,
        options: EvalOptions,
    ) -> Self {
        Self {
            model,
            codec,
            data_root,
            options,
            progress: ProgressBar::hidden(),
            sandbox: None,
        }
    }

    /// Shows progress on `bar` (its length is set by [`Self::run`]).
    pub fn with_progress(mut self, bar: ProgressBar) -> Self {
        self.progress = bar;
        self
    }

    /// Evaluates every method on every benchmark. `model_name` is recorded in the report.
    pub fn run(
        &mut self,
        model_name: &str,
        benchmarks: &[Benchmark],
        methods: &[Method<'_, B>],
    ) -> Result<EvalReport> {
        let start = Instant::now();
        let tasks_dir = self.data_root.join("tasks");
        let mut sets = Vec::with_capacity(benchmarks.len());
        for &b in benchmarks {
            let mut set = load_eval(&self.data_root, b)?;
            let keep = subsample(set.examples.len(), self.options.limit, self.options.seed);
            set.examples = keep.into_iter().map(|i| set.examples[i].clone()).collect();
            sets.push(set);
        }
        if benchmarks
            .iter()
            .any(|b| b.answer_kind() == AnswerKind::Code)
            && self.sandbox.is_none()
        {
            self.sandbox = Some(Sandbox::new(self.options.sandbox.clone())?);
        }
        // Work list, fixed order.
        let mut total = 0u64;
        let mut plan: Vec<(usize, usize, Option<String>)> = Vec::new(); // (method, set, description)
        for (mi, m) in methods.iter().enumerate() {
            for (si, set) in sets.iter().enumerate() {
                let descs: Vec<Option<String>> = match m {
                    Method::T2l { set: ds, .. } => {
                        descriptions(&tasks_dir, set.benchmark, *ds, self.options.seed)?
                            .into_iter()
                            .map(Some)
                            .collect()
                    }
                    _ => vec![None],
                };
                let protocols = self.protocols_for(set.benchmark).len() as u64;
                for d in descs {
                    total += protocols * set.examples.len() as u64;
                    plan.push((mi, si, d));
                }
            }
        }
        self.progress.set_length(total);
        self.progress.reset_eta();

        let mut records = Vec::new();
        for (mi, si, description) in plan {
            let method = &methods[mi];
            let set = &sets[si];
            let (context, cloze_context) = match method {
                Method::TaskDescription => {
                    let d = descriptions(&tasks_dir, set.benchmark, DescriptionSet::Train, 0)?
                        .remove(0);
                    (d.clone(), d)
                }
                Method::KShot(k) => self.shots(set.benchmark, *k)?,
                _ => (String::new(), String::new()),
            };
            if let Method::InputConditioned { generate, .. } = method {
                for example in &set.examples {
                    let one = BenchmarkSet {
                        benchmark: set.benchmark,
                        split: set.split.clone(),
                        examples: vec![example.clone()],
                        skipped: 0,
                    };
                    let job = Job {
                        method: method.label(),
                        set: &one,
                        context: String::new(),
                        cloze_context: String::new(),
                        description: None,
                    };
                    self.run_merged(&generate(&example.prompt)?, &job, &mut records)?;
                }
                continue;
            }
            let job = Job {
                method: method.label(),
                set,
                context,
                cloze_context,
                description: description.clone(),
            };
            let adapter = match (method, &description) {
                (Method::Adapter { adapter, .. }, _) => Some(std::borrow::Cow::Borrowed(*adapter)),
                (Method::T2l { generate, .. }, Some(d)) => {
                    Some(std::borrow::Cow::Owned(generate(d)?))
                }
                _ => None,
            };
            match adapter {
                Some(a) => self.run_merged(&a, &job, &mut records)?,
                None => self.run_job(&job, &mut records)?,
            }
        }
        self.progress.finish();
        let labels: Vec<String> = methods.iter().map(Method::label).collect();
        Ok(EvalReport {
            seed: self.options.seed,
            limit: self.options.limit,
            sandbox: self.sandbox.as_ref().map(Sandbox::isolation),
            seconds: start.elapsed().as_secs_f64(),
            ..EvalReport::from_records(
                model_name,
                records,
                labels,
                benchmarks.to_vec(),
                self.options.protocols.clone(),
            )
        })
    }

    /// Runs `job` with `adapter` merged, unmerging it afterwards also when the job fails.
    fn run_merged(
        &mut self,
        adapter: &LoraAdapter<B>,
        job: &Job<'_>,
        records: &mut Vec<ExampleRecord>,
    ) -> Result<()> {
        self.model.merge_adapter(adapter)?;
        let result = self.run_job(job, records);
        self.model.unmerge_adapter()?;
        result
    }

    /// The protocols that apply to a benchmark.
    fn protocols_for(&self, b: Benchmark) -> Vec<Protocol> {
        self.options
            .protocols
            .iter()
            .copied()
            .filter(|&p| p == Protocol::Generate || b.has_choices())
            .collect()
    }

    /// `k` seeded train examples, joined by blank lines: for generate/loglik each
    /// `prompt\n\nAnswer: answer`; for cloze each `context continuation` of its gold choice.
    fn shots(&self, b: Benchmark, k: usize) -> Result<(String, String)> {
        if k == 0 || b.answer_kind() == AnswerKind::Code {
            return Ok((String::new(), String::new()));
        }
        let train = load_split(&self.data_root, b, "train")?;
        let mut rng = StdRng::seed_from_u64(self.options.seed);
        let n = k.min(train.examples.len());
        let mut picked = rand::seq::index::sample(&mut rng, train.examples.len(), n).into_vec();
        picked.sort_unstable();
        let examples: Vec<&EvalExample> = picked.into_iter().map(|i| &train.examples[i]).collect();
        let listing4 = examples
            .iter()
            .map(|ex| format!("{}\n\nAnswer: {}", ex.prompt, answer_text(ex)))
            .collect::<Vec<_>>()
            .join("\n\n");
        let cloze = examples
            .iter()
            .filter_map(|ex| match ex.gold {
                Gold::Choice(g) => ex
                    .cloze
                    .get(g)
                    .map(|c| format!("{} {}", c.context, c.continuation)),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n\n");
        Ok((listing4, cloze))
    }

    fn run_job(&mut self, job: &Job<'_>, records: &mut Vec<ExampleRecord>) -> Result<()> {
        let b = job.set.benchmark;
        let bs = self.options.batch_size.max(1);
        for protocol in self.protocols_for(b) {
            for chunk in job.set.examples.chunks(bs) {
                let users: Vec<String> = chunk
                    .iter()
                    .map(|e| user_turn(&job.context, &e.prompt))
                    .collect();
                let record = |e: &EvalExample, prompt_tokens| ExampleRecord {
                    method: job.method.clone(),
                    benchmark: b,
                    protocol,
                    description: job.description.clone(),
                    row: e.row,
                    prompt_tokens,
                    reply: None,
                    choice_logprobs: None,
                    choice_chars: None,
                    correct_sum: None,
                    prediction: None,
                    gold: answer_text(e),
                    correct: false,
                    sandbox: None,
                };
                match protocol {
                    Protocol::Loglik => {
                        let choices: Vec<&[String]> =
                            chunk.iter().map(|e| e.choices.as_slice()).collect();
                        let scored = choice_logprobs(self.model, self.codec, &users, &choices)?;
                        for (e, (len, lp)) in chunk.iter().zip(scored) {
                            let k = argmax(&lp);
                            let mut r = record(e, len);
                            r.correct = e.gold == Gold::Choice(k);
                            r.prediction = Some(e.choices[k].clone());
                            r.choice_logprobs = Some(lp);
                            records.push(r);
                        }
                    }
                    Protocol::Cloze => {
                        let choices: Vec<&[ClozeChoice]> =
                            chunk.iter().map(|e| e.cloze.as_slice()).collect();
                        let conditions = vec![job.cloze_context.as_str(); chunk.len()];
                        let scored = cloze_logprobs(
                            self.model,
                            self.codec,
                            self.options.cloze_prompt,
                            &conditions,
                            &choices,
                        )?;
                        for (e, sc) in chunk.iter().zip(scored) {
                            let k = argmax(&sc.per_char());
                            let k_sum = argmax(&sc.sums);
                            let mut r = record(e, sc.prompt_tokens);
                            r.correct = e.gold == Gold::Choice(k);
                            r.correct_sum = Some(e.gold == Gold::Choice(k_sum));
                            r.prediction = e.choices.get(k).cloned();
                            r.choice_logprobs = Some(sc.sums);
                            r.choice_chars = Some(sc.chars);
                            records.push(r);
                        }
                    }
                    Protocol::Generate => {
                        let (max_new, stops) = match b.answer_kind() {
                            AnswerKind::Code => {
                                (self.options.max_new_tokens_long, vec!["```".to_string()])
                            }
                            AnswerKind::Number => (self.options.max_new_tokens_long, Vec::new()),
                            AnswerKind::Choice if self.options.stop_at_choice => {
                                (self.options.max_new_tokens, choice_stop_strings())
                            }
                            _ => (self.options.max_new_tokens, Vec::new()),
                        };
                        let replies = generate_replies(
                            self.model,
                            self.codec,
                            &users,
                            b.prefill(),
                            max_new,
                            &stops,
                        )?;
                        for (e, reply) in chunk.iter().zip(replies) {
                            let mut r = record(e, reply.prompt_tokens);
                            match (&e.gold, &self.sandbox) {
                                (Gold::Code(task), Some(sandbox)) => {
                                    let outcome = run_tests(sandbox, &reply.text, task)?;
                                    r.correct = outcome.verdict.passed();
                                    r.sandbox = Some(outcome.verdict);
                                }
                                _ => {
                                    let (prediction, correct) = judge_reply(b, e, &reply.text);
                                    r.prediction = prediction;
                                    r.correct = correct;
                                }
                            }
                            r.reply = Some(reply.text);
                            records.push(r);
                        }
                    }
                }
                self.progress.inc(chunk.len() as u64);
            }
        }
        Ok(())
    }
}

/// The stop strings of [`EvalOptions::stop_at_choice`]: every ASCII letter and digit.
fn choice_stop_strings() -> Vec<String> {
    ('a'..='z')
        .chain('A'..='Z')
        .chain('0'..='9')
        .map(String::from)
        .collect()
}

/// The answer as shown to the model (k-shot) and recorded as gold: the label for choices, the
/// full solution for GSM8K, empty for code.
fn answer_text(e: &EvalExample) -> String {
    match &e.gold {
        Gold::Choice(k) => e.choices.get(*k).cloned().unwrap_or_default(),
        _ => e.gold_text.clone(),
    }
}
