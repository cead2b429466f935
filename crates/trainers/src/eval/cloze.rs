//! The choice-text log-likelihood protocol ([`crate::eval::protocol::Protocol::Cloze`]), in the
//! style of EleutherAI's lm-evaluation-harness: every choice's *text* is scored as the
//! continuation of a short context that does not list the choices, and the choice with the
//! highest log-probability per character wins (lm-eval's `acc_norm`); the plain sum (`acc`) is
//! kept as a second number.
//!
//! Contexts and continuations are lm-eval's task definitions (`arc_easy.yaml`, `piqa.yaml`, ...):
//!
//! | benchmark | context | continuations |
//! |---|---|---|
//! | ARC-C/E | `Question: {question}\nAnswer:` | the choice texts |
//! | OpenBookQA | `{question_stem}` | the choice texts |
//! | PIQA | `Question: {goal}\nAnswer:` | `sol1`, `sol2` |
//! | HellaSwag | `preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize())` | `preprocess(ending)` |
//! | BoolQ | `{passage}\nQuestion: {question}?\nAnswer:` | `yes`, `no` |
//! | WinoGrande | the sentence up to `_` with each option substituted (one context per choice) | the shared rest of the sentence (partial scoring) |
//!
//! How the text reaches the model is a [`ClozePrompt`]: plain text with a `" "` between context
//! and continuation (lm-eval's default, [`ClozePrompt::Raw`]), or the context as the user turn
//! of the chat template and the continuation as the start of the assistant's reply
//! ([`ClozePrompt::Chat`]).

use std::fmt;
use std::str::FromStr;

use base_llm::{Adapters, Llama};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::eval::benchmark::Benchmark;
use crate::eval::codec::EvalCodec;
use crate::eval::protocol::user_turn;

/// One choice of the cloze protocol: the text the model conditions on and the text it is scored
/// on. For WinoGrande the contexts differ per choice and the continuation is shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClozeChoice {
    /// What the model conditions on (before any condition's context).
    pub context: String,
    /// What is scored (without the `" "` delimiter of [`ClozePrompt::Raw`]).
    pub continuation: String,
}

/// How contexts and continuations are put in front of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClozePrompt {
    /// Plain text, `context + " " + continuation`, no chat template (lm-eval's default).
    #[default]
    Raw,
    /// The context as the user turn of the chat template, the continuation as the beginning of
    /// the assistant's reply.
    Chat,
}

impl ClozePrompt {
    /// `raw` or `chat`.
    pub fn name(self) -> &'static str {
        match self {
            ClozePrompt::Raw => "raw",
            ClozePrompt::Chat => "chat",
        }
    }
}

impl fmt::Display for ClozePrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ClozePrompt {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "raw" => Ok(ClozePrompt::Raw),
            "chat" => Ok(ClozePrompt::Chat),
            other => Err(Error::config(
                "cloze_prompt",
                format!("unknown cloze prompt `{other}` (expected raw or chat)"),
            )),
        }
    }
}

/// The cloze scores of one example's choices.
#[derive(Debug, Clone, PartialEq)]
pub struct ClozeScores {
    /// Context tokens of the first choice (condition and chat template included).
    pub prompt_tokens: usize,
    /// `Σ log p` of each choice's continuation tokens.
    pub sums: Vec<f64>,
    /// Characters (Unicode scalar values, as Python's `len`) of each continuation.
    pub chars: Vec<usize>,
}

impl ClozeScores {
    /// Log-probability per character of each choice (lm-eval's `acc_norm` criterion).
    pub fn per_char(&self) -> Vec<f64> {
        self.sums
            .iter()
            .zip(&self.chars)
            .map(|(&s, &c)| per_char(s, c))
            .collect()
    }
}

/// `sum / chars` (`sum` itself for an empty text).
///
/// ```
/// // "Paris" (5 characters) at -2.5 beats "Lyon" (4) at -2.4 once normalised: -0.5 > -0.6.
/// use trainers::eval::cloze::per_char;
/// assert_eq!(per_char(-2.5, 5), -0.5);
/// assert!(per_char(-2.5, 5) > per_char(-2.4, 4));
/// ```
pub fn per_char(sum: f64, chars: usize) -> f64 {
    if chars == 0 { sum } else { sum / chars as f64 }
}

