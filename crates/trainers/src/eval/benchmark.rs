//! The ten evaluation benchmarks: names, evaluation splits, the paper's prompt templates
//! (Listing 4; the reference's `vllm_eval.py`), gold answers, and seeded subsamples.
//!
//! Rows are read from `DATA/benchmarks/NAME.SPLIT.jsonl.gz` (Hugging Face row schemas) and
//! formatted with [`crate::data::benchmarks::format_row`], the same `str.format` substitution the
//! SFT data uses; only the templates differ (the evaluation templates of the reference, not T2L's
//! training templates in `benchmarks.json`). HumanEval and MBPP use T2L's code templates from
//! `benchmarks.json` with the ```` ```python ```` response prefill (paper App. E.1.2).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::benchmarks::{BenchmarkTemplate, benchmark_template, format_row};
use crate::data::tasks::read_jsonl_gz;
use crate::error::{Error, Result};
use crate::eval::cloze::{ClozeChoice, cloze_choices};
use crate::eval::parse::gsm8k_number;

/// One of the paper's ten benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Benchmark {
    /// AI2 ARC, challenge set (test split).
    ArcChallenge,
    /// AI2 ARC, easy set (test split).
    ArcEasy,
    /// BoolQ (validation split).
    Boolq,
    /// GSM8K (test split), chain-of-thought prefill.
    Gsm8k,
    /// HellaSwag (validation split).
    Hellaswag,
    /// OpenBookQA (test split).
    Openbookqa,
    /// PIQA (validation split).
    Piqa,
    /// WinoGrande, debiased (validation split).
    Winogrande,
    /// HumanEval (test split), executed tests.
    Humaneval,
    /// MBPP (test split), executed tests.
    Mbpp,
}

/// How a benchmark's answers are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// A choice label (letter or number) at the start of the reply.
    Choice,
    /// A yes/no answer, matched flexibly.
    Boolean,
    /// The last number of the reply.
    Number,
    /// Python code whose tests must pass.
    Code,
}

const ARC_TEMPLATE: &str = "Answer the question below by choosing the correct choice.\n\n{question}\n\n{choices[label][0]}: {choices[text][0]}\n{choices[label][1]}: {choices[text][1]}\n{choices[label][2]}: {choices[text][2]}\n{choices[label][3]}: {choices[text][3]}\n\nYou must respond with the letter corresponding to the correct choice without any explanation.";
const OQA_TEMPLATE: &str = "Complete the following passage or answer the question by choosing the correct choice.\n\n{question_stem}\n\n{choices[label][0]}: {choices[text][0]}\n{choices[label][1]}: {choices[text][1]}\n{choices[label][2]}: {choices[text][2]}\n{choices[label][3]}: {choices[text][3]}\n\nYou must respond with the letter corresponding to the correct choice (A,B,C,D) without any explanation.";
const HSWAG_TEMPLATE: &str = "You are provided with an incomplete passage below as well as 4 choices of continuation with only one of them being the correct ending. Treat the endings as being labelled 0, 1, 2, 3 in order.\n\nPassage: {ctx}\n\n0: {endings[0]}\n1: {endings[1]}\n2: {endings[2]}\n3: {endings[3]}\n\nYou must respond with the only number corresponding to the correct ending (0,1,2,3) for the passage without any explanation.";
const PIQA_TEMPLATE: &str = "Choose the option that either answers the question, completes the sentence, or solves the problem. Pay attention to the properties of the objects in the question and how they interact with each other. If both options are correct, choose the one that is more convenient or more common.\n\n\"\"\"{goal}\"\"\"\n\n0: {sol1}\n1: {sol2}\n\nYou must respond with either `0` or `1` without any explanation.";
const WINOGRANDE_TEMPLATE: &str = "Given the following situation:\n\n{sentence}\n\nWhich option is correct?\n\nOption 1: {option1}\n\nOption 2: {option2}\n\nYou must respond with either `1` or `2` without any explanation.";
const BOOLQ_TEMPLATE: &str = "{passage}\n\nQuestion: {question}?\n\nPlease answer with either `true` or `false` without any explanation.";
const GSM8K_TEMPLATE: &str = "Please answer the following question: {question}\n\n";
/// The reference's GSM8K response prefill (no trailing space).
pub const GSM8K_PREFILL: &str = "Let's think step by step.";
/// The code benchmarks' response prefill.
pub const CODE_PREFILL: &str = "```python\n";

