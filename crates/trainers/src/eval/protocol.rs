//! The three scoring protocols on one batch of examples.
//!
//! - [`Protocol::Generate`] (the paper's): greedy generation after the chat prompt (+ prefill),
//!   then the reference's parsing ([`crate::eval::parse`]); code replies run their tests in the
//!   sandbox ([`crate::eval::code`]).
//! - [`Protocol::Loglik`]: for every answer label (`A`…`D`, `0`/`1`, `true`/`false`), the total
//!   log-probability of its tokens as the start of the assistant's reply after the same chat
//!   prompt; the highest wins (ties: the first label). When every label is one token, one
//!   forward per prompt scores them all ([`label_logprobs_one_forward`]); otherwise each
//!   (prompt, label) pair is scored ([`label_logprobs_per_label`], [`base_llm::Llama::score`]).
//!   Only for benchmarks with a closed answer set.
//! - [`Protocol::Cloze`]: each choice's *text* scored as a continuation of an lm-eval style
//!   context, the best log-probability per character wins ([`crate::eval::cloze`]). Same
//!   benchmarks as `Loglik`.

use std::fmt;
use std::str::FromStr;

use base_llm::{Adapters, GenerationConfig, Llama};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::eval::benchmark::{AnswerKind, Benchmark, EvalExample, Gold};
use crate::eval::codec::EvalCodec;
use crate::eval::parse;

/// How answers are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Greedy generation, then parsing (the paper's protocol).
    Generate,
    /// The answer label with the highest total log-probability.
    Loglik,
    /// The choice text with the highest log-probability per character (lm-eval's `acc_norm`).
    Cloze,
}

impl Protocol {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Generate => "generate",
            Protocol::Loglik => "loglik",
            Protocol::Cloze => "cloze",
        }
    }

    /// A comma-separated list of `generate`, `loglik`, `cloze`, `both` (= generate + loglik, the
    /// paper's two) and `all` (all three), in that order, repeats dropped.
    pub fn parse_set(s: &str) -> Result<Vec<Protocol>> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let add = match name {
                "both" => vec![Protocol::Generate, Protocol::Loglik],
                "all" => vec![Protocol::Generate, Protocol::Loglik, Protocol::Cloze],
                other => vec![other.parse()?],
            };
            out.extend(add);
        }
        out.sort_unstable();
        out.dedup();
        if out.is_empty() {
            return Err(Error::config("protocol", "no protocol named"));
        }
        Ok(out)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "generate" => Ok(Protocol::Generate),
            "loglik" => Ok(Protocol::Loglik),
            "cloze" => Ok(Protocol::Cloze),
            other => Err(Error::config(
                "protocol",
                format!(
                    "unknown protocol `{other}` (expected generate, loglik, cloze, both or all)"
                ),
            )),
        }
    }
}

/// One generated reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Prompt tokens (prefill included).
    pub prompt_tokens: usize,
    /// The generated text (after the prefill), special tokens left out.
    pub text: String,
}

/// The user turn: `context + "\n\n" + prompt` (the reference's `in_context_message`), or the
/// prompt alone when the context is empty.
pub fn user_turn(context: &str, prompt: &str) -> String {
    if context.is_empty() {
        prompt.to_string()
    } else {
        format!("{context}\n\n{prompt}")
    }
}

/// The last `room` ids (prompts longer than the model's context lose their start, as the SFT
/// data's left truncation does).
fn keep_tail(mut ids: Vec<u32>, room: usize) -> Vec<u32> {
    if ids.len() > room {
        ids.drain(..ids.len() - room);
    }
    ids
}