/// The cloze choices of one benchmark row, in the order of the row's answer labels (so
/// [`crate::eval::benchmark::Gold::Choice`] indexes both); empty for GSM8K and code.
pub fn cloze_choices(benchmark: Benchmark, row: &Value, at: &str) -> Result<Vec<ClozeChoice>> {
    let s = |field: &str| -> Result<&str> {
        row.get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| Error::data(at, format!("no string field `{field}`")))
    };
    let shared = |context: String, conts: Vec<String>| {
        conts
            .into_iter()
            .map(|continuation| ClozeChoice {
                context: context.clone(),
                continuation,
            })
            .collect()
    };
    let texts = || -> Result<Vec<String>> {
        Ok(row
            .pointer("/choices/text")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::data(at, "no `choices.text` list"))?
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect())
    };
    Ok(match benchmark {
        Benchmark::ArcChallenge | Benchmark::ArcEasy => {
            shared(format!("Question: {}\nAnswer:", s("question")?), texts()?)
        }
        Benchmark::Openbookqa => shared(s("question_stem")?.to_string(), texts()?),
        Benchmark::Piqa => shared(
            format!("Question: {}\nAnswer:", s("goal")?),
            vec![s("sol1")?.to_string(), s("sol2")?.to_string()],
        ),
        Benchmark::Hellaswag => {
            // The validation split has lm-eval's fields; the train split (k-shot examples) has
            // only `ctx`, already `activity_label: ctx_a Ctx_b`.
            let context = match (row.get("activity_label"), row.get("ctx_a")) {
                (Some(_), Some(_)) => format!(
                    "{}: {} {}",
                    s("activity_label")?,
                    s("ctx_a")?,
                    python_capitalize(s("ctx_b")?)
                ),
                _ => s("ctx")?.to_string(),
            };
            let endings = row
                .get("endings")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::data(at, "no `endings` list"))?
                .iter()
                .map(|v| hellaswag_preprocess(v.as_str().unwrap_or_default()))
                .collect();
            shared(hellaswag_preprocess(&context), endings)
        }
        Benchmark::Boolq => shared(
            format!("{}\nQuestion: {}?\nAnswer:", s("passage")?, s("question")?),
            // The order of the labels `true`, `false`.
            vec!["yes".into(), "no".into()],
        ),
        Benchmark::Winogrande => {
            let sentence = s("sentence")?;
            let blank = sentence
                .find('_')
                .ok_or_else(|| Error::data(at, "WinoGrande sentence has no `_`"))?;
            let suffix = sentence[blank + 1..].trim().to_string();
            [s("option1")?, s("option2")?]
                .into_iter()
                .map(|option| ClozeChoice {
                    context: format!("{}{option}", &sentence[..blank]),
                    continuation: suffix.clone(),
                })
                .collect()
        }
        Benchmark::Gsm8k | Benchmark::Humaneval | Benchmark::Mbpp => Vec::new(),
    })
}