impl Benchmark {
    /// All ten, in the paper's table order.
    pub const ALL: [Benchmark; 10] = [
        Benchmark::ArcChallenge,
        Benchmark::ArcEasy,
        Benchmark::Boolq,
        Benchmark::Gsm8k,
        Benchmark::Hellaswag,
        Benchmark::Openbookqa,
        Benchmark::Piqa,
        Benchmark::Winogrande,
        Benchmark::Humaneval,
        Benchmark::Mbpp,
    ];

    /// The file-name stem (`arc_easy`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Benchmark::ArcChallenge => "arc_challenge",
            Benchmark::ArcEasy => "arc_easy",
            Benchmark::Boolq => "boolq",
            Benchmark::Gsm8k => "gsm8k",
            Benchmark::Hellaswag => "hellaswag",
            Benchmark::Openbookqa => "openbookqa",
            Benchmark::Piqa => "piqa",
            Benchmark::Winogrande => "winogrande",
            Benchmark::Humaneval => "humaneval",
            Benchmark::Mbpp => "mbpp",
        }
    }

    /// The column title of the results table (the paper's abbreviations).
    pub fn title(self) -> &'static str {
        match self {
            Benchmark::ArcChallenge => "ArcC",
            Benchmark::ArcEasy => "ArcE",
            Benchmark::Boolq => "BQ",
            Benchmark::Gsm8k => "GSM8K",
            Benchmark::Hellaswag => "HS",
            Benchmark::Openbookqa => "OQA",
            Benchmark::Piqa => "PIQA",
            Benchmark::Winogrande => "WG",
            Benchmark::Humaneval => "HE",
            Benchmark::Mbpp => "MBPP",
        }
    }

    /// The split the paper evaluates on.
    pub fn eval_split(self) -> &'static str {
        match self {
            Benchmark::ArcChallenge
            | Benchmark::ArcEasy
            | Benchmark::Gsm8k
            | Benchmark::Openbookqa
            | Benchmark::Humaneval
            | Benchmark::Mbpp => "test",
            Benchmark::Boolq | Benchmark::Hellaswag | Benchmark::Piqa | Benchmark::Winogrande => {
                "validation"
            }
        }
    }

    /// How answers are checked.
    pub fn answer_kind(self) -> AnswerKind {
        match self {
            Benchmark::Boolq => AnswerKind::Boolean,
            Benchmark::Gsm8k => AnswerKind::Number,
            Benchmark::Humaneval | Benchmark::Mbpp => AnswerKind::Code,
            _ => AnswerKind::Choice,
        }
    }

    /// Whether the log-likelihood protocol applies (a closed set of answers).
    pub fn has_choices(self) -> bool {
        matches!(self.answer_kind(), AnswerKind::Choice | AnswerKind::Boolean)
    }

    /// Text the assistant turn starts with.
    pub fn prefill(self) -> &'static str {
        match self.answer_kind() {
            AnswerKind::Number => GSM8K_PREFILL,
            AnswerKind::Code => CODE_PREFILL,
            _ => "",
        }
    }

    /// The user-turn template of the question-answering benchmarks (paper Listing 4); `None` for
    /// the code benchmarks, whose templates come from `benchmarks.json`.
    pub fn qa_template(self) -> Option<&'static str> {
        Some(match self {
            Benchmark::ArcChallenge | Benchmark::ArcEasy => ARC_TEMPLATE,
            Benchmark::Openbookqa => OQA_TEMPLATE,
            Benchmark::Hellaswag => HSWAG_TEMPLATE,
            Benchmark::Piqa => PIQA_TEMPLATE,
            Benchmark::Winogrande => WINOGRANDE_TEMPLATE,
            Benchmark::Boolq => BOOLQ_TEMPLATE,
            Benchmark::Gsm8k => GSM8K_TEMPLATE,
            Benchmark::Humaneval | Benchmark::Mbpp => return None,
        })
    }

    /// Parses a comma-separated list (`arc_easy,boolq`; `all` = every benchmark), keeping the
    /// given order and dropping repeats.
    pub fn parse_list(list: &str) -> Result<Vec<Benchmark>> {
        let mut out = Vec::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let add: Vec<Benchmark> = if name == "all" {
                Self::ALL.to_vec()
            } else {
                vec![name.parse()?]
            };
            for b in add {
                if !out.contains(&b) {
                    out.push(b);
                }
            }
        }
        if out.is_empty() {
            return Err(Error::config("benchmarks", "no benchmark named"));
        }
        Ok(out)
    }
}