/// Greedy replies to `users` (one batch, left-padded), each after `prefill`; prompts are cut
/// from the left to leave `max_new_tokens` of context.
pub fn generate_replies<B: Backend>(
    model: &Llama<B>,
    codec: &dyn EvalCodec,
    users: &[String],
    prefill: &str,
    max_new_tokens: usize,
    stop_strings: &[String],
) -> Result<Vec<Reply>> {
    let room = model
        .config()
        .max_position_embeddings
        .saturating_sub(max_new_tokens)
        .max(1);
    let prompts = users
        .iter()
        .map(|u| Ok(keep_tail(codec.prompt_ids(u, prefill)?, room)))
        .collect::<Result<Vec<_>>>()?;
    let config = GenerationConfig {
        max_new_tokens,
        stop_token_ids: codec.stop_ids(),
        stop_strings: stop_strings.to_vec(),
        ..GenerationConfig::default()
    };
    let decode = |ids: &[u32]| codec.decode(ids).unwrap_or_default();
    let decoder: Option<base_llm::generate::Decoder<'_>> =
        (!stop_strings.is_empty()).then_some(&decode);
    let out = model.generate(&prompts, &config, Adapters::None, decoder)?;
    out.rows
        .iter()
        .zip(&prompts)
        .map(|(row, p)| {
            Ok(Reply {
                prompt_tokens: p.len(),
                text: codec.decode(&row.tokens)?,
            })
        })
        .collect()
}

/// Total log-probabilities of every answer label of every example, and the prompt length of
/// each: [`label_logprobs_one_forward`] when every label is a single token, else
/// [`label_logprobs_per_label`].
pub fn choice_logprobs<B: Backend>(
    model: &Llama<B>,
    codec: &dyn EvalCodec,
    users: &[String],
    choices: &[&[String]],
) -> Result<Vec<(usize, Vec<f64>)>> {
    let mut ids = Vec::with_capacity(choices.len());
    for labels in choices {
        let encoded = labels
            .iter()
            .map(|l| codec.encode_text(l))
            .collect::<Result<Vec<_>>>()?;
        ids.push(encoded);
    }
    if ids.iter().flatten().all(|t| t.len() == 1) {
        label_logprobs_one_forward(model, codec, users, choices)
    } else {
        label_logprobs_per_label(model, codec, users, choices)
    }
}

/// The label path of [`choice_logprobs`] that scores every (prompt, label) pair as its own row
/// of one [`Llama::score`] batch (the prompt is repeated once per label). Works for labels of
/// any length.
pub fn label_logprobs_per_label<B: Backend>(
    model: &Llama<B>,
    codec: &dyn EvalCodec,
    users: &[String],
    choices: &[&[String]],
) -> Result<Vec<(usize, Vec<f64>)>> {
    let max_pos = model.config().max_position_embeddings;
    let mut pairs = Vec::new();
    let mut prompt_lens = Vec::with_capacity(users.len());
    for (user, labels) in users.iter().zip(choices) {
        if labels.is_empty() {
            return Err(Error::data("loglik", "an example has no answer choices"));
        }
        let mut len = 0;
        for label in labels.iter() {
            let p = codec.prompt_ids(user, "")?;
            let r = codec.encode_text(label)?;
            let room = max_pos.saturating_sub(r.len()).max(1);
            let p = keep_tail(p, room);
            len = p.len();
            pairs.push((p, r));
        }
        prompt_lens.push(len);
    }
    let scores = model.score(&pairs, Adapters::None)?;
    let mut at = 0;
    Ok(choices
        .iter()
        .zip(prompt_lens)
        .map(|(labels, len)| {
            let lp = scores[at..at + labels.len()]
                .iter()
                .map(|s| s.sum_logprob)
                .collect();
            at += labels.len();
            (len, lp)
        })
        .collect())
}