/// Python's `str.capitalize`: the first character upper-cased, the rest lower-cased.
fn python_capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// lm-eval's HellaSwag `preprocess`: strip, `" [title]"` → `". "`, drop `[...]` (within a
/// line, shortest match), `"  "` → `" "` (one pass).
fn hellaswag_preprocess(text: &str) -> String {
    let text = text.trim().replace(" [title]", ". ");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close) if !after[..close].contains('\n') => {
                out.push_str(&rest[..open]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("  ", " ")
}

/// Token ids of one (context, continuation) pair under `prompt`, the context cut from the left
/// to fit the model.
fn pair_ids(
    codec: &dyn EvalCodec,
    prompt: ClozePrompt,
    condition: &str,
    choice: &ClozeChoice,
    max_positions: usize,
) -> Result<(Vec<u32>, Vec<u32>)> {
    let context_text = user_turn(condition, &choice.context);
    let (context, continuation) = match prompt {
        ClozePrompt::Raw => (
            codec.encode_text(&context_text)?,
            codec.encode_text(&format!(" {}", choice.continuation))?,
        ),
        ClozePrompt::Chat => (
            codec.prompt_ids(&context_text, "")?,
            codec.encode_text(&choice.continuation)?,
        ),
    };
    if context.is_empty() || continuation.is_empty() {
        return Err(Error::data(
            "cloze",
            format!(
                "empty context or continuation after tokenisation ({:?} / {:?})",
                choice.context, choice.continuation
            ),
        ));
    }
    let continuation: Vec<u32> = continuation
        .into_iter()
        .take(max_positions.saturating_sub(1).max(1))
        .collect();
    let room = max_positions.saturating_sub(continuation.len()).max(1);
    let cut = context.len().saturating_sub(room);
    Ok((context[cut..].to_vec(), continuation))
}

/// Scores every choice of every example in one batch (all pairs of all examples in one
/// [`Llama::score`] forward). `conditions[i]` (a task description or k-shot examples; may be
/// empty) goes before example `i`'s contexts, separated by a blank line.
pub fn cloze_logprobs<B: Backend>(
    model: &Llama<B>,
    codec: &dyn EvalCodec,
    prompt: ClozePrompt,
    conditions: &[&str],
    choices: &[&[ClozeChoice]],
) -> Result<Vec<ClozeScores>> {
    if conditions.len() != choices.len() {
        return Err(Error::data(
            "cloze",
            format!(
                "{} conditions for {} examples",
                conditions.len(),
                choices.len()
            ),
        ));
    }
    let max_positions = model.config().max_position_embeddings;
    let mut pairs = Vec::new();
    let mut prompt_lens = Vec::with_capacity(choices.len());
    for (condition, example) in conditions.iter().zip(choices) {
        if example.is_empty() {
            return Err(Error::data("cloze", "an example has no cloze choices"));
        }
        for (k, choice) in example.iter().enumerate() {
            let pair = pair_ids(codec, prompt, condition, choice, max_positions)?;
            if k == 0 {
                prompt_lens.push(pair.0.len());
            }
            pairs.push(pair);
        }
    }
    let scores = model.score(&pairs, Adapters::None)?;
    let mut at = 0;
    Ok(choices
        .iter()
        .zip(prompt_lens)
        .map(|(example, prompt_tokens)| {
            let sums = scores[at..at + example.len()]
                .iter()
                .map(|s| s.sum_logprob)
                .collect();
            at += example.len();
            ClozeScores {
                prompt_tokens,
                sums,
                chars: example
                    .iter()
                    .map(|c| c.continuation.chars().count())
                    .collect(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hellaswag_preprocess_matches_lm_eval() {
        assert_eq!(
            hellaswag_preprocess(" How to clean [title] Wash it.  [step] Then dry. "),
            "How to clean. Wash it.  Then dry."
        );
        assert_eq!(hellaswag_preprocess("a [b\n] c"), "a [b\n] c");
        assert_eq!(python_capitalize("he SAID"), "He said");
        assert_eq!(python_capitalize(""), "");
    }

    #[test]
    fn winogrande_is_partial() {
        let row = serde_json::json!({
            "sentence": "Sarah was a better surgeon than Maria so _ always got the easier cases.",
            "option1": "Sarah", "option2": "Maria", "answer": "2"
        });
        let c = cloze_choices(Benchmark::Winogrande, &row, "r").unwrap();
        assert_eq!(
            c[0].context,
            "Sarah was a better surgeon than Maria so Sarah"
        );
        assert_eq!(
            c[1].context,
            "Sarah was a better surgeon than Maria so Maria"
        );
        assert_eq!(c[0].continuation, "always got the easier cases.");
        assert_eq!(c[0].continuation, c[1].continuation);
    }

    #[test]
    fn hellaswag_and_boolq_contexts() {
        let row = serde_json::json!({
            "activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.",
            "ctx_b": "he", "endings": ["is using wrap.", "starts pulling up roofing [title] x."],
            "label": "1"
        });
        let c = cloze_choices(Benchmark::Hellaswag, &row, "r").unwrap();
        assert_eq!(
            c[0].context,
            "Roof shingle removal: A man is sitting on a roof. He"
        );
        assert_eq!(c[1].continuation, "starts pulling up roofing. x.");
        // The train split (k-shot examples) has only `ctx`, already in that form.
        let row = serde_json::json!({
            "ctx": "Removing ice from car: Then, the man writes [title] over the snow. Then",
            "endings": [", the man adds wax."], "label": 0
        });
        let c = cloze_choices(Benchmark::Hellaswag, &row, "r").unwrap();
        assert_eq!(
            c[0].context,
            "Removing ice from car: Then, the man writes. over the snow. Then"
        );
        assert!(
            cloze_choices(
                Benchmark::Hellaswag,
                &serde_json::json!({"endings": []}),
                "r"
            )
            .is_err()
        );
        let row = serde_json::json!({"passage": "P.", "question": "is it", "answer": true});
        let c = cloze_choices(Benchmark::Boolq, &row, "r").unwrap();
        assert_eq!(c[0].context, "P.\nQuestion: is it?\nAnswer:");
        assert_eq!(
            (c[0].continuation.as_str(), c[1].continuation.as_str()),
            ("yes", "no")
        );
        assert!("chat".parse::<ClozePrompt>().is_ok() && "x".parse::<ClozePrompt>().is_err());
    }
}