impl fmt::Display for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Benchmark {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|b| b.name()).collect();
                Error::config(
                    "benchmarks",
                    format!("unknown benchmark `{s}` (known: {})", names.join(", ")),
                )
            })
    }
}

/// What a correct answer is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gold {
    /// Index into [`EvalExample::choices`].
    Choice(usize),
    /// GSM8K's final number.
    Number(f64),
    /// A program's tests (see [`crate::eval::code`]).
    Code(CodeTask),
}

/// The tests of one code problem.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeTask {
    /// Code run after the solution (HumanEval's `check` function and its call; MBPP's setup
    /// code and assertions).
    pub test: String,
    /// HumanEval's function name (`None` for MBPP).
    pub entry_point: Option<String>,
    /// HumanEval's prompt (signature + docstring), used when a reply gives only a body.
    pub prompt_code: Option<String>,
}

/// One formatted evaluation example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalExample {
    /// 0-based row index in the split file.
    pub row: usize,
    /// The user turn (template filled in).
    pub prompt: String,
    /// The answer as the reference's scorers see it (`"A"`, `"3"`, `"True"`, `"18"`).
    pub gold_text: String,
    /// The answers the log-likelihood protocol scores (labels: `A`…`D`, `0`/`1`, `true`/`false`);
    /// empty for GSM8K and code.
    pub choices: Vec<String>,
    /// The choices of the cloze protocol ([`crate::eval::cloze`]), in the order of
    /// [`Self::choices`]; empty for GSM8K and code.
    pub cloze: Vec<ClozeChoice>,
    /// The correct answer.
    pub gold: Gold,
}

/// A benchmark's formatted evaluation (or train) rows.
#[derive(Debug, Clone)]
pub struct BenchmarkSet {
    /// Which benchmark.
    pub benchmark: Benchmark,
    /// Which split was read.
    pub split: String,
    /// Rows that fit the template, in file order.
    pub examples: Vec<EvalExample>,
    /// Rows skipped because the template does not fit them (ARC rows with 3 or 5 choices).
    pub skipped: usize,
}

/// The split file of a benchmark.
pub fn split_path(data_root: &Path, benchmark: Benchmark, split: &str) -> std::path::PathBuf {
    data_root
        .join("benchmarks")
        .join(format!("{}.{split}.jsonl.gz", benchmark.name()))
}