/// The label path of [`choice_logprobs`] for single-token labels: one right-padded forward of
/// the prompts ([`Llama::forward_last`]), every label read from the log-softmax of its prompt's
/// last position. Fails when a label is not exactly one token.
pub fn label_logprobs_one_forward<B: Backend>(
    model: &Llama<B>,
    codec: &dyn EvalCodec,
    users: &[String],
    choices: &[&[String]],
) -> Result<Vec<(usize, Vec<f64>)>> {
    if users.is_empty() || users.len() != choices.len() {
        return Err(Error::data(
            "loglik",
            format!("{} prompts for {} choice lists", users.len(), choices.len()),
        ));
    }
    let room = model
        .config()
        .max_position_embeddings
        .saturating_sub(1)
        .max(1);
    let mut prompts = Vec::with_capacity(users.len());
    let mut label_ids = Vec::with_capacity(users.len());
    for (user, labels) in users.iter().zip(choices) {
        if labels.is_empty() {
            return Err(Error::data("loglik", "an example has no answer choices"));
        }
        let ids = labels
            .iter()
            .map(|l| match codec.encode_text(l)?.as_slice() {
                [id] => Ok(*id as i64),
                other => Err(Error::data(
                    "loglik",
                    format!("label `{l}` is {} tokens, not one", other.len()),
                )),
            })
            .collect::<Result<Vec<i64>>>()?;
        prompts.push(keep_tail(codec.prompt_ids(user, "")?, room));
        label_ids.push(ids);
    }
    let b = prompts.len();
    let s = prompts.iter().map(Vec::len).max().unwrap_or(0);
    if s == 0 {
        return Err(Error::data("loglik", "an empty prompt"));
    }
    let pad = i64::from(codec.pad_id());
    let mut ids = Vec::with_capacity(b * s);
    let mut mask = Vec::with_capacity(b * s);
    for p in &prompts {
        ids.extend(p.iter().map(|&t| i64::from(t)));
        ids.extend(std::iter::repeat_n(pad, s - p.len()));
        mask.extend(std::iter::repeat_n(true, p.len()));
        mask.extend(std::iter::repeat_n(false, s - p.len()));
    }
    let device = model.device();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [b, s]), &device);
    let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(mask, [b, s]), &device);
    let logits = model.forward_last(ids, Some(mask), Adapters::None)?;
    // Every row's labels, padded with its first label to the widest row.
    let width = label_ids.iter().map(Vec::len).max().unwrap_or(1);
    let flat: Vec<i64> = label_ids
        .iter()
        .flat_map(|l| {
            l.iter()
                .copied()
                .chain(std::iter::repeat_n(l[0], width - l.len()))
        })
        .collect();
    let index = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [b, width]), &device);
    let picked: Vec<f32> = log_softmax(logits, 1)
        .gather(1, index)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|e| Error::data("loglik", format!("reading log-probabilities: {e:?}")))?;
    Ok(prompts
        .iter()
        .zip(&label_ids)
        .enumerate()
        .map(|(r, (p, l))| {
            let lp = (0..l.len())
                .map(|k| f64::from(picked[r * width + k]))
                .collect();
            (p.len(), lp)
        })
        .collect())
}

/// Index of the largest value (the first on ties; NaN never wins).
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}

/// The parsed prediction of a generated reply and whether it is correct (not for code).
pub fn judge_reply(
    benchmark: Benchmark,
    example: &EvalExample,
    reply: &str,
) -> (Option<String>, bool) {
    match (benchmark.answer_kind(), &example.gold) {
        (AnswerKind::Choice, _) => (
            parse::get_choice(reply),
            parse::choice_correct(reply, &example.gold_text),
        ),
        (AnswerKind::Boolean, _) => (
            parse::bool_value(reply).map(|b| b.to_string()),
            parse::bool_correct(reply, &example.gold_text),
        ),
        (AnswerKind::Number, Gold::Number(n)) => (
            parse::gsm8k_number(reply).map(|x| x.to_string()),
            parse::number_correct(reply, *n),
        ),
        _ => (None, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names() {
        assert_eq!(Protocol::parse_set("both").unwrap().len(), 2);
        assert_eq!(
            Protocol::parse_set("all").unwrap(),
            vec![Protocol::Generate, Protocol::Loglik, Protocol::Cloze]
        );
        assert_eq!(
            Protocol::parse_set("cloze,both").unwrap(),
            vec![Protocol::Generate, Protocol::Loglik, Protocol::Cloze]
        );
        assert!(Protocol::parse_set("").is_err());
        assert_eq!(
            Protocol::parse_set("loglik").unwrap(),
            vec![Protocol::Loglik]
        );
        assert!(Protocol::parse_set("logprob").is_err());
    }

    #[test]
    fn argmax_first_on_ties_and_nan() {
        assert_eq!(argmax(&[-1.0, -0.5, -0.5]), 1);
        assert_eq!(argmax(&[f64::NAN, -3.0]), 1);
        assert_eq!(argmax(&[-2.0]), 0);
    }

    #[test]
    fn user_turn_prepends_context() {
        assert_eq!(user_turn("", "Q"), "Q");
        assert_eq!(user_turn("Task.", "Q"), "Task.\n\nQ");
    }
}