/// Loads and formats `split` of `benchmark` from `data_root/benchmarks/` (`tasks/benchmarks.json`
/// supplies the code templates).
pub fn load_split(data_root: &Path, benchmark: Benchmark, split: &str) -> Result<BenchmarkSet> {
    let path = split_path(data_root, benchmark, split);
    if !path.is_file() {
        return Err(Error::data(
            path.display().to_string(),
            format!("benchmark `{benchmark}` has no `{split}` split here"),
        ));
    }
    let rows: Vec<Value> = read_jsonl_gz(&path)?;
    let code_template = match benchmark.answer_kind() {
        AnswerKind::Code => Some(benchmark_template(
            &data_root.join("tasks"),
            benchmark.name(),
        )?),
        _ => None,
    };
    let mut examples = Vec::with_capacity(rows.len());
    let mut skipped = 0;
    for (i, row) in rows.iter().enumerate() {
        let at = format!("{}:{}", path.display(), i + 1);
        let ex = match &code_template {
            Some(t) => Some(code_example(benchmark, t, row, i, &at)?),
            None => qa_example(benchmark, row, i, &at)?,
        };
        match ex {
            Some(ex) => examples.push(ex),
            None => skipped += 1,
        }
    }
    Ok(BenchmarkSet {
        benchmark,
        split: split.to_string(),
        examples,
        skipped,
    })
}

/// The evaluation split of a benchmark (the paper's).
pub fn load_eval(data_root: &Path, benchmark: Benchmark) -> Result<BenchmarkSet> {
    load_split(data_root, benchmark, benchmark.eval_split())
}

fn str_field<'a>(row: &'a Value, field: &str, at: &str) -> Result<&'a str> {
    row.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::data(at, format!("no string field `{field}`")))
}

/// The answer field as Python's `str()` writes it.
fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

fn qa_example(
    benchmark: Benchmark,
    row: &Value,
    i: usize,
    at: &str,
) -> Result<Option<EvalExample>> {
    let template = BenchmarkTemplate {
        user_template: benchmark.qa_template().unwrap_or_default().to_string(),
        response_field: answer_field(benchmark).to_string(),
        assistant_prefill: String::new(),
        descriptions: Vec::new(),
        eval_descriptions: Vec::new(),
    };
    let Some(formatted) = format_row(&template, row, at)? else {
        return Ok(None);
    };
    let answer = row
        .get(answer_field(benchmark))
        .ok_or_else(|| Error::data(at, format!("no field `{}`", answer_field(benchmark))))?;
    let gold_text = python_str(answer);
    let (choices, gold) = match benchmark {
        Benchmark::Gsm8k => {
            let n = gsm8k_number(&gold_text)
                .ok_or_else(|| Error::data(at, "GSM8K answer has no number"))?;
            (Vec::new(), Gold::Number(n.trunc()))
        }
        Benchmark::Boolq => {
            let b = answer
                .as_bool()
                .ok_or_else(|| Error::data(at, "BoolQ `answer` is not a boolean"))?;
            (
                vec!["true".to_string(), "false".to_string()],
                Gold::Choice(usize::from(!b)),
            )
        }
        _ => {
            let labels = choice_labels(benchmark, row, at)?;
            let k = labels.iter().position(|l| *l == gold_text).ok_or_else(|| {
                Error::data(at, format!("answer `{gold_text}` is not among {labels:?}"))
            })?;
            (labels, Gold::Choice(k))
        }
    };
    let cloze = cloze_choices(benchmark, row, at)?;
    Ok(Some(EvalExample {
        row: i,
        prompt: formatted.input,
        gold_text,
        choices,
        cloze,
        gold,
    }))
}

fn answer_field(benchmark: Benchmark) -> &'static str {
    match benchmark {
        Benchmark::ArcChallenge | Benchmark::ArcEasy | Benchmark::Openbookqa => "answerKey",
        Benchmark::Hellaswag | Benchmark::Piqa => "label",
        Benchmark::Boolq | Benchmark::Gsm8k | Benchmark::Winogrande => "answer",
        Benchmark::Humaneval => "canonical_solution",
        Benchmark::Mbpp => "code",
    }
}

/// The labels the template shows, in order.
fn choice_labels(benchmark: Benchmark, row: &Value, at: &str) -> Result<Vec<String>> {
    Ok(match benchmark {
        Benchmark::ArcChallenge | Benchmark::ArcEasy | Benchmark::Openbookqa => row
            .pointer("/choices/label")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::data(at, "no `choices.label` list"))?
            .iter()
            .map(python_str)
            .collect(),
        Benchmark::Hellaswag => (0..4).map(|k| k.to_string()).collect(),
        Benchmark::Piqa => vec!["0".into(), "1".into()],
        Benchmark::Winogrande => vec!["1".into(), "2".into()],
        _ => Vec::new(),
    })
}

fn code_example(
    benchmark: Benchmark,
    template: &BenchmarkTemplate,
    row: &Value,
    i: usize,
    at: &str,
) -> Result<EvalExample> {
    let (fill, task) = match benchmark {
        Benchmark::Humaneval => {
            let prompt = str_field(row, "prompt", at)?;
            let entry = str_field(row, "entry_point", at)?;
            let test = str_field(row, "test", at)?;
            (
                serde_json::json!({ "prompt": prompt }),
                CodeTask {
                    test: format!("{test}\n\ncheck({entry})\n"),
                    entry_point: Some(entry.to_string()),
                    prompt_code: Some(prompt.to_string()),
                },
            )
        }
        _ => {
            let text = str_field(row, "text", at)?;
            let tests: Vec<&str> = row
                .get("test_list")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::data(at, "no `test_list`"))?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let setup = row
                .get("test_setup_code")
                .and_then(Value::as_str)
                .unwrap_or("");
            (
                serde_json::json!({ "prompt": text, "assertions": tests.join("\n") }),
                CodeTask {
                    test: format!("{setup}\n{}\n", tests.join("\n")),
                    entry_point: None,
                    prompt_code: None,
                },
            )
        }
    };
    let t = BenchmarkTemplate {
        response_field: "prompt".into(),
        ..template.clone()
    };
    let formatted = format_row(&t, &fill, at)?
        .ok_or_else(|| Error::data(at, "the code template does not fit the row"))?;
    Ok(EvalExample {
        row: i,
        prompt: formatted.input,
        gold_text: String::new(),
        choices: Vec::new(),
        cloze: Vec::new(),
        gold: Gold::Code(task),
    })
}

/// A seeded subsample of `n` indices out of `len` (all when `limit` is `None` or ≥ `len`),
/// returned in ascending order so that the same seed always yields the same examples in the same
/// order.
pub fn subsample(len: usize, limit: Option<usize>, seed: u64) -> Vec<usize> {
    match limit {
        Some(n) if n < len => {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut idx = rand::seq::index::sample(&mut rng, len, n).into_vec();
            idx.sort_unstable();
            idx
        }
        _ => (0..len).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_lists() {
        for b in Benchmark::ALL {
            assert_eq!(b.name().parse::<Benchmark>().unwrap(), b);
        }
        let l = Benchmark::parse_list("boolq, arc_easy,boolq").unwrap();
        assert_eq!(l, vec![Benchmark::Boolq, Benchmark::ArcEasy]);
        assert_eq!(Benchmark::parse_list("all").unwrap().len(), 10);
        let e = Benchmark::parse_list("arc_esay").unwrap_err().to_string();
        assert!(e.contains("arc_esay") && e.contains("arc_easy"), "{e}");
    }

    #[test]
    fn subsample_is_seeded_sorted_and_bounded() {
        let a = subsample(100, Some(10), 7);
        assert_eq!(a, subsample(100, Some(10), 7));
        assert_ne!(a, subsample(100, Some(10), 8));
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.len() == 10);
        assert_eq!(subsample(5, Some(10), 0), vec![0, 1, 2, 3, 4]);
        assert_eq!(subsample(3, None, 0), vec![0, 1, 2]);
    }
}
